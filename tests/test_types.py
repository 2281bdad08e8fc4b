"""The shared wire shapes: one model per answer, the error body, the message-order rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from promptmill.errors import ERROR_CLASSES, InvalidRequestError, RateLimitError
from promptmill.types import (
    ErrorDetail,
    ErrorResponse,
    Progress,
    PromptMessage,
    Role,
    TemplatizeResult,
    Usage,
    check_message_order,
)


def test_the_error_body_documents_exactly_the_error_classes() -> None:
    schema = ErrorDetail.model_json_schema()
    assert schema["properties"]["type"]["enum"] == list(ERROR_CLASSES)


def test_an_error_body_names_the_error_type_and_message() -> None:
    body = ErrorResponse.of(RateLimitError("slow down", 3.0)).model_dump(mode="json")
    assert body == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}


def test_an_unknown_error_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown error type 'teapot_error'"):
        ErrorDetail(type="teapot_error", message="short and stout")


def test_a_templatize_answer_serializes_in_wire_order() -> None:
    result = TemplatizeResult(
        messages=[PromptMessage.of("user", "Translate {{WORD}}")],
        usage=[Usage(input_tokens=3, output_tokens=4)],
        variable_values={"WORD": "hello"},
    )
    assert result.model_dump(mode="json") == {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Translate {{WORD}}"}]}],
        "system": "",
        "usage": [{"input_tokens": 3, "output_tokens": 4}],
        "variable_values": {"WORD": "hello"},
    }


def test_a_progress_event_carries_its_type() -> None:
    event = Progress(stage="plan", message="asking the model").model_dump(mode="json")
    assert event == {
        "type": "progress",
        "stage": "plan",
        "message": "asking the model",
        "attempt": 1,
    }


@pytest.mark.parametrize(
    "roles", [["user"], ["user", "user"], ["user", "assistant"], ["user", "user", "assistant"]]
)
def test_user_messages_then_one_prefill_pass(roles: list[Role]) -> None:
    check_message_order([PromptMessage.of(role, "x") for role in roles])


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ([], r"^messages: at least one message is required"),
        (["assistant"], r"^messages\.0\.role: the first message must have role 'user'"),
        (["user", "assistant", "user"], r"^messages\.1\.role: an assistant message is only"),
        (["user", "assistant", "assistant"], r"^messages\.1\.role: an assistant message is only"),
    ],
)
def test_other_message_orders_fail_naming_the_field(roles: list[Role], message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        check_message_order([PromptMessage.of(role, "x") for role in roles])
