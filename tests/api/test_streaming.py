"""The streaming variant: progress events from the engine, then the exact JSON answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from promptmill.protocol import GENERATE_PATH, TEMPLATIZE_PATH
from tests.api.sse import parse_events
from tests.conftest import RunningServer

TASK = {"task": "a chef for a meal prep planning service"}
TEMPLATIZE_BODY = {
    "messages": [{"role": "user", "content": "Translate hello to German"}],
    "system": "You are a professional English to German translator",
}


def _stream(server: RunningServer, path: str, body: dict[str, Any], **headers: str) -> Any:
    response = httpx.post(server.base_url + path, headers=server.headers(**headers), json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["request-id"].startswith("req_")
    return parse_events(response.text)


def test_stream_true_sends_progress_then_one_result(promptmill_server: RunningServer) -> None:
    events = _stream(promptmill_server, TEMPLATIZE_PATH, {**TEMPLATIZE_BODY, "stream": True})
    names = [name for name, _ in events]
    assert names[-1] == "result"
    assert names.count("result") == 1
    assert set(names[:-1]) == {"progress"} and len(names) >= 2
    for _, data in events[:-1]:
        assert data["type"] == "progress"
        assert set(data) == {"type", "stage", "message", "attempt"}
        assert data["stage"] in {
            "plan",
            "render",
            "validate",
            "repair",
            "propose",
            "substitute",
            "done",
        }
        assert isinstance(data["attempt"], int)


def test_accept_event_stream_header_also_streams(promptmill_server: RunningServer) -> None:
    events = _stream(
        promptmill_server, TEMPLATIZE_PATH, TEMPLATIZE_BODY, accept="text/event-stream"
    )
    assert events[-1][0] == "result"
    assert list(events[-1][1]) == ["messages", "system", "usage", "variable_values"]


def test_streamed_result_has_the_non_streaming_shape(promptmill_server: RunningServer) -> None:
    plain = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH,
        headers=promptmill_server.headers(),
        json=TEMPLATIZE_BODY,
    ).json()
    _, streamed = _stream(promptmill_server, TEMPLATIZE_PATH, {**TEMPLATIZE_BODY, "stream": True})[
        -1
    ]
    # The fake vendor answers deterministically, so the two answers are the same.
    assert streamed == plain


def test_stream_false_is_the_plain_json_answer(promptmill_server: RunningServer) -> None:
    response = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH,
        headers=promptmill_server.headers(accept="text/event-stream"),
        json={**TEMPLATIZE_BODY, "stream": False},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"


def test_engine_failure_while_streaming_is_an_error_event(promptmill_server: RunningServer) -> None:
    for _ in range(5):
        promptmill_server.fake.enqueue_error(529)
    events = _stream(promptmill_server, GENERATE_PATH, {**TASK, "stream": True})
    name, data = events[-1]
    assert name == "error"
    assert data["type"] == "error"
    assert data["error"]["type"] == "overloaded_error"
    assert "result" not in [event for event, _ in events]


def test_bad_streaming_request_is_an_ordinary_json_error(promptmill_server: RunningServer) -> None:
    response = httpx.post(
        promptmill_server.base_url + GENERATE_PATH,
        headers=promptmill_server.headers(),
        json={"task": "", "stream": True},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("stream", ["yes", 1])
def test_stream_must_be_a_boolean(promptmill_server: RunningServer, stream: Any) -> None:
    response = httpx.post(
        promptmill_server.base_url + GENERATE_PATH,
        headers=promptmill_server.headers(),
        json={**TASK, "stream": stream},
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("stream: ")


def test_streamed_calls_are_recorded(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    promptmill_server = promptmill_server_factory(store_bodies=True)
    events = _stream(promptmill_server, TEMPLATIZE_PATH, {**TEMPLATIZE_BODY, "stream": True})
    (call,) = promptmill_server.store.recent_calls("default")
    assert call.endpoint == "templatize_prompt"
    assert call.status == 200
    assert call.response == events[-1][1]
    assert call.request == {**TEMPLATIZE_BODY, "stream": True}
