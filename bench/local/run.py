"""Embedded-backend benchmark: promptmill's ``LocalBackend`` against raw ``llama_cpp.Llama``.

Both sides load the very same GGUF file with the same thread count, context size and
seed, and generate from the same chat at temperature 0 with the same ``max_tokens``.
The figure that matters is tokens per second (generated tokens / wall time of the
call, prompt evaluation included on both sides); their ratio is promptmill's overhead
around llama.cpp (locking, deadline checks, request shaping). Load time is reported
twice for promptmill: the ``Llama`` constructor alone, and ``from_settings`` in full
(model resolution and SHA-256 verification of the embedded file included).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from typing import Any

from bench.report import base_parser, markdown_table, ratio, write_results

SYSTEM = "You are a knowledgeable food historian who writes long, detailed answers."
USER = (
    "Write a detailed essay on the history of bread, from the first flatbreads to modern "
    "industrial baking. Cover at least eight distinct periods, with dates and places."
)


def _direct_load(path: str, threads: int, context: int, seed: int) -> tuple[Any, float]:
    from llama_cpp import Llama

    from promptmill.backends.local import without_weight_repacking

    started = time.perf_counter()
    # The same load switch as the backend (it crashes on AMX CPUs otherwise), so both
    # sides of the comparison run the same kernels.
    with without_weight_repacking():
        llama = Llama(
            model_path=path,
            n_ctx=context,
            n_threads=threads,
            n_threads_batch=threads,
            seed=seed,
            verbose=False,
        )
    return llama, time.perf_counter() - started


def _direct_generate(llama: Any, max_tokens: int, seed: int) -> tuple[int, float]:
    started = time.perf_counter()
    completion = llama.create_chat_completion(
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        max_tokens=max_tokens,
        temperature=0.0,
        seed=seed,
    )
    seconds = time.perf_counter() - started
    return int(completion["usage"]["completion_tokens"]), seconds


def _promptmill_generate(backend: Any, max_tokens: int) -> tuple[int, float]:
    from promptmill.backends.base import ChatRequest, ChatTurn

    request = ChatRequest(
        turns=[ChatTurn(role="user", text=USER)],
        system=SYSTEM,
        max_tokens=max_tokens,
        temperature=0.0,
        timeout=600.0,
    )
    started = time.perf_counter()
    reply = backend.chat(request)
    return reply.output_tokens, time.perf_counter() - started


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "local benchmark")
    parser.add_argument(
        "--max-tokens", type=int, help="tokens to generate (default 256; 32 with --quick)"
    )
    parser.add_argument("--runs", type=int, help="generations per side (default 3; 1 with --quick)")
    args = parser.parse_args(argv)
    max_tokens = args.max_tokens or (32 if args.quick else 256)
    runs = args.runs or (1 if args.quick else 3)

    from promptmill.backends.local import LocalBackend
    from promptmill.config import Settings

    settings = Settings(backend="local")
    started = time.perf_counter()
    backend = LocalBackend.from_settings(settings)
    from_settings_seconds = time.perf_counter() - started
    path, threads, context, seed = (
        str(backend.model_path),
        backend.threads,
        backend.context,
        backend.seed,
    )
    print(f"model {backend.model} ({path}), {threads} threads, n_ctx {context}", file=sys.stderr)

    llama, direct_load_seconds = _direct_load(path, threads, context, seed)
    samples: dict[str, list[dict[str, float]]] = {"promptmill": [], "direct": []}
    # Warm both once (first-call allocations), then alternate so drift hits both equally.
    _promptmill_generate(backend, 8)
    _direct_generate(llama, 8, seed)
    for run in range(runs):
        for side in ("promptmill", "direct"):
            if side == "promptmill":
                tokens, seconds = _promptmill_generate(backend, max_tokens)
            else:
                tokens, seconds = _direct_generate(llama, max_tokens, seed)
            samples[side].append(
                {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds}
            )
            print(
                f"run {run + 1} {side}: {tokens} tokens in {seconds:.2f}s "
                f"= {tokens / seconds:.1f} tok/s",
                file=sys.stderr,
            )
    del llama
    gc.collect()

    medians = {
        side: statistics.median(s["tokens_per_second"] for s in values)
        for side, values in samples.items()
    }
    summary: dict[str, dict[str, Any]] = {
        side: {
            "tokens_per_second_median": medians[side],
            "tokens_median": statistics.median(s["tokens"] for s in values),
            "seconds_median": statistics.median(s["seconds"] for s in values),
            "runs": values,
        }
        for side, values in samples.items()
    }
    tps_ratio = ratio(medians["promptmill"], medians["direct"])
    load = {
        "promptmill_llama_seconds": backend.load_seconds,
        "promptmill_from_settings_seconds": from_settings_seconds,
        "direct_seconds": direct_load_seconds,
    }
    rows = [
        [
            "promptmill LocalBackend.chat",
            summary["promptmill"]["tokens_per_second_median"],
            summary["promptmill"]["tokens_median"],
            backend.load_seconds,
            from_settings_seconds,
        ],
        [
            "llama_cpp.Llama direct",
            summary["direct"]["tokens_per_second_median"],
            summary["direct"]["tokens_median"],
            direct_load_seconds,
            None,
        ],
    ]
    markdown = (
        f"Model `{backend.model}`, {threads} threads, n_ctx {context}, max_tokens {max_tokens}, "
        f"temperature 0, median of {runs} run(s)\n\n"
        + markdown_table(
            [
                "side",
                "tokens/s",
                "tokens generated",
                "load s (Llama)",
                "load s (from_settings, incl. verify)",
            ],
            rows,
        )
        + f"\n\nratio promptmill / direct tokens/s: **{_round(tps_ratio)}**\n"
    )
    data = {
        "quick": args.quick,
        "model": backend.model,
        "model_path": path,
        "threads": threads,
        "context": context,
        "max_tokens": max_tokens,
        "runs": runs,
        "load": load,
        "promptmill": summary["promptmill"],
        "direct": summary["direct"],
        "tokens_per_second_ratio": tps_ratio,
    }
    json_path, _ = write_results("local", data, markdown, args.results_dir)
    print(markdown)
    print(f"wrote {json_path}")
    return 0
