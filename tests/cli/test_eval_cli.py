"""``promptmill prompts|cases|eval`` run as real subprocesses.

Against a real promptmill server with its evaluation queue, on the fake OpenAI backend
(answers repeat the prompt's words: the chef prompt's output names the case's food,
the vague prompt's never does), and in-process with no server at all.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptmill import Client
from tests.cli.test_prompt_cli import PROMPTMILL, run_cli
from tests.conftest import RunningServer, running_promptmill

CHEF_TEXT = "Suggest one dish made with {{FOOD}}.\n"
VAGUE_TEXT = "Say anything at all.\n"
CASES_CSV = "FOOD,expected\neggs,eggs\nrice,rice\nlentils,lentils\ntofu,tofu\nkale,kale\n"
_names = (f"cli{n}" for n in itertools.count())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_promptmill(Path(tmp_path_factory.mktemp("evalcli"))) as running:
        yield running


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "chef": tmp_path / "chef.txt",
        "vague": tmp_path / "vague.txt",
        "cases": tmp_path / "cases.csv",
    }
    paths["chef"].write_text(CHEF_TEXT, encoding="utf-8")
    paths["vague"].write_text(VAGUE_TEXT, encoding="utf-8")
    paths["cases"].write_text(CASES_CSV, encoding="utf-8")
    return paths


def remote(server: RunningServer) -> list[str]:
    return ["--base-url", server.base_url, "--api-key", server.api_key]


def in_process_env(server: RunningServer, home: Path) -> dict[str, str]:
    """The environment that makes an in-process promptmill use the server's fake OpenAI."""
    return {
        "PROMPTMILL_BACKEND": "openai",
        "PROMPTMILL_OPENAI_BASE_URL": server.fake.base_url,
        "PROMPTMILL_OPENAI_API_KEY": "test",
        "PROMPTMILL_HOME": str(home),
    }


# --- prompts ------------------------------------------------------------------------


def test_prompts_save_reads_a_text_file_and_reports_the_version(
    server: RunningServer, files: dict[str, Path]
) -> None:
    name = next(_names)
    done = run_cli("prompts", "save", name, str(files["chef"]), *remote(server))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{name}@1 saved (variables: FOOD)"


def test_prompts_save_takes_a_prompt_tools_json_answer_from_stdin(server: RunningServer) -> None:
    generated = run_cli("generate", "a chef for a meal prep service", "--json", *remote(server))
    assert generated.returncode == 0, generated.stderr
    name = next(_names)
    saved = run_cli("prompts", "save", name, "-", "--json", *remote(server), stdin=generated.stdout)
    assert saved.returncode == 0, saved.stderr
    answer = json.loads(generated.stdout)
    version = json.loads(saved.stdout)
    assert (version["messages"], version["system"]) == (answer["messages"], answer["system"])


def test_prompts_save_refuses_json_that_is_no_prompt(server: RunningServer) -> None:
    done = run_cli("prompts", "save", "x", "-", *remote(server), stdin='{"task": "a chef"}')
    assert done.returncode == 2
    assert "is JSON without a 'messages' list" in done.stderr


def test_generate_save_keeps_the_generated_prompt_in_one_step(server: RunningServer) -> None:
    name = next(_names)
    done = run_cli("generate", "a chef", "--json", "--save", name, *remote(server))
    assert done.returncode == 0, done.stderr
    assert f"Saved as {name}@1" in done.stderr
    shown = run_cli("prompts", "show", f"{name}@1", "--json", *remote(server))
    assert json.loads(shown.stdout)["messages"] == json.loads(done.stdout)["messages"]


def test_generate_save_cannot_be_combined_with_in_process(server: RunningServer) -> None:
    done = run_cli("generate", "a chef", "--save", "x", "--in-process", *remote(server))
    assert done.returncode == 2
    assert "--save" in done.stderr and "--in-process" in done.stderr


