"""Request bodies as JSON every later layer can carry: parse strictly, or answer 400.

A body is stored in the call record, echoed by the history API and sent to a backend,
so whatever is accepted here must survive all three. ``parse_json_object`` therefore
refuses, with a 400 ``invalid_request_error`` naming the field, what Python's ``json``
accepts but nothing downstream can use:

- a lone UTF-16 surrogate (``"\\ud800"``) in any string or key, even in a field the
  tools ignore: it is not Unicode text (I-JSON, RFC 7493 section 2.1, forbids it), so it
  cannot be encoded as UTF-8 for the backend, the database or the answer;
- ``NaN``, ``Infinity`` and numbers too large for a double (``1e400``): not JSON, and
  they could not be written back out as JSON;
- integers longer than ``MAX_INTEGER_DIGITS`` and nesting deeper than
  ``MAX_JSON_DEPTH``: their cost grows faster than their size, and a deep structure
  would exhaust the recursion of every later encoder.

``wire_safe`` is the read side for records stored before these checks: it repairs a
value so it can always be encoded as JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

from promptmill.errors import InvalidRequestError
from promptmill.protocol import MAX_INTEGER_DIGITS, MAX_JSON_DEPTH

_REPLACEMENT_CHARACTER = "\ufffd"


def parse_json_object(raw: bytes | str) -> dict[str, Any]:
    """The body as a JSON object, every string valid Unicode and every number finite."""
    if not raw.strip():
        raise InvalidRequestError("request body is empty; send a JSON object")
    try:
        payload = json.loads(raw, parse_int=_parse_int, parse_constant=_refuse_constant)
    except InvalidRequestError:
        raise
    except RecursionError:
        raise _too_deep() from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        kind = "an array" if isinstance(payload, list) else type(payload).__name__
        raise InvalidRequestError(f"request body must be a JSON object, got {kind}")
    _check_tree(payload)
    return payload


def wire_safe(value: Any) -> Any:
    """``value`` with lone surrogates replaced by U+FFFD and non-finite numbers by ``None``."""
    if isinstance(value, str):
        return _repaired(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_repaired(str(key)): wire_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [wire_safe(item) for item in value]
    return value


def _repaired(text: str) -> str:
    if _lone_surrogate_at(text) is None:
        return text
    return "".join(_REPLACEMENT_CHARACTER if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise InvalidRequestError(
            f"request body has an integer of {len(digits.lstrip('-'))} digits; "
            f"numbers may have at most {MAX_INTEGER_DIGITS}"
        )
    return int(digits)


def _refuse_constant(name: str) -> float:
    raise InvalidRequestError(f"request body is not valid JSON: {name} is not a JSON value")


def _too_deep() -> InvalidRequestError:
    return InvalidRequestError(
        f"request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
    )


def _check_tree(payload: dict[str, Any]) -> None:
    """Depth, strings and numbers of the whole tree, iteratively (no recursion to exhaust)."""
    pending: list[tuple[Any, tuple[str, ...], int]] = [(payload, (), 1)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key, path, "a key")
                pending.append((item, (*path, str(key)), depth + 1))
        elif isinstance(value, str):
            _check_text(value, path, "the text")
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequestError(
                f"{_shown_path(path)}: number is too large for a 64-bit float"
            )


def _check_text(text: str, path: tuple[str, ...], what: str) -> None:
    position = _lone_surrogate_at(text)
    if position is not None:
        raise InvalidRequestError(
            f"{_shown_path(path)}: {what} contains a lone UTF-16 surrogate "
            f"(\\u{ord(text[position]):04x} at character {position}); send valid Unicode text"
        )


def _lone_surrogate_at(text: str) -> int | None:
    """Where the first lone surrogate is (``json`` pairs the valid ones), or ``None``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def _shown_path(path: tuple[str, ...]) -> str:
    return ".".join(path) if path else "request body"
