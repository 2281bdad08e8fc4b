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
from promptmill.engine.plan import (
    CHOICE_KIND,
    CLASSIFY_KIND,
    REASONING_KINDS,
    OutputField,
    PlanExample,
    PlanInput,
    PromptPlan,
)

_ENDINGS = ".!?:。！？：…"
# Task kinds whose answer is short and checkable: told to answer directly, never to explain
# first (the examples show the form instead).
_DIRECT_KINDS = frozenset({CLASSIFY_KIND, CHOICE_KIND, "extract", "transform"})
# Decisions whose input may itself be a question with lettered options: told to answer with
# the option as the input names it, since a label of the plan's own invention names none.
# Not rewrites (``transform``): a translator told so would answer the quiz it was given to
# translate. A rewrite task posed as a quiz (BIG-bench's hyperbaton, "order adjectives
# correctly", given "which sentence is right: (A) ... (B) ...") did not need it: Qwen 1.5B
# scored 6/10 there with the line and without it, as the bare task did (bench/README.md).
_OPTION_KINDS = frozenset({CLASSIFY_KIND, "reason"})
# Small open-weight targets get a concise prompt: long prompts dilute a small model's
# attention and eat its context window.
_CONCISE_EXAMPLES = 1
_CONCISE_EDGE_CASES = 2


@dataclass(frozen=True)
class RenderedPrompt:
    user: str
    system: str = ""
    prefill: str = ""


_NOT_TAG_CHARACTER = re.compile(r"[^a-z0-9_]+")


def tag_name(variable: str) -> str:
    """The XML tag that wraps a variable: ``CUSTOMER_NAME`` -> ``customer_name``."""
    return _NOT_TAG_CHARACTER.sub("_", variable.lower()).strip("_") or "input"


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


def _opening(plan: PromptPlan, h: Headings) -> str:
    """Role, context (who uses the assistant, for whom, why) and objective."""
    sentences = [_role_line(plan.role, h)]
    if plan.context:
        sentences.append(_sentence(plan.context, h))
    sentences.append(_sentence(plan.objective, h))
    return h.gap.join(sentences)


def _fields(fields: list[OutputField], h: Headings) -> str:
    lines = []
    for item in fields:
        description = (
            f"{h.colon}{h.gap}{_sentence(item.description, h)}" if item.description else ""
        )
        lines.append(f"- {item.name} ({item.type}){description}")
    return h.fields_intro + "\n" + "\n".join(lines)


def _output_spec(plan: PromptPlan, h: Headings) -> str:
    """The exact output specification: the format sentence, then the fields, if any.

    A choice's answer is worded here, not by the model: one sentence on which item fits,
    then the letter of the chosen option. A planner's own format for it (a label) names no
    option, and a bare letter is a positional guess for a small model: on the same ten
    BIG-bench snarks items Qwen 1.5B scored 4/10 told "its letter, such as (B)" (it
    answered (B) every time), 5/10 with the letter alone, 3/10 asked for "the option as
    the input writes it" without the direct-answer line (it wrote the first option's
    text), and 8/10 with this wording (bare task 6/10; issue 9, 2026-11-26).
    """
    parts = []
    if plan.task_kind == CHOICE_KIND:
        parts.append(h.choose_answer)
    else:
        if plan.output_format:
            parts.append(_sentence(plan.output_format, h))
        if plan.output_fields:
            parts.append(_fields(plan.output_fields, h))
        if plan.task_kind in _OPTION_KINDS:
            parts.append(h.options_answer)
    if plan.task_kind in _DIRECT_KINDS | REASONING_KINDS and not plan.think_first:
        parts.append(h.direct_answer)
    return "\n".join(parts)


def _examples(examples: list[PlanExample], h: Headings) -> str:
    blocks = [
        f"<example>\n<input>\n{item.input}\n</input>\n"
        f"<ideal_output>\n{item.output}\n</ideal_output>\n</example>"
        for item in examples
    ]
    return h.examples_intro + "\n<examples>\n" + "\n".join(blocks) + "\n</examples>"


def _edge_cases(items: list[str], h: Headings) -> str:
    return h.edge_cases_intro + "\n" + _bulleted(items, h)


