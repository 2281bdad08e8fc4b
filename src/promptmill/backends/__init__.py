"""Backends: the chat models promptmill can drive, behind the ``ChatBackend`` interface.

``make_backend`` builds the one the settings select. The local backend is imported
only when chosen, so installs that use a remote API never load llama.cpp.
"""

from __future__ import annotations

from promptmill.backends.base import ChatBackend, ChatReply, ChatRequest, ChatTurn
from promptmill.config import Settings
from promptmill.errors import APIError

__all__ = ["ChatBackend", "ChatReply", "ChatRequest", "ChatTurn", "make_backend"]


def make_backend(settings: Settings) -> ChatBackend:
    """The backend ``settings.backend`` names, configured from ``settings``.

    Raises ``APIError`` naming the missing setting when a remote backend lacks one.
    """
    if settings.backend == "anthropic":
        from promptmill.backends.anthropic import AnthropicBackend

        return AnthropicBackend.from_settings(settings)
    if settings.backend == "openai":
        from promptmill.backends.openai import OpenAIBackend

        return OpenAIBackend.from_settings(settings)
    if settings.backend == "local":
        from promptmill.backends.local import LocalBackend

        return LocalBackend.from_settings(settings)
    raise APIError(f"unknown backend {settings.backend!r}: choose local, anthropic or openai")
