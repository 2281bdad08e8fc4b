"""Evaluation benchmark: a graded run through promptmill's API against a plain loop.

Part **fake** (the throughput figure): the instant fake OpenAI server
(``tests/fakes/openai_server.py``) and ``promptmill serve`` with the ``openai`` backend
pointing at it run in their own processes. A run of ``--cases`` cases (one variant, a
``contains`` grader on each case's expected label, concurrency ``C``) is started with
``POST /v1/promptmill/runs`` and followed to the end through ``GET runs/{id}/events``
(SSE), timed from the POST to the ``done`` event. The reference is a plain loop doing
the same work with the same concurrency: a thread pool of ``C`` calling the openai
SDK's ``chat.completions.create`` against the same fake, with the same messages (the
template filled the same way) and the same check. Rounds alternate the two sides.

Part **local**: the same run on the embedded model (``promptmill serve`` with the
``local`` backend), fewer cases; cases per minute, and the latency of ``GET /`` sampled
every ``--sample-interval`` seconds by another thread of this process during the run
(and before it, idle): a run must not starve the API.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx

from bench.report import base_parser, markdown_table, percentile, ratio, write_results
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

API_HEADERS = {
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "prompt-tools-2025-04-02",
}
SYSTEM = "You classify the sentiment of customer reviews of kitchen products."
USER = (
    "Classify the sentiment of this review as positive or negative. "
    "Answer with the one word only.\n\n<review>\n{{REVIEW}}\n</review>"
)
GRADERS = [{"type": "contains"}]  # each case's expected label, case-insensitive

_PRODUCTS = ["blender", "chef's knife", "cast-iron pan", "kettle", "toaster", "rice cooker"]
_POSITIVE = [
    "works perfectly and cleans up in a minute",
    "is the best purchase I made this year",
    "feels solid and does exactly what it promises",
    "arrived early and has been flawless every day",
]
_NEGATIVE = [
    "broke after two weeks and support never answered",
    "smells of burnt plastic every time I use it",
    "is flimsy and the handle came loose at once",
    "stopped working the day after the return window closed",
]


def make_cases(count: int) -> list[dict[str, Any]]:
    """``count`` distinct reviews, alternately positive and negative, with their label."""
    cases = []
    for index in range(count):
        positive = index % 2 == 0
        phrases = _POSITIVE if positive else _NEGATIVE
        product = _PRODUCTS[index // 2 % len(_PRODUCTS)]
        review = f"Order {1000 + index}: this {product} {phrases[index // 12 % len(phrases)]}."
        cases.append(
            {"vars": {"REVIEW": review}, "expected": "positive" if positive else "negative"}
        )
    return cases


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    return text


# --- promptmill side ------------------------------------------------------------------


def _sse_events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream body; comments (keep-alives) skipped."""
    event, data = "message", []
    for line in response.iter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def promptmill_run(
    client: httpx.Client, cases: list[dict[str, Any]], concurrency: int, max_tokens: int
) -> dict[str, Any]:
    """One run through the API, from the POST to the SSE ``done`` event."""
    body = {
        "variants": [
            {"prompt": {"system": SYSTEM, "messages": [{"role": "user", "content": USER}]}}
        ],
        "cases": cases,
        "graders": GRADERS,
        "temperature": 0.0,
        "max_tokens": max_tokens,
        "concurrency": concurrency,
    }
    started_at = time.perf_counter()
    created = client.post("/v1/promptmill/runs", json=body)
    if created.status_code != 202:
        raise RuntimeError(f"POST runs answered {created.status_code}: {created.text[:500]}")
    run_id = created.json()["id"]
    final: dict[str, Any] | None = None
    progress_events = 0
    with client.stream("GET", f"/v1/promptmill/runs/{run_id}/events") as stream:
        if stream.status_code != 200:
            raise RuntimeError(f"GET runs/{run_id}/events answered {stream.status_code}")
        for event, data in _sse_events(stream):
            if event == "progress":
                progress_events += 1
            elif event == "done":
                final = json.loads(data)
                break
    seconds = time.perf_counter() - started_at
    if final is None:
        raise RuntimeError(f"the events of run {run_id} ended without a done event")
    if final["status"] != "completed":
        raise RuntimeError(f"run {run_id} ended {final['status']}: {final.get('error')}")
    (summary,) = final["summary"]
    return {
        "cases": len(cases),
        "seconds": seconds,
        "cases_per_second": len(cases) / seconds,
        # created -> finished as the server recorded it: without the HTTP calls and the
        # SSE poll interval at either end.
        "server_seconds": _seconds_between(final["created_at"], final["finished_at"]),
        "queue_wait_seconds": _seconds_between(final["created_at"], final["started_at"]),
        "progress_events": progress_events,
        "errors": final["errors"],
        "pass_rate": summary["pass_rate"],
        "mean_latency_ms": summary["mean_latency_ms"],
    }


