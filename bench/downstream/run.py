"""Downstream benchmark: does a promptmill-generated prompt make the model answer better?

For each labelled set in ``sets.json``: promptmill generates a prompt for the set's
task description (local backend, in-process engine); then the same embedded model
answers every item twice, through promptmill's ``LocalBackend.chat`` at temperature 0:
(a) with the generated prompt filled with the item (rule in ``answers.fill_prompt``),
(b) with the bare task description followed by the item. One lenient extractor reads
both arms' answers. Reported: accuracy of (a) and (b), and the ratio (a)/(b).

``--reasoning-arm`` adds (c): the generated prompt with the instruction to reason step by
step in ``<thinking>`` tags before the final answer (``metaprompts.REASONING_INSTRUCTION``,
the one the optimizer tries), under its own ``--reasoning-max-tokens``. Comparing (a) and
(c) on the same items is how promptmill decides, by measurement, which task kinds get
reasoning (issue 9, item 2).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.downstream.answers import extract_iso_date, extract_label, fill_prompt
from bench.report import base_parser, markdown_table, ratio, save_chart, write_results

DOWNSTREAM_DIR = Path(__file__).resolve().parent
SETS_FILE = DOWNSTREAM_DIR / "sets.json"
QUICK_ITEMS = 3


def load_sets(path: Path = SETS_FILE) -> list[dict[str, Any]]:
    """The set definitions with their items loaded from the JSONL files."""
    sets: list[dict[str, Any]] = json.loads(path.read_text())["sets"]
    for task_set in sets:
        lines = (path.parent / task_set["file"]).read_text().splitlines()
        task_set["items"] = [json.loads(line) for line in lines if line.strip()]
    return sets


def extract(task_set: dict[str, Any], reply: str) -> str | None:
    if task_set["kind"] == "iso_date":
        return extract_iso_date(reply)
    return extract_label(reply, task_set["labels"])


def _ask(backend: Any, system: str, user: str, max_tokens: int, timeout: float) -> str:
    from promptmill.backends.base import ChatRequest, ChatTurn

    request = ChatRequest(
        turns=[ChatTurn(role="user", text=user)],
        system=system,
        max_tokens=max_tokens,
        temperature=0.0,
        timeout=timeout,
    )
    return str(backend.chat(request).text)


def run_set(
    engine: Any,
    task_set: dict[str, Any],
    items: list[dict[str, Any]],
    max_tokens: int,
    timeout: float,
    reasoning_max_tokens: int | None = None,
) -> dict[str, Any]:
    """Generate the set's prompt, then answer each item with both arms (three with
    ``reasoning_max_tokens``: the generated prompt told to reason first)."""
    from promptmill.engine.metaprompts import REASONING_INSTRUCTION
    from promptmill.errors import PromptmillError

    t0 = time.perf_counter()
    generate_error: str | None = None
    user_text = prefill = system = ""
    try:
        result = engine.generate(task_set["task"])
        user_text = "\n".join(m.text for m in result.messages if m.role == "user")
        prefill = "".join(m.text for m in result.messages if m.role == "assistant")
        system = result.system
    except PromptmillError as exc:
        # Without a generated prompt arm (a) cannot run; (b) still measures the model.
        generate_error = f"{exc.error_type}: {exc.message}"
    generate_seconds = time.perf_counter() - t0
    print(
        f"[{task_set['name']}] prompt generation took {generate_seconds:.1f}s"
        + (f": FAILED {generate_error}" if generate_error else ""),
        file=sys.stderr,
    )
    arm_names: tuple[str, ...] = ("bare",) if generate_error else ("generated", "bare")
    if reasoning_max_tokens and not generate_error:
        arm_names = (*arm_names, "reasoning")
    arm_tokens = {"generated": max_tokens, "bare": max_tokens, "reasoning": reasoning_max_tokens}

    rows: list[dict[str, Any]] = []
    for index, item in enumerate(items, 1):
        filled_user, filled_system = fill_prompt(user_text, system, item["input"], task_set["task"])
        arms = {
            "generated": (filled_system, filled_user),
            "bare": ("", f"{task_set['task']}\n\n{item['input']}"),
            "reasoning": (filled_system, f"{filled_user}\n\n{REASONING_INSTRUCTION}"),
        }
        row: dict[str, Any] = {"id": item["id"], "gold": item["label"]}
        for arm in arm_names:
            arm_system, arm_user = arms[arm]
            try:
                reply = _ask(
                    engine.backend, arm_system, arm_user, arm_tokens[arm] or max_tokens, timeout
                )
            except PromptmillError as exc:
                reply = ""
                row[f"{arm}_error"] = str(exc)
            predicted = extract(task_set, reply)
            row[arm] = {
                "reply": reply,
                "predicted": predicted,
                "correct": predicted == item["label"],
            }
        rows.append(row)
        predictions = " ".join(f"{arm}={row[arm]['predicted']}" for arm in arm_names)
        print(
            f"[{task_set['name']} {index}/{len(items)}] gold={item['label']} {predictions}",
            file=sys.stderr,
        )

    n = len(rows)
    accuracy: dict[str, float | None] = {"generated": None, "bare": None, "reasoning": None}
    unparsed: dict[str, int | None] = {"generated": None, "bare": None, "reasoning": None}
    for arm in arm_names:
        accuracy[arm] = sum(row[arm]["correct"] for row in rows) / n if n else 0.0
        unparsed[arm] = sum(row[arm]["predicted"] is None for row in rows)
    generated_accuracy, bare_accuracy = accuracy["generated"], accuracy["bare"]
    return {
        "name": task_set["name"],
        "task": task_set["task"],
        "items": n,
        "accuracy_generated": generated_accuracy,
        "accuracy_bare": bare_accuracy,
        "ratio": (
            ratio(generated_accuracy, bare_accuracy)
            if generated_accuracy is not None and bare_accuracy is not None
            else None
        ),
        "accuracy_reasoning": accuracy["reasoning"],
        "reasoning_max_tokens": reasoning_max_tokens if "reasoning" in arm_names else None,
        "unparsed": unparsed,
        "generate_error": generate_error,
        "generate_seconds": generate_seconds,
        "generated_prompt": {"user": user_text, "prefill": prefill, "system": system},
        "results": rows,
    }


def render_markdown(model: str, sets: list[dict[str, Any]], chart: str | None) -> str:
    rows = [
        [
            s["name"],
            s["items"],
            _pct(s["accuracy_generated"]),
            _pct(s["accuracy_bare"]),
            None if s["ratio"] is None else round(s["ratio"], 3),
            " / ".join(
                "n/a" if v is None else str(v)
                for v in (s["unparsed"]["generated"], s["unparsed"]["bare"])
            ),
        ]
        for s in sets
    ]
    text = f"Model: `{model}` (local backend, temperature 0)\n\n" + markdown_table(
        [
            "set",
            "items",
            "(a) generated prompt",
            "(b) bare task",
            "ratio (a)/(b)",
            "unparsed (a) / (b)",
        ],
        rows,
    )
    reasoned = [s for s in sets if s.get("accuracy_reasoning") is not None]
    if reasoned:
        text += (
            "\n\nReasoning against a direct answer (same generated prompt, plus the "
            "instruction to reason in `<thinking>` tags first):\n\n"
            + markdown_table(
                [
                    "set",
                    "items",
                    "(a) direct",
                    "(c) reasoning first",
                    "max tokens (c)",
                    "unparsed (c)",
                ],
                [
                    [
                        s["name"],
                        s["items"],
                        _pct(s["accuracy_generated"]),
                        _pct(s["accuracy_reasoning"]),
                        s["reasoning_max_tokens"],
                        s["unparsed"]["reasoning"],
                    ]
                    for s in reasoned
                ],
            )
        )
    for s in sets:
        if s["generate_error"]:
            text += (
                f"\n\n{s['name']}: promptmill could not generate a prompt ({s['generate_error']})"
            )
    if chart:
        text += f"\n\n![accuracy per set]({chart})\n"
    return text


def _pct(value: float | None) -> str:
    return "n/a (generation failed)" if value is None else f"{100 * value:.1f}%"


def _draw(sets: list[dict[str, Any]]) -> Any:
    def draw(figure: Any) -> None:
        axes = figure.subplots()
        positions = range(len(sets))
        axes.bar(
            [p - 0.2 for p in positions],
            [s["accuracy_generated"] or 0.0 for s in sets],
            0.4,
            label="(a) generated prompt",
        )
        axes.bar(
            [p + 0.2 for p in positions],
            [s["accuracy_bare"] for s in sets],
            0.4,
            label="(b) bare task",
        )
        axes.set_xticks(list(positions), [s["name"] for s in sets])
        axes.set(ylim=(0, 1), ylabel="accuracy", title="downstream accuracy per set")
        axes.legend()

    return draw


def _write(args: Any, model: str, results: list[dict[str, Any]], *, complete: bool) -> Path:
    chart = save_chart(args.results_dir / "downstream.png", _draw(results)) if complete else None
    markdown = render_markdown(model, results, chart)
    data = {
        "quick": args.quick,
        "complete": complete,
        "model": model,
        "max_tokens": args.max_tokens,
        "chart": chart,
        "sets": results,
    }
    json_path, _ = write_results("downstream", data, markdown, args.results_dir)
    return json_path


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "downstream benchmark")
    parser.add_argument("--sets", help="comma-separated set names (default: all)")
    parser.add_argument(
        "--limit", type=int, help=f"items per set (default: all; {QUICK_ITEMS} with --quick)"
    )
    parser.add_argument("--max-tokens", type=int, default=160, help="answer length cap (both arms)")
    parser.add_argument(
        "--reasoning-arm",
        action="store_true",
        help="add arm (c): the generated prompt told to reason step by step first",
    )
    parser.add_argument(
        "--reasoning-max-tokens",
        type=int,
        default=400,
        help="answer length cap of arm (c), which writes its reasoning before the answer",
    )
    args = parser.parse_args(argv)

    from promptmill.backends.local import LocalBackend
    from promptmill.config import Settings
    from promptmill.engine import PromptEngine

    settings = Settings(backend="local")
    started = time.perf_counter()
    backend = LocalBackend.from_settings(settings)
    engine = PromptEngine(backend, request_timeout=settings.request_timeout)
    print(f"loaded {backend.model} in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    sets = load_sets()
    if args.sets:
        # In the order asked for, so a run cut short has measured the sets named first.
        by_name = {s["name"]: s for s in sets}
        sets = [by_name[name] for name in args.sets.split(",") if name in by_name]
    if not sets:
        parser.error(f"no set named {args.sets!r}")
    limit = args.limit or (QUICK_ITEMS if args.quick else None)
    results: list[dict[str, Any]] = []
    for task_set in sets:
        results.append(
            run_set(
                engine,
                task_set,
                task_set["items"][:limit],
                args.max_tokens,
                settings.request_timeout,
                args.reasoning_max_tokens if args.reasoning_arm else None,
            )
        )
        # Written after every set, so a long run that is stopped still leaves its figures.
        json_path = _write(args, backend.model, results, complete=len(results) == len(sets))
    print(render_markdown(backend.model, results, None))
    print(f"\nwrote {json_path}")
    return 0
