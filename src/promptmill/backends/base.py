"""The one small interface every backend implements.

A backend turns a chat (system text plus user/assistant turns) into text and the
real token counts of that call. It may be asked to constrain its output to a JSON
schema; backends that can enforce it (llama.cpp grammars, OpenAI ``response_format``,
Anthropic tool use) do, others return free text that the engine parses and validates.
Backend faults are raised as the ``promptmill.errors`` types, so the engine and the
HTTP layer never see a vendor's exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(frozen=True)
class ChatTurn:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class ChatRequest:
    turns: list[ChatTurn]
    system: str = ""
    json_schema: dict[str, Any] | None = None
    max_tokens: int = 1024
    temperature: float = 0.2
    # Seconds left for this call; backends must not block longer.
    timeout: float = 60.0
    # A model to run instead of the backend's configured one, for this call only (evaluation
    # compares models through one backend). Backends that cannot switch model refuse any
    # other name with ``InvalidRequestError``.
    model: str | None = None


@dataclass(frozen=True)
class ChatReply:
    """A call's text and its cost.

    ``input_tokens`` and ``output_tokens`` are what the backend bills or counts. The
    optional fields say where the input went, when the backend knows:
    ``reused_input_tokens`` came from a cache (the embedded model's kept prefix,
    Anthropic's ``cache_read_input_tokens``, OpenAI's ``cached_tokens``),
    ``evaluated_input_tokens`` were computed afresh; ``seconds`` is the backend's own
    time for the call (for the embedded model: holding the model, not queueing for it).
    ``None`` means the backend did not say.
    """

    text: str
    input_tokens: int
    output_tokens: int
    reused_input_tokens: int | None = None
    evaluated_input_tokens: int | None = None
    seconds: float | None = None


@runtime_checkable
class ChatBackend(Protocol):
    """A chat model promptmill can drive. ``name`` is the backend kind, ``model`` its model id."""

    name: str
    model: str

    def chat(self, request: ChatRequest) -> ChatReply: ...


@runtime_checkable
class AsyncChatBackend(ChatBackend, Protocol):
    """A backend that can also be called on an event loop without blocking it.

    The remote backends are: their SDKs have asynchronous clients, so the server awaits
    their calls on its event loop instead of handing each request to a worker thread
    (``PromptEngine.generate_async``). The embedded model computes in-process and has no
    such method; the server runs it in its model threads.
    """

    async def achat(self, request: ChatRequest) -> ChatReply: ...
