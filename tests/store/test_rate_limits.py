"""The shared rate limit's sliding logs, on SQLite and PostgreSQL.

Times are given explicitly (epoch seconds), so the window is tested without sleeping.
The concurrency tests open two ``Store`` objects on one database, as two server
processes would, and hammer one bucket from many threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from promptmill.store import Store
from promptmill.store.models import RateLimitBucket, RateLimitHit

WINDOW = 60.0
T0 = 1_800_000_000.0


def test_a_bucket_accepts_limit_hits_then_says_when_the_oldest_leaves(store: Store) -> None:
    assert store.acquire_rate_slot("key:a", 2, WINDOW, T0) is None
    assert store.acquire_rate_slot("key:a", 2, WINDOW, T0 + 10) is None

    assert store.acquire_rate_slot("key:a", 2, WINDOW, T0 + 15) == pytest.approx(45.0)


def test_the_window_slides_one_slot_free_as_the_oldest_hit_expires(store: Store) -> None:
    store.acquire_rate_slot("key:a", 2, WINDOW, T0)
    store.acquire_rate_slot("key:a", 2, WINDOW, T0 + 30)

    assert store.acquire_rate_slot("key:a", 2, WINDOW, T0 + 60) is None
    assert store.acquire_rate_slot("key:a", 2, WINDOW, T0 + 61) == pytest.approx(29.0)


def test_refused_hits_are_not_counted(store: Store) -> None:
    store.acquire_rate_slot("key:a", 1, WINDOW, T0)
    for second in range(1, 50):
        assert store.acquire_rate_slot("key:a", 1, WINDOW, T0 + second) is not None

    assert store.acquire_rate_slot("key:a", 1, WINDOW, T0 + WINDOW) is None


def test_buckets_are_independent(store: Store) -> None:
    store.acquire_rate_slot("key:a", 1, WINDOW, T0)

    assert store.acquire_rate_slot("key:b", 1, WINDOW, T0) is None
    assert store.acquire_rate_slot("key:a", 1, WINDOW, T0) is not None


def test_waiting_time_is_read_without_counting(store: Store) -> None:
    assert store.rate_slot_wait("auth:10.0.0.1", 1, WINDOW, T0) is None
    assert store.rate_slot_wait("auth:10.0.0.1", 1, WINDOW, T0) is None
    store.acquire_rate_slot("auth:10.0.0.1", 1, WINDOW, T0)

    assert store.rate_slot_wait("auth:10.0.0.1", 1, WINDOW, T0 + 20) == pytest.approx(40.0)
    assert store.rate_slot_wait("auth:10.0.0.1", 1, WINDOW, T0 + WINDOW) is None


def test_purge_removes_expired_hits_and_idle_buckets(store: Store) -> None:
    store.acquire_rate_slot("key:old", 5, WINDOW, T0)
    store.acquire_rate_slot("key:new", 5, WINDOW, T0 + 100)

    assert store.purge_rate_limits(before=T0 + 100 - WINDOW) == 1

    with store.engine.connect() as connection:
        buckets = connection.scalars(select(RateLimitBucket.bucket)).all()
        hits = connection.scalar(select(func.count()).select_from(RateLimitHit))
    assert (buckets, hits) == (["key:new"], 1)


def test_two_stores_on_one_database_never_admit_more_than_the_limit(database_url: str) -> None:
    limit, attempts = 25, 120
    with Store.open(database_url) as first, Store.open(database_url) as second:
        stores = [first, second]

        def attempt(number: int) -> bool:
            store = stores[number % 2]
            return store.acquire_rate_slot("key:shared", limit, WINDOW, T0 + number / 1000) is None

        with ThreadPoolExecutor(max_workers=12) as pool:
            admitted = sum(pool.map(attempt, range(attempts)))

    assert admitted == limit
