"""``json_body``: whatever it accepts can be stored, answered and sent on; properties."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptmill.api.json_body import parse_json_object, wire_safe
from promptmill.errors import InvalidRequestError
from promptmill.protocol import MAX_INTEGER_DIGITS, MAX_JSON_DEPTH

# Any code point, surrogates often (Python's json module lets them through); built from
# characters because Hypothesis' text() leaves surrogates out whatever the alphabet.
any_text = st.lists(st.characters() | st.characters(categories=["Cs"]), max_size=8).map("".join)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | any_text
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=20,
)


def _encodes_as_strict_json(value: Any) -> bool:
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return True


@given(st.dictionaries(any_text, values, max_size=4))
def test_an_accepted_body_encodes_as_strict_utf8_json(payload: dict[str, Any]) -> None:
    raw = json.dumps(payload).encode("ascii")  # escapes, so surrogates and NaN survive
    try:
        parsed = parse_json_object(raw)
    except InvalidRequestError as exc:
        assert _encodes_as_strict_json(exc.message)
        return
    assert _encodes_as_strict_json(parsed)


@given(values)
def test_wire_safe_makes_any_value_encodable(value: Any) -> None:
    assert _encodes_as_strict_json(wire_safe(value))


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=8) | st.integers(), max_size=4))
def test_wire_safe_leaves_valid_values_unchanged(value: dict[str, Any]) -> None:
    assert wire_safe(value) == value


def test_paired_surrogates_are_one_character_and_accepted() -> None:
    assert parse_json_object(b'{"task": "\\ud83d\\ude00"}') == {"task": "\U0001f600"}


def test_the_limits_themselves_are_accepted() -> None:
    deepest = b'{"x": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}"
    assert parse_json_object(deepest)
    longest = b'{"n": -' + b"9" * MAX_INTEGER_DIGITS + b"}"
    assert parse_json_object(longest)["n"] < 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": {"b": ["\\udfff"]}}', r"^a\.b\.0: the text contains a lone UTF-16 surrogate"),
        (b'{"a": ' + b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH + b"}", "levels deep"),
        (b'{"n": ' + b"1" * (MAX_INTEGER_DIGITS + 1) + b"}", "at most"),
        (b'{"n": Infinity}', "Infinity is not a JSON value"),
    ],
)
def test_what_downstream_cannot_carry_is_a_400_naming_the_place(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        parse_json_object(raw)
