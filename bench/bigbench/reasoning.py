"""Does step-by-step reasoning pay on the target? One prompt, answered both ways.

Issue 9 asks for reasoning "only where it pays, decided by measurement". This takes the
prompt ``generate_prompt`` wrote for a BIG-bench task in an earlier run of the benchmark
(``bigbench.json``), and answers the same evaluation items with it twice: as written
(its "think step by step" line) and with that line replaced by the direct-answer line.
The bare task is answered too, under the same cap. The cap is larger than the
benchmark's, so that reasoning is not cut off before it reaches its answer; a reply
still stopped by the cap is counted and reported.

    python -m bench.bigbench.reasoning --tasks disambiguation_qa,temporal_sequences \
        --from bench/results/bigbench.json --max-tokens 256
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bigbench.data import Item, Task, load_task, split
from bench.bigbench.run import VARIABLE, _answer_all, _template, bare_prompt
from bench.downstream.answers import fill_prompt
from bench.report import base_parser, markdown_table, write_results

VARIANTS = ("bare", "reasoning", "direct")


def variants(user: str) -> dict[str, str]:
    """The generated prompt as written and with its reasoning line made a direct answer."""
    from promptmill.engine.headings import ENGLISH_HEADINGS as h

    if h.think_before_answering not in user:
        raise ValueError("the prompt has no step-by-step line to compare against")
    return {"reasoning": user, "direct": user.replace(h.think_before_answering, h.direct_answer)}


def _fills(task: Task, prompts: dict[str, str]) -> dict[str, Callable[[Item], Any]]:
    """Per variant, the template filled with one item (as the benchmark's arms fill theirs)."""
    from promptmill.engine.versions import fill_prompt as fill_template

    bare = _template(bare_prompt(task))

    def generated(user: str) -> Callable[[Item], Any]:
        return lambda item: _template(fill_prompt(user, "", item.text, task.description)[0])

    return {
        "bare": lambda item: fill_template(bare, {VARIABLE: item.text}),
        **{variant: generated(user) for variant, user in prompts.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "reasoning")
    parser.add_argument("--tasks", required=True, help="comma-separated task names")
    parser.add_argument("--from", dest="source", type=Path, required=True)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args(argv)

    from promptmill.config import Settings
    from promptmill.startup import build_engine

    earlier = json.loads(args.source.read_text())
    generated = {t["task"]: t["arms"]["generated"]["prompt"]["user"] for t in earlier["tasks"]}
    engine = build_engine(Settings(backend="local"))
    rows_out: list[list[Any]] = []
    tasks: list[dict[str, Any]] = []
    for name in args.tasks.split(","):
        task = load_task(name)
        evaluate, _ = split(task, evaluate=earlier["items"], train=earlier["train"], seed=0)
        prompts = variants(generated[name])
        fills = _fills(task, prompts)
        result: dict[str, Any] = {"task": name, "prompts": prompts, "variants": {}}
        for variant in VARIANTS:
            started = time.perf_counter()
            rows, _ = _answer_all(
                engine.backend, evaluate, fills[variant], args.max_tokens, engine.request_timeout
            )
            seconds = time.perf_counter() - started
            correct = sum(r["correct"] for r in rows)
            cut = sum(r["cut_off"] for r in rows)
            result["variants"][variant] = {"rows": rows, "seconds": round(seconds, 1)}
            rows_out.append([name, variant, f"{correct}/{len(rows)}", cut, f"{seconds:.0f}"])
            print(f"[{name}] {variant}: {correct}/{len(rows)}, {cut} cut off", file=sys.stderr)
        tasks.append(result)
    commits = sorted({str(t["arms"]["generated"].get("code")) for t in earlier["tasks"]})
    text = (
        f"Model `{engine.backend.model}`, temperature 0, answers capped at {args.max_tokens} "
        f"tokens; generated prompts from `{args.source.name}` (commit of its generated arm: "
        f"{', '.join(commits)}).\n\n"
        + markdown_table(["task", "variant", "correct", "cut off", "seconds"], rows_out)
    )
    data = {"max_tokens": args.max_tokens, "tasks": tasks}
    write_results("bigbench_reasoning", data, text, args.results_dir)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
