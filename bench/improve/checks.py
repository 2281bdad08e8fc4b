"""Deterministic checks of an improved prompt against its case in ``cases.json``.

Written independently of the engine's own specifics finder (``engine/specifics.py``): the
must-keep lists are hand-written per case, so the benchmark does not grade the engine
with the engine's own rules.
"""

from __future__ import annotations

import re
from typing import Any

# The description line the renderers put before an input's tag (any family).
_INPUT_DESCRIPTION = re.compile(r"(?m)^(.*)\n<([a-z0-9_]+)>\n\{\{[^{}]+\}\}\n</\2>")


def kept(specific: str, text: str) -> bool:
    """``specific`` ('a|b' for spellings) is said in ``text``, case-insensitively."""
    lowered = text.lower()
    return any(spelling.lower() in lowered for spelling in specific.split("|"))


def input_descriptions(text: str) -> list[str]:
    """The line that describes each input, just before its tagged placeholder."""
    return [match.group(1) for match in _INPUT_DESCRIPTION.finditer(text)]


def score_case(case: dict[str, Any], text: str) -> dict[str, Any]:
    """Kept specifics, whether the feedback was applied, and what is missing."""
    missing = [item for item in case["must_keep"] if not kept(item, text)]
    marks = [pattern for pattern in case["applied"] if not re.search(pattern, text, re.I)]
    exclude = case.get("inputs_exclude")
    misplaced = (
        [d for d in input_descriptions(text) if re.search(exclude, d, re.I)] if exclude else []
    )
    return {
        "must_keep": len(case["must_keep"]),
        "kept": len(case["must_keep"]) - len(missing),
        "all_kept": not missing,
        "applied": not marks and not misplaced,
        "missing": missing,
        "feedback_marks_missing": marks,
        "inputs_in_output_format": misplaced,
    }
