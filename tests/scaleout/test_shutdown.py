"""Graceful shutdown with Server-Sent Event streams in flight (SIGTERM), on PostgreSQL.

The fake vendor holds each model call for a while, so the streams are still running
when the server is told to stop. Clients that stay connected must get a clean end
(the ``result`` event) or an ``error`` event, never a cut stream; every call is
recorded, including those whose client has gone. A single uvicorn process ends by
re-raising the SIGTERM it handled (exit status -15) after its graceful shutdown; the
``--workers`` supervisor exits 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from promptmill.protocol import TEMPLATIZE_PATH
from promptmill.store import Store
from tests.api.sse import parse_events
from tests.scaleout.conftest import ServeFactory, ServeProcess, headers

BODY = {"messages": [{"role": "user", "content": "Translate hello to German"}], "stream": True}
MODEL_SECONDS = 3.0
STREAMS = 3


def _key(database_url: str) -> str:
    with Store.open(database_url) as store:
        _, secret = store.create_key()
    return secret


def _recorded(database_url: str) -> list[tuple[str, int]]:
    with Store.open(database_url) as store:
        return [(call.id, call.status) for call in store.recent_calls("default", limit=100)]


@pytest.fixture(params=["1", "2"], ids=["one-process", "two-workers"])
def slow_server(
    request: pytest.FixtureRequest, serve_factory: ServeFactory
) -> Iterator[ServeProcess]:
    for _ in range(STREAMS + 2):
        serve_factory.fake.enqueue_delay(MODEL_SECONDS)
    yield serve_factory.serve("--workers", request.param)


def test_sigterm_lets_connected_streams_finish_and_records_them(
    slow_server: ServeProcess, serve_factory: ServeFactory
) -> None:
    secret = _key(serve_factory.database_url)
    bodies: list[str] = []
    request_ids: list[str] = []
    lock = threading.Lock()
    started = threading.Barrier(STREAMS + 1)

    def stream() -> None:
        with httpx.stream(
            "POST",
            slow_server.url + TEMPLATIZE_PATH,
            headers=headers(secret),
            json=BODY,
            timeout=60,
        ) as response:
            started.wait(timeout=30)
            text = "".join(response.iter_text())
        with lock:
            bodies.append(text)
            request_ids.append(response.headers["request-id"])

    threads = [threading.Thread(target=stream) for _ in range(STREAMS)]
    for thread in threads:
        thread.start()
    started.wait(timeout=30)  # every stream has its headers: the calls are in flight
    _, stderr = slow_server.stop(signal.SIGTERM)
    for thread in threads:
        thread.join(timeout=60)

    assert slow_server.process.returncode in (0, -signal.SIGTERM), stderr
    assert len(bodies) == STREAMS
    for text in bodies:
        last_event = parse_events(text)[-1][0]
        assert last_event in ("result", "error"), text
    recorded = dict(_recorded(serve_factory.database_url))
    assert all(request_id in recorded for request_id in request_ids)


def test_sigterm_still_records_streams_whose_client_has_gone(
    slow_server: ServeProcess, serve_factory: ServeFactory
) -> None:
    secret = _key(serve_factory.database_url)
    request_ids = []
    for _ in range(STREAMS):
        with httpx.stream(
            "POST",
            slow_server.url + TEMPLATIZE_PATH,
            headers=headers(secret),
            json=BODY,
            timeout=60,
        ) as response:
            request_ids.append(response.headers["request-id"])  # then hang up at once
    time.sleep(0.3)
    _, stderr = slow_server.stop(signal.SIGTERM)

    assert slow_server.process.returncode in (0, -signal.SIGTERM), stderr
    recorded = dict(_recorded(serve_factory.database_url))
    assert [request_id in recorded for request_id in request_ids] == [True] * STREAMS
