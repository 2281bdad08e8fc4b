"""The OpenAI backend, driven through the real ``openai`` SDK against the fake server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema
import openai
import pytest

from promptmill.backends.base import ChatRequest, ChatTurn
from promptmill.backends.openai import OpenAIBackend
from promptmill.errors import APIError, OverloadedError, RateLimitError
from tests.backends.conftest import RecordingSleep
from tests.fakes.http_server import count_tokens
from tests.fakes.openai_server import FakeOpenAIServer

# Every property required: OpenAI's strict mode can enforce it.
STRICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "role": {"type": "string"},
        "variables": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["role", "variables"],
}
# An optional property: strict mode cannot enforce it without changing its meaning.
LOOSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"role": {"type": "string"}, "note": {"type": "string"}},
    "required": ["role"],
}


def ask(text: str, **options: Any) -> ChatRequest:
    return ChatRequest(turns=[ChatTurn("user", text)], **options)


def backend_for(fake: FakeOpenAIServer, sleeps: RecordingSleep, **options: Any) -> Any:
    settings: dict[str, Any] = {"api_key": "test-key", "model": "gpt-test", "max_retries": 2}
    settings.update(options)
    return sleeps.driving(
        OpenAIBackend(base_url=fake.base_url, sleep=sleeps, async_sleep=sleeps.asleep, **settings)
    )


def test_plain_chat_returns_the_models_text(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    reply = backend_for(fake_openai, sleeps).chat(ask("a chef for meal prep planning"))

    assert reply.text == "Here is a response about a chef for meal prep planning."


def test_request_carries_system_turns_limits_and_temperature(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    request = ChatRequest(
        turns=[ChatTurn("user", "Write a haiku"), ChatTurn("assistant", "<haiku>")],
        system="You are a poet.",
        max_tokens=321,
        temperature=0.4,
    )
    backend_for(fake_openai, sleeps).chat(request)

    sent = fake_openai.requests[0]
    assert sent["model"] == "gpt-test"
    assert sent["messages"] == [
        {"role": "system", "content": "You are a poet."},
        {"role": "user", "content": "Write a haiku"},
        {"role": "assistant", "content": "<haiku>"},
    ]
    assert sent["max_tokens"] == 321
    assert sent["temperature"] == 0.4
    assert "stop" not in sent
    assert "response_format" not in sent


def test_the_request_on_the_wire_is_the_one_the_sdks_create_sends(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    """The backend posts its parameters without ``create``'s type walk: same body, same headers."""
    request = ask("a chef", system="You are a planner.", json_schema=STRICT_SCHEMA)
    backend_for(fake_openai, sleeps).chat(request)
    sent, sent_headers = fake_openai.requests[0], fake_openai.request_headers[0]

    _create_through_the_sdk(fake_openai, sleeps.way, sent)
    created, created_headers = fake_openai.requests[1], fake_openai.request_headers[1]

    assert sent == created
    assert sent["response_format"]["type"] == "json_schema"
    per_call = {"x-stainless-read-timeout", "content-length"}
    assert {k: v for k, v in sent_headers.items() if k not in per_call} == {
        k: v for k, v in created_headers.items() if k not in per_call
    }
    assert sent_headers["authorization"] == "Bearer test-key"


