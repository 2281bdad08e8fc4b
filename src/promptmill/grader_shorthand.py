"""Grader specs written as one word: ``exact``, ``contains:VALUE``, ``regex:PATTERN``, ...

The command line's ``--grader`` and the client's ``graders=["regex:^\\d+$"]`` accept this
shorthand and turn it into the API's grader object (``{"type": "regex", "pattern": ...}``).
Only the shorthand's shape is checked here: a known kind, and a value where the kind
needs one. What the value means (a valid regular expression, a valid JSON Schema) is
checked where graders are built, by the server or the in-process engine, which report
the field (``graders.1.pattern: invalid regular expression: ...``). This module is part
of the light core: it imports neither the engine nor jsonschema.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _schema(text: str) -> Any:
    """Inline JSON (``{...}``) or the path of a file holding the schema."""
    if text.lstrip().startswith("{"):
        source, where = text, "the inline schema"
    else:
        try:
            source = Path(text).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read the schema file {text!r}: {exc.strerror}") from None
        where = f"the schema file {text!r}"
    try:
        return json.loads(source)
    except ValueError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"the tolerance must be a number, not {text!r}") from None


@dataclass(frozen=True)
class Shorthand:
    """How ``KIND:VALUE`` maps to a spec: which field VALUE fills and how it is read."""

    field: str
    usage: str
    summary: str
    required: bool = False
    convert: Callable[[str], Any] = str


GRADER_SHORTHANDS: dict[str, Shorthand] = {
    "exact": Shorthand(
        "value", "exact[:VALUE]", "the output equals VALUE (default: the case's expected)"
    ),
    "contains": Shorthand(
        "value",
        "contains[:VALUE]",
        "the output contains VALUE, ignoring case (default: the case's expected)",
    ),
    "regex": Shorthand(
        "pattern", "regex:PATTERN", "the regular expression matches the output", required=True
    ),
    "json": Shorthand(
        "schema",
        "json[:SCHEMA]",
        "the output is JSON, valid against SCHEMA (a file, or inline {...}) if given",
        convert=_schema,
    ),
    "numeric": Shorthand(
        "tolerance",
        "numeric[:TOLERANCE]",
        "the last number in the output is within TOLERANCE of the case's expected",
        convert=_number,
    ),
    "rubric": Shorthand(
        "rubric",
        "rubric[:TEXT]",
        "the model judges the output against TEXT (default: the case's notes), 1-5",
    ),
}
"""Every grader kind the API knows, with its shorthand (the engine's ``GRADERS`` keys)."""


def parse_grader(text: str) -> dict[str, Any]:
    """The grader object that ``KIND`` or ``KIND:VALUE`` stands for.

    Raises ``ValueError`` saying what is wrong with the shorthand; callers add where it
    came from (an option, a list index).
    """
    kind, colon, value = text.partition(":")
    kind = kind.strip()
    shorthand = GRADER_SHORTHANDS.get(kind)
    if shorthand is None:
        raise ValueError(
            f"unknown grader {kind!r}; choose one of {', '.join(GRADER_SHORTHANDS)} "
            f"(written {', '.join(s.usage for s in GRADER_SHORTHANDS.values())})"
        )
    spec: dict[str, Any] = {"type": kind}
    if colon and value:
        spec[shorthand.field] = shorthand.convert(value)
    elif colon or shorthand.required:
        raise ValueError(f"{kind}: a value is needed after ':' (written {shorthand.usage})")
    return spec
