"""Every call that reached an authenticated key is recorded; recording never breaks a call."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import httpx
import pytest

from promptmill.protocol import GENERATE_PATH, TEMPLATIZE_PATH
from tests.conftest import RunningServer

BODY = {"task": "a chef for a meal prep planning service", "target_model": "claude-x"}


TEMPLATIZE_BODY = {
    "messages": [{"role": "user", "content": "Translate hello to German"}],
    "system": "You are a translator",
}


@pytest.fixture
def promptmill_server(promptmill_server_factory: Callable[..., RunningServer]) -> RunningServer:
    """A server that keeps bodies in its records, so these tests can check them whole."""
    return promptmill_server_factory(store_bodies=True)


def test_a_successful_call_is_recorded_with_request_and_response(
    promptmill_server: RunningServer,
) -> None:
    response = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH,
        headers=promptmill_server.headers(),
        json=TEMPLATIZE_BODY,
    )
    assert response.status_code == 200, response.text
    (call,) = promptmill_server.store.recent_calls("default")
    assert call.id == response.headers["request-id"]
    assert call.key_id == promptmill_server.key_id
    assert call.workspace == "default"
    assert call.endpoint == "templatize_prompt"
    assert (call.backend, call.model) == ("openai", "gpt-4o-mini")
    assert call.status == 200 and call.error_type is None
    assert call.request == TEMPLATIZE_BODY
    assert call.response == response.json()
    assert call.usage == response.json()["usage"]
    assert call.latency_ms > 0


def test_a_backend_failure_is_recorded_with_the_target_model(
    promptmill_server: RunningServer,
) -> None:
    for _ in range(5):
        promptmill_server.fake.enqueue_error(529)
    response = httpx.post(
        promptmill_server.base_url + GENERATE_PATH, headers=promptmill_server.headers(), json=BODY
    )
    assert response.status_code == 529
    (call,) = promptmill_server.store.recent_calls("default")
    assert (call.endpoint, call.target_model) == ("generate_prompt", "claude-x")
    assert (call.status, call.error_type) == (529, "overloaded_error")
    assert call.request == BODY
    assert call.response is None


def test_a_failed_call_is_recorded_with_its_error_type(promptmill_server: RunningServer) -> None:
    response = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH,
        headers=promptmill_server.headers(),
        json={"messages": [{"role": "assistant", "content": "hi"}]},
    )
    assert response.status_code == 400
    (call,) = promptmill_server.store.recent_calls("default")
    assert call.endpoint == "templatize_prompt"
    assert (call.status, call.error_type) == (400, "invalid_request_error")
    assert call.response is None
    assert call.request == {"messages": [{"role": "assistant", "content": "hi"}]}


def test_calls_without_a_valid_key_are_not_recorded(promptmill_server: RunningServer) -> None:
    response = httpx.post(
        promptmill_server.base_url + GENERATE_PATH,
        headers=promptmill_server.headers(**{"x-api-key": "sk-pm-wrong"}),
        json=BODY,
    )
    assert response.status_code == 401
    assert promptmill_server.store.recent_calls("default") == []


def test_a_broken_store_does_not_turn_a_success_into_an_error(
    promptmill_server: RunningServer,
) -> None:
    database = promptmill_server.settings.resolved_database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        tables = [row[0] for row in connection.execute("select name from sqlite_master")]
        calls_table = next(name for name in tables if name in {"calls", "call"})
        connection.execute(f"drop table {calls_table}")
    response = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH,
        headers=promptmill_server.headers(),
        json=TEMPLATIZE_BODY,
    )
    assert response.status_code == 200, response.text
