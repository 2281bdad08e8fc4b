"""A plan that tells the assistant to run code the task never mentions loses those lines
(issue 9: the embedded coder model planned date extraction with regular expressions and
Python's datetime module)."""

from __future__ import annotations

import json
from typing import Any

from promptmill.engine import PromptEngine
from promptmill.engine.machinery import without_machinery
from promptmill.engine.plan import parse_plan
from tests.fakes.scripted_backend import ScriptedBackend

DATES_TASK = (
    "Extract the calendar date mentioned in a sentence and write it in ISO 8601 form "
    "(YYYY-MM-DD). Answer with the date only."
)

# What Qwen 1.5B planned for DATES_TASK (bench/downstream, stop 17).
PROGRAM_PLAN: dict[str, Any] = {
    "task_kind": "extract",
    "role": "text extraction specialist",
    "context": "A user provides a sentence with a date mentioned.",
    "objective": "Extract the date from the sentence and write it as YYYY-MM-DD.",
    "inputs": [{"name": "SENTENCE", "description": "A sentence with a date mentioned"}],
    "steps": [
        "Find the date in the sentence using regular expressions.",
        "Convert the date to ISO 8601 format using Python's datetime module.",
        "Write the date in ISO 8601 format.",
        "Check the month and day are in range.",
    ],
    "constraints": [
        "Use only regular expressions for date extraction.",
        "Do not use any external libraries or APIs.",
        "Write nothing but the date.",
    ],
    "edge_cases": ["If the sentence has no date, answer none."],
    "tone": "Neutral",
    "output_format": "A single string in ISO 8601 format (YYYY-MM-DD).",
    "output_fields": [],
    "examples": [{"input": "The event is on 2023-04-15.", "output": "2023-04-15"}],
}


def test_steps_and_rules_naming_a_programming_tool_the_task_never_names_are_dropped() -> None:
    plan = without_machinery(parse_plan(PROGRAM_PLAN), DATES_TASK)
    assert plan.steps == [
        "Write the date in ISO 8601 format.",
        "Check the month and day are in range.",
    ]
    assert plan.constraints == ["Write nothing but the date."]
    assert plan.edge_cases == ["If the sentence has no date, answer none."]


def test_a_data_library_the_task_never_names_is_dropped() -> None:
    # Qwen 1.5B's rule for bench/quality's csv-insights task.
    task = "Analyse a CSV of monthly sales data and report trends and anomalies."
    rules = ["Use only pandas and matplotlib for data analysis.", "Report every anomaly."]
    plan = parse_plan({**PROGRAM_PLAN, "constraints": rules})
    assert without_machinery(plan, task).constraints == ["Report every anomaly."]
    assert without_machinery(plan, f"{task} Show the pandas code.").constraints == rules


def test_a_task_about_the_tool_keeps_every_line_about_it() -> None:
    task = "Explain what a regular expression matches, piece by piece"
    plan = parse_plan({**PROGRAM_PLAN, "steps": ["Split the regex into parts", "Explain each"]})
    assert without_machinery(plan, task).steps == ["Split the regex into parts", "Explain each"]


def test_generate_returns_no_programming_steps_for_a_text_task() -> None:
    backend = ScriptedBackend([json.dumps(PROGRAM_PLAN)])
    prompt = PromptEngine(backend).generate(DATES_TASK).messages[0].text
    assert "regular expressions" not in prompt
    assert "Python" not in prompt
    assert "Write the date in ISO 8601 format." in prompt
