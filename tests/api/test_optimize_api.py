"""``POST /v1/promptmill/optimize`` over real HTTP: a promptmill server on loopback whose
backend is the OpenAI backend pointed at the wire-real fake OpenAI server.

The fake answers a plain chat with "Here is a response about <the prompt's words>.",
so a ``contains`` grader passes when the case's expected word is in the prompt, and an
``exact`` grader fails every case: enough to drive the optimizer through both paths.
"""

from __future__ import annotations

from typing import Any

import httpx

from promptmill.optimize_types import OptimizeResult
from promptmill.protocol import OPTIMIZE_PATH, PROMPT_TOOLS_BETA
from tests.api.sse import parse_events
from tests.conftest import RunningServer

PROMPT = {"messages": [{"role": "user", "content": "Which colour is this fruit?\n\n{{FRUIT}}"}]}
CASES = [
    {"vars": {"FRUIT": fruit}, "expected": colour}
    for fruit, colour in [
        ("banana", "yellow"),
        ("cherry", "red"),
        ("lime", "green"),
        ("plum", "purple"),
        ("lemon", "yellow"),
        ("strawberry", "red"),
        ("kiwi", "green"),
        ("grape", "purple"),
    ]
]


def body(**changes: Any) -> dict[str, Any]:
    return {"prompt": PROMPT, "cases": CASES, "graders": [{"type": "exact"}], **changes}


def post(server: RunningServer, payload: Any, **headers: str) -> httpx.Response:
    return httpx.post(
        server.base_url + OPTIMIZE_PATH, headers=server.headers(**headers), json=payload, timeout=60
    )


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["type"], error["message"]


def test_optimize_answers_the_best_prompt_with_every_candidate(
    promptmill_server: RunningServer,
) -> None:
    response = post(promptmill_server, body(budget=40))
    assert response.status_code == 200, response.text
    result = OptimizeResult.model_validate(response.json())
    assert result.candidates[0].label == "original" and len(result.candidates) > 1
    assert len(result.split.train) == 6 and len(result.split.held_out) == 2
    assert result.held_out is not None and result.original_held_out is not None
    # Every candidate fails an exact grader on the fake: the original stands.
    assert result.label == "original" and not result.improved
    assert result.prompt.messages[0].text == "Which colour is this fruit?\n\n{{FRUIT}}"


def test_the_budget_bounds_the_calls_the_backend_receives(
    promptmill_server: RunningServer,
) -> None:
    response = post(promptmill_server, body(budget=17))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["calls"] == len(promptmill_server.fake.requests) <= 17
    assert len(result["usage"]) == result["calls"]


def test_a_candidate_showing_the_expected_outputs_wins_when_they_make_the_answers_right(
    promptmill_server: RunningServer,
) -> None:
    # The fake repeats the prompt's words, so a prompt showing examples, or naming the
    # form of the answers, "contains" the expected colours of other cases too: such a
    # candidate scores higher than the original.
    response = post(promptmill_server, body(graders=[{"type": "contains"}], budget=60))
    assert response.status_code == 200, response.text
    result = OptimizeResult.model_validate(response.json())
    assert result.improved and result.train.score > result.original_train.score
    assert result.label.startswith("few-shot") or result.label == "original, answer form named"


