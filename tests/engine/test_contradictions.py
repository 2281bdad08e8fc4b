"""A plan does not refuse what its task asks for: no rule answering "null" to input not yet
in the answer's format, no example refusing another example's answer (issue 9,
bench/downstream dates)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promptmill.engine import PromptEngine
from promptmill.engine.contradictions import without_contradictions
from promptmill.engine.plan import parse_plan
from tests.fakes.scripted_backend import ScriptedBackend

DATES_TASK = (
    "Extract the calendar date mentioned in a sentence and write it in ISO 8601 form "
    "(YYYY-MM-DD). Answer with the date only."
)

# What Qwen 1.5B planned for DATES_TASK (bench/downstream, stop 17), in part.
REFUSING_PLAN: dict[str, Any] = {
    "task_kind": "extract",
    "role": "text extraction specialist",
    "objective": "Extract the date from the sentence and write it in ISO 8601 format.",
    "inputs": [{"name": "SENTENCE", "description": "A sentence with a date mentioned"}],
    "steps": ["Find the date", "Write it as YYYY-MM-DD"],
    "constraints": ["Write nothing but the date"],
    "edge_cases": [
        "If the sentence does not contain a date, return null.",
        "If the date is not in ISO 8601 format, return null.",
    ],
    "output_format": "A single string in ISO 8601 format (YYYY-MM-DD).",
    "examples": [
        {"input": "The event is on 2023-04-15.", "output": "2023-04-15"},
        {"input": "The meeting is on 2023/04/15.", "output": "null"},
    ],
}


def test_a_rule_refusing_input_not_yet_in_the_answers_format_is_dropped() -> None:
    plan = without_contradictions(parse_plan(REFUSING_PLAN), DATES_TASK)
    assert plan.edge_cases == ["If the sentence does not contain a date, return null."]


@pytest.mark.parametrize(
    "rule",
    [
        "Return null if the date is not in a recognised format",
        "If the sentence does not contain a date, return null.",
        "If the input is not in English, answer in English",
    ],
)
def test_other_refusals_are_kept(rule: str) -> None:
    plan = parse_plan({**REFUSING_PLAN, "edge_cases": [rule]})
    assert without_contradictions(plan, DATES_TASK).edge_cases == [rule]


def test_an_example_refusing_another_examples_answer_is_dropped() -> None:
    plan = without_contradictions(parse_plan(REFUSING_PLAN), DATES_TASK)
    assert [e.output for e in plan.examples] == ["2023-04-15"]


def test_an_example_refusing_input_without_an_answer_is_kept() -> None:
    examples = [
        {"input": "The event is on 2023-04-15.", "output": "2023-04-15"},
        {"input": "See you soon.", "output": "null"},
    ]
    plan = parse_plan({**REFUSING_PLAN, "examples": examples})
    assert len(without_contradictions(plan, DATES_TASK).examples) == 2


def test_generate_returns_a_prompt_that_does_not_refuse_its_task() -> None:
    backend = ScriptedBackend([json.dumps(REFUSING_PLAN)])
    prompt = PromptEngine(backend).generate(DATES_TASK).messages[0].text
    assert "not in ISO 8601 format" not in prompt
    assert "2023/04/15" not in prompt
