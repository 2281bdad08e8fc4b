"""Embedded-model speed against its physical limit: grammar, prompt lookup, prefix reuse.

Three parts, each its own results file, all on the model ``LocalBackend.from_settings``
loads (Qwen2.5-Coder-1.5B by default), temperature 0:

- ``grammar`` (``local_grammar``): the same plan requests (the planner's system and a
  quality task) decoded without grammar, with the plan's JSON-schema grammar checked
  per sampled token (promptmill's ``LazyGrammarLlama``), and with llama-cpp-python's
  grammar-first sampling. Each prompt is evaluated once beforehand, so a measured call
  evaluates about one prompt token and its tokens/s is decode speed; the figures are
  the ratios constrained/free.
- ``lookup`` (``local_lookup``): templatize and improve-like requests (their output
  copies the input) through two ``llama_cpp.Llama`` of the same file, one with
  ``LlamaPromptLookupDecoding`` (which needs ``logits_all``); tokens/s of each and
  whether the greedy outputs are identical.
- ``generate`` (``local_generate``): ``generate`` on a sample of bench/quality tasks:
  wall time against output tokens / llama.cpp's raw decode speed (its own counters,
  ``t_eval_ms`` over ``n_eval``, during the same task's calls), and the share of each
  call's prompt reused rather than evaluated. Then templatize and generate
  alternate, with the prefix states on and off (``PROMPTMILL_LOCAL_PREFIX_CACHE_MB=0``),
  to show what the saved fixed prefixes keep.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from typing import Any

from bench.quality.run import load_tasks
from bench.report import base_parser, markdown_table, ratio, write_results

# Spread over categories and lengths; the first one only warms the model up.
GENERATE_TASK_IDS = (
    "spam-filter",
    "sentiment-reviews",
    "short-chef",
    "sql-generator",
    "meeting-actions",
    "fr-recettes",
    "support-refund",
    "invoice-extraction",
    "math-tutor",
)

COPYING_PROMPTS = (
    "You are a travel agent for Lisbon Tours. Recommend three restaurants near the "
    "Alfama district for a family of four on 12 June 2025, with a budget of 80 euros, "
    "and answer in Portuguese.",
    "Summarise the following support ticket from Maria Gonzalez about order #48213 "
    "(a Bosch dishwasher delivered damaged on 3 March) in two sentences for the refunds "
    "team, and rate her anger from 1 to 5.",
    "Translate the product description of the Aeron office chair by Herman Miller into "
    "German, keeping the term 'PostureFit SL' untranslated, in at most 120 words.",
)


def _backend(**settings: Any) -> Any:
    from promptmill.backends.local import LocalBackend
    from promptmill.config import Settings

    return LocalBackend.from_settings(Settings(backend="local", **settings))


def _tasks(limit: int | None) -> list[dict[str, Any]]:
    by_id = {task["id"]: task for task in load_tasks()}
    chosen = [by_id[i] for i in GENERATE_TASK_IDS if i in by_id]
    if len(chosen) < len(GENERATE_TASK_IDS):  # ids renamed: fall back to the file's order
        chosen = list(by_id.values())[: len(GENERATE_TASK_IDS)]
    return chosen[: limit + 1] if limit else chosen


# --- grammar ---------------------------------------------------------------------------

_SAMPLE_PLAN = {
    "task_kind": "classify",
    "role": "an experienced email triage assistant",
    "context": "A small company receives many emails a day and wants spam removed.",
    "objective": "Decide whether one email is spam or not.",
    "inputs": [{"name": "EMAIL", "description": "The email to classify"}],
    "steps": ["Read the email", "Look for spam signals", "Decide"],
    "constraints": ["Answer with one label"],
    "edge_cases": ["An empty email is not spam"],
    "tone": "neutral",
    "output_format": "one word: spam or ham",
    "output_fields": [],
    "examples": [{"input": "WIN A PRIZE NOW", "output": "spam"}],
}


def grammar_step_cost(llama: Any, schema: dict[str, Any]) -> dict[str, float]:
    """Seconds the plan grammar takes per token: over the whole vocabulary, and for one token.

    Walks the tokens of a valid plan through llama.cpp's grammar sampler twice: once
    masking every vocabulary entry at each step (llama-cpp-python's way), once asking
    about the one token only (the lazy check). No decoding: the grammar's cost alone.
    """
    import ctypes
    import json

    import llama_cpp.llama_cpp as native
    import numpy as np
    from llama_cpp._internals import LlamaTokenDataArray
    from llama_cpp.llama_grammar import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    plan = json.dumps(_SAMPLE_PLAN, separators=(",", ":")).encode()
    tokens = llama.tokenize(plan, add_bos=False, special=False)
    logits = np.random.default_rng(0).standard_normal(llama.n_vocab()).astype(np.single)
    costs: dict[str, float] = {}
    for name, size in (("full_vocabulary", llama.n_vocab()), ("one_token", 1)):
        sampler = native.llama_sampler_init_grammar(
            llama._model.vocab, grammar._grammar.encode(), grammar._root.encode()
        )
        candidates = LlamaTokenDataArray(n_vocab=size)
        times = []
        for token in tokens:
            if size == 1:
                candidates.candidates_data.id[0] = token
                candidates.candidates_data.logit[0] = 0.0
                candidates.candidates.size = 1
            else:
                candidates.copy_logits(logits)
            started = time.perf_counter()
            native.llama_sampler_apply(sampler, ctypes.byref(candidates.candidates))
            times.append(time.perf_counter() - started)
            native.llama_sampler_accept(sampler, token)
        native.llama_sampler_free(sampler)
        costs[name] = statistics.median(times)
    return costs


def run_grammar(args: Any) -> int:
    from promptmill.backends.base import ChatRequest, ChatTurn
    from promptmill.engine import metaprompts
    from promptmill.engine.plan import plan_schema

    backend = _backend()
    max_tokens = args.max_tokens or (24 if args.quick else 200)
    tasks = _tasks(1 if args.quick else args.limit or 4)[1:]
    schema = plan_schema()
    step_cost = grammar_step_cost(backend._llama, schema)
    rows: list[dict[str, Any]] = []
    for task in tasks:
        user = metaprompts.generate_plan_request(task["task"], None)
        for arm, json_schema in (
            ("free", None),
            ("constrained", schema),
            ("constrained-grammar-first", schema),
        ):
            backend._llama.lazy = arm != "constrained-grammar-first"
            request = ChatRequest(
                turns=[ChatTurn("user", user)],
                system=metaprompts.PLANNER_SYSTEM,
                json_schema=json_schema,
                max_tokens=max_tokens,
                temperature=0.0,
                timeout=900.0,
            )
            backend.chat(request)  # evaluates the prompt: the measured call decodes only
            reply = backend.chat(request)
            row = {
                "task": task["id"],
                "arm": arm,
                "output_tokens": reply.output_tokens,
                "evaluated_input_tokens": reply.evaluated_input_tokens,
                "seconds": reply.seconds,
                "tokens_per_second": reply.output_tokens / reply.seconds,
            }
            rows.append(row)
            print(
                f"{task['id']} {arm}: {reply.output_tokens} tokens "
                f"({reply.evaluated_input_tokens} prompt tokens evaluated) in "
                f"{reply.seconds:.2f}s = {row['tokens_per_second']:.1f} tok/s",
                file=sys.stderr,
            )
    backend._llama.lazy = True
    medians = {
        arm: statistics.median(r["tokens_per_second"] for r in rows if r["arm"] == arm)
        for arm in ("free", "constrained", "constrained-grammar-first")
    }
    grammar_ratio = ratio(medians["constrained"], medians["free"])
    first_ratio = ratio(medians["constrained-grammar-first"], medians["free"])
    markdown = (
        f"Model `{backend.model}`, {backend.threads} threads, max_tokens {max_tokens}, "
        f"temperature 0, plan requests of {len(tasks)} quality task(s), prompt evaluated "
        "beforehand\n\n"
        + markdown_table(
            ["task", "arm", "output tokens", "prompt tokens evaluated", "s", "tokens/s"],
            [
                [
                    r["task"],
                    r["arm"],
                    r["output_tokens"],
                    r["evaluated_input_tokens"],
                    r["seconds"],
                    r["tokens_per_second"],
                ]
                for r in rows
            ],
        )
        + f"\n\nmedian tokens/s free {medians['free']:.1f}, constrained "
        f"{medians['constrained']:.1f} (grammar checked per sampled token, promptmill's way): "
        f"ratio constrained/free **{grammar_ratio or 0:.2f}**; llama-cpp-python's "
        f"grammar-first sampling {medians['constrained-grammar-first']:.1f}: ratio "
        f"**{first_ratio or 0:.2f}**\n\nThe plan grammar alone, per token (median over a "
        f"valid plan's tokens, no decoding): {1000 * step_cost['full_vocabulary']:.1f} ms over "
        f"the whole vocabulary, {1e6 * step_cost['one_token']:.1f} us for the one sampled "
        "token\n"
    )
    data = {
        "quick": args.quick,
        "model": backend.model,
        "max_tokens": max_tokens,
        "runs": rows,
        "tokens_per_second_median": medians,
        "constrained_over_free": grammar_ratio,
        "grammar_first_over_free": first_ratio,
        "grammar_step_seconds": step_cost,
    }
    json_path, _ = write_results("local_grammar", data, markdown, args.results_dir)
    print(markdown)
    print(f"wrote {json_path}")
    return 0


# --- prompt lookup ---------------------------------------------------------------------


def _copying_requests() -> list[tuple[str, str, str, dict[str, Any] | None]]:
    """(kind, system, user, schema) of requests whose answers copy their input."""
    from promptmill.engine import metaprompts
    from promptmill.engine.pipeline import _TEMPLATIZE_SCHEMA

    requests: list[tuple[str, str, str, dict[str, Any] | None]] = []
    for text in COPYING_PROMPTS:
        requests.append(
            (
                "templatize",
                metaprompts.TEMPLATIZE_SYSTEM,
                metaprompts.templatize_request(text),
                _TEMPLATIZE_SCHEMA,
            )
        )
        requests.append(
            (
                "rewrite",
                "You improve prompts. Keep every name, number and date of the original.",
                "Rewrite this prompt with the same content, clearer, as numbered steps:\n\n" + text,
                None,
            )
        )
    return requests


def _timed_completion(llama: Any, system: str, user: str, schema: Any, max_tokens: int) -> Any:
    kwargs: dict[str, Any] = {}
    if schema is not None:
        kwargs["response_format"] = {"type": "json_object", "schema": schema}
    started = time.perf_counter()
    completion = llama.create_chat_completion(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        max_tokens=max_tokens,
        temperature=0.0,
        seed=7,
        **kwargs,
    )
    seconds = time.perf_counter() - started
    return completion["choices"][0]["message"]["content"], completion["usage"], seconds


def run_lookup(args: Any) -> int:
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    from promptmill.backends.local import without_weight_repacking

    backend = _backend()
    path, threads, context = str(backend.model_path), backend.threads, backend.context
    model = backend.model
    del backend
    gc.collect()
    max_tokens = args.max_tokens or (24 if args.quick else 160)
    draft_sizes = (10,) if args.quick else (4, 10)
    requests = _copying_requests()[: 2 if args.quick else None]

    def load(draft: Any) -> Any:
        with without_weight_repacking():
            return Llama(
                model_path=path,
                n_ctx=context,
                n_threads=threads,
                n_threads_batch=threads,
                seed=7,
                verbose=False,
                draft_model=draft,
                logits_all=draft is not None,
            )

    arms: dict[str, Any] = {"plain": None}
    for size in draft_sizes:
        arms[f"lookup-{size}"] = LlamaPromptLookupDecoding(num_pred_tokens=size)
    rows: list[dict[str, Any]] = []
    outputs: dict[str, list[str]] = {}
    for arm, draft in arms.items():
        llama = load(draft)
        outputs[arm] = []
        for kind, system, user, schema in requests:
            text, usage, seconds = _timed_completion(llama, system, user, schema, max_tokens)
            outputs[arm].append(text)
            row = {
                "arm": arm,
                "kind": kind,
                "prompt_tokens": usage["prompt_tokens"],
                "output_tokens": usage["completion_tokens"],
                "seconds": seconds,
                "tokens_per_second": usage["completion_tokens"] / seconds,
            }
            rows.append(row)
            print(
                f"{arm} {kind}: {usage['completion_tokens']} tokens in {seconds:.2f}s "
                f"= {row['tokens_per_second']:.1f} tok/s",
                file=sys.stderr,
            )
        del llama
        gc.collect()
    summary = {}
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        summary[arm] = {
            "tokens_per_second_median": statistics.median(r["tokens_per_second"] for r in mine),
            "seconds_total": sum(r["seconds"] for r in mine),
            "identical_outputs": sum(
                a == b for a, b in zip(outputs[arm], outputs["plain"], strict=True)
            ),
        }
    plain = summary["plain"]["seconds_total"]
    markdown = (
        f"Model `{model}`, {threads} threads, max_tokens {max_tokens}, temperature 0 "
        f"(greedy), {len(requests)} requests whose answers copy their input (templatize "
        "and rewrite), every arm from a cold context\n\n"
        + markdown_table(
            ["arm", "median tokens/s", "total s", "speed-up (total s)", "outputs identical"],
            [
                [
                    arm,
                    s["tokens_per_second_median"],
                    s["seconds_total"],
                    ratio(plain, s["seconds_total"]),
                    f"{s['identical_outputs']}/{len(requests)}",
                ]
                for arm, s in summary.items()
            ],
        )
        + "\n"
    )
    data = {
        "quick": args.quick,
        "model": model,
        "max_tokens": max_tokens,
        "runs": rows,
        "summary": summary,
    }
    json_path, _ = write_results("local_lookup", data, markdown, args.results_dir)
    print(markdown)
    print(f"wrote {json_path}")
    return 0


# --- generate against the decode limit -------------------------------------------------


def raw_decode_speed(backend: Any, tokens: int) -> float:
    """Tokens/s of llama.cpp's own single-token decodes (its perf counters), nothing else."""
    import llama_cpp.llama_cpp as native

    llama = backend._llama
    llama.reset()
    native.llama_perf_context_reset(llama.ctx)
    llama.create_completion(
        "Once upon a time, in a village by the sea,", max_tokens=tokens, temperature=0.0
    )
    perf = native.llama_perf_context(llama.ctx)
    return float(perf.n_eval / (perf.t_eval_ms / 1000.0))


def _timed_generate(engine: Any, task: dict[str, Any]) -> tuple[Any, float, str | None]:
    """``generate`` of one task: its result (``None`` on error), seconds and error."""
    from promptmill.errors import PromptmillError

    started = time.perf_counter()
    try:
        result = engine.generate(task["task"])
    except PromptmillError as exc:
        print(f"{task['id']}: ERROR {exc}", file=sys.stderr)
        return None, time.perf_counter() - started, f"{exc.error_type}: {exc.message}"
    return result, time.perf_counter() - started, None


def _generate_rows(engine: Any, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per task; a task whose generate failed is kept with its error, unmeasured.

    The decode speed is llama.cpp's own, counted during the task's calls (its single-token
    decodes: ``t_eval_ms`` over ``n_eval``), so a machine whose load changes between
    tasks still compares each generate with its own decode limit.
    """
    import llama_cpp.llama_cpp as native

    ctx = engine.backend._llama.ctx
    rows: list[dict[str, Any]] = []
    for task in tasks:
        native.llama_perf_context_reset(ctx)
        result, wall, error = _timed_generate(engine, task)
        perf = native.llama_perf_context(ctx)
        if result is None or not perf.n_eval:
            rows.append({"task": task["id"], "error": error, "seconds": wall})
            continue
        speed = perf.n_eval / (perf.t_eval_ms / 1000.0)
        output = sum(u.output_tokens for u in result.usage)
        inputs = sum(u.input_tokens for u in result.usage)
        reused = sum(u.reused_input_tokens or 0 for u in result.usage)
        row = {
            "task": task["id"],
            "calls": len(result.usage),
            "output_tokens": output,
            "input_tokens": inputs,
            "reused_input_tokens": reused,
            "reused_share": ratio(reused, inputs),
            "seconds": wall,
            "decode_tokens_per_second": speed,
            "prompt_eval_seconds": perf.t_p_eval_ms / 1000.0,
            "decode_bound_seconds": output / speed,
            "over_decode_bound": wall / (output / speed) if output else None,
        }
        rows.append(row)
        print(
            f"{task['id']}: {len(result.usage)} call(s), {output} out, {reused}/{inputs} "
            f"prompt tokens reused, {wall:.1f}s vs {output / speed:.1f}s decode-bound",
            file=sys.stderr,
        )
    return rows


def _interleaved(backend: Any, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """Templatize and generate alternating: the plan calls' reused share."""
    from promptmill.engine import PromptEngine

    engine = PromptEngine(backend, request_timeout=900)
    shares: list[float] = []
    seconds: list[float] = []
    for task, text in zip(tasks, COPYING_PROMPTS, strict=False):
        engine.templatize([_user(text)])
        result, wall, _ = _timed_generate(engine, task)
        seconds.append(wall)
        if result is not None:
            first = result.usage[0]
            shares.append((first.reused_input_tokens or 0) / first.input_tokens)
    return {
        "plan_reused_share": shares,
        "generate_seconds": seconds,
        "saves": backend.prefixes.saves,
        "restores": backend.prefixes.restores,
        "prefix_state_bytes": backend.prefixes.size_bytes,
    }


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _user(text: str) -> Any:
    from promptmill.engine.types import PromptMessage

    return PromptMessage.of("user", text)


def run_generate(args: Any) -> int:
    from promptmill.engine import PromptEngine

    backend = _backend()
    engine = PromptEngine(backend, request_timeout=900)
    speed = raw_decode_speed(backend, 16 if args.quick else 128)
    print(f"raw decode {speed:.1f} tok/s", file=sys.stderr)
    tasks = _tasks(1 if args.quick else args.limit or 5)
    warm = tasks[0]
    _, cold_seconds, cold_error = _timed_generate(engine, warm)
    cold_row = {"task": warm["id"], "seconds": cold_seconds, "error": cold_error}
    rows = _generate_rows(engine, tasks[1:])
    measured = [r for r in rows if "error" not in r]
    over = [r["over_decode_bound"] for r in measured if r["over_decode_bound"] is not None]
    reused = sum(r["reused_input_tokens"] for r in measured)
    inputs = sum(r["input_tokens"] for r in measured)
    interleaved: dict[str, Any] = {}
    if args.interleave:
        pairs = tasks[1 : 1 + args.interleave]
        interleaved["states_on"] = _interleaved(backend, pairs)
        del engine, backend
        gc.collect()
        interleaved["states_off"] = _interleaved(_backend(local_prefix_cache_mb=0), pairs)
    markdown = (
        f"Raw llama.cpp decode before the tasks: {speed:.1f} tokens/s; per task below, its "
        "own calls' decode speed (llama.cpp's counters) sets the decode bound (output tokens / "
        f"that speed). Cold first generate ({warm['id']}, not counted): "
        f"{cold_row['seconds']:.1f}s.\n\n"
        + markdown_table(
            [
                "task",
                "calls",
                "output tokens",
                "prompt tokens reused / total",
                "wall s",
                "decode tok/s",
                "prompt eval s",
                "decode-bound s",
                "wall / decode-bound",
            ],
            [
                [
                    r["task"],
                    r["calls"],
                    r["output_tokens"],
                    f"{r['reused_input_tokens']}/{r['input_tokens']}",
                    r["seconds"],
                    r["decode_tokens_per_second"],
                    r["prompt_eval_seconds"],
                    r["decode_bound_seconds"],
                    r["over_decode_bound"],
                ]
                for r in measured
            ],
        )
        + f"\n\nmedian wall / decode-bound: **{_median(over) or 0:.2f}x**; prompt tokens "
        f"reused: **{100 * (ratio(reused, inputs) or 0):.1f}%** ({reused}/{inputs}); "
        f"{len(rows) - len(measured)} task(s) failed\n"
    )
    for arm, figures in interleaved.items():
        shares = ", ".join(f"{100 * s:.0f}%" for s in figures["plan_reused_share"])
        markdown += (
            f"\nTemplatize and generate alternating, prefix states {arm.split('_')[1]}: plan "
            f"call's prompt reused {shares}; generate s "
            + ", ".join(f"{s:.1f}" for s in figures["generate_seconds"])
            + f"; {figures['saves']} save(s), {figures['restores']} restore(s), "
            f"{figures['prefix_state_bytes'] / 1e6:.1f} MB of saved states\n"
        )
    data = {
        "quick": args.quick,
        "model": "default",
        "raw_decode_tokens_per_second": speed,
        "cold": cold_row,
        "runs": rows,
        "over_decode_bound_median": _median(over),
        "reused_share": ratio(reused, inputs),
        "interleaved": interleaved,
    }
    json_path, _ = write_results("local_generate", data, markdown, args.results_dir)
    print(markdown)
    print(f"wrote {json_path}")
    return 0


PARTS = {"grammar": run_grammar, "lookup": run_lookup, "generate": run_generate}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "local speed")
    parser.add_argument("part", choices=sorted(PARTS), help="which measurement to run")
    parser.add_argument("--max-tokens", type=int, help="tokens per call (grammar, lookup)")
    parser.add_argument("--limit", type=int, help="quality tasks to use (grammar 4, generate 5)")
    parser.add_argument(
        "--interleave",
        type=int,
        default=2,
        help="generate: templatize/generate rounds with prefix states on and off (0: none)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.interleave = min(args.interleave, 1)
    return PARTS[args.part](args)


if __name__ == "__main__":
    raise SystemExit(main())
