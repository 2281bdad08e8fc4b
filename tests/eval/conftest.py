"""Evaluation over HTTP: helpers shared by the tests of the ``/v1/promptmill/`` endpoints.

The PostgreSQL fixtures of the store tests are re-exported so a run can be tested on a
real PostgreSQL server too.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import RunningServer
from tests.store.conftest import postgres_server, postgres_url

__all__ = ["postgres_server", "postgres_url"]

API = "/v1/promptmill"

CHEF = {
    "messages": [{"role": "user", "content": "Suggest one dish made with {{FOOD}}."}],
    "system": "You are a chef.",
}
"""A prompt whose fake-model answers repeat its words, so the food shows up in the output."""

VAGUE = {"messages": [{"role": "user", "content": "Say anything at all."}]}
"""A prompt without variables: cases may fill more than a prompt uses; its answers never
name the food."""


def food_cases(*foods: str) -> list[dict[str, Any]]:
    return [{"vars": {"FOOD": food}, "expected": food} for food in foods]


def client(server: RunningServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=server.headers(), timeout=30)


def wait_for_run(http: httpx.Client, run_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the run until it is final; fail the test with its state if it never is."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = http.get(f"{API}/runs/{run_id}").json()
        if run["status"] in ("completed", "cancelled", "failed"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run did not finish in {timeout}s: {run}")
        time.sleep(0.1)
