"""Richer prompts: context, worked examples, edge cases, tone and an exact output
specification in every family; reasoning only for reasoning tasks; a concise prompt for
small open-weight targets; inputs that are only what the assistant receives; a planner
shown worked exemplars in a fixed prefix."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from promptmill.engine import PromptEngine
from promptmill.engine.checks import check_prompt
from promptmill.engine.families import Family, parameter_count
from promptmill.engine.plan import (
    OutputField,
    PlanExample,
    PlanInput,
    PromptPlan,
    output_like_inputs,
    parse_plan,
    plan_schema,
)
from promptmill.engine.plan_exemplars import PLAN_EXEMPLARS
from promptmill.engine.render import render_prompt
from tests.fakes.scripted_backend import ScriptedBackend

QUALITY_TASKS = Path(__file__).resolve().parents[2] / "bench" / "quality" / "tasks.json"

FAMILIES: list[Family] = ["claude", "openai", "openai_reasoning", "gemini", "open"]

EXTRACTION_PLAN: dict[str, Any] = {
    "task_kind": "extract",
    "role": "invoice data clerk",
    "context": "An accounting team uses you to enter supplier invoices into its ledger.",
    "objective": "Extract the supplier, date and total of an invoice as JSON.",
    "inputs": [{"name": "INVOICE_TEXT", "description": "The text of one supplier invoice"}],
    "steps": ["Read the invoice", "Find the supplier, date and total", "Write the JSON"],
    "constraints": ["Copy values exactly as written"],
    "edge_cases": ["If a value is missing, write null", "If the text is not an invoice, say so"],
    "tone": "Plain data",
    "output_format": "One JSON object and nothing else.",
    "output_fields": [
        {"name": "supplier", "type": "string", "description": "The supplier's name"},
        {"name": "total", "type": "number", "description": "The amount due"},
    ],
    "examples": [
        {"input": "Acme Ltd, 3 May 2024, total 120.50", "output": '{"supplier": "Acme Ltd"}'},
        {"input": "Bolt GmbH, 1 June, total 80", "output": '{"supplier": "Bolt GmbH"}'},
    ],
}


def _plan(**overrides: Any) -> PromptPlan:
    return parse_plan({**EXTRACTION_PLAN, **overrides})


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_states_the_context_fields_and_edge_cases(family: Family) -> None:
    text = render_prompt(_plan(), family).user
    assert "An accounting team uses you" in text
    assert "- supplier (string): The supplier's name." in text
    assert "- total (number): The amount due." in text
    assert "If a value is missing, write null." in text


@pytest.mark.parametrize("family", ["claude", "openai", "gemini"])
def test_full_prompts_show_every_example_with_its_ideal_output(family: Family) -> None:
    text = render_prompt(_plan(), family).user
    assert text.count("<example>") == 2
    assert '<ideal_output>\n{"supplier": "Acme Ltd"}\n</ideal_output>' in text
    assert "Tone: Plain data." in text


def test_small_open_weight_targets_get_a_concise_prompt() -> None:
    full, concise = render_prompt(_plan(), "claude").user, render_prompt(_plan(), "open").user
    assert concise.count("<example>") == 1
    assert "Tone" not in concise
    assert len(concise) < len(full)


@pytest.mark.parametrize(
    ("target_model", "complete"),
    [
        ("claude-sonnet-4-5", True),
        ("claude-opus-4-6", True),
        ("gpt-4o", True),
        ("o3-mini", True),
        ("qwen2.5-coder-1.5b", False),
        ("llama-3.1-8b-instruct", False),
    ],
)
def test_length_follows_the_target(target_model: str, complete: bool) -> None:
    """Claude- and GPT-class targets get the complete prompt; small open-weight ones a
    concise one (one example, two edge cases, no tone line)."""
    edge_cases = ["If a value is missing, write null", "If unsure, say so", "If empty, say so"]
    backend = ScriptedBackend([json.dumps({**EXTRACTION_PLAN, "edge_cases": edge_cases})])
    text = PromptEngine(backend).generate("extract invoice totals", target_model).messages[0].text
    assert text.count("<example>") == (2 if complete else 1)
    assert ("If empty, say so." in text) is complete
    assert ("Plain data." in text) is complete


def test_json_examples_keep_their_braces_but_never_form_a_placeholder() -> None:
    plan = _plan(examples=[{"input": "{{INVOICE_TEXT}} here", "output": '{"a": {"b": {"c": 1}}}'}])
    text = render_prompt(plan, "claude").user
    assert '{"a": {"b": {"c": 1} } }' in text
    assert "invoice text here" in text
    assert check_prompt([text], declared=["INVOICE_TEXT"]) == []


@pytest.mark.parametrize("kind", ["classify", "extract", "transform", "write", "converse"])
def test_only_reasoning_tasks_are_told_to_think_first(kind: str) -> None:
    assert (
        parse_plan({**EXTRACTION_PLAN, "task_kind": kind, "think_first": True}).think_first is False
    )
    assert parse_plan({**EXTRACTION_PLAN, "task_kind": "reason", "think_first": False}).think_first


def test_classification_and_extraction_prompts_ask_for_the_answer_directly() -> None:
    direct = render_prompt(_plan(), "claude").user
    assert "Give the answer directly, with no explanation" in direct
    assert "<thinking>" not in direct
    reasoning = render_prompt(_plan(task_kind="reason"), "claude").user
    assert "Give the answer directly" not in reasoning
    assert "<thinking></thinking>" in reasoning


@pytest.mark.parametrize(
    ("target_model", "thinks"),
    [
        ("qwen2.5-coder-1.5b", False),
        ("smollm2-135m-instruct", False),
        ("llama3.2:3b", False),
        ("llama-3.1-8b-instruct", True),
        ("Qwen/Qwen2.5-72B-Instruct", True),
        ("claude-sonnet-4-5", True),
        ("gpt-4o", True),
        (None, True),
    ],
)
def test_small_targets_answer_reasoning_tasks_directly(
    target_model: str | None, thinks: bool
) -> None:
    """Step-by-step pays with scale: a target whose name states fewer than four billion
    parameters is told to answer directly, others to think first."""
    backend = ScriptedBackend([json.dumps({**EXTRACTION_PLAN, "task_kind": "reason"})])
    text = PromptEngine(backend).generate("work out a date", target_model).messages[0].text
    assert ("step by step" in text) is thinks
    assert ("Give the answer directly" in text) is not thinks


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("qwen2.5-coder-1.5b", 1.5e9),
        ("Qwen/Qwen2.5-7B-Instruct", 7e9),
        ("mixtral-8x7b-instruct", 7e9),
        ("hf:HuggingFaceTB/SmolLM2-360M", 360e6),
        ("qwen2.5:0.5b", 0.5e9),
        ("gpt-4o", None),
        ("claude-opus-4-6", None),
        ("gemini-2.5-pro", None),
    ],
)
def test_a_models_size_is_read_from_its_name(name: str, parameters: float | None) -> None:
    assert parameter_count(name) == parameters


def test_a_plan_without_a_task_kind_keeps_the_models_think_first() -> None:
    raw = {k: v for k, v in EXTRACTION_PLAN.items() if k != "task_kind"}
    assert parse_plan({**raw, "think_first": True}).think_first is True


@pytest.mark.parametrize(("task", "plan"), PLAN_EXEMPLARS, ids=[t for t, _ in PLAN_EXEMPLARS])
def test_every_planner_exemplar_is_a_valid_plan(task: str, plan: dict[str, Any]) -> None:
    jsonschema.validate(plan, plan_schema())
    parsed = parse_plan(plan)
    assert output_like_inputs(parsed) == []
    for family in FAMILIES:
        rendered = render_prompt(parsed, family)
        assert check_prompt([rendered.user], declared=[i.name for i in parsed.inputs]) == []


def test_the_planners_fixed_part_comes_first_and_the_request_last() -> None:
    backend = ScriptedBackend([json.dumps(EXTRACTION_PLAN)] * 2)
    engine = PromptEngine(backend)
    engine.generate("extract invoice totals as JSON")
    engine.generate("classify invoices by supplier country", "gpt-4o")
    first, second = backend.requests
    assert first.system == second.system  # one reusable prefix for every call
    assert "Task: a travel agent who plans trips" in first.system
    assert "invoice" not in first.system
    assert (
        first.turns[0].text.rstrip().endswith("extract invoice totals as JSON\n</task_description>")
    )
    assert "gpt-4o" in second.turns[0].text


def test_no_planner_exemplar_is_a_task_of_the_quality_benchmark() -> None:
    """An exemplar that is itself a benchmark task gets copied, not planned (the seed task
    once came back as its exemplar's plan)."""
    tasks = {t["task"].lower() for t in json.loads(QUALITY_TASKS.read_text())["tasks"]}
    assert not tasks & {task.lower() for task, _ in PLAN_EXEMPLARS}


def _input(name: str, description: str = "the material it receives") -> PlanInput:
    return PlanInput(name=name, description=description)


@pytest.mark.parametrize("name", ["ANSWER", "EXPECTED_RESULT", "OUTPUT_TEXT", "LABEL"])
def test_an_input_named_for_the_answer_is_output_like(name: str) -> None:
    plan = _plan().model_copy(update={"inputs": [_input("SENTENCE"), _input(name)]})
    assert [i.name for i in output_like_inputs(plan)] == [name]


@pytest.mark.parametrize("name", ["STUDENT_ANSWER", "CUSTOMER_RESPONSE", "ALLOWED_LABELS"])
def test_an_answer_someone_else_wrote_is_a_real_input(name: str) -> None:
    plan = _plan().model_copy(update={"inputs": [_input(name)]})
    assert output_like_inputs(plan) == []


def test_a_summary_input_for_a_summariser_is_output_like() -> None:
    plan = _plan(objective="Summarize a support ticket in two sentences.").model_copy(
        update={"inputs": [_input("TICKET"), _input("SUMMARY")]}
    )
    assert [i.name for i in output_like_inputs(plan)] == ["SUMMARY"]


def test_an_input_described_as_the_expected_answer_is_output_like() -> None:
    plan = _plan().model_copy(
        update={"inputs": [_input("SENTENCE"), _input("TRUTH", "The expected answer, yes or no")]}
    )
    assert [i.name for i in output_like_inputs(plan)] == ["TRUTH"]


def test_an_input_named_like_an_output_field_is_output_like() -> None:
    plan = _plan().model_copy(
        update={
            "inputs": [_input("REVIEW"), _input("SENTIMENT")],
            "output_fields": [OutputField(name="sentiment", type="string")],
        }
    )
    assert [i.name for i in output_like_inputs(plan)] == ["SENTIMENT"]


def test_an_output_like_input_is_fed_back_to_the_model() -> None:
    with_answer = {
        **EXTRACTION_PLAN,
        "inputs": [
            {"name": "SENTENCE", "description": "A sentence about a sports event"},
            {"name": "ANSWER", "description": "Whether the sentence is plausible"},
        ],
    }
    repaired = {**with_answer, "inputs": with_answer["inputs"][:1]}
    backend = ScriptedBackend([json.dumps(with_answer), json.dumps(repaired)])
    result = PromptEngine(backend).generate("judge if a sports sentence is plausible")
    assert "input ANSWER" in backend.requests[1].turns[-1].text
    assert "what the assistant produces" in backend.requests[1].turns[-1].text
    assert "{{ANSWER}}" not in result.messages[0].text


def test_an_output_like_input_the_model_keeps_is_dropped_at_the_end() -> None:
    with_answer = {
        **EXTRACTION_PLAN,
        "inputs": [
            {"name": "SENTENCE", "description": "A sentence about a sports event"},
            {"name": "ANSWER", "description": "Whether the sentence is plausible"},
        ],
    }
    backend = ScriptedBackend([json.dumps(with_answer)] * 3)
    result = PromptEngine(backend).generate("judge if a sports sentence is plausible")
    assert "{{SENTENCE}}" in result.messages[0].text
    assert "{{ANSWER}}" not in result.messages[0].text


def test_an_example_that_only_repeats_its_input_is_dropped() -> None:
    echo = {"input": "The cat sleeps on the couch.", "output": "the cat sleeps on the couch"}
    plan = _plan(examples=[echo, EXTRACTION_PLAN["examples"][0]])
    assert [example.input for example in plan.examples] == ["Acme Ltd, 3 May 2024, total 120.50"]


def test_rendered_examples_are_plain_text_never_tags() -> None:
    plan = PromptPlan(
        role="html writer",
        objective="Write a web page.",
        inputs=[_input("TOPIC")],
        steps=["a", "b"],
        examples=[PlanExample(input="cats", output="<h1>Cats</h1>")],
    )
    parsed = parse_plan(plan.model_dump())
    output = parsed.examples[0].output
    assert "Cats" in output
    assert "<" not in output and ">" not in output


def _cut_short_plan() -> str:
    """A plan as a loop guard leaves it: valid, but no output format and no example."""
    cut = {k: v for k, v in EXTRACTION_PLAN.items() if k not in ("output_format", "examples")}
    return json.dumps({**cut, "output_fields": []})


def test_a_plan_cut_short_is_sent_back_for_its_output_format_and_example() -> None:
    backend = ScriptedBackend([_cut_short_plan(), json.dumps(EXTRACTION_PLAN)])
    text = PromptEngine(backend).generate("extract invoice totals").messages[0].text
    repair = backend.requests[1].turns[-1].text
    assert "no output_format and no examples" in repair
    assert "<example>" in text


def test_with_less_than_half_the_deadline_left_a_valid_plan_is_kept_without_a_repair() -> None:
    def slow_plan(_: object) -> str:
        time.sleep(0.6)
        return _cut_short_plan()

    backend = ScriptedBackend([slow_plan])
    result = PromptEngine(backend, request_timeout=1.0).generate("extract invoice totals")
    assert len(backend.requests) == 1
    assert "{{INVOICE_TEXT}}" in result.messages[0].text