def test_stream_true_sends_progress_with_the_calls_spent_then_the_result(
    promptmill_server: RunningServer,
) -> None:
    response = post(promptmill_server, body(budget=30, stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_events(response.text)
    names = [name for name, _ in events]
    assert names[-1] == "result" and set(names[:-1]) == {"progress"}
    progress = [data for _, data in events[:-1]]
    assert all(p["budget"] == 30 and 0 <= p["calls"] <= 30 for p in progress)
    assert {"evaluate", "evaluated", "held_out"} <= {p["stage"] for p in progress}
    OptimizeResult.model_validate(events[-1][1])


def test_accept_event_stream_also_streams(promptmill_server: RunningServer) -> None:
    response = post(promptmill_server, body(budget=30), accept="text/event-stream")
    assert parse_events(response.text)[-1][0] == "result"


def test_an_unknown_grader_is_a_400_naming_it(promptmill_server: RunningServer) -> None:
    response = post(promptmill_server, body(graders=[{"type": "exact"}, {"type": "fuzzy"}]))
    status, kind, message = error_of(response)
    assert (status, kind) == (400, "invalid_request_error")
    assert message.startswith("graders.1.type: unknown grader 'fuzzy'; choose one of exact")
    assert promptmill_server.fake.requests == []


def test_an_invalid_regex_grader_is_a_400_naming_its_pattern(
    promptmill_server: RunningServer,
) -> None:
    response = post(promptmill_server, body(graders=[{"type": "regex", "pattern": "("}]))
    assert error_of(response)[2].startswith("graders.0.pattern: invalid regular expression")


def test_a_budget_too_small_is_a_400_saying_how_many_calls_are_needed(
    promptmill_server: RunningServer,
) -> None:
    status, _, message = error_of(post(promptmill_server, body(budget=5)))
    assert status == 400
    assert message.startswith("budget: 5 calls cannot evaluate the original prompt")
    assert "at least 8 are needed" in message
    assert promptmill_server.fake.requests == []


def test_a_budget_that_is_not_a_positive_integer_is_a_400(
    promptmill_server: RunningServer,
) -> None:
    assert error_of(post(promptmill_server, body(budget=0)))[2].startswith("budget: ")
    assert error_of(post(promptmill_server, body(budget="ten")))[2].startswith("budget: ")


def test_a_case_missing_a_variable_is_a_400_naming_the_case(
    promptmill_server: RunningServer,
) -> None:
    cases = [*CASES[:3], {"vars": {"VEGETABLE": "leek"}, "expected": "green"}]
    status, _, message = error_of(post(promptmill_server, body(cases=cases)))
    assert status == 400
    assert message.startswith("cases.3.vars: missing variable FRUIT")


def test_a_malformed_case_is_a_400_naming_the_field(promptmill_server: RunningServer) -> None:
    cases = [{"vars": {"FRUIT": 3}, "expected": "red"}]
    assert error_of(post(promptmill_server, body(cases=cases)))[2].startswith(
        "cases.0.vars.FRUIT: "
    )
    assert error_of(post(promptmill_server, body(cases=[])))[2].startswith("cases: ")


def test_neither_prompt_nor_task_is_a_400(promptmill_server: RunningServer) -> None:
    payload = {"cases": CASES, "graders": [{"type": "exact"}]}
    assert error_of(post(promptmill_server, payload))[2].startswith("prompt: required")


def test_a_task_is_turned_into_a_prompt_with_the_cases_variables(
    promptmill_server: RunningServer,
) -> None:
    payload = {
        "task": "Name the colour of a fruit",
        "cases": CASES,
        "graders": [{"type": "contains"}],
        "budget": 20,
    }
    response = post(promptmill_server, payload)
    assert response.status_code == 200, response.text
    assert "{{FRUIT}}" in str(response.json()["original"])


def test_the_beta_header_and_the_key_are_required(promptmill_server: RunningServer) -> None:
    url = promptmill_server.base_url + OPTIMIZE_PATH
    no_key = httpx.post(url, json=body(), headers={"anthropic-beta": PROMPT_TOOLS_BETA})
    assert error_of(no_key)[:2] == (401, "authentication_error")
    no_beta = httpx.post(url, json=body(), headers={"x-api-key": promptmill_server.api_key})
    assert error_of(no_beta)[:2] == (400, "invalid_request_error")
    assert PROMPT_TOOLS_BETA in error_of(no_beta)[2]


def test_the_call_is_recorded_in_the_history(promptmill_server: RunningServer) -> None:
    response = post(promptmill_server, body(budget=20))
    calls = promptmill_server.store.recent_calls("default", limit=5)
    assert calls[0].endpoint == "optimize" and calls[0].status == 200
    assert calls[0].id == response.headers["request-id"]


def test_openapi_documents_the_request_and_the_result(promptmill_server: RunningServer) -> None:
    schema = httpx.get(promptmill_server.base_url + "/openapi.json").json()
    operation = schema["paths"][OPTIMIZE_PATH]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OptimizeRequest"
    }
    ok = operation["responses"]["200"]["content"]
    assert ok["application/json"]["schema"] == {"$ref": "#/components/schemas/OptimizeResult"}
    assert "text/event-stream" in ok
    components = schema["components"]["schemas"]
    assert {"budget", "cases", "graders", "prompt", "task"} <= set(
        components["OptimizeRequest"]["properties"]
    )
    assert {"prompt", "train", "held_out", "candidates", "calls"} <= set(
        components["OptimizeResult"]["properties"]
    )
