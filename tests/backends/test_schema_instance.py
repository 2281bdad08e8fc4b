"""The fakes' schema-instance builder: any schema it supports gets a valid, on-topic instance."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.schema_instance import build_instance, words_of

PROMPT = "A chef for a meal prep planning service"

_leaf_schemas = st.one_of(
    st.builds(
        lambda low, extra: {"type": "string", "minLength": low, "maxLength": low + extra},
        st.integers(0, 40),
        st.integers(0, 40),
    ),
    st.just({"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"}),
    st.just({"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}),
    st.builds(
        lambda values: {"enum": values},
        st.lists(st.text(max_size=5), min_size=1, max_size=3),
    ),
    st.builds(
        lambda low, span: {"type": "integer", "minimum": low, "maximum": low + span},
        st.integers(-50, 50),
        st.integers(0, 10),
    ),
    st.builds(
        lambda low, span: {"type": "number", "minimum": low, "maximum": low + span},
        st.floats(-50, 50),
        st.floats(0, 10),
    ),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.just({"type": ["string", "null"]}),
    st.builds(lambda value: {"const": value}, st.integers() | st.text(max_size=5)),
)


def _object(children: dict[str, Any], required_flags: list[bool]) -> dict[str, Any]:
    names = list(children)
    required = [n for n, flag in zip(names, required_flags, strict=False) if flag]
    return {"type": "object", "properties": children, "required": required}


_schemas = st.recursive(
    _leaf_schemas,
    lambda inner: st.one_of(
        st.builds(
            _object,
            st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), inner, max_size=4),
            st.lists(st.booleans(), max_size=4),
        ),
        st.builds(
            lambda items, low, extra: {
                "type": "array",
                "items": items,
                "minItems": low,
                "maxItems": low + extra,
            },
            inner,
            st.integers(0, 4),
            st.integers(0, 3),
        ),
        st.builds(lambda option: {"anyOf": [{"type": "null"}, option]}, inner),
        # oneOf needs exactly one matching branch: only pair null with a non-null type.
        st.builds(
            lambda option: {"oneOf": [option, {"type": "null"}]},
            inner.filter(lambda s: s.get("type") in ("string", "integer", "object", "array")),
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(_schemas)
def test_every_generated_schema_gets_a_valid_instance(schema: dict[str, Any]) -> None:
    jsonschema.validate(build_instance(schema, PROMPT), schema)


@settings(max_examples=40, deadline=None)
@given(_schemas, st.text(max_size=60))
def test_any_prompt_text_still_gives_a_valid_instance(schema: dict[str, Any], text: str) -> None:
    jsonschema.validate(build_instance(schema, text), schema)


def test_strings_are_made_of_the_prompts_words() -> None:
    value = build_instance({"type": "string"}, PROMPT)

    assert set(value.split()) <= set(words_of(PROMPT))


def test_identifier_patterns_get_upper_snake_case_names_from_the_prompt() -> None:
    value = build_instance({"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"}, PROMPT)

    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", value)
    assert value.split("_")[0] in {w.upper() for w in words_of(PROMPT)}


def test_references_into_defs_are_followed() -> None:
    schema = {
        "type": "object",
        "properties": {"steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}}},
        "required": ["steps"],
        "$defs": {
            "Step": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "minutes": {"type": "integer"}},
                "required": ["name", "minutes"],
            }
        },
    }

    value = build_instance(schema, PROMPT)

    jsonschema.validate(value, schema)
    assert value["steps"] and all("name" in step for step in value["steps"])


def test_nullable_unions_prefer_the_non_null_branch() -> None:
    value = build_instance({"anyOf": [{"type": "null"}, {"type": "string"}]}, PROMPT)

    assert isinstance(value, str)


def test_unique_items_are_unique() -> None:
    schema = {"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": True}

    jsonschema.validate(build_instance(schema, PROMPT), schema)


def test_same_schema_and_prompt_give_the_same_instance() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}

    assert build_instance(schema, PROMPT) == build_instance(schema, PROMPT)
