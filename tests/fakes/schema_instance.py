"""Build a valid instance of a JSON schema, worded from a prompt.

The fake vendor servers answer schema-constrained requests the way a cooperative
model would: with a JSON value that satisfies the schema and whose strings reuse
the words of the user's message, so the content stays on topic and an engine
downstream sees plausible, schema-valid data. The output is deterministic for a
given schema and word list, which keeps tests reproducible.

Supported keywords: ``type`` (single or list), ``const``, ``enum``, ``$ref`` into
``$defs``/``definitions``, ``anyOf``/``oneOf`` (a non-null branch is preferred),
``allOf`` (first branch), ``properties``/``required``, ``items`` with
``minItems``/``maxItems``, strings with ``minLength``/``maxLength``/``pattern``
(identifier-like patterns such as ``^[A-Z][A-Z0-9_]*$``), and numeric bounds.
"""

from __future__ import annotations

import math
import re
from typing import Any

_FALLBACK_WORDS = ["prompt", "task", "example", "detail", "answer", "context"]
_WORD = re.compile(r"[^\W\d_][\w']*")


def words_of(text: str) -> list[str]:
    """The words of ``text`` usable as content (letters first), in order."""
    found = [w.strip("'") for w in _WORD.findall(text)]
    return [w for w in found if w] or list(_FALLBACK_WORDS)


def build_instance(schema: dict[str, Any], text: str) -> Any:
    """A value valid against ``schema`` whose strings are made from the words of ``text``."""
    return _Builder(schema, words_of(text)).build(schema)


class _Builder:
    def __init__(self, root: dict[str, Any], words: list[str]) -> None:
        self._root = root
        self._words = words
        self._cursor = 0

    def _take(self, count: int) -> list[str]:
        taken = [self._words[(self._cursor + i) % len(self._words)] for i in range(count)]
        self._cursor = (self._cursor + count) % len(self._words)
        return taken

    def _resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node: Any = self._root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            node = node[part.replace("~1", "/").replace("~0", "~")]
        if not isinstance(node, dict):
            raise ValueError(f"$ref {ref!r} does not point at a schema")
        return node

    def build(self, schema: Any, depth: int = 0) -> Any:
        if schema is True or not isinstance(schema, dict):
            return self._string({}, depth)
        if "$ref" in schema:
            if depth > 12:
                return None
            return self.build(self._resolve(schema["$ref"]), depth + 1)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = schema[key]
                chosen = next((o for o in options if not _is_null_schema(o)), options[0])
                return self.build(chosen, depth + 1)
        if schema.get("allOf"):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged.update(part)
            return self.build(merged, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
        if kind is None:
            if "properties" in schema:
                kind = "object"
            elif "items" in schema:
                kind = "array"
            else:
                kind = "string"
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self._string(schema, depth)

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties") or {}
        required = list(schema.get("required") or [])
        result: dict[str, Any] = {}
        for name in [*properties, *[r for r in required if r not in properties]]:
            if depth > 12 and name not in required:
                continue
            result[name] = self.build(properties.get(name, {}), depth + 1)
        return result

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        count = max(low, 2 if depth < 6 else low)
        if high is not None:
            count = min(count, int(high))
        items = schema.get("items", {})
        values = [self.build(items, depth + 1) for _ in range(count)]
        if schema.get("uniqueItems"):
            values = self._make_unique(values, items, depth)
        return values

    def _make_unique(self, values: list[Any], items: Any, depth: int) -> list[Any]:
        unique: list[Any] = []
        for value in values:
            candidate = value
            for _ in range(len(self._words) + 2):
                if candidate not in unique:
                    break
                candidate = self.build(items, depth + 1)
            if candidate not in unique:
                unique.append(candidate)
        return unique

    def _integer(self, schema: dict[str, Any]) -> int:
        low = schema.get("minimum")
        if "exclusiveMinimum" in schema:
            low = math.floor(schema["exclusiveMinimum"]) + 1
        high = schema.get("maximum")
        if "exclusiveMaximum" in schema:
            high = math.ceil(schema["exclusiveMaximum"]) - 1
        value = 1
        if low is not None:
            value = max(value, math.ceil(low))
        if high is not None:
            value = min(value, math.floor(high))
        return value

    def _number(self, schema: dict[str, Any]) -> float:
        low = schema.get("minimum")
        high = schema.get("maximum")
        value = 1.0
        if "exclusiveMinimum" in schema:
            low = None
            value = max(value, float(schema["exclusiveMinimum"]) + 0.5)
        if "exclusiveMaximum" in schema:
            high = None
            value = min(value, float(schema["exclusiveMaximum"]) - 0.5)
        if low is not None:
            value = max(value, float(low))
        if high is not None:
            value = min(value, float(high))
        return value

    def _string(self, schema: dict[str, Any], depth: int) -> str:
        if schema.get("format") == "date-time":
            return "2025-01-01T00:00:00Z"
        if schema.get("format") == "date":
            return "2025-01-01"
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        pattern = schema.get("pattern")
        words = self._take(min(6, max(3, len(self._words))))
        for candidate in _candidates(words):
            fitted = _fit_length(candidate, low, high, self._words)
            if fitted is not None and (pattern is None or re.search(pattern, fitted)):
                return fitted
        fallback = " ".join(words)
        return _fit_length(fallback, low, high, self._words) or fallback


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _candidates(words: list[str]) -> list[str]:
    """Spellings of the same words, from prose to identifiers, tried against a pattern."""
    alnum = [re.sub(r"[^A-Za-z0-9]", "", w) for w in words]
    alnum = [w for w in alnum if w] or ["value"]
    head = alnum[:3]
    return [
        " ".join(words),
        "_".join(head).upper(),
        "_".join(head).lower(),
        head[0].lower() + "".join(w.capitalize() for w in head[1:]),
        "".join(w.capitalize() for w in head),
        "-".join(head).lower(),
        head[0].lower(),
        head[0].upper(),
        "A",
        "a",
        "0",
    ]


def _fit_length(text: str, low: int, high: int | None, words: list[str]) -> str | None:
    """``text`` padded with words up to ``low`` and cut to ``high`` characters, or None."""
    joiner = "_" if ("_" in text and " " not in text) else " "
    result = text
    i = 0
    while len(result) < low:
        extra = words[i % len(words)]
        result = f"{result}{joiner}{extra.upper() if joiner == '_' else extra}"
        i += 1
    if high is not None and len(result) > high:
        result = result[: int(high)].rstrip(" _-")
        if len(result) < low:
            result = result.ljust(low, "X")
    return result
