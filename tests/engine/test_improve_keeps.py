"""improve_prompt keeps what the original said and applies the feedback: the specifics
(numbers, scales, names, listed requirements) are found, given to the planner as
must-keep, checked in the plan, fed back when lost and restored if the model never
repairs them; feedback about the answer's format changes the output, not the inputs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promptmill.engine import PromptEngine
from promptmill.engine.specifics import (
    extract_specifics,
    missing_specifics,
    requested_format_words,
    requested_items,
    survives,
)
from promptmill.engine.types import PromptMessage
from tests.fakes.scripted_backend import ScriptedBackend

TICKET_PROMPT = (
    "Summarize this support ticket in two sentences and say how angry the customer is "
    "from 1 to 5: {{TICKET}}"
)
FEEDBACK = "Also extract the product name and make the output JSON"

GOOD: dict[str, Any] = {
    "task_kind": "extract",
    "role": "support ticket analyst",
    "context": "A support team uses you to triage tickets.",
    "objective": "Summarize a support ticket in two sentences and rate the anger from 1 to 5.",
    "input_descriptions": {"TICKET": "The customer's support ticket text"},
    "steps": ["Read the ticket", "Write two sentences", "Find the product name", "Rate 1 to 5"],
    "constraints": ["Rate anger from 1 to 5"],
    "edge_cases": ["If the ticket is empty, say so"],
    "tone": "Neutral",
    "output_format": "A JSON object with summary, product_name and anger.",
    "output_fields": [
        {"name": "summary", "type": "string", "description": "Two sentences"},
        {"name": "product_name", "type": "string", "description": "The product"},
        {"name": "anger", "type": "integer", "description": "1 to 5"},
    ],
    "examples": [{"input": "My Zap printer broke!", "output": '{"anger": 4}'}],
}


def _improve(*replies: dict[str, Any]) -> tuple[str, ScriptedBackend]:
    backend = ScriptedBackend([json.dumps(r) for r in replies])
    result = PromptEngine(backend).improve(
        [PromptMessage.of("user", TICKET_PROMPT)], feedback=FEEDBACK
    )
    return result.messages[0].text, backend


def test_the_specifics_of_a_prompt_are_found() -> None:
    assert extract_specifics(TICKET_PROMPT) == ["two sentences", "1 to 5"]
    assert extract_specifics("Answer as Captain Nemo of the Nautilus, in 50 words.") == [
        "Captain Nemo",
        "Nautilus",
        "50 words",
    ]
    assert extract_specifics('Rules:\n- Reply in French\n- Sign as "The Team"') == [
        "Reply in French",
        "French",
        'Sign as "The Team"',
        "The Team",
    ]


def test_variable_names_are_not_specifics() -> None:
    assert extract_specifics("Translate {{SOURCE_TEXT}} into {{LANGUAGE}}") == []


@pytest.mark.parametrize(
    "said", ["rate it from 1 to 5", "a score of 1-5", "between 1 and 5", "one to five"]
)
def test_a_scale_survives_in_any_usual_spelling(said: str) -> None:
    assert survives("1 to 5", said)


def test_a_counted_requirement_survives_with_digits_or_words() -> None:
    assert survives("two sentences", "in 2 short sentences")
    assert not survives("two sentences", "in three sentences")


def test_a_lost_scale_is_reported_missing() -> None:
    assert missing_specifics(["1 to 5", "two sentences"], "Summarise in two sentences.") == [
        "1 to 5"
    ]


def test_feedback_that_asks_to_suggest_or_provide_something_is_a_requested_item() -> None:
    assert requested_items("Also suggest a fixed version of the code") == [
        "fixed version of the code"
    ]
    assert requested_items("Provide a confidence score") == ["confidence score"]


def test_the_feedbacks_format_and_requested_items_are_read() -> None:
    assert requested_format_words(FEEDBACK) == ["json"]
    assert requested_items(FEEDBACK) == ["product name"]


def test_the_planner_is_told_what_it_must_keep() -> None:
    _, backend = _improve(GOOD)
    request = backend.requests[0].turns[0].text
    assert "must appear word for word" in request
    assert "- two sentences\n- 1 to 5" in request
    assert "never changes what the inputs are" in request


def test_a_plan_that_keeps_everything_and_applies_the_feedback_is_taken_at_once() -> None:
    prompt, backend = _improve(GOOD)
    assert len(backend.requests) == 1
    assert "1 to 5" in prompt and "{{TICKET}}" in prompt


def test_a_lost_scale_is_fed_back_to_the_model() -> None:
    lost = {
        **GOOD,
        "objective": "Summarize a support ticket in two sentences.",
        "steps": ["Read the ticket", "Write two sentences", "Find the product name"],
        "constraints": ["Be accurate"],
        "output_fields": GOOD["output_fields"][:2],
    }
    prompt, backend = _improve(lost, GOOD)
    assert "the plan drops these specifics of the original: '1 to 5'" in (
        backend.requests[1].turns[-1].text
    )
    assert "1 to 5" in prompt


def test_a_scale_the_model_never_restores_comes_back_as_the_originals_sentence() -> None:
    lost = {
        **GOOD,
        "objective": "Summarize a support ticket in two sentences.",
        "steps": ["Read the ticket", "Write two sentences", "Find the product name"],
        "constraints": ["Be accurate"],
        "output_fields": GOOD["output_fields"][:2],
    }
    prompt, backend = _improve(lost, lost, lost)
    assert len(backend.requests) == 3
    assert "say how angry the customer is from 1 to 5: ticket." in prompt


def test_output_format_feedback_must_reach_the_output_format() -> None:
    no_json = {**GOOD, "output_format": "Two sentences, then the product and the anger score."}
    _, backend = _improve(no_json, GOOD)
    assert "the feedback asks for json output" in backend.requests[1].turns[-1].text


def test_output_format_feedback_never_describes_the_input() -> None:
    json_input = {
        **GOOD,
        "input_descriptions": {"TICKET": "A JSON object containing the support ticket details"},
    }
    prompt, backend = _improve(json_input, json_input, json_input)
    assert "input TICKET is described as json" in backend.requests[1].turns[-1].text
    assert "A JSON object containing the support ticket" not in prompt


def test_a_requested_item_missing_from_the_answer_is_fed_back() -> None:
    no_product = {
        **GOOD,
        "steps": ["Read the ticket", "Write two sentences", "Rate 1 to 5"],
        "output_format": "A JSON object with summary and anger.",
        "output_fields": [GOOD["output_fields"][0], GOOD["output_fields"][2]],
    }
    _, backend = _improve(no_product, GOOD)
    assert "the feedback asks the answer to include 'product name'" in (
        backend.requests[1].turns[-1].text
    )
