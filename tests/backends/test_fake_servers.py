"""The fake vendor servers themselves: runnable as processes, and faithful to the wire rules
that the backends rely on (so a backend passing against them is not passing by accident)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import anthropic
import httpx
import openai
import pytest

from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer


@contextmanager
def fake_process(module: str) -> Iterator[str]:
    """Run ``python -m module --port 0``; yield the base URL it prints first."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_openai_fake_runs_as_a_process_and_prints_its_base_url() -> None:
    with fake_process("tests.fakes.openai_server") as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
        completion = client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "hello there"}]
        )

    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
    assert completion.choices[0].message.content


def test_anthropic_fake_runs_as_a_process_and_prints_its_base_url() -> None:
    with fake_process("tests.fakes.anthropic_server") as base_url:
        client = anthropic.Anthropic(base_url=base_url, api_key="test", max_retries=0)
        message = client.messages.create(
            model="claude-test",
            max_tokens=64,
            messages=[{"role": "user", "content": "hello there"}],
        )

    assert base_url.startswith("http://127.0.0.1:")
    assert message.content[0].type == "text"


def test_openai_fake_lists_models(fake_openai: FakeOpenAIServer) -> None:
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)

    assert [model.id for model in client.models.list()]


def test_openai_fake_requires_the_word_json_for_json_object_mode(
    fake_openai: FakeOpenAIServer,
) -> None:
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)

    with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
        client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "hello"}],
            response_format={"type": "json_object"},
        )


def test_openai_fake_reports_length_when_max_tokens_cuts_the_text(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.enqueue_text("word " * 100)
    client = openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)

    completion = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hello"}], max_tokens=5
    )

    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5


def test_anthropic_fake_requires_max_tokens(fake_anthropic: FakeAnthropicServer) -> None:
    response = httpx.post(
        f"{fake_anthropic.base_url}/v1/messages",
        headers={"x-api-key": "test", "anthropic-version": "2023-06-01"},
        json={"model": "claude-test", "messages": [{"role": "user", "content": "hi"}]},
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


def test_anthropic_fake_refuses_sampling_parameters_from_api_version_2026_10_21(
    fake_anthropic: FakeAnthropicServer,
) -> None:
    body = {
        "model": "claude-test",
        "max_tokens": 10,
        "temperature": 0.5,
        "messages": [{"role": "user", "content": "hi"}],
    }

    old = httpx.post(
        f"{fake_anthropic.base_url}/v1/messages",
        headers={"x-api-key": "test", "anthropic-version": "2023-06-01"},
        json=body,
    )
    new = httpx.post(
        f"{fake_anthropic.base_url}/v1/messages",
        headers={"x-api-key": "test", "anthropic-version": "2026-10-21"},
        json=body,
    )

    assert old.status_code == 200
    assert new.status_code == 400


def test_anthropic_fake_errors_carry_retry_after_and_a_request_id(
    fake_anthropic: FakeAnthropicServer,
) -> None:
    fake_anthropic.enqueue_error(429, retry_after=3)

    response = httpx.post(
        f"{fake_anthropic.base_url}/v1/messages",
        headers={"x-api-key": "test", "anthropic-version": "2023-06-01"},
        json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    )

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["request-id"]
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_anthropic_fake_stops_at_a_stop_sequence(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.enqueue_text("first part END second part")
    client = anthropic.Anthropic(base_url=fake_anthropic.base_url, api_key="t", max_retries=0)

    message = client.messages.create(
        model="claude-test",
        max_tokens=100,
        stop_sequences=["END"],
        messages=[{"role": "user", "content": "go"}],
    )

    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "END"
    assert message.content[0].type == "text" and message.content[0].text == "first part "
