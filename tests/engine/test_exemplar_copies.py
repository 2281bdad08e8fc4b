"""A plan on another subject loses what the planner copied from its exemplars (issue 9,
bench/improve ticket-json: a job posting's fields and example in a ticket summary)."""

from __future__ import annotations

import json
import re
from typing import Any

from promptmill.engine import PromptEngine
from promptmill.engine.exemplar_copies import without_exemplar_copies
from promptmill.engine.plan import parse_plan
from promptmill.engine.plan_exemplars import EXEMPLAR_SUBJECTS, PLAN_EXEMPLARS
from tests.fakes.scripted_backend import ScriptedBackend

TICKET_REQUEST = (
    "Summarize this support ticket in two sentences and say how angry the customer is "
    "from 1 to 5: {{TICKET}}\nAlso extract the product name and make the output JSON"
)

# What Qwen 1.5B planned for TICKET_REQUEST (bench/improve, stop 18), shortened.
TICKET_PLAN: dict[str, Any] = {
    "task_kind": "extract",
    "role": "customer support triage specialist",
    "context": "An HR team uses you to turn support tickets into database records.",
    "objective": "Summarize the support ticket and extract the product name as JSON.",
    "inputs": [{"name": "TICKET", "description": "The full text of one support ticket"}],
    "steps": ["Read the whole ticket.", "Summarize the ticket in two sentences."],
    "constraints": ["Copy values as written; never guess."],
    "edge_cases": ["If the text is not a support ticket, set every field to null."],
    "tone": "Neutral",
    "output_format": "One JSON object and nothing else.",
    "output_fields": [
        {"name": "title", "type": "string or null", "description": "The job title"},
        {"name": "company", "type": "string or null", "description": "The employer"},
        {"name": "salary", "type": "string or null", "description": "As written"},
        {"name": "product", "type": "string", "description": "The product name"},
        {"name": "anger_level", "type": "integer", "description": "From 1 to 5"},
    ],
    "examples": [
        {
            "input": "Acme hires a Python Developer in Berlin, EUR 70-85k. The customer is angry.",
            "output": '{"title": "Python Developer", "salary": "EUR 70-85k", "anger_level": 5}',
        },
        {
            "input": "The Zephyr app crashes every time I log in. Third ticket this week!",
            "output": '{"product": "Zephyr app", "anger_level": 4}',
        },
    ],
}


def test_a_plan_on_another_subject_loses_the_exemplars_fields_example_and_context() -> None:
    plan = without_exemplar_copies(parse_plan(TICKET_PLAN), TICKET_REQUEST)
    assert [f.name for f in plan.output_fields] == ["product", "anger_level"]
    assert [e.input[:10] for e in plan.examples] == ["The Zephyr"]
    assert plan.context == ""
    assert plan.steps == ["Read the whole ticket.", "Summarize the ticket in two sentences."]


def test_a_request_on_the_exemplars_subject_keeps_its_whole_plan() -> None:
    plan = parse_plan(TICKET_PLAN)
    request = "Pull the title, employer and salary out of job postings as JSON"
    assert without_exemplar_copies(plan, request) == plan


def test_an_example_sharing_one_word_with_an_exemplar_is_kept() -> None:
    example = {"input": "Average salary of all employees?", "output": "SELECT AVG(salary) ..."}
    plan = parse_plan({**TICKET_PLAN, "examples": [example]})
    assert len(without_exemplar_copies(plan, "Write SQL for a question").examples) == 1


def test_generate_returns_no_field_of_another_subject() -> None:
    backend = ScriptedBackend([json.dumps(TICKET_PLAN)])
    prompt = PromptEngine(backend).generate(TICKET_REQUEST).messages[0].text
    assert "job title" not in prompt and "Berlin" not in prompt and "HR team" not in prompt
    assert "anger_level" in prompt


INFLECTIONS = frozenset({"itineraries", "trips", "traveller", "salaries", "jobs"})


def test_every_exemplar_has_a_subject_and_uses_its_words() -> None:
    assert len(EXEMPLAR_SUBJECTS) == len(PLAN_EXEMPLARS)
    for (task, plan), subject in zip(PLAN_EXEMPLARS, EXEMPLAR_SUBJECTS, strict=True):
        words = set(re.findall(r"[a-z][a-z_]*", f"{task} {json.dumps(plan)}".casefold()))
        assert subject and subject <= words | {
            "itineraries",
            "trips",
            "traveller",
            "salaries",
            "jobs",
        }