def test_prompts_list_show_and_diff_follow_the_versions(
    server: RunningServer, files: dict[str, Path]
) -> None:
    name = next(_names)
    run_cli("prompts", "save", name, str(files["chef"]), *remote(server))
    files["chef"].write_text("Suggest two dishes made with {{FOOD}}.\n", encoding="utf-8")
    run_cli("prompts", "save", name, str(files["chef"]), *remote(server))

    listed = run_cli("prompts", "list", *remote(server))
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if f" {name} " in line]
    assert [cell.strip() for cell in row.split("│")[2:4]] == ["@2", "2"]

    shown = run_cli("prompts", "show", name, *remote(server))
    assert shown.returncode == 0, shown.stderr
    assert f"{name}@2" in shown.stdout and "Suggest two dishes made with {{FOOD}}." in shown.stdout

    diff = run_cli("prompts", "diff", name, "1", "2", *remote(server))
    assert diff.returncode == 0, diff.stderr
    assert "-Suggest one dish made with {{FOOD}}." in diff.stdout
    assert "+Suggest two dishes made with {{FOOD}}." in diff.stdout


def test_prompts_show_of_an_unknown_prompt_is_an_api_error(server: RunningServer) -> None:
    done = run_cli("prompts", "show", "no-such-prompt@1", *remote(server))
    assert done.returncode == 1
    assert done.stderr.startswith("error: not_found_error:")


# --- cases --------------------------------------------------------------------------


