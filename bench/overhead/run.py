"""Overhead benchmark: promptmill per request against a bare proxy making the same backend calls.

Four processes on loopback, all started and stopped by this script:
the instant fake OpenAI server (``tests/fakes/openai_server.py``), ``promptmill serve``
using it as its backend (with a key made by ``promptmill keys create`` under a
temporary ``PROMPTMILL_HOME``), the bare proxy (``bare_app.py`` under uvicorn: one
FastAPI endpoint sending the fake the very chat-completions calls promptmill sends for
the benchmark's task, through the same ``openai`` SDK), and, per measurement, the load
generator (``load.py``). The calls are captured first, in this process, by running
promptmill's engine once against an in-process fake (``capture_backend_calls``).

For each concurrency level, ``--rounds`` rounds each load both servers, one after the
other, the order alternating from round to round, so drift in the machine's load hits
both sides alike. Reported per level: requests/s (median of the rounds), p50 and p99
latency (over the pooled answers of all rounds) of each side; the ratios promptmill/bare
(the median of the rounds' ratios); and promptmill's own share of p50 latency, the
median over rounds of promptmill p50 minus bare p50. The 1-minute load average is
recorded before every round.

Then the scale-out part: ``promptmill serve --workers N`` for each N of ``--workers``
(default 1 and 2), on the same home and key, loaded at the highest concurrency level;
reported are its requests/s and latencies per N. The fake backend answers at once, so
this measures promptmill's own work spread over processes (on a machine with fewer
free cores than processes, the figures show the contention, not the scaling).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from bench.overhead.bare_app import BACKEND_VARIABLE, CALLS_VARIABLE
from bench.report import (
    REPO_ROOT,
    base_parser,
    markdown_table,
    percentile,
    ratio,
    save_chart,
    write_results,
)
from bench.servers import (
    bench_env,
    create_key,
    fake_openai,
    free_port,
    process_cpu_seconds,
    serve_command,
    started,
    wait_until_serving,
)

ENDPOINT = "/v1/experimental/generate_prompt"
TASK = "a chef for a meal prep planning service"
BODY = json.dumps({"task": TASK})
API_HEADERS = ["anthropic-version:2023-06-01", "anthropic-beta:prompt-tools-2025-04-02"]
SIDES = ("promptmill", "bare")


def capture_backend_calls(task: str) -> list[dict[str, Any]]:
    """The chat-completions bodies promptmill's engine sends the fake for ``task``.

    The engine is built the one way the server builds it (``build_engine``), from the
    same environment, pointed at an in-process fake that keeps what it received.
    """
    from tests.fakes.openai_server import FakeOpenAIServer

    from promptmill.config import Settings
    from promptmill.startup import build_engine

    with FakeOpenAIServer() as fake:
        settings = Settings(backend="openai", openai_base_url=fake.base_url, openai_api_key="test")
        build_engine(settings).generate(task)
        return list(fake.requests)


def run_load(
    url: str, concurrency: int, requests: int, duration: float, headers: list[str]
) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.overhead.load",
        "--url",
        url,
        "--concurrency",
        str(concurrency),
        "--requests",
        str(requests),
        "--duration",
        str(duration),
        "--body",
        BODY,
    ]
    for header in headers:
        command += ["--header", header]
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=duration + 120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _load_with_cpu(
    pid: int, url: str, concurrency: int, requests: int, duration: float, headers: list[str]
) -> dict[str, Any]:
    """``run_load``, plus the server process's CPU milliseconds per answer (Linux /proc).

    CPU time is what a busy shared machine skews least: the other jobs slow a request
    down, but hardly change how much work the server does for it.
    """
    before = process_cpu_seconds(pid)
    result = run_load(url, concurrency, requests, duration, headers)
    answers = result["requests"] + concurrency  # the warm-up answers cost CPU too
    result["server_cpu_ms_per_request"] = (process_cpu_seconds(pid) - before) * 1000 / answers
    return result


def _stats(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "latencies_ms"}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "overhead benchmark")
    parser.add_argument(
        "--concurrency",
        default=None,
        help="comma-separated client counts (default 1,16,64; 1,4 quick)",
    )
    parser.add_argument(
        "--duration", type=float, help="seconds per measurement (default 10; 1 quick)"
    )
    parser.add_argument(
        "--requests", type=int, help="max requests per measurement (default 5000; 30 quick)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds per client count, each loading both sides in turn (default 3; 1 quick)",
    )
    parser.add_argument(
        "--workers",
        default="1,2",
        help="comma-separated `serve --workers` counts for the scale-out part (default 1,2)",
    )
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in args.workers.split(",") if w]
    levels = [int(c) for c in (args.concurrency or ("1,4" if args.quick else "1,16,64")).split(",")]
    duration = args.duration or (1.0 if args.quick else 10.0)
    max_requests = args.requests or (30 if args.quick else 5000)
    rounds = args.rounds or (1 if args.quick else 3)

    args.results_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="promptmill-bench-") as home,
        open(Path(home) / "servers.log", "wb") as log,
    ):
        calls = capture_backend_calls(TASK)
        calls_path = Path(home) / "bare-calls.json"
        calls_path.write_text(json.dumps({"task": TASK, "calls": calls}))
        base_env = bench_env()
        promptmill_port, bare_port = free_port(), free_port()
        with fake_openai(base_env, log) as fake_url:
            env = {
                **base_env,
                "PROMPTMILL_HOME": home,
                "PROMPTMILL_BACKEND": "openai",
                "PROMPTMILL_OPENAI_BASE_URL": fake_url,
                "PROMPTMILL_OPENAI_API_KEY": "test",
                "PROMPTMILL_RATE_LIMIT_PER_MINUTE": "0",
                # The bare proxy admits every request; so must promptmill, or the highest
                # level measures its 529s rather than its work.
                "PROMPTMILL_MAX_INFLIGHT_MODEL_CALLS": str(max(levels)),
            }
            env.pop("PROMPTMILL_DATABASE_URL", None)
            bare_env = {**base_env, CALLS_VARIABLE: str(calls_path), BACKEND_VARIABLE: fake_url}
            key = create_key(env)
            serve_cmd = serve_command(promptmill_port)
            bare_cmd = [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.overhead.bare_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
            ]
            with started(serve_cmd, env, log) as server, started(bare_cmd, bare_env, log) as bare:
                wait_until_serving(promptmill_port, server)
                wait_until_serving(bare_port, bare)
                pids = {"promptmill": server.pid, "bare": bare.pid}
                urls = {
                    "promptmill": f"http://127.0.0.1:{promptmill_port}{ENDPOINT}",
                    "bare": f"http://127.0.0.1:{bare_port}{ENDPOINT}",
                }
                headers = {
                    "promptmill": [f"x-api-key:{key}", *API_HEADERS],
                    "bare": ["x-api-key:unused", *API_HEADERS],
                }
                measurements = [
                    _measure_level(level, rounds, duration, max_requests, pids, urls, headers)
                    for level in levels
                ]
            scale_out = _measure_workers(
                worker_counts, max(levels), duration, max_requests, key, env, log
            )
        server_log = (Path(home) / "servers.log").read_text(errors="replace")

    for level in measurements:
        for side in SIDES:
            if level[side]["errors"]:
                print(f"{side} errors, e.g.: {level[side]['error_sample']}", file=sys.stderr)
                print(server_log[-4000:], file=sys.stderr)
    chart = save_chart(args.results_dir / "overhead.png", _draw(measurements))
    for level in measurements:
        for side in SIDES:
            level[side].pop("latencies_ms")
    for run in scale_out:
        run["load"] = _stats(run["load"])
    markdown = _render(measurements, chart) + _render_workers(scale_out)
    data = {
        "quick": args.quick,
        "duration_seconds": duration,
        "max_requests": max_requests,
        "rounds": rounds,
        "endpoint": ENDPOINT,
        "request_body": json.loads(BODY),
        "backend_calls_per_request": len(calls),
        "chart": chart,
        "levels": measurements,
        "workers": scale_out,
    }
    json_path, _ = write_results("overhead", data, markdown, args.results_dir)
    print(markdown)
    print(f"\nwrote {json_path}")
    failed = any(level[side]["ok"] == 0 for level in measurements for side in SIDES) or any(
        run["load"]["ok"] == 0 for run in scale_out
    )
    return 1 if failed else 0


def _measure_level(
    concurrency: int,
    rounds: int,
    duration: float,
    max_requests: int,
    pids: dict[str, int],
    urls: dict[str, str],
    headers: dict[str, list[str]],
) -> dict[str, Any]:
    """``rounds`` rounds at one client count, each loading both sides, order alternating."""
    per_round: list[dict[str, Any]] = []
    for index in range(rounds):
        load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        order = SIDES if index % 2 == 0 else SIDES[::-1]
        results = {
            side: _load_with_cpu(
                pids[side], urls[side], concurrency, max_requests, duration, headers[side]
            )
            for side in order
        }
        p, b = results["promptmill"], results["bare"]
        per_round.append(
            {
                "load_average_1m": load_average,
                "order": list(order),
                **{side: _stats(results[side]) for side in SIDES},
                "latencies_ms": {side: results[side]["latencies_ms"] for side in SIDES},
                "ratios": _ratios(p, b),
                "own_p50_ms": p["latency_ms"]["p50"] - b["latency_ms"]["p50"],
            }
        )
        print(
            f"c={concurrency} round {index + 1}: promptmill {p['requests_per_second']:.0f} req/s "
            f"p50 {p['latency_ms']['p50']:.1f} ms; bare {b['requests_per_second']:.0f} req/s "
            f"p50 {b['latency_ms']['p50']:.1f} ms (load {load_average})",
            file=sys.stderr,
        )
    level: dict[str, Any] = {"concurrency": concurrency}
    for side in SIDES:
        latencies = [ms for r in per_round for ms in r["latencies_ms"][side]]
        stats = [r[side] for r in per_round]
        ok = sum(s["ok"] for s in stats)
        level[side] = {
            "requests_per_second": statistics.median(s["requests_per_second"] for s in stats),
            "server_cpu_ms_per_request": statistics.median(
                s["server_cpu_ms_per_request"] for s in stats
            ),
            "ok": ok,
            "errors": sum(s["errors"] for s in stats),
            "error_sample": next((s["error_sample"] for s in stats if s["error_sample"]), None),
            "latency_ms": {
                "p50": percentile(latencies, 50),
                "p90": percentile(latencies, 90),
                "p99": percentile(latencies, 99),
                "max": max(latencies, default=0.0),
            },
            "latencies_ms": latencies,
        }
    for r in per_round:
        del r["latencies_ms"]
    level["ratios"] = {
        name: statistics.median(r["ratios"][name] or 0.0 for r in per_round)
        for name in ("requests_per_second", "p50_latency", "p99_latency")
    }
    level["own_p50_ms"] = statistics.median(r["own_p50_ms"] for r in per_round)
    level["rounds"] = per_round
    return level


def _ratios(promptmill: dict[str, Any], bare: dict[str, Any]) -> dict[str, float | None]:
    p, b = promptmill["latency_ms"], bare["latency_ms"]
    return {
        "requests_per_second": ratio(
            promptmill["requests_per_second"], bare["requests_per_second"]
        ),
        "p50_latency": ratio(p["p50"], b["p50"]),
        "p99_latency": ratio(p["p99"], b["p99"]),
    }


def _measure_workers(
    counts: list[int],
    concurrency: int,
    duration: float,
    max_requests: int,
    key: str,
    env: dict[str, str],
    log: IO[bytes],
) -> list[dict[str, Any]]:
    """Throughput of ``promptmill serve --workers N`` for each N, at one concurrency."""
    runs = []
    for workers in counts:
        port = free_port()
        command = [*serve_command(port), "--workers", str(workers)]
        with started(command, {**env, "PROMPTMILL_EVAL_WORKERS": "0"}, log) as server:
            wait_until_serving(port, server)
            load = run_load(
                f"http://127.0.0.1:{port}{ENDPOINT}",
                concurrency,
                max_requests,
                duration,
                [f"x-api-key:{key}", *API_HEADERS],
            )
        runs.append({"workers": workers, "concurrency": concurrency, "load": load})
        print(
            f"--workers {workers}, c={concurrency}: {load['requests_per_second']:.0f} req/s "
            f"p50 {load['latency_ms']['p50']:.1f} ms",
            file=sys.stderr,
        )
    return runs


def _render_workers(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return ""
    base = runs[0]["load"]["requests_per_second"]
    rows = [
        [
            run["workers"],
            run["concurrency"],
            run["load"]["requests_per_second"],
            ratio(run["load"]["requests_per_second"], base),
            run["load"]["latency_ms"]["p50"],
            run["load"]["latency_ms"]["p99"],
            run["load"]["errors"],
        ]
        for run in runs
    ]
    table = markdown_table(
        [
            "serve --workers",
            "clients",
            "req/s",
            f"vs {runs[0]['workers']}",
            "p50 ms",
            "p99 ms",
            "errors",
        ],
        rows,
    )
    return f"\n\n## Throughput by worker processes\n\n{table}\n"


def _render(levels: list[dict[str, Any]], chart: str | None) -> str:
    rows = []
    for level in levels:
        p, b, r = level["promptmill"], level["bare"], level["ratios"]
        rows.append(
            [
                level["concurrency"],
                p["requests_per_second"],
                p["latency_ms"]["p50"],
                p["latency_ms"]["p99"],
                b["requests_per_second"],
                b["latency_ms"]["p50"],
                b["latency_ms"]["p99"],
                r["requests_per_second"],
                r["p50_latency"],
                r["p99_latency"],
                level["own_p50_ms"],
                p["server_cpu_ms_per_request"],
                b["server_cpu_ms_per_request"],
                ", ".join(f"{r['load_average_1m']:.1f}" for r in level["rounds"]),
                f"{p['errors']} / {b['errors']}",
            ]
        )
    text = markdown_table(
        [
            "clients",
            "promptmill req/s",
            "p50 ms",
            "p99 ms",
            "bare req/s",
            "p50 ms",
            "p99 ms",
            "req/s ratio",
            "p50 ratio",
            "p99 ratio",
            "own p50 ms",
            "server CPU ms/req pm",
            "bare",
            "load avg per round",
            "errors pm / bare",
        ],
        rows,
    )
    if chart:
        text += f"\n\n![latency distributions]({chart})\n"
    return text


def _draw(levels: list[dict[str, Any]]) -> Any:
    def draw(figure: Any) -> None:
        axes = figure.subplots(1, len(levels), squeeze=False)[0]
        for ax, level in zip(axes, levels, strict=True):
            data = [
                level["promptmill"]["latencies_ms"] or [0.0],
                level["bare"]["latencies_ms"] or [0.0],
            ]
            ax.boxplot(data, showfliers=False)
            ax.set_xticks([1, 2], ["promptmill", "bare"])
            ax.set(title=f"{level['concurrency']} client(s)", ylabel="latency ms", yscale="log")

    return draw
