"""Request and response models of the Prompt Tools API, exactly as the wire carries them.

They are the contract of ``docs/api.md`` and the source of ``/openapi.json``. Unknown
top-level fields are ignored, as the Anthropic API does; everything promptmill cannot
honour (image, tool or document blocks, ``cache_control``, a non-string ``system``) is
rejected by validation so the 400 names the exact field. The message-order rule (user
messages, then at most one assistant prefill) spans list items, so it lives in
``check_message_order`` and is called by the routes after validation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from promptmill.engine.types import PromptMessage, TextBlock
from promptmill.errors import InvalidRequestError

TargetModel = Annotated[
    StrictStr,
    Field(
        min_length=1,
        max_length=256,
        description="The model the prompt will be used with (1-256 characters).",
        examples=["claude-3-7-sonnet-20250219"],
    ),
]


class TextBlockParam(BaseModel):
    """One text content block. ``cache_control`` is refused: the tools never cache."""

    model_config = ConfigDict(title="TextBlock")

    type: Literal["text"] = Field(description="Only text blocks are supported.")
    text: StrictStr
    cache_control: SkipJsonSchema[Any] = Field(default=None, exclude=True)

    @field_validator("cache_control")
    @classmethod
    def _refuse_cache_control(cls, value: Any) -> None:
        if value is not None:
            raise PydanticCustomError(
                "cache_control_unsupported",
                "cache_control is not supported by the prompt tools API; remove it",
            )
        return None


def _content_as_blocks(value: Any) -> Any:
    """Accept the Messages API's string shorthand by turning it into one text block."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if not isinstance(value, list):
        raise PydanticCustomError(
            "content_type", "Input should be a string or a list of text content blocks"
        )
    return value


def _string_or_blocks_schema(schema: dict[str, Any]) -> None:
    """Document the string shorthand that ``_content_as_blocks`` accepts."""
    items = schema.pop("items")
    schema.pop("type", None)
    schema["anyOf"] = [{"type": "string"}, {"type": "array", "items": items}]


Content = Annotated[
    list[TextBlockParam],
    BeforeValidator(_content_as_blocks),
    Field(
        description='A string, or a list of `{"type": "text", "text": ...}` blocks.',
        json_schema_extra=_string_or_blocks_schema,
    ),
]


class MessageParam(BaseModel):
    """A message in the Messages API shape, restricted to text."""

    model_config = ConfigDict(title="Message")

    role: Literal["user", "assistant"]
    content: Content

    def to_prompt_message(self) -> PromptMessage:
        return PromptMessage(
            role=self.role, content=[TextBlock(text=block.text) for block in self.content]
        )


class _StreamOption(BaseModel):
    stream: StrictBool | None = Field(
        default=None,
        description="promptmill extension: `true` answers with Server-Sent Events "
        "(`progress` events, then one `result` or `error` event). Same as sending "
        "`Accept: text/event-stream`.",
    )


class GeneratePromptRequest(_StreamOption):
    task: StrictStr = Field(
        min_length=1,
        description="What the prompt should do or which role it sets up.",
        examples=["a chef for a meal prep planning service"],
    )
    target_model: TargetModel | None = None

    @field_validator("task")
    @classmethod
    def _task_has_text(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank_string", "String should not be blank")
        return value


class ImprovePromptRequest(_StreamOption):
    messages: list[MessageParam] = Field(
        min_length=1,
        description="The prompt to improve: user messages, optionally followed by one "
        "assistant prefill. Examples may be included inline.",
    )
    system: StrictStr = Field(default="", description="The existing system prompt.")
    feedback: StrictStr | None = Field(
        default=None,
        description="What to change; when absent the prompt is improved by general best practice.",
        examples=["Make it more detailed and include cooking times"],
    )
    target_model: TargetModel | None = None


class TemplatizePromptRequest(_StreamOption):
    messages: list[MessageParam] = Field(
        min_length=1,
        description="The prompt to templatize: user messages, optionally followed by one "
        "assistant prefill.",
    )
    system: StrictStr = Field(default="", description="The existing system prompt.")


def check_message_order(messages: list[MessageParam]) -> None:
    """Enforce the spec's shape: contiguous user messages, then at most one assistant prefill.

    Raises ``InvalidRequestError`` whose message starts with the offending field path.
    """
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


class TextBlockOut(BaseModel):
    model_config = ConfigDict(title="TextBlockResponse")

    type: Literal["text"] = "text"
    text: str


class MessageOut(BaseModel):
    model_config = ConfigDict(title="MessageResponse")

    role: Literal["user", "assistant"]
    content: list[TextBlockOut]


class UsageOut(BaseModel):
    model_config = ConfigDict(title="Usage")

    input_tokens: int
    output_tokens: int


class PromptResponse(BaseModel):
    """What generate_prompt and improve_prompt answer."""

    messages: list[MessageOut] = Field(
        description="Ready for the Messages API: the prompt as a user message, optionally "
        "followed by an assistant prefill. Variables are written {{UPPER_SNAKE_CASE}}."
    )
    system: str = Field(description='The system prompt; `""` when there is none.')
    usage: list[UsageOut] = Field(description="Token counts, one entry per model call made.")


class TemplatizeResponse(PromptResponse):
    """What templatize_prompt answers."""

    variable_values: dict[str, str] = Field(
        description="Each variable mapped to the original text it replaced."
    )


class ErrorDetail(BaseModel):
    type: Literal[
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "api_error",
        "overloaded_error",
    ]
    message: str


class ErrorResponse(BaseModel):
    """The body of every error response."""

    type: Literal["error"] = "error"
    error: ErrorDetail


class ServiceInfo(BaseModel):
    """What ``GET /`` answers: enough to check a deployment and see what it runs."""

    name: Literal["promptmill"] = "promptmill"
    version: str
    backend: str
    model: str
    status: Literal["ok"] = "ok"
