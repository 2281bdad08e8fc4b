"""Turning concrete values into ``{{VARIABLES}}`` with an exact round trip.

The invariant: filling ``variable_values`` back into the templated texts gives the
input texts again, character for character. Proposed values are applied one at a time
(longest first) and each is kept only if the invariant still holds, so a proposal
that would break it is dropped, never returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from promptmill.engine.checks import PLACEHOLDER, to_variable_name


def fill_variables(text: str, values: dict[str, str]) -> str:
    """Substitute ``{{NAME}}`` for every name in ``values`` in one pass; other braces stay."""
    if not values:
        return text
    pattern = re.compile(r"\{\{(" + "|".join(re.escape(n) for n in values) + r")\}\}")
    return pattern.sub(lambda m: values[m.group(1)], text)


def _value_pattern(value: str) -> re.Pattern[str]:
    """Match ``value`` only where it is not part of a longer word."""
    left = r"(?<!\w)" if value[:1].isalnum() or value[:1] == "_" else ""
    right = r"(?!\w)" if value[-1:].isalnum() or value[-1:] == "_" else ""
    return re.compile(left + re.escape(value) + right)


def _substitute(text: str, value: str, name: str) -> str:
    """Replace ``value`` by ``{{name}}`` outside existing placeholders."""
    pattern = _value_pattern(value)
    pieces: list[str] = []
    cursor = 0
    for match in PLACEHOLDER.finditer(text):
        pieces.append(pattern.sub("{{" + name + "}}", text[cursor : match.start()]))
        pieces.append(match.group(0))
        cursor = match.end()
    pieces.append(pattern.sub("{{" + name + "}}", text[cursor:]))
    return "".join(pieces)


def apply_variables(
    texts: list[str], proposals: Iterable[tuple[str, str]]
) -> tuple[list[str], dict[str, str]]:
    """Templatize ``texts`` with the proposed ``(name, value)`` pairs that keep the invariant.

    Returns the templated texts and ``variable_values``. Names are normalised to
    ``UPPER_SNAKE_CASE`` and made unique against each other and against placeholders the
    texts already hold; values are taken verbatim (or stripped of surrounding spaces)
    and must occur in the texts.
    """
    taken = {name for text in texts for name in (m.group(1) for m in PLACEHOLDER.finditer(text))}
    candidates: list[tuple[str, str]] = []
    seen_values: set[str] = set()
    for raw_name, raw_value in proposals:
        value = _locate(raw_value, texts)
        if value is None or value in seen_values:
            continue
        seen_values.add(value)
        candidates.append((to_variable_name(raw_name), value))
    candidates.sort(key=lambda pair: len(pair[1]), reverse=True)

    current = list(texts)
    values: dict[str, str] = {}
    for base_name, value in candidates:
        name = _unique(base_name, taken | set(values))
        attempt = [_substitute(text, value, name) for text in current]
        if attempt == current:
            continue
        trial = {**values, name: value}
        if [fill_variables(text, trial) for text in attempt] == texts:
            current, values = attempt, trial
    return current, values


def _locate(value: str, texts: list[str]) -> str | None:
    for candidate in (value, value.strip(), value.strip().strip("\"'")):
        if (
            candidate
            and candidate.strip()
            and "{{" not in candidate
            and "}}" not in candidate
            and any(candidate in text for text in texts)
        ):
            return candidate
    return None


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"
