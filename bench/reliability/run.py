"""Reliability benchmark: what clients see when the backend dies or hangs; memory under big bodies.

Processes on loopback, all started and stopped here: the fake OpenAI server
(``tests/fakes/openai_server.py``) as the backend, and ``promptmill serve`` using it
(with a key made by ``promptmill keys create`` under a temporary ``PROMPTMILL_HOME``).
Three phases against one server:

1. **killed**: the fake is killed (SIGKILL), then a bounded closed-loop load runs
   (``--requests`` tool calls from ``--clients`` clients);
2. **hung**: a new fake on the same port is frozen (SIGSTOP: it accepts connections
   and never answers); the same load runs while a prober sends ``GET /`` and a history
   read with a wrong key (a 401) every 50 ms. The server admits half as many model
   calls as there are clients (``PROMPTMILL_MAX_INFLIGHT_MODEL_CALLS``), so both
   answers to a hang show: calls stuck until the deadline, and calls refused at once;
3. **big bodies**: with the backend answering again, 8 clients send a maximal body
   (``PROMPTMILL_MAX_BODY_BYTES``) at once; the server's RSS is sampled from /proc.

Reported per load phase: success rate, status and error-type counts, time to answer
(p50/p99/max), answers that leaked the backend's address or were 500s, and records
lost (answered tool calls minus call records in the database, read after both load
phases). For the hang, ``GET /`` and 401 latencies (p50/p99/max). For the bodies,
peak RSS above the idle baseline, against the body limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.overhead.run import API_HEADERS
from bench.report import REPO_ROOT, base_parser, markdown_table, percentile, write_results
from bench.servers import (
    bench_env,
    create_key,
    fake_base_url,
    fake_openai_command,
    free_port,
    serve_command,
    started,
    stop,
    wait_until_serving,
)

ENDPOINT = "/v1/experimental/generate_prompt"
BODY = {"task": "a chef for a meal prep planning service"}
HISTORY_PATH = "/v1/promptmill/history"
BIG_BODY_CLIENTS = 8
REQUEST_TIMEOUT = 10.0  # the server's deadline, so a hung call ends within the run


def _headers(key: str) -> dict[str, str]:
    return {"x-api-key": key, **dict(h.split(":", 1) for h in API_HEADERS)}


async def _load(
    url: str, key: str, requests: int, clients: int, fake_port: int
) -> list[dict[str, Any]]:
    """``requests`` tool calls from ``clients`` closed-loop clients; one dict per answer."""
    answers: list[dict[str, Any]] = []
    issued = 0
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT + 60) as client:

        async def one_client() -> None:
            nonlocal issued
            while issued < requests:
                issued += 1
                started_at = time.perf_counter()
                try:
                    response = await client.post(url + ENDPOINT, json=BODY, headers=_headers(key))
                    text = response.text
                    status = response.status_code
                    error_type = response.json()["error"]["type"] if status != 200 else None
                    retry_after = response.headers.get("retry-after")
                except httpx.HTTPError as exc:
                    status, text, error_type, retry_after = 0, "", type(exc).__name__, None
                answers.append(
                    {
                        "status": status,
                        "error_type": error_type,
                        "seconds": time.perf_counter() - started_at,
                        "retry_after": retry_after,
                        "leak": "127.0.0.1" in text or f":{fake_port}" in text,
                    }
                )

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return answers


async def _probe(url: str, stop_probing: asyncio.Event) -> dict[str, list[float]]:
    """``GET /`` and a wrong-key call every 50 ms until told to stop; latencies in ms."""
    latencies: dict[str, list[float]] = {"status": [], "unauthorized": []}
    # A GET (the history) carries the key check without a body: a POST's body goes out
    # as a second packet and would measure the client's Nagle delay, not the server.
    wrong = {"x-api-key": "sk-pm-wrong"}
    async with httpx.AsyncClient(timeout=60) as client:
        while not stop_probing.is_set():
            started_at = time.perf_counter()
            await client.get(url + "/")
            latencies["status"].append((time.perf_counter() - started_at) * 1000)
            started_at = time.perf_counter()
            denied = await client.get(url + HISTORY_PATH, headers=wrong)
            assert denied.status_code == 401, denied.text
            latencies["unauthorized"].append((time.perf_counter() - started_at) * 1000)
            await asyncio.sleep(0.05)
    return latencies


async def _load_and_probe(
    url: str, key: str, requests: int, clients: int, fake_port: int
) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    stop_probing = asyncio.Event()
    prober = asyncio.create_task(_probe(url, stop_probing))
    try:
        answers = await _load(url, key, requests, clients, fake_port)
    finally:
        stop_probing.set()
    return answers, await prober


def _summary(answers: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [a["seconds"] * 1000 for a in answers]
    errors = [a["seconds"] * 1000 for a in answers if a["status"] != 200]
    return {
        "requests": len(answers),
        "success_rate": sum(a["status"] == 200 for a in answers) / len(answers),
        "statuses": dict(Counter(str(a["status"]) for a in answers)),
        "error_types": dict(Counter(a["error_type"] for a in answers if a["error_type"])),
        "with_retry_after": sum(a["retry_after"] is not None for a in answers if a["status"]),
        "server_errors_500": sum(a["status"] == 500 for a in answers),
        "leaked_backend_address": sum(a["leak"] for a in answers),
        "ms": _percentiles(seconds),
        "ms_to_error": _percentiles(errors),
        "answered_tool_calls": sum(a["status"] != 0 for a in answers),
        # Admitted calls that waited out the server's deadline; the rest were refused at once.
        "waited_for_deadline": sum(a["seconds"] >= 0.9 * REQUEST_TIMEOUT for a in answers),
    }


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values)}


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/<pid>/status")


def _big_bodies(url: str, key: str, pid: int, limit: int) -> dict[str, Any]:
    """8 maximal bodies at once; peak RSS (sampled every 10 ms) above the idle baseline."""
    text = "Rewrite this paragraph more clearly. " * ((limit - 200) // 38)
    body = json.dumps({"messages": [{"role": "user", "content": text}]}).encode()
    assert len(body) <= limit
    baseline = _rss_bytes(pid)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_bytes(pid))
            time.sleep(0.01)

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT + 120) as client:
            return list(
                await asyncio.gather(
                    *(
                        client.post(
                            url + "/v1/experimental/improve_prompt",
                            content=body,
                            headers={**_headers(key), "content-type": "application/json"},
                        )
                        for _ in range(BIG_BODY_CLIENTS)
                    )
                )
            )

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started_at = time.perf_counter()
    responses = asyncio.run(send_all())
    elapsed = time.perf_counter() - started_at
    time.sleep(0.2)
    done.set()
    sampler.join()
    after = _rss_bytes(pid)
    return {
        "clients": BIG_BODY_CLIENTS,
        "body_bytes": len(body),
        "body_limit_bytes": limit,
        "statuses": dict(Counter(str(r.status_code) for r in responses)),
        "error_types": dict(
            Counter(r.json()["error"]["type"] for r in responses if r.status_code != 200)
        ),
        "seconds": elapsed,
        "baseline_rss_mb": baseline / 2**20,
        "peak_rss_mb": peak / 2**20,
        "rss_after_mb": after / 2**20,
        "peak_increase_mb": (peak - baseline) / 2**20,
        "peak_increase_in_body_limits": (peak - baseline) / limit,
    }


def _records(home: str) -> int:
    from promptmill.store import Store

    with Store.open(f"sqlite:///{Path(home) / 'promptmill.db'}") as store:
        return sum(usage.calls for usage in store.usage_totals())


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else "reliability benchmark")
    parser.add_argument("--requests", type=int, help="tool calls per phase (default 200; 40 quick)")
    parser.add_argument("--clients", type=int, help="concurrent clients (default 16; 4 quick)")
    parser.add_argument(
        "--max-body-mb",
        type=float,
        help="PROMPTMILL_MAX_BODY_BYTES in MiB for the server (default 32; 2 quick)",
    )
    args = parser.parse_args(argv)
    requests = args.requests or (40 if args.quick else 200)
    clients = args.clients or (4 if args.quick else 16)
    limit = int((args.max_body_mb or (2 if args.quick else 32)) * 2**20)

    with (
        tempfile.TemporaryDirectory(prefix="promptmill-bench-") as home,
        open(Path(home) / "servers.log", "wb") as log,
    ):
        # This checkout's code, not whatever promptmill is installed: the figures are its own.
        base_env = bench_env()
        port = free_port()
        fake_cmd = fake_openai_command()  # phase 2 starts a new fake on the same port
        fake = subprocess.Popen(
            fake_cmd,
            env=base_env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        try:
            fake_url = fake_base_url(fake)
            env = {
                **base_env,
                "PROMPTMILL_HOME": home,
                "PROMPTMILL_BACKEND": "openai",
                "PROMPTMILL_OPENAI_BASE_URL": fake_url,
                "PROMPTMILL_OPENAI_API_KEY": "test",
                "PROMPTMILL_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
                "PROMPTMILL_MAX_BODY_BYTES": str(limit),
                "PROMPTMILL_MAX_INFLIGHT_MODEL_CALLS": str(max(1, clients // 2)),
                # The prober's wrong-key reads measure 401 latency, not the throttle.
                "PROMPTMILL_FAILED_KEY_CHECKS_PER_MINUTE": "0",
            }
            env.pop("PROMPTMILL_DATABASE_URL", None)
            key = create_key(env)
            serve_cmd = serve_command(port, log_level="error")
            url = f"http://127.0.0.1:{port}"
            with started(serve_cmd, env, log) as server:
                wait_until_serving(port, server)
                results = _phases(url, key, requests, clients, fake, fake_cmd, base_env, log)
                fake = results.pop("_fake")
                # Every answer above was sent after its record was written.
                recorded = _records(home)
                big = _big_bodies(url, key, server.pid, limit)
        finally:
            _end(fake)

    answered = results["killed"]["answered_tool_calls"] + results["hung"]["answered_tool_calls"]
    data = {
        "quick": args.quick,
        "requests_per_phase": requests,
        "clients": clients,
        "max_inflight_model_calls": max(1, clients // 2),
        "request_timeout_seconds": REQUEST_TIMEOUT,
        **results,
        "records": {"answered": answered, "recorded": recorded, "lost": answered - recorded},
        "big_bodies": big,
    }
    markdown = _render(data)
    json_path, _ = write_results("reliability", data, markdown, args.results_dir)
    print(markdown)
    print(f"\nwrote {json_path}")
    return 0


def _phases(
    url: str,
    key: str,
    requests: int,
    clients: int,
    fake: subprocess.Popen[bytes],
    fake_cmd: list[str],
    env: dict[str, str],
    log: Any,
) -> dict[str, Any]:
    fake_port = int(fake_cmd[-1])
    fake.send_signal(signal.SIGKILL)
    fake.wait(timeout=10)
    killed = _summary(asyncio.run(_load(url, key, requests, clients, fake_port)))

    fake = subprocess.Popen(
        fake_cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log, start_new_session=True
    )
    fake_base_url(fake)
    os.killpg(fake.pid, signal.SIGSTOP)
    answers, probes = asyncio.run(_load_and_probe(url, key, requests, clients, fake_port))
    hung = {
        **_summary(answers),
        "get_status_ms": _percentiles(probes["status"]),
        "unauthorized_ms": _percentiles(probes["unauthorized"]),
        "probes": len(probes["status"]),
    }
    os.killpg(fake.pid, signal.SIGCONT)
    return {"killed": killed, "hung": hung, "_fake": fake}


def _end(fake: subprocess.Popen[bytes]) -> None:
    if fake.poll() is None:
        os.killpg(fake.pid, signal.SIGCONT)
        stop(fake)


def _render(data: dict[str, Any]) -> str:
    rows = []
    for phase in ("killed", "hung"):
        p = data[phase]
        rows.append(
            [
                phase,
                p["requests"],
                f"{p['success_rate']:.0%}",
                ", ".join(f"{k}: {v}" for k, v in sorted(p["statuses"].items())),
                ", ".join(f"{k}: {v}" for k, v in sorted(p["error_types"].items())),
                p["ms_to_error"]["p50"],
                p["ms_to_error"]["p99"],
                p["ms_to_error"]["max"],
                p["waited_for_deadline"],
                p["server_errors_500"],
                p["leaked_backend_address"],
            ]
        )
    text = markdown_table(
        [
            "backend",
            "calls",
            "success",
            "statuses",
            "error types",
            "ms to error p50",
            "p99",
            "max",
            "waited for the deadline",
            "500s",
            "address leaked",
        ],
        rows,
    )
    hung, records, big = data["hung"], data["records"], data["big_bodies"]
    text += (
        f"\n\nDuring the hang ({hung['probes']} probes): `GET /` p50 "
        f"{hung['get_status_ms']['p50']:.1f} ms, p99 {hung['get_status_ms']['p99']:.1f} ms, "
        f"max {hung['get_status_ms']['max']:.1f} ms; a wrong key (401) p50 "
        f"{hung['unauthorized_ms']['p50']:.1f} ms, p99 {hung['unauthorized_ms']['p99']:.1f} ms."
        f"\n\nRecords: {records['answered']} tool calls answered, {records['recorded']} "
        f"recorded, {records['lost']} lost.\n\n"
    )
    text += markdown_table(
        [
            "big bodies",
            "body MB",
            "limit MB",
            "statuses",
            "baseline RSS MB",
            "peak RSS MB",
            "peak increase MB",
            "increase / limit",
            "RSS after MB",
        ],
        [
            [
                big["clients"],
                big["body_bytes"] / 2**20,
                big["body_limit_bytes"] / 2**20,
                ", ".join(f"{k}: {v}" for k, v in sorted(big["statuses"].items())),
                big["baseline_rss_mb"],
                big["peak_rss_mb"],
                big["peak_increase_mb"],
                big["peak_increase_in_body_limits"],
                big["rss_after_mb"],
            ]
        ],
    )
    return text
