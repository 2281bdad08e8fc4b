"""What the server may run at once, and where: worker threads, model calls, request bytes.

Blocking work runs in worker threads, in two separate pools, so a slow backend can
never starve the rest:

- the **store pool** (``run_store``): key checks, failed calls' records, history
  reads (a successful tool call is recorded by its model-pool thread once the backend
  has answered). A hung backend does not touch it, so a 401, a 400 or a history read
  stays fast while every model call is stuck;
- the **model pool** (``ModelCalls``): one thread per admitted tool call, at most
  ``PROMPTMILL_MAX_INFLIGHT_MODEL_CALLS``. The call after that is not queued until its
  deadline: it is answered at once with 529 ``overloaded_error`` and ``retry-after``.

``BodyBudget`` caps the request bytes all requests hold at once (see
``request_limits``). The counters here are touched only from the event loop, so they
need no lock.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

from promptmill.errors import OverloadedError

if TYPE_CHECKING:
    from promptmill.config import Settings

T = TypeVar("T")

STORE_THREADS = 16
"""Worker threads for store work; more than SQLAlchemy's default pool (5 + 10 overflow)."""

DEFAULT_MAX_INFLIGHT_MODEL_CALLS = 32
OVERLOADED_RETRY_AFTER = 1.0
"""Seconds a caller refused for lack of capacity is told to wait: slots free up quickly."""


class ModelCalls:
    """Admission for tool calls: at most ``limit`` in flight, each with its own thread."""

    def __init__(self, limit: int = DEFAULT_MAX_INFLIGHT_MODEL_CALLS) -> None:
        self.limit = limit
        self.in_flight = 0
        # Admission keeps the calls to ``limit``, so a thread is always free for one.
        self.threads = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="promptmill-model")

    def admit(self) -> None:
        """Take a slot, or raise ``OverloadedError`` (529, ``retry-after``) when all are taken."""
        if self.in_flight >= self.limit:
            raise OverloadedError(
                f"the server is at its limit of {self.limit} model calls in flight; retry "
                "shortly (PROMPTMILL_MAX_INFLIGHT_MODEL_CALLS sets the limit)",
                retry_after=OVERLOADED_RETRY_AFTER,
            )
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1

    async def run(self, function: Callable[[], T]) -> T:
        """Run an admitted call's blocking ``function`` in the model pool.

        Through asyncio's ``run_in_executor`` rather than ``anyio.to_thread.run_sync``,
        whose bookkeeping per call (a cancel scope, task lookups, a limiter) was 7% of
        the event loop's time at 16 clients (py-spy, bench/overhead), and the event loop
        is what bounds one process's throughput. What anyio gave is kept: the caller's
        context variables reach the thread, and a caller cancelled meanwhile (a
        shutdown) waits for its thread to finish before it is cancelled, so the slot
        its caller releases is really free.
        """
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self.threads, contextvars.copy_context().run, function)
        cancelled = False
        while True:
            try:
                result = await asyncio.shield(call)
            except asyncio.CancelledError:
                if call.done():
                    raise
                cancelled = True
            else:
                break
        if cancelled:
            raise asyncio.CancelledError
        return result


class BodyBudget:
    """The request bytes held across all requests at once; a request that does not fit waits not.

    ``reserve`` either takes ``size`` bytes or raises ``OverloadedError``. A single
    request may always take the whole budget, so a body within the size limit can
    always be served when the server is otherwise idle.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def reserve(self, size: int) -> None:
        if self.held and self.held + size > self.limit:
            raise OverloadedError(
                "the server is holding as many request bytes as it may at once; retry shortly",
                retry_after=OVERLOADED_RETRY_AFTER,
            )
        self.held += size

    def release(self, size: int) -> None:
        self.held -= size


@dataclass
class Capacity:
    """The pools and budgets of one app."""

    model_calls: ModelCalls = field(default_factory=ModelCalls)
    store_threads: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(STORE_THREADS))
    bodies: BodyBudget = field(default_factory=lambda: BodyBudget(32 * 1024 * 1024))

    @classmethod
    def from_settings(cls, settings: Settings) -> Capacity:
        return cls(
            model_calls=ModelCalls(settings.max_inflight_model_calls),
            bodies=BodyBudget(settings.resolved_body_memory_bytes),
        )


async def run_store(capacity: Capacity, function: Callable[[], T]) -> T:
    """Run blocking store work in the store pool, never behind model calls."""
    return await anyio.to_thread.run_sync(function, limiter=capacity.store_threads)
