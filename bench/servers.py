"""Starting the processes a server benchmark measures: the fake backend, `promptmill serve`.

Each server runs in its own process group on loopback, so a benchmark's client, the
server under test and the fake backend never share an interpreter (or its GIL), and
stopping a server also stops anything it started.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bench.report import REPO_ROOT

PROMPTMILL = [sys.executable, "-c", "from promptmill.cli import main; main()"]
_KEY = re.compile(r"sk-pm-[A-Za-z0-9_\-]+")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Block until something answers HTTP on the port (any status), or fail with its log."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing served on 127.0.0.1:{port} within {timeout:.0f}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server we started (its own process group), politely then firmly."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def started(
    command: list[str], env: dict[str, str], log: IO[bytes], stdout: int | IO[bytes] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        command,
        env=env,
        cwd=REPO_ROOT,
        stdout=stdout if stdout is not None else log,
        stderr=log,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        stop(process)


@contextlib.contextmanager
def fake_openai(env: dict[str, str], log: IO[bytes]) -> Iterator[str]:
    """The instant fake OpenAI server (``tests/fakes/openai_server.py``); yields its base URL."""
    with started(fake_openai_command(), env, log, stdout=subprocess.PIPE) as process:
        yield fake_base_url(process)


def fake_openai_command(port: int | None = None) -> list[str]:
    """The command that starts the fake OpenAI server (on ``port``, default a free one)."""
    chosen = port if port is not None else free_port()
    return [sys.executable, "-m", "tests.fakes.openai_server", "--port", str(chosen)]


def fake_base_url(process: subprocess.Popen[bytes]) -> str:
    """The base URL a started fake prints as its first stdout line."""
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    if not line.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"fake OpenAI server did not print its base URL (got {line!r})")
    return line


def create_key(env: dict[str, str], workspace: str = "bench") -> str:
    """A new API key from ``promptmill keys create`` under the env's ``PROMPTMILL_HOME``."""
    done = subprocess.run(
        [*PROMPTMILL, "keys", "create", "--workspace", workspace],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"promptmill keys create failed: {done.stderr or done.stdout}")
    match = _KEY.search(done.stdout)
    if not match:
        raise RuntimeError(f"no key in the output of promptmill keys create: {done.stdout!r}")
    return match.group(0)


def serve_command(port: int, log_level: str = "warning") -> list[str]:
    """``promptmill serve`` on loopback without an access log (it would cost every request)."""
    return [
        *PROMPTMILL,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        log_level,
    ]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_env() -> dict[str, str]:
    """This environment with this checkout's ``src`` and root first on ``PYTHONPATH``.

    So the servers run the code of the checkout being measured (and import ``tests.fakes``),
    even when the virtualenv's editable install points at another checkout.
    """
    path = [str(REPO_ROOT / "src"), str(REPO_ROOT)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