def test_cases_generate_writes_a_csv_with_a_column_per_variable_and_saves_a_dataset(
    server: RunningServer, files: dict[str, Path], tmp_path: Path
) -> None:
    name = next(_names)
    run_cli("prompts", "save", name, str(files["chef"]), *remote(server))
    output = tmp_path / "generated.csv"
    done = run_cli(
        "cases", "generate", name, "-n", "3", "-o", str(output), "--save-as", name, *remote(server)
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8"))))
    assert 1 <= len(rows) <= 3 and all(set(row) == {"FOOD"} and row["FOOD"] for row in rows)
    assert f"Wrote {len(rows)} cases to {output}" in done.stderr
    assert f"Saved as dataset {name}" in done.stderr


def test_cases_generate_refuses_an_output_that_is_neither_csv_nor_jsonl(
    server: RunningServer, files: dict[str, Path], tmp_path: Path
) -> None:
    output = tmp_path / "cases.txt"
    done = run_cli("cases", "generate", str(files["chef"]), "-o", str(output), *remote(server))
    assert done.returncode == 2
    assert "must end in .csv or .jsonl" in done.stderr
    assert not output.exists()


def test_cases_generate_in_process_needs_no_server(
    server: RunningServer, files: dict[str, Path], tmp_path: Path
) -> None:
    output = tmp_path / "cases.jsonl"
    done = run_cli(
        "cases",
        "generate",
        str(files["chef"]),
        "-n",
        "2",
        "-o",
        str(output),
        "--in-process",
        env=in_process_env(server, tmp_path),
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert lines and all(set(line["vars"]) == {"FOOD"} for line in lines)


# --- eval ---------------------------------------------------------------------------


def _eval_json(*args: str) -> dict[str, object]:
    done = run_cli("eval", *args, "--json")
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_eval_with_five_losses_out_of_five_finds_no_significant_difference(
    server: RunningServer, files: dict[str, Path]
) -> None:
    done = run_cli(
        "eval", str(files["chef"]), "--cases", str(files["cases"]), "--grader", "contains",
        "--compare", str(files["vague"]), *remote(server),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no significant difference (p ≥ 0.05)" in done.stdout  # McNemar p = 0.0625


def test_eval_compares_two_prompt_files_with_pass_rates_and_p_values(
    server: RunningServer, files: dict[str, Path]
) -> None:
    report = _eval_json(
        str(files["chef"]),
        "--cases",
        str(files["cases"]),
        "--grader",
        "contains",
        "--compare",
        str(files["vague"]),
        *remote(server),
    )
    assert report["variants"] == ["chef.txt", "vague.txt"]
    summary = report["summary"]
    assert isinstance(summary, list)
    assert [s["pass_rate"] for s in summary] == [1.0, 0.0]
    [paired] = report["comparison"]  # type: ignore[misc]
    assert (paired["n"], paired["wins"], paired["losses"]) == (5, 0, 5)
    assert paired["mcnemar_p"] == pytest.approx(2 * 0.5**5)
    results = report["results"]
    assert isinstance(results, list) and len(results) == 10
    assert report["run"]["status"] == "completed"  # type: ignore[index]


def test_eval_shows_outputs_and_grades_side_by_side_then_summary_and_comparison(
    server: RunningServer, files: dict[str, Path]
) -> None:
    foods = ("eggs", "rice", "lentils", "tofu", "kale", "figs", "leeks", "beans", "oats", "corn")
    files["cases"].write_text("FOOD\n" + "\n".join(foods) + "\n", encoding="utf-8")
    done = run_cli(
        "eval",
        str(files["chef"]),
        "--cases",
        str(files["cases"]),
        "--grader",
        "contains:eggs",
        "--grader",
        "regex:dish",
        "--compare",
        str(files["vague"]),
        *remote(server),
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "results" in out and "summary" in out and "comparison (paired)" in out
    assert "chef.txt" in out and "vague.txt" in out
    assert "FOOD=eggs" in out
    assert "✓ regex" in out and "✗ regex" in out
    assert "✓ contains" in out and "✗ contains" in out  # only the eggs case contains eggs
    assert "10%" in out and "0%" in out
    assert "worse than chef.txt (p < 0.05)" in out  # every case scores lower: Wilcoxon


def test_eval_runs_a_saved_prompt_version_on_a_saved_dataset(
    server: RunningServer, files: dict[str, Path]
) -> None:
    name = next(_names)
    run_cli("prompts", "save", name, str(files["chef"]), *remote(server))
    run_cli("cases", "generate", name, "-n", "2", "--save-as", name, *remote(server))
    report = _eval_json(f"{name}@1", "--dataset", name, "--grader", "regex:dish", *remote(server))
    assert report["variants"] == [f"{name}@1"]
    assert report["summary"][0]["pass_rate"] == 1.0  # type: ignore[index]


def test_eval_in_process_gives_the_same_report_without_a_server(
    server: RunningServer, files: dict[str, Path], tmp_path: Path
) -> None:
    done = run_cli(
        "eval",
        str(files["chef"]),
        "--cases",
        str(files["cases"]),
        "--grader",
        "contains",
        "--compare",
        str(files["vague"]),
        "--in-process",
        "--json",
        env=in_process_env(server, tmp_path),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["run"] is None
    assert [s["pass_rate"] for s in report["summary"]] == [1.0, 0.0]
    assert report["comparison"][0]["losses"] == 5
    first = report["results"][0]
    assert (first["variant"], first["vars"], first["expected"]) == (
        "chef.txt",
        {"FOOD": "eggs"},
        "eggs",
    )


def test_eval_with_an_unknown_grader_is_a_usage_error_naming_the_kinds(
    server: RunningServer, files: dict[str, Path]
) -> None:
    done = run_cli(
        "eval", str(files["chef"]), "--cases", str(files["cases"]), "--grader", "fuzzy",
        *remote(server),
    )  # fmt: skip
    assert done.returncode == 2
    assert "--grader" in done.stderr
    assert "unknown grader 'fuzzy'; choose one of exact, contains, regex, json" in done.stderr


def test_eval_with_an_invalid_regex_is_an_api_error_naming_the_field(
    server: RunningServer, files: dict[str, Path]
) -> None:
    done = run_cli(
        "eval", str(files["chef"]), "--cases", str(files["cases"]), "--grader", "regex:(oops",
        *remote(server),
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: invalid_request_error: graders.0.pattern: invalid regular expression"
    )


def test_eval_in_process_reports_an_invalid_regex_the_same_way(
    server: RunningServer, files: dict[str, Path], tmp_path: Path
) -> None:
    done = run_cli(
        "eval", str(files["chef"]), "--cases", str(files["cases"]), "--grader", "regex:(oops",
        "--in-process", env=in_process_env(server, tmp_path),
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(
        "error: invalid_request_error: graders.0.pattern: invalid regular expression"
    )


def test_eval_needs_cases_or_a_dataset(server: RunningServer, files: dict[str, Path]) -> None:
    done = run_cli("eval", str(files["chef"]), *remote(server))
    assert done.returncode == 2
    assert "--cases FILE or --dataset NAME" in done.stderr


def test_eval_names_the_case_that_leaves_a_variable_unfilled(
    server: RunningServer, files: dict[str, Path]
) -> None:
    files["cases"].write_text("DRINK\ntea\n", encoding="utf-8")
    done = run_cli("eval", str(files["chef"]), "--cases", str(files["cases"]), *remote(server))
    assert done.returncode == 1
    assert "cases.0.vars: missing variable FOOD" in done.stderr


def test_eval_names_the_row_of_a_malformed_cases_file(
    server: RunningServer, files: dict[str, Path]
) -> None:
    files["cases"].write_text("FOOD,expected\neggs\n", encoding="utf-8")
    done = run_cli("eval", str(files["chef"]), "--cases", str(files["cases"]), *remote(server))
    assert done.returncode == 2
    assert "row 1 has 1 fields, the header has 2" in done.stderr


def test_eval_of_a_prompt_that_is_neither_a_file_nor_a_name_is_a_usage_error(
    server: RunningServer, files: dict[str, Path]
) -> None:
    done = run_cli("eval", "no such file.txt", "--cases", str(files["cases"]), *remote(server))
    assert done.returncode == 2
    assert "neither a file nor a saved prompt's NAME[@VERSION]" in done.stderr


def test_eval_of_an_unknown_saved_prompt_is_an_api_error(
    server: RunningServer, files: dict[str, Path]
) -> None:
    done = run_cli("eval", "nobody@3", "--cases", str(files["cases"]), *remote(server))
    assert done.returncode == 1
    assert done.stderr.startswith("error: not_found_error: variants.0.prompt.name:")


def test_eval_in_process_needs_a_prompt_file(
    server: RunningServer, files: dict[str, Path], tmp_path: Path
) -> None:
    done = run_cli(
        "eval", "chef@1", "--cases", str(files["cases"]), "--in-process",
        env=in_process_env(server, tmp_path),
    )  # fmt: skip
    assert done.returncode == 2
    assert "with --in-process there is no server" in done.stderr


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_eval_cancels_the_run_on_the_server(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    # No workers: the run stays queued, so the command is still waiting when interrupted.
    with running_promptmill(tmp_path / "idle", eval_workers=0) as idle:
        command = [PROMPTMILL, "eval", str(files["chef"]), "--cases", str(files["cases"])]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTMILL_")}
        process = subprocess.Popen(
            [*command, *remote(idle)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Ctrl-C as a shell delivers it: a child inherits an ignored SIGINT, and then
            # Python never raises KeyboardInterrupt, whatever the command does.
            preexec_fn=_default_sigint,
        )
        try:
            with Client(idle.base_url, api_key=idle.api_key) as client:
                deadline = time.monotonic() + 30
                while not client.list_runs() and time.monotonic() < deadline:
                    time.sleep(0.1)
                [run] = client.list_runs()
                time.sleep(1.0)  # the command is now following the run's events
                process.send_signal(signal.SIGINT)
                _, stderr = process.communicate(timeout=30)
                assert client.run(run.id).status == "cancelled"
        finally:
            process.kill()
    assert process.returncode == 130
    assert f"Cancelled run {run.id}" in stderr.decode()
