"""Call records: what is kept, the usage totals, and the per-workspace history."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from promptmill.engine.types import MeteredUsage, Usage
from promptmill.errors import InvalidRequestError
from promptmill.store import CallRecord, Store


def _call(workspace: str = "default", **overrides: object) -> CallRecord:
    fields: dict[str, object] = {
        "key_id": None,
        "workspace": workspace,
        "endpoint": "generate_prompt",
        "target_model": "claude-sonnet-4-5",
        "backend": "openai",
        "model": "gpt-4o-mini",
        "usage": [{"input_tokens": 10, "output_tokens": 20}],
        "latency_ms": 100.0,
        "status": 200,
        "error_type": None,
        "request": {"task": "a chef"},
        "response": {"messages": [], "system": "", "usage": []},
    }
    fields.update(overrides)
    return CallRecord(**fields)


def test_recorded_call_reads_back_with_every_field(store: Store) -> None:
    key, _ = store.create_key(workspace="w")
    request = {"task": "a chef", "target_model": "x", "nested": {"list": [1, "two", None]}}
    response = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}
    call_id = store.record_call(
        _call(
            "w",
            key_id=key.id,
            endpoint="improve_prompt",
            usage=[
                {"input_tokens": 5, "output_tokens": 7},
                {"input_tokens": 1, "output_tokens": 2},
            ],
            latency_ms=123.5,
            request=request,
            response=response,
        )
    )
    stored = store.get_call("w", call_id)
    assert stored is not None
    assert (stored.id, stored.key_id, stored.workspace) == (call_id, key.id, "w")
    assert (stored.endpoint, stored.target_model) == ("improve_prompt", "claude-sonnet-4-5")
    assert (stored.backend, stored.model) == ("openai", "gpt-4o-mini")
    assert stored.usage == [
        {"input_tokens": 5, "output_tokens": 7},
        {"input_tokens": 1, "output_tokens": 2},
    ]
    assert (stored.input_tokens, stored.output_tokens) == (6, 9)
    assert (stored.latency_ms, stored.status, stored.error_type) == (123.5, 200, None)
    assert stored.request == request
    assert stored.response == response
    assert stored.created_at.tzinfo is not None


def test_failed_call_keeps_its_error_type_and_no_response(store: Store) -> None:
    call_id = store.record_call(
        _call(status=529, error_type="overloaded_error", usage=[], response=None)
    )
    stored = store.get_call("default", call_id)
    assert stored is not None
    assert (stored.status, stored.error_type, stored.response) == (529, "overloaded_error", None)
    assert (stored.input_tokens, stored.output_tokens, stored.usage) == (0, 0, [])


def test_usage_given_as_engine_usage_objects_is_accepted(store: Store) -> None:
    call_id = store.record_call(_call(usage=[Usage(input_tokens=3, output_tokens=4)]))
    stored = store.get_call("default", call_id)
    assert stored is not None and stored.usage == [{"input_tokens": 3, "output_tokens": 4}]


def test_metered_usage_keeps_reuse_and_seconds_per_model_call_and_their_sums(
    store: Store,
) -> None:
    usage = [
        MeteredUsage(
            input_tokens=500,
            output_tokens=40,
            reused_input_tokens=450,
            evaluated_input_tokens=50,
            seconds=2.5,
        ),
        MeteredUsage(
            input_tokens=600,
            output_tokens=10,
            reused_input_tokens=590,
            evaluated_input_tokens=10,
            seconds=0.5,
        ),
    ]
    stored = store.get_call("default", store.record_call(_call(usage=usage)))
    assert stored is not None
    assert stored.usage[1] == {
        "input_tokens": 600,
        "output_tokens": 10,
        "reused_input_tokens": 590,
        "evaluated_input_tokens": 10,
        "seconds": 0.5,
    }
    assert (stored.reused_input_tokens, stored.evaluated_input_tokens) == (1040, 60)
    assert stored.model_seconds == 3.0


def test_reuse_is_unknown_unless_every_model_call_reported_it(store: Store) -> None:
    usage = [
        MeteredUsage(input_tokens=5, output_tokens=1, reused_input_tokens=4, seconds=1.0),
        Usage(input_tokens=5, output_tokens=1),
    ]
    stored = store.get_call("default", store.record_call(_call(usage=usage)))
    assert stored is not None
    assert stored.usage[1] == {"input_tokens": 5, "output_tokens": 1}
    assert (stored.reused_input_tokens, stored.evaluated_input_tokens) == (None, None)
    assert stored.model_seconds is None


def test_usage_totals_add_up_the_reused_tokens_and_model_seconds_that_were_reported(
    store: Store,
) -> None:
    metered = {"input_tokens": 10, "output_tokens": 2, "reused_input_tokens": 8, "seconds": 1.5}
    store.record_call(_call(usage=[metered]))
    store.record_call(_call(usage=[metered, metered]))
    store.record_call(_call(usage=[{"input_tokens": 10, "output_tokens": 2}]))
    [totals] = store.usage_totals()
    assert totals.reused_input_tokens == 24
    assert totals.model_seconds == 4.5


def test_usage_totals_without_any_report_leave_reuse_unknown(store: Store) -> None:
    store.record_call(_call())
    [totals] = store.usage_totals()
    assert (totals.reused_input_tokens, totals.model_seconds) == (None, None)


def test_a_given_call_id_is_kept(store: Store) -> None:
    assert store.record_call(_call(id="req_0123abc")) == "req_0123abc"
    assert store.get_call("default", "req_0123abc") is not None


def test_recording_a_call_creates_its_workspace(store: Store) -> None:
    store.record_call(_call("fresh"))
    assert [u.workspace for u in store.usage_totals()] == ["fresh"]


def test_a_record_that_fails_leaves_no_workspace_behind_for_the_next(store: Store) -> None:
    # The failed record's new workspace is rolled back with it; the next record of that
    # workspace must create it again, not reuse the id of a row that never committed.
    with pytest.raises(IntegrityError):
        store.record_call(_call("fresh", key_id="key_that_does_not_exist"))
    assert store.usage_totals() == []

    store.record_call(_call("fresh"))
    assert [(u.workspace, u.calls) for u in store.usage_totals()] == [("fresh", 1)]


def test_many_records_of_one_workspace_all_count_in_it(store: Store) -> None:
    for _ in range(3):
        store.record_call(_call("team"))
    store.record_call(_call("other"))
    assert [(u.workspace, u.calls) for u in store.usage_totals()] == [("other", 1), ("team", 3)]


def test_usage_totals_add_up_calls_errors_and_tokens(store: Store) -> None:
    store.record_call(_call(usage=[{"input_tokens": 10, "output_tokens": 20}]))
    store.record_call(
        _call(
            endpoint="templatize_prompt",
            usage=[
                {"input_tokens": 1, "output_tokens": 2},
                {"input_tokens": 3, "output_tokens": 4},
            ],
        )
    )
    store.record_call(_call(status=400, error_type="invalid_request_error", usage=[]))
    store.record_call(_call(status=529, error_type="overloaded_error", usage=[]))
    [totals] = store.usage_totals()
    assert totals.workspace == "default"
    assert (totals.calls, totals.errors) == (4, 2)
    assert (totals.input_tokens, totals.output_tokens) == (14, 26)
    assert totals.by_endpoint == {"generate_prompt": 3, "templatize_prompt": 1}


def test_usage_totals_give_mean_and_median_latency(store: Store) -> None:
    for latency in (10.0, 20.0, 30.0, 1000.0):
        store.record_call(_call(latency_ms=latency))
    [totals] = store.usage_totals()
    assert totals.mean_latency_ms == pytest.approx(265.0)
    assert totals.p50_latency_ms == pytest.approx(25.0)
    store.record_call(_call(latency_ms=5.0))
    [totals] = store.usage_totals()
    assert totals.p50_latency_ms == pytest.approx(20.0)


def test_usage_totals_are_kept_apart_per_workspace(store: Store) -> None:
    store.record_call(_call("a", usage=[{"input_tokens": 1, "output_tokens": 1}]))
    store.record_call(_call("b", usage=[{"input_tokens": 5, "output_tokens": 6}]))
    store.record_call(_call("b", usage=[{"input_tokens": 5, "output_tokens": 6}]))
    totals = {u.workspace: u for u in store.usage_totals()}
    assert (totals["a"].calls, totals["a"].input_tokens) == (1, 1)
    assert (totals["b"].calls, totals["b"].input_tokens, totals["b"].output_tokens) == (2, 10, 12)
    assert [u.workspace for u in store.usage_totals(workspace="b")] == ["b"]


def test_workspace_without_calls_has_zero_totals_and_no_latency(store: Store) -> None:
    store.create_key(workspace="idle")
    [totals] = store.usage_totals()
    assert (totals.workspace, totals.calls, totals.errors, totals.input_tokens) == ("idle", 0, 0, 0)
    assert totals.mean_latency_ms is None and totals.p50_latency_ms is None
    assert totals.by_endpoint == {}


def test_usage_totals_of_an_unknown_workspace_are_empty(store: Store) -> None:
    store.record_call(_call("a"))
    assert store.usage_totals(workspace="nope") == []


def test_recent_calls_come_newest_first(store: Store) -> None:
    ids = [store.record_call(_call(request={"n": n})) for n in range(5)]
    assert [c.id for c in store.recent_calls("default")] == ids[::-1]


def test_recent_calls_stop_at_the_limit(store: Store) -> None:
    ids = [store.record_call(_call()) for _ in range(5)]
    assert [c.id for c in store.recent_calls("default", limit=2)] == ids[:-3:-1]


def test_recent_calls_show_only_the_asked_workspace(store: Store) -> None:
    mine = store.record_call(_call("mine"))
    store.record_call(_call("theirs"))
    assert [c.id for c in store.recent_calls("mine")] == [mine]
    assert store.recent_calls("nobody") == []


def test_recent_calls_refuse_a_limit_out_of_range(store: Store) -> None:
    with pytest.raises(InvalidRequestError, match="limit"):
        store.recent_calls("default", limit=0)


def test_get_call_does_not_reach_into_another_workspace(store: Store) -> None:
    theirs = store.record_call(_call("theirs"))
    assert store.get_call("mine", theirs) is None
    assert store.get_call("theirs", theirs) is not None


def test_get_call_of_an_unknown_id_is_none(store: Store) -> None:
    assert store.get_call("default", "call_missing") is None


def test_stored_call_to_dict_is_json_ready(store: Store) -> None:
    import json

    call_id = store.record_call(_call())
    stored = store.get_call("default", call_id)
    assert stored is not None
    as_json = json.loads(json.dumps(stored.to_dict()))
    assert as_json["id"] == call_id
    assert as_json["created_at"] == stored.created_at.isoformat()