# --- the reference: a plain loop on the same backend -----------------------------------


def reference_run(
    base_url: str, model: str, cases: list[dict[str, Any]], concurrency: int, max_tokens: int
) -> dict[str, Any]:
    """The same calls and check as a run, from a thread pool of ``concurrency``."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0, timeout=60.0)
    system = {"role": "system", "content": SYSTEM}

    def one(case: dict[str, Any]) -> tuple[bool, bool]:
        try:
            completion = client.chat.completions.create(
                model=model,
                messages=[system, {"role": "user", "content": _fill(USER, case["vars"])}],
                temperature=0.0,
                max_tokens=max_tokens,
            )
        except openai.OpenAIError:
            return False, True
        text = completion.choices[0].message.content or ""
        return case["expected"].lower() in text.lower(), False

    started_at, cpu_before = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = list(pool.map(one, cases))
    seconds = time.perf_counter() - started_at
    cpu_seconds = time.process_time() - cpu_before
    client.close()
    return {
        "cases": len(cases),
        "seconds": seconds,
        "cases_per_second": len(cases) / seconds,
        "cpu_ms_per_case": cpu_seconds * 1000 / len(cases),
        "errors": sum(error for _, error in outcomes),
        "pass_rate": sum(passed for passed, _ in outcomes) / len(cases),
    }


# --- GET / while a run works ----------------------------------------------------------------


class LatencySampler:
    """Times ``GET url`` every ``interval`` seconds from its own thread until stopped."""

    def __init__(self, url: str, interval: float, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.interval = interval
        self.latencies_ms: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="get-root-sampler", daemon=True)

    def _sample(self) -> None:
        with httpx.Client(headers=self.headers, timeout=10.0) as client:
            while not self._stop.is_set():
                began = time.perf_counter()
                try:
                    client.get(self.url).raise_for_status()
                    self.latencies_ms.append((time.perf_counter() - began) * 1000)
                except httpx.HTTPError:
                    self.failures += 1
                self._stop.wait(max(0.0, self.interval - (time.perf_counter() - began)))

    def __enter__(self) -> LatencySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def stats(self) -> dict[str, Any]:
        values = self.latencies_ms
        return {
            "samples": len(values),
            "failures": self.failures,
            "p50_ms": percentile(values, 50),
            "p99_ms": percentile(values, 99),
            "max_ms": max(values) if values else None,
        }


def idle_latency(base_url: str, seconds: float, interval: float) -> dict[str, Any]:
    with LatencySampler(base_url, interval) as sampler:
        time.sleep(seconds)
    return sampler.stats()


# --- the two parts ------------------------------------------------------------------------


@contextmanager
def promptmill_server(
    env: dict[str, str], log: IO[bytes], start_timeout: float
) -> Iterator[tuple[httpx.Client, int]]:
    """``promptmill serve`` under ``env``: a client carrying a fresh key, and its pid."""
    key = create_key(env)
    port = free_port()
    with started(serve_command(port), env, log) as server:
        wait_until_serving(port, server, timeout=start_timeout)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"x-api-key": key, **API_HEADERS},
            timeout=httpx.Timeout(600.0, connect=10.0),
        ) as client:
            yield client, server.pid


def measure_fake(args: Any, base_env: dict[str, str], home: Path, log: IO[bytes]) -> dict[str, Any]:
    cases = make_cases(args.cases)
    warmup = make_cases(min(16, args.cases))
    with fake_openai(base_env, log) as fake_url:
        env = {
            **base_env,
            "PROMPTMILL_HOME": str(home / "fake"),
            "PROMPTMILL_BACKEND": "openai",
            "PROMPTMILL_OPENAI_BASE_URL": fake_url,
            "PROMPTMILL_OPENAI_API_KEY": "test",
            "PROMPTMILL_RATE_LIMIT_PER_MINUTE": "0",
            "PROMPTMILL_EVAL_WORKERS": str(args.eval_workers),
        }
        with promptmill_server(env, log, start_timeout=60.0) as (client, pid):
            model = client.get("/").json()["model"]
            idle = idle_latency(f"{client.base_url}/", 1.0, args.sample_interval)
            promptmill_run(client, warmup, args.concurrency, args.max_tokens)
            reference_run(fake_url, model, warmup, args.concurrency, args.max_tokens)
            rounds: list[dict[str, Any]] = []
            for number in range(args.rounds):
                cpu_before = process_cpu_seconds(pid)
                with LatencySampler(f"{client.base_url}/", args.sample_interval) as sampler:
                    ours = promptmill_run(client, cases, args.concurrency, args.max_tokens)
                ours["get_root_ms"] = sampler.stats()
                ours["cpu_ms_per_case"] = (
                    (process_cpu_seconds(pid) - cpu_before) * 1000 / len(cases)
                )
                reference = reference_run(fake_url, model, cases, args.concurrency, args.max_tokens)
                rounds.append({"promptmill": ours, "reference": reference})
                print(
                    f"round {number + 1}: promptmill {ours['cases_per_second']:.1f} cases/s "
                    f"(server {ours['server_seconds']:.2f}s), "
                    f"reference {reference['cases_per_second']:.1f} cases/s",
                    file=sys.stderr,
                )
    for r in rounds:
        r["ratio"] = ratio(r["promptmill"]["cases_per_second"], r["reference"]["cases_per_second"])
    median_ours = statistics.median(r["promptmill"]["cases_per_second"] for r in rounds)
    median_reference = statistics.median(r["reference"]["cases_per_second"] for r in rounds)
    return {
        "cases": args.cases,
        "concurrency": args.concurrency,
        "eval_workers": args.eval_workers,
        "model": model,
        "promptmill_cases_per_second": median_ours,
        "reference_cases_per_second": median_reference,
        # Each round pairs the two sides a few seconds apart, so the median of the
        # per-round ratios cancels most of the drift of a shared machine's load.
        "ratio": statistics.median(r["ratio"] for r in rounds),
        "promptmill_cpu_ms_per_case": statistics.median(
            r["promptmill"]["cpu_ms_per_case"] for r in rounds
        ),
        "reference_cpu_ms_per_case": statistics.median(
            r["reference"]["cpu_ms_per_case"] for r in rounds
        ),
        "goal_ratio": 0.8,
        "get_root_idle_ms": idle,
        "rounds": rounds,
    }


def measure_local(
    args: Any, base_env: dict[str, str], home: Path, log: IO[bytes]
) -> dict[str, Any]:
    cases = make_cases(args.local_cases)
    env = {
        **base_env,
        "PROMPTMILL_HOME": str(home / "local"),
        "PROMPTMILL_BACKEND": "local",
        "PROMPTMILL_RATE_LIMIT_PER_MINUTE": "0",
        "PROMPTMILL_EVAL_WORKERS": str(args.eval_workers),
    }
    # The control: the same sampling of another small ASGI app (the fake's model list) in
    # its own process. Whatever slows it is the machine, not promptmill.
    with (
        fake_openai(base_env, log) as fake_url,
        promptmill_server(env, log, start_timeout=600.0) as (client, _),
    ):
        control_url, control_headers = f"{fake_url}/models", {"authorization": "Bearer test"}
        model = client.get("/").json()["model"]
        idle = idle_latency(f"{client.base_url}/", 2.0, args.sample_interval)
        promptmill_run(client, make_cases(1), 1, 8)  # first-call allocations
        with (
            LatencySampler(f"{client.base_url}/", args.sample_interval) as sampler,
            LatencySampler(control_url, args.sample_interval, control_headers) as control,
        ):
            run = promptmill_run(client, cases, args.concurrency, args.local_max_tokens)
    busy = sampler.stats()
    print(
        f"local: {run['cases_per_second'] * 60:.1f} cases/min; GET / p99 "
        f"{busy['p99_ms']:.1f} ms during the run, {idle['p99_ms']:.1f} ms idle; "
        f"control p99 {control.stats()['p99_ms']:.1f} ms",
        file=sys.stderr,
    )
    return {
        "cases": args.local_cases,
        "concurrency": args.concurrency,
        "eval_workers": args.eval_workers,
        "max_tokens": args.local_max_tokens,
        "model": model,
        "cases_per_minute": run["cases_per_second"] * 60,
        "run": run,
        "get_root_idle_ms": idle,
        "get_root_during_run_ms": busy,
        "control_during_run_ms": control.stats(),
        "get_root_series_ms": [round(ms, 1) for ms in sampler.latencies_ms],
        "goal_get_root_p99_ms": 100.0,
    }


# --- output ---------------------------------------------------------------------------------


def _render(data: dict[str, Any]) -> str:
    parts = []
    fake = data.get("fake")
    if fake:
        rows = [
            [
                number + 1,
                r["promptmill"]["cases_per_second"],
                r["promptmill"]["server_seconds"],
                r["reference"]["cases_per_second"],
                r["ratio"],
                r["promptmill"]["cpu_ms_per_case"],
                r["reference"]["cpu_ms_per_case"],
                r["promptmill"]["get_root_ms"]["p99_ms"],
                f"{r['promptmill']['errors']} / {r['reference']['errors']}",
            ]
            for number, r in enumerate(fake["rounds"])
        ]
        rows.append(
            [
                "median",
                fake["promptmill_cases_per_second"],
                None,
                fake["reference_cases_per_second"],
                fake["ratio"],
                fake["promptmill_cpu_ms_per_case"],
                fake["reference_cpu_ms_per_case"],
                None,
                "",
            ]
        )
        parts.append(
            f"## fake OpenAI backend: {fake['cases']} cases, concurrency {fake['concurrency']}, "
            f"{fake['eval_workers']} eval worker(s)\n\n"
            + markdown_table(
                [
                    "round",
                    "promptmill cases/s",
                    "server s",
                    "plain loop cases/s",
                    "ratio",
                    "pm server CPU ms/case",
                    "loop CPU ms/case",
                    "GET / p99 ms",
                    "errors pm / loop",
                ],
                rows,
            )
            + f"\n\nRatio promptmill / plain loop (median of the rounds' ratios): "
            f"**{fake['ratio']:.2f}** (goal >= 0.8)."
        )
    local = data.get("local")
    if local:
        busy, idle = local["get_root_during_run_ms"], local["get_root_idle_ms"]
        parts.append(
            f"## embedded model ({local['model']}): {local['cases']} cases, "
            f"max_tokens {local['max_tokens']}\n\n"
            + markdown_table(
                [
                    "cases/min",
                    "mean case latency ms",
                    "GET / p50 ms (run)",
                    "GET / p99 ms (run)",
                    "GET / max ms (run)",
                    "GET / p99 ms (idle)",
                    "control p99 ms (run)",
                    "samples",
                    "errors",
                ],
                [
                    [
                        local["cases_per_minute"],
                        local["run"]["mean_latency_ms"],
                        busy["p50_ms"],
                        busy["p99_ms"],
                        busy["max_ms"],
                        idle["p99_ms"],
                        local["control_during_run_ms"]["p99_ms"],
                        busy["samples"],
                        local["run"]["errors"],
                    ]
                ],
            )
            + f"\n\nGET / p99 during the run: **{busy['p99_ms']:.1f} ms** (goal < 100 ms)."
        )
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "eval benchmark")
    parser.add_argument(
        "--parts",
        default=None,
        help="comma-separated: fake, local (default both; fake only with --quick)",
    )
    parser.add_argument("--cases", type=int, help="cases per run on the fake (200; 12 quick)")
    parser.add_argument("--rounds", type=int, help="alternating rounds on the fake (5; 1 quick)")
    parser.add_argument("--concurrency", type=int, default=4, help="the run's concurrency C (4)")
    parser.add_argument(
        "--eval-workers",
        type=int,
        default=1,
        help="the server's PROMPTMILL_EVAL_WORKERS (1, so a run never has more than C calls "
        "in flight, like the plain loop)",
    )
    parser.add_argument("--max-tokens", type=int, default=64, help="max_tokens on the fake (64)")
    parser.add_argument("--local-cases", type=int, default=20, help="cases on the model (20)")
    parser.add_argument(
        "--local-max-tokens", type=int, default=16, help="max_tokens on the model (16)"
    )
    parser.add_argument(
        "--sample-interval", type=float, default=0.1, help="seconds between GET / samples (0.1)"
    )
    args = parser.parse_args(argv)
    parts = (args.parts or ("fake" if args.quick else "fake,local")).split(",")
    unknown = set(parts) - {"fake", "local"}
    if unknown:
        parser.error(f"--parts: unknown part(s) {sorted(unknown)}; choose fake, local")
    args.cases = args.cases or (12 if args.quick else 200)
    args.rounds = args.rounds or (1 if args.quick else 5)

    data: dict[str, Any] = {"quick": args.quick, "sample_interval_seconds": args.sample_interval}
    with (
        tempfile.TemporaryDirectory(prefix="promptmill-bench-") as home,
        open(Path(home) / "servers.log", "wb") as log,
    ):
        base_env = bench_env()
        base_env.pop("PROMPTMILL_DATABASE_URL", None)
        base_env.pop("PROMPTMILL_REDIS_URL", None)
        try:
            if "fake" in parts:
                data["fake"] = measure_fake(args, base_env, Path(home), log)
            if "local" in parts:
                data["local"] = measure_local(args, base_env, Path(home), log)
        except Exception:
            log.flush()
            print((Path(home) / "servers.log").read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
    markdown = _render(data)
    json_path, _ = write_results("eval", data, markdown, args.results_dir)
    print(markdown)
    print(f"\nwrote {json_path}")
    return 0
