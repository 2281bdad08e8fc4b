"""Scale-out tests: real ``promptmill serve`` processes sharing one PostgreSQL database.

The PostgreSQL server is the store tests' (Debian's package, one per session, a fresh
database per test); the model vendor is the wire-faithful fake OpenAI server, run in
this process. Every server process is started here and stopped (or killed) by the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from promptmill.protocol import ANTHROPIC_VERSION, PROMPT_TOOLS_BETA
from tests.fakes.openai_server import FakeOpenAIServer
from tests.store.conftest import postgres_server, postgres_url

__all__ = ["postgres_server", "postgres_url"]

START_SECONDS = 60.0
STOP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def headers(secret: str) -> dict[str, str]:
    return {
        "x-api-key": secret,
        "anthropic-version": ANTHROPIC_VERSION,
        "anthropic-beta": PROMPT_TOOLS_BETA,
    }


@dataclass
class ServeProcess:
    """One ``promptmill serve`` (with all its worker processes) under test.

    Its output goes to files, not pipes, so a chatty server can never block on a full
    pipe while the test is busy loading it.
    """

    process: subprocess.Popen[str]
    port: int
    log: Path

    def output(self) -> tuple[str, str]:
        return (
            self.log.with_suffix(".out").read_text(errors="replace"),
            self.log.with_suffix(".err").read_text(errors="replace"),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early: {self.output()}")
            try:
                httpx.get(self.url + "/", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("serve did not answer GET / in time")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[str, str]:
        """Send ``sig`` to the whole process group and wait; returns stdout and stderr."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_SECONDS)
            raise AssertionError(f"serve did not stop on {sig!r}: {self.output()}") from None
        return self.output()


@dataclass
class ServeFactory:
    """Starts ``promptmill serve`` processes on one database and one fake vendor."""

    home: Path
    database_url: str
    fake: FakeOpenAIServer
    started: list[ServeProcess] = field(default_factory=list)

    def environment(self, **settings: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PROMPTMILL_", "OPENAI_", "ANTHROPIC_"))
        }
        env.update(
            PROMPTMILL_HOME=str(self.home),
            PROMPTMILL_DATABASE_URL=self.database_url,
            PROMPTMILL_BACKEND="openai",
            PROMPTMILL_OPENAI_BASE_URL=self.fake.base_url,
            PROMPTMILL_OPENAI_API_KEY="test",
            PROMPTMILL_MAX_RETRIES="0",
            PROMPTMILL_EVAL_WORKERS="0",
        )
        env.update({f"PROMPTMILL_{name.upper()}": value for name, value in settings.items()})
        return env

    def serve(self, *args: str, **settings: str) -> ServeProcess:
        """Start a server (its own process group, so a signal reaches every worker)."""
        port = free_port()
        log = self.home / f"serve-{port}.log"
        command = [str(Path(sys.executable).parent / "promptmill"), "serve", "--port", str(port)]
        with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
            process = subprocess.Popen(
                [*command, "--log-level", "warning", *args],
                env=self.environment(**settings),
                stdout=out,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        server = ServeProcess(process, port, log)
        self.started.append(server)
        server.wait_until_up()
        return server


@pytest.fixture
def serve_factory(tmp_path: Path, postgres_url: str) -> Iterator[ServeFactory]:
    with FakeOpenAIServer() as fake:
        factory = ServeFactory(tmp_path, postgres_url, fake)
        try:
            yield factory
        finally:
            for server in factory.started:
                if server.process.poll() is None:
                    os.killpg(server.process.pid, signal.SIGKILL)
                    server.process.wait(timeout=STOP_SECONDS)
