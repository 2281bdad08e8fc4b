"""Improve benchmark: does improve_prompt keep what the original said and apply the feedback?

For every case in ``cases.json`` the engine improves the prompt with the feedback, in
process, exactly as the server would call it. Deterministic checks (``checks.py``) read
the improved prompt: every must-keep specific of the original is still said, the
feedback's marks are present, and feedback about the output never turned into a
description of an input. The report gives the share of specifics kept, of cases with
everything kept, of cases with the feedback applied, errors and seconds per case.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.improve.checks import score_case
from bench.report import base_parser, markdown_table, percentile, write_results
from promptmill.backends.registry import backend_names

CASES_FILE = Path(__file__).resolve().parent / "cases.json"
QUICK_CASE_IDS = ("ticket-json", "barista-persona")


def load_cases(path: Path = CASES_FILE) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(path.read_text())["cases"]
    return cases


def run_backend(backend_name: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    from promptmill.config import Settings
    from promptmill.engine.types import PromptMessage
    from promptmill.errors import PromptmillError
    from promptmill.startup import build_engine

    engine = build_engine(Settings(backend=backend_name))
    items: list[dict[str, Any]] = []
    for index, case in enumerate(cases, 1):
        t0 = time.perf_counter()
        item: dict[str, Any] = {"id": case["id"]}
        try:
            result = engine.improve(
                [PromptMessage.of("user", case["prompt"])], feedback=case["feedback"]
            )
        except PromptmillError as exc:
            item.update(error=f"{exc.error_type}: {exc.message}", seconds=time.perf_counter() - t0)
            items.append(item)
            print(f"[{index}/{len(cases)}] {case['id']}: ERROR {exc}", file=sys.stderr)
            continue
        text = "\n".join(m.text for m in result.messages) + "\n" + result.system
        score = score_case(case, text)
        item.update(
            seconds=time.perf_counter() - t0,
            model_calls=len(result.usage),
            output_tokens=sum(u.output_tokens for u in result.usage),
            prompt=text,
            **score,
        )
        items.append(item)
        print(
            f"[{index}/{len(cases)}] {case['id']}: kept {score['kept']}/{score['must_keep']} "
            f"applied {score['applied']} missing={score['missing'] or '-'} "
            f"{item['seconds']:.1f}s {item['model_calls']} calls",
            file=sys.stderr,
        )
    scored = [item for item in items if "kept" in item]
    seconds = [item["seconds"] for item in items]
    n = len(items)
    total_specifics = sum(len(case["must_keep"]) for case in cases)
    return {
        "backend": backend_name,
        "model": getattr(engine.backend, "model", "?"),
        "cases": n,
        "errors": n - len(scored),
        "specifics_kept_rate": (
            sum(item["kept"] for item in scored) / total_specifics if total_specifics else 0.0
        ),
        "all_kept_rate": sum(item["all_kept"] for item in scored) / n if n else 0.0,
        "feedback_applied_rate": sum(item["applied"] for item in scored) / n if n else 0.0,
        "model_calls_mean": (
            sum(item["model_calls"] for item in scored) / len(scored) if scored else 0.0
        ),
        "seconds_per_case": {
            "mean": sum(seconds) / n if n else 0.0,
            "p50": percentile(seconds, 50),
            "max": max(seconds, default=0.0),
        },
        "items": items,
    }


def render_markdown(runs: list[dict[str, Any]]) -> str:
    headers = ["figure", *(f"{run['backend']} ({run['model']})" for run in runs)]
    rows: list[list[Any]] = [
        ["specifics kept", *(f"{100 * run['specifics_kept_rate']:.0f}%" for run in runs)],
        ["cases with every specific kept", *(f"{100 * run['all_kept_rate']:.0f}%" for run in runs)],
        ["feedback applied", *(f"{100 * run['feedback_applied_rate']:.0f}%" for run in runs)],
        ["errors", *(f"{run['errors']}/{run['cases']}" for run in runs)],
        ["model calls per case (mean)", *(round(run["model_calls_mean"], 2) for run in runs)],
        ["seconds per case (mean / p50 / max)"]
        + ["{mean:.1f} / {p50:.1f} / {max:.1f}".format(**run["seconds_per_case"]) for run in runs],
    ]
    return markdown_table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "improve benchmark")
    parser.add_argument(
        "--backend",
        action="append",
        choices=backend_names(),
        help="backend to run, repeatable (default: local); configured by PROMPTMILL_* variables",
    )
    parser.add_argument("--cases", help="comma-separated case ids (default: all)")
    args = parser.parse_args(argv)
    cases = load_cases()
    wanted = args.cases.split(",") if args.cases else (list(QUICK_CASE_IDS) if args.quick else None)
    if wanted:
        by_id = {case["id"]: case for case in cases}
        unknown = [case_id for case_id in wanted if case_id not in by_id]
        if unknown:
            parser.error(f"unknown case id(s): {', '.join(unknown)}")
        cases = [by_id[case_id] for case_id in wanted]
    runs = [run_backend(name, cases) for name in (args.backend or ["local"])]
    markdown = render_markdown(runs)
    data = {"quick": args.quick, "case_count": len(cases), "backends": runs}
    json_path, _ = write_results("improve", data, markdown, args.results_dir)
    print(markdown)
    print(f"\nwrote {json_path}")
    return 0
