"""What a call record keeps of the bodies: sizes by default, the bodies only when asked, capped."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from promptmill.protocol import HISTORY_PATH, TEMPLATIZE_PATH
from tests.conftest import RunningServer

BODY = {"messages": [{"role": "user", "content": "Translate hello to German"}]}


def _call_and_read_back(server: RunningServer, body: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    answer = httpx.post(server.base_url + TEMPLATIZE_PATH, headers=server.headers(), content=raw)
    assert answer.status_code == 200, answer.text
    (call,) = server.store.recent_calls("default", limit=1)
    shown = httpx.get(
        f"{server.base_url}{HISTORY_PATH}/{call.id}", headers={"x-api-key": server.api_key}
    ).json()
    return {"raw": raw, "answer": answer, "call": call, "shown": shown}


def test_by_default_a_record_keeps_the_sizes_and_token_counts_not_the_bodies(
    promptmill_server: RunningServer,
) -> None:
    seen = _call_and_read_back(promptmill_server, BODY)
    call = seen["call"]
    assert call.request == {
        "body_bytes": len(seen["raw"]),
        "response_bytes": len(json.dumps(seen["answer"].json(), separators=(",", ":"))),
    }
    assert call.response is None
    assert call.input_tokens > 0 and call.output_tokens > 0
    assert seen["shown"]["request"] == call.request and seen["shown"]["response"] is None


def test_the_recorded_response_size_is_the_byte_count_of_the_json_body_sent(
    promptmill_server: RunningServer,
) -> None:
    body = {"messages": [{"role": "user", "content": "Übersetze „Grüße“ ins Französische"}]}
    seen = _call_and_read_back(promptmill_server, body)
    assert seen["answer"].headers["content-type"] == "application/json"
    assert seen["call"].request["response_bytes"] == len(seen["answer"].content)


def test_with_body_storage_on_a_record_keeps_both_bodies_verbatim(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(store_bodies=True)
    seen = _call_and_read_back(server, BODY)
    assert seen["call"].request == BODY
    assert seen["call"].response == seen["answer"].json()


def test_with_body_storage_on_a_body_over_the_cap_is_recorded_by_size_only(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(store_bodies=True, stored_body_max_bytes=1000)
    big = {"messages": [{"role": "user", "content": "Translate hello to German. " * 60}]}
    seen = _call_and_read_back(server, big)
    assert seen["call"].request["body_bytes"] == len(seen["raw"]) > 1000
    assert seen["call"].response is None
