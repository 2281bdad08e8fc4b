"""Group commit: the writes of concurrent callers committed together, each caller
returning only once its own write is committed.

Every tool call writes its record before its answer goes out. One transaction per
record costs each its own ``BEGIN``/``COMMIT`` and connection checkout (about two
thirds of a record's CPU on SQLite), and with many requests at once their
transactions queue for SQLite's single writer lock. ``GroupCommit`` lets the
callers take turns instead: the first caller to arrive leads, writes every item
waiting at that moment in one transaction, then wakes the callers whose items it
wrote; items that arrived meanwhile wait for the next leader, the first of them,
which the finishing leader wakes. No thread of its own, so a lone caller writes its
item at once, as it did before; under load a transaction carries several items.

Nothing is acknowledged before it is committed: ``commit`` returns (or raises) only
after the transaction holding its item has ended, so a crash loses exactly what it
lost before, calls that had not been answered yet. The writer function decides what
a failure means per item (``Store`` retries a failed batch one item at a time, so one
bad record does not take the others with it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

BatchWriter = Callable[[Sequence[T]], Sequence[BaseException | None]]
"""Writes items in as few transactions as it can; returns each item's error, or ``None``."""


class _Waiter(Generic[T]):
    """One caller's item, and how it learns that it was written or that it leads next."""

    __slots__ = ("error", "item", "wake", "written")

    def __init__(self, item: T) -> None:
        self.item = item
        self.wake = threading.Event()
        self.written = False
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Commits items through ``write``, batching those whose callers arrive together."""

    def __init__(self, write: BatchWriter[T]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._waiting: list[_Waiter[T]] = []
        self._leading = False

    @property
    def waiting(self) -> int:
        """How many items wait for the next transaction (the one being written excluded)."""
        with self._lock:
            return len(self._waiting)

    def commit(self, item: T) -> None:
        """Return once ``item`` is committed; raise its error if it could not be."""
        waiter = _Waiter(item)
        with self._lock:
            self._waiting.append(waiter)
            leads = not self._leading
            self._leading = True
        if not leads:
            waiter.wake.wait()
        if not waiter.written:  # leading: at once, or handed the lead by the last leader
            self._lead()
        if waiter.error is not None:
            raise waiter.error

    def _lead(self) -> None:
        """Write everything waiting, wake its callers, and hand the lead on (or give it up)."""
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            errors = list(self._write([w.item for w in batch]))
            if len(errors) != len(batch):
                raise RuntimeError(f"the writer answered {len(errors)} of {len(batch)} items")
        except BaseException as exc:  # the writer's own failure is every item's
            errors = [exc] * len(batch)
        with self._lock:
            successor = self._waiting[0] if self._waiting else None
            self._leading = successor is not None
        for waiter, error in zip(batch, errors, strict=True):
            waiter.error = error
            waiter.written = True
            waiter.wake.set()
        if successor is not None:
            successor.wake.set()
