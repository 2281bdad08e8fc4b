"""Overhead benchmark: promptmill's own per-request cost against a bare FastAPI endpoint.

Four processes on loopback, all started and stopped by this script:
the instant fake OpenAI server (``tests/fakes/openai_server.py``), ``promptmill serve``
using it as its backend (with a key made by ``promptmill keys create`` under a
temporary ``PROMPTMILL_HOME``), the bare app (``bare_app.py`` under uvicorn), and, per
measurement, the load generator (``load.py``). For each concurrency level the two
servers are loaded in turn with the same request; reported are requests/s, p50 and p99
latency of each, and the ratios promptmill/bare.

Then the scale-out part: ``promptmill serve --workers N`` for each N of ``--workers``
(default 1 and 2), on the same home and key, loaded at the highest concurrency level;
reported are its requests/s and latencies per N. The fake backend answers at once, so
this measures promptmill's own work spread over processes (on a machine with fewer
free cores than processes, the figures show the contention, not the scaling).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from bench.report import REPO_ROOT, base_parser, markdown_table, ratio, save_chart, write_results
from bench.servers import (
    bench_env,
    create_key,
    fake_openai,
    free_port,
    serve_command,
    started,
    wait_until_serving,
)

ENDPOINT = "/v1/experimental/generate_prompt"
BODY = json.dumps({"task": "a chef for a meal prep planning service"})
API_HEADERS = ["anthropic-version:2023-06-01", "anthropic-beta:prompt-tools-2025-04-02"]


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
        "--workers",
        default="1,2",
        help="comma-separated `serve --workers` counts for the scale-out part (default 1,2)",
    )
    args = parser.parse_args(argv)
    worker_counts = [int(w) for w in args.workers.split(",")]
    levels = [int(c) for c in (args.concurrency or ("1,4" if args.quick else "1,16,64")).split(",")]
    duration = args.duration or (1.0 if args.quick else 10.0)
    max_requests = args.requests or (30 if args.quick else 5000)

    args.results_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="promptmill-bench-") as home,
        open(Path(home) / "servers.log", "wb") as log,
    ):
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
            }
            env.pop("PROMPTMILL_DATABASE_URL", None)
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
            with started(serve_cmd, env, log) as server, started(bare_cmd, base_env, log) as bare:
                wait_until_serving(promptmill_port, server)
                wait_until_serving(bare_port, bare)
                measurements = _measure(
                    levels, duration, max_requests, key, promptmill_port, bare_port
                )
            scale_out = _measure_workers(
                worker_counts, max(levels), duration, max_requests, key, env, log
            )
        server_log = (Path(home) / "servers.log").read_text(errors="replace")

    for level in measurements:
        for side in ("promptmill", "bare"):
            if level[side]["errors"]:
                print(f"{side} errors, e.g.: {level[side]['error_sample']}", file=sys.stderr)
                print(server_log[-4000:], file=sys.stderr)
    chart = save_chart(args.results_dir / "overhead.png", _draw(measurements))
    for level in measurements:
        for side in ("promptmill", "bare"):
            level[side] = _stats(level[side])
    for run in scale_out:
        run["load"] = _stats(run["load"])
    markdown = _render(measurements, chart) + _render_workers(scale_out)
    data = {
        "quick": args.quick,
        "duration_seconds": duration,
        "max_requests": max_requests,
        "endpoint": ENDPOINT,
        "request_body": json.loads(BODY),
        "chart": chart,
        "levels": measurements,
        "workers": scale_out,
    }
    json_path, _ = write_results("overhead", data, markdown, args.results_dir)
    print(markdown)
    print(f"\nwrote {json_path}")
    failed = any(
        level[side]["ok"] == 0 for level in measurements for side in ("promptmill", "bare")
    ) or any(run["load"]["ok"] == 0 for run in scale_out)
    return 1 if failed else 0


def _measure(
    levels: list[int],
    duration: float,
    max_requests: int,
    key: str,
    promptmill_port: int,
    bare_port: int,
) -> list[dict[str, Any]]:
    measurements = []
    for concurrency in levels:
        promptmill = run_load(
            f"http://127.0.0.1:{promptmill_port}{ENDPOINT}",
            concurrency,
            max_requests,
            duration,
            [f"x-api-key:{key}", *API_HEADERS],
        )
        bare = run_load(
            f"http://127.0.0.1:{bare_port}{ENDPOINT}",
            concurrency,
            max_requests,
            duration,
            ["x-api-key:unused", *API_HEADERS],
        )
        p_rps, b_rps = promptmill["requests_per_second"], bare["requests_per_second"]
        measurements.append(
            {
                "concurrency": concurrency,
                "promptmill": promptmill,
                "bare": bare,
                "ratios": {
                    "requests_per_second": ratio(p_rps, b_rps),
                    "p50_latency": ratio(
                        promptmill["latency_ms"]["p50"], bare["latency_ms"]["p50"]
                    ),
                    "p99_latency": ratio(
                        promptmill["latency_ms"]["p99"], bare["latency_ms"]["p99"]
                    ),
                },
            }
        )
        print(
            f"c={concurrency}: promptmill {p_rps:.0f} req/s "
            f"p50 {promptmill['latency_ms']['p50']:.1f} ms; "
            f"bare {b_rps:.0f} req/s p50 {bare['latency_ms']['p50']:.1f} ms",
            file=sys.stderr,
        )
    return measurements


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
