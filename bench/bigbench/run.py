"""BIG-bench benchmark: the bare task, generate_prompt's prompt and optimize's prompt, compared.

For each of the twelve BIG-bench tasks in ``data.TASKS`` (lettered multiple choice,
from the checksum-pinned ``bigbench`` sdist), the embedded model answers a fixed seeded
evaluation sample under three arms, through the engine's backend at temperature 0:

- ``bare``: the task's description, then the item (question and lettered options);
- ``generated``: the prompt ``PromptEngine.generate`` writes from the task description,
  filled with the item (``bench.downstream.answers.fill_prompt``);
- ``optimized``: the prompt ``PromptOptimizer`` returns when started from the bare
  prompt (``description`` + ``{{QUESTION}}``) and trained on a separate seeded
  training sample, with the grader "the letter read from the answer equals the label".

One extractor (``answers.extract_choice``) reads every answer. Reported per task and
arm: accuracy, the ratio to bare, and the cost (model calls, seconds), written to
``bench/results/bigbench.json`` and ``.md`` after every task.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.bigbench.answers import extract_choice
from bench.bigbench.data import TASKS, Item, Task, load_task, split
from bench.downstream.answers import fill_prompt
from bench.report import base_parser, markdown_table, ratio, save_chart, write_results

ARMS = ("bare", "generated", "optimized")
QUICK_TASKS = ("snarks", "hyperbaton")
# Quick mode checks that every arm runs, not how well: writing a prompt with SmolLM2 on a
# loaded 2-core CI box can take minutes, so it gets this long and then counts as failed.
QUICK_WRITE_SECONDS = 120.0
VARIABLE = "QUESTION"
# What only the optimized arm depends on (``previous_arms``).
OPTIMIZER_SETTINGS = ("train", "budget")


def bare_prompt(task: Task) -> str:
    """The bare arm's template: the task description, then the item."""
    return f"{task.description.strip()}\n\n{{{{{VARIABLE}}}}}"


class ChoiceGrader:
    """Passes when the letter read from the answer is the case's label (``expected``)."""

    name = "choice"

    def __init__(self, items: list[Item]) -> None:
        self._options = {item.text: item.options for item in items}

    def grade(self, output: str, case: Any, context: Any) -> Any:
        from promptmill.engine.graders import Grade

        chosen = extract_choice(output, self._options[case.vars[VARIABLE]])
        passed = chosen is not None and f"({chosen})" == case.expected
        return Grade(
            grader=self.name,
            passed=passed,
            score=1.0 if passed else 0.0,
            reason=f"chose {chosen or 'nothing'}, expected {case.expected}",
        )


def ask(backend: Any, template: Any, max_tokens: int, timeout: float) -> tuple[str, int]:
    """One answer to a filled template; (text, output tokens).

    A prefill (a final assistant message) opens the answer the reader sees, so it is
    put back in front of the reply before the answer is read: an opening
    ``<thinking>`` or ``<answer>`` tag must count, or the arm would lose for its format.
    """
    from promptmill.backends.base import ChatRequest, ChatTurn

    turns = [ChatTurn(m.role, m.text) for m in template.messages]
    request = ChatRequest(
        turns=turns,
        system=template.system,
        max_tokens=max_tokens,
        temperature=0.0,
        timeout=timeout,
    )
    last = template.messages[-1]
    prefill = last.text if last.role == "assistant" else ""
    reply = backend.chat(request)
    return prefill + str(reply.text), int(reply.output_tokens)


def _template(user: str, system: str = "") -> Any:
    from promptmill.engine.versions import PromptTemplate
    from promptmill.types import PromptMessage

    return PromptTemplate(messages=[PromptMessage.of("user", user)], system=system)


