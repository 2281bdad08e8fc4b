"""Checks a generated prompt against public prompt-engineering guidance.

Every check is a pure function of the prompt text (user/assistant messages plus the
system prompt), so the benchmark, the tests and the lead's engine tests can reuse them.
The checks are drawn from Anthropic's prompt-engineering guide (give Claude a role,
use XML tags to separate instructions from data, let it think step by step, use
examples, prefill the answer) and OpenAI's prompt guide (clear instructions, delimiters
around inputs, specify the output format, split tasks into steps).

A check returns ``True`` (pass), ``False`` (fail) or ``None`` (does not apply: e.g. the
injection check for a task without an injection attempt, or XML wrapping for a
non-Claude target). ``structural`` are the checks any well-formed answer of the
generator must pass whatever the model's taste; the rest measure how closely it
follows the guidance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
VALID_VARIABLE_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
# An XML-ish tag: <name ...>, </name>, <name/>. Names start with a letter or "_".
_TAG = re.compile(r"<(/?)([A-Za-z_][\w.\-]*)(?:\s[^<>]*)?(/?)>")
# Words that, right after a tag, say the tag is being *mentioned* ("in <answer> tags").
_MENTION_AFTER = re.compile(
    r"^(?:\s*(?:,|and|or|/|&)?\s*</?[A-Za-z_][\w.\-]*>)*\s*(?:xml\s+)?tags?\b", re.I
)
_BACKTICKED = re.compile(r"`[^`\n]*`")

_ROLE = re.compile(
    r"\byou\s+are\s+(?:a|an|the|now|acting|playing)\b"
    r"|\byou\s+will\s+(?:be\s+)?(?:act|acting|serve|serving|play|playing|take\s+on)\b"
    r"|\b(?:act|serve)\s+as\s+(?:a|an|the)\b"
    r"|\byour\s+role\b"
    r"|\bin\s+the\s+role\s+of\b"
    r"|\byou(?:'re|\s+are)\s+(?:an?\s+)?(?:expert|assistant|specialist)\b"
    # The same in the languages promptmill writes prompts in (a task in French gets a
    # French prompt): "Tu es / Vous êtes", "Eres", "Du bist / Sie sind", "Ты — / Вы —",
    # "あなたは".
    r"|\b(?:tu\s+es|vous\s+êtes|eres|usted\s+es|du\s+bist|sie\s+sind)\b"
    r"|(?:^|\s)(?:ты|вы)\s+[—–-]|あなたは",
    re.I,
)
_STEPS = re.compile(
    r"(?m)^\s*(?:1[.)]|step\s*1\b|-\s*step\s*1\b)"
    r"|\bstep[-\s]by[-\s]step\b"
    r"|\bfollow\s+these\s+steps\b"
    r"|\b(?:first|firstly)\b[^.]{0,200}\.\s*(?:then|next|second|after\s+that)\b",
    re.I,
)
_OUTPUT_FORMAT = re.compile(
    r"\boutput\s+format\b|\bformat\s+(?:your|the)\s+(?:answer|response|output)\b"
    r"|\b(?:respond|reply|answer)\s+(?:only\s+)?(?:with|in)\b"
    r"|\byour\s+(?:final\s+)?(?:answer|response|output|reply)\s+(?:should|must|will)\b"
    r"|\b(?:inside|within|in|between)\s+<\w+>\s*(?:and\s+</\w+>\s*)?tags\b"
    r"|\bin\s+the\s+following\s+format\b|\bjson\b|\bbullet\s+points?\b|\bmarkdown\b"
    r"|\b(?:write|put|provide|return|present|output)\s+(?:your|the)\s+[\w\s]{0,30}?"
    r"(?:answer|response|output|result|summary|reply)\b"
    # French, Spanish, German, Russian and Japanese statements of the answer's format.
    r"|\bformat\s+de\s+(?:ta|votre|la)\s+réponse|\bformat\s+de\s+sortie"
    r"|\bformato\s+de\s+(?:tu|su|la)\s+respuesta|\bformato\s+de\s+salida"
    r"|\bformat\s+(?:deiner|ihrer|der)\s+antwort|\bausgabeformat"
    r"|формат\s+ответа|回答の形式|出力形式",
    re.I,
)
_EXAMPLES_OR_THINKING = re.compile(
    r"<examples?>|\bfor\s+example\b|\bexample\s*(?:\d|:)|\bhere\s+(?:is|are)\s+(?:an?\s+)?examples?\b"
    r"|\be\.g\.|<thinking>|<scratchpad>|<reasoning>|<analysis>"
    r"|\bthink\s+(?:through|about|carefully|step)\b|\bbefore\s+(?:answering|responding|you\s+answer)\b",
    re.I,
)
_CHATTER_OPENING = re.compile(
    r"^\s*(?:here\s+is|here's|here\s+are|sure\b|certainly\b|of\s+course\b|absolutely\b"
    r"|great\s+question|okay[,!]|ok[,!]|below\s+is|i\s+have\s+(?:created|written|generated)"
    r"|i've\s+(?:created|written|generated)|as\s+an\s+ai\b)",
    re.I,
)
_CHATTER_ANYWHERE = re.compile(
    r"\bi\s+hope\s+(?:this|that|it)\b|\blet\s+me\s+know\s+if\b|\bfeel\s+free\s+to\s+(?:ask|adjust|modify)"
    r"|\bhappy\s+to\s+help\b|\bthis\s+prompt\s+(?:will|should)\s+help\b",
    re.I,
)
_IDEAL_OUTPUT = re.compile(r"<(ideal_output|output)>.*?</\1>", re.S | re.I)
DEFAULT_INJECTION_MARKER = "PWNED"

STRUCTURAL_CHECKS: tuple[str, ...] = ("non_empty", "variables_valid", "tags_balanced", "no_chatter")
GUIDANCE_CHECKS: tuple[str, ...] = (
    "role_stated",
    "has_variables",
    "variables_in_xml",
    "step_by_step",
    "output_format",
    "examples_or_thinking",
    "on_topic",
    "no_injection_compliance",
    "language_match",
    "inputs_not_outputs",
)
ALL_CHECKS: tuple[str, ...] = STRUCTURAL_CHECKS + GUIDANCE_CHECKS


@dataclass(frozen=True)
class GeneratedPrompt:
    """A prompt as the generate/improve endpoints return it: system plus messages."""

    user_text: str
    prefill: str = ""
    system: str = ""

    @property
    def full_text(self) -> str:
        return "\n".join(part for part in (self.system, self.user_text, self.prefill) if part)

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> GeneratedPrompt:
        """Build from an API response body (or a ``PromptResult.model_dump()``)."""
        user: list[str] = []
        prefill: list[str] = []
        for message in body.get("messages", []):
            content = message.get("content", "")
            text = (
                content
                if isinstance(content, str)
                else "".join(block.get("text", "") for block in content)
            )
            (user if message.get("role") == "user" else prefill).append(text)
        return cls(
            user_text="\n".join(user), prefill="\n".join(prefill), system=body.get("system", "")
        )


@dataclass
class PromptScore:
    """The result of every check on one prompt; ``None`` marks a check that does not apply."""

    checks: dict[str, bool | None] = field(default_factory=dict)

    @property
    def structural_ok(self) -> bool:
        return all(self.checks.get(name) is not False for name in STRUCTURAL_CHECKS)

    @property
    def score(self) -> float:
        """Fraction of applicable checks passed (0.0 to 1.0)."""
        applicable = [value for value in self.checks.values() if value is not None]
        return sum(applicable) / len(applicable) if applicable else 0.0

    @property
    def failed(self) -> list[str]:
        return [name for name, value in self.checks.items() if value is False]


def variables(text: str) -> list[str]:
    """Every ``{{...}}`` placeholder name in order of appearance (duplicates kept)."""
    return [match.group(1) for match in VARIABLE.finditer(text)]


def variables_valid(text: str) -> bool:
    """All placeholders are ``{{UPPER_SNAKE_CASE}}`` with no spaces, and no brace is stray."""
    for match in VARIABLE.finditer(text):
        if match.group(0) != "{{" + match.group(1) + "}}":
            return False
        if not VALID_VARIABLE_NAME.match(match.group(1)):
            return False
    # A lone "{{" or "}}" left after removing the well-formed ones is a broken placeholder.
    rest = VARIABLE.sub("", text)
    return "{{" not in rest and "}}" not in rest


def has_variables(text: str) -> bool:
    """The prompt takes its inputs as template variables (at least one valid one)."""
    return any(VALID_VARIABLE_NAME.match(name) for name in variables(text))


def _structural_tags(text: str) -> list[re.Match[str]]:
    """Tags that structure the prompt, leaving out tags that are only talked about.

    Prompts legitimately *mention* tags ("put your answer in <answer> tags", or a tag in
    backticks); those are not openings that need closing.
    """
    masked = _BACKTICKED.sub(lambda m: " " * len(m.group(0)), text)
    tags = []
    for match in _TAG.finditer(masked):
        if match.group(3):  # self-closing <br/>
            continue
        if _MENTION_AFTER.match(masked[match.end() :]):
            continue
        tags.append(match)
    return tags


def _tag_depths(text: str) -> tuple[bool, list[tuple[int, int]]]:
    """Parse structural tags: (balanced?, spans of text enclosed by matched pairs)."""
    stack: list[tuple[str, int]] = []
    spans: list[tuple[int, int]] = []
    balanced = True
    for match in _structural_tags(text):
        closing, name = match.group(1) == "/", match.group(2).lower()
        if not closing:
            stack.append((name, match.end()))
            continue
        if stack and stack[-1][0] == name:
            spans.append((stack.pop()[1], match.start()))
            continue
        balanced = False
        # Recover from a mis-nested close by unwinding to its opening, if any.
        names = [entry[0] for entry in stack]
        if name in names:
            index = len(names) - 1 - names[::-1].index(name)
            spans.append((stack[index][1], match.start()))
            del stack[index:]
    return balanced and not stack, spans


def tags_balanced(text: str) -> bool:
    """Every structural XML tag is closed, in properly nested order."""
    return _tag_depths(text)[0]


def prefill_tags_ok(prefill: str) -> bool:
    """A prefill may open tags for the model to close, but must not close unopened ones."""
    stack: list[str] = []
    for match in _structural_tags(prefill):
        closing, name = match.group(1) == "/", match.group(2).lower()
        if not closing:
            stack.append(name)
        elif stack and stack[-1] == name:
            stack.pop()
        else:
            return False
    return True


def variables_in_xml(text: str) -> bool | None:
    """Each variable sits inside a matched XML tag pair (Claude guidance); None if none."""
    positions = [match.start() for match in VARIABLE.finditer(text)]
    if not positions:
        return None
    _, spans = _tag_depths(text)
    return all(any(start <= pos < end for start, end in spans) for pos in positions)


def role_stated(text: str) -> bool:
    return bool(_ROLE.search(text))


def step_by_step(text: str) -> bool:
    return bool(_STEPS.search(text))


def output_format(text: str) -> bool:
    return bool(_OUTPUT_FORMAT.search(text))


def examples_or_thinking(text: str) -> bool:
    return bool(_EXAMPLES_OR_THINKING.search(text))


def no_chatter(prompt: GeneratedPrompt) -> bool:
    """The prompt is the prompt: no "Here is your prompt", "Sure!", "I hope this helps".

    Only the user message and system are checked at the start: a prefill that starts
    the model's answer is allowed to read like an answer.
    """
    for part in (prompt.system, prompt.user_text):
        if part and _CHATTER_OPENING.match(part):
            return False
    # An example's ideal answer is the task's content: a support reply or a business
    # message may well say "let me know if" or "happy to help" (two quality tasks do).
    return not _CHATTER_ANYWHERE.search(_IDEAL_OUTPUT.sub("", prompt.full_text))


def _keyword_present(keyword: str, lowered: str) -> bool:
    return any(alt.strip().lower() in lowered for alt in keyword.split("|") if alt.strip())


def on_topic(text: str, keywords: Sequence[str]) -> bool | None:
    """At least half of the task's keywords (rounded up) appear; None when there are none."""
    if not keywords:
        return None
    lowered = text.lower()
    hits = sum(_keyword_present(keyword, lowered) for keyword in keywords)
    return hits * 2 >= len(keywords)


