"""Rate limits that hold across every server process: per key, and failed key checks.

Two limits, each counted in a sliding 60-second window (exact: the times of the
accepted requests are kept, so ``retry-after`` is when the oldest one leaves it):

- ``PROMPTMILL_RATE_LIMIT_PER_MINUTE`` well-formed requests per API key. A refused
  request is not counted, and neither is one refused for its headers or body (the
  routes count a request only once it has passed those checks).
- ``PROMPTMILL_FAILED_KEY_CHECKS_PER_MINUTE`` failed key checks per client address.
  Beyond it, every key check from that address is answered 429 at once, before the key
  is looked up, until the window frees a slot: key guessing is bounded, and the
  guesses cost no database lookups. The address is the peer's, or the one a trusted
  proxy reports (uvicorn's ``FORWARDED_ALLOW_IPS``; see the README's production layout).

Where the windows live follows the deployment (``make_rate_limits``), so replicas share
them without extra setup:

- ``PROMPTMILL_REDIS_URL`` set: on that Redis server, through the ``limits`` library's
  moving window (one Lua script per check, atomic across clients);
- otherwise in the store's database (``store.rate_limits``): every process using the
  same SQLite file or PostgreSQL database shares them;
- an in-memory store, private to its process: ``limits``' in-memory storage.

If the windows cannot be read (Redis went away after start-up), requests are served
unlimited and each failed check is logged: a limit that cannot be counted fails open,
as Envoy's and most gateways' rate limits do by default, rather than turning every
request into an error while the service itself is fine.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import anyio.to_thread
from anyio import CapacityLimiter

from promptmill.errors import ConfigurationError, RateLimitError

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import MovingWindowRateLimiter

    from promptmill.config import Settings
    from promptmill.store import Store

WINDOW_SECONDS = 60
PURGE_EVERY = 1000
"""A database-backed process purges expired hits of every bucket once per this many checks."""
MAX_UNBLOCKED_ADDRESSES = 10_000
"""Addresses remembered as under their failed-check limit; past it the memory starts afresh."""

logger = logging.getLogger("promptmill.api")


class SlidingWindows(Protocol):
    """Per-bucket sliding windows of ``window`` seconds, wherever they are kept."""

    window: int
    blocking: bool
    """True when a check does I/O (database, network) and belongs in a worker thread."""

    def acquire(self, bucket: str, limit: int) -> float | None:
        """Count one hit if the bucket has room: ``None``; else seconds until it has."""

    def wait(self, bucket: str, limit: int) -> float | None:
        """Like ``acquire`` without counting."""


class LimitsWindows:
    """Windows kept by the ``limits`` library: ``memory://`` or ``redis://...``."""

    def __init__(self, storage_uri: str, *, window: int = WINDOW_SECONDS) -> None:
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        self.window = window
        self.blocking = not storage_uri.startswith("memory://")
        self.storage = storage_from_string(storage_uri)
        self._limiter: MovingWindowRateLimiter = MovingWindowRateLimiter(self.storage)

    def _item(self, limit: int) -> RateLimitItem:
        from limits import RateLimitItemPerSecond

        return RateLimitItemPerSecond(limit, self.window)

    def acquire(self, bucket: str, limit: int) -> float | None:
        item = self._item(limit)
        if self._limiter.hit(item, bucket):
            return None
        return self._until_reset(item, bucket)

    def wait(self, bucket: str, limit: int) -> float | None:
        item = self._item(limit)
        if self._limiter.test(item, bucket):
            return None
        return self._until_reset(item, bucket)

    def _until_reset(self, item: RateLimitItem, bucket: str) -> float:
        stats = self._limiter.get_window_stats(item, bucket)
        return max(0.0, stats.reset_time - time.time())


