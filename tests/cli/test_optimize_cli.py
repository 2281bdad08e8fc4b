"""``promptmill optimize``, run as a real subprocess against a live promptmill server
(engine on the fake OpenAI backend), and once in-process with no server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_prompt_cli import remote, run_cli
from tests.client.live_server import LivePromptmill

CSV = "FRUIT,expected\nbanana,yellow\ncherry,red\nlime,green\nplum,purple\nlemon,yellow\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePromptmill]:
    with LivePromptmill(Path(tmp_path_factory.mktemp("optimize-cli"))) as live:
        yield live


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Which colour is this fruit?\n\n{{FRUIT}}\n")
    cases = tmp_path / "cases.csv"
    cases.write_text(CSV)
    return str(prompt), str(cases)


def test_json_prints_exactly_the_api_response(
    server: LivePromptmill, files: tuple[str, str]
) -> None:
    prompt, cases = files
    done = run_cli(
        "optimize", prompt, "--cases", cases, "--grader", "contains", "--budget", "25",
        "--json", *remote(server),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["budget"] == 25 and body["calls"] <= 25
    assert body["original"]["messages"][0]["content"][0]["text"] == (
        "Which colour is this fruit?\n\n{{FRUIT}}"
    )
    assert body["candidates"][0]["label"] == "original"


def test_human_output_shows_candidates_prompt_scores_and_cost(
    server: LivePromptmill, files: tuple[str, str]
) -> None:
    prompt, cases = files
    done = run_cli(
        "optimize", prompt, "--cases", cases, "--grader", "exact", "--budget", "30",
        *remote(server),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for shown in ("candidates", "original", "few-shot", "training:", "held out:", "cost:"):
        assert shown in done.stdout
    assert "of 30 model calls" in done.stdout


def test_an_unknown_grader_shorthand_is_a_usage_error(files: tuple[str, str]) -> None:
    prompt, cases = files
    done = run_cli("optimize", prompt, "--cases", cases, "--grader", "fuzzy")
    assert done.returncode == 2
    assert "unknown grader 'fuzzy'" in done.stderr


def test_a_regex_grader_needs_its_pattern(files: tuple[str, str]) -> None:
    prompt, cases = files
    done = run_cli("optimize", prompt, "--cases", cases, "--grader", "regex")
    assert done.returncode == 2 and "regex: a value is needed" in done.stderr


def test_a_cases_file_must_be_csv_or_jsonl(tmp_path: Path, files: tuple[str, str]) -> None:
    prompt, _ = files
    other = tmp_path / "cases.txt"
    other.write_text(CSV)
    done = run_cli("optimize", prompt, "--cases", str(other), "--grader", "exact")
    assert done.returncode == 2 and ".csv or .jsonl" in done.stderr


def test_a_budget_too_small_is_reported_as_the_api_error(
    server: LivePromptmill, files: tuple[str, str]
) -> None:
    prompt, cases = files
    done = run_cli(
        "optimize", prompt, "--cases", cases, "--grader", "exact", "--budget", "2",
        *remote(server),
    )  # fmt: skip
    assert done.returncode == 1
    assert "error: invalid_request_error: budget: 2 calls cannot evaluate" in done.stderr


def test_in_process_runs_the_engine_without_a_server(
    server: LivePromptmill, files: tuple[str, str]
) -> None:
    prompt, cases = files
    done = run_cli(
        "optimize", prompt, "--cases", cases, "--grader", "contains", "--budget", "20",
        "--in-process", "--json", env=server.backend_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["calls"] <= 20
