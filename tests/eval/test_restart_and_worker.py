"""Runs survive their process: a server killed mid-run resumes it; workers share the queue.

Both tests run promptmill as real subprocesses on a SQLite home (the default install),
with the fake OpenAI server in this process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from promptmill.store import Store
from tests.conftest import PROMPT_TOOLS_BETA, running_promptmill
from tests.eval.conftest import API, CHEF, food_cases, wait_for_run
from tests.fakes.openai_server import FakeOpenAIServer

_START_SECONDS = 60.0
CASES = 12  # two chunks of the queue (8 + 4)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _promptmill(home: Path, fake: FakeOpenAIServer, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PROMPTMILL_HOME": str(home),
        "PROMPTMILL_BACKEND": "openai",
        "PROMPTMILL_OPENAI_BASE_URL": fake.base_url,
        "PROMPTMILL_OPENAI_API_KEY": "test",
        "PROMPTMILL_MAX_RETRIES": "0",
        "PROMPTMILL_EVAL_WORKERS": "1",
    }
    env.pop("PROMPTMILL_DATABASE_URL", None)
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "promptmill"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _serve(home: Path, fake: FakeOpenAIServer, port: int) -> subprocess.Popen[str]:
    process = _promptmill(home, fake, "serve", "--port", str(port), "--log-level", "warning")
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.communicate()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("serve did not answer in time")


def _headers(secret: str) -> dict[str, str]:
    return {"x-api-key": secret, "anthropic-beta": PROMPT_TOOLS_BETA}


def test_a_run_interrupted_by_kill_9_completes_after_a_restart_losing_nothing(
    tmp_path: Path,
) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as store:
        _, secret = store.create_key()
    with FakeOpenAIServer() as fake:
        for _ in range(CASES + 2):
            fake.enqueue_delay(0.25)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        first = _serve(tmp_path, fake, port)
        try:
            with httpx.Client(base_url=url, headers=_headers(secret), timeout=30) as http:
                body = {
                    "variants": [{"prompt": CHEF}],
                    "cases": food_cases(*(f"food{n}" for n in range(CASES))),
                    "graders": [{"type": "contains"}],
                    "concurrency": 1,
                }
                run_id = http.post(f"{API}/runs", json=body).json()["id"]
                deadline = time.monotonic() + 30
                while http.get(f"{API}/runs/{run_id}").json()["done"] < 4:
                    assert time.monotonic() < deadline, "the run made no progress"
                    time.sleep(0.05)
        finally:
            first.kill()  # SIGKILL: no shutdown hook runs
            first.communicate(timeout=30)

        with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as store:
            before = {(r.case_index, r.variant_index): r for r in store.results(run_id)}
            assert store.run_status(run_id) == "running"
        assert 4 <= len(before) < CASES

        second = _serve(tmp_path, fake, port)
        try:
            with httpx.Client(base_url=url, headers=_headers(secret), timeout=30) as http:
                run = wait_for_run(http, run_id)
                results = http.get(f"{API}/runs/{run_id}/results").json()["data"]
        finally:
            second.send_signal(signal.SIGINT)
            _, stderr = second.communicate(timeout=30)
        assert second.returncode == 0, stderr

    assert (run["status"], run["done"], run["total"]) == ("completed", CASES, CASES)
    assert sorted((r["case_index"], r["variant_index"]) for r in results) == [
        (case, 0) for case in range(CASES)
    ]
    for result in results:  # results written before the kill are kept exactly as they were
        kept = before.get((result["case_index"], result["variant_index"]))
        if kept is not None:
            assert (result["output"], result["latency_ms"]) == (kept.output, kept.latency_ms)
    # Each case was asked once, save at most the one in flight when the process died.
    assert CASES <= len(fake.requests) <= CASES + 1


def test_a_worker_process_evaluates_runs_a_server_only_enqueues(tmp_path: Path) -> None:
    with (
        running_promptmill(tmp_path, eval_workers=0) as server,
        httpx.Client(base_url=server.base_url, headers=server.headers(), timeout=30) as http,
    ):
        body = {
            "variants": [{"prompt": CHEF}],
            "cases": food_cases("eggs", "rice"),
            "graders": [{"type": "contains"}],
        }
        run_id = http.post(f"{API}/runs", json=body).json()["id"]
        time.sleep(0.5)
        assert http.get(f"{API}/runs/{run_id}").json()["status"] == "queued"
        worker = _promptmill(tmp_path, server.fake, "worker", "--workers", "2")
        try:
            run = wait_for_run(http, run_id)
        finally:
            worker.send_signal(signal.SIGTERM)
            stdout, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert "worker: 2 threads on the SqliteHuey queue" in stdout
    assert (run["status"], run["done"], run["summary"][0]["pass_rate"]) == ("completed", 2, 1.0)
