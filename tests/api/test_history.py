"""The history API: a workspace's recorded calls, read back with any of its keys."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import httpx

from promptmill.protocol import HISTORY_PATH, TEMPLATIZE_PATH
from promptmill.store import CallRecord
from tests.conftest import RunningServer


def _templatize(server: RunningServer, text: str) -> None:
    httpx.post(
        server.base_url + TEMPLATIZE_PATH,
        headers=server.headers(),
        json={"messages": [{"role": "user", "content": text}]},
    ).raise_for_status()


def test_history_api_needs_a_key(promptmill_server: RunningServer) -> None:
    response = httpx.get(promptmill_server.base_url + HISTORY_PATH)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_history_api_returns_the_workspace_calls_newest_first(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    promptmill_server = promptmill_server_factory(store_bodies=True)
    for word in ("first", "second"):
        _templatize(promptmill_server, f"Say {word}")
    headers = {"x-api-key": promptmill_server.api_key}
    page = httpx.get(f"{promptmill_server.base_url}{HISTORY_PATH}?limit=2", headers=headers)
    assert page.json()["workspace"] == "default"
    calls = page.json()["data"]
    assert [c["request"]["messages"][0]["content"] for c in calls] == ["Say second", "Say first"]
    assert {c["endpoint"] for c in calls} == {"templatize_prompt"}
    assert {"id", "endpoint", "created_at", "status", "latency_ms", "usage", "response"} <= set(
        calls[0]
    )
    assert "key_id" not in calls[0]
    one = httpx.get(f"{promptmill_server.base_url}{HISTORY_PATH}/{calls[0]['id']}", headers=headers)
    assert one.json() == calls[0]


def test_history_shows_the_backends_cached_input_and_the_model_seconds(
    promptmill_server: RunningServer,
) -> None:
    promptmill_server.fake.cached_prompt_tokens = 3
    _templatize(promptmill_server, "Say cached")
    (call,) = httpx.get(
        promptmill_server.base_url + HISTORY_PATH, headers={"x-api-key": promptmill_server.api_key}
    ).json()["data"]
    (entry,) = call["usage"]
    assert entry["reused_input_tokens"] == call["reused_input_tokens"] == 3
    assert call["evaluated_input_tokens"] == call["input_tokens"] - 3
    assert call["model_seconds"] == entry["seconds"] > 0


def test_the_tool_answer_keeps_its_usage_shape_while_the_record_has_the_details(
    promptmill_server: RunningServer,
) -> None:
    promptmill_server.fake.cached_prompt_tokens = 3
    answer = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH,
        headers=promptmill_server.headers(),
        json={"messages": [{"role": "user", "content": "Say cached"}]},
    ).json()
    assert [set(entry) for entry in answer["usage"]] == [{"input_tokens", "output_tokens"}]


def test_history_api_accepts_a_bearer_token(promptmill_server: RunningServer) -> None:
    _templatize(promptmill_server, "Say hi")
    response = httpx.get(
        promptmill_server.base_url + HISTORY_PATH,
        headers={"authorization": f"Bearer {promptmill_server.api_key}"},
    )
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1


def test_history_api_hides_other_workspaces_calls(promptmill_server: RunningServer) -> None:
    _templatize(promptmill_server, "Say mine")
    _, other_key = promptmill_server.store.create_key(workspace="other")
    mine = httpx.get(
        f"{promptmill_server.base_url}{HISTORY_PATH}?limit=1",
        headers={"x-api-key": promptmill_server.api_key},
    ).json()["data"]
    assert len(mine) == 1
    theirs = httpx.get(
        f"{promptmill_server.base_url}{HISTORY_PATH}/{mine[0]['id']}",
        headers={"x-api-key": other_key},
    )
    assert theirs.status_code == 404
    assert theirs.json()["error"]["type"] == "not_found_error"
    their_list = httpx.get(
        promptmill_server.base_url + HISTORY_PATH, headers={"x-api-key": other_key}
    )
    assert their_list.json() == {"workspace": "other", "data": []}


def test_history_api_rejects_an_out_of_range_limit(promptmill_server: RunningServer) -> None:
    response = httpx.get(
        f"{promptmill_server.base_url}{HISTORY_PATH}?limit=0",
        headers={"x-api-key": promptmill_server.api_key},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_body_with_a_lone_surrogate_is_refused_and_history_stays_readable(
    promptmill_server: RunningServer,
) -> None:
    # Once, such a call succeeded, its body was stored, and every later read was a 500.
    body = {"messages": [{"role": "user", "content": "hi"}], "note": "\ud800"}
    response = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH,
        headers=promptmill_server.headers(),
        content=(content := json.dumps(body).encode("ascii")),
    )
    assert response.status_code == 400, response.text
    history = httpx.get(
        promptmill_server.base_url + HISTORY_PATH, headers={"x-api-key": promptmill_server.api_key}
    )
    assert history.status_code == 200, history.text
    (call,) = history.json()["data"]
    assert call["status"] == 400
    assert call["request"] == {"body_bytes": len(content), "response_bytes": None}


def test_history_reads_rows_stored_with_lone_surrogates_and_infinities(
    promptmill_server: RunningServer,
) -> None:
    # Rows an older server stored: they are shown repaired, never as a 500.
    promptmill_server.store.record_call(
        CallRecord(
            id="req_old",
            key_id=promptmill_server.key_id,
            workspace="default",
            endpoint="generate_prompt",
            request={"task": "a chef \ud800", "n": math.inf, "k\ud801": [1.5]},
        )
    )
    headers = {"x-api-key": promptmill_server.api_key}
    listed = httpx.get(promptmill_server.base_url + HISTORY_PATH, headers=headers)
    one = httpx.get(promptmill_server.base_url + HISTORY_PATH + "/req_old", headers=headers)
    for response in (listed, one):
        assert response.status_code == 200, response.text
    assert one.json()["request"] == {"task": "a chef \ufffd", "n": None, "k\ufffd": [1.5]}
    assert listed.json()["data"] == [one.json()]
