"""Choice tasks: a task that asks which of several items fits keeps its own question, and
its prompt asks for the chosen option as the input names it, answered directly; decisions
whose input may list options are told to name the option (issue 9, BIG-bench)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from promptmill.engine import PromptEngine
from promptmill.engine.choice import asks_to_choose, settle_choice
from promptmill.engine.families import Family
from promptmill.engine.headings import headings_for
from promptmill.engine.language import ENGLISH, detect_language
from promptmill.engine.metaprompts import PLANNER_SYSTEM
from promptmill.engine.plan import parse_plan
from promptmill.engine.render import render_prompt
from tests.fakes.scripted_backend import ScriptedBackend

FAMILIES: list[Family] = ["claude", "openai", "openai_reasoning", "gemini", "open"]
CHOICE_TASK = "Determine which of two sentences is sarcastic"

# What a small planner wrote for CHOICE_TASK (bench/results/bigbench.json): a classifier
# of one sentence, whose label names no option of the question it will be given.
LABEL_PLAN: dict[str, Any] = {
    "task_kind": "classify",
    "role": "text analysis specialist",
    "context": "A text analysis model uses you to determine if a sentence is sarcastic.",
    "objective": "Classify a sentence as sarcastic or not.",
    "inputs": [{"name": "SENTENCE", "description": "The sentence to analyze"}],
    "steps": ["Read the sentence carefully", "Identify any sarcastic elements"],
    "constraints": ["Use only: sarcastic, not sarcastic"],
    "edge_cases": ["If the sentence is not a sentence, answer not sarcastic"],
    "tone": "Neutral",
    "output_format": "The classification as sarcastic or not sarcastic, in lower case.",
    "output_fields": [],
    "examples": [{"input": "I'm so excited!", "output": "not sarcastic"}],
}


def _generate(task: str, plan: dict[str, Any], target: str | None = None) -> str:
    backend = ScriptedBackend([json.dumps(plan)])
    return PromptEngine(backend).generate(task, target).messages[0].text


@pytest.mark.parametrize(
    "task",
    [
        CHOICE_TASK,
        "Which of these two emails is more urgent?",
        "decide which review is more negative",
        "Answer questions about which times certain events could have occurred",
        "Choose between the two proposed headlines",
        "Select one of the options that best completes the sentence",
        "Select the humorous edit that 'ruins' the input movie name",
    ],
)
def test_a_task_asking_which_item_fits_is_a_choice(task: str) -> None:
    assert asks_to_choose(task)


@pytest.mark.parametrize(
    "task",
    [
        "a chef for a meal prep planning service",
        "Translate the emails, which customers send in French, into English",
        "Classify support tickets by topic",
        "Choose a catchy name for a new coffee brand",
        "Order adjectives correctly in English sentences",
    ],
)
def test_other_tasks_are_not_choices(task: str) -> None:
    assert not asks_to_choose(task)


def test_a_choice_task_keeps_its_own_question_as_the_objective() -> None:
    text = _generate(CHOICE_TASK, LABEL_PLAN)
    assert "Determine which of two sentences is sarcastic." in text
    assert "Classify a sentence as sarcastic or not." not in text


@pytest.mark.parametrize("target", [None, "gpt-4o", "qwen2.5-coder-1.5b"])
def test_a_choice_is_answered_with_the_option_as_the_input_writes_it(target: str | None) -> None:
    text = _generate(CHOICE_TASK, LABEL_PLAN, target)
    assert (
        "then give the letter of the chosen option in parentheses, as the input writes it" in text
    )
    assert "The classification as sarcastic or not sarcastic" not in text


def test_a_choice_prompt_suggests_no_particular_letter() -> None:
    """Shown "such as (B)", Qwen 1.5B answered (B) to every item."""
    assert not re.search(r"\([A-Z]\)", _generate(CHOICE_TASK, LABEL_PLAN))


def test_a_choice_names_the_item_in_one_sentence_without_step_by_step_reasoning() -> None:
    text = _generate(CHOICE_TASK, LABEL_PLAN)
    assert "In one short sentence, say which item fits and why" in text
    assert "Give the answer directly" in text
    assert "<thinking>" not in text
    assert "step by step" not in text


def test_a_choice_drops_examples_whose_answer_is_no_option_of_their_input() -> None:
    text = _generate(CHOICE_TASK, LABEL_PLAN)
    assert "I'm so excited!" not in text
    assert "<example>" not in text


def test_a_choice_drops_examples_that_repeat_their_whole_input() -> None:
    echo = {"input": "The Beatles", "output": "The Beatles..."}
    assert "<example>" not in _generate(CHOICE_TASK, {**LABEL_PLAN, "examples": [echo]})


def test_a_choice_keeps_examples_that_answer_with_one_of_their_options() -> None:
    example = {"input": "Which is sarcastic? (A) Great, rain again. (B) It rains.", "output": "(A)"}
    text = _generate(CHOICE_TASK, {**LABEL_PLAN, "examples": [example]})
    assert "<ideal_output>\n(A)\n</ideal_output>" in text


def test_a_reasoning_plan_for_a_choice_keeps_its_reasoning_and_names_the_option() -> None:
    plan = {**LABEL_PLAN, "task_kind": "reason"}
    text = _generate("Decide which of two sentences is sarcastic, step by step", plan)
    assert "<thinking></thinking>" in text
    assert "If the input lists options, answer with the chosen option" in text


def test_a_task_that_is_no_choice_keeps_the_planners_kind_and_format() -> None:
    text = _generate("Classify short texts as sarcastic or not", LABEL_PLAN)
    assert "The classification as sarcastic or not sarcastic, in lower case." in text
    assert "I'm so excited!" in text


@pytest.mark.parametrize("family", FAMILIES)
def test_a_choose_plan_renders_the_choice_format_in_every_family(family: Family) -> None:
    rendered = render_prompt(parse_plan({**LABEL_PLAN, "task_kind": "choose"}), family)
    text = rendered.system + rendered.user
    assert "then give the letter of the chosen option" in text
    assert "in lower case" not in text


@pytest.mark.parametrize("kind", ["classify", "reason"])
def test_decisions_are_told_to_name_the_option_of_a_lettered_input(kind: str) -> None:
    text = render_prompt(parse_plan({**LABEL_PLAN, "task_kind": kind}), "claude").user
    assert "If the input lists options, answer with the chosen option" in text
    assert "The classification as sarcastic or not sarcastic" in text


@pytest.mark.parametrize("kind", ["extract", "transform", "write", "converse"])
def test_other_kinds_say_nothing_of_options(kind: str) -> None:
    text = render_prompt(parse_plan({**LABEL_PLAN, "task_kind": kind}), "claude").user
    assert "option" not in text.lower()


def test_the_choice_format_is_worded_in_the_prompts_language() -> None:
    russian = headings_for(detect_language("Определи, какое из двух предложений саркастично"))
    plan = parse_plan({**LABEL_PLAN, "task_kind": "choose"})
    assert "укажи букву выбранного варианта" in render_prompt(plan, "claude", headings=russian).user


def test_the_planner_is_shown_no_lettered_options_to_copy() -> None:
    """A choice exemplar's "Options: (A) ..." input once reappeared in the worked example
    of the seed task (a meal-prep chef's prompt)."""
    assert "Options:" not in PLANNER_SYSTEM
    assert "(A)" not in PLANNER_SYSTEM


def test_a_plan_that_calls_a_listing_task_a_choice_keeps_its_own_answer_format() -> None:
    plan = parse_plan(
        {
            "task_kind": "choose",
            "role": "meeting assistant",
            "objective": "List the action items of the meeting with owner and due date.",
            "inputs": [{"name": "TRANSCRIPT", "description": "The meeting transcript"}],
            "steps": ["Read the transcript", "Find each action item"],
            "constraints": ["Only items someone agreed to do"],
            "output_format": "A Markdown table with the columns item, owner and due date",
        }
    )

    settled = settle_choice(plan, "From a meeting transcript, list the action items.")

    assert settled.task_kind != "choose"
    rendered = render_prompt(settled, "claude", prefill=False, headings=headings_for(ENGLISH))
    assert "Markdown table" in rendered.user
    assert "letter" not in rendered.user
