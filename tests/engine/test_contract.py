"""The returned shape's contract: ``system`` is ``""`` and the whole prompt is the user
message, as the Prompt Tools API returns, unless a separate system prompt is asked for
(and then only for families whose convention has one). Templatize returns the system it
was given, templatized."""

from __future__ import annotations

import json

import pytest

from promptmill.engine import PromptEngine
from promptmill.engine.types import PromptMessage, PromptResult
from tests.engine.test_engine_pipeline import GOOD_PLAN, TASK
from tests.fakes.scripted_backend import ScriptedBackend

TARGETS = ["gpt-4o", "o3-mini", "gemini-2.5-pro", "claude-opus-4-6", "llama-3.1-8b", None]


def _generate(target: str | None, *, separate_system: bool = False) -> PromptResult:
    backend = ScriptedBackend([json.dumps(GOOD_PLAN)])
    return PromptEngine(backend).generate(TASK, target, separate_system=separate_system)


def _improve(target: str | None, *, separate_system: bool = False) -> PromptResult:
    plan = {k: v for k, v in GOOD_PLAN.items() if k != "inputs"}
    plan["input_descriptions"] = {"TICKET": "the customer's support ticket"}
    plan["output_format"] = "A JSON object with the summary"
    backend = ScriptedBackend([json.dumps(plan)])
    return PromptEngine(backend).improve(
        [PromptMessage.of("user", "Summarize this support ticket: {{TICKET}}")],
        system="You are a support lead.",
        feedback="Make the output JSON",
        target_model=target,
        separate_system=separate_system,
    )


@pytest.mark.parametrize("target", TARGETS)
def test_generate_returns_an_empty_system_and_everything_in_the_user_message(
    target: str | None,
) -> None:
    result = _generate(target)
    assert result.system == ""
    prompt = result.messages[0].text
    assert "experienced meal-prep chef" in prompt  # the instructions ...
    assert "{{DIETARY_NEEDS}}" in prompt  # ... and the inputs, in one message


@pytest.mark.parametrize("target", TARGETS)
def test_improve_returns_an_empty_system_even_when_given_one(target: str | None) -> None:
    result = _improve(target)
    assert result.system == ""
    assert "{{TICKET}}" in result.messages[0].text
    assert "Never include an ingredient" in result.messages[0].text


def test_a_gpt_prompt_keeps_openais_sections_inside_the_user_message() -> None:
    prompt = _generate("gpt-4o").messages[0].text
    assert prompt.startswith("# Identity\n\nYou are an experienced meal-prep chef.")
    assert prompt.index("# Instructions") < prompt.index("# Input") < prompt.index("{{")


@pytest.mark.parametrize("target", ["gpt-4o", "o3-mini", "gemini-2.5-pro"])
def test_a_separate_system_prompt_is_returned_on_request_where_the_family_uses_one(
    target: str,
) -> None:
    for result in (_generate(target, separate_system=True), _improve(target, separate_system=True)):
        assert "meal-prep chef" in result.system
        assert "{{" not in result.system  # the inputs stay in the user message
        assert "meal-prep chef" not in result.messages[0].text


@pytest.mark.parametrize("target", ["claude-opus-4-6", "claude-3-7-sonnet-20250219", None])
def test_claude_targets_keep_an_empty_system_even_on_request(target: str | None) -> None:
    asked, default = _generate(target, separate_system=True), _generate(target)
    assert asked.system == default.system == ""
    assert asked.messages == default.messages


def test_templatize_returns_the_system_it_was_given_templatized() -> None:
    backend = ScriptedBackend(
        [json.dumps({"variables": [{"name": "TARGET_LANGUAGE", "value": "German"}]})]
    )
    result = PromptEngine(backend).templatize(
        [PromptMessage.of("user", "Translate hello to German")],
        "You are a professional English to German translator",
    )
    assert result.system == "You are a professional English to {{TARGET_LANGUAGE}} translator"
