"""What the routes of one app share: the engine, the store, the rate limiter, capacity, jobs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from promptmill.api.capacity import Capacity
from promptmill.api.rate_limit import SlidingWindowRateLimiter

if TYPE_CHECKING:
    from promptmill.engine import PromptEngine
    from promptmill.store import Store


@dataclass
class AppState:
    """What the routes share; ``engine`` and ``store`` are filled in by the lifespan."""

    rate_limiter: SlidingWindowRateLimiter
    engine: PromptEngine | None = None
    store: Store | None = None
    capacity: Capacity = field(default_factory=Capacity)
    # Record request/response bodies up to this many bytes each; None: sizes only.
    store_bodies_up_to: int | None = None
    # Streaming jobs keep running (and get recorded) even if their client goes away.
    background: set[asyncio.Task[None]] = field(default_factory=set)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.promptmill
    return state