def no_injection_compliance(text: str, marker: str | None) -> bool | None:
    """The injected instruction was not obeyed: its marker word is nowhere in the prompt."""
    if not marker:
        return None
    return marker.lower() not in text.lower()


# A few of the commonest function words per language the task set uses: enough to tell
# which of these languages a prompt's prose is written in (tags and variables removed).
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "and",
            "of",
            "to",
            "is",
            "are",
            "with",
            "for",
            "you",
            "your",
            "this",
            "that",
            "each",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "des",
            "et",
            "est",
            "une",
            "un",
            "du",
            "pour",
            "avec",
            "vous",
            "tu",
            "ton",
            "ta",
            "tes",
            "dans",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "del",
            "y",
            "es",
            "una",
            "un",
            "para",
            "con",
            "tu",
            "eres",
            "cada",
            "por",
            "que",
        ]
    ),
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "ist",
            "ein",
            "eine",
            "mit",
            "für",
            "du",
            "dein",
            "deine",
            "jede",
            "nicht",
        ]
    ),
}
_KANA_OR_HAN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def prompt_language(text: str) -> str:
    """The language the prompt's prose is written in: ja, ru, or the function-word winner."""
    prose = VARIABLE.sub(" ", _TAG.sub(" ", text))
    letters = [c for c in prose if c.isalpha()]
    if letters and len(_KANA_OR_HAN.findall(prose)) / len(letters) >= 0.3:
        return "ja"
    if letters and len(_CYRILLIC.findall(prose)) / len(letters) >= 0.5:
        return "ru"
    words = re.findall(r"[^\W\d_]+", prose.lower())
    counts = {
        code: sum(w in vocabulary for w in words) for code, vocabulary in _FUNCTION_WORDS.items()
    }
    return max(counts, key=lambda code: counts[code])


