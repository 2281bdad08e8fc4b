"""``make_backend`` builds the backend the settings select, or says which setting is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from promptmill.backends import make_backend
from promptmill.backends.anthropic import AnthropicBackend
from promptmill.backends.base import ChatBackend, ChatRequest, ChatTurn
from promptmill.backends.openai import OpenAIBackend
from promptmill.config import Settings
from promptmill.errors import APIError
from tests.fakes.openai_server import FakeOpenAIServer

_KEY_VARIABLES = (
    "PROMPTMILL_ANTHROPIC_API_KEY",
    "ANTHROPIC_API_KEY",
    "PROMPTMILL_ANTHROPIC_BASE_URL",
    "PROMPTMILL_OPENAI_API_KEY",
    "OPENAI_API_KEY",
    "PROMPTMILL_OPENAI_BASE_URL",
)


@pytest.fixture(autouse=True)
def _no_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_anthropic_setting_builds_the_anthropic_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTMILL_BACKEND", "anthropic")
    monkeypatch.setenv("PROMPTMILL_ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("PROMPTMILL_ANTHROPIC_MODEL", "claude-test")

    backend = make_backend(Settings())

    assert isinstance(backend, AnthropicBackend)
    assert isinstance(backend, ChatBackend)
    assert (backend.name, backend.model) == ("anthropic", "claude-test")


def test_anthropic_key_is_also_read_from_the_sdks_own_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMPTMILL_BACKEND", "anthropic")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")

    assert isinstance(make_backend(Settings()), AnthropicBackend)


def test_anthropic_without_a_key_names_the_variable_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMPTMILL_BACKEND", "anthropic")

    with pytest.raises(APIError, match="PROMPTMILL_ANTHROPIC_API_KEY"):
        make_backend(Settings())


def test_openai_setting_builds_the_openai_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTMILL_BACKEND", "openai")
    monkeypatch.setenv("PROMPTMILL_OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("PROMPTMILL_OPENAI_MODEL", "gpt-test")

    backend = make_backend(Settings())

    assert isinstance(backend, OpenAIBackend)
    assert (backend.name, backend.model) == ("openai", "gpt-test")


def test_openai_without_key_or_base_url_names_the_variables_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMPTMILL_BACKEND", "openai")

    with pytest.raises(APIError, match="PROMPTMILL_OPENAI_API_KEY") as caught:
        make_backend(Settings())

    assert "PROMPTMILL_OPENAI_BASE_URL" in caught.value.message


def test_openai_compatible_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer() as fake:
        monkeypatch.setenv("PROMPTMILL_BACKEND", "openai")
        monkeypatch.setenv("PROMPTMILL_OPENAI_BASE_URL", fake.base_url)

        reply = make_backend(Settings()).chat(ChatRequest(turns=[ChatTurn("user", "hello")]))

    assert reply.text
    assert fake.request_headers[0]["authorization"] == "Bearer not-needed"


def test_settings_retry_budget_reaches_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTMILL_BACKEND", "openai")
    monkeypatch.setenv("PROMPTMILL_OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("PROMPTMILL_MAX_RETRIES", "5")

    backend = make_backend(Settings())

    assert isinstance(backend, OpenAIBackend)
    assert backend.max_retries == 5


def test_local_setting_delegates_to_the_local_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from promptmill.backends import local

    built: list[Settings] = []
    sentinel = object()

    def from_settings(settings: Settings) -> object:
        built.append(settings)
        return sentinel

    monkeypatch.setattr(local.LocalBackend, "from_settings", from_settings)
    settings = Settings(backend="local")

    assert make_backend(settings) is sentinel
    assert built == [settings]


def test_remote_backends_never_import_the_local_backend() -> None:
    program = (
        "import sys\n"
        "from promptmill.backends import make_backend\n"
        "from promptmill.config import Settings\n"
        "make_backend(Settings(backend='openai', openai_base_url='http://127.0.0.1:9/v1'))\n"
        "loaded = [m for m in ('llama_cpp', 'promptmill.backends.local') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=60
    )

    assert result.stdout.strip() == ""
