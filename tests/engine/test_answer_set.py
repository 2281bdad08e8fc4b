"""A classification task that names its answers keeps exactly those answers: no label and
no counting rule the task never gave (issue 9, bench/downstream sentiment at 0.78x)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promptmill.engine import PromptEngine
from promptmill.engine.answer_set import keep_named_answers, named_answers
from promptmill.engine.plan import parse_plan
from tests.fakes.scripted_backend import ScriptedBackend

SENTIMENT_TASK = (
    "Classify the sentiment of a short product review as positive or negative. "
    "Answer with the single word positive or negative."
)

# What Qwen 1.5B planned for SENTIMENT_TASK (bench/results/downstream.json, stop 16).
NEUTRAL_PLAN: dict[str, Any] = {
    "task_kind": "classify",
    "role": "sentiment analyst",
    "context": "A customer service representative uses you to classify short reviews.",
    "objective": "Classify a short product review as positive or negative.",
    "inputs": [{"name": "PRODUCT_REVIEW", "description": "A short text review of a product"}],
    "steps": [
        "Read the review carefully.",
        "Identify positive or negative words and phrases.",
        "Use a simple rule to classify: positive if more than 5 positive words, "
        "negative if more than 5 negative words.",
        "If there are no positive or negative words, classify as neutral.",
    ],
    "constraints": ["Use only: positive, negative or neutral."],
    "edge_cases": [
        "If the review is empty or contains only punctuation, classify as neutral.",
        "If the review is sarcastic, read it for what the writer means.",
    ],
    "tone": "Neutral",
    "output_format": "The single word positive or negative, in lower case.",
    "output_fields": [],
    "examples": [
        {"input": "Great product!", "output": "positive"},
        {"input": "It arrived.", "output": "neutral"},
    ],
}


@pytest.mark.parametrize(
    ("task", "answers"),
    [
        (SENTIMENT_TASK, {"positive", "negative"}),
        (
            "Decide whether a support email is urgent (an outage, money at stake) or "
            "not_urgent. Answer with the single label urgent or not_urgent.",
            {"urgent", "not_urgent"},
        ),
        ("Classify emails as spam or not spam.", {"spam", "not spam"}),
        ("Classify short texts as sarcastic or not", {"sarcastic", "not sarcastic"}),
        (
            "Tag each message with one of: billing, bug, account or other",
            {"billing", "bug", "account", "other"},
        ),
    ],
)
def test_the_answers_a_task_spells_out_are_read_from_it(task: str, answers: set[str]) -> None:
    assert named_answers(task) == answers


@pytest.mark.parametrize(
    "task",
    [
        "classify support tickets by topic",
        "Classify news articles as they arrive, by topic",
        "Classify tickets by topic such as billing, bugs or account issues",
        "Rewrite the text as a formal letter",
    ],
)
def test_a_task_that_lists_no_closed_set_of_answers_names_none(task: str) -> None:
    assert named_answers(task) == frozenset()


def test_a_classify_plan_loses_every_line_and_example_with_a_label_the_task_never_gave() -> None:
    plan = keep_named_answers(parse_plan(NEUTRAL_PLAN), SENTIMENT_TASK)
    text = " ".join(plan.text_fields()).casefold()
    assert "neutral" not in text.replace("tone", "").replace(plan.tone.casefold(), "")
    assert [e.output for e in plan.examples] == ["positive"]
    assert plan.edge_cases == ["If the review is sarcastic, read it for what the writer means."]


def test_a_classify_plan_loses_a_counting_rule_the_task_never_stated() -> None:
    plan = keep_named_answers(parse_plan(NEUTRAL_PLAN), SENTIMENT_TASK)
    assert plan.steps == [
        "Read the review carefully.",
        "Identify positive or negative words and phrases.",
    ]


def test_a_count_the_task_states_is_kept() -> None:
    task = "Classify a password as weak or strong: strong has at least 12 characters."
    steps = ["Count the characters", "Call it strong if it has at least 12 characters"]
    plan = parse_plan({**NEUTRAL_PLAN, "steps": steps})
    assert keep_named_answers(plan, task).steps == steps


def test_plans_of_other_kinds_are_left_as_written() -> None:
    plan = parse_plan({**NEUTRAL_PLAN, "task_kind": "write"})
    assert keep_named_answers(plan, SENTIMENT_TASK) == plan


def test_generate_returns_no_label_outside_the_tasks_answers() -> None:
    backend = ScriptedBackend([json.dumps(NEUTRAL_PLAN)])
    prompt = PromptEngine(backend).generate(SENTIMENT_TASK).messages[0].text
    assert "neutral" not in prompt.replace("Tone: Neutral", "")
    assert "more than 5" not in prompt