def _tone(plan: PromptPlan, h: Headings) -> str:
    return f"{h.tone}{h.colon}{h.gap}{_sentence(plan.tone, h)}"


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
    parts = [_opening(plan, h)]
    if plan.inputs:
        parts.append(h.information + "\n\n" + _input_blocks(plan.inputs, h))
    parts.append(h.steps_intro + "\n" + _numbered(plan.steps, h))
    if plan.constraints:
        parts.append(h.rules_intro + "\n" + _bulleted(plan.constraints, h))
    if plan.edge_cases:
        parts.append(_edge_cases(plan.edge_cases, h))
    if plan.tone:
        parts.append(_tone(plan, h))
    output = _output_spec(plan, h)
    if output:
        parts.append(
            h.answer_format + ("\n" if output.startswith(h.fields_intro) else h.gap) + output
        )
    if plan.examples:
        parts.append(_examples(plan.examples, h))
    tag = "thinking" if plan.think_first else "answer"
    parts.append(h.think_in_tags if plan.think_first else h.answer_in_tags)
    if not prefill:
        parts.append(h.begin_with.format(opening=f"<{tag}></{tag}>"))
    return RenderedPrompt(user="\n\n".join(parts), prefill=f"<{tag}>" if prefill else "")


def _render_openai(plan: PromptPlan, *, h: Headings, reasoning_model: bool) -> RenderedPrompt:
    system = [
        f"# {h.identity}\n\n" + _opening(plan, h),
        f"# {h.instructions}\n\n" + _numbered(plan.steps, h),
    ]
    rules = _bulleted(plan.constraints, h) if plan.constraints else ""
    if plan.edge_cases:
        rules = (rules + "\n\n" if rules else "") + _edge_cases(plan.edge_cases, h)
    if plan.tone:
        rules = (rules + "\n\n" if rules else "") + _tone(plan, h)
    if rules:
        system.append(f"# {h.rules}\n\n" + rules)
    output = _output_spec(plan, h)
    if plan.think_first and not reasoning_model:
        output = (output + "\n" if output else "") + h.reason_then_final_line
    if output:
        system.append(f"# {h.output_format}\n\n{output}")
    if plan.examples:
        system.append(f"# {h.examples}\n\n" + _examples(plan.examples, h))
    user = (
        f"# {h.input}\n\n" + _input_blocks(plan.inputs, h)
        if plan.inputs
        else _sentence(plan.objective, h)
    )
    return RenderedPrompt(user=user, system="\n\n".join(system))


def _render_gemini(plan: PromptPlan, *, h: Headings) -> RenderedPrompt:
    system = [
        _role_line(plan.role, h) + (h.gap + _sentence(plan.context, h) if plan.context else "")
    ]
    if plan.constraints:
        system.append(f"{h.rules}{h.colon}\n" + _bulleted(plan.constraints, h))
    if plan.tone:
        system.append(_tone(plan, h))
    user = [
        f"{h.task}{h.colon}{h.gap}" + _sentence(plan.objective, h),
        f"{h.steps}{h.colon}\n" + _numbered(plan.steps, h),
    ]
    if plan.edge_cases:
        user.append(_edge_cases(plan.edge_cases, h))
    output = _output_spec(plan, h)
    if plan.think_first:
        output = (output + "\n" if output else "") + h.reason_then_answer
    if output:
        user.append(f"{h.output_format}{h.colon}\n" + output)
    if plan.examples:
        user.append(_examples(plan.examples, h))
    if plan.inputs:
        user.append(_input_blocks(plan.inputs, h, labelled=True))
    return RenderedPrompt(user="\n\n".join(user), system="\n\n".join(system))


def _render_open(plan: PromptPlan, *, h: Headings) -> RenderedPrompt:
    role = _role_line(plan.role, h) + (h.gap + _sentence(plan.context, h) if plan.context else "")
    parts = [
        f"## {h.role}\n" + role,
        f"## {h.task}\n" + _sentence(plan.objective, h),
    ]
    if plan.inputs:
        parts.append(f"## {h.inputs}\n" + _input_blocks(plan.inputs, h))
    parts.append(f"## {h.steps}\n" + _numbered(plan.steps, h))
    rules = plan.constraints + plan.edge_cases[:_CONCISE_EDGE_CASES]
    if rules:
        parts.append(f"## {h.rules}\n" + _bulleted(rules, h))
    output = _output_spec(plan, h)
    if plan.think_first:
        output = (output + "\n" if output else "") + h.think_before_answering
    if output:
        parts.append(f"## {h.output_format}\n" + output)
    if plan.examples:
        parts.append(f"## {h.examples}\n" + _examples(plan.examples[:_CONCISE_EXAMPLES], h))
    return RenderedPrompt(user="\n\n".join(parts))
