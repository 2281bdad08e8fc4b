"""Fixtures for the backend tests: fresh fake vendor servers on loopback, one per test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from promptmill.backends.base import ChatReply, ChatRequest
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class RecordingSleep:
    """A ``sleep`` that records the waits a backend asked for, and returns at once.

    It also says how the test drives the backend: ``driving(backend)`` returns it as is
    (``chat``, the blocking SDK client) or, for ``way == "async"``, behind
    ``AsyncDriven`` (``achat``, the asynchronous client on one event loop). The
    ``sleeps`` fixture runs every test that uses it both ways, so the two paths are held
    to the same behaviour.
    """

    def __init__(self, way: str = "sync", portal: BlockingPortal | None = None) -> None:
        self.calls: list[float] = []
        self.way = way
        self._portal = portal

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.calls.append(seconds)

    def driving(self, backend: Any) -> Any:
        if self._portal is None:
            return backend
        return AsyncDriven(backend, self._portal)


class AsyncDriven:
    """A remote backend whose ``chat`` goes through its ``achat`` on one event loop."""

    def __init__(self, backend: Any, portal: BlockingPortal) -> None:
        self._backend = backend
        self._portal = portal

    def chat(self, request: ChatRequest) -> ChatReply:
        reply: ChatReply = self._portal.call(self._backend.achat, request)
        return reply

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@pytest.fixture(params=["sync", "async"])
def sleeps(request: pytest.FixtureRequest) -> Iterator[RecordingSleep]:
    if request.param == "sync":
        yield RecordingSleep()
        return
    with start_blocking_portal() as portal:
        yield RecordingSleep("async", portal)
