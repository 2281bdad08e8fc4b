"""The backend registry: one entry per backend, read by make_backend, the settings, the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from promptmill.backends import registry
from promptmill.backends.base import ChatReply, ChatRequest, ChatTurn
from promptmill.backends.registry import BACKENDS, BackendEntry, backend_names, make_backend
from promptmill.config import Settings
from promptmill.errors import ConfigurationError


class EchoBackend:
    """A whole backend in one class: it answers with the last user turn."""

    name = "echo"
    model = "echo-1"

    @classmethod
    def from_settings(cls, settings: Settings) -> EchoBackend:
        return cls()

    def chat(self, request: ChatRequest) -> ChatReply:
        return ChatReply(text=request.turns[-1].text, input_tokens=1, output_tokens=1)


def test_a_registered_backend_is_built_by_make_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        registry.BACKENDS, "echo", BackendEntry("echo", f"{__name__}:EchoBackend", "test", "echo")
    )

    backend = make_backend(Settings(backend="echo"))

    assert isinstance(backend, EchoBackend)
    assert backend.chat(ChatRequest(turns=[ChatTurn("user", "hi")])).text == "hi"


def test_a_registered_backend_is_a_choice_of_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        registry.BACKENDS, "echo", BackendEntry("echo", f"{__name__}:EchoBackend", "test", "echo")
    )

    assert backend_names() == ["local", "anthropic", "openai", "echo"]


def test_an_unknown_backend_setting_is_refused_naming_the_variable_and_the_choices() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(backend="nope")

    assert caught.value.setting == "PROMPTMILL_BACKEND"
    assert "'nope'" in caught.value.message
    assert "local, anthropic, openai" in caught.value.message


def test_a_missing_required_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        registry.BACKENDS,
        "echo",
        BackendEntry("echo", f"{__name__}:EchoBackend", "test", "echo", (("openai_model",),)),
    )

    with pytest.raises(ConfigurationError, match="PROMPTMILL_OPENAI_MODEL") as caught:
        make_backend(Settings(backend="echo", openai_model=""))

    assert caught.value.setting == "PROMPTMILL_OPENAI_MODEL"


def test_a_backend_whose_dependencies_are_missing_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        registry.BACKENDS,
        "absent",
        BackendEntry("absent", "promptmill_not_installed.backend:Backend", "absent", "-"),
    )

    with pytest.raises(ConfigurationError, match=r"pip install 'promptmill\[absent\]'"):
        make_backend(Settings(backend="absent"))


def test_importing_the_engine_loads_neither_the_settings_nor_pydantic_settings() -> None:
    program = (
        "import sys\n"
        "import promptmill.engine\n"
        "loaded = [m for m in ('promptmill.config', 'pydantic_settings', 'llama_cpp',\n"
        "          'openai', 'anthropic') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == ""


def test_the_default_deadline_is_the_backends_own() -> None:
    assert Settings(backend="local").request_timeout == BACKENDS["local"].request_timeout == 300
    assert Settings(backend="openai", openai_base_url="http://127.0.0.1:9").request_timeout == 120


def test_a_deadline_that_is_set_wins_over_the_backends_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMPTMILL_REQUEST_TIMEOUT", "45")
    assert Settings(backend="local").request_timeout == 45
