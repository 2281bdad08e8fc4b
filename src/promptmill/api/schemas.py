"""Request models of the Prompt Tools API, exactly as the wire carries them.

They are the contract of ``docs/api.md`` and the source of ``/openapi.json``; the
answers' models are in ``promptmill.types``, shared with the engine and the client.
Unknown top-level fields are ignored, as the Anthropic API does; everything promptmill
cannot honour (image, tool or document blocks, ``cache_control``, a non-string
``system``) is rejected by validation so the 400 names the exact field.

The message-order rule (user messages, then at most one assistant prefill) spans list
items, so the models check it after their fields, with ``check_message_order`` (the
engine calls the same function). It raises ``InvalidRequestError`` rather than a
``ValueError`` on purpose: pydantic lets any other exception through unchanged, so the
400 says ``messages.N.role: ...`` exactly as the rule words it.
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
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from promptmill.types import PromptMessage, TextBlock, check_message_order

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


MESSAGE_ORDER_SCHEMA: dict[str, Any] = {
    "prefixItems": [
        {
            "$ref": f"#/components/schemas/{MessageParam.__name__}",
            "properties": {"role": {"const": "user"}},
        }
    ],
    "contains": {"properties": {"role": {"const": "assistant"}}},
    "minContains": 0,
    "maxContains": 1,
    "x-message-order": "user messages, then at most one assistant message, which must be "
    "the last (a prefill)",
}
"""The message-order rule as far as JSON Schema can say it: the first message is the
user's and there is at most one assistant message. That the assistant message comes
last cannot be said (JSON Schema has no "last item"); ``x-message-order`` and the
description state it, and a request breaking it gets a 400 naming ``messages.N.role``."""

_MESSAGE_ORDER = (
    " Order: user messages, then at most one assistant message, which must be the last."
)


class _Messages(BaseModel):
    """Requests that carry a prompt as messages: the order rule applies to them."""

    messages: list[MessageParam]

    @model_validator(mode="after")
    def _check_order(self) -> _Messages:
        check_message_order(self.messages)
        return self


class GeneratePromptRequest(_StreamOption):
    task: StrictStr = Field(
        min_length=1,
        description="What the prompt should do or which role it sets up; not blank.",
        examples=["a chef for a meal prep planning service"],
        # Documents ``_task_has_text``: some character that is not white space.
        json_schema_extra={"pattern": r"\S"},
    )
    target_model: TargetModel | None = None

    @field_validator("task")
    @classmethod
    def _task_has_text(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank_string", "String should not be blank")
        return value


class ImprovePromptRequest(_Messages, _StreamOption):
    messages: list[MessageParam] = Field(
        min_length=1,
        description="The prompt to improve: user messages, optionally followed by one "
        "assistant prefill. Examples may be included inline." + _MESSAGE_ORDER,
        json_schema_extra=MESSAGE_ORDER_SCHEMA,
    )
    system: StrictStr = Field(default="", description="The existing system prompt.")
    feedback: StrictStr | None = Field(
        default=None,
        description="What to change; when absent the prompt is improved by general best practice.",
        examples=["Make it more detailed and include cooking times"],
    )
    target_model: TargetModel | None = None


class TemplatizePromptRequest(_Messages, _StreamOption):
    messages: list[MessageParam] = Field(
        min_length=1,
        description="The prompt to templatize: user messages, optionally followed by one "
        "assistant prefill." + _MESSAGE_ORDER,
        json_schema_extra=MESSAGE_ORDER_SCHEMA,
    )
    system: StrictStr = Field(default="", description="The existing system prompt.")


class ServiceInfo(BaseModel):
    """What ``GET /`` answers: enough to check a deployment and see what it runs."""

    name: Literal["promptmill"] = "promptmill"
    version: str
    backend: str
    model: str
    status: Literal["ok"] = "ok"
