"""The Anthropic backend, driven through the real ``anthropic`` SDK against the fake server."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from promptmill.backends.anthropic import TOOL_NAME, AnthropicBackend
from promptmill.backends.base import ChatRequest, ChatTurn
from promptmill.errors import APIError, OverloadedError, RateLimitError
from tests.backends.conftest import RecordingSleep
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.http_server import count_tokens

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "minLength": 3},
        "variables": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
            "minItems": 1,
        },
        "prefill": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["role", "variables"],
}


def ask(text: str, **options: Any) -> ChatRequest:
    return ChatRequest(turns=[ChatTurn("user", text)], **options)


def backend_for(fake: FakeAnthropicServer, sleeps: RecordingSleep, **options: Any) -> Any:
    settings: dict[str, Any] = {"api_key": "test-key", "model": "claude-test", "max_retries": 2}
    settings.update(options)
    return sleeps.driving(
        AnthropicBackend(
            base_url=fake.base_url, sleep=sleeps, async_sleep=sleeps.asleep, **settings
        )
    )


def test_plain_chat_returns_the_models_text(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    reply = backend_for(fake_anthropic, sleeps).chat(ask("a chef for meal prep planning"))

    assert reply.text == "Here is a response about a chef for meal prep planning."


def test_request_carries_system_turns_and_limits(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    request = ChatRequest(
        turns=[ChatTurn("user", "Write a haiku"), ChatTurn("assistant", "<haiku>")],
        system="You are a poet.",
        max_tokens=321,
        temperature=0.4,
    )
    backend_for(fake_anthropic, sleeps).chat(request)

    sent = fake_anthropic.requests[0]
    assert sent["model"] == "claude-test"
    assert sent["system"] == "You are a poet."
    assert sent["messages"] == [
        {"role": "user", "content": "Write a haiku"},
        {"role": "assistant", "content": "<haiku>"},
    ]
    assert sent["max_tokens"] == 321
    assert "stop_sequences" not in sent
    assert "tools" not in sent


def test_a_request_naming_a_model_runs_that_model_instead_of_the_configured_one(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    backend = backend_for(fake_anthropic, sleeps)

    backend.chat(ask("hello", model="claude-other"))
    backend.chat(ask("hello again"))

    assert [sent["model"] for sent in fake_anthropic.requests] == ["claude-other", "claude-test"]


def test_empty_system_is_not_sent(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    backend_for(fake_anthropic, sleeps).chat(ask("hello"))

    assert "system" not in fake_anthropic.requests[0]


def test_temperature_is_not_sent_because_the_api_version_refuses_it(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    reply = backend_for(fake_anthropic, sleeps).chat(ask("hello", temperature=0.7))

    assert reply.text
    assert "temperature" not in fake_anthropic.requests[0]


def test_usage_is_the_token_counts_the_upstream_reported(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    fake_anthropic.enqueue_text("Four score and seven years ago")

    reply = backend_for(fake_anthropic, sleeps).chat(ask("Quote Lincoln", system="Be brief."))

    assert reply.output_tokens == count_tokens("Four score and seven years ago")
    assert reply.input_tokens == count_tokens("Be brief.\nQuote Lincoln")


def test_cache_reads_are_reported_as_reused_input_tokens(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    fake_anthropic.cache_read_input_tokens = 120
    fake_anthropic.enqueue_text("Four score")

    reply = backend_for(fake_anthropic, sleeps).chat(ask("Quote Lincoln", system="Be brief."))

    assert reply.reused_input_tokens == 120
    assert reply.evaluated_input_tokens == reply.input_tokens


def test_json_schema_is_requested_as_forced_tool_use(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    backend_for(fake_anthropic, sleeps).chat(ask("plan a prompt", json_schema=PLAN_SCHEMA))

    sent = fake_anthropic.requests[0]
    assert sent["tools"][0]["name"] == TOOL_NAME
    assert sent["tools"][0]["input_schema"] == PLAN_SCHEMA
    assert sent["tool_choice"] == {"type": "tool", "name": TOOL_NAME}


def test_tool_input_comes_back_as_schema_valid_json_text(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    reply = backend_for(fake_anthropic, sleeps).chat(
        ask("a chef for meal prep planning", json_schema=PLAN_SCHEMA)
    )

    value = json.loads(reply.text)
    jsonschema.validate(value, PLAN_SCHEMA)


def test_scripted_tool_input_is_returned_verbatim(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    answer = {"role": "chef", "variables": ["DIET"], "prefill": None}
    fake_anthropic.enqueue_json(answer)

    reply = backend_for(fake_anthropic, sleeps).chat(ask("plan", json_schema=PLAN_SCHEMA))

    assert json.loads(reply.text) == answer


def test_non_object_schema_is_wrapped_for_the_tool_and_unwrapped_in_the_reply(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    schema = {"type": "array", "items": {"type": "string"}, "minItems": 2}

    reply = backend_for(fake_anthropic, sleeps).chat(ask("list fruits", json_schema=schema))

    input_schema = fake_anthropic.requests[0]["tools"][0]["input_schema"]
    assert input_schema["type"] == "object"
    value = json.loads(reply.text)
    jsonschema.validate(value, schema)


def test_rate_limit_is_retried_after_the_upstreams_retry_after(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    fake_anthropic.enqueue_error(429, retry_after=1)

    reply = backend_for(fake_anthropic, sleeps).chat(ask("hello"))

    assert reply.text.startswith("Here is a response")
    assert sleeps.calls == [1.0]
    assert len(fake_anthropic.requests) == 2


def test_overload_past_max_retries_raises_overloaded_error(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    for _ in range(3):
        fake_anthropic.enqueue_error(529)

    with pytest.raises(OverloadedError, match="overloaded"):
        backend_for(fake_anthropic, sleeps, max_retries=2).chat(ask("hello"))

    assert len(fake_anthropic.requests) == 3
    assert len(sleeps.calls) == 2


def test_retry_after_beyond_the_deadline_raises_rate_limit_error_without_waiting(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    fake_anthropic.enqueue_error(429, retry_after=30)

    with pytest.raises(RateLimitError) as caught:
        backend_for(fake_anthropic, sleeps).chat(ask("hello", timeout=5.0))

    assert caught.value.retry_after == 30.0
    assert sleeps.calls == []
    assert len(fake_anthropic.requests) == 1


def test_server_error_becomes_api_error_with_the_upstream_message(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    fake_anthropic.enqueue_error(500, message="the model crashed")

    with pytest.raises(APIError, match="the model crashed") as caught:
        backend_for(fake_anthropic, sleeps, max_retries=0).chat(ask("hello"))

    assert type(caught.value) is APIError


def test_server_error_is_retried(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    fake_anthropic.enqueue_error(500)

    reply = backend_for(fake_anthropic, sleeps).chat(ask("hello"))

    assert reply.text
    assert len(fake_anthropic.requests) == 2


def test_client_error_becomes_api_error_and_is_not_retried(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    fake_anthropic.enqueue_error(400, message="messages: text content blocks must be non-empty")

    with pytest.raises(APIError, match="must be non-empty"):
        backend_for(fake_anthropic, sleeps).chat(ask("hello"))

    assert len(fake_anthropic.requests) == 1


def test_rejected_credentials_blame_the_servers_backend_key(sleeps: RecordingSleep) -> None:
    with FakeAnthropicServer(api_key="the-right-key") as fake:
        backend = backend_for(fake, sleeps, api_key="a-wrong-key")
        with pytest.raises(APIError) as caught:
            backend.chat(ask("hello"))

    message = caught.value.message
    assert "rejected promptmill's credentials" in message
    assert "PROMPTMILL_ANTHROPIC_API_KEY" in message
    assert "not the caller's API key" in message
    assert len(fake.requests) == 1


def test_slow_upstream_times_out_at_the_requests_deadline(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    fake_anthropic.enqueue_delay(5)

    with pytest.raises(OverloadedError, match=r"backend did not answer within 0\.\ds"):
        backend_for(fake_anthropic, sleeps).chat(ask("hello", timeout=0.5))

    # The SDK tells the server the per-call timeout it used: never beyond the deadline.
    assert float(fake_anthropic.request_headers[0]["x-stainless-timeout"]) <= 0.5
    assert len(fake_anthropic.requests) == 1


def test_connection_refused_becomes_overloaded_error_without_the_base_url(
    closed_port_url: str, sleeps: RecordingSleep
) -> None:
    backend = sleeps.driving(
        AnthropicBackend(
            api_key="k",
            model="m",
            base_url=closed_port_url,
            max_retries=1,
            sleep=sleeps,
            async_sleep=sleeps.asleep,
        )
    )

    with pytest.raises(OverloadedError, match="unreachable; retry later") as caught:
        backend.chat(ask("hello"))

    assert str(closed_port_url.rsplit(":", 1)[1]) not in caught.value.message
    assert "127.0.0.1" not in caught.value.message
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert len(sleeps.calls) == 1
