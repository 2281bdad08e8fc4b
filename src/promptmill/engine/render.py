"""The deterministic renderer: a validated plan in, the final prompt out.

The renderer, not the model, writes every tag, placeholder and section heading, which is
why the structure of a promptmill prompt is guaranteed: variables are emitted exactly as
declared, each exactly once, and every tag it opens it closes. What changes between
model families is documented in ``families.py``; the frame's wording in each language
is in ``headings.py``.

Two choices are the caller's, because they depend on the target model and on what the
client asked for rather than on the family alone:

- ``prefill``: return the opening of the answer (``<thinking>`` or ``<answer>``) as an
  assistant prefill. Without it, Claude-family prompts state the same opening as an
  instruction at the end of the user message, so the answer still starts where the
  prefill would have started it.
- ``separate_system``: return the instructions as a separate system prompt, for families
  whose convention that is (``families.separates_system``). Without it, ``system`` is
  ``""`` and the instructions open the user message, as the Prompt Tools API returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from promptmill.engine.families import Family, separates_system
from promptmill.engine.headings import ENGLISH_HEADINGS, Headings
from promptmill.engine.plan import PlanInput, PromptPlan

_ENDINGS = ".!?:。！？：…"


@dataclass(frozen=True)
class RenderedPrompt:
    user: str
    system: str = ""
    prefill: str = ""


def tag_name(variable: str) -> str:
    """The XML tag that wraps a variable: ``CUSTOMER_NAME`` -> ``customer_name``."""
    return re.sub(r"[^a-z0-9_]+", "_", variable.lower()).strip("_") or "input"


def _sentence(text: str, h: Headings) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in _ENDINGS else text + h.full_stop


def _phrase(text: str, h: Headings) -> str:
    """A sentence without its final full stop, to be followed by a colon."""
    return _sentence(text, h).rstrip(".。")


def _role_line(role: str, h: Headings) -> str:
    role = role.rstrip(".。")
    if h.role_line:
        return h.role_line.format(role=role)
    article = (
        ""
        if re.match(r"^(an?|the)\s", role, re.IGNORECASE)
        else ("an " if role[:1].lower() in "aeiou" else "a ")
    )
    return f"You are {article}{role}."


def _input_blocks(inputs: list[PlanInput], h: Headings, *, labelled: bool = False) -> str:
    blocks = []
    for item in inputs:
        description = _phrase(item.description, h)
        label = h.input_label.format(description=description) if labelled else description + h.colon
        tag = tag_name(item.name)
        blocks.append(f"{label}\n<{tag}>\n{{{{{item.name}}}}}\n</{tag}>")
    return "\n\n".join(blocks)


def _numbered(items: list[str], h: Headings) -> str:
    return "\n".join(f"{n}. {_sentence(item, h)}" for n, item in enumerate(items, 1))


def _bulleted(items: list[str], h: Headings) -> str:
    return "\n".join(f"- {_sentence(item, h)}" for item in items)


def render_prompt(
    plan: PromptPlan,
    family: Family,
    *,
    prefill: bool = False,
    separate_system: bool = False,
    headings: Headings = ENGLISH_HEADINGS,
) -> RenderedPrompt:
    """Render ``plan`` in the conventions of ``family``, its frame worded by ``headings``.

    Guarantees: ``prefill`` is non-empty only when asked for (and only for ``claude``);
    ``system`` is non-empty only when ``separate_system`` is asked for and the family
    separates it; otherwise ``system`` is ``""`` and everything is in ``user``.
    """
    if family == "claude":
        rendered = _render_claude(plan, h=headings, prefill=prefill)
    elif family in ("openai", "openai_reasoning"):
        rendered = _render_openai(plan, h=headings, reasoning_model=family == "openai_reasoning")
    elif family == "gemini":
        rendered = _render_gemini(plan, h=headings)
    else:
        rendered = _render_open(plan, h=headings)
    if rendered.system and not (separate_system and separates_system(family)):
        joined = f"{rendered.system}\n\n{rendered.user}"
        return RenderedPrompt(user=joined, prefill=rendered.prefill)
    return rendered


def _render_claude(plan: PromptPlan, *, h: Headings, prefill: bool) -> RenderedPrompt:
    parts = [_role_line(plan.role, h) + h.gap + _sentence(plan.objective, h)]
    if plan.inputs:
        parts.append(h.information + "\n\n" + _input_blocks(plan.inputs, h))
    parts.append(h.steps_intro + "\n" + _numbered(plan.steps, h))
    if plan.constraints:
        parts.append(h.rules_intro + "\n" + _bulleted(plan.constraints, h))
    if plan.output_format:
        parts.append(h.answer_format + h.gap + _sentence(plan.output_format, h))
    tag = "thinking" if plan.think_first else "answer"
    parts.append(h.think_in_tags if plan.think_first else h.answer_in_tags)
    if not prefill:
        parts.append(h.begin_with.format(opening=f"<{tag}></{tag}>"))
    return RenderedPrompt(user="\n\n".join(parts), prefill=f"<{tag}>" if prefill else "")


def _render_openai(plan: PromptPlan, *, h: Headings, reasoning_model: bool) -> RenderedPrompt:
    system = [
        f"# {h.identity}\n\n" + _role_line(plan.role, h) + h.gap + _sentence(plan.objective, h),
        f"# {h.instructions}\n\n" + _numbered(plan.steps, h),
    ]
    if plan.constraints:
        system.append(f"# {h.rules}\n\n" + _bulleted(plan.constraints, h))
    output = _sentence(plan.output_format, h) if plan.output_format else ""
    if plan.think_first and not reasoning_model:
        output = (output + h.gap if output else "") + h.reason_then_final_line
    if output:
        system.append(f"# {h.output_format}\n\n{output}")
    user = (
        f"# {h.input}\n\n" + _input_blocks(plan.inputs, h)
        if plan.inputs
        else _sentence(plan.objective, h)
    )
    return RenderedPrompt(user=user, system="\n\n".join(system))


def _render_gemini(plan: PromptPlan, *, h: Headings) -> RenderedPrompt:
    system = [_role_line(plan.role, h)]
    if plan.constraints:
        system.append(f"{h.rules}{h.colon}\n" + _bulleted(plan.constraints, h))
    user = [
        f"{h.task}{h.colon}{h.gap}" + _sentence(plan.objective, h),
        f"{h.steps}{h.colon}\n" + _numbered(plan.steps, h),
    ]
    output = _sentence(plan.output_format, h) if plan.output_format else ""
    if plan.think_first:
        output = (output + h.gap if output else "") + h.reason_then_answer
    if output:
        user.append(f"{h.output_format}{h.colon}{h.gap}" + output)
    if plan.inputs:
        user.append(_input_blocks(plan.inputs, h, labelled=True))
    return RenderedPrompt(user="\n\n".join(user), system="\n\n".join(system))


def _render_open(plan: PromptPlan, *, h: Headings) -> RenderedPrompt:
    parts = [
        f"## {h.role}\n" + _role_line(plan.role, h),
        f"## {h.task}\n" + _sentence(plan.objective, h),
    ]
    if plan.inputs:
        parts.append(f"## {h.inputs}\n" + _input_blocks(plan.inputs, h))
    parts.append(f"## {h.steps}\n" + _numbered(plan.steps, h))
    if plan.constraints:
        parts.append(f"## {h.rules}\n" + _bulleted(plan.constraints, h))
    output = _sentence(plan.output_format, h) if plan.output_format else ""
    if plan.think_first:
        output = (output + h.gap if output else "") + h.think_before_answering
    if output:
        parts.append(f"## {h.output_format}\n" + output)
    return RenderedPrompt(user="\n\n".join(parts))
