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

from collections.abc import Callable
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
        self.threads = CapacityLimiter(limit)

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
        """Run an admitted call's blocking ``function`` in the model pool."""
        return await anyio.to_thread.run_sync(function, limiter=self.threads)


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
