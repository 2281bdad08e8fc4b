"""A per-key sliding-window rate limit, kept in memory.

Each key may make ``limit`` requests in any 60-second window. The window is exact
(timestamps of the accepted requests), so ``retry-after`` tells a client precisely when
its oldest request leaves the window. One lock guards the table: the limiter is called
from the event loop and may be called from worker threads, and the critical section is
a few list operations. State is per process, which is what a single promptmill server
needs; it is not shared between replicas.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from promptmill.errors import RateLimitError

WINDOW_SECONDS = 60.0


class SlidingWindowRateLimiter:
    def __init__(self, limit: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        """``limit`` requests per minute per key; 0 turns the limiter off."""
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._accepted: dict[str, deque[float]] = {}

    def check(self, key_id: str) -> None:
        """Count one request for ``key_id`` or raise ``RateLimitError`` with ``retry_after``."""
        if self.limit <= 0:
            return
        now = self._clock()
        with self._lock:
            window = self._accepted.setdefault(key_id, deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= self.limit:
                retry_after = max(1, math.ceil(window[0] + WINDOW_SECONDS - now))
                raise RateLimitError(
                    f"rate limit of {self.limit} requests per minute exceeded for this key; "
                    f"retry after {retry_after} seconds",
                    retry_after=retry_after,
                )
            window.append(now)