def _answer_all(
    backend: Any, items: list[Item], fill: Any, max_tokens: int, timeout: float
) -> tuple[list[dict[str, Any]], float]:
    from promptmill.errors import PromptmillError

    rows = []
    started = time.perf_counter()
    for item in items:
        try:
            reply, tokens = ask(backend, fill(item), max_tokens, timeout)
            error = None
        except PromptmillError as exc:
            reply, tokens, error = "", 0, f"{exc.error_type}: {exc.message}"
        chosen = extract_choice(reply, item.options)
        rows.append(
            {
                "id": item.id,
                "gold": item.label,
                "chosen": chosen,
                "correct": chosen == item.label,
                "reply": reply,
                # An answer stopped by the cap may name an option only in passing.
                "cut_off": tokens >= max_tokens,
                "error": error,
            }
        )
    return rows, time.perf_counter() - started


def run_task(
    engine: Any,
    task: Task,
    args: Any,
    target_model: str | None,
    previous: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The chosen arms (``args.arms``) on one task's evaluation sample; the optimizer on
    its training sample. Arms not run this time are taken from ``previous`` (an earlier
    piece of the same configuration), so a long benchmark can be run in pieces."""
    evaluate, train = split(task, evaluate=args.items, train=args.train, seed=args.seed)
    arms: dict[str, dict[str, Any]] = dict(previous or {})
    if "bare" in args.arms:
        arms["bare"] = _bare_arm(engine, task, evaluate, args)
    if "generated" in args.arms:
        arms["generated"] = _generated_arm(engine, task, evaluate, args, target_model)
    if "optimized" in args.arms:
        arms["optimized"] = _optimized_arm(engine, task, evaluate, train, args, target_model)
    return _summary(task, len(evaluate), len(train), arms)


def _bare_arm(engine: Any, task: Task, evaluate: list[Item], args: Any) -> dict[str, Any]:
    """The task description, a blank line, the item: what a user would send unaided."""
    from promptmill.engine.versions import fill_prompt as fill_template

    bare = _template(bare_prompt(task))
    rows, seconds = _answer_all(
        engine.backend,
        evaluate,
        lambda item: fill_template(bare, {VARIABLE: item.text}),
        args.max_tokens,
        engine.request_timeout,
    )
    print(f"[{task.name}] bare: {_accuracy(rows):.2f} in {seconds:.0f}s", file=sys.stderr)
    return {
        "rows": rows,
        "answer_seconds": seconds,
        "write_calls": 0,
        "write_seconds": 0.0,
        "prompt": {"user": bare_prompt(task)},
    }


def _generated_arm(
    engine: Any, task: Task, evaluate: list[Item], args: Any, target_model: str | None
) -> dict[str, Any]:
    """generate_prompt's prompt for the task description, used as returned, item filled in."""
    from promptmill.engine.pipeline import PromptEngine
    from promptmill.errors import PromptmillError

    timeout = engine.request_timeout
    writer = engine
    if args.write_timeout is not None:  # bounded writing (quick mode on a slow CI box)
        writer = PromptEngine(engine.backend, request_timeout=args.write_timeout)
    started = time.perf_counter()
    try:
        generated = writer.generate(task.description, target_model)
        user = "\n".join(m.text for m in generated.messages if m.role == "user")
        prefill = "".join(m.text for m in generated.messages if m.role == "assistant")
        gen_error = None
        gen_calls = len(generated.usage)
    except PromptmillError as exc:
        user, prefill, gen_error, gen_calls = "", "", f"{exc.error_type}: {exc.message}", None
    gen_seconds = time.perf_counter() - started
    if gen_error is None:

        def fill_generated(item: Item) -> Any:
            filled_user, filled_system = fill_prompt(
                user, generated.system, item.text, task.description
            )
            template = _template(filled_user, filled_system)
            if prefill:
                from promptmill.types import PromptMessage

                template.messages.append(PromptMessage.of("assistant", prefill))
            return template

        rows, seconds = _answer_all(
            engine.backend, evaluate, fill_generated, args.max_tokens, timeout
        )
        print(f"[{task.name}] generated: {_accuracy(rows):.2f}", file=sys.stderr)
        return {
            "rows": rows,
            "answer_seconds": seconds,
            "write_calls": gen_calls,
            "write_seconds": gen_seconds,
            "prompt": {"user": user, "prefill": prefill, "system": generated.system},
        }
    print(f"[{task.name}] generate FAILED: {gen_error}", file=sys.stderr)
    return {"error": gen_error, "write_seconds": gen_seconds}


def _optimized_arm(
    engine: Any,
    task: Task,
    evaluate: list[Item],
    train: list[Item],
    args: Any,
    target_model: str | None,
) -> dict[str, Any]:
    """optimize's prompt, started from the bare prompt and trained on ``train`` only."""
    from promptmill.engine.cases import TestCase
    from promptmill.engine.optimize import PromptOptimizer
    from promptmill.engine.versions import fill_prompt as fill_template
    from promptmill.errors import PromptmillError

    timeout = engine.request_timeout
    bare = _template(bare_prompt(task))
    started = time.perf_counter()
    cases = [TestCase(vars={VARIABLE: item.text}, expected=f"({item.label})") for item in train]
    optimizer = PromptOptimizer(
        engine.backend, concurrency=1, max_tokens=args.max_tokens, timeout=timeout
    )
    try:
        result = optimizer.optimize(
            cases,
            [ChoiceGrader(train)],
            prompt=bare,
            target_model=target_model,
            budget=args.budget,
            held_out_fraction=0.0,
            seed=args.seed,
        )
        opt_error = None
    except PromptmillError as exc:
        opt_error = f"{exc.error_type}: {exc.message}"
    opt_seconds = time.perf_counter() - started
    if opt_error is None:
        best = result.prompt
        rows, seconds = _answer_all(
            engine.backend,
            evaluate,
            lambda item: fill_template(best, {VARIABLE: item.text}),
            args.max_tokens,
            timeout,
        )
        print(
            f"[{task.name}] optimized ({result.label}, {result.calls} calls): "
            f"{_accuracy(rows):.2f}",
            file=sys.stderr,
        )
        return {
            "rows": rows,
            "answer_seconds": seconds,
            "write_calls": result.calls,
            "write_seconds": opt_seconds,
            "label": result.label,
            "train_score": result.train.score,
            "original_train_score": result.original_train.score,
            "candidates": [
                {
                    "label": c.label,
                    "gain": c.gain,
                    "train_score": c.train.score if c.train else None,
                    "cases": c.train.cases if c.train else 0,
                    "calls": c.proposal_calls + c.evaluation_calls,
                    "stopped_early": c.stopped_early,
                    "error": c.error,
                }
                for c in result.candidates
            ],
            "stopped": result.stopped,
            "prompt": best.model_dump(mode="json"),
        }
    print(f"[{task.name}] optimize FAILED: {opt_error}", file=sys.stderr)
    return {"error": opt_error, "write_seconds": opt_seconds}


def _accuracy(rows: list[dict[str, Any]]) -> float:
    return sum(r["correct"] for r in rows) / len(rows) if rows else 0.0


def _summary(task: Task, items: int, train: int, arms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One task's figures; an arm not run yet (or failed) has accuracy None."""
    arms = {arm: arms.get(arm, {"error": "not run yet"}) for arm in ARMS}
    accuracy = {arm: _accuracy(a["rows"]) if "rows" in a else None for arm, a in arms.items()}
    bare = accuracy["bare"] or 0.0
    return {
        "task": task.name,
        "items": items,
        "train_items": train,
        "accuracy": accuracy,
        "ratio_to_bare": {
            arm: ratio(value, bare) if value is not None else None
            for arm, value in accuracy.items()
            if arm != "bare"
        },
        "calls": {
            arm: (a.get("write_calls") or 0) + len(a.get("rows", [])) for arm, a in arms.items()
        },
        "seconds": {
            arm: round(a.get("write_seconds", 0.0) + a.get("answer_seconds", 0.0), 1)
            for arm, a in arms.items()
        },
        "unparsed": {
            arm: sum(r["chosen"] is None for r in a["rows"]) if "rows" in a else None
            for arm, a in arms.items()
        },
        "cut_off": {  # None where the rows predate the count
            arm: sum(r["cut_off"] for r in a["rows"])
            if "rows" in a and all("cut_off" in r for r in a["rows"])
            else None
            for arm, a in arms.items()
        },
        "paired": {arm: paired(arms["bare"], arms[arm]) for arm in ARMS[1:]},
        "arms": arms,
    }


def paired(bare: dict[str, Any], other: dict[str, Any]) -> dict[str, Any] | None:
    """Exact McNemar test of ``other`` against bare on the items both answered.

    ``wins`` are items only ``other`` got right, ``losses`` items only bare got right;
    the p-value is two-sided. None when an arm failed (no rows to pair).
    """
    from promptmill.engine.stats import mcnemar_exact

    if "rows" not in bare or "rows" not in other:
        return None
    right = {r["id"]: r["correct"] for r in bare["rows"]}
    pairs = [(right[r["id"]], r["correct"]) for r in other["rows"] if r["id"] in right]
    wins = sum(1 for b, o in pairs if o and not b)
    losses = sum(1 for b, o in pairs if b and not o)
    return {
        "items": len(pairs),
        "wins": wins,
        "losses": losses,
        "p_value": round(mcnemar_exact(wins, losses), 4),
    }


def overall(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean accuracy per arm over the tasks, and the ratios of those means to bare's."""
    means: dict[str, float | None] = {}
    for arm in ARMS:
        values = [r["accuracy"][arm] for r in results if r["accuracy"][arm] is not None]
        means[arm] = statistics.fmean(values) if values else None
    bare = means["bare"] or 0.0
    return {
        "mean_accuracy": means,
        "ratio_of_means_to_bare": {
            arm: ratio(value, bare) if value is not None else None
            for arm, value in means.items()
            if arm != "bare"
        },
        "tasks_below_0_9x_bare": {
            arm: [
                r["task"]
                for r in results
                if r["accuracy"][arm] is not None
                and r["accuracy"]["bare"] is not None
                and r["accuracy"][arm] < 0.9 * r["accuracy"]["bare"]
            ]
            for arm in ARMS[1:]
        },
        "paired_pooled": {arm: pooled(results, arm) for arm in ARMS[1:]},
        "calls": {arm: sum(r["calls"].get(arm, 0) for r in results) for arm in ARMS},
        "seconds": {
            arm: round(sum(r["seconds"].get(arm, 0.0) for r in results), 1) for arm in ARMS
        },
    }


def pooled(results: list[dict[str, Any]], arm: str) -> dict[str, Any]:
    """McNemar over every item of every task (each item weighs the same)."""
    from promptmill.engine.stats import mcnemar_exact

    tests = [r["paired"][arm] for r in results if r["paired"].get(arm)]
    wins = sum(t["wins"] for t in tests)
    losses = sum(t["losses"] for t in tests)
    return {
        "items": sum(t["items"] for t in tests),
        "wins": wins,
        "losses": losses,
        "p_value": round(mcnemar_exact(wins, losses), 4),
    }


def render_markdown(
    model: str,
    target: str | None,
    config: dict[str, Any],
    results: list[dict[str, Any]],
    chart: str | None,
) -> str:
    def pct(value: float | None) -> str:
        return "failed" if value is None else f"{100 * value:.0f}%"

    def x(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}x"

    def test(value: dict[str, Any] | None) -> str:
        if not value:
            return "n/a"
        return f"+{value['wins']} / -{value['losses']}, p={value['p_value']:.2g}"

    rows = [
        [
            r["task"],
            r["items"],
            pct(r["accuracy"]["bare"]),
            pct(r["accuracy"]["generated"]),
            pct(r["accuracy"]["optimized"]),
            x(r["ratio_to_bare"]["generated"]),
            x(r["ratio_to_bare"]["optimized"]),
            test(r["paired"]["generated"]),
            test(r["paired"]["optimized"]),
            r["arms"]["optimized"].get("label", "-"),
            " / ".join(
                "-" if r["cut_off"][arm] is None else str(r["cut_off"][arm]) for arm in ARMS
            ),
            " / ".join(str(r["calls"].get(arm, 0)) for arm in ARMS),
            " / ".join(f"{r['seconds'].get(arm, 0.0):.0f}" for arm in ARMS),
        ]
        for r in results
    ]
    summary = overall(results)
    means = summary["mean_accuracy"]
    ratios = summary["ratio_of_means_to_bare"]
    rows.append(
        [
            "**mean**",
            sum(r["items"] for r in results),
            pct(means["bare"]),
            pct(means["generated"]),
            pct(means["optimized"]),
            x(ratios["generated"]),
            x(ratios["optimized"]),
            test(summary["paired_pooled"]["generated"]),
            test(summary["paired_pooled"]["optimized"]),
            "",
            "",
            " / ".join(str(summary["calls"][arm]) for arm in ARMS),
            " / ".join(f"{summary['seconds'][arm]:.0f}" for arm in ARMS),
        ]
    )
    text = (
        f"Model: `{model}` (local backend, temperature 0, answers capped at "
        f"{config['max_tokens']} tokens); prompts written for target `{target}`. "
        f"{config['items']} evaluation items and {config['train']} training items per task "
        f"(seed {config['seed']}), optimizer budget {config['budget']} calls. "
        "McNemar columns: items only that arm got right (+) and only bare got right (-), "
        "with the exact two-sided p-value; the mean row pools every item.\n\n"
    )
    text += markdown_table(
        [
            "task",
            "items",
            "bare",
            "generated",
            "optimized",
            "generated / bare",
            "optimized / bare",
            "generated vs bare (McNemar)",
            "optimized vs bare (McNemar)",
            "optimizer's pick",
            "cut off at the cap b / g / o",
            "calls b / g / o",
            "seconds b / g / o",
        ],
        rows,
    )
    below = summary["tasks_below_0_9x_bare"]
    text += (
        "\n\nTasks below 0.9x bare: generated "
        + (", ".join(below["generated"]) or "none")
        + "; optimized "
        + (", ".join(below["optimized"]) or "none")
        + ".\n"
    )
    for r in results:
        for arm in ("generated", "optimized"):
            if "error" in r["arms"][arm]:
                text += f"\n{r['task']}: the {arm} arm failed ({r['arms'][arm]['error']})"
    if chart:
        text += f"\n\n![accuracy per task and arm]({chart})\n"
    return text


def _draw(results: list[dict[str, Any]]) -> Any:
    def draw(figure: Any) -> None:
        axes = figure.subplots()
        positions = range(len(results))
        for offset, arm in zip((-0.27, 0.0, 0.27), ARMS, strict=True):
            axes.bar(
                [p + offset for p in positions],
                [r["accuracy"][arm] or 0.0 for r in results],
                0.27,
                label=arm,
            )
        axes.set_xticks(
            list(positions),
            [r["task"].split("/")[0][:14] for r in results],
            rotation=45,
            ha="right",
        )
        axes.set(ylim=(0, 1), ylabel="accuracy", title="BIG-bench accuracy per task and arm")
        axes.legend()

    return draw


def previous_arms(path: Path, signature: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per task, the arms an earlier piece wrote to ``path`` under the same configuration.

    A full run takes hours on a small machine, so it is run in pieces (``--tasks``,
    ``--arms``); each piece adds to what the earlier ones wrote. Results taken under a
    different configuration (sample sizes, seed, budget, cap, model) are never mixed in,
    except that the optimizer's own settings (``OPTIMIZER_SETTINGS``) bind only the
    optimized arm: the bare and generated arms answer the same evaluation items whatever
    the training sample and budget, so an optimizer run at other sizes is still compared
    with them.
    """
    if not path.exists():
        return {}
    data = json.loads(path.read_text())

    def same(keys: Any) -> bool:
        return all(data.get(key) == signature[key] for key in keys)

    if not same(key for key in signature if key not in OPTIMIZER_SETTINGS):
        return {}
    optimizer_same = same(key for key in OPTIMIZER_SETTINGS if key in signature)
    return {
        task["task"]: {
            arm: result
            for arm, result in task["arms"].items()
            if "code" in result and (arm != "optimized" or optimizer_same)
        }
        for task in data.get("tasks", [])
    }


def _code_version() -> str:
    """The commit the arms ran on (``-dirty`` with uncommitted changes), for the record."""
    try:
        head = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "bigbench benchmark")
    parser.add_argument("--tasks", help="comma-separated task names (default: all twelve)")
    parser.add_argument(
        "--arms",
        default=",".join(ARMS),
        help="comma-separated arms to run (default: all three); the others are taken from "
        "an earlier run of the same configuration in the results file",
    )
    parser.add_argument("--items", type=int, help="evaluation items per task (default 40; 2 quick)")
    parser.add_argument("--train", type=int, help="training items per task (default 16; 3 quick)")
    parser.add_argument("--budget", type=int, help="optimizer model calls (default 120; 8 quick)")
    parser.add_argument("--max-tokens", type=int, default=128, help="answer length cap (all arms)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--write-timeout",
        type=float,
        help="seconds generate may take to write the prompt (default: the request timeout; "
        "120 in quick mode, where a slow write is reported as the arm's error)",
    )
    parser.add_argument(
        "--target-model",
        help="target_model for generate/optimize (default: the backend's model name)",
    )
    args = parser.parse_args(argv)
    args.items = args.items or (2 if args.quick else 40)
    args.train = args.train or (3 if args.quick else 16)
    args.budget = args.budget or (8 if args.quick else 120)
    if args.write_timeout is None and args.quick:
        args.write_timeout = QUICK_WRITE_SECONDS
    args.arms = [arm.strip() for arm in args.arms.split(",") if arm.strip()]
    if not args.arms or set(args.arms) - set(ARMS):
        parser.error(f"--arms: choose from {', '.join(ARMS)}, not {args.arms}")

    from promptmill.config import Settings
    from promptmill.startup import build_engine

    names = args.tasks.split(",") if args.tasks else list(QUICK_TASKS if args.quick else TASKS)
    unknown = [name for name in names if name not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    started = time.perf_counter()
    engine = build_engine(Settings(backend="local"))
    model = engine.backend.model
    target = args.target_model or model
    print(f"loaded {model} in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    config = {
        "items": args.items,
        "train": args.train,
        "budget": args.budget,
        "max_tokens": args.max_tokens,
        "seed": args.seed,
    }
    signature = {"quick": args.quick, "model": model, "target_model": target, **config}
    earlier = previous_arms(args.results_dir / "bigbench.json", signature)
    code = _code_version()
    done: dict[str, dict[str, Any]] = {}
    json_path: Path | None = None
    for name in names:
        result = run_task(engine, load_task(name), args, target, earlier.get(name))
        for arm in args.arms:
            result["arms"][arm]["code"] = code
        done[name] = result
        results = _ordered(done, earlier, args)
        expected = QUICK_TASKS if args.quick and not args.tasks else TASKS
        complete = (
            {r["task"] for r in results} >= set(expected)
            and all("code" in r["arms"][arm] for r in results for arm in ARMS)
            and name == names[-1]
        )
        chart = save_chart(args.results_dir / "bigbench.png", _draw(results)) if complete else None
        data = {
            **signature,
            "complete": complete,
            "overall": overall(results),
            "chart": chart,
            "tasks": results,
        }
        json_path, _ = write_results(
            "bigbench",
            data,
            render_markdown(model, target, config, results, chart),
            args.results_dir,
        )
    print(render_markdown(model, target, config, results, None))
    print(f"\nwrote {json_path}")
    return 0


def _ordered(
    done: dict[str, dict[str, Any]], earlier: dict[str, dict[str, Any]], args: Any
) -> list[dict[str, Any]]:
    """This run's tasks and the complete tasks of earlier pieces, in the benchmark's order."""
    results = []
    for name in TASKS:
        if name in done:
            results.append(done[name])
        elif name in earlier:
            task = load_task(name)
            evaluate, train = split(task, evaluate=args.items, train=args.train, seed=args.seed)
            results.append(_summary(task, len(evaluate), len(train), earlier[name]))
    return results
