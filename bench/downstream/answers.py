"""Turning a model's free-text answer into a label, and a generated prompt into a filled one.

Both arms of the downstream benchmark go through the same functions here, so any
leniency (or strictness) helps or hurts them equally.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

_REASONING_BLOCK = re.compile(
    r"<(thinking|scratchpad|analysis|reasoning|thoughts?)>.*?(?:</\1>|$)", re.S | re.I
)
_ANSWER_BLOCK = re.compile(
    r"<(answer|label|classification|result|output|date|sentiment|urgency)>(.*?)</\1>", re.S | re.I
)
_VARIABLE = re.compile(r"\{\{([A-Z][A-Z0-9_]*)\}\}")
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_SLASHED = re.compile(r"\b(\d{4})/(\d{1,2})/(\d{1,2})\b")
_MONTHS = {
    name: index
    for index, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        1,
    )
    for name in names
}
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_MONTH_DAY_YEAR = re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+(\d{{4}})\b", re.I)
_DAY_MONTH_YEAR = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})\b", re.I)


def answer_region(reply: str) -> str:
    """The part of a reply holding the answer: answer tags first, else reasoning dropped.

    Answer tags are looked for before reasoning is removed, because small models often
    open ``<thinking>``, never close it, and put ``<answer>`` inside it.
    """
    tagged = _ANSWER_BLOCK.search(reply)
    if tagged:
        return tagged.group(2)
    return _REASONING_BLOCK.sub(" ", reply)


def _label_pattern(label: str) -> re.Pattern[str]:
    """A label matched as a word, its underscores also accepted as spaces or hyphens."""
    parts = [re.escape(part) for part in re.split(r"[_\s-]+", label)]
    return re.compile(r"(?<![\w-])" + r"[\s_-]?".join(parts) + r"(?![\w-])", re.I)


def extract_label(reply: str, labels: Sequence[str]) -> str | None:
    """The label mentioned first in the answer region; None when no label is there.

    Longer labels are matched first and masked, so "not_urgent" (or "not urgent") is
    never also read as "urgent"; "non-urgent" counts as "not_urgent" when that label exists.
    """
    region = answer_region(reply)
    if "not_urgent" in labels:
        region = re.sub(r"\bnon[\s-]?urgent\b", "not_urgent", region, flags=re.I)
    found: list[tuple[int, str]] = []
    for label in sorted(labels, key=len, reverse=True):
        pattern = _label_pattern(label)
        for match in pattern.finditer(region):
            found.append((match.start(), label))
        region = pattern.sub(lambda m: " " * len(m.group(0)), region)
    return min(found)[1] if found else None


def extract_iso_date(reply: str) -> str | None:
    """The first date in the answer region as YYYY-MM-DD (ISO, Y/M/D and spelled months read)."""
    region = answer_region(reply)
    candidates: list[tuple[int, date]] = []
    for pattern, order in (
        (_ISO, "ymd"),
        (_SLASHED, "ymd"),
        (_MONTH_DAY_YEAR, "mdy"),
        (_DAY_MONTH_YEAR, "dmy"),
    ):
        for match in pattern.finditer(region):
            values = dict(zip(order, match.groups(), strict=True))
            month = values["m"]
            month_number = int(month) if month.isdigit() else _MONTHS[month.lower().rstrip(".")]
            try:
                candidates.append(
                    (match.start(), date(int(values["y"]), month_number, int(values["d"])))
                )
            except ValueError:
                continue
    return min(candidates)[1].isoformat() if candidates else None


def template_variables(text: str) -> list[str]:
    """Distinct ``{{UPPER_SNAKE}}`` variables in order of first appearance."""
    return list(dict.fromkeys(_VARIABLE.findall(text)))


def fill_prompt(user_text: str, system: str, item: str, other_value: str) -> tuple[str, str]:
    """Fill a generated prompt with one item, the README's rule for the downstream benchmark.

    The item goes in the first variable of the user message (or of the system prompt
    when the user message has none); any other variable gets ``other_value`` (the
    set's task description, which names the labels); with no variable at all the item
    is appended to the user message, as the bare arm does.
    """
    names = template_variables(user_text) or template_variables(system)
    if not names:
        return f"{user_text.rstrip()}\n\n{item}", system
    values = {name: other_value for name in names[1:]}
    values[names[0]] = item

    def substitute(text: str) -> str:
        return _VARIABLE.sub(lambda m: values.get(m.group(1), other_value), text)

    return substitute(user_text), substitute(system)
