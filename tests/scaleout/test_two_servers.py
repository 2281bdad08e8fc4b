"""Two ``promptmill serve`` processes on one PostgreSQL database behave as one service.

A load balancer is played by the clients: each sends its requests to the two servers
in turn and, when one stops answering, to the other.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from promptmill.protocol import HISTORY_PATH, TEMPLATIZE_PATH
from promptmill.store import Store
from tests.scaleout.conftest import ServeFactory, ServeProcess, headers

BODY = {"messages": [{"role": "user", "content": "Translate hello to German"}]}
REQUESTS = 300
CLIENTS = 16
KILL_AFTER = 100


def _key(database_url: str, workspace: str = "default") -> str:
    with Store.open(database_url) as store:
        _, secret = store.create_key(workspace=workspace)
    return secret


def test_keys_history_and_usage_are_one_across_both_servers(serve_factory: ServeFactory) -> None:
    # Without the key cache, a key revoked by another process fails at once everywhere.
    first, second = (serve_factory.serve(KEY_CACHE_SECONDS="0") for _ in range(2))
    with Store.open(serve_factory.database_url) as store:
        info, secret = store.create_key()
    served = httpx.post(first.url + TEMPLATIZE_PATH, headers=headers(secret), json=BODY, timeout=30)
    call_id = served.headers["request-id"]

    entry = httpx.get(f"{second.url}{HISTORY_PATH}/{call_id}", headers=headers(secret))
    with Store.open(serve_factory.database_url) as store:
        (usage,) = store.usage_totals("default")
        store.revoke_key(info.id)
    refused = [
        httpx.post(server.url + TEMPLATIZE_PATH, headers=headers(secret), json=BODY).status_code
        for server in (first, second)
    ]

    assert served.status_code == 200 and entry.status_code == 200, entry.text
    assert entry.json()["id"] == call_id
    assert usage.calls == 1
    assert refused == [401, 401]


def test_a_key_revoked_by_another_process_fails_once_the_cache_seconds_have_passed(
    serve_factory: ServeFactory,
) -> None:
    servers = [serve_factory.serve(KEY_CACHE_SECONDS="1") for _ in range(2)]
    with Store.open(serve_factory.database_url) as store:
        info, secret = store.create_key()
    for server in servers:  # each server verifies the key, and keeps it for a second
        served = httpx.post(server.url + TEMPLATIZE_PATH, headers=headers(secret), json=BODY)
        assert served.status_code == 200, served.text

    with Store.open(serve_factory.database_url) as store:
        store.revoke_key(info.id)  # this process's cache is not theirs
    time.sleep(1.2)

    refused = [
        httpx.post(server.url + TEMPLATIZE_PATH, headers=headers(secret), json=BODY).status_code
        for server in servers
    ]
    assert refused == [401, 401]


def test_the_rate_limit_of_a_key_holds_across_both_servers(serve_factory: ServeFactory) -> None:
    servers = [serve_factory.serve(RATE_LIMIT_PER_MINUTE="10") for _ in range(2)]
    secret = _key(serve_factory.database_url)

    def post(server: ServeProcess) -> int:
        response = httpx.post(
            server.url + TEMPLATIZE_PATH, headers=headers(secret), json=BODY, timeout=30
        )
        return response.status_code

    statuses = [post(servers[n % 2]) for n in range(30)]

    assert Counter(statuses) == {200: 10, 429: 20}


def test_failed_key_checks_are_counted_across_both_servers(serve_factory: ServeFactory) -> None:
    servers = [serve_factory.serve(FAILED_KEY_CHECKS_PER_MINUTE="4") for _ in range(2)]

    statuses = [
        httpx.post(
            servers[n % 2].url + TEMPLATIZE_PATH, headers=headers(f"sk-pm-guess-{n}"), json=BODY
        ).status_code
        for n in range(8)
    ]

    assert statuses == [401] * 4 + [429] * 4


def test_a_server_killed_mid_load_loses_no_answered_call(serve_factory: ServeFactory) -> None:
    first, second = (serve_factory.serve() for _ in range(2))
    secret = _key(serve_factory.database_url)
    answered: list[tuple[int, str, int]] = []  # status, request id, port
    lock = threading.Lock()
    kill_now = threading.Event()

    def client(number: int) -> None:
        share = range(number, REQUESTS, CLIENTS)
        with httpx.Client(headers=headers(secret), timeout=60) as http:
            for index in share:
                order = (first, second) if index % 2 else (second, first)
                for server in order:
                    try:
                        response = http.post(server.url + TEMPLATIZE_PATH, json=BODY)
                    except httpx.TransportError:
                        continue  # as a load balancer would: try the other one
                    with lock:
                        answered.append(
                            (response.status_code, response.headers["request-id"], server.port)
                        )
                        if len(answered) >= KILL_AFTER:
                            kill_now.set()
                    break

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client, number) for number in range(CLIENTS)]
        kill_now.wait(timeout=120)
        first.stop(signal.SIGKILL)
        for future in futures:
            future.result()

    assert first.process.returncode == -signal.SIGKILL
    statuses = Counter(status for status, _, _ in answered)
    assert statuses == {200: REQUESTS}
    by_server = Counter(port for _, _, port in answered)
    assert by_server[first.port] >= KILL_AFTER // 4 and by_server[second.port] > 0
    with Store.open(serve_factory.database_url) as store:
        recorded = Counter(call.id for call in store.recent_calls("default", limit=1000))
    answered_ids = [request_id for _, request_id, _ in answered]
    assert len(set(answered_ids)) == REQUESTS
    assert all(recorded[request_id] == 1 for request_id in answered_ids)
