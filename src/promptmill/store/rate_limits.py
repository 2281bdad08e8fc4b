"""The rate limit's sliding logs, kept in the database every server process shares.

``RateLimitRecords`` holds the store's rate-limit methods; ``Store`` inherits them. A
bucket (an API key, or a client address's failed key checks) may have ``limit`` hits in
any ``window`` seconds. Each accepted request is one row of ``rate_limit_hits``, so the
window is exact, as in the in-memory and Redis limiters (``api.rate_limit``), and the
wait until the next free slot is known to the second: the oldest hit's time plus the
window.

Why a log rather than a fixed-window counter: a counter per calendar minute lets a
client through twice over across a minute boundary, and the three storages should
mean the same thing by "N per minute". The cost is a few statements per request
in one short transaction.

Atomicity, across processes and machines: each acquisition runs in one write
transaction that starts with an upsert of the bucket's row (``INSERT ... ON CONFLICT
DO UPDATE``). In PostgreSQL the upsert locks that row until commit, so two servers
checking the same key take turns, while different keys never wait for each other; in
SQLite the store's write transactions are ``BEGIN IMMEDIATE``, which serializes every
writer anyway. Inside: drop the bucket's hits older than the window, count the rest,
and insert a hit only if there is room.

Times are epoch seconds from the caller's clock (``time.time`` in production): servers
on several machines should keep their clocks in sync (NTP), as they do for the call
records' timestamps.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from promptmill.store.evaluation import _insert
from promptmill.store.models import RateLimitBucket, RateLimitHit

MAX_BUCKET_LENGTH = 200
"""The ``bucket`` column's width; longer names (never made by promptmill) are refused."""


class RateLimitRecords:
    """The rate-limit half of ``Store``; see the module docstring for its guarantees."""

    if TYPE_CHECKING:

        def _reading(self) -> AbstractContextManager[Session]: ...
        def _writing(self) -> AbstractContextManager[Session]: ...

    def acquire_rate_slot(self, bucket: str, limit: int, window: float, now: float) -> float | None:
        """Count one hit for ``bucket`` if it has had fewer than ``limit`` in ``window``.

        Returns ``None`` when the hit was counted, else the seconds until a slot frees
        (the refused request is not counted).
        """
        _check_bucket(bucket)
        with self._writing() as session:
            touch = _insert(session, RateLimitBucket).values(bucket=bucket, touched_at=now)
            session.execute(
                touch.on_conflict_do_update(
                    index_elements=[RateLimitBucket.bucket], set_={"touched_at": now}
                )
            )
            session.execute(
                delete(RateLimitHit).where(
                    RateLimitHit.bucket == bucket, RateLimitHit.at <= now - window
                )
            )
            hits, oldest = session.execute(
                select(func.count(), func.min(RateLimitHit.at)).where(RateLimitHit.bucket == bucket)
            ).one()
            if hits < limit:
                session.execute(insert(RateLimitHit).values(bucket=bucket, at=now))
                return None
            return max(0.0, float(oldest) + window - now)

    def rate_slot_wait(self, bucket: str, limit: int, window: float, now: float) -> float | None:
        """Without counting: ``None`` if ``bucket`` has room, else the seconds until it has."""
        _check_bucket(bucket)
        with self._reading() as session:
            hits, oldest = session.execute(
                select(func.count(), func.min(RateLimitHit.at)).where(
                    RateLimitHit.bucket == bucket, RateLimitHit.at > now - window
                )
            ).one()
        if hits < limit:
            return None
        return max(0.0, float(oldest) + window - now)

    def purge_rate_limits(self, before: float) -> int:
        """Delete hits older than ``before`` and buckets idle since then; return the hits."""
        with self._writing() as session:
            removed = session.execute(delete(RateLimitHit).where(RateLimitHit.at <= before))
            session.execute(delete(RateLimitBucket).where(RateLimitBucket.touched_at <= before))
            return int(getattr(removed, "rowcount", 0) or 0)


def _check_bucket(bucket: str) -> None:
    if not bucket or len(bucket) > MAX_BUCKET_LENGTH:
        raise ValueError(f"a rate-limit bucket name has 1 to {MAX_BUCKET_LENGTH} characters")
