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


TICKET_TASK = (
    "Summarize this support ticket in two sentences and say how angry the customer is "
    "from 1 to 5: {{TICKET}}\nAlso extract the product name and make the output JSON"
)


def test_a_plan_of_another_kind_loses_a_closed_list_the_request_never_names() -> None:
    # The ticket classifier exemplar's rule, copied into an improved summary (bench/improve).
    copied = "Use only: billing, bug, account, feature_request, other."
    kept = "Rate the anger from 1 to 5."
    plan = parse_plan({**NEUTRAL_PLAN, "task_kind": "extract", "constraints": [copied, kept]})
    assert keep_named_answers(plan, TICKET_TASK).constraints == [kept]


@pytest.mark.parametrize(
    "rule",
    [
        "Use only: Celsius or Fahrenheit.",  # the request names one of them
        "Use only the ticket's own words.",  # not a list of answers
        "Use only: metric units.",  # a single entry is a rule, not a closed set
    ],
)
def test_a_list_the_request_draws_on_or_a_plain_rule_is_kept(rule: str) -> None:
    task = "Write a weather report for a city in Celsius from the forecast data"
    plan = parse_plan({**NEUTRAL_PLAN, "task_kind": "write", "constraints": [rule]})
    assert keep_named_answers(plan, task).constraints == [rule]


MEETING_TASK = "From a meeting transcript, list the action items with owner and due date."


def test_a_plan_of_another_kind_loses_the_classifiers_catch_all() -> None:
    # bench/quality's meeting-actions (stop 18): the ticket classifier exemplar's edge case.
    copied = "If the transcript is empty or does not contain any action items, answer other."
    kept = "If an item has no owner, write 'unassigned'."
    plan = parse_plan({**NEUTRAL_PLAN, "task_kind": "extract", "edge_cases": [copied, kept]})
    assert keep_named_answers(plan, MEETING_TASK).edge_cases == [kept]


def test_a_catch_all_selected_is_dropped_too() -> None:
    # BIG-bench's colored objects (stop 19): a question about colours, no "other" anywhere.
    copied = "If yes, select that color; otherwise, select other."
    kept = "Name the colour the question asks about."
    plan = parse_plan({**NEUTRAL_PLAN, "task_kind": "", "steps": [copied, kept]})
    task = "Answer extremely simple questions about the colors of objects on a surface"
    assert keep_named_answers(plan, task).steps == [kept]


def test_labels_after_a_first_cue_that_names_none_are_read() -> None:
    # bench/quality's spam-filter: "Label" names nothing, its "as" names the labels.
    assert named_answers("Label SMS messages as spam or ham.") == {"spam", "ham"}


def test_a_predefined_list_that_is_no_answer_set_is_dropped_though_answers_are_named() -> None:
    # bench/quality's spam-filter plan: no list of spam keywords is ever given.
    line = "Use a predefined list of spam keywords and patterns."
    plan = parse_plan({**NEUTRAL_PLAN, "steps": [line, "Read the message."]})
    assert keep_named_answers(plan, "Label SMS messages as spam or ham.").steps == [
        "Read the message."
    ]


def test_a_predefined_set_the_request_never_gives_is_dropped() -> None:
    # Colored objects' plan (stop 19): the assistant has no list of "predefined colors".
    lines = ["Check if the location matches a predefined color.", "Name the colour asked."]
    task = "Answer extremely simple questions about the colors of objects on a surface"
    for kind in ("", "classify"):
        plan = parse_plan({**NEUTRAL_PLAN, "task_kind": kind, "steps": lines})
        assert keep_named_answers(plan, task).steps == lines[1:]


@pytest.mark.parametrize(
    "task",
    [
        "Map each word to one of our predefined intents.",  # the request says it
        SENTIMENT_TASK,  # it names its answers: those are the predefined ones
    ],
)
def test_a_predefined_set_the_request_gives_is_kept(task: str) -> None:
    line = "Use only the predefined labels."
    plan = parse_plan({**NEUTRAL_PLAN, "constraints": [line]})
    assert keep_named_answers(plan, task).constraints == [line]


@pytest.mark.parametrize(
    "line",
    [
        "Answer only: positive, negative or neutral.",  # a list, not the label "only"
        "Select neutral if the review is mixed.",
        "Pick the label neutral when unsure.",
    ],
)
def test_a_label_outside_the_set_is_found_whatever_the_verb(line: str) -> None:
    plan = parse_plan({**NEUTRAL_PLAN, "constraints": [line]})
    assert keep_named_answers(plan, SENTIMENT_TASK).constraints == []


@pytest.mark.parametrize(
    "line",
    [
        "Output the answer.",  # "answer" is the noun after "the", not a label
        "Return the label in lower case.",
        "SELECT sentiment FROM reviews",  # SQL, not an answer
        "Answer only: positive or negative.",
    ],
)
def test_a_line_with_no_foreign_label_is_kept(line: str) -> None:
    plan = parse_plan({**NEUTRAL_PLAN, "constraints": [line]})
    assert keep_named_answers(plan, SENTIMENT_TASK).constraints == [line]


@pytest.mark.parametrize(
    ("line", "task"),
    [
        ("Answer other questions politely.", MEETING_TASK),  # not the label
        ("If nothing fits, answer other.", MEETING_TASK + " Put anything else under other."),
    ],
)
def test_other_that_is_no_copied_catch_all_is_kept(line: str, task: str) -> None:
    plan = parse_plan({**NEUTRAL_PLAN, "task_kind": "extract", "edge_cases": [line]})
    assert keep_named_answers(plan, task).edge_cases == [line]


def test_a_classification_keeps_its_catch_all() -> None:
    line = "If the ticket is about nothing else, answer other."
    plan = parse_plan({**NEUTRAL_PLAN, "edge_cases": [line]})
    assert keep_named_answers(plan, "Classify support tickets by topic").edge_cases == [line]
