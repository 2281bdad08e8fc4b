"""Few-shot examples: which labelled cases to show, and how to show them in a prompt.

``choose_examples`` picks training cases that cover the expected outputs (each label
once before any repeats) and, among those, the cases the prompt got wrong first: an
example teaches most where the model erred. ``add_examples`` writes them into a
prompt in the target family's conventions (``families.py``): an ``<examples>`` block
of ``<example>``s for Claude, a Markdown section with XML-delimited inputs for GPT and
open-weight models, labelled plain text for Gemini. The block goes just before the
prompt's inputs, where the examples read as "answers like these, now this one";
a prompt without variables gets them at the end of its last user message.

Small models often answer a labelled task at length and bury the label; the examples
show the form of an answer, and ``ANSWER_LIKE_EXAMPLES`` or ``answer_format`` (for a
prompt without examples) says so in words after the input, where it is read last.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence

from promptmill.engine.checks import PLACEHOLDER
from promptmill.engine.families import Family
from promptmill.engine.headings import ENGLISH_HEADINGS
from promptmill.engine.render import tag_name
from promptmill.engine.types import PromptMessage
from promptmill.engine.versions import PromptTemplate
from promptmill.eval_types import TestCase

ANSWER_LIKE_EXAMPLES = (
    "Give only the output for this input, in exactly the form of the examples' outputs, "
    "with nothing before or after it."
)
"""Closes a prompt given examples: answer as they do, and only that."""
# Expected outputs count as labels (whose form can be named) up to these limits.
MAX_LABELS = 12
MAX_LABEL_CHARS = 40
_LETTERED_OPTION = re.compile(r"\([A-Z]\)")


def answer_format(expected: Sequence[str]) -> str | None:
    """An instruction naming the form of the answers, when the expected outputs are labels.

    Labels are a few short one-line outputs (at most ``MAX_LABELS`` distinct ones of
    ``MAX_LABEL_CHARS`` characters); free-text outputs have no form to name, so None.
    """
    labels = sorted({value.strip() for value in expected})
    if not labels or len(labels) > MAX_LABELS:
        return None
    if any(not label or len(label) > MAX_LABEL_CHARS or "\n" in label for label in labels):
        return None
    return (
        "Give only the final answer, in the same form as these answers: "
        + ", ".join(labels)
        + ". Write nothing before or after it."
    )


def choice_answer_form(expected: Sequence[str]) -> str | None:
    """For answers that are lettered options ("(A)", "(C)"): the renderer's choice wording.

    One short sentence on which option fits, then its letter. Told to give the letter
    alone (``answer_format``), a small model guesses by position: on BIG-bench snarks
    Qwen 1.5B scored 5/10 with the letter alone and 8/10 with this wording
    (``render._output_spec``). None when any answer is not a lettered option.
    """
    labels = {value.strip() for value in expected}
    if not labels or not all(_LETTERED_OPTION.fullmatch(label) for label in labels):
        return None
    return ENGLISH_HEADINGS.choose_answer


def choose_examples(
    cases: Sequence[TestCase],
    candidates: Sequence[int],
    k: int,
    *,
    failed: Collection[int] = (),
    seed: int = 0,
) -> list[int]:
    """``k`` indices from ``candidates`` (cases with an ``expected``), covering labels first.

    Round-robin over the distinct expected outputs (in seeded order), taking a failed
    case of each label before a passed one; deterministic for a given ``seed``.
    """
    usable = [i for i in candidates if cases[i].expected is not None]
    rng = random.Random(f"examples:{seed}")
    rng.shuffle(usable)
    usable.sort(key=lambda i: i not in failed)  # stable: failed cases first, seeded within
    by_label: dict[str, list[int]] = {}
    for index in usable:
        by_label.setdefault(str(cases[index].expected), []).append(index)
    chosen: list[int] = []
    while len(chosen) < k and any(by_label.values()):
        for queue in by_label.values():
            if queue and len(chosen) < k:
                chosen.append(queue.pop(0))
    return chosen


def render_examples(examples: Sequence[TestCase], family: Family, variables: Sequence[str]) -> str:
    """The examples block for ``family``: each example's inputs and its expected output."""
    if family == "claude":
        blocks = [
            f"<example>\n{_tagged_inputs(case, variables)}\n<ideal_output>\n"
            f"{case.expected}\n</ideal_output>\n</example>"
            for case in examples
        ]
        return (
            "Here are examples of inputs and the ideal output for each:\n<examples>\n"
            + "\n".join(blocks)
            + "\n</examples>"
        )
    if family == "gemini":
        blocks = [
            f"Input:\n{_labelled_inputs(case, variables)}\nOutput: {case.expected}"
            for case in examples
        ]
        return "Examples:\n\n" + "\n\n".join(blocks)
    heading = "# Examples" if family in ("openai", "openai_reasoning") else "## Examples"
    blocks = [
        f"### Example {number}\n{_tagged_inputs(case, variables)}\nOutput: {case.expected}"
        for number, case in enumerate(examples, 1)
    ]
    return heading + "\n\n" + "\n\n".join(blocks)


def _input_names(case: TestCase, variables: Sequence[str]) -> list[str]:
    return [name for name in variables if name in case.vars] or list(case.vars)


def _tagged_inputs(case: TestCase, variables: Sequence[str]) -> str:
    return "\n".join(
        f"<{tag_name(name)}>\n{case.vars[name]}\n</{tag_name(name)}>"
        for name in _input_names(case, variables)
    )


def _labelled_inputs(case: TestCase, variables: Sequence[str]) -> str:
    names = _input_names(case, variables)
    if len(names) == 1:
        return case.vars[names[0]]
    return "\n".join(f"{name}: {case.vars[name]}" for name in names)


def add_examples(template: PromptTemplate, block: str) -> PromptTemplate:
    """``template`` with ``block`` placed before its inputs (see the module docstring).

    The block goes before the paragraph holding the first ``{{VARIABLE}}`` of the user
    messages, and before the line introducing that paragraph when it ends with a colon;
    without a variable in the user messages, at the end of the last user message.
    """
    messages = list(template.messages)
    user_indices = [i for i, m in enumerate(messages) if m.role == "user"]
    for index in user_indices:
        text = messages[index].text
        if PLACEHOLDER.search(text):
            messages[index] = PromptMessage.of("user", _insert_before_inputs(text, block))
            return PromptTemplate(messages=messages, system=template.system)
    last = user_indices[-1]
    messages[last] = PromptMessage.of("user", f"{messages[last].text.rstrip()}\n\n{block}")
    return PromptTemplate(messages=messages, system=template.system)


def _insert_before_inputs(text: str, block: str) -> str:
    paragraphs = text.split("\n\n")
    at = next(i for i, p in enumerate(paragraphs) if PLACEHOLDER.search(p))
    before = paragraphs[at - 1].strip() if at > 0 else ""
    if before.endswith(":") and "\n" not in before:  # "Here is the question:" introduces it
        at -= 1
    return "\n\n".join([*paragraphs[:at], block, *paragraphs[at:]])
