"""The deterministic renderer: a validated plan in, the final prompt out.

The renderer, not the model, writes every tag, placeholder and section heading, which is
why the structure of a promptmill prompt is guaranteed: variables are emitted exactly as
declared, each exactly once, and every tag it opens it closes. What changes between
model families is documented in ``families.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from promptmill.engine.families import Family
from promptmill.engine.plan import PlanInput, PromptPlan


@dataclass(frozen=True)
class RenderedPrompt:
    user: str
    system: str = ""
    prefill: str = ""


def tag_name(variable: str) -> str:
    """The XML tag that wraps a variable: ``CUSTOMER_NAME`` -> ``customer_name``."""
    return re.sub(r"[^a-z0-9_]+", "_", variable.lower()).strip("_") or "input"


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?:" else text + "."


def _role_line(role: str) -> str:
    article = (
        ""
        if re.match(r"^(an?|the)\s", role, re.IGNORECASE)
        else ("an " if role[:1].lower() in "aeiou" else "a ")
    )
    return f"You are {article}{role.rstrip('.')}."


def _input_blocks(inputs: list[PlanInput], *, heading: str | None = None) -> str:
    blocks = []
    for item in inputs:
        label = (
            heading.format(description=_sentence(item.description).rstrip("."))
            if heading
            else _sentence(item.description).rstrip(".") + ":"
        )
        tag = tag_name(item.name)
        blocks.append(f"{label}\n<{tag}>\n{{{{{item.name}}}}}\n</{tag}>")
    return "\n\n".join(blocks)


def _numbered(items: list[str]) -> str:
    return "\n".join(f"{n}. {_sentence(item)}" for n, item in enumerate(items, 1))


def _bulleted(items: list[str]) -> str:
    return "\n".join(f"- {_sentence(item)}" for item in items)


def render_prompt(plan: PromptPlan, family: Family) -> RenderedPrompt:
    """Render ``plan`` in the conventions of ``family``."""
    if family == "claude":
        return _render_claude(plan)
    if family in ("openai", "openai_reasoning"):
        return _render_openai(plan, reasoning_model=family == "openai_reasoning")
    if family == "gemini":
        return _render_gemini(plan)
    return _render_open(plan)


def _render_claude(plan: PromptPlan) -> RenderedPrompt:
    parts = [f"{_role_line(plan.role)} {_sentence(plan.objective)}"]
    if plan.inputs:
        parts.append("Here is the information you will work with.\n\n" + _input_blocks(plan.inputs))
    parts.append("Follow these steps:\n" + _numbered(plan.steps))
    if plan.constraints:
        parts.append("Keep to these rules:\n" + _bulleted(plan.constraints))
    if plan.output_format:
        parts.append("Format of your answer: " + _sentence(plan.output_format))
    if plan.think_first:
        parts.append(
            "Before answering, think the problem through step by step inside "
            "<thinking></thinking> tags. Then write your final answer inside "
            "<answer></answer> tags."
        )
        prefill = "<thinking>"
    else:
        parts.append("Write your final answer inside <answer></answer> tags.")
        prefill = "<answer>"
    return RenderedPrompt(user="\n\n".join(parts), prefill=prefill)


def _render_openai(plan: PromptPlan, *, reasoning_model: bool) -> RenderedPrompt:
    system = [
        "# Identity\n\n" + f"{_role_line(plan.role)} {_sentence(plan.objective)}",
        "# Instructions\n\n" + _numbered(plan.steps),
    ]
    if plan.constraints:
        system.append("# Rules\n\n" + _bulleted(plan.constraints))
    output = _sentence(plan.output_format) if plan.output_format else ""
    if plan.think_first and not reasoning_model:
        output = (output + " " if output else "") + (
            "Reason step by step first, then give the final answer last, "
            "after a line that reads 'Final answer:'."
        )
    if output:
        system.append("# Output format\n\n" + output)
    user = _input_blocks(plan.inputs) if plan.inputs else _sentence(plan.objective)
    return RenderedPrompt(user=user, system="\n\n".join(system))


def _render_gemini(plan: PromptPlan) -> RenderedPrompt:
    system = [f"{_role_line(plan.role)}"]
    if plan.constraints:
        system.append("Rules:\n" + _bulleted(plan.constraints))
    user = ["Task: " + _sentence(plan.objective), "Steps:\n" + _numbered(plan.steps)]
    output = _sentence(plan.output_format) if plan.output_format else ""
    if plan.think_first:
        output = (output + " " if output else "") + (
            "Explain your reasoning step by step, then state the final answer."
        )
    if output:
        user.append("Output format: " + output)
    if plan.inputs:
        user.append(_input_blocks(plan.inputs, heading="Input — {description}:"))
    return RenderedPrompt(user="\n\n".join(user), system="\n\n".join(system))


def _render_open(plan: PromptPlan) -> RenderedPrompt:
    parts = [
        "## Role\n" + _role_line(plan.role),
        "## Task\n" + _sentence(plan.objective),
    ]
    if plan.inputs:
        parts.append("## Inputs\n" + _input_blocks(plan.inputs))
    parts.append("## Steps\n" + _numbered(plan.steps))
    if plan.constraints:
        parts.append("## Rules\n" + _bulleted(plan.constraints))
    output = _sentence(plan.output_format) if plan.output_format else ""
    if plan.think_first:
        output = (output + " " if output else "") + (
            "Think through the problem step by step before giving your final answer."
        )
    if output:
        parts.append("## Output format\n" + output)
    return RenderedPrompt(user="\n\n".join(parts))
