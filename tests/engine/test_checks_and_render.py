"""The renderer and the validator: whatever a model writes into a plan, the rendered
prompt keeps the structural guarantees, for every model family."""

from __future__ import annotations

import string
import tracemalloc

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
from promptmill.engine.families import model_family
from promptmill.engine.plan import PlanInput, PromptPlan, parse_plan
from promptmill.engine.render import render_prompt

FAMILIES = ["claude", "openai", "openai_reasoning", "gemini", "open"]

# Free text as a model might write it: prose with tags, braces, placeholders and chatter.
_nasty = st.sampled_from(
    ["<answer>", "</thinking>", "{{", "}}", "{{ name }}", "Here is", "Sure!", "<b>", "{", "\n", "."]
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
    }
)


@given(st.text(max_size=40))
def test_any_label_becomes_an_upper_snake_variable_name(label: str) -> None:
    assert VARIABLE_NAME.match(to_variable_name(label))


@settings(max_examples=200, deadline=None)
@given(raw_plans, st.sampled_from(FAMILIES))
def test_a_sanitised_plan_always_renders_a_well_formed_prompt(
    raw: dict[str, object], family: str
) -> None:
    try:
        plan = parse_plan(raw)
    except ValueError:
        return  # rejected plans go back to the model; they never reach the renderer
    rendered = render_prompt(plan, family)  # type: ignore[arg-type]
    declared = [i.name for i in plan.inputs]
    assert check_prompt([rendered.user, rendered.system], declared=declared) == []
    assert all(placeholders(rendered.user + rendered.system).count(n) == 1 for n in declared)


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
    rendered = render_prompt(_plan(), "claude")
    assert "<dietary_needs>\n{{DIETARY_NEEDS}}\n</dietary_needs>" in rendered.user
    assert rendered.system == ""
    assert rendered.prefill == "<thinking>"


def test_claude_prompts_without_reasoning_prefill_the_answer_tag() -> None:
    rendered = render_prompt(_plan(think_first=False), "claude")
    assert "<thinking>" not in rendered.user
    assert rendered.prefill == "<answer>"


def test_openai_prompts_put_instructions_in_the_system_message_and_have_no_prefill() -> None:
    rendered = render_prompt(_plan(), "openai")
    assert rendered.system.startswith("# Identity")
    assert "{{DIETARY_NEEDS}}" in rendered.user
    assert rendered.prefill == ""
    assert "step by step" in rendered.system


def test_reasoning_models_are_not_told_to_think_step_by_step() -> None:
    rendered = render_prompt(_plan(), "openai_reasoning")
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
