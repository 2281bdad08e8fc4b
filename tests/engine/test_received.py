"""A plan's inputs hold what the task says its assistant receives (issue 9): the question
of a task that answers questions (the embedded planner gave BIG-bench's "Answer questions
about a table of penguins" only a TABLE input, and "Answer extremely simple questions about
the colors of objects on a surface" SURFACE and OBJECT), and the material it works from
(bench/quality's saas-helpdesk had no input for "the product documentation" it answers
from)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promptmill.engine import PromptEngine
from promptmill.engine.plan import PlanInput, parse_plan
from promptmill.engine.received import (
    NO_QUESTION_INPUT,
    NOT_A_CLASSIFICATION,
    answering_objective,
    asks_questions,
    classifies_questions,
    given_materials,
    lacks_question_input,
    missing_materials,
    with_received_inputs,
)
from promptmill.engine.types import PromptMessage
from tests.fakes.scripted_backend import ScriptedBackend

COLORS_TASK = "Answer extremely simple questions about the colors of objects on a surface"

# What Qwen 1.5B planned for COLORS_TASK (bench/results/bigbench.json, stop 17).
SURFACE_PLAN: dict[str, Any] = {
    "task_kind": "extract",
    "role": "color identifier",
    "context": "A color identifier assistant uses you to identify the colors of objects.",
    "objective": "Identify the color of a specific object on a surface.",
    "inputs": [
        {"name": "SURFACE", "description": "The surface where the object is located"},
        {"name": "OBJECT", "description": "The object whose color needs to be identified"},
    ],
    "steps": ["Find the object", "Name its color", "Answer with the color"],
    "constraints": ["Name one color only"],
    "edge_cases": ["If the object is not on the surface, say so"],
    "tone": "Neutral",
    "output_format": "The color name only, in lower case.",
    "output_fields": [],
    "examples": [{"input": "A blue pen lies on the desk.", "output": "blue"}],
}


@pytest.mark.parametrize(
    "task",
    [
        COLORS_TASK,
        "Answer questions about a table of penguins and their attributes",
        "A helpdesk assistant for a SaaS product that answers questions from the docs.",
        "A data agent that can call run_sql to answer business questions.",
        "Answering the user's questions about our menu",
    ],
)
def test_tasks_that_answer_questions_are_recognised(task: str) -> None:
    assert asks_questions(task)


@pytest.mark.parametrize(
    "task",
    [
        "Write quiz questions about a chapter of a history book",
        "A mock interviewer who asks questions and gives feedback on each answer",
        "Classify the sentiment of a short product review",
        "Answer the phone for a dental clinic and book appointments",
    ],
)
def test_other_tasks_are_not(task: str) -> None:
    assert not asks_questions(task)


@pytest.mark.parametrize("name", ["QUESTION", "USER_QUESTION", "SEARCH_QUERY", "QUESTIONS"])
def test_an_input_named_for_the_question_carries_it(name: str) -> None:
    assert not lacks_question_input([PlanInput(name=name, description="x")], COLORS_TASK)


def test_an_sql_query_is_not_the_question() -> None:
    task = "A data agent that can call run_sql to answer business questions."
    assert lacks_question_input([PlanInput(name="SQL_QUERY", description="x")], task)


def test_the_question_comes_first_and_the_plans_inputs_stay() -> None:
    inputs = [PlanInput(name=f"PART_{n}", description="x") for n in range(4)]
    repaired = with_received_inputs(inputs, COLORS_TASK)
    assert [i.name for i in repaired] == ["QUESTION", "PART_0", "PART_1", "PART_2", "PART_3"]
    assert with_received_inputs(inputs, "Summarise what was said") == inputs


def test_a_plan_without_the_question_is_told_so() -> None:
    merged = {
        **SURFACE_PLAN,
        "inputs": [{"name": "QUESTION", "description": "The question, with the objects"}],
    }
    backend = ScriptedBackend([json.dumps(SURFACE_PLAN), json.dumps(merged)])
    text = PromptEngine(backend).generate(COLORS_TASK).messages[0].text
    assert NO_QUESTION_INPUT in backend.requests[1].turns[-1].text
    assert "{{QUESTION}}" in text and "{{SURFACE}}" not in text


def test_a_plan_still_without_it_at_the_end_gets_the_question_input() -> None:
    backend = ScriptedBackend([json.dumps(SURFACE_PLAN)] * 3)
    text = PromptEngine(backend).generate(COLORS_TASK).messages[0].text
    assert text.index("{{QUESTION}}") < text.index("{{SURFACE}}") < text.index("{{OBJECT}}")


def test_improve_keeps_the_original_prompts_variables() -> None:
    plan = {
        **SURFACE_PLAN,
        "input_descriptions": [{"name": "SCENE", "description": "The objects on the desk"}],
    }
    del plan["inputs"]
    backend = ScriptedBackend([json.dumps(plan)] * 3)
    result = PromptEngine(backend).improve(
        [PromptMessage.of("user", f"{COLORS_TASK}.\n\n{{{{SCENE}}}}")], feedback="be brief"
    )
    assert "{{QUESTION}}" not in result.messages[0].text


HELPDESK_TASK = (
    "A helpdesk assistant for a SaaS product that answers questions from the product "
    "documentation and escalates billing disputes to a human."
)


@pytest.mark.parametrize(
    ("task", "phrases"),
    [
        (HELPDESK_TASK, ["product documentation"]),
        (
            "answers policy questions only from the employee handbook excerpt we provide",
            ["employee handbook excerpt"],
        ),
        ("Answer employee questions about the travel policy we provide", ["travel policy"]),
        ("Answer using only the provided context.", ["context"]),
        ("Recommend dishes from our menu", ["menu"]),
        ("Answer customer questions about our return policy", ["return policy"]),
        ("Answer questions about our products", []),
        ("Answer from the knowledge base we provide", ["knowledge base"]),
        ("From a meeting transcript, list the action items", ["meeting transcript"]),
        ("Infer the meaning from the context of the sentence", []),
        ("Extract the date from the text", []),
        ("Classify the sentiment of a short product review", []),
    ],
)
def test_the_material_a_task_gives_is_found(task: str, phrases: list[str]) -> None:
    assert [m.phrase for m in given_materials(task)] == phrases


@pytest.mark.parametrize(
    "name", ["PRODUCT_DOCUMENTATION", "DOCS", "HELP_DOCUMENT", "CONTEXT", "SOURCE", "REFERENCE"]
)
def test_an_input_named_for_the_material_holds_it(name: str) -> None:
    assert missing_materials([PlanInput(name=name, description="x")], HELPDESK_TASK) == []


def test_a_knowledge_base_is_held_by_an_input_named_for_it() -> None:
    task = "Answer from the knowledge base we provide"
    assert missing_materials([PlanInput(name="KNOWLEDGE_BASE", description="x")], task) == []


def test_an_input_named_for_something_else_does_not() -> None:
    described = PlanInput(name="QUESTION", description="A question about the documentation")
    [missing] = missing_materials([described], HELPDESK_TASK)
    assert missing.input.name == "PRODUCT_DOCUMENTATION"


def test_a_plan_without_the_material_is_told_so_and_given_it_at_the_end() -> None:
    plan = {
        **SURFACE_PLAN,
        "objective": "Answer the user's question from the documentation.",
        "inputs": [{"name": "QUESTION", "description": "The user's question"}],
    }
    backend = ScriptedBackend([json.dumps(plan)] * 3)
    text = PromptEngine(backend).generate(HELPDESK_TASK).messages[0].text
    told = backend.requests[1].turns[-1].text
    assert "the product documentation, but no input holds it" in told
    assert "PRODUCT_DOCUMENTATION" in told
    assert text.index("{{QUESTION}}") < text.index("{{PRODUCT_DOCUMENTATION}}")
    assert "The product documentation the assistant works from" in text


RETURNS_TASK = "Answer customer questions about our return policy"

# What Qwen 1.5B planned for RETURNS_TASK (stop 19).
LABEL_PLAN: dict[str, Any] = {
    **SURFACE_PLAN,
    "task_kind": "classify",
    "objective": "Classify a customer question about our return policy into one category.",
    "inputs": [{"name": "QUESTION", "description": "The customer's question"}],
    "constraints": ["Use only: return_policy, refund, product_return, return_process, other"],
    "output_format": "The category name only, in lower case.",
    "examples": [{"input": "How do I return a product?", "output": "return_policy"}],
}


ANSWERING = "Answer the customer's question."
SORTING = "Classify a color from the given description as one of the predefined colors."


@pytest.mark.parametrize(
    ("kind", "objective", "task", "classifies"),
    [
        ("classify", ANSWERING, RETURNS_TASK, True),
        ("classify", ANSWERING, COLORS_TASK, True),
        ("", SORTING, COLORS_TASK, True),  # a classifying objective, whatever the kind
        ("converse", ANSWERING, RETURNS_TASK, False),
        ("classify", SORTING, "Route customer questions to the right team", False),
        ("classify", SORTING, "Answer questions about a review: classify its sentiment", False),
        ("classify", SORTING, "Label the topic of each customer email", False),
    ],
)
def test_a_classification_of_questions_to_answer_is_recognised(
    kind: str, objective: str, task: str, classifies: bool
) -> None:
    plan = parse_plan({**LABEL_PLAN, "task_kind": kind, "objective": objective})
    assert classifies_questions(plan, task) is classifies


@pytest.mark.parametrize(
    ("task", "objective"),
    [
        (COLORS_TASK, COLORS_TASK + "."),
        (
            "A helpdesk assistant for a SaaS product that answers questions from the product "
            "documentation and escalates billing issues to a human.",
            "Answer questions from the product documentation.",
        ),
        (
            "A data agent that can call run_sql to answer business questions, and must "
            "never modify data.",
            "Answer business questions.",
        ),
        (
            "Answer questions about a table of penguins and their attributes.",
            "Answer questions about a table of penguins and their attributes.",
        ),
        ("Write a limerick about a cat", ""),
    ],
)
def test_the_answering_objective_is_the_tasks_own_clause(task: str, objective: str) -> None:
    assert answering_objective(task) == objective


def test_a_plan_that_classifies_questions_gets_the_tasks_objective() -> None:
    # Colored objects' plan at stop 19: the kind was repaired, the objective was not.
    sorting = {**LABEL_PLAN, "task_kind": "", "objective": SORTING + " (red, orange, yellow)"}
    backend = ScriptedBackend([json.dumps(sorting)] * 3)
    text = PromptEngine(backend).generate(COLORS_TASK).messages[0].text
    assert NOT_A_CLASSIFICATION in backend.requests[1].turns[-1].text
    assert COLORS_TASK + "." in text
    assert "Classify" not in text and "indigo" not in text


def test_a_plan_that_classifies_questions_is_told_and_loses_the_kind_and_labels() -> None:
    backend = ScriptedBackend([json.dumps(LABEL_PLAN)] * 3)
    text = PromptEngine(backend).generate(RETURNS_TASK).messages[0].text
    assert NOT_A_CLASSIFICATION in backend.requests[1].turns[-1].text
    assert "return_process" not in text  # the labels the task never named
    assert "If the input lists options" not in text  # a classification's answer line
