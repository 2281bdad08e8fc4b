"""Every benchmark script runs end to end in ``--quick`` mode, so none of them can rot.

Each runs as a subprocess, exactly as a person would run it, writing into a temporary
results folder (never over the committed results). Local-model parts use the tiny
embedded SmolLM2-135M; the quality benchmark drives the engine against the fake
OpenAI server (real HTTP on loopback), which answers instantly; the overhead and eval
benchmarks start that fake and ``promptmill serve`` as processes of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAIServer

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_bench(
    name: str, results: Path, env_overrides: dict[str, str], *args: str, output: str = ""
) -> dict[str, Any]:
    """Run ``python -m bench.<name> --quick``; return its JSON after checking exit and files.

    ``output`` names the results file when it is not the benchmark's own name.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "PROMPTMILL_HOME": str(results / "home"),
        "PROMPTMILL_LOCAL_MODEL": "smollm2-135m",
        # The 2-core CI box is shared; the quick runs measure nothing, they must only finish.
        "PROMPTMILL_REQUEST_TIMEOUT": "600",
        **env_overrides,
    }
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--quick", "--results-dir", str(results), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    output = output or name
    assert (results / f"{output}.md").read_text().startswith(f"# {output} benchmark")
    data: dict[str, Any] = json.loads((results / f"{output}.json").read_text())
    assert data["benchmark"] == output
    assert data["quick"] is True
    assert {"date", "nproc", "cpu_model"} <= set(data["machine"])
    return data


def test_quality_quick_scores_every_task_with_every_check(tmp_path: Path) -> None:
    with FakeOpenAIServer() as fake:
        data = run_bench(
            "quality",
            tmp_path,
            {
                "PROMPTMILL_OPENAI_BASE_URL": fake.base_url,
                "PROMPTMILL_OPENAI_API_KEY": "test",
            },
            "--backend",
            "openai",
        )
    (run,) = data["backends"]
    assert run["backend"] == "openai"
    assert run["tasks"] == len(run["items"]) == 4
    assert {"structural_pass_rate", "mean_score", "check_pass_rates", "seconds_per_task"} <= set(
        run
    )
    assert set(run["check_pass_rates"]) >= {"no_chatter", "tags_balanced", "on_topic"}
    assert len(fake.requests) >= run["tasks"] - run["errors"]


def test_improve_quick_checks_every_case(tmp_path: Path) -> None:
    with FakeOpenAIServer() as fake:
        data = run_bench(
            "improve",
            tmp_path,
            {
                "PROMPTMILL_OPENAI_BASE_URL": fake.base_url,
                "PROMPTMILL_OPENAI_API_KEY": "test",
            },
            "--backend",
            "openai",
        )
    (run,) = data["backends"]
    assert run["cases"] == len(run["items"]) == 2
    assert {"specifics_kept_rate", "all_kept_rate", "feedback_applied_rate"} <= set(run)
    assert all("kept" in item or "error" in item for item in run["items"])
    assert len(fake.requests) >= run["cases"] - run["errors"]


def test_downstream_quick_answers_every_item_with_both_arms(tmp_path: Path) -> None:
    # One label set and the date set cover both extractors; each set costs a generation.
    data = run_bench(
        "downstream",
        tmp_path,
        {},
        "--sets",
        "sentiment,dates",
        "--limit",
        "2",
        "--max-tokens",
        "24",
    )
    assert data["model"] == "smollm2-135m"
    assert [s["name"] for s in data["sets"]] == ["sentiment", "dates"]
    for task_set in data["sets"]:
        assert task_set["items"] == len(task_set["results"]) == 2
        assert {"accuracy_generated", "accuracy_bare", "ratio", "unparsed"} <= set(task_set)
        assert 0.0 <= task_set["accuracy_bare"] <= 1.0
        assert all(row["bare"]["reply"] for row in task_set["results"])
        # SmolLM2-135M sometimes cannot write a valid plan; the script must then say so
        # and skip arm (a) rather than score an empty prompt.
        if task_set["generate_error"]:
            assert task_set["accuracy_generated"] is None and task_set["ratio"] is None
            assert all("generated" not in row for row in task_set["results"])
        else:
            assert 0.0 <= task_set["accuracy_generated"] <= 1.0
            assert all(row["generated"]["reply"] for row in task_set["results"])


def test_local_quick_measures_both_sides_on_the_same_model(tmp_path: Path) -> None:
    data = run_bench("local", tmp_path, {})
    assert data["model"] == "smollm2-135m"
    for side in ("promptmill", "direct"):
        assert data[side]["tokens_median"] > 0
        assert data[side]["tokens_per_second_median"] > 0
    assert data["tokens_per_second_ratio"] > 0
    assert {"promptmill_llama_seconds", "direct_seconds"} <= set(data["load"])


