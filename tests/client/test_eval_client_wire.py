"""The evaluation methods on the wire, where a server misbehaves on purpose (scripted).

A dropped event stream and a transient overload cannot be produced on demand by the
real server; the scripted one answers exactly what each test says.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from promptmill import APIConnectionError, APIError, APITimeoutError, AsyncClient, Client
from promptmill.eval_types import RunProgress
from tests.client.scripted_server import ScriptedAPIServer, error_body

RUN: dict[str, Any] = {
    "id": "run_1",
    "status": "completed",
    "total": 2,
    "done": 2,
    "errors": 0,
    "created_at": "2026-11-26T06:00:00Z",
    "started_at": "2026-11-26T06:00:01Z",
    "finished_at": "2026-11-26T06:00:02Z",
    "error": None,
    "variants": [{"label": "chef@1", "prompt_ref": {"name": "chef", "version": 1}, "model": None}],
    "graders": [{"type": "contains"}],
    "summary": [],
    "comparison": [],
}
EVENTS_PATH = "/v1/promptmill/runs/run_1/events"


def sse(*events: tuple[str, dict[str, Any]]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def progress(done: int) -> tuple[str, dict[str, Any]]:
    return ("progress", {"done": done, "total": 2, "status": "running"})


def answer_events(scripted: ScriptedAPIServer, body: str) -> None:
    scripted.answer(body=body, content_type="text/event-stream")


def test_wait_for_run_reopens_a_stream_that_ended_before_the_run(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    answer_events(scripted, sse(progress(1)))
    answer_events(scripted, sse(progress(2), ("done", RUN)))
    seen: list[RunProgress] = []
    with Client(scripted.root_url, api_key="k") as client:
        run = client.wait_for_run("run_1", on_progress=seen.append)
    assert run.id == "run_1" and run.status == "completed"
    assert [p.done for p in seen] == [1, 2]
    assert scripted.request_paths == [EVENTS_PATH, EVENTS_PATH]
    assert len(recorded_sleeps) == 1


def test_wait_for_run_gives_up_after_max_reconnects_without_an_event(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    for _ in range(3):
        answer_events(scripted, ": keep-alive\n\n")
    with Client(scripted.root_url, api_key="k") as client:
        client.max_reconnects = 2
        with pytest.raises(APIConnectionError, match="ended before the run did"):
            client.wait_for_run("run_1")
    assert len(scripted.request_paths) == 3


def test_async_wait_for_run_reopens_a_stream_too(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    answer_events(scripted, ": keep-alive\n\n")
    answer_events(scripted, sse(("done", RUN)))

    async def wait() -> str:
        async with AsyncClient(scripted.root_url, api_key="k") as client:
            return (await client.wait_for_run("run_1")).status

    assert asyncio.run(wait()) == "completed"
    assert len(scripted.request_paths) == 2


def test_an_events_answer_that_is_not_an_event_stream_is_an_api_error(
    scripted: ScriptedAPIServer,
) -> None:
    scripted.answer(body=RUN)
    with (
        Client(scripted.root_url, api_key="k") as client,
        pytest.raises(APIError, match="not an event stream"),
    ):
        client.wait_for_run("run_1")


def test_a_get_answered_529_is_retried(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    scripted.answer(529, error_body("overloaded_error"))
    scripted.answer(body=RUN)
    with Client(scripted.root_url, api_key="k") as client:
        assert client.run("run_1").status == "completed"
    assert scripted.request_paths == ["/v1/promptmill/runs/run_1"] * 2
    assert len(recorded_sleeps) == 1


def test_a_name_is_one_path_segment(scripted: ScriptedAPIServer) -> None:
    scripted.answer(body={"data": []})
    with Client(scripted.root_url, api_key="k") as client:
        client.prompt_versions("a/b")
    assert scripted.request_paths == ["/v1/promptmill/prompts/a%2Fb/versions"]


def test_a_timed_out_case_generation_is_not_asked_again(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    scripted.answer(body={"cases": [], "usage": []}, delay=1.0)
    with (
        Client(scripted.root_url, api_key="k", max_retries=2) as client,
        pytest.raises(APITimeoutError),
    ):
        client.generate_cases("chef", 3, timeout=0.2)
    assert scripted.request_paths == ["/v1/promptmill/cases/generate"]
    assert recorded_sleeps == []
