"""The free-form mode: the model writes the whole prompt, held to the rendered prompt's checks.

A written prompt that passes is returned as written (``system: ""``, a prefill only for a
target that accepts one); one that fails gets one repair turn, and then the engine plans
and renders instead, so the answer is always well-formed.
"""

from __future__ import annotations

import json
from typing import Any

from promptmill.config import Settings
from promptmill.engine import PromptEngine
from promptmill.engine.checks import check_prompt, placeholders
from promptmill.engine.metaprompts import FREEFORM_SYSTEM, PLANNER_SYSTEM
from tests.fakes.scripted_backend import ScriptedBackend

TASK = "Summarise a customer's support ticket for the refunds team"
WRITTEN = (
    "You are a support analyst who prepares tickets for the refunds team.\n\n"
    "Read the customer's support ticket:\n<ticket>\n{{TICKET}}\n</ticket>\n\n"
    "Summarise the ticket in two sentences: what went wrong, then what refund the "
    "customer asks for. Quote order numbers exactly. If the ticket asks for no refund, "
    "say so.\n\n<example>\nTicket: My order #4411 arrived broken, I want my money back.\n"
    "Summary: Order #4411 arrived damaged. The customer asks for a full refund.\n</example>"
)
PLAN: dict[str, Any] = {
    "role": "experienced support analyst",
    "objective": "Summarise the customer's support ticket for the refunds team.",
    "inputs": [{"name": "TICKET", "description": "The customer's support ticket, verbatim"}],
    "steps": ["Read the ticket", "Say what the customer wants refunded and why"],
    "constraints": ["Quote order numbers exactly"],
    "output_format": "Two sentences: the problem, then what the customer asks for",
    "think_first": False,
}


def _written(prompt: str, prefill: str = "") -> str:
    return json.dumps({"prompt": prompt, "prefill": prefill})


def _freeform(backend: ScriptedBackend) -> PromptEngine:
    return PromptEngine(backend, generate_mode="freeform")


def test_a_written_prompt_that_passes_its_checks_is_returned_as_written() -> None:
    backend = ScriptedBackend([_written(WRITTEN)])

    result = _freeform(backend).generate(TASK, "gpt-4.1")

    assert [(m.role, m.text) for m in result.messages] == [("user", WRITTEN)]
    assert result.system == ""
    assert len(result.usage) == 1
    assert backend.requests[0].system == FREEFORM_SYSTEM


def test_the_request_names_the_targets_conventions_and_the_task_last() -> None:
    backend = ScriptedBackend([_written(WRITTEN)])

    _freeform(backend).generate(TASK, "gpt-4.1")

    request = backend.requests[0].turns[0].text
    assert "Markdown sections" in request  # the openai family's conventions
    assert request.rstrip().endswith(f"{TASK}\n</task_description>")


def test_a_prefill_is_kept_only_for_a_target_that_accepts_one() -> None:
    accepting = _freeform(ScriptedBackend([_written(WRITTEN, "<summary>")]))
    refusing = _freeform(ScriptedBackend([_written(WRITTEN, "<summary>")]))

    kept = accepting.generate(TASK, "claude-sonnet-4-5")
    dropped = refusing.generate(TASK, "claude-opus-4-6")

    assert [(m.role, m.text) for m in kept.messages][-1] == ("assistant", "<summary>")
    assert [m.role for m in dropped.messages] == ["user"]


def test_a_target_without_prefill_is_told_so_in_the_request() -> None:
    backend = ScriptedBackend([_written(WRITTEN)])

    _freeform(backend).generate(TASK, "claude-opus-4-6")

    assert "Prefill: not accepted" in backend.requests[0].turns[0].text


def test_a_lowercase_variable_is_sent_back_and_the_repaired_prompt_returned() -> None:
    broken = WRITTEN.replace("{{TICKET}}", "{{ticket}}")
    backend = ScriptedBackend([_written(broken), _written(WRITTEN)])

    result = _freeform(backend).generate(TASK)

    assert result.messages[0].text == WRITTEN
    repair = backend.requests[1].turns[-1].text
    assert "not UPPER_SNAKE_CASE" in repair
    assert len(result.usage) == 2


def test_a_prompt_without_any_variable_is_sent_back() -> None:
    no_input = WRITTEN.split("Read the customer's")[0] + "Summarise tickets well."
    backend = ScriptedBackend([_written(no_input), _written(WRITTEN)])

    _freeform(backend).generate(TASK)

    assert "no template variable" in backend.requests[1].turns[-1].text


def test_a_prompt_that_fails_twice_is_planned_and_rendered_instead() -> None:
    chatter = "Sure! Here is your prompt: {{ticket}}"
    backend = ScriptedBackend([_written(chatter), _written(chatter), json.dumps(PLAN)])

    result = _freeform(backend).generate(TASK)

    assert backend.requests[2].system == PLANNER_SYSTEM
    prompt = result.messages[0].text
    assert placeholders(prompt) == ["TICKET"]
    assert check_prompt([prompt], declared=["TICKET"]) == []
    assert len(result.usage) == 3


def test_a_reply_without_a_prompt_field_is_sent_back() -> None:
    backend = ScriptedBackend([json.dumps({"text": WRITTEN}), _written(WRITTEN)])

    result = _freeform(backend).generate(TASK)

    assert 'no "prompt"' in backend.requests[1].turns[-1].text
    assert result.messages[0].text == WRITTEN


def test_a_code_fence_around_the_whole_prompt_is_taken_off() -> None:
    backend = ScriptedBackend([_written(f"```markdown\n{WRITTEN}\n```")])

    result = _freeform(backend).generate(TASK)

    assert result.messages[0].text == WRITTEN


def test_a_prompt_in_another_language_than_the_task_is_sent_back() -> None:
    task = "Résumer le ticket de support d'un client pour l'équipe des remboursements"
    backend = ScriptedBackend(
        [_written(WRITTEN), _written(WRITTEN)], responder=lambda request: json.dumps(PLAN)
    )

    _freeform(backend).generate(task)

    assert "not written in French" in backend.requests[1].turns[-1].text


def test_a_separate_system_for_a_gpt_target_is_planned_since_only_plans_split() -> None:
    backend = ScriptedBackend([json.dumps(PLAN)])

    result = _freeform(backend).generate(TASK, "gpt-4.1", separate_system=True)

    assert backend.requests[0].system == PLANNER_SYSTEM
    assert result.system


def test_the_default_mode_plans() -> None:
    backend = ScriptedBackend([json.dumps(PLAN)])

    PromptEngine(backend).generate(TASK)

    assert backend.requests[0].system == PLANNER_SYSTEM


def test_the_mode_is_a_setting() -> None:
    assert Settings(generate_mode="freeform").generate_mode == "freeform"
    assert Settings().generate_mode == "plan"


def test_a_prompt_of_tagged_variables_alone_is_sent_back() -> None:
    bare = "<customer_email>{{CUSTOMER_EMAIL}}</customer_email> <urgency>{{TICKET}}</urgency>"
    backend = ScriptedBackend([_written(bare), _written(WRITTEN)])

    result = _freeform(backend).generate(TASK)

    assert "says almost nothing besides its inputs" in backend.requests[1].turns[-1].text
    assert result.messages[0].text == WRITTEN


def test_a_variable_for_the_assistants_own_answer_is_sent_back() -> None:
    with_answer = WRITTEN + "\n\nCompare with the expected answer: {{ANSWER}}"
    backend = ScriptedBackend([_written(with_answer), _written(WRITTEN)])

    _freeform(backend).generate(TASK)

    assert "{{ANSWER}} names what the assistant produces" in backend.requests[1].turns[-1].text