def test_local_generate_quick_sets_generate_against_the_decode_bound_and_counts_reuse(
    tmp_path: Path,
) -> None:
    data = run_bench("local", tmp_path, {}, "generate", output="local_generate")
    assert data["raw_decode_tokens_per_second"] > 0
    # SmolLM2 rarely writes a valid plan: a failed task is kept with its error.
    [row] = data["runs"]
    assert "error" in row or (row["over_decode_bound"] > 0 and 0 <= row["reused_share"] <= 1)
    assert set(data["interleaved"]) == {"states_on", "states_off"}


def test_local_grammar_quick_compares_constrained_and_free_decoding(tmp_path: Path) -> None:
    data = run_bench("local", tmp_path, {}, "grammar", output="local_grammar")
    assert {row["arm"] for row in data["runs"]} == {
        "free",
        "constrained",
        "constrained-grammar-first",
    }
    assert data["constrained_over_free"] > 0


def test_local_lookup_quick_checks_prompt_lookup_keeps_the_greedy_output(tmp_path: Path) -> None:
    data = run_bench("local", tmp_path, {}, "lookup", output="local_lookup")
    assert set(data["summary"]) == {"plain", "lookup-10"}
    assert all(arm["tokens_per_second_median"] > 0 for arm in data["summary"].values())


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
def test_overhead_quick_loads_both_servers_at_each_level_and_one_and_two_workers(
    tmp_path: Path,
) -> None:
    data = run_bench("overhead", tmp_path, {})
    assert [level["concurrency"] for level in data["levels"]] == [1, 4]
    for level in data["levels"]:
        for side in ("promptmill", "bare"):
            assert level[side]["ok"] > 0
            assert {"p50", "p99"} <= set(level[side]["latency_ms"])
        assert level["ratios"]["requests_per_second"] > 0
    assert [run["workers"] for run in data["workers"]] == [1, 2]
    for run in data["workers"]:
        assert run["concurrency"] == 4
        assert run["load"]["ok"] > 0 and run["load"]["errors"] == 0


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups and signals")
def test_reliability_quick_kills_and_hangs_the_backend_and_loses_no_record(
    tmp_path: Path,
) -> None:
    data = run_bench("reliability", tmp_path, {})
    for phase in ("killed", "hung"):
        assert data[phase]["requests"] == 40
        assert data[phase]["error_types"] == {"overloaded_error": 40}
        assert data[phase]["server_errors_500"] == data[phase]["leaked_backend_address"] == 0
    assert data["hung"]["get_status_ms"]["p99"] < 1000
    assert data["records"]["lost"] == 0
    big = data["big_bodies"]
    assert big["statuses"].get("200", 0) >= 1 and big["peak_increase_mb"] > 0


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
def test_eval_quick_runs_both_sides_on_the_fake_backend(tmp_path: Path) -> None:
    data = run_bench("eval", tmp_path, {})
    assert "local" not in data  # quick mode never loads the embedded model
    fake = data["fake"]
    assert fake["cases"] == 12 and len(fake["rounds"]) == 1
    (round_,) = fake["rounds"]
    for side in ("promptmill", "reference"):
        assert round_[side]["cases"] == 12
        assert round_[side]["errors"] == 0
        assert round_[side]["cases_per_second"] > 0
        # The fake echoes the prompt, which names both labels: every case passes on both
        # sides, so both graded the same outputs the same way.
        assert round_[side]["pass_rate"] == 1.0
    assert fake["ratio"] > 0
    assert round_["promptmill"]["get_root_ms"]["samples"] > 0


def test_bigbench_quick_answers_every_item_under_three_arms(tmp_path: Path) -> None:
    # Two tasks; the optimizer trains on three items with a budget of eight calls.
    data = run_bench("bigbench", tmp_path, {}, "--max-tokens", "24")
    assert data["model"] == "smollm2-135m"
    assert [t["task"] for t in data["tasks"]] == ["snarks", "hyperbaton"]
    for task in data["tasks"]:
        assert task["items"] == 2 and task["train_items"] == 3
        assert set(task["accuracy"]) == {"bare", "generated", "optimized"}
        assert 0.0 <= task["accuracy"]["bare"] <= 1.0
        assert len(task["arms"]["bare"]["rows"]) == 2
        optimized = task["arms"]["optimized"]
        # The optimizer can fail only by a backend fault; its budget holds either way.
        if "error" not in optimized:
            assert optimized["write_calls"] <= 8
            assert optimized["train_score"] >= optimized["original_train_score"]
        # SmolLM2-135M sometimes cannot write a valid plan: the arm then says so.
        generated = task["arms"]["generated"]
        assert ("error" in generated) == (task["accuracy"]["generated"] is None)
    assert set(data["overall"]["mean_accuracy"]) == {"bare", "generated", "optimized"}
