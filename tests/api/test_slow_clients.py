"""Slow or stalled clients (slowloris) and big bodies cannot hold the server: raw-socket tries.

Every socket here has a timeout, so a server that fails to close a connection fails
the test in seconds instead of hanging it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit

import httpx

from promptmill.protocol import GENERATE_PATH
from tests.conftest import RunningServer

PATIENCE = 8.0  # seconds a test waits for the server before calling it hung


@contextmanager
def _connection(server: RunningServer) -> Iterator[socket.socket]:
    url = urlsplit(server.base_url)
    sock = socket.create_connection((url.hostname, url.port), timeout=PATIENCE)
    try:
        yield sock
    finally:
        sock.close()


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; raises ``TimeoutError`` if it never does."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _head(server: RunningServer, content_length: int) -> bytes:
    lines = [
        f"POST {GENERATE_PATH} HTTP/1.1",
        "host: 127.0.0.1",
        "content-type: application/json",
        f"content-length: {content_length}",
        *(f"{name}: {value}" for name, value in server.headers().items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_connection_that_never_finishes_its_headers_is_closed(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(header_read_timeout=1)
    with _connection(server) as sock:
        sock.sendall(b"POST " + GENERATE_PATH.encode() + b" HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        started = time.monotonic()
        assert _read_until_closed(sock) == b""
        assert 0.8 < time.monotonic() - started < 4


def test_an_idle_connection_that_trickles_header_bytes_is_still_closed(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(header_read_timeout=1)
    with _connection(server) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        closed = False
        while time.monotonic() - started < 5 and not closed:
            try:
                sock.sendall(b"x-slow: 1\r\n")
            except OSError:
                closed = True
                break
            time.sleep(0.2)
            sock.settimeout(0.01)
            with suppress(TimeoutError):
                closed = sock.recv(1) == b""
        assert closed and time.monotonic() - started < 4


def test_a_body_that_stops_arriving_gets_408_and_the_connection_closes(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(body_read_timeout=1)
    body = json.dumps({"task": "a chef"}).encode()
    with _connection(server) as sock:
        sock.sendall(_head(server, len(body) + 100) + body)
        started = time.monotonic()
        answer = _read_until_closed(sock)
        assert time.monotonic() - started < 4
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in head.lower()
    error = json.loads(payload)["error"]
    assert error["type"] == "invalid_request_error"
    assert "did not arrive within 1 seconds" in error["message"]
    (call,) = server.store.recent_calls("default")
    assert (call.status, call.error_type) == (408, "invalid_request_error")


def test_a_body_beyond_the_servers_byte_budget_is_refused_at_once_while_another_is_held(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(body_memory_bytes=3000, body_read_timeout=5)
    with _connection(server) as sock:
        sock.sendall(_head(server, 2000) + b'{"task": "')  # holds 2000 bytes of the budget
        time.sleep(0.3)
        started = time.monotonic()
        response = httpx.post(
            server.base_url + GENERATE_PATH,
            headers=server.headers(),
            content=json.dumps({"task": "a chef " * 200}).encode(),
        )
        assert time.monotonic() - started < 1.0
        assert response.status_code == 529
        assert response.json()["error"]["type"] == "overloaded_error"
        assert int(response.headers["retry-after"]) >= 1
        small = httpx.post(
            server.base_url + GENERATE_PATH, headers=server.headers(), json={"task": "a chef"}
        )
        assert small.status_code == 200, small.text
