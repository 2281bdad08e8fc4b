"""The model calls of evaluation and optimization count in the key's usage and history.

A promptmill server on the fake OpenAI; what is checked is what ``promptmill usage``
reads (``Store.usage_totals``) and the recorded calls, against the requests the fake
model actually received.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from promptmill.protocol import OPTIMIZE_PATH
from tests.conftest import RunningServer
from tests.eval.conftest import API, CHEF, client, food_cases, wait_for_run

PROMPTMILL = shutil.which("promptmill", path=str(Path(sys.executable).parent)) or "promptmill"
FOODS = ("eggs", "rice", "beans", "kale", "figs", "tofu", "leeks", "pasta", "salmon", "oats")


def run_to_the_end(server: RunningServer, graders: list[dict[str, Any]]) -> dict[str, Any]:
    with client(server) as http:
        created = http.post(
            f"{API}/runs",
            json={"variants": [{"prompt": CHEF}], "cases": food_cases(*FOODS), "graders": graders},
        )
        assert created.status_code == 202, created.text
        return wait_for_run(http, created.json()["id"])


def run_records(server: RunningServer) -> list[Any]:
    return [c for c in server.store.recent_calls("default", 200) if c.endpoint == "eval_run"]


def test_a_runs_model_calls_are_recorded_under_the_key_that_created_it(
    promptmill_server: RunningServer,
) -> None:
    run = run_to_the_end(promptmill_server, [{"type": "contains"}])
    assert run["status"] == "completed"
    records = run_records(promptmill_server)
    assert len(records) == 2  # ten cases: two chunks of at most eight
    assert {r.key_id for r in records} == {promptmill_server.key_id}
    assert {r.request["run_id"] for r in records} == {run["id"]}
    assert sum(len(r.usage) for r in records) == len(FOODS) == len(promptmill_server.fake.requests)
    tokens = sum(s["input_tokens"] for s in run["summary"])
    assert sum(r.input_tokens for r in records) == tokens > 0


def test_a_runs_tokens_count_in_the_workspace_usage(promptmill_server: RunningServer) -> None:
    before = promptmill_server.store.usage_totals("default")[0]
    run = run_to_the_end(promptmill_server, [{"type": "contains"}])
    after = promptmill_server.store.usage_totals("default")[0]
    summary = run["summary"][0]
    assert after.input_tokens - before.input_tokens == summary["input_tokens"]
    assert after.output_tokens - before.output_tokens == summary["output_tokens"]
    assert after.by_endpoint["eval_run"] == 2


def test_rubric_judge_calls_are_counted_with_the_answers(promptmill_server: RunningServer) -> None:
    run_to_the_end(promptmill_server, [{"type": "rubric", "rubric": "Names a dish"}])
    judged = len(promptmill_server.fake.requests)
    assert judged > len(FOODS)  # every answer, then its judge
    assert sum(len(r.usage) for r in run_records(promptmill_server)) == judged


def test_generated_cases_are_recorded_with_their_usage(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        response = http.post(f"{API}/cases/generate", json={"prompt": CHEF, "count": 2})
    assert response.status_code == 200, response.text
    (call,) = promptmill_server.store.recent_calls("default", 5)
    assert (call.endpoint, call.status, call.key_id) == (
        "generate_cases",
        200,
        promptmill_server.key_id,
    )
    assert call.id == response.headers["request-id"]
    assert call.usage == response.json()["usage"] and call.input_tokens > 0
    assert call.model == promptmill_server.settings.openai_model


def test_generated_cases_are_recorded_under_the_model_they_asked_for(
    promptmill_server: RunningServer,
) -> None:
    with client(promptmill_server) as http:
        body = {"prompt": CHEF, "count": 2, "model": "gpt-4.1-nano"}
        response = http.post(f"{API}/cases/generate", json=body)
    assert response.status_code == 200, response.text
    (call,) = promptmill_server.store.recent_calls("default", 5)
    assert call.model == "gpt-4.1-nano"
    assert promptmill_server.fake.requests[-1]["model"] == "gpt-4.1-nano"


def test_a_failed_case_generation_is_recorded_as_an_error(
    promptmill_server: RunningServer,
) -> None:
    promptmill_server.fake.enqueue_error(404, message="The model no-such-model does not exist")
    with client(promptmill_server) as http:
        response = http.post(
            f"{API}/cases/generate", json={"prompt": CHEF, "count": 2, "model": "no-such-model"}
        )
    assert response.status_code >= 400
    (call,) = promptmill_server.store.recent_calls("default", 5)
    assert (call.endpoint, call.status) == ("generate_cases", response.status_code)
    assert call.error_type == response.json()["error"]["type"]
    assert promptmill_server.store.usage_totals("default")[0].errors == 1


def test_optimizes_model_calls_count_in_the_workspace_usage(
    promptmill_server: RunningServer,
) -> None:
    body = {
        "prompt": {"messages": [{"role": "user", "content": "Cook {{FOOD}}."}]},
        "cases": food_cases(*FOODS[:6]),
        "graders": [{"type": "exact"}],
        "budget": 30,
    }
    response = httpx.post(
        promptmill_server.base_url + OPTIMIZE_PATH,
        headers=promptmill_server.headers(),
        json=body,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    totals = promptmill_server.store.usage_totals("default")[0]
    assert len(usage) == len(promptmill_server.fake.requests)
    assert totals.input_tokens == sum(u["input_tokens"] for u in usage) > 0
    assert totals.by_endpoint == {"optimize": 1}


def test_promptmill_usage_shows_the_runs_calls(promptmill_server: RunningServer) -> None:
    run = run_to_the_end(promptmill_server, [{"type": "contains"}])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTMILL_")}
    env["PROMPTMILL_HOME"] = str(promptmill_server.settings.home)
    done = subprocess.run(
        [PROMPTMILL, "usage", "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (workspace,) = json.loads(done.stdout)
    assert workspace["by_endpoint"] == {"eval_run": 2}
    assert workspace["input_tokens"] == run["summary"][0]["input_tokens"]