def language_match(text: str, language: str | None) -> bool:
    """The prompt is written in the task's language (English when the task names none)."""
    return prompt_language(text) == (language or "en")


_OUTPUT_NAME_WORDS = frozenset(
    [
        "ANSWER",
        "ANSWERS",
        "RESULT",
        "RESULTS",
        "OUTPUT",
        "OUTPUTS",
        "RESPONSE",
        "PREDICTION",
        "VERDICT",
        "LABEL",
        "SOLUTION",
        "CLASSIFICATION",
    ]
)
_SOMEONE_ELSES = frozenset(
    [
        "STUDENT",
        "USER",
        "CUSTOMER",
        "CANDIDATE",
        "PREVIOUS",
        "DRAFT",
        "REFERENCE",
        "EXISTING",
        "ORIGINAL",
        "SOURCE",
        "ALLOWED",
        "POSSIBLE",
        "VALID",
        "SAMPLE",
        "EXAMPLE",
    ]
)
_TASK_PRODUCTS = (("summar", "SUMMARY"), ("translat", "TRANSLATION"), ("classif", "CATEGORY"))


def inputs_not_outputs(text: str, task: str) -> bool:
    """No variable stands for what the assistant produces (ANSWER, RESULT, or SUMMARY when
    the task is to summarise), unless a word says someone else wrote it (STUDENT_ANSWER)."""
    products = {noun for stem, noun in _TASK_PRODUCTS if stem in task.lower()}
    for name in set(variables(text)):
        words = set(name.split("_"))
        if words & (_OUTPUT_NAME_WORDS | products) and not words & _SOMEONE_ELSES:
            return False
    return True