def test_organization_and_project_reach_the_wire_as_with_create(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK reads them from the environment; the backend sends what ``create`` sends."""
    monkeypatch.setenv("OPENAI_ORG_ID", "org-test")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-test")
    backend_for(fake_openai, sleeps).chat(ask("a chef"))
    sent_headers = fake_openai.request_headers[0]

    _create_through_the_sdk(fake_openai, sleeps.way, fake_openai.requests[0])
    created_headers = fake_openai.request_headers[1]

    assert sent_headers["openai-organization"] == created_headers["openai-organization"]
    assert sent_headers["openai-project"] == created_headers["openai-project"] == "proj-test"


def _create_through_the_sdk(fake: FakeOpenAIServer, way: str, params: dict[str, Any]) -> None:
    """``chat.completions.create(**params)`` with the SDK client of the backend's ``way``."""
    options: dict[str, Any] = {"api_key": "test-key", "base_url": fake.base_url, "max_retries": 0}
    if way == "async":

        async def create() -> None:
            async with openai.AsyncOpenAI(**options) as client:
                await client.chat.completions.create(**params, timeout=30)

        asyncio.run(create())
    else:
        with openai.OpenAI(**options) as client:
            client.chat.completions.create(**params, timeout=30)


def test_a_reply_without_the_fields_only_openai_sends_is_still_read(
    sleeps: RecordingSleep,
) -> None:
    """No ``object``, ``created`` or ``system_fingerprint``, and a finish reason of its own."""
    with FakeOpenAIServer(minimal_completions=True) as fake:
        reply = backend_for(fake, sleeps).chat(ask("a chef for meal prep planning"))

    assert reply.text == "Here is a response about a chef for meal prep planning."
    assert reply.input_tokens > 0
    assert reply.output_tokens > 0


def test_a_request_naming_a_model_runs_that_model_instead_of_the_configured_one(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    backend = backend_for(fake_openai, sleeps)

    backend.chat(ask("hello", model="gpt-other"))
    backend.chat(ask("hello again"))

    assert [sent["model"] for sent in fake_openai.requests] == ["gpt-other", "gpt-test"]


def test_usage_is_the_token_counts_the_upstream_reported(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    fake_openai.enqueue_text("Four score and seven years ago")

    reply = backend_for(fake_openai, sleeps).chat(ask("Quote Lincoln", system="Be brief."))

    assert reply.output_tokens == count_tokens("Four score and seven years ago")
    assert reply.input_tokens == count_tokens("Be brief.\nQuote Lincoln")


def test_cached_prompt_tokens_are_reported_as_reused_and_the_rest_as_evaluated(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    fake_openai.cached_prompt_tokens = 2
    fake_openai.enqueue_text("Four score")

    reply = backend_for(fake_openai, sleeps).chat(ask("Quote Lincoln", system="Be brief."))

    assert reply.reused_input_tokens == 2
    assert reply.evaluated_input_tokens == reply.input_tokens - 2


def test_without_cache_details_reuse_is_unknown(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    fake_openai.enqueue_text("Four score")

    reply = backend_for(fake_openai, sleeps).chat(ask("Quote Lincoln"))

    assert (reply.reused_input_tokens, reply.evaluated_input_tokens) == (None, None)


def test_missing_usage_is_reported_as_zero_tokens(sleeps: RecordingSleep) -> None:
    with FakeOpenAIServer(report_usage=False) as fake:
        reply = backend_for(fake, sleeps).chat(ask("hello"))

    assert (reply.input_tokens, reply.output_tokens) == (0, 0)


def test_json_schema_is_requested_as_a_strict_response_format(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    backend_for(fake_openai, sleeps).chat(ask("plan", json_schema=STRICT_SCHEMA))

    response_format = fake_openai.requests[0]["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"] == {
        **STRICT_SCHEMA,
        "additionalProperties": False,
    }


def test_a_schema_sent_again_is_sent_strict_in_its_own_key_order_and_left_unchanged(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    schema = json.loads(json.dumps(STRICT_SCHEMA))
    backend = backend_for(fake_openai, sleeps)
    backend.chat(ask("plan", json_schema=schema))
    backend.chat(ask("plan", json_schema=schema))

    assert schema == STRICT_SCHEMA and "additionalProperties" not in schema
    for request in fake_openai.requests:
        sent = request["response_format"]["json_schema"]["schema"]
        assert list(sent) == [*STRICT_SCHEMA, "additionalProperties"]
        assert list(sent["properties"]) == ["role", "variables"]


def test_strict_json_schema_reply_is_schema_valid(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    reply = backend_for(fake_openai, sleeps).chat(
        ask("a chef for meal prep planning", json_schema=STRICT_SCHEMA)
    )

    jsonschema.validate(json.loads(reply.text), STRICT_SCHEMA)


def test_schema_with_optional_properties_is_sent_non_strict(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    reply = backend_for(fake_openai, sleeps).chat(ask("plan", json_schema=LOOSE_SCHEMA))

    spec = fake_openai.requests[0]["response_format"]["json_schema"]
    assert spec["strict"] is False
    assert spec["schema"] == LOOSE_SCHEMA
    jsonschema.validate(json.loads(reply.text), LOOSE_SCHEMA)


def test_rejected_json_schema_falls_back_to_json_object_with_the_schema_in_the_prompt(
    sleeps: RecordingSleep,
) -> None:
    with FakeOpenAIServer(reject_json_schema=True) as fake:
        reply = backend_for(fake, sleeps).chat(ask("a chef", json_schema=STRICT_SCHEMA))

    assert [r["response_format"]["type"] for r in fake.requests] == ["json_schema", "json_object"]
    system = fake.requests[1]["messages"][0]
    assert system["role"] == "system"
    assert json.dumps(STRICT_SCHEMA, indent=1) in system["content"]
    jsonschema.validate(json.loads(reply.text), STRICT_SCHEMA)


def test_json_object_fallback_is_remembered_for_later_calls(sleeps: RecordingSleep) -> None:
    with FakeOpenAIServer(reject_json_schema=True) as fake:
        backend = backend_for(fake, sleeps)
        backend.chat(ask("first", json_schema=STRICT_SCHEMA))
        backend.chat(ask("second", json_schema=STRICT_SCHEMA))

    assert backend.schema_mode == "json_object"
    assert [r["response_format"]["type"] for r in fake.requests] == [
        "json_schema",
        "json_object",
        "json_object",
    ]


def test_server_without_json_modes_falls_back_to_plain_text(sleeps: RecordingSleep) -> None:
    with FakeOpenAIServer(reject_json_schema=True, reject_json_object=True) as fake:
        backend = backend_for(fake, sleeps)
        reply = backend.chat(ask("a chef", json_schema=STRICT_SCHEMA))

    assert "response_format" not in fake.requests[-1]
    assert backend.schema_mode == "text"
    jsonschema.validate(json.loads(reply.text), STRICT_SCHEMA)


def test_bad_request_in_every_mode_raises_the_first_error_and_forgets_nothing(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    for _ in range(3):
        fake_openai.enqueue_error(400, message="This model's maximum context length is 8192")
    backend = backend_for(fake_openai, sleeps)

    with pytest.raises(APIError, match="maximum context length"):
        backend.chat(ask("hello", json_schema=STRICT_SCHEMA))

    assert backend.schema_mode == "json_schema"


def test_rate_limit_is_retried_after_the_upstreams_retry_after(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    fake_openai.enqueue_error(429, retry_after=1)

    reply = backend_for(fake_openai, sleeps).chat(ask("hello"))

    assert reply.text.startswith("Here is a response")
    assert sleeps.calls == [1.0]
    assert len(fake_openai.requests) == 2


def test_rate_limit_past_max_retries_raises_rate_limit_error_with_retry_after(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    for _ in range(2):
        fake_openai.enqueue_error(429, retry_after=2)

    with pytest.raises(RateLimitError) as caught:
        backend_for(fake_openai, sleeps, max_retries=1).chat(ask("hello"))

    assert caught.value.retry_after == 2.0
    assert len(fake_openai.requests) == 2


def test_service_unavailable_past_max_retries_raises_overloaded_error(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    for _ in range(3):
        fake_openai.enqueue_error(503)

    with pytest.raises(OverloadedError, match="currently overloaded"):
        backend_for(fake_openai, sleeps, max_retries=2).chat(ask("hello"))

    assert len(fake_openai.requests) == 3
    assert len(sleeps.calls) == 2


def test_server_error_becomes_api_error_with_the_upstream_message(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    fake_openai.enqueue_error(500, message="the model crashed")

    with pytest.raises(APIError, match="the model crashed") as caught:
        backend_for(fake_openai, sleeps, max_retries=0).chat(ask("hello"))

    assert type(caught.value) is APIError


def test_rejected_credentials_blame_the_servers_backend_key(sleeps: RecordingSleep) -> None:
    with FakeOpenAIServer(api_key="the-right-key") as fake:
        backend = backend_for(fake, sleeps, api_key="a-wrong-key")
        with pytest.raises(APIError) as caught:
            backend.chat(ask("hello"))

    message = caught.value.message
    assert "rejected promptmill's credentials" in message
    assert "PROMPTMILL_OPENAI_API_KEY" in message
    assert len(fake.requests) == 1


def test_slow_upstream_times_out_at_the_requests_deadline(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    fake_openai.enqueue_delay(5)

    with pytest.raises(OverloadedError, match=r"backend did not answer within 0\.\ds"):
        backend_for(fake_openai, sleeps).chat(ask("hello", timeout=0.5))

    assert float(fake_openai.request_headers[0]["x-stainless-read-timeout"]) <= 0.5
    assert len(fake_openai.requests) == 1


def test_connection_refused_becomes_overloaded_error_without_the_base_url(
    closed_port_url: str, sleeps: RecordingSleep
) -> None:
    backend = sleeps.driving(
        OpenAIBackend(
            api_key="k",
            model="m",
            base_url=f"{closed_port_url}/v1",
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
