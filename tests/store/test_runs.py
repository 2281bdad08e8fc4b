"""Evaluation runs: their lifecycle, the active-run limit, and idempotent results."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from promptmill.errors import InvalidRequestError, NotFoundError
from promptmill.store import EvalResultRecord, Store

SPEC: dict[str, Any] = {
    "variants": [{"label": "v1", "template": {"messages": [], "system": ""}, "model": None}],
    "graders": [{"type": "contains"}],
    "temperature": 0.0,
}
CASES = [{"vars": {"X": str(n)}, "expected": str(n), "notes": None} for n in range(3)]


def _result(case: int, variant: int = 0, **overrides: Any) -> EvalResultRecord:
    fields: dict[str, Any] = {
        "case_index": case,
        "variant_index": variant,
        "input": {"messages": [{"role": "user", "content": f"case {case}"}], "system": ""},
        "output": f"answer {case}",
        "input_tokens": 10,
        "output_tokens": 5,
        "latency_ms": 12.5,
        "grades": [{"grader": "contains", "passed": True, "score": 1.0, "reason": "found"}],
        "passed": True,
        "score": 1.0,
    }
    fields.update(overrides)
    return EvalResultRecord(**fields)


def _new_run(store: Store, workspace: str = "w", **kwargs: Any) -> str:
    return store.create_run(workspace, spec=SPEC, cases=CASES, total=3, **kwargs).id


def test_created_run_is_queued_with_its_spec_and_case_snapshot(store: Store) -> None:
    run = store.create_run("w", spec=SPEC, cases=CASES, total=3)
    assert (run.status, run.total, run.done, run.errors) == ("queued", 3, 0, 0)
    assert (run.spec, run.cases) == (SPEC, CASES)
    assert run.started_at is None and run.finished_at is None
    assert store.get_run(run.id) == run


def test_a_run_is_visible_only_in_its_workspace(store: Store) -> None:
    run_id = _new_run(store, "a")
    assert store.get_run(run_id, workspace="b") is None
    assert store.get_run(run_id, workspace="a") is not None
    assert store.list_runs("b") == []
    with pytest.raises(NotFoundError):
        store.cancel_run("b", run_id)


def test_runs_are_listed_newest_first_with_their_counts(store: Store) -> None:
    older, newer = _new_run(store), _new_run(store)
    store.record_result(older, _result(0))
    store.record_result(older, _result(1, error_type="api_error", error_message="boom"))
    listed = store.list_runs("w")
    assert [r.id for r in listed] == [newer, older]
    assert [(r.done, r.errors) for r in listed] == [(0, 0), (2, 1)]


def test_running_then_completed_stamps_both_times(store: Store) -> None:
    run_id = _new_run(store)
    running = store.set_run_status(run_id, "running")
    assert running is not None and running.status == "running"
    assert running.started_at is not None and running.finished_at is None
    done = store.set_run_status(run_id, "completed")
    assert done is not None and done.status == "completed"
    assert done.started_at == running.started_at
    assert done.finished_at is not None and done.finished_at >= done.started_at


def test_a_final_status_is_never_left(store: Store) -> None:
    run_id = _new_run(store)
    store.cancel_run("w", run_id)
    for later in ("running", "completed", "failed"):
        after = store.set_run_status(run_id, later, error="late")
        assert after is not None and after.status == "cancelled"
        assert after.error is None


def test_a_failed_run_keeps_its_error(store: Store) -> None:
    run_id = _new_run(store)
    failed = store.set_run_status(run_id, "failed", error="the spec could not be read")
    assert failed is not None
    assert (failed.status, failed.error) == ("failed", "the spec could not be read")


def test_cancelling_a_finished_run_leaves_it_finished(store: Store) -> None:
    run_id = _new_run(store)
    store.set_run_status(run_id, "completed")
    assert store.cancel_run("w", run_id).status == "completed"


def test_unknown_status_is_a_programming_error(store: Store) -> None:
    with pytest.raises(ValueError, match="status"):
        store.set_run_status(_new_run(store), "paused")


def test_unfinished_runs_are_the_queued_and_running_ones_of_every_workspace(store: Store) -> None:
    queued, running, done = _new_run(store, "a"), _new_run(store, "b"), _new_run(store, "a")
    store.set_run_status(running, "running")
    store.set_run_status(done, "completed")
    assert [r.id for r in store.unfinished_runs()] == [queued, running]


def test_active_run_limit_refuses_the_run_over_it(store: Store) -> None:
    _new_run(store, max_active=2)
    _new_run(store, max_active=2)
    with pytest.raises(InvalidRequestError, match=r"^runs: .* 2 queued or running"):
        _new_run(store, max_active=2)
    assert store.active_runs("w") == 2
    assert _new_run(store, "other", max_active=2)


def test_finished_runs_free_their_place_under_the_limit(store: Store) -> None:
    first = _new_run(store, max_active=1)
    store.cancel_run("w", first)
    assert store.active_runs("w") == 0
    assert _new_run(store, max_active=1)


def test_concurrent_run_creation_never_exceeds_the_limit(store: Store) -> None:
    def attempt(_: int) -> bool:
        try:
            _new_run(store, max_active=3)
        except InvalidRequestError:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        created = sum(pool.map(attempt, range(16)))
    assert created == 3
    assert store.active_runs("w") == 3


def test_recorded_result_reads_back_with_every_field(store: Store) -> None:
    run_id = _new_run(store)
    result = _result(
        2,
        1,
        passed=None,
        score=None,
        error_type="overloaded_error",
        error_message="try later",
        grades=[],
    )
    assert store.record_result(run_id, result) is True
    assert store.results(run_id) == [result]


def test_recording_a_result_twice_keeps_the_first_and_reports_the_duplicate(store: Store) -> None:
    run_id = _new_run(store)
    first = _result(0, output="first")
    assert store.record_result(run_id, first) is True
    assert store.record_result(run_id, _result(0, output="second")) is False
    assert store.results(run_id) == [first]
    assert store.counts(run_id).done == 1


def test_concurrent_writes_of_the_same_results_store_each_once(store: Store) -> None:
    run_id = _new_run(store)
    work = [_result(case, variant) for case in range(3) for variant in range(2)] * 4
    with ThreadPoolExecutor(8) as pool:
        inserted = list(pool.map(lambda r: store.record_result(run_id, r), work))
    assert sum(inserted) == 6
    assert store.result_keys(run_id) == {(c, v) for c in range(3) for v in range(2)}


def test_results_page_in_case_then_variant_order(store: Store) -> None:
    run_id = _new_run(store)
    for case, variant in [(2, 0), (0, 1), (1, 0), (0, 0), (1, 1)]:
        store.record_result(run_id, _result(case, variant))
    keys = [(r.case_index, r.variant_index) for r in store.results(run_id)]
    assert keys == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]
    page = store.results(run_id, offset=1, limit=2)
    assert [(r.case_index, r.variant_index) for r in page] == [(0, 1), (1, 0)]


def test_counts_separate_errors_from_results(store: Store) -> None:
    run_id = _new_run(store)
    store.record_result(run_id, _result(0))
    store.record_result(run_id, _result(1, error_type="api_error", error_message="x"))
    counts = store.counts(run_id)
    assert (counts.done, counts.errors) == (2, 1)


def test_result_dict_round_trip_matches_the_engine_shape(store: Store) -> None:
    result = _result(0)
    assert EvalResultRecord.from_dict({**result.to_dict(), "extra": 1}) == result


def test_run_status_is_the_bare_status_or_none(store: Store) -> None:
    run_id = _new_run(store)
    assert store.run_status(run_id) == "queued"
    store.set_run_status(run_id, "running")
    assert store.run_status(run_id) == "running"
    assert store.run_status("run_missing") is None
