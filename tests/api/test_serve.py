"""``promptmill serve`` as a real process: it starts, prints what it runs, serves and stops.

Stopping (SIGINT or SIGTERM) loses no call: streams whose client has gone still record.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from promptmill.protocol import PROMPT_TOOLS_BETA, TEMPLATIZE_PATH
from promptmill.store import Store
from tests.fakes.openai_server import FakeOpenAIServer

_START_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def _serve(home: Path, fake: FakeOpenAIServer, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PROMPTMILL_HOME": str(home),
        "PROMPTMILL_OPENAI_BASE_URL": fake.base_url,
        "PROMPTMILL_OPENAI_API_KEY": "test",
        "PROMPTMILL_MAX_RETRIES": "0",
    }
    env.pop("PROMPTMILL_DATABASE_URL", None)
    command = [str(Path(sys.executable).parent / "promptmill"), "serve", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--backend", "openai", "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_up(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.communicate()}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("serve did not answer GET / in time")


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    return stdout, stderr


def test_serve_runs_the_api_and_exits_cleanly_on_ctrl_c(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _serve(tmp_path, fake_openai, port)
    try:
        _wait_until_up(process, url + "/")
        info = httpx.get(url + "/").json()
        assert (info["backend"], info["model"], info["status"]) == ("openai", "gpt-4o-mini", "ok")
        with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as store:
            _, secret = store.create_key()
        response = httpx.post(
            url + TEMPLATIZE_PATH,
            headers={"x-api-key": secret, "anthropic-beta": PROMPT_TOOLS_BETA},
            json={"messages": [{"role": "user", "content": "Translate hello to German"}]},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert "variable_values" in response.json()
    finally:
        stdout, stderr = _stop(process)
    assert process.returncode == 0, stderr
    assert f"serving on {url}" in stdout
    assert "backend: openai, model: gpt-4o-mini" in stdout
    assert "promptmill keys create" in stdout  # no key existed at start
    assert "Traceback" not in stderr


def test_serve_gives_no_key_hint_once_a_key_exists(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as store:
        store.create_key()
    port = _free_port()
    process = _serve(tmp_path, fake_openai, port)
    try:
        _wait_until_up(process, f"http://127.0.0.1:{port}/")
    finally:
        stdout, _ = _stop(process)
    assert "serving on" in stdout
    assert "keys create" not in stdout


_SETTING_VARIABLES = (
    "PROMPTMILL_BACKEND",
    "PROMPTMILL_ANTHROPIC_API_KEY",
    "ANTHROPIC_API_KEY",
    "PROMPTMILL_OPENAI_API_KEY",
    "OPENAI_API_KEY",
    "PROMPTMILL_OPENAI_BASE_URL",
    "PROMPTMILL_LOCAL_MODEL",
    "PROMPTMILL_DATABASE_URL",
)


def _serve_misconfigured(
    home: Path, *args: str, **variables: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _SETTING_VARIABLES}
    env.update(PROMPTMILL_HOME=str(home), **variables)
    command = [str(Path(sys.executable).parent / "promptmill"), "serve", "--port", "0", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("variables", "setting"),
    [
        ({"PROMPTMILL_BACKEND": "nope"}, "PROMPTMILL_BACKEND"),
        ({"PROMPTMILL_BACKEND": "anthropic"}, "PROMPTMILL_ANTHROPIC_API_KEY"),
        ({"PROMPTMILL_BACKEND": "openai"}, "PROMPTMILL_OPENAI_API_KEY"),
        ({"PROMPTMILL_LOCAL_MODEL": "no-such-model"}, "PROMPTMILL_LOCAL_MODEL"),
        ({"PROMPTMILL_LOCAL_MODEL": "/no/such/model.gguf"}, "PROMPTMILL_LOCAL_MODEL"),
    ],
    ids=["unknown-backend", "anthropic-key", "openai-key", "model-name", "model-file"],
)
def test_serve_stops_before_listening_when_a_setting_is_wrong(
    tmp_path: Path, variables: dict[str, str], setting: str
) -> None:
    result = _serve_misconfigured(tmp_path, **variables)

    assert result.returncode != 0
    assert setting in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving on" not in result.stdout
    assert not (tmp_path / "promptmill.db").exists()  # stopped before opening anything


def test_serve_offers_the_registered_backends_as_choices(tmp_path: Path) -> None:
    result = _serve_misconfigured(tmp_path, "--backend", "nope")

    assert result.returncode == 2
    assert "'local', 'anthropic', 'openai'" in result.stderr


def test_sigterm_waits_for_a_stream_whose_client_has_gone_and_records_it(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as store:
        _, secret = store.create_key()
    fake_openai.enqueue_delay(2)  # the backend is still working when the signal comes
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _serve(tmp_path, fake_openai, port)
    try:
        _wait_until_up(process, url + "/")
        with httpx.stream(
            "POST",
            url + TEMPLATIZE_PATH,
            headers={"x-api-key": secret, "anthropic-beta": PROMPT_TOOLS_BETA},
            json={"messages": [{"role": "user", "content": "Translate hello"}], "stream": True},
            timeout=30,
        ) as response:
            assert response.status_code == 200
        # The client has gone; now the server is told to stop.
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM), stderr
    assert "Traceback" not in stderr
    with Store.open(f"sqlite:///{tmp_path / 'promptmill.db'}") as store:
        (call,) = store.recent_calls("default")
    assert (call.endpoint, call.status) == ("templatize_prompt", 200)
    assert call.output_tokens > 0


def test_keep_alive_answers_are_not_held_back_for_the_clients_delayed_ack(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    # Without TCP_NODELAY on the listening socket, every answer on a reused connection
    # waited ~40 ms (Nagle's algorithm against the client's delayed ACK).
    port = _free_port()
    process = _serve(tmp_path, fake_openai, port)
    try:
        _wait_until_up(process, f"http://127.0.0.1:{port}/")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            times = []
            for _ in range(11):
                started = time.perf_counter()
                sock.sendall(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
                answer = b""
                while not answer.endswith(b"}"):
                    answer += sock.recv(65536)
                times.append(time.perf_counter() - started)
    finally:
        _stop(process)
    assert sorted(times)[5] < 0.02
