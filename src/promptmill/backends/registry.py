"""The backends promptmill knows, listed once: the CLI's choices and the settings read this.

Each entry names the backend, where its class lives (imported only when chosen, so a
remote backend never loads llama.cpp), the extra that installs its dependencies and the
settings it cannot start without. Adding a backend is its module plus one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from promptmill.backends.base import ChatBackend
from promptmill.errors import ConfigurationError

if TYPE_CHECKING:
    from promptmill.config import Settings


class BackendFactory(Protocol):
    """What a registered class provides: a backend built from the settings."""

    def from_settings(self, settings: Settings) -> ChatBackend: ...


@dataclass(frozen=True)
class BackendEntry:
    """One backend: its name (``PROMPTMILL_BACKEND``) and how to build it.

    ``target`` is ``"module:Class"``; the class has ``from_settings(settings)``.
    ``requires`` lists groups of settings (``Settings`` field names): at least one of each
    group must be set. ``extra`` is the ``pip install "promptmill[EXTRA]"`` that installs
    what the module imports. ``request_timeout`` is the default deadline of one API
    request on this backend (``PROMPTMILL_REQUEST_TIMEOUT`` overrides it).
    """

    name: str
    target: str
    extra: str
    summary: str
    requires: tuple[tuple[str, ...], ...] = ()
    request_timeout: float = 120.0


BACKENDS: dict[str, BackendEntry] = {
    entry.name: entry
    for entry in (
        BackendEntry(
            "local",
            "promptmill.backends.local:LocalBackend",
            extra="local",
            summary="the embedded model (or any GGUF file), run in-process by llama.cpp",
            # A generate is about a minute on two cores (plan, then perhaps a repair call);
            # a loaded laptop needs headroom, or a new user's first request fails.
            request_timeout=300.0,
        ),
        BackendEntry(
            "anthropic",
            "promptmill.backends.anthropic:AnthropicBackend",
            extra="server",
            summary="Claude, through Anthropic's API",
            requires=(("anthropic_api_key",),),
        ),
        BackendEntry(
            "openai",
            "promptmill.backends.openai:OpenAIBackend",
            extra="server",
            summary="OpenAI, or any OpenAI-compatible server (Ollama, vLLM, llama.cpp's server)",
            requires=(("openai_api_key", "openai_base_url"),),
        ),
    )
}


def backend_names() -> list[str]:
    """The registered backend names, in registration order."""
    return list(BACKENDS)


def backend_entry(name: str) -> BackendEntry:
    """The entry called ``name``; ``ConfigurationError`` naming the choices otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigurationError(
            f"PROMPTMILL_BACKEND={name!r} is not a backend promptmill knows; "
            f"choose one of: {', '.join(BACKENDS)}",
            setting="PROMPTMILL_BACKEND",
        ) from None


def make_backend(settings: Settings) -> ChatBackend:
    """The backend ``settings.backend`` names, configured from ``settings``.

    Raises ``ConfigurationError`` naming the setting to fix (an unknown backend, a missing
    required setting, or one the backend itself refuses, such as a missing model file)
    or the extra to install.
    """
    entry = backend_entry(settings.backend)
    for group in entry.requires:
        if not any(getattr(settings, field) for field in group):
            names = " or ".join(settings.env_name(field) for field in group)
            raise ConfigurationError(
                f"the {entry.name} backend needs a setting: set {names}",
                setting=settings.env_name(group[0]),
            )
    module_name, _, class_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            f"the {entry.name} backend needs promptmill's [{entry.extra}] extra "
            f"(the module {exc.name!r} is missing): pip install 'promptmill[{entry.extra}]'",
            setting="PROMPTMILL_BACKEND",
        ) from exc
    factory = cast(BackendFactory, getattr(module, class_name))
    return factory.from_settings(settings)
