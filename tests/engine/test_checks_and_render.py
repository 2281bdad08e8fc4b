"""The renderer and the validator: whatever a model writes into a plan, the rendered
prompt keeps the structural guarantees, for every model family."""

from __future__ import annotations

import re
import string
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptmill.engine.checks import (
    VARIABLE_NAME,
    check_prompt,
    content_words,
    placeholders,
    to_variable_name,
    unbalanced_tags,
)
from promptmill.engine.families import Family, model_family, separates_system
from promptmill.engine.headings import TRANSLATED_LANGUAGES, headings_for
from promptmill.engine.language import Language
from promptmill.engine.plan import PlanInput, PromptPlan, parse_plan
from promptmill.engine.render import render_prompt

FAMILIES: list[Family] = ["claude", "openai", "openai_reasoning", "gemini", "open"]

# Free text as a model might write it: prose with tags, braces, placeholders and chatter.
_nasty = st.sampled_from(
    [
        "<answer>",
        "</thinking>",
        "{{",
        "}}",
        "{{ name }}",
        "Here is",
        "Sure!",
        "<b>",
        "{",
        "}",
        "{{{",
        '{"a": {"b": 1}}',
        "\n",
        ".",
    ]
)
free_text = st.lists(
    st.one_of(st.text(alphabet=string.ascii_letters + " ,.'-", min_size=1, max_size=20), _nasty),
    min_size=1,
    max_size=8,
).map("".join)
raw_plans = st.fixed_dictionaries(
    {
        "role": free_text,
        "objective": free_text,
        "inputs": st.lists(
            st.fixed_dictionaries({"name": free_text, "description": free_text}),
            min_size=1,
            max_size=5,
        ),
        "steps": st.lists(free_text, min_size=3, max_size=7),
        "constraints": st.lists(free_text, min_size=1, max_size=5),
        "output_format": free_text,
        "think_first": st.booleans(),
    },
    optional={
        "task_kind": st.sampled_from(["classify", "extract", "reason", "write", "bogus", ""]),
        "context": free_text,
        "edge_cases": st.lists(free_text, max_size=4),
        "tone": free_text,
        "output_fields": st.lists(
            st.fixed_dictionaries({"name": free_text, "type": free_text, "description": free_text}),
            max_size=4,
        ),
        "examples": st.lists(
            st.fixed_dictionaries({"input": free_text, "output": free_text}), max_size=3
        ),
    },
)


@given(st.text(max_size=40))
def test_any_label_becomes_an_upper_snake_variable_name(label: str) -> None:
    assert VARIABLE_NAME.match(to_variable_name(label))


@settings(max_examples=300, deadline=None)
@given(
    raw_plans,
    st.sampled_from(FAMILIES),
    st.booleans(),
    st.booleans(),
    st.sampled_from(sorted(TRANSLATED_LANGUAGES)),
)
def test_a_sanitised_plan_always_renders_a_well_formed_prompt(
    raw: dict[str, object], family: Family, prefill: bool, separate_system: bool, language: str
) -> None:
    try:
        plan = parse_plan(raw)
    except ValueError:
        return  # rejected plans go back to the model; they never reach the renderer
    rendered = render_prompt(
        plan,
        family,
        prefill=prefill,
        separate_system=separate_system,
        headings=headings_for(Language(language, language)),
    )
    declared = [i.name for i in plan.inputs]
    assert check_prompt([rendered.user, rendered.system], declared=declared) == []
    assert all(placeholders(rendered.user + rendered.system).count(n) == 1 for n in declared)
    # The contract: a prefill only when asked for, a system prompt only on request and
    # only where the family's convention has one.
    assert bool(rendered.prefill) == (prefill and family == "claude")
    assert bool(rendered.system) <= (separate_system and separates_system(family))


def _plan(**overrides: object) -> PromptPlan:
    base: dict[str, object] = {
        "role": "meal-prep chef",
        "objective": "Plan a week of meals.",
        "inputs": [PlanInput(name="DIETARY_NEEDS", description="The client's dietary needs")],
        "steps": ["Read the needs", "Pick recipes", "Write the plan"],
        "constraints": ["Respect allergies"],
        "output_format": "A table of meals per day",
        "think_first": True,
    }
    base.update(overrides)
    return PromptPlan.model_validate(base)


def test_claude_prompts_wrap_inputs_in_xml_tags_and_prefill_thinking() -> None:
    rendered = render_prompt(_plan(), "claude", prefill=True)
    assert "<dietary_needs>\n{{DIETARY_NEEDS}}\n</dietary_needs>" in rendered.user
    assert rendered.system == ""
    assert rendered.prefill == "<thinking>"
    assert "Begin your answer" not in rendered.user


def test_claude_prompts_without_reasoning_prefill_the_answer_tag() -> None:
    rendered = render_prompt(_plan(think_first=False), "claude", prefill=True)
    assert "<thinking>" not in rendered.user
    assert rendered.prefill == "<answer>"


