"""What an improved prompt must keep of the original, and whether feedback was applied.

A rewrite by a small model tends to lose the details that made the original useful ("in
two sentences", "from 1 to 5", a product name, a listed requirement) and to misapply
feedback (asked for JSON output, it described the *input* as JSON). These pure functions
find the specifics deterministically, so the planner can be told to keep them and the
pipeline can check that they survived, and they check the feedback's format words and
requested items against the plan.
"""

from __future__ import annotations

import re

from promptmill.engine.checks import PLACEHOLDER, content_words

_NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "twelve": "12",
    "twenty": "20",
    "fifty": "50",
    "hundred": "100",
}
_NUMBER = r"(?:\d+(?:[.,]\d+)?|" + "|".join(_NUMBER_WORDS) + r")"
# "one" counts too often to be a requirement ("one ticket"), but it bounds ranges.
_COUNT = r"(?:\d+(?:[.,]\d+)?|" + "|".join(w for w in _NUMBER_WORDS if w != "one") + r")"
_RANGE = re.compile(rf"\b({_NUMBER})\s*(?:to|-|–|—|through)\s*({_NUMBER})\b", re.IGNORECASE)
_COUNTED = re.compile(rf"\b({_COUNT})\s+([^\W\d_]{{3,}})", re.IGNORECASE)
_QUOTED = re.compile(r"\"([^\"\n]{2,60})\"|“([^”\n]{2,60})”|«([^»\n]{2,60})»")
_LINK = re.compile(r"https?://\S+|\b[\w.+-]+@[\w-]+\.[\w.]+\b")
_LIST_ITEM = re.compile(r"(?m)^\s*(?:[-*•]|\d+[.)])\s+(.+)$")
_NAME = re.compile(r"(?<![.!?:\n]\s)(?<!^)\b([A-Z][a-z0-9]+(?:\s+[A-Z][a-z0-9]+)*)\b")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n\s*(?:[-*•]|\d+[.)])?\s*)$")
_COMMON_CAPITALISED = frozenset({"I", "Also", "Then", "Please", "Use", "The", "A", "An"})

FORMAT_WORDS = ("json", "xml", "csv", "yaml", "markdown", "table", "bullet")
_REQUEST = re.compile(
    r"\b(?:extract|include|add|mention|list|give|return|report|suggest|propose|provide|"
    r"offer|show)\s+(?:also\s+)?"
    r"(?:the\s+|a\s+|an\s+|their\s+|its\s+)?([^.,;:!?]+?)(?=\s+and\s|[.,;:!?]|$)",
    re.IGNORECASE,
)


def _plain(text: str) -> str:
    """``text`` with placeholders reduced to spaces (their names are not specifics)."""
    return PLACEHOLDER.sub(" ", text)


def extract_specifics(text: str) -> list[str]:
    """The details of a prompt a rewrite must keep, in order of appearance, deduplicated.

    Number ranges ("1 to 5"), counted things ("two sentences", "200 words"), quoted text,
    links and e-mail addresses, proper names (capitalised words inside a sentence), and
    the items of bulleted or numbered lists.
    """
    plain = _plain(text)
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for match in _RANGE.finditer(plain):
        found.append((match.start(), match.group(0)))
        taken.append(match.span())
    for match in _COUNTED.finditer(plain):
        if any(a <= match.start() < b for a, b in taken):
            continue
        found.append((match.start(), match.group(0)))
    for match in _QUOTED.finditer(plain):
        found.append((match.start(), next(g for g in match.groups() if g)))
        taken.append(match.span())
    for match in _LINK.finditer(plain):
        found.append((match.start(), match.group(0).rstrip(".,;")))
    for match in _NAME.finditer(plain):
        if (
            _SENTENCE_START.search(plain[: match.start()])
            or match.group(1) in _COMMON_CAPITALISED
            or any(a <= match.start() < b for a, b in taken)
        ):
            continue
        found.append((match.start(), match.group(1)))
    for match in _LIST_ITEM.finditer(plain):
        found.append((match.start(), match.group(1).strip()))
    specifics: list[str] = []
    for _, item in sorted(found):
        if item.lower() not in (s.lower() for s in specifics):
            specifics.append(item)
    return specifics


def _number_forms(number: str) -> str:
    lowered = number.lower()
    digits = _NUMBER_WORDS.get(lowered, lowered)
    words = [w for w, d in _NUMBER_WORDS.items() if d == digits]
    return "(?:" + "|".join(re.escape(f) for f in [digits, *words]) + ")"


def survives(specific: str, text: str) -> bool:
    """Whether ``specific`` (from ``extract_specifics``) is still said in ``text``.

    Ranges may be written "1 to 5", "1-5" or "between 1 and 5"; numbers as digits or
    words; a counted noun may have up to two words before it ("two short sentences"); a
    list item survives when two thirds of its content words do.
    """
    plain = _plain(text)
    lowered = plain.lower()
    range_match = _RANGE.fullmatch(specific)
    if range_match:
        a, b = (_number_forms(g) for g in range_match.groups())
        pattern = rf"\b{a}\s*(?:to|-|–|—|through|and)\s*{b}\b"
        return re.search(pattern, lowered) is not None
    counted = _COUNTED.fullmatch(specific)
    if counted:
        number, noun = counted.groups()
        stem = re.escape(noun.lower()[: max(4, len(noun) - 2)])
        pattern = rf"\b{_number_forms(number)}\b(?:\W+\w+){{0,2}}?\W+{stem}"
        return re.search(pattern, lowered) is not None
    if specific.lower() in lowered:
        return True
    words = content_words(specific)
    if len(specific.split()) > 3 and words:
        return len(words & content_words(plain)) >= 2 * len(words) / 3
    return False


def missing_specifics(specifics: list[str], text: str) -> list[str]:
    """The specifics that ``text`` no longer says."""
    return [item for item in specifics if not survives(item, text)]


def sentence_with(specific: str, original: str) -> str:
    """The sentence (or list line) of ``original`` that says ``specific``, for a repair."""
    pieces = re.split(r"(?<=[.!?])\s+|\n+", original)
    for piece in pieces:
        if survives(specific, piece):
            return piece.strip()
    return specific


def requested_format_words(feedback: str) -> list[str]:
    """Output formats the feedback names (JSON, CSV, a table...)."""
    lowered = feedback.lower()
    return [word for word in FORMAT_WORDS if re.search(rf"\b{word}", lowered)]


def requested_items(feedback: str) -> list[str]:
    """Things the feedback asks the answer to contain ("extract the product name")."""
    items = []
    for match in _REQUEST.finditer(feedback):
        phrase = match.group(1).strip()
        phrase = re.sub(
            r"\s+(?:too|as well|also)$|^(?:also|the)\s+", "", phrase, flags=re.IGNORECASE
        )
        if content_words(phrase) and not requested_format_words(phrase):
            items.append(phrase)
    return items
