"""What a tool call costs the server beyond its model call, and what may not be skipped.

A key verified within ``PROMPTMILL_KEY_CACHE_SECONDS`` is not looked up again, but a key
revoked through this process fails on its very next request; an address found under its
failed-check limit is not re-read for as long, unless a failure is counted here; a
successful call is recorded before its answer goes out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from promptmill.api.rate_limit import DatabaseWindows, RateLimits
from promptmill.errors import RateLimitError
from promptmill.protocol import TEMPLATIZE_PATH
from promptmill.store import Store
from tests.conftest import RunningServer

BODY = {"messages": [{"role": "user", "content": "Translate hello to German"}]}


def _call(server: RunningServer) -> httpx.Response:
    return httpx.post(
        server.base_url + TEMPLATIZE_PATH, headers=server.headers(), json=BODY, timeout=30
    )


@pytest.fixture
def key_lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every database key lookup any ``Store`` of this process makes, by secret."""
    lookups: list[str] = []
    authenticate = Store.authenticate

    def counting(self: Store, secret: str) -> object:
        lookups.append(secret)
        return authenticate(self, secret)

    monkeypatch.setattr(Store, "authenticate", counting)
    yield lookups


def test_a_key_used_again_within_the_cache_seconds_is_not_looked_up_again(
    promptmill_server_factory: Callable[..., RunningServer], key_lookups: list[str]
) -> None:
    server = promptmill_server_factory(key_cache_seconds=60)
    assert [_call(server).status_code for _ in range(3)] == [200, 200, 200]
    assert key_lookups.count(server.api_key) == 1


def test_with_no_key_cache_every_request_looks_its_key_up(
    promptmill_server_factory: Callable[..., RunningServer], key_lookups: list[str]
) -> None:
    server = promptmill_server_factory(key_cache_seconds=0)
    assert [_call(server).status_code for _ in range(3)] == [200, 200, 200]
    assert key_lookups.count(server.api_key) == 3


def test_a_cached_key_revoked_through_this_process_fails_on_the_next_request(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(key_cache_seconds=60)
    assert [_call(server).status_code for _ in range(2)] == [200, 200]  # cached by now

    server.store.revoke_key(server.key_id)  # another Store, same process and database

    refused = _call(server)
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"


def test_a_successful_call_is_recorded_before_its_answer_arrives(
    promptmill_server: RunningServer,
) -> None:
    answer = _call(promptmill_server)
    assert answer.status_code == 200
    [record] = promptmill_server.store.recent_calls("default")  # no waiting
    assert (record.id, record.status) == (answer.headers["request-id"], 200)


# --- the failed-check limit's memory of addresses under it ----------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _limits(store: Store, clock: _Clock, *, recheck_after: float) -> RateLimits:
    return RateLimits(
        DatabaseWindows(store),
        per_key=0,
        failed_checks_per_address=1,
        recheck_after=recheck_after,
        clock=clock,
    )


def _fail_elsewhere(store: Store, address: str) -> None:
    """A failed key check counted by another server process on the same database."""
    store.acquire_rate_slot(f"auth:{address}", 1, 60, time.time())


def test_an_address_under_its_limit_is_read_again_only_after_recheck_after(
    tmp_path: Path,
) -> None:
    clock = _Clock()
    with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as store:
        limits = _limits(store, clock, recheck_after=5.0)
        asyncio.run(limits.refuse_blocked_address("10.0.0.1"))
        _fail_elsewhere(store, "10.0.0.1")

        clock.now = 5.0
        asyncio.run(limits.refuse_blocked_address("10.0.0.1"))  # remembered as under it
        clock.now = 5.1
        with pytest.raises(RateLimitError):
            asyncio.run(limits.refuse_blocked_address("10.0.0.1"))


def test_a_failed_check_counted_here_makes_the_next_check_read_the_window(
    tmp_path: Path,
) -> None:
    clock = _Clock()
    with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as store:
        limits = _limits(store, clock, recheck_after=60.0)
        asyncio.run(limits.refuse_blocked_address("10.0.0.1"))
        asyncio.run(limits.count_failed_check("10.0.0.1"))  # the one allowed failure

        with pytest.raises(RateLimitError):
            asyncio.run(limits.refuse_blocked_address("10.0.0.1"))


def test_with_recheck_after_zero_every_check_reads_the_window(tmp_path: Path) -> None:
    clock = _Clock()
    with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as store:
        limits = _limits(store, clock, recheck_after=0.0)
        asyncio.run(limits.refuse_blocked_address("10.0.0.1"))
        _fail_elsewhere(store, "10.0.0.1")
        with pytest.raises(RateLimitError):
            asyncio.run(limits.refuse_blocked_address("10.0.0.1"))
