"""The evaluation queue's wiring: which queue, what a chunk computes, and resuming runs.

The chunk task is called directly here (as a worker would run it) on a real SQLite
store, with the scripted in-memory backend; the HTTP tests in tests/eval run the same
code through the server's own worker threads and subprocesses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huey import MemoryHuey, PostgresHuey, SqliteHuey

from promptmill.backends.base import ChatRequest
from promptmill.config import Settings
from promptmill.errors import APIError
from promptmill.jobs import CHUNK_CASES, QUEUE_FILE, EvalJobs, RunSpec, make_huey
from promptmill.store import EvalResultRecord, Store
from tests.fakes.scripted_backend import ScriptedBackend
from tests.store.conftest import postgres_server, postgres_url

__all__ = ["postgres_server", "postgres_url"]  # fixtures, for the PostgreSQL queue test

SPEC = RunSpec.model_validate(
    {
        "variants": [
            {
                "label": "a",
                "template": {
                    "messages": [
                        {"role": "user", "content": [{"type": "text", "text": "Cook {{FOOD}}"}]}
                    ],
                    "system": "",
                },
            },
        ],
        "graders": [{"type": "contains"}],
        "concurrency": 1,
    }
).model_dump(mode="json")


def _echo(request: ChatRequest) -> str:
    return f"answer: {request.turns[-1].text}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as opened:
        yield opened


def _jobs(tmp_path: Path, store: Store, backend: ScriptedBackend) -> EvalJobs:
    return EvalJobs.from_settings(Settings(home=tmp_path), store, backend)


def _run(store: Store, cases: int) -> str:
    case_list = [{"vars": {"FOOD": f"food{n}"}, "expected": f"food{n}"} for n in range(cases)]
    return store.create_run("w", spec=SPEC, cases=case_list, total=cases).id


def _result(case: int) -> EvalResultRecord:
    return EvalResultRecord(
        case_index=case,
        variant_index=0,
        input={},
        output="kept",
        input_tokens=1,
        output_tokens=1,
        latency_ms=1.0,
        grades=[],
        passed=None,
        score=None,
    )


def test_a_sqlite_store_gets_a_sqlite_queue_under_home(tmp_path: Path, store: Store) -> None:
    huey = make_huey(Settings(home=tmp_path / "home"), store)
    assert isinstance(huey, SqliteHuey)
    assert (tmp_path / "home" / QUEUE_FILE).exists()


def test_processes_on_one_database_share_a_queue_and_other_databases_do_not(
    tmp_path: Path, store: Store
) -> None:
    settings = Settings(home=tmp_path / "home")
    with (
        Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as same,
        Store.open(f"sqlite:///{tmp_path / 'other.db'}") as other,
    ):
        mine, twin, theirs = (make_huey(settings, s) for s in (store, same, other))
        mine.storage.enqueue(b"task", 0)
        assert (mine.name, twin.storage.queue_size()) == (twin.name, 1)
        assert mine.name != theirs.name
        assert theirs.storage.queue_size() == 0


def test_an_in_memory_store_gets_an_in_memory_queue(tmp_path: Path) -> None:
    with Store.open("sqlite://") as memory:
        assert isinstance(make_huey(Settings(home=tmp_path), memory), MemoryHuey)
    assert not (tmp_path / QUEUE_FILE).exists()


@pytest.mark.postgres
def test_a_postgresql_store_gets_a_queue_in_the_same_database(
    tmp_path: Path, postgres_url: str
) -> None:
    with Store.open(postgres_url) as pg_store:
        huey = make_huey(Settings(home=tmp_path), pg_store)
        try:
            assert isinstance(huey, PostgresHuey)
            huey.storage.enqueue(b"x", 0)
            assert huey.storage.queue_size() == 1
        finally:
            huey.storage.close()
    assert not (tmp_path / QUEUE_FILE).exists()


def test_a_redis_url_without_the_redis_package_fails_naming_the_setting(
    tmp_path: Path, store: Store
) -> None:
    try:
        import redis  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("the redis package is installed; this tests its absence")
    with pytest.raises(APIError, match=r"^PROMPTMILL_REDIS_URL: "):
        make_huey(Settings(home=tmp_path, redis_url="redis://127.0.0.1:1/0"), store)


def test_a_chunk_computes_only_its_missing_results_and_completes_the_run(
    tmp_path: Path, store: Store
) -> None:
    backend = ScriptedBackend(responder=_echo)
    run_id = _run(store, 3)
    store.record_result(run_id, _result(1))
    _jobs(tmp_path, store, backend).evaluate_chunk(run_id, 0)
    results = store.results(run_id)
    assert [r.output for r in results] == ["answer: Cook food0", "kept", "answer: Cook food2"]
    assert len(backend.requests) == 2
    assert store.run_status(run_id) == "completed"


def test_a_chunk_run_again_asks_the_model_nothing(tmp_path: Path, store: Store) -> None:
    backend = ScriptedBackend(responder=_echo)
    run_id = _run(store, 2)
    jobs = _jobs(tmp_path, store, backend)
    jobs.evaluate_chunk(run_id, 0)
    jobs.evaluate_chunk(run_id, 0)
    assert len(backend.requests) == 2
    assert store.counts(run_id).done == 2


def test_a_run_is_completed_only_by_the_chunk_that_finds_every_result(
    tmp_path: Path, store: Store
) -> None:
    run_id = _run(store, CHUNK_CASES + 1)
    jobs = _jobs(tmp_path, store, ScriptedBackend(responder=_echo))
    jobs.evaluate_chunk(run_id, 1)
    assert store.run_status(run_id) == "running"
    jobs.evaluate_chunk(run_id, 0)
    assert store.run_status(run_id) == "completed"


def test_a_cancelled_run_is_not_worked_on(tmp_path: Path, store: Store) -> None:
    backend = ScriptedBackend(responder=_echo)
    run_id = _run(store, 2)
    store.cancel_run("w", run_id)
    _jobs(tmp_path, store, backend).evaluate_chunk(run_id, 0)
    assert backend.requests == []
    assert store.run_status(run_id) == "cancelled"


def test_a_cancel_during_a_chunk_stops_it_before_the_next_case(
    tmp_path: Path, store: Store
) -> None:
    run_id = _run(store, 4)

    def cancel_then_answer(request: ChatRequest) -> str:
        store.cancel_run("w", run_id)
        return "late answer"

    backend = ScriptedBackend([cancel_then_answer], responder=_echo)
    _jobs(tmp_path, store, backend).evaluate_chunk(run_id, 0)
    assert len(backend.requests) == 1
    assert store.counts(run_id).done == 1  # the case in flight still lands
    assert store.run_status(run_id) == "cancelled"


def test_a_backend_failure_is_a_result_not_a_failed_run(tmp_path: Path, store: Store) -> None:
    backend = ScriptedBackend([APIError("boom")], responder=_echo)
    run_id = _run(store, 2)
    _jobs(tmp_path, store, backend).evaluate_chunk(run_id, 0)
    first, second = store.results(run_id)
    assert (first.error_type, first.error_message) == ("api_error", "boom")
    assert second.error_type is None
    assert store.run_status(run_id) == "completed"


def test_an_invalid_stored_run_fails_with_the_reason(tmp_path: Path, store: Store) -> None:
    spec: dict[str, Any] = {**SPEC, "graders": [{"type": "regex", "pattern": "("}]}
    run_id = store.create_run("w", spec=spec, cases=[{"vars": {"FOOD": "x"}}], total=1).id
    _jobs(tmp_path, store, ScriptedBackend(responder=_echo)).evaluate_chunk(run_id, 0)
    run = store.get_run(run_id)
    assert run is not None and run.status == "failed"
    assert run.error is not None and run.error.startswith("graders.0.pattern:")


def test_resume_enqueues_only_chunks_with_missing_results(tmp_path: Path, store: Store) -> None:
    jobs = _jobs(tmp_path, store, ScriptedBackend(responder=_echo))
    partial = _run(store, CHUNK_CASES * 2 + 1)  # chunks 0, 1, 2
    for case in range(CHUNK_CASES):  # chunk 0 complete
        store.record_result(partial, _result(case))
    store.set_run_status(partial, "running")
    complete = _run(store, 1)
    store.record_result(complete, _result(0))
    store.set_run_status(complete, "running")
    finished = _run(store, 1)
    store.set_run_status(finished, "completed")

    assert jobs.resume_unfinished() == 2
    queued = [task.args for task in jobs.huey.pending()]
    assert sorted(queued) == [(partial, 1), (partial, 2)]
    assert store.run_status(complete) == "completed"


def test_in_process_workers_take_enqueued_chunks_and_stop(tmp_path: Path, store: Store) -> None:
    backend = ScriptedBackend(responder=_echo)
    jobs = _jobs(tmp_path, store, backend)
    run_id = _run(store, 3)
    run = store.get_run(run_id)
    assert run is not None
    jobs.enqueue_run(run)
    jobs.start_workers(2)
    try:
        deadline = time.monotonic() + 20
        while store.run_status(run_id) != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        jobs.stop()
    assert store.counts(run_id).done == 3
