"""Prefill by target: an assistant prefill only for models that continue one.

Claude Opus 4.6 / Sonnet 4.6 and later reject a final assistant message with a 400, and
no other family continues one; ``accepts_prefill`` is the one rule, and the renderer and
the engine never hand a prefill to a model it rejects.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptmill.engine import PromptEngine
from promptmill.engine.families import (
    FIRST_CLAUDE_WITHOUT_PREFILL,
    accepts_prefill,
    claude_version,
    model_family,
)
from promptmill.engine.plan import PlanInput, PromptPlan
from promptmill.engine.render import render_prompt
from promptmill.engine.types import PromptMessage
from tests.engine.test_engine_pipeline import GOOD_PLAN, TASK
from tests.fakes.scripted_backend import ScriptedBackend

PLAN = PromptPlan(
    role="meal-prep chef",
    objective="Plan a week of meals.",
    inputs=[PlanInput(name="DIETARY_NEEDS", description="The client's dietary needs")],
    steps=["Read the needs", "Pick recipes"],
    constraints=["Respect allergies"],
    output_format="A table",
    think_first=True,
)

tiers = st.sampled_from(["opus", "sonnet", "haiku"])
versions = st.tuples(st.integers(1, 12), st.integers(0, 9))
dates = st.sampled_from(["", "-20250219", "-20260205", "-latest", "@20250929", "-v1:0"])
providers = st.sampled_from(["", "anthropic.", "us.anthropic.", "anthropic/", "models/"])


@pytest.mark.parametrize(
    "model",
    [
        "claude-3-haiku-20240307",
        "claude-3-5-sonnet-20241022",
        "claude-3-7-sonnet-20250219",
        "claude-sonnet-4-20250514",
        "claude-opus-4-1-20250805",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5",
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "claude-2.1",
        "claude-instant-1.2",
    ],
)
def test_claude_models_before_4_6_accept_a_prefill(model: str) -> None:
    assert accepts_prefill(model)


@pytest.mark.parametrize(
    "model",
    [
        "claude-opus-4-6",
        "claude-sonnet-4-6",
        "claude-opus-4-6-20260205",
        "claude-sonnet-4-7",
        "claude-opus-5",
        "claude-haiku-5-1-20270101",
        "us.anthropic.claude-opus-4-6-v1:0",
    ],
)
def test_claude_4_6_and_later_reject_a_prefill(model: str) -> None:
    assert not accepts_prefill(model)


@pytest.mark.parametrize(
    "model",
    [None, "", "gpt-4o", "o3-mini", "gemini-2.5-pro", "qwen2.5:7b", "claude", "mystery-model"],
)
def test_other_families_and_unversioned_names_get_no_prefill(model: str | None) -> None:
    assert not accepts_prefill(model)


@given(providers, tiers, versions, dates)
def test_the_version_decides_in_the_tier_first_naming(
    provider: str, tier: str, version: tuple[int, int], date: str
) -> None:
    major, minor = version
    name = f"{provider}claude-{tier}-{major}" + (f"-{minor}" if minor else "") + date
    assert claude_version(name) == version
    assert accepts_prefill(name) == (version < FIRST_CLAUDE_WITHOUT_PREFILL)


@given(providers, tiers, versions, dates)
def test_the_version_decides_in_the_version_first_naming(
    provider: str, tier: str, version: tuple[int, int], date: str
) -> None:
    major, minor = version
    name = f"{provider}claude-{major}" + (f"-{minor}" if minor else "") + f"-{tier}{date}"
    assert accepts_prefill(name) == (version < FIRST_CLAUDE_WITHOUT_PREFILL)


model_names = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda provider, tier, version, date: (
            f"{provider}claude-{tier}-{version[0]}-{version[1]}{date}"
        ),
        providers,
        tiers,
        versions,
        dates,
    ),
    st.sampled_from(["gpt-4o", "o3", "gemini-2.0-flash", "llama-3.1-8b", "claude-3-7-sonnet"]),
)


@settings(max_examples=300)
@given(model_names, st.booleans())
def test_a_prompt_rendered_for_a_model_has_a_prefill_only_if_the_model_accepts_one(
    model: str, think_first: bool
) -> None:
    plan = PLAN.model_copy(update={"think_first": think_first})
    rendered = render_prompt(plan, model_family(model), prefill=accepts_prefill(model))
    assert bool(rendered.prefill) == accepts_prefill(model)
    assert not accepts_prefill(model) or model_family(model) == "claude"
    if model_family(model) == "claude" and not rendered.prefill:
        tag = "thinking" if think_first else "answer"
        assert f"Begin your answer directly inside <{tag}></{tag}> tags" in rendered.user


def _generate(model: str | None) -> list[PromptMessage]:
    backend = ScriptedBackend([json.dumps(GOOD_PLAN)])
    return PromptEngine(backend).generate(TASK, model).messages


def test_generate_for_claude_opus_4_6_returns_no_assistant_message() -> None:
    messages = _generate("claude-opus-4-6")
    assert [m.role for m in messages] == ["user"]
    assert messages[0].text.endswith(
        "Begin your answer directly inside <thinking></thinking> tags, with nothing before them."
    )


def test_generate_for_claude_3_7_still_prefills_the_answer() -> None:
    messages = _generate("claude-3-7-sonnet-20250219")
    assert [(m.role, m.text) for m in messages[1:]] == [("assistant", "<thinking>")]
    assert "Begin your answer" not in messages[0].text


def test_generate_without_a_target_returns_no_prefill() -> None:
    assert [m.role for m in _generate(None)] == ["user"]


def test_improve_for_a_model_without_prefill_returns_no_assistant_message() -> None:
    plan = {k: v for k, v in GOOD_PLAN.items() if k != "inputs"}
    backend = ScriptedBackend(
        [json.dumps({**plan, "input_descriptions": {"DISH": "the dish to cook today"}})]
    )
    result = PromptEngine(backend).improve(
        [PromptMessage.of("user", "Cook {{DISH}}"), PromptMessage.of("assistant", "<answer>")],
        target_model="claude-sonnet-4-6",
    )
    assert [m.role for m in result.messages] == ["user"]
