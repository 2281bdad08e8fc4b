"""The grader shorthand of ``--grader`` and the client: ``KIND[:VALUE]`` to a grader object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptmill.engine.graders import GRADERS, validate_graders
from promptmill.grader_shorthand import GRADER_SHORTHANDS, parse_grader


def test_every_grader_kind_of_the_engine_has_a_shorthand_and_no_other() -> None:
    assert list(GRADER_SHORTHANDS) == list(GRADERS)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("exact", {"type": "exact"}),
        ("exact:42", {"type": "exact", "value": "42"}),
        ("contains:a:b", {"type": "contains", "value": "a:b"}),
        ("regex:^\\d+$", {"type": "regex", "pattern": "^\\d+$"}),
        ("json", {"type": "json"}),
        ('json:{"type": "object"}', {"type": "json", "schema": {"type": "object"}}),
        ("numeric", {"type": "numeric"}),
        ("numeric:0.5", {"type": "numeric", "tolerance": 0.5}),
        ("rubric", {"type": "rubric"}),
        ("rubric:Is it polite?", {"type": "rubric", "rubric": "Is it polite?"}),
    ],
)
def test_a_shorthand_becomes_the_grader_object_the_engine_accepts(
    text: str, spec: dict[str, object]
) -> None:
    assert parse_grader(text) == spec
    assert validate_graders([spec])


def test_a_json_schema_can_come_from_a_file(tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "array"}), encoding="utf-8")
    assert parse_grader(f"json:{schema}") == {"type": "json", "schema": {"type": "array"}}


def test_an_unknown_kind_names_the_kinds_there_are() -> None:
    with pytest.raises(ValueError, match=r"^unknown grader 'fuzzy'; choose one of exact, contains"):
        parse_grader("fuzzy:0.8")


def test_regex_without_a_pattern_says_how_it_is_written() -> None:
    with pytest.raises(ValueError, match=r"^regex: a value is needed after ':' \(written regex:"):
        parse_grader("regex")


def test_an_empty_value_after_the_colon_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^contains: a value is needed"):
        parse_grader("contains:")


def test_a_tolerance_that_is_no_number_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^the tolerance must be a number, not 'close'"):
        parse_grader("numeric:close")


def test_a_missing_or_broken_schema_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^cannot read the schema file"):
        parse_grader(f"json:{tmp_path / 'missing.json'}")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"is not valid JSON"):
        parse_grader(f"json:{broken}")