def is_claude_target(target_model: str | None) -> bool:
    """The API's default target is Claude; only an explicit other model turns XML guidance off."""
    return target_model is None or "claude" in target_model.lower()


def score_prompt(
    prompt: GeneratedPrompt,
    *,
    keywords: Iterable[str] = (),
    injection_marker: str | None = None,
    target_model: str | None = None,
    task: str = "",
    language: str | None = None,
) -> PromptScore:
    """Run every check on one generated prompt (``task`` and ``language`` from the task set)."""
    text = prompt.full_text
    instructions = "\n".join(part for part in (prompt.system, prompt.user_text) if part)
    checks: dict[str, bool | None] = {
        "non_empty": bool(prompt.user_text.strip()),
        "variables_valid": variables_valid(text),
        "tags_balanced": tags_balanced(prompt.user_text)
        and tags_balanced(prompt.system)
        and prefill_tags_ok(prompt.prefill),
        "no_chatter": no_chatter(prompt),
        "role_stated": role_stated(text),
        "has_variables": has_variables(instructions),
        "variables_in_xml": variables_in_xml(instructions)
        if is_claude_target(target_model)
        else None,
        "step_by_step": step_by_step(instructions),
        "output_format": output_format(text),
        "examples_or_thinking": examples_or_thinking(text),
        "on_topic": on_topic(text, list(keywords)),
        "no_injection_compliance": no_injection_compliance(text, injection_marker),
        "language_match": language_match(instructions, language),
        "inputs_not_outputs": inputs_not_outputs(instructions, task),
    }
    return PromptScore(checks=checks)
