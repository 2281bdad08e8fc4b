"""One Store shared by many worker threads, as the HTTP server uses it."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from promptmill.store import CallRecord, Store

THREADS = 8
CALLS_PER_THREAD = 15


def test_concurrent_record_call_from_threads_loses_nothing(store: Store) -> None:
    key, _ = store.create_key(workspace="busy")

    def record(thread: int) -> list[str]:
        return [
            store.record_call(
                CallRecord(
                    key_id=key.id,
                    workspace="busy",
                    endpoint="generate_prompt",
                    usage=[{"input_tokens": thread, "output_tokens": 1}],
                    latency_ms=float(n),
                    request={"thread": thread, "n": n},
                )
            )
            for n in range(CALLS_PER_THREAD)
        ]

    with ThreadPoolExecutor(THREADS) as pool:
        ids = [call_id for batch in pool.map(record, range(THREADS)) for call_id in batch]

    assert len(set(ids)) == THREADS * CALLS_PER_THREAD
    [totals] = store.usage_totals("busy")
    assert totals.calls == THREADS * CALLS_PER_THREAD
    assert totals.input_tokens == CALLS_PER_THREAD * sum(range(THREADS))
    assert totals.output_tokens == THREADS * CALLS_PER_THREAD
    assert len(store.recent_calls("busy", limit=1000)) == THREADS * CALLS_PER_THREAD


def test_each_record_is_readable_as_soon_as_its_record_call_returns(store: Store) -> None:
    """Records written together (group commit) are all committed before any caller returns."""

    def record_and_read(n: int) -> bool:
        call_id = store.record_call(
            CallRecord(key_id=None, workspace="busy", endpoint="generate_prompt", request={"n": n})
        )
        return store.get_call("busy", call_id) is not None

    with ThreadPoolExecutor(THREADS) as pool:
        assert all(pool.map(record_and_read, range(THREADS * CALLS_PER_THREAD)))


def test_a_bad_record_written_with_good_ones_fails_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch: a record whose id is taken, and a fresh one. Only the first fails."""
    store.record_call(CallRecord(key_id=None, workspace="w", endpoint="e", id="taken"))
    gate, entered = threading.Event(), threading.Event()
    insert = store._insert_calls

    def held_once(calls: Sequence[Any]) -> None:
        if not entered.is_set():
            entered.set()
            gate.wait(timeout=10)
        insert(calls)

    monkeypatch.setattr(store, "_insert_calls", held_once)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(store.record_call, CallRecord(key_id=None, workspace="w", endpoint="e"))
        entered.wait(timeout=10)
        taken = pool.submit(
            store.record_call, CallRecord(key_id=None, workspace="w", endpoint="e", id="taken")
        )
        fresh = pool.submit(
            store.record_call, CallRecord(key_id=None, workspace="w", endpoint="e", id="fresh")
        )
        deadline = time.monotonic() + 10
        while store._call_commits.waiting < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        gate.set()
        assert first.result(timeout=10)
        assert fresh.result(timeout=10) == "fresh"
        with pytest.raises(IntegrityError):
            taken.result(timeout=10)

    assert store.get_call("w", "fresh") is not None
    assert store.usage_totals("w")[0].calls == 3


def test_concurrent_first_keys_of_a_new_workspace_create_it_once(store: Store) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        created = list(pool.map(lambda _: store.create_key(workspace="new"), range(THREADS)))
    assert len({info.id for info, _ in created}) == THREADS
    assert all(store.authenticate(secret) is not None for _, secret in created)
    assert [u.workspace for u in store.usage_totals()] == ["new"]


def test_authentication_and_recording_interleave_across_threads(store: Store) -> None:
    info, secret = store.create_key(workspace="mixed")

    def work(n: int) -> bool:
        authenticated = store.authenticate(secret)
        store.record_call(CallRecord(key_id=info.id, workspace="mixed", endpoint="improve_prompt"))
        return bool(authenticated == info)

    with ThreadPoolExecutor(THREADS) as pool:
        assert all(pool.map(work, range(THREADS * 4)))
    assert store.usage_totals("mixed")[0].calls == THREADS * 4


def test_in_memory_store_serves_many_threads_at_once() -> None:
    with Store.open("sqlite://") as store:
        info, secret = store.create_key(workspace="mem")

        def work(n: int) -> bool:
            store.record_call(CallRecord(key_id=info.id, workspace="mem", endpoint="x"))
            return bool(store.authenticate(secret) == info)

        with ThreadPoolExecutor(THREADS) as pool:
            assert all(pool.map(work, range(THREADS * CALLS_PER_THREAD)))
        assert store.usage_totals("mem")[0].calls == THREADS * CALLS_PER_THREAD
