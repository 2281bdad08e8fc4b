"""Prompt-quality benchmark: generate a prompt for every task in ``tasks.json`` and score it.

For each requested backend the engine runs in-process (``PromptEngine(make_backend(...))``),
exactly as the server would call it, so the figures are the generator's own quality
and speed, without HTTP. Each prompt goes through ``scorer.score_prompt``; the report
gives per-check pass rates per backend, the structural pass rate (non-empty, valid
variables, balanced tags, no chatter), the mean score and the time per task.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args

from bench.quality.scorer import ALL_CHECKS, GeneratedPrompt, score_prompt
from bench.report import base_parser, markdown_table, percentile, save_chart, write_results
from promptmill.backends.registry import backend_names
from promptmill.types import GenerateMode

TASKS_FILE = Path(__file__).resolve().parent / "tasks.json"
# A quick run covers the awkward corners: tiny task, injection, non-English, a classic.
QUICK_TASK_IDS = ("short-chef", "sentiment-reviews", "injection-haiku", "fr-recettes")


def load_tasks(path: Path = TASKS_FILE) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = json.loads(path.read_text())["tasks"]
    return tasks


def _build_engine(backend_name: str, generate_mode: str | None) -> Any:
    """An engine over the named backend, configured by the usual PROMPTMILL_* variables
    (``generate_mode`` overrides ``PROMPTMILL_GENERATE_MODE``)."""
    from promptmill.config import Settings
    from promptmill.startup import build_engine

    chosen = {"generate_mode": generate_mode} if generate_mode else {}
    return build_engine(Settings(backend=backend_name, **chosen))


def run_backend(
    backend_name: str,
    tasks: list[dict[str, Any]],
    target_model: str | None,
    generate_mode: str | None = None,
) -> dict[str, Any]:
    """Generate and score every task on one backend; errors count as failed tasks."""
    from promptmill.errors import PromptmillError

    started = time.perf_counter()
    engine = _build_engine(backend_name, generate_mode)
    setup_seconds = time.perf_counter() - started
    items: list[dict[str, Any]] = []
    for index, task in enumerate(tasks, 1):
        t0 = time.perf_counter()
        item: dict[str, Any] = {"id": task["id"], "category": task["category"]}
        try:
            result = engine.generate(task["task"], target_model)
        except PromptmillError as exc:
            item.update(error=f"{exc.error_type}: {exc.message}", seconds=time.perf_counter() - t0)
            items.append(item)
            print(
                f"[{backend_name} {index}/{len(tasks)}] {task['id']}: ERROR {exc}", file=sys.stderr
            )
            continue
        seconds = time.perf_counter() - t0
        body = result.model_dump()
        item.update(seconds=seconds, **score_item(task, body, target_model))
        items.append(item)
        print(
            f"[{backend_name} {index}/{len(tasks)}] {task['id']}: score {item['score']:.2f} "
            f"structural {'ok' if item['structural_ok'] else 'FAIL'} {seconds:.1f}s "
            f"failed={','.join(item['failed']) or '-'}",
            file=sys.stderr,
        )
    return summarise(backend_name, engine, setup_seconds, items)


def score_item(
    task: dict[str, Any], body: dict[str, Any], target_model: str | None
) -> dict[str, Any]:
    """The figures of one generated prompt (``body``: generate's answer) for ``task``."""
    score = score_prompt(
        GeneratedPrompt.from_response(body),
        keywords=task.get("keywords", []),
        injection_marker=task.get("injection_marker"),
        target_model=target_model,
        task=task["task"],
        language=task.get("language"),
    )
    return {
        "score": score.score,
        "structural_ok": score.structural_ok,
        "checks": score.checks,
        "failed": score.failed,
        "output_tokens": sum(u["output_tokens"] for u in body["usage"]),
        "input_tokens": sum(u["input_tokens"] for u in body["usage"]),
        "model_calls": len(body["usage"]),
        "prompt": body,
    }


def rescore(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (an earlier results file) with every stored prompt scored again.

    The scorer changes more often than a full run can be afforded (55 generates are
    about 40 minutes on two cores): the prompts are kept, so the checks can be re-run.
    """
    tasks = {task["id"]: task for task in load_tasks()}
    runs = []
    for run in data["backends"]:
        items = [
            {**item, **score_item(tasks[item["id"]], item["prompt"], data.get("target_model"))}
            if "prompt" in item
            else item
            for item in run["items"]
        ]
        model = SimpleNamespace(backend=SimpleNamespace(model=run["model"]))
        model.generate_mode = run.get("generate_mode", "plan")
        runs.append(summarise(run["backend"], model, run["setup_seconds"], items))
    return {**data, "backends": runs, "rescored": True}


def summarise(
    backend_name: str, engine: Any, setup_seconds: float, items: list[dict[str, Any]]
) -> dict[str, Any]:
    """Pass rates over the tasks where a check applies; errored tasks fail every check."""
    scored = [item for item in items if "checks" in item]
    check_rates: dict[str, float | None] = {}
    for name in ALL_CHECKS:
        applicable = [item["checks"][name] for item in scored if item["checks"][name] is not None]
        errored = len(items) - len(scored)
        total = len(applicable) + errored
        check_rates[name] = sum(applicable) / total if total else None
    seconds = [item["seconds"] for item in items]
    n = len(items)
    return {
        "backend": backend_name,
        "model": getattr(engine.backend, "model", "?"),
        "generate_mode": getattr(engine, "generate_mode", "plan"),
        "tasks": n,
        "errors": n - len(scored),
        "setup_seconds": setup_seconds,
        "structural_pass_rate": sum(item["structural_ok"] for item in scored) / n if n else 0.0,
        "mean_score": sum(item["score"] for item in scored) / n if n else 0.0,
        "check_pass_rates": check_rates,
        "seconds_per_task": {
            "mean": sum(seconds) / n if n else 0.0,
            "p50": percentile(seconds, 50),
            "max": max(seconds, default=0.0),
        },
        "output_tokens_mean": (
            sum(item["output_tokens"] for item in scored) / len(scored) if scored else 0.0
        ),
        "items": items,
    }


def render_markdown(runs: list[dict[str, Any]], chart: str | None) -> str:
    headers = [
        "check",
        *(f"{run['backend']} ({run['model']}, {run.get('generate_mode', 'plan')})" for run in runs),
    ]
    rows: list[list[Any]] = [
        [name, *(_pct(run["check_pass_rates"][name]) for run in runs)] for name in ALL_CHECKS
    ]
    rows.append(["**structural pass rate**", *(_pct(run["structural_pass_rate"]) for run in runs)])
    rows.append(["mean score (0-1)", *(round(run["mean_score"], 3) for run in runs)])
    rows.append(["errors", *(f"{run['errors']}/{run['tasks']}" for run in runs)])
    rows.append(
        ["seconds per task (mean / p50 / max)"]
        + ["{mean:.1f} / {p50:.1f} / {max:.1f}".format(**run["seconds_per_task"]) for run in runs]
    )
    rows.append(
        ["output tokens per task (mean)", *(round(run["output_tokens_mean"]) for run in runs)]
    )
    text = markdown_table(headers, rows)
    if chart:
        text += f"\n\n![score and time per task]({chart})\n"
    return text


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _draw(runs: list[dict[str, Any]]) -> Any:
    def draw(figure: Any) -> None:
        left, right = figure.subplots(1, 2)
        for run in runs:
            label = f"{run['backend']} ({run['model']})"
            scores = [item.get("score", 0.0) for item in run["items"]]
            left.hist(scores, bins=[i / 10 for i in range(11)], alpha=0.6, label=label)
            right.hist([item["seconds"] for item in run["items"]], bins=15, alpha=0.6, label=label)
        left.set(
            title="guidance score per task",
            xlabel="score (fraction of checks passed)",
            ylabel="tasks",
        )
        right.set(title="time per task", xlabel="seconds", ylabel="tasks")
        left.legend(fontsize=7)

    return draw


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "quality benchmark")
    parser.add_argument(
        "--backend",
        action="append",
        choices=backend_names(),
        help="backend to run, repeatable (default: local); configured by PROMPTMILL_* variables",
    )
    parser.add_argument(
        "--tasks", help="comma-separated task ids (default: all, or a few with --quick)"
    )
    parser.add_argument("--limit", type=int, help="only the first N tasks")
    parser.add_argument("--target-model", default=None, help="target_model sent with every task")
    parser.add_argument(
        "--rescore",
        type=Path,
        metavar="RESULTS_JSON",
        help="score the prompts stored in an earlier quality.json again (no model calls)",
    )
    parser.add_argument(
        "--generate-mode",
        choices=get_args(GenerateMode),
        help="plan (the model fills in a plan) or freeform (it writes the whole prompt); "
        "default: PROMPTMILL_GENERATE_MODE, else plan",
    )
    args = parser.parse_args(argv)

    if args.rescore:
        data = rescore(json.loads(args.rescore.read_text()))
        markdown = render_markdown(data["backends"], None)
        json_path, _ = write_results("quality", data, markdown, args.results_dir)
        print(markdown)
        print(f"\nwrote {json_path}")
        return 0

    tasks = load_tasks()
    wanted = args.tasks.split(",") if args.tasks else (list(QUICK_TASK_IDS) if args.quick else None)
    if wanted:
        by_id = {task["id"]: task for task in tasks}
        unknown = [task_id for task_id in wanted if task_id not in by_id]
        if unknown:
            parser.error(f"unknown task id(s): {', '.join(unknown)}")
        tasks = [by_id[task_id] for task_id in wanted]
    if args.limit:
        tasks = tasks[: args.limit]

    runs = [
        run_backend(name, tasks, args.target_model, args.generate_mode)
        for name in (args.backend or ["local"])
    ]
    chart = save_chart(args.results_dir / "quality.png", _draw(runs))
    markdown = render_markdown(runs, chart)
    data = {
        "quick": args.quick,
        "target_model": args.target_model,
        "generate_mode": args.generate_mode or "from PROMPTMILL_GENERATE_MODE",
        "task_count": len(tasks),
        "chart": chart,
        "backends": runs,
    }
    json_path, _ = write_results("quality", data, markdown, args.results_dir)
    print(markdown)
    print(f"\nwrote {json_path}")
    return 0