def test_without_a_prefill_claude_prompts_state_the_opening_as_their_last_instruction() -> None:
    thinking = render_prompt(_plan(), "claude", prefill=False)
    answer = render_prompt(_plan(think_first=False), "claude", prefill=False)
    assert thinking.prefill == answer.prefill == ""
    assert thinking.user.endswith(
        "Begin your answer directly inside <thinking></thinking> tags, with nothing before them."
    )
    assert answer.user.endswith(
        "Begin your answer directly inside <answer></answer> tags, with nothing before them."
    )


def test_openai_prompts_keep_everything_in_the_user_message_by_default() -> None:
    rendered = render_prompt(_plan(), "openai")
    assert rendered.system == "" and rendered.prefill == ""
    assert rendered.user.startswith("# Identity\n\nYou are a meal-prep chef.")
    sections = re.findall(r"^# (.+)$", rendered.user, re.MULTILINE)
    assert sections == ["Identity", "Instructions", "Rules", "Output format", "Input"]
    assert rendered.user.endswith("<dietary_needs>\n{{DIETARY_NEEDS}}\n</dietary_needs>")
    assert "step by step" in rendered.user


def test_openai_prompts_put_instructions_in_the_system_message_on_request() -> None:
    rendered = render_prompt(_plan(), "openai", separate_system=True)
    assert rendered.system.startswith("# Identity")
    assert "step by step" in rendered.system
    assert rendered.user.startswith("# Input\n\n") and "{{DIETARY_NEEDS}}" in rendered.user
    assert "{{DIETARY_NEEDS}}" not in rendered.system


def test_gemini_prompts_put_role_and_rules_in_the_system_instruction_on_request() -> None:
    joined = render_prompt(_plan(), "gemini")
    separate = render_prompt(_plan(), "gemini", separate_system=True)
    assert joined.system == ""
    assert separate.system == "You are a meal-prep chef.\n\nRules:\n- Respect allergies."
    assert joined.user == separate.system + "\n\n" + separate.user


@pytest.mark.parametrize("family", ["claude", "open"])
def test_families_without_a_system_convention_ignore_the_request_for_one(family: Family) -> None:
    assert render_prompt(_plan(), family, separate_system=True) == render_prompt(_plan(), family)
    assert render_prompt(_plan(), family, separate_system=True).system == ""


def test_reasoning_models_are_not_told_to_think_step_by_step() -> None:
    for separate_system in (False, True):
        rendered = render_prompt(_plan(), "openai_reasoning", separate_system=separate_system)
        assert "step by step" not in rendered.system + rendered.user


def test_open_models_get_markdown_sections_in_one_user_message() -> None:
    rendered = render_prompt(_plan(), "open")
    assert rendered.user.startswith("## Role")
    assert rendered.system == "" and rendered.prefill == ""


def test_target_models_map_to_their_vendor_family() -> None:
    assert model_family(None) == "claude"
    assert model_family("claude-3-7-sonnet-20250219") == "claude"
    assert model_family("gpt-4o-mini") == "openai"
    assert model_family("o3-mini") == "openai_reasoning"
    assert model_family("gemini-2.0-flash") == "gemini"
    assert model_family("meta-llama/Llama-3.1-8B-Instruct") == "open"
    assert model_family("qwen2.5:7b") == "open"
    assert model_family("some-unknown-model") == "claude"


def test_the_validator_flags_each_broken_guarantee() -> None:
    problems = check_prompt(
        ["Here is your prompt: use {{name}} and <answer>", ""], declared=["TOPIC"]
    )
    kinds = {p.check for p in problems}
    assert kinds == {"variables", "tags", "chatter"}


def test_the_validator_flags_wrapper_tags() -> None:
    problems = check_prompt(["<prompt>\nDo {{X}}\n</prompt>"], declared=["X"])
    assert [p.check for p in problems] == ["wrapper"]


def test_balanced_tag_mentions_in_prose_pass() -> None:
    assert unbalanced_tags("Think inside <thinking></thinking> tags.<a><b></b></a>") == []
    assert unbalanced_tags("<a><b></a>") == ["<b>"]


@pytest.mark.parametrize("family", FAMILIES)
def test_japanese_prompts_join_sentences_without_spaces_and_end_them_with_a_full_stop(
    family: Family,
) -> None:
    plan = _plan(
        role="シェフ",
        objective="食事を計画する",
        inputs=[PlanInput(name="DIET", description="顧客の食事制限")],
        steps=["読む", "書く"],
        constraints=["アレルギーを守る"],
        output_format="表",
    )
    japanese = headings_for(Language("ja", "Japanese"))
    rendered = render_prompt(plan, family, separate_system=True, headings=japanese)
    text = rendered.system + rendered.user
    assert "。 " not in text and "： " not in text
    assert "計画する。" in text and "顧客の食事制限：" in text


def test_content_words_of_a_long_prompt_costs_little_more_than_the_prompt() -> None:
    text = "Rewrite this paragraph more clearly for the customer. " * 20_000  # about 1 MB
    tracemalloc.start()
    try:
        stems = content_words(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stems == {"rewri", "parag", "clear", "custo"}
    assert peak < 3 * len(text)  # the lower-cased copy, not a list of every word
