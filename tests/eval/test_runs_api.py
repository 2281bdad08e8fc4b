"""Evaluation runs over HTTP: background work, results, comparison, events, cancel, 400s."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.sse import parse_events
from tests.conftest import RunningServer, redis_server, running_promptmill
from tests.eval.conftest import API, CHEF, VAGUE, client, food_cases, wait_for_run

FOODS = ("eggs", "rice", "lentils", "salmon", "tofu", "pasta", "beans", "kale", "leeks", "figs")


def _run_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "variants": [{"prompt": CHEF, "label": "chef"}, {"prompt": VAGUE, "label": "vague"}],
        "cases": food_cases(*FOODS),
        "graders": [{"type": "contains"}, {"type": "regex", "pattern": "dish|response"}],
    }
    body.update(overrides)
    return body


def _error(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    message: str = body["error"]["message"]
    return message


def test_a_two_variant_run_completes_with_results_summary_and_comparison(
    promptmill_server: RunningServer,
) -> None:
    with client(promptmill_server) as http:
        created = http.post(f"{API}/runs", json=_run_body())
        assert created.status_code == 202, created.text
        assert created.json()["status"] in ("queued", "running", "completed")
        run = wait_for_run(http, created.json()["id"])
        results = http.get(f"{API}/runs/{run['id']}/results", params={"limit": 1000}).json()

    assert (run["status"], run["total"], run["done"], run["errors"]) == ("completed", 20, 20, 0)
    assert [v["label"] for v in run["variants"]] == ["chef", "vague"]
    chef, vague = run["summary"]
    assert chef["pass_rate"] == 1.0  # the answer repeats the prompt's words, food included
    assert vague["pass_rate"] == 0.0
    [paired] = run["comparison"]
    assert (paired["baseline"], paired["variant"], paired["n"]) == ("chef", "vague", 10)
    assert (paired["wins"], paired["losses"]) == (0, 10)
    assert paired["mcnemar_p"] == pytest.approx(2 * 0.5**10)
    assert paired["wilcoxon_p"] is not None and paired["wilcoxon_p"] < 0.05

    data = results["data"]
    assert [(r["case_index"], r["variant_index"]) for r in data] == [
        (c, v) for c in range(10) for v in range(2)
    ]
    first = data[0]
    assert (first["variant"], first["vars"], first["expected"]) == (
        "chef",
        {"FOOD": "eggs"},
        "eggs",
    )
    assert first["input"]["system"] == "You are a chef."
    assert "eggs" in first["input"]["messages"][0]["content"][0]["text"]
    assert "eggs" in first["output"]
    assert first["input_tokens"] > 0 and first["output_tokens"] > 0 and first["latency_ms"] > 0
    assert [g["grader"] for g in first["grades"]] == ["contains", "regex"]
    assert first["passed"] is True and first["score"] == 1.0
    assert results["has_more"] is False


def test_results_page_with_offset_and_limit(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        run = wait_for_run(http, http.post(f"{API}/runs", json=_run_body()).json()["id"])
        page = http.get(f"{API}/runs/{run['id']}/results", params={"offset": 2, "limit": 3}).json()
    assert [(r["case_index"], r["variant_index"]) for r in page["data"]] == [(1, 0), (1, 1), (2, 0)]
    assert page["has_more"] is True


def test_a_run_of_saved_versions_on_a_dataset_labels_them_by_name_and_version(
    promptmill_server: RunningServer,
) -> None:
    with client(promptmill_server) as http:
        http.post(f"{API}/prompts", json={"name": "chef", **VAGUE})
        http.post(f"{API}/prompts", json={"name": "chef", **CHEF})
        http.put(f"{API}/datasets/dishes", json={"cases": food_cases("eggs", "rice")})
        body = {
            "variants": [
                {"prompt": {"name": "chef", "version": 1}},
                {"prompt": {"name": "chef"}},
            ],
            "dataset": "dishes",
            "graders": [{"type": "contains"}],
        }
        run = wait_for_run(http, http.post(f"{API}/runs", json=body).json()["id"])
    assert [v["label"] for v in run["variants"]] == ["chef@1", "chef@2"]
    assert [v["prompt_ref"] for v in run["variants"]] == [
        {"name": "chef", "version": 1},
        {"name": "chef", "version": 2},
    ]
    assert [s["pass_rate"] for s in run["summary"]] == [0.0, 1.0]


def test_one_prompt_on_two_models_sends_each_model_name(promptmill_server: RunningServer) -> None:
    body = _run_body(
        variants=[{"prompt": CHEF}, {"prompt": CHEF, "model": "gpt-4o"}],
        cases=food_cases("eggs"),
    )
    with client(promptmill_server) as http:
        run = wait_for_run(http, http.post(f"{API}/runs", json=body).json()["id"])
    assert [v["label"] for v in run["variants"]] == ["variant 1", "variant 2 (gpt-4o)"]
    assert sorted(r["model"] for r in promptmill_server.fake.requests) == ["gpt-4o", "gpt-4o-mini"]


def test_run_events_stream_progress_then_done(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        run_id = http.post(f"{API}/runs", json=_run_body()).json()["id"]
        with http.stream("GET", f"{API}/runs/{run_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = parse_events(stream.read().decode())
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"progress"}
    progress = [data for name, data in events if name == "progress"]
    assert [p["done"] for p in progress] == sorted(p["done"] for p in progress)
    assert progress[-1] == {"done": 20, "total": 20, "status": "completed"}
    assert events[-1][1]["id"] == run_id
    assert events[-1][1]["status"] == "completed"


def test_a_backend_failure_is_recorded_on_its_case_and_the_run_goes_on(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(eval_workers=1)
    server.fake.enqueue_error(500, message="upstream exploded")
    body = _run_body(variants=[{"prompt": CHEF}], cases=food_cases(*FOODS[:4]))
    body["concurrency"] = 1
    with client(server) as http:
        run = wait_for_run(http, http.post(f"{API}/runs", json=body).json()["id"])
        results = http.get(f"{API}/runs/{run['id']}/results").json()["data"]
    assert (run["status"], run["done"], run["errors"]) == ("completed", 4, 1)
    failed = [r for r in results if r["error_type"] is not None]
    assert [r["case_index"] for r in failed] == [0]
    assert failed[0]["error_type"] == "api_error"
    assert "upstream exploded" in failed[0]["error_message"]
    assert failed[0]["grades"] == [] and failed[0]["passed"] is None
    assert all(r["passed"] for r in results if r["error_type"] is None)
    assert run["summary"][0]["errors"] == 1


def test_cancel_stops_a_run_and_keeps_its_results(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(eval_workers=1)
    for _ in range(40):
        server.fake.enqueue_delay(0.2)
    body = _run_body(variants=[{"prompt": CHEF}], cases=food_cases(*FOODS))
    body["concurrency"] = 1
    with client(server) as http:
        run_id = http.post(f"{API}/runs", json=body).json()["id"]
        deadline = time.monotonic() + 30
        while http.get(f"{API}/runs/{run_id}").json()["done"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cancelled = http.post(f"{API}/runs/{run_id}/cancel")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        time.sleep(1.0)  # a case in flight may still land; nothing after it
        after = http.get(f"{API}/runs/{run_id}").json()
        again = http.post(f"{API}/runs/{run_id}/cancel").json()
    assert after["status"] == "cancelled" and after["finished_at"] is not None
    assert 2 <= after["done"] <= 4 < after["total"]
    assert again["status"] == "cancelled"


def test_another_workspaces_run_is_not_found(promptmill_server: RunningServer) -> None:
    _, other_secret = promptmill_server.store.create_key(workspace="other")
    with client(promptmill_server) as http:
        run_id = http.post(f"{API}/runs", json=_run_body(cases=food_cases("eggs"))).json()["id"]
        response = http.get(f"{API}/runs/{run_id}", headers={"x-api-key": other_secret})
        listed = http.get(f"{API}/runs", headers={"x-api-key": other_secret}).json()
        own = http.get(f"{API}/runs").json()
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    assert listed["data"] == []
    assert [r["id"] for r in own["data"]] == [run_id]


# --- bad input: a 400 naming the field -----------------------------------------------


@pytest.mark.parametrize(
    ("graders", "expected"),
    [
        ([{"type": "foo"}], "graders.0.type: unknown grader 'foo'; choose one of"),
        ([{"type": "contains"}, {"type": "regex", "pattern": "(unclosed"}], "graders.1.pattern:"),
        ([{"type": "json", "schema": {"type": "nonsense"}}], "graders.0.schema:"),
    ],
    ids=["unknown grader", "invalid regex", "invalid JSON Schema"],
)
def test_bad_graders_are_a_400_naming_the_field(
    promptmill_server: RunningServer, graders: list[dict[str, Any]], expected: str
) -> None:
    with client(promptmill_server) as http:
        message = _error(http.post(f"{API}/runs", json=_run_body(graders=graders)))
    assert message.startswith(expected), message


def test_an_empty_dataset_is_a_400(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        inline = _error(http.post(f"{API}/runs", json=_run_body(cases=[])))
        http.put(f"{API}/datasets/empty", json={"cases": []})
        saved = _error(http.post(f"{API}/runs", json=_run_body(cases=None, dataset="empty")))
    assert inline == saved == "cases: the dataset is empty"


def test_a_case_missing_a_variable_is_a_400_naming_the_case_and_variable(
    promptmill_server: RunningServer,
) -> None:
    cases = [*food_cases("eggs"), {"vars": {"DRINK": "tea"}}]
    with client(promptmill_server) as http:
        message = _error(http.post(f"{API}/runs", json=_run_body(cases=cases)))
    assert message.startswith("cases.1.vars: missing variable FOOD (case 2 ")


def test_an_unknown_saved_prompt_or_dataset_is_a_404_naming_the_field(
    promptmill_server: RunningServer,
) -> None:
    with client(promptmill_server) as http:
        prompt = http.post(f"{API}/runs", json=_run_body(variants=[{"prompt": {"name": "nope"}}]))
        dataset = http.post(f"{API}/runs", json=_run_body(cases=None, dataset="nope"))
        both = _error(http.post(f"{API}/runs", json=_run_body(dataset="nope")))
    for response in (prompt, dataset):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["type"] == "not_found_error"
    assert prompt.json()["error"]["message"].startswith("variants.0.prompt.name: no prompt 'nope'")
    assert dataset.json()["error"]["message"].startswith("dataset: no dataset 'nope'")
    assert both.startswith("cases: send either")


def test_a_prefill_before_a_user_message_is_a_400_naming_the_variant(
    promptmill_server: RunningServer,
) -> None:
    bad = {"messages": [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]}
    with client(promptmill_server) as http:
        message = _error(http.post(f"{API}/runs", json=_run_body(variants=[{"prompt": bad}])))
    assert message.startswith("variants.0.prompt.messages.0.role:")


def test_duplicate_variant_labels_are_a_400(promptmill_server: RunningServer) -> None:
    variants = [{"prompt": CHEF, "label": "same"}, {"prompt": VAGUE, "label": "same"}]
    with client(promptmill_server) as http:
        message = _error(http.post(f"{API}/runs", json=_run_body(variants=variants)))
    assert message.startswith("variants.1.label:")


def test_too_many_cases_is_a_400_naming_the_limit(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(eval_max_cases=3)
    with client(server) as http:
        message = _error(http.post(f"{API}/runs", json=_run_body(cases=food_cases(*FOODS[:4]))))
    assert message.startswith("cases: 4 cases exceed the limit of 3 per run")


def test_too_many_active_runs_is_a_400_until_one_finishes(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(eval_max_active_runs=1, eval_workers=0)
    body = _run_body(cases=food_cases("eggs"))
    with client(server) as http:
        first = http.post(f"{API}/runs", json=body)
        assert first.status_code == 202
        message = _error(http.post(f"{API}/runs", json=body))
        http.post(f"{API}/runs/{first.json()['id']}/cancel")
        third = http.post(f"{API}/runs", json=body)
    assert message.startswith("runs: this workspace already has 1 queued or running")
    assert third.status_code == 202


def test_a_body_field_out_of_range_is_a_400_naming_it(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        message = _error(http.post(f"{API}/runs", json=_run_body(concurrency=0)))
    assert message.startswith("concurrency:")


def test_a_run_on_postgresql_completes(tmp_path: Any, postgres_url: str) -> None:
    with running_promptmill(tmp_path, database_url=postgres_url) as server, client(server) as http:
        run = wait_for_run(http, http.post(f"{API}/runs", json=_run_body()).json()["id"])
        results = http.get(f"{API}/runs/{run['id']}/results", params={"limit": 100}).json()
    assert (run["status"], run["done"], run["errors"]) == ("completed", 20, 0)
    assert len(results["data"]) == 20
    assert not (tmp_path / "queue.db").exists()  # the queue lives in PostgreSQL


def test_events_of_a_cancelled_run_end_with_done_and_its_status(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(eval_workers=0)
    with client(server) as http:
        run_id = http.post(f"{API}/runs", json=_run_body()).json()["id"]
        http.post(f"{API}/runs/{run_id}/cancel")
        with http.stream("GET", f"{API}/runs/{run_id}/events") as stream:
            events = parse_events(stream.read().decode())
        unknown = http.get(f"{API}/runs/run_nope/events")
    assert events == [
        ("progress", {"done": 0, "total": 20, "status": "cancelled"}),
        ("done", events[-1][1]),
    ]
    assert events[-1][1]["status"] == "cancelled"
    assert unknown.status_code == 404


def test_two_servers_on_one_postgresql_database_share_a_runs_work(
    tmp_path: Any, postgres_url: str
) -> None:
    with (
        running_promptmill(tmp_path / "a", database_url=postgres_url, eval_workers=1) as a,
        running_promptmill(tmp_path / "b", database_url=postgres_url, eval_workers=1) as b,
    ):
        for fake in (a.fake, b.fake):
            for _ in range(40):
                fake.enqueue_delay(0.05)
        body = _run_body(variants=[{"prompt": CHEF}], cases=food_cases(*FOODS * 3), concurrency=1)
        with client(a) as http:
            run = wait_for_run(http, http.post(f"{API}/runs", json=body).json()["id"])
        with client(b) as http:  # b's key belongs to the same "default" workspace
            seen_by_b = http.get(f"{API}/runs/{run['id']}").json()
    assert (run["status"], run["done"], run["total"]) == ("completed", 30, 30)
    assert seen_by_b["status"] == "completed"
    # Both servers evaluated some of the four chunks, and no case was asked twice.
    assert a.fake.requests and b.fake.requests
    assert len(a.fake.requests) + len(b.fake.requests) == 30


def test_a_run_created_while_the_queue_is_down_is_a_529_and_never_starts(tmp_path: Path) -> None:
    """Redis gone after start-up: the caller is told to retry (529 with retry-after, no
    address or exception name), and the stored run is failed so it never runs as a twin."""
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis") as url:
        server_context = running_promptmill(tmp_path, redis_url=url)
        server = server_context.__enter__()
    try:
        with client(server) as http:
            refused = http.post(f"{API}/runs", json=_run_body())
            runs = http.get(f"{API}/runs").json()["data"]
    finally:
        server_context.__exit__(None, None, None)

    assert refused.status_code == 529, refused.text
    assert float(refused.headers["retry-after"]) > 0
    error = refused.json()["error"]
    assert error == {
        "type": "overloaded_error",
        "message": "the evaluation queue is unavailable; try again shortly",
    }
    assert "127.0.0.1" not in refused.text and "Error" not in refused.text
    assert [(run["status"], run["error"]) for run in runs] == [
        ("failed", "the evaluation queue was unavailable")
    ]
