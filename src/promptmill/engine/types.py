"""Typed values the engine takes and returns.

They match the Prompt Tools API's shapes (a ``messages`` list of text blocks, ``usage``
as a list) so the HTTP layer can return them as they are, but they carry no HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field


class TextBlock(BaseModel):
    type: Literal["text"] = "text"
    text: str


class PromptMessage(BaseModel):
    role: Literal["user", "assistant"]
    content: list[TextBlock]

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.content)

    @classmethod
    def of(cls, role: Literal["user", "assistant"], text: str) -> PromptMessage:
        return cls(role=role, content=[TextBlock(text=text)])


class Usage(BaseModel):
    """Token counts of one model call, as the backend reported them."""

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)


class PromptResult(BaseModel):
    """What generate and improve return: messages ready for the Messages API."""

    messages: list[PromptMessage]
    system: str = ""
    usage: list[Usage]


class TemplatizeResult(PromptResult):
    variable_values: dict[str, str]


class Progress(BaseModel):
    """One step of the pipeline, reported while a request runs (for streaming clients)."""

    stage: str
    message: str
    attempt: int = 1


ProgressCallback = Callable[[Progress], None]
