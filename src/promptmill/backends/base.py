"""The one small interface every backend implements.

A backend turns a chat (system text plus user/assistant turns) into text and the
real token counts of that call. It may be asked to constrain its output to a JSON
schema; backends that can enforce it (llama.cpp grammars, OpenAI ``response_format``,
Anthropic tool use) do, others return free text that the engine parses and validates.
Backend faults are raised as the ``promptmill.errors`` types, so the engine and the
HTTP layer never see a vendor's exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    stop: list[str] = field(default_factory=list)
    model: str | None = None


@dataclass(frozen=True)
class ChatReply:
    text: str
    input_tokens: int
    output_tokens: int
    # True when the backend enforced ``json_schema`` while decoding.
    schema_enforced: bool = False


@runtime_checkable
class ChatBackend(Protocol):
    """A chat model promptmill can drive. ``name`` is the backend kind, ``model`` its model id."""

    name: str
    model: str

    def chat(self, request: ChatRequest) -> ChatReply: ...
