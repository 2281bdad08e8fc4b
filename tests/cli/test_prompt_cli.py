"""``promptmill generate|improve|templatize``, run as real subprocesses.

Against a live promptmill server (engine on the fake OpenAI backend), a scripted
server where the exact response matters, and once in-process with no server at all.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.live_server import LivePromptmill
from tests.client.scripted_server import ScriptedAPIServer

PROMPTMILL = shutil.which("promptmill", path=str(Path(sys.executable).parent)) or "promptmill"

TEMPLATIZE_BODY = {
    "messages": [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Translate {{WORD}} to {{TARGET_LANGUAGE}}"}],
        }
    ],
    "system": "You are an English to {{TARGET_LANGUAGE}} translator",
    "usage": [{"input_tokens": 490, "output_tokens": 61}],
    "variable_values": {"WORD": "hello", "TARGET_LANGUAGE": "German"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePromptmill]:
    with LivePromptmill(Path(tmp_path_factory.mktemp("cli"))) as live:
        yield live


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PROMPTMILL_") and k != "ANTHROPIC_API_KEY"
    }
    return subprocess.run(
        [PROMPTMILL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**clean, "COLUMNS": "120", **(env or {})},
        timeout=120,
        check=False,
    )


def remote(server: LivePromptmill) -> list[str]:
    return ["--base-url", server.url, "--api-key", server.api_key]


def test_generate_json_prints_exactly_the_api_response(server: LivePromptmill) -> None:
    done = run_cli("generate", "a chef for a meal prep service", "--json", *remote(server))
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert set(body) == {"messages", "system", "usage"}
    assert body["messages"][0]["role"] == "user"


def test_generate_human_output_shows_the_prompt_usage_and_latency(server: LivePromptmill) -> None:
    done = run_cli("generate", "a chef for a meal prep service", *remote(server))
    assert done.returncode == 0, done.stderr
    assert "prompt" in done.stdout
    assert "usage:" in done.stdout
    assert "latency:" in done.stdout


def test_generate_separate_system_asks_for_a_system_prompt(server: LivePromptmill) -> None:
    args = ["generate", "a chef", "--target-model", "gpt-4o", "--json", *remote(server)]
    separate = run_cli(*args, "--separate-system")
    default = run_cli(*args)
    assert separate.returncode == 0 and default.returncode == 0, separate.stderr + default.stderr
    assert json.loads(separate.stdout)["system"].strip()
    assert json.loads(default.stdout)["system"] == ""


def test_improve_separate_system_shows_the_system_prompt_apart(server: LivePromptmill) -> None:
    done = run_cli(
        "improve",
        "-",
        "--target-model",
        "gemini-2.5-pro",
        "--separate-system",
        *remote(server),
        stdin="Write a story about {{TOPIC}}\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.index("system") < done.stdout.index("prompt")


def test_improve_reads_the_prompt_from_stdin_with_dash(server: LivePromptmill) -> None:
    done = run_cli(
        "improve",
        "-",
        "--feedback",
        "be concise",
        "--json",
        *remote(server),
        stdin="Write a story about {{TOPIC}}\n",
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert "{{TOPIC}}" in body["messages"][0]["content"][0]["text"]


def test_templatize_reads_the_prompt_from_a_file(server: LivePromptmill, tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Translate hello to German\n", encoding="utf-8")
    done = run_cli("templatize", str(prompt), "--json", *remote(server))
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert "variable_values" in body
    text = body["messages"][0]["content"][0]["text"]
    for name, value in body["variable_values"].items():
        text = text.replace("{{" + name + "}}", value)
    assert text == "Translate hello to German"


def test_the_api_key_can_come_from_promptmill_api_key(server: LivePromptmill) -> None:
    done = run_cli(
        "templatize",
        "-",
        "--base-url",
        server.url,
        "--json",
        stdin="Say hi",
        env={"PROMPTMILL_API_KEY": server.api_key},
    )
    assert done.returncode == 0, done.stderr


def test_the_base_url_can_come_from_promptmill_base_url(server: LivePromptmill) -> None:
    done = run_cli(
        "templatize",
        "-",
        "--api-key",
        server.api_key,
        "--json",
        stdin="Say hi",
        env={"PROMPTMILL_BASE_URL": server.url},
    )
    assert done.returncode == 0, done.stderr


def test_an_unknown_key_exits_1_with_the_error_type_on_stderr(server: LivePromptmill) -> None:
    done = run_cli("generate", "a chef", "--base-url", server.url, "--api-key", "sk-pm-wrong")
    assert done.returncode == 1
    assert done.stderr.startswith("error: authentication_error: ")
    assert done.stdout == ""


def test_an_unreachable_server_exits_1(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = run_cli("generate", "a chef", "--base-url", f"http://127.0.0.1:{port}", "--api-key", "k")
    assert done.returncode == 1
    assert done.stderr.startswith("error: api_error: could not reach")


def test_a_missing_task_is_a_usage_error() -> None:
    done = run_cli("generate")
    assert done.returncode == 2
    assert "Missing argument 'TASK'" in done.stderr


def test_a_missing_prompt_file_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("improve", str(tmp_path / "nope.txt"))
    assert done.returncode == 2


def test_templatize_human_output_shows_template_system_and_variable_values() -> None:
    with ScriptedAPIServer() as scripted:
        scripted.answer(200, TEMPLATIZE_BODY)
        done = run_cli(
            "templatize",
            "-",
            "--base-url",
            scripted.root_url,
            "--api-key",
            "k",
            stdin="Translate hello to German",
        )
        sent = scripted.requests[0]
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Translate {{WORD}} to {{TARGET_LANGUAGE}}" in out
    assert "system" in out and "English to {{TARGET_LANGUAGE}} translator" in out
    assert "variable values" in out
    assert "{{WORD}}" in out and "hello" in out and "German" in out
    assert "490 input + 61 output tokens" in out
    assert sent == {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Translate hello to German"}]}
        ]
    }


def test_generate_human_output_shows_the_prefill_apart_from_the_prompt() -> None:
    with ScriptedAPIServer() as scripted:
        scripted.answer(200)  # a prompt and an assistant prefill
        done = run_cli("generate", "a chef", "--base-url", scripted.root_url, "--api-key", "k")
    assert done.returncode == 0, done.stderr
    prompt_at = done.stdout.index("Plan meals for {{CUSTOMER}}")
    prefill_at = done.stdout.index("prefill")
    assert prompt_at < prefill_at < done.stdout.index("<plan>")


def test_in_process_templatize_needs_no_server_and_prints_the_same_shape(
    server: LivePromptmill,
) -> None:
    # Only the backend env (the fake OpenAI) is shared with the live server; no --base-url.
    done = run_cli(
        "templatize",
        "-",
        "--in-process",
        "--json",
        stdin="Translate hello to German",
        env=server.backend_env(),
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert set(body) == {"messages", "system", "usage", "variable_values"}
    assert body["usage"] and body["usage"][0]["input_tokens"] > 0
