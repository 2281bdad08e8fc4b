"""Backends: the chat models promptmill can drive, behind the ``ChatBackend`` interface.

``make_backend`` builds the one the settings select from the list in ``registry``.
Nothing here imports the settings module or a backend's SDK, so the engine, which
imports ``backends.base``, stays free of both.
"""

from __future__ import annotations

from promptmill.backends.base import ChatBackend, ChatReply, ChatRequest, ChatTurn
from promptmill.backends.registry import BACKENDS, BackendEntry, backend_names, make_backend

__all__ = [
    "BACKENDS",
    "BackendEntry",
    "ChatBackend",
    "ChatReply",
    "ChatRequest",
    "ChatTurn",
    "backend_names",
    "make_backend",
]
