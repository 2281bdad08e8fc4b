"""Every call that reached an authenticated key is recorded; recording never breaks a call."""

from __future__ import annotations

import logging
import socket
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from promptmill.engine.pipeline import PLAN_ATTEMPTS
from promptmill.protocol import GENERATE_PATH, TEMPLATIZE_PATH
from promptmill.store import StoredCall
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
    # The record keeps the answer's token counts and what the answer has no room for.
    counts = [{k: u[k] for k in ("input_tokens", "output_tokens")} for u in call.usage]
    assert counts == response.json()["usage"]
    assert all(u["seconds"] > 0 for u in call.usage)
    assert call.latency_ms > 0


def test_concurrent_calls_are_each_recorded_before_their_answer_goes_out(
    promptmill_server: RunningServer,
) -> None:
    """Records of simultaneous calls share a transaction; none is answered before it commits."""

    def call_and_look_up(_: int) -> bool:
        response = httpx.post(
            promptmill_server.base_url + TEMPLATIZE_PATH,
            headers=promptmill_server.headers(),
            json=TEMPLATIZE_BODY,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        request_id = response.headers["request-id"]
        return promptmill_server.store.get_call("default", request_id) is not None

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(call_and_look_up, range(32)))


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


def test_a_failed_generate_is_recorded_with_the_tokens_its_model_calls_spent(
    promptmill_server: RunningServer,
) -> None:
    """The model answered every attempt, so its tokens count, though no prompt came of them."""
    for _ in range(PLAN_ATTEMPTS):
        promptmill_server.fake.enqueue_text("no plan here")
    response = httpx.post(
        promptmill_server.base_url + GENERATE_PATH, headers=promptmill_server.headers(), json=BODY
    )
    assert response.status_code == 500, response.text
    (call,) = promptmill_server.store.recent_calls("default")
    assert (call.status, call.error_type) == (500, "api_error")
    assert len(call.usage) == len(promptmill_server.fake.requests) == PLAN_ATTEMPTS
    assert call.input_tokens > 0 and call.output_tokens > 0


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
        connection.execute("drop table calls")  # the table the store records calls in
    response = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH,
        headers=promptmill_server.headers(),
        json=TEMPLATIZE_BODY,
    )
    assert response.status_code == 200, response.text


def _abort_upload(server: RunningServer, path: str) -> None:
    """Send headers promising 10,000 bytes of body, 9 of them, then hang up."""
    host, port = server.base_url.removeprefix("http://").split(":")
    headers = "".join(f"{name}: {value}\r\n" for name, value in server.headers().items())
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"content-length: 10000\r\n{headers}\r\n".encode()
            + b'{"task": '
        )
        time.sleep(0.2)  # let the server start reading the body


def _wait_for_calls(server: RunningServer, count: int) -> list[StoredCall]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        calls = server.store.recent_calls("default")
        if len(calls) >= count:
            return calls
        time.sleep(0.05)
    raise AssertionError(f"expected {count} recorded calls, found {len(calls)}")


def test_an_aborted_upload_is_recorded_as_client_closed_not_as_a_server_error(
    promptmill_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="promptmill.api"):
        _abort_upload(promptmill_server, GENERATE_PATH)
        (call,) = _wait_for_calls(promptmill_server, 1)
    assert (call.status, call.error_type) == (499, None)
    assert call.endpoint == "generate_prompt"
    logged = [record for record in caplog.records if record.name == "promptmill.api"]
    assert len(logged) == 1, [record.getMessage() for record in logged]
    assert logged[0].levelno == logging.INFO
    assert logged[0].exc_info is None
    assert call.id is not None and call.id in logged[0].getMessage()
    assert "went away" in logged[0].getMessage()
