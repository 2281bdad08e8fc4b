"""Free-form generation: the model writes the whole prompt, and the same guarantees apply.

The default path (plan -> render) lets the model fill in a plan and builds the prompt's
structure in code, which keeps a small model's output well-formed. A strong model may
write a better prompt by itself, as a prompt engineer would, so ``generate`` can ask for
the whole text instead (``PromptEngine(generate_mode="freeform")``). What comes back is
held to the rendered prompt's checks (``check_prompt``: variables in
``{{UPPER_SNAKE_CASE}}``, balanced tags, no chatter or wrapper), plus this mode's own:
at least one variable, on topic, in the task's language, no echoed injection. A prompt
that still fails after one repair turn is not returned: the engine falls back to plan ->
render, so the answer is always well-formed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from promptmill.engine.checks import (
    check_prompt,
    content_words,
    mentions_injection,
    placeholders,
)
from promptmill.engine.language import Language, detect_language
from promptmill.engine.plan import extract_json_object, names_a_product

FREEFORM_ATTEMPTS = 2
"""The written prompt, then one repair turn; after that, plan -> render."""

MIN_INSTRUCTION_WORDS = 20
"""Words a written prompt must say outside its tags and variables: a role, what to do
and the answer's form take more (a 1.5B model returned three tagged variables alone)."""

FREEFORM_MAX_TOKENS = 2000
"""A complete prompt with examples runs to 400-1,200 tokens; room for a long one."""

FREEFORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"prompt": {"type": "string"}, "prefill": {"type": "string"}},
    "required": ["prompt", "prefill"],
}

_FENCE = re.compile(r"^```[a-zA-Z]*\n(.*?)\n```$", re.DOTALL)
# Tags with what they hold when that is one variable, then any other tag or variable.
_TAGGED = re.compile(r"<(\w+)>\s*\{\{[^{}]*\}\}\s*</\1>|</?\w+>|\{\{[^{}]*\}\}")
_PROSE_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class WrittenPrompt:
    """A prompt as the model wrote it: its text, and the opening of the answer (or "")."""

    text: str
    prefill: str


def parse_written_prompt(reply: str) -> WrittenPrompt:
    """The ``prompt`` and ``prefill`` of a reply; ``ValueError`` naming what is wrong."""
    data = extract_json_object(reply)
    text = data.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise ValueError('the reply has no "prompt": write the whole prompt as its value')
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:  # a code fence around the whole prompt is packaging, not prompt
        text = fenced.group(1).strip()
    prefill = data.get("prefill")
    return WrittenPrompt(text, prefill.strip() if isinstance(prefill, str) else "")


def written_prompt_problems(prompt: WrittenPrompt, task: str, language: Language) -> list[str]:
    """What keeps ``prompt`` from being returned, each said so the model can fix it."""
    used = list(dict.fromkeys(placeholders(prompt.text)))
    problems = [p.message for p in check_prompt([prompt.text], declared=used)]
    produced = [name for name in used if names_a_product(name)]
    if produced:
        problems.append(
            f"{{{{{produced[0]}}}}} names what the assistant produces: a variable is only "
            "material it receives; say what it must produce in the instructions instead"
        )
    if len(_PROSE_WORD.findall(_TAGGED.sub(" ", prompt.text))) < MIN_INSTRUCTION_WORDS:
        problems.append(
            "the prompt says almost nothing besides its inputs: write the instructions "
            "(who the assistant is, what to do, rules, the answer's format, an example)"
        )
    if not used:
        problems.append(
            "the prompt has no template variable: mark the material the assistant receives "
            "each time as {{UPPER_SNAKE_CASE}} inside XML tags"
        )
    task_words = content_words(task)
    same_language = detect_language(prompt.text) == language
    if task_words and same_language and not task_words & content_words(prompt.text):
        problems.append("the prompt is not about the task: say what the task is about")
    elif not same_language:
        problems.append(f"the prompt is not written in {language.name}, the language of the task")
    if mentions_injection(prompt.text):
        problems.append(
            "the prompt repeats an instruction to ignore instructions; write the legitimate "
            "task only"
        )
    return problems
