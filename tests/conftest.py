"""Shared fixtures: a real promptmill HTTP server on loopback, backed by a fake OpenAI.

``promptmill_server`` runs the production app (``create_app`` with its lifespan, which
builds the engine and opens the store from the settings) under uvicorn in a thread, on
a free 127.0.0.1 port. The only substitute is the model vendor: the OpenAI backend
points at ``FakeOpenAIServer``, which speaks the real wire protocol and answers at
once. Each server gets its own SQLite database under ``tmp_path`` and one API key.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from promptmill.api import create_app
from promptmill.api.request_limits import uvicorn_options
from promptmill.config import Settings
from promptmill.protocol import ANTHROPIC_VERSION, PROMPT_TOOLS_BETA
from promptmill.store import Store
from tests.fakes.openai_server import FakeOpenAIServer

_STARTUP_SECONDS = 30.0


@dataclass
class RunningServer:
    """A promptmill server under test, its store (test side), a live key and its fake vendor."""

    base_url: str
    settings: Settings
    store: Store
    api_key: str
    key_id: str
    fake: FakeOpenAIServer

    def headers(self, **extra: str) -> dict[str, str]:
        """The headers an official client sends, with this server's key."""
        return {
            "x-api-key": self.api_key,
            "anthropic-version": ANTHROPIC_VERSION,
            "anthropic-beta": PROMPT_TOOLS_BETA,
            **extra,
        }


@contextmanager
def serve_in_thread(app: Any, settings: Settings | None = None) -> Iterator[str]:
    """Run an ASGI app (lifespan included) with uvicorn on a free loopback port; yield its URL.

    With ``settings``, uvicorn gets the connection limits ``promptmill serve`` gives it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as promptmill serve does
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = uvicorn_options(settings) if settings is not None else {}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("the promptmill server did not start (see its log above)")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(_STARTUP_SECONDS)
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port (Debian's ``redis-server``)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not found; apt-get install redis-server")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def running_promptmill(state_dir: Path, **settings: Any) -> Iterator[RunningServer]:
    """A fake OpenAI plus a promptmill server using it; ``settings`` override the defaults."""
    with ExitStack() as stack:
        fake = stack.enter_context(FakeOpenAIServer())
        config = Settings(
            backend="openai",
            openai_base_url=fake.base_url,
            openai_api_key="test",
            openai_model="gpt-4o-mini",
            home=state_dir,
            max_retries=0,
            **settings,
        )
        store = Store.open(config.resolved_database_url)
        stack.callback(store.close)
        info, secret = store.create_key(workspace="default", name="tests")
        base_url = stack.enter_context(serve_in_thread(create_app(config), config))
        yield RunningServer(base_url, config, store, secret, info.id, fake)


@pytest.fixture
def promptmill_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh promptmill server (default settings, no rate limit) for one test."""
    with running_promptmill(tmp_path) as server:
        yield server


@pytest.fixture
def promptmill_server_factory(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start servers with custom settings, e.g. ``factory(rate_limit_per_minute=2)``."""
    with ExitStack() as stack:
        count = 0

        def start(**settings: Any) -> RunningServer:
            nonlocal count
            count += 1
            state_dir = tmp_path / f"server{count}"
            return stack.enter_context(running_promptmill(state_dir, **settings))

        yield start
