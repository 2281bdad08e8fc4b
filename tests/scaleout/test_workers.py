"""``promptmill serve --workers N``: N processes on one port, one service.

Each worker process builds its own engine and store from the environment; the rate
limit holds across them because its windows live in the shared database.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from promptmill.protocol import TEMPLATIZE_PATH
from promptmill.store import Store
from tests.scaleout.conftest import ServeFactory, free_port, headers

BODY = {"messages": [{"role": "user", "content": "Translate hello to German"}]}


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


def _serves_the_api(cmdline: Path) -> bool:
    try:
        return b"spawn_main" in cmdline.read_bytes()
    except OSError:
        return False


def test_two_workers_serve_one_port_and_share_the_rate_limit(
    serve_factory: ServeFactory,
) -> None:
    server = serve_factory.serve("--workers", "2", RATE_LIMIT_PER_MINUTE="12")
    workers = [
        pid
        for pid in _children(server.process.pid)
        if _serves_the_api(Path(f"/proc/{pid}/cmdline"))
    ]
    with Store.open(serve_factory.database_url) as store:
        _, secret = store.create_key()
    for _ in range(40):
        serve_factory.fake.enqueue_delay(0.2)  # keep both processes busy at once

    def post(_: int) -> int:
        # A new connection per request, so the kernel spreads them over both processes.
        return httpx.post(
            server.url + TEMPLATIZE_PATH, headers=headers(secret), json=BODY, timeout=60
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = Counter(pool.map(post, range(36)))
    stdout, stderr = server.stop()

    assert len(workers) == 2
    assert statuses == {200: 12, 429: 24}
    assert server.process.returncode == 0, stderr
    assert "2 worker processes; evaluation: 0 threads in each (0 in all)" in stdout
    assert "Traceback" not in stderr, stderr
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def _serve_fails(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTMILL_")}
    env.update(PROMPTMILL_HOME=str(tmp_path), **variables)
    command = [str(Path(sys.executable).parent / "promptmill"), "serve", "--port", "0", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_a_misconfigured_backend_stops_workers_before_listening(tmp_path: Path) -> None:
    result = _serve_fails(tmp_path, "--workers", "2", PROMPTMILL_BACKEND="anthropic")

    assert result.returncode != 0
    assert "PROMPTMILL_ANTHROPIC_API_KEY" in result.stderr
    assert "serving on" not in result.stdout
    assert "Traceback" not in result.stderr


def test_an_unreachable_redis_stops_serve_before_listening(tmp_path: Path) -> None:
    result = _serve_fails(
        tmp_path,
        "--workers",
        "2",
        PROMPTMILL_BACKEND="openai",
        PROMPTMILL_OPENAI_API_KEY="test",
        PROMPTMILL_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )

    assert result.returncode != 0
    assert "PROMPTMILL_REDIS_URL" in result.stderr
    assert "serving on" not in result.stdout
    assert "Traceback" not in result.stderr


def test_workers_refuse_an_in_memory_database_before_listening(tmp_path: Path) -> None:
    result = _serve_fails(
        tmp_path,
        "--workers",
        "2",
        PROMPTMILL_BACKEND="openai",
        PROMPTMILL_OPENAI_API_KEY="test",
        PROMPTMILL_DATABASE_URL="sqlite://",
    )

    assert result.returncode != 0
    assert "PROMPTMILL_DATABASE_URL" in result.stderr
    assert "serving on" not in result.stdout
