"""Group commit: concurrent writes share a transaction, and none is acknowledged early."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from promptmill.store.group_commit import GroupCommit


class Writer:
    """A batch writer that logs each batch, may hold it at a gate, and fails chosen items."""

    def __init__(self, *, failing: frozenset[str] = frozenset()) -> None:
        self.batches: list[list[str]] = []
        self.committed: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.failing = failing
        self._lock = threading.Lock()

    def __call__(self, items: Sequence[str]) -> list[BaseException | None]:
        self.entered.set()
        self.gate.wait(timeout=10)
        errors: list[BaseException | None] = [
            ValueError(f"bad item {item}") if item in self.failing else None for item in items
        ]
        with self._lock:
            self.batches.append(list(items))
            self.committed.update(i for i, e in zip(items, errors, strict=True) if e is None)
        return errors


def _in_thread(function: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            function()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition not reached within 10 s"
        time.sleep(0.001)


def test_a_lone_item_is_written_at_once_in_a_batch_of_its_own() -> None:
    writer = Writer()
    GroupCommit(writer).commit("a")

    assert writer.batches == [["a"]]


def test_items_that_arrive_during_a_write_share_the_next_transaction() -> None:
    writer = Writer()
    commits = GroupCommit(writer)
    writer.gate.clear()
    first, _ = _in_thread(lambda: commits.commit("first"))
    writer.entered.wait(timeout=10)
    others = [_in_thread(lambda item=item: commits.commit(item))[0] for item in "bcd"]
    _until(lambda: commits.waiting == 3)
    writer.gate.set()
    for thread in [first, *others]:
        thread.join(timeout=10)

    assert writer.batches[0] == ["first"]
    assert sorted(writer.batches[1]) == ["b", "c", "d"]
    assert len(writer.batches) == 2


def test_commit_returns_only_once_its_item_is_committed() -> None:
    writer = Writer()
    commits = GroupCommit(writer)
    early: list[str] = []

    def commit_and_check(item: str) -> None:
        commits.commit(item)
        if item not in writer.committed:
            early.append(item)

    threads = [_in_thread(lambda i=i: commit_and_check(f"item-{i}"))[0] for i in range(200)]
    for thread in threads:
        thread.join(timeout=30)

    assert early == []
    assert len(writer.committed) == 200
    assert sum(len(batch) for batch in writer.batches) == 200


def test_an_items_error_is_raised_to_its_own_caller_alone() -> None:
    writer = Writer(failing=frozenset({"bad"}))
    commits = GroupCommit(writer)
    writer.gate.clear()
    first, first_errors = _in_thread(lambda: commits.commit("first"))
    writer.entered.wait(timeout=10)
    bad, bad_errors = _in_thread(lambda: commits.commit("bad"))
    good, good_errors = _in_thread(lambda: commits.commit("good"))
    _until(lambda: commits.waiting == 2)
    writer.gate.set()
    for thread in (first, bad, good):
        thread.join(timeout=10)

    assert [str(e) for e in bad_errors] == ["bad item bad"]
    assert first_errors == good_errors == []
    assert writer.committed == {"first", "good"}


def test_a_writer_that_raises_fails_its_batch_and_the_next_caller_still_writes() -> None:
    calls = []

    def broken_once(items: Sequence[str]) -> list[BaseException | None]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return [None] * len(items)

    commits = GroupCommit(broken_once)
    with pytest.raises(RuntimeError, match="went away"):
        commits.commit("a")
    commits.commit("b")

    assert calls == [["a"], ["b"]]
