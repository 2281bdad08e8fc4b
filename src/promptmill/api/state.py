"""What the routes of one app share: the engine, the store, the rate limits, capacity, jobs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from promptmill.api.capacity import Capacity
from promptmill.errors import APIError

if TYPE_CHECKING:
    from promptmill.api.rate_limit import RateLimits
    from promptmill.engine import PromptEngine
    from promptmill.store import Store


@dataclass
class AppState:
    """What the routes share; ``engine``, ``store`` and the rate limits are filled in by
    the lifespan."""

    engine: PromptEngine | None = None
    store: Store | None = None
    capacity: Capacity = field(default_factory=Capacity)
    # Record request/response bodies up to this many bytes each; None: sizes only.
    store_bodies_up_to: int | None = None
    # How long a verified key (and an address under its failed-check limit) is trusted
    # without a database read; 0: never (``PROMPTMILL_KEY_CACHE_SECONDS``).
    key_cache_seconds: float = 0.0
    rate_limits: RateLimits | None = None
    # Streaming jobs keep running (and get recorded) even if their client goes away.
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def limits(self) -> RateLimits:
        """The rate limits, once the lifespan has made them (they need the store)."""
        if self.rate_limits is None:
            raise APIError("the rate limit is not ready")
        return self.rate_limits


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.promptmill
    return state