class DatabaseWindows:
    """Windows kept in the store's database, shared by every process that opens it."""

    blocking = True

    def __init__(
        self,
        store: Store,
        *,
        window: int = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.window = window
        self._clock = clock
        self._checks = itertools.count(1)

    def acquire(self, bucket: str, limit: int) -> float | None:
        now = self._clock()
        if next(self._checks) % PURGE_EVERY == 0:
            self.store.purge_rate_limits(now - self.window)
        return self.store.acquire_rate_slot(bucket, limit, self.window, now)

    def wait(self, bucket: str, limit: int) -> float | None:
        return self.store.rate_slot_wait(bucket, limit, self.window, self._clock())


def _retry_after(seconds: float) -> int:
    return max(1, math.ceil(seconds))


@dataclass
class RateLimits:
    """The two limits of one app; 0 turns a limit off (and then it costs nothing).

    ``recheck_after`` (``PROMPTMILL_KEY_CACHE_SECONDS``): an address found under its
    failed-check limit is not looked up again for that many seconds, unless this
    process counts a failed check of it meanwhile. Failed checks are still counted,
    each one, where the windows live, and the one over the limit is still refused; what
    it gives up is that failures counted by *other* processes block the address here
    only once those seconds have passed.
    """

    windows: SlidingWindows
    per_key: int
    failed_checks_per_address: int
    # The store's thread pool, so that limit checks never wait behind model calls.
    threads: CapacityLimiter | None = None
    recheck_after: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _unblocked: dict[str, float] = field(default_factory=dict)
    _failures_counted: int = 0

    async def _run(self, check: Callable[[], float | None]) -> float | None:
        """The seconds to wait that ``check`` finds, or None: under the limit, or the
        windows could not be read (fail open, logged)."""
        return (await self._read(check))[0]

    async def _read(self, check: Callable[[], float | None]) -> tuple[float | None, bool]:
        """``check``'s seconds to wait, and whether the windows could be read at all."""
        try:
            if self.windows.blocking:
                return await anyio.to_thread.run_sync(check, limiter=self.threads), True
            return check(), True
        except Exception as exc:
            logger.warning("rate limit not applied: its windows could not be read (%s)", exc)
            return None, False

    async def count_request(self, key_id: str) -> None:
        """Count one well-formed request of the key, or raise ``RateLimitError``."""
        if self.per_key <= 0:
            return
        wait = await self._run(lambda: self.windows.acquire(f"key:{key_id}", self.per_key))
        if wait is not None:
            seconds = _retry_after(wait)
            raise RateLimitError(
                f"rate limit of {self.per_key} requests per minute exceeded for this key; "
                f"retry after {seconds} seconds",
                retry_after=seconds,
            )

    async def refuse_blocked_address(self, address: str) -> None:
        """Raise ``RateLimitError`` if ``address`` has used up its failed key checks."""
        if self.failed_checks_per_address <= 0:
            return
        checked_at = self._unblocked.get(address)
        if checked_at is not None and self.clock() - checked_at <= self.recheck_after:
            return
        limit = self.failed_checks_per_address
        failures_before = self._failures_counted
        wait, read = await self._read(lambda: self.windows.wait(f"auth:{address}", limit))
        if wait is not None:
            raise self._too_many_failures(wait)
        if not read:
            return  # not known to be under its limit: nothing to remember
        # A failure counted while the window was read may not be in what it said.
        if (
            self.recheck_after > 0
            and self.windows.blocking
            and (failures_before == self._failures_counted)
        ):
            if len(self._unblocked) >= MAX_UNBLOCKED_ADDRESSES:
                self._unblocked.clear()
            self._unblocked[address] = self.clock()

    async def count_failed_check(self, address: str) -> None:
        """Count a failed key check of ``address``; raise if it was one too many."""
        if self.failed_checks_per_address <= 0:
            return
        self._failures_counted += 1
        self._unblocked.pop(address, None)
        limit = self.failed_checks_per_address
        wait = await self._run(lambda: self.windows.acquire(f"auth:{address}", limit))
        if wait is not None:
            raise self._too_many_failures(wait)

    def _too_many_failures(self, wait: float) -> RateLimitError:
        seconds = _retry_after(wait)
        return RateLimitError(
            f"too many failed key checks from this address (more than "
            f"{self.failed_checks_per_address} per minute); retry after {seconds} seconds",
            retry_after=seconds,
        )


def make_rate_limits(
    settings: Settings, store: Store, threads: CapacityLimiter | None = None
) -> RateLimits:
    """The limits of ``settings``, kept where the deployment shares them (module docstring).

    A Redis URL that cannot be used (no ``redis`` package, server unreachable) raises
    ``ConfigurationError`` naming ``PROMPTMILL_REDIS_URL``, at start-up.
    """
    windows: SlidingWindows
    if settings.redis_url:
        windows = _redis_windows(settings.redis_url)
    elif store.in_memory:
        windows = LimitsWindows("memory://")
    else:
        windows = DatabaseWindows(store)
    return RateLimits(
        windows,
        per_key=settings.rate_limit_per_minute,
        failed_checks_per_address=settings.failed_key_checks_per_minute,
        threads=threads,
        recheck_after=settings.key_cache_seconds,
    )


def _redis_windows(url: str) -> LimitsWindows:
    from limits.errors import ConfigurationError as LimitsConfigurationError

    setting = "PROMPTMILL_REDIS_URL"
    try:
        windows = LimitsWindows(url)
    except LimitsConfigurationError as exc:
        raise ConfigurationError(
            f"{setting}: cannot use it for the rate limit ({exc}); pip install 'promptmill[redis]'",
            setting=setting,
        ) from None
    except ValueError as exc:
        raise ConfigurationError(f"{setting}: {exc}", setting=setting) from None
    if not windows.storage.check():
        raise ConfigurationError(
            f"{setting}: no Redis server answers at this URL (the rate limit and the "
            "evaluation queue need it)",
            setting=setting,
        )
    return windows
