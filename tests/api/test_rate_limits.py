"""The rate limits over HTTP, and where their windows live.

Over HTTP (a real server on a SQLite file, so the windows are in the database): only
well-formed requests count against a key's quota, a malformed body is reported before
an exhausted quota, and failed key checks are throttled per client address. Below
that, ``make_rate_limits`` picks Redis, the database or memory, and two limiters on
one Redis server share their windows (a real ``redis-server`` from Debian's package;
skipped with the reason when it is not installed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from promptmill.api.rate_limit import DatabaseWindows, LimitsWindows, make_rate_limits
from promptmill.config import Settings
from promptmill.errors import ConfigurationError
from promptmill.protocol import TEMPLATIZE_PATH
from promptmill.store import Store
from tests.conftest import RunningServer, free_port, redis_server

BODY = {"messages": [{"role": "user", "content": "Translate hello to German"}]}
MALFORMED = [
    b"{not json",
    b"[]",
    b'{"messages": []}',
    b'{"messages": [{"role": "assistant", "content": "first"}]}',
]


def _post(server: RunningServer, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        server.base_url + TEMPLATIZE_PATH,
        headers={**server.headers(**headers), "content-type": "application/json"},
        content=content,
        timeout=30,
    )


def _good(server: RunningServer, **headers: str) -> httpx.Response:
    return httpx.post(
        server.base_url + TEMPLATIZE_PATH, headers=server.headers(**headers), json=BODY, timeout=30
    )


# --- over HTTP ----------------------------------------------------------------------


def test_malformed_bodies_do_not_use_up_the_quota(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(rate_limit_per_minute=1)
    assert [_post(server, body).status_code for body in MALFORMED] == [400] * len(MALFORMED)

    assert _good(server).status_code == 200
    assert _good(server).status_code == 429


def test_a_malformed_body_is_reported_before_an_exhausted_quota(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(rate_limit_per_minute=1)
    assert _good(server).status_code == 200

    response = _post(server, b"{not json")

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_evaluation_bodies_count_only_when_well_formed(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(rate_limit_per_minute=1)
    url = server.base_url + "/v1/promptmill/prompts"
    with httpx.Client(headers=server.headers(), timeout=30) as http:
        assert http.post(url, json={"name": "chef"}).status_code == 400
        assert http.post(url, json={"name": "chef", **BODY}).status_code == 201
        assert http.post(url, json={"name": "chef", **BODY}).status_code == 429


def test_failed_key_checks_are_throttled_per_address_with_retry_after(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(failed_key_checks_per_minute=3)
    guesses = [_good(server, **{"x-api-key": f"sk-pm-guess-{n}"}) for n in range(4)]

    assert [r.status_code for r in guesses] == [401, 401, 401, 429]
    throttled = guesses[-1]
    assert throttled.json()["error"]["type"] == "rate_limit_error"
    assert "failed key checks" in throttled.json()["error"]["message"]
    assert 55 <= int(throttled.headers["retry-after"]) <= 60


def test_an_address_over_its_failed_checks_is_refused_before_its_key_is_looked_up(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(failed_key_checks_per_minute=2)
    for n in range(3):
        _good(server, **{"x-api-key": f"sk-pm-guess-{n}"})

    assert _good(server).status_code == 429  # even the right key, from this address


def test_valid_keys_never_count_as_failed_checks(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(failed_key_checks_per_minute=1)
    assert [_good(server).status_code for _ in range(3)] == [200, 200, 200]
    assert _good(server, **{"x-api-key": "sk-pm-wrong"}).status_code == 401


def test_a_missing_key_is_a_401_and_no_failed_check(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(failed_key_checks_per_minute=1)
    no_key = {k: v for k, v in server.headers().items() if k != "x-api-key"}
    for _ in range(3):
        assert (
            httpx.post(server.base_url + TEMPLATIZE_PATH, headers=no_key, json=BODY).status_code
            == 401
        )
    assert _good(server).status_code == 200


# --- where the windows live -------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(home=tmp_path, rate_limit_per_minute=5, **values)  # type: ignore[arg-type]


def test_a_database_store_keeps_the_windows_in_its_database(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as store:
        limits = make_rate_limits(_settings(tmp_path), store)
    assert isinstance(limits.windows, DatabaseWindows)
    assert (limits.per_key, limits.failed_checks_per_address) == (5, 30)


def test_an_in_memory_store_keeps_the_windows_in_memory(tmp_path: Path) -> None:
    with Store.open("sqlite://") as store:
        limits = make_rate_limits(_settings(tmp_path), store)
    assert isinstance(limits.windows, LimitsWindows)
    assert not limits.windows.blocking


def test_an_unreachable_redis_fails_at_start_up_naming_the_setting(tmp_path: Path) -> None:
    settings = _settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with Store.open("sqlite://") as store, pytest.raises(ConfigurationError) as caught:
        make_rate_limits(settings, store)
    assert caught.value.setting == "PROMPTMILL_REDIS_URL"


def test_in_memory_windows_refuse_over_the_limit_with_the_wait() -> None:
    windows = LimitsWindows("memory://")
    assert [windows.acquire("key:a", 2) for _ in range(2)] == [None, None]

    wait = windows.acquire("key:a", 2)

    assert wait is not None and 58 < wait <= 60
    assert windows.acquire("key:b", 2) is None


def test_in_memory_windows_slide(tmp_path: Path) -> None:
    windows = LimitsWindows("memory://", window=1)
    assert windows.acquire("key:a", 1) is None
    assert windows.acquire("key:a", 1) is not None
    time.sleep(1.1)
    assert windows.acquire("key:a", 1) is None


def test_two_limiters_on_one_redis_share_the_window(redis_url: str, tmp_path: Path) -> None:
    with Store.open("sqlite://") as store:
        first = make_rate_limits(_settings(tmp_path, redis_url=redis_url), store).windows
        second = make_rate_limits(_settings(tmp_path, redis_url=redis_url), store).windows
    bucket = f"key:shared-{time.time_ns()}"
    admitted = [w.acquire(bucket, 3) is None for w in (first, second) * 3]

    assert admitted.count(True) == 3
    wait = second.wait(bucket, 3)
    assert wait is not None and 0 < wait <= 60


def test_a_redis_gone_after_start_up_lets_requests_through_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=tmp_path, rate_limit_per_minute=1, failed_key_checks_per_minute=1)
    with Store.open("sqlite://") as store, redis_server(tmp_path) as url:
        limits = make_rate_limits(settings.model_copy(update={"redis_url": url}), store)
    # The server is gone now: the limit cannot be counted, so it does not refuse.

    for _ in range(3):
        asyncio.run(limits.count_request("key-1"))
        asyncio.run(limits.refuse_blocked_address("203.0.113.7"))

    assert "rate limit not applied" in caplog.text
