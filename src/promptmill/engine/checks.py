"""The structural guarantees of a promptmill prompt, as pure functions.

Every prompt the engine returns has passed ``check_prompt``: variables are
``{{UPPER_SNAKE_CASE}}`` and each declared one is used, XML-style tags balance, and no
assistant chatter ("Here is your prompt") or wrapper tags surround it. The same
functions sanitise the free text a model writes into a plan, so most problems are
repaired deterministically before a retry is ever needed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from promptmill.engine.language import FUNCTION_WORDS, words_of

VARIABLE_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
# Any double-brace placeholder, well formed or not: {{ name }}, {{name}}, {{NAME}}.
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9_\-]*)(\s[^<>]*)?(/?)>")
_WORD = re.compile(r"[^\W\d_]{3,}")
_ASCII_LOWER_WORD = re.compile(r"[a-z]{3,}")
"""``_WORD`` for lower-cased ASCII text: the same matches, at half the cost."""
_CHATTER = re.compile(
    r"^\s*(?:here(?:'s| is| are)\b|sure\b|certainly\b|of course\b|absolutely\b|great\b|okay\b|"
    r"i hope\b|i've\b|i have (?:created|written)|below is\b|as an ai\b|let me know\b|"
    r"feel free\b|this prompt\b)",
    re.IGNORECASE,
)
_INJECTION_VERBS = ("ignore", "disregard", "forget")
_INJECTION = re.compile(
    rf"\b(?:{'|'.join(_INJECTION_VERBS)})\b[^.\n]{{0,40}}\b(?:previous|prior|above|earlier|all)\b"
    r"[^.\n]{0,20}\b(?:instructions?|prompts?|rules?)\b",
    re.IGNORECASE,
)
_WRAPPER_TAGS = ("prompt", "generated_prompt", "system_prompt", "instructions_prompt")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "with",
        "from",
        "as",
        "is",
        "are",
        "be",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "into",
        "about",
        "your",
        "you",
        "will",
        "should",
        "must",
        "can",
        "may",
        "who",
        "which",
        "what",
        "when",
        "where",
        "how",
        "than",
        "then",
        "so",
        "such",
        "not",
        "no",
        "yes",
        "any",
        "all",
        "each",
        "every",
        "some",
        "more",
        "most",
        "very",
        "just",
        "also",
        "only",
        "ai",
        "assistant",
        "model",
        "prompt",
        "prompts",
        "task",
        "tasks",
        "write",
        "writes",
        "writing",
        "create",
        "make",
        "helps",
        "help",
        "using",
        "use",
        "based",
        "given",
        "one",
        "two",
        "service",
        "services",
        "act",
        "acts",
        "acting",
        "role",
    ]
)


@dataclass(frozen=True)
class Problem:
    """One failed guarantee; ``message`` is phrased so it can be fed back to the model."""

    check: str
    message: str


_CAMEL_HUMP = re.compile(r"([a-z0-9])([A-Z])")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


@functools.lru_cache(maxsize=1024)
def to_variable_name(raw: str) -> str:
    """Normalise any label to ``UPPER_SNAKE_CASE`` (``"customer name"`` -> ``CUSTOMER_NAME``).

    Cached: a request names the same few inputs and output fields again and again (each
    plan check of output-like inputs converts every output field's name).
    """
    spaced = _CAMEL_HUMP.sub(r"\1_\2", raw.strip())
    name = _NOT_ALNUM.sub("_", spaced).strip("_").upper()
    if not name:
        return "INPUT"
    if not name[0].isalpha():
        name = "VAR_" + name
    return name


def placeholders(text: str) -> list[str]:
    """Names inside every ``{{...}}`` placeholder, in order of appearance (raw, unnormalised)."""
    return [match.group(1) for match in PLACEHOLDER.finditer(text)]


def unbalanced_tags(text: str) -> list[str]:
    """Tags that are opened and not closed or closed and not opened, in a stack discipline."""
    stack: list[str] = []
    problems: list[str] = []
    for match in TAG.finditer(text):
        closing, name, _, self_closing = match.groups()
        if self_closing:
            continue
        if not closing:
            stack.append(name)
        elif stack and stack[-1] == name:
            stack.pop()
        elif name in stack:
            while stack and stack[-1] != name:
                problems.append(f"<{stack.pop()}>")
            stack.pop()
        else:
            problems.append(f"</{name}>")
    problems.extend(f"<{name}>" for name in stack)
    return problems


def is_chatter(sentence: str) -> bool:
    return bool(_CHATTER.match(sentence))


def mentions_injection(text: str) -> bool:
    # Most texts are ASCII and name none of the verbs: three substring scans rule them out
    # at a tenth of the pattern's cost (which folds case for all of Unicode, hence ASCII only).
    if text.isascii():
        lowered = text.lower()
        if not any(verb in lowered for verb in _INJECTION_VERBS):
            return False
    return bool(_INJECTION.search(text))


# Han, katakana and hangul runs: scripts written without spaces (or with few), whose
# meaning-bearing units are compared as character pairs; hiragana is mostly grammar.
_DENSE_SCRIPT = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\u30a0-\u30ff\uac00-\ud7af]+")
_HIRAGANA = re.compile(r"[\u3040-\u309f]+")
_OTHER_STOPWORDS = FUNCTION_WORDS | words_of(
    "для что как это или при без его она они оно все был была было быть так уже "
    "чтобы если каждый который которая которые"
)
_NOT_CONTENT = _STOPWORDS | _OTHER_STOPWORDS
"""Every word ``content_words`` leaves out, in one set: one lookup per word, not two."""


def content_words(text: str) -> set[str]:
    """Word stems that carry meaning, for topic overlap between a task and a plan.

    Alphabetic scripts give lower-cased stems (the first five letters, which absorbs
    most inflection, Russian and German included) minus common function words; Chinese,
    Japanese and Korean text gives its pairs of adjacent characters.
    """
    words, pairs = _words_and_pairs(text)
    # Each distinct word is looked up and cut once: a long prompt repeats most of its words.
    return {w[:5] for w in set(words) - _NOT_CONTENT} | pairs


def shares_content_word(stems: set[str], text: str) -> bool:
    """Whether ``text`` has any of ``stems``: ``bool(stems & content_words(text))``, but
    stopping at the first shared word.

    A plan on the task's topic names it early (in its role or objective), so the topic
    check reads a few words of the plan rather than every one.
    """
    words, pairs = _words_and_pairs(text)
    if not stems.isdisjoint(pairs):
        return True
    return any(w[:5] in stems for w in words if w not in _NOT_CONTENT)


def _words_and_pairs(text: str) -> tuple[Iterator[str], set[str]]:
    """The lower-cased words of ``text``'s alphabetic scripts, one at a time, and the
    character pairs of its dense-script runs (see ``content_words``)."""
    lowered = text.lower()
    if lowered.isascii():  # O(1), and most texts: no dense script to look for
        pairs: set[str] = set()
        spaced, word = lowered, _ASCII_LOWER_WORD
    else:
        dense = _DENSE_SCRIPT.findall(lowered)
        pairs = {run[i : i + 2] for run in dense for i in range(len(run) - 1)}
        spaced, word = _HIRAGANA.sub(" ", _DENSE_SCRIPT.sub(" ", lowered)), _WORD
    # finditer, not findall: a list of every word of a long prompt costs ten times its size.
    return map(re.Match.group, word.finditer(spaced)), pairs


def strip_tags(text: str) -> str:
    """Turn tag-like tokens in model-written text into plain words: the renderer owns all tags."""
    if "<" not in text:  # most plan prose: a substring scan instead of the pattern
        return text
    return TAG.sub(lambda m: m.group(2).replace("_", " "), text)


def check_prompt(
    texts: list[str], *, declared: list[str], require_upper_snake: bool = True
) -> list[Problem]:
    """Check a rendered prompt (its message and system texts) against the guarantees."""
    problems: list[Problem] = []
    joined = "\n".join(texts)
    used = placeholders(joined)
    for name in used:
        if require_upper_snake and not VARIABLE_NAME.match(name):
            problems.append(
                Problem("variables", f"variable {{{{{name}}}}} is not UPPER_SNAKE_CASE")
            )
    for name in declared:
        if name not in used:
            problems.append(Problem("variables", f"declared variable {{{{{name}}}}} is never used"))
    for name in set(used) - set(declared):
        problems.append(Problem("variables", f"variable {{{{{name}}}}} is used but not declared"))
    outside_placeholders = PLACEHOLDER.sub("", joined)
    if "{{" in outside_placeholders or "}}" in outside_placeholders:
        problems.append(Problem("variables", "stray '{{' or '}}' outside a variable"))
    for tag in unbalanced_tags(joined):
        problems.append(Problem("tags", f"XML tag {tag} is not balanced"))
    first_line = joined.strip().splitlines()[0] if joined.strip() else ""
    if is_chatter(first_line):
        problems.append(Problem("chatter", f"the prompt opens with chatter: {first_line[:60]!r}"))
    stripped = joined.strip()
    for wrapper in _WRAPPER_TAGS:
        if stripped.startswith(f"<{wrapper}>") and stripped.endswith(f"</{wrapper}>"):
            problems.append(Problem("wrapper", f"the prompt is wrapped in <{wrapper}> tags"))
    if not stripped:
        problems.append(Problem("empty", "the prompt is empty"))
    return problems
