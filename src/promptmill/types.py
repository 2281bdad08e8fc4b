"""The Prompt Tools API's answers, one pydantic model each, shared by every layer.

The engine returns these models, the HTTP layer declares them as ``response_model`` (so
the same class builds the body and documents it in ``/openapi.json``) and the client
validates responses into them. Field order is wire order (``variable_values`` last).
Only pydantic and ``promptmill.errors`` are imported here, so the light client install
can use them.

The message-order rule of the requests (user messages, then at most one assistant
prefill) lives here too, in ``check_message_order``, because the request models and
the engine must enforce the very same rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from promptmill.errors import ERROR_CLASSES, InvalidRequestError, PromptmillError

Role = Literal["user", "assistant"]

GenerateMode = Literal["plan", "freeform"]
"""How generate_prompt writes a prompt (``PROMPTMILL_GENERATE_MODE``): a plan the model
fills in and promptmill renders, or the whole text written by the model
(``promptmill.engine.freeform``)."""

# Fields with defaults are still always sent, so the documented answer marks them required.
_ALWAYS_SENT = ConfigDict(json_schema_serialization_defaults_required=True)


class TextBlock(BaseModel):
    model_config = _ALWAYS_SENT

    type: Literal["text"] = "text"
    text: str


class PromptMessage(BaseModel):
    """A message of the Messages API, restricted to text blocks."""

    role: Role
    content: list[TextBlock]

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.content)

    @classmethod
    def of(cls, role: Role, text: str) -> PromptMessage:
        return cls(role=role, content=[TextBlock(text=text)])


class Usage(BaseModel):
    """Token counts of one model call, as the backend reported them."""

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)


class MeteredUsage(Usage):
    """One model call's usage with what the Anthropic wire shape has no room for.

    The engine hands these out wherever a ``Usage`` goes; a field declared as ``Usage``
    serialises only ``input_tokens`` and ``output_tokens`` (pydantic serialises by the
    declared type), so answers keep their shape while the call record keeps the rest:
    input tokens reused from a cache and evaluated afresh, and the call's seconds
    (``None`` where the backend did not say).
    """

    reused_input_tokens: int | None = Field(default=None, ge=0)
    evaluated_input_tokens: int | None = Field(default=None, ge=0)
    seconds: float | None = Field(default=None, ge=0)


class PromptResult(BaseModel):
    """What generate_prompt and improve_prompt answer."""

    model_config = _ALWAYS_SENT

    messages: list[PromptMessage] = Field(
        description="Ready for the Messages API: the prompt as a user message, optionally "
        "followed by an assistant prefill. Variables are written {{UPPER_SNAKE_CASE}}."
    )
    system: str = Field(default="", description='The system prompt; `""` when there is none.')
    usage: list[Usage] = Field(description="Token counts, one entry per model call made.")


class TemplatizeResult(PromptResult):
    """What templatize_prompt answers."""

    variable_values: dict[str, str] = Field(
        description="Each variable mapped to the original text it replaced."
    )


class Progress(BaseModel):
    """One step of the pipeline, reported while a request runs: the data of a ``progress`` event."""

    model_config = _ALWAYS_SENT

    type: Literal["progress"] = "progress"
    stage: str
    message: str
    attempt: int = 1


ProgressCallback = Callable[[Progress], None]


class ErrorDetail(BaseModel):
    type: str = Field(
        description="One of the Anthropic API's error types.",
        json_schema_extra={"enum": list(ERROR_CLASSES)},
    )
    message: str

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in ERROR_CLASSES:
            raise ValueError(f"unknown error type {value!r}; expected one of {list(ERROR_CLASSES)}")
        return value


class ErrorResponse(BaseModel):
    """The body of every error response."""

    model_config = _ALWAYS_SENT

    type: Literal["error"] = "error"
    error: ErrorDetail

    @classmethod
    def of(cls, error: PromptmillError) -> ErrorResponse:
        return cls(error=ErrorDetail(type=error.error_type, message=error.message))


class _HasRole(Protocol):
    @property
    def role(self) -> str: ...


def check_message_order(messages: Sequence[_HasRole]) -> None:
    """Enforce the spec's shape: contiguous user messages, then at most one assistant prefill.

    Raises ``InvalidRequestError`` whose message starts with the offending field path.
    """
    if not messages:
        raise InvalidRequestError("messages: at least one message is required")
    if messages[0].role != "user":
        raise InvalidRequestError(
            "messages.0.role: the first message must have role 'user' (got 'assistant'); "
            "an assistant message is only allowed as a final prefill"
        )
    for index, message in enumerate(messages):
        if message.role == "assistant" and index != len(messages) - 1:
            raise InvalidRequestError(
                f"messages.{index}.role: an assistant message is only allowed as the last "
                "message (a prefill), after the user messages"
            )
