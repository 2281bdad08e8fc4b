"""A dead or hung backend, under bounded load: what clients see, and what the server keeps.

The server is real (uvicorn on loopback) and so is its backend's wire (the fake OpenAI
server), which is crashed (``stop``: connections refused) or hung (``hang``: requests
held unanswered) mid-test. Promises checked: 529 ``overloaded_error`` with
``retry-after``, never a 500, never the backend's address; ``GET /`` and key checks
stay fast while every model call is stuck; every answered call is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx

from promptmill.protocol import GENERATE_PATH
from tests.conftest import RunningServer

BODY = {"task": "a chef for a meal prep planning service"}
CLIENTS = 16
REQUESTS = 100  # per phase; two phases
FAST = 1.0  # seconds: what "answers at once" means on a shared 2-core box


def _call(server: RunningServer, client: httpx.Client) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.post(server.base_url + GENERATE_PATH, headers=server.headers(), json=BODY)
    return response, time.monotonic() - started


def _load(server: RunningServer, requests: int) -> list[tuple[httpx.Response, float]]:
    """``requests`` tool calls from ``CLIENTS`` concurrent clients (closed loop)."""
    limits = httpx.Limits(max_connections=CLIENTS)
    with httpx.Client(timeout=60, limits=limits) as client, ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(lambda _: _call(server, client), range(requests)))


def _assert_overloaded_without_internals(server: RunningServer, response: httpx.Response) -> None:
    assert response.status_code == 529, response.text
    assert response.json()["error"]["type"] == "overloaded_error"
    assert int(response.headers["retry-after"]) >= 1
    fake_port = str(server.fake.port)
    assert "127.0.0.1" not in response.text and fake_port not in response.text
    assert "Error:" not in response.text  # no exception class names
    assert "Traceback" not in response.text


@contextmanager
def _hung(server: RunningServer) -> Iterator[None]:
    server.fake.hang()
    try:
        yield
    finally:
        server.fake.release()


def _wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def _recorded(server: RunningServer) -> list[Any]:
    return server.store.recent_calls("default", limit=1000)


def test_a_crashed_backend_gives_529_with_retry_after_and_no_internal_address(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(request_timeout=10)
    server.fake.stop()
    answers = _load(server, REQUESTS)
    for response, _ in answers:
        _assert_overloaded_without_internals(server, response)
    assert len(_recorded(server)) == len(answers)


def test_a_hung_backend_gives_529_at_once_beyond_the_in_flight_limit(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(request_timeout=3, max_inflight_model_calls=4)
    with _hung(server):
        answers = _load(server, REQUESTS)
    stuck = [seconds for response, seconds in answers if seconds > 2.5]
    for response, _ in answers:
        _assert_overloaded_without_internals(server, response)
    # Only the admitted calls waited for the deadline; the others were refused at once.
    assert 4 <= len(stuck) < len(answers) // 2
    assert sorted(seconds for _, seconds in answers)[len(answers) // 2] < FAST
    assert len(_recorded(server)) == len(answers)


def test_status_and_key_checks_answer_fast_while_every_model_thread_is_stuck(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    # anyio's default pool has 40 threads: 40 stuck model calls used to fill it, and
    # every key check then waited for the backend's deadline.
    server = promptmill_server_factory(request_timeout=30, max_inflight_model_calls=40)
    with _hung(server), httpx.Client(timeout=60) as client, ThreadPoolExecutor(40) as pool:
        stuck = [pool.submit(_call, server, client) for _ in range(40)]
        _wait_for(lambda: server.fake.hung_requests == 40)

        started = time.monotonic()
        status = client.get(server.base_url + "/")
        assert status.status_code == 200 and time.monotonic() - started < FAST

        started = time.monotonic()
        denied = client.post(
            server.base_url + GENERATE_PATH, headers=server.headers(**{"x-api-key": "wrong"})
        )
        assert denied.status_code == 401 and time.monotonic() - started < FAST

        started = time.monotonic()
        history = client.get(
            server.base_url + "/v1/promptmill/history", headers={"x-api-key": server.api_key}
        )
        assert history.status_code == 200 and time.monotonic() - started < FAST

        one_more, seconds = _call(server, client)
        _assert_overloaded_without_internals(server, one_more)
        assert seconds < FAST

        server.fake.release()
        assert all(future.result()[0].status_code == 200 for future in stuck)
