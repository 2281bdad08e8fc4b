"""The pieces of the HTTP layer that need no server: header parsing and messages."""

from __future__ import annotations

import pytest

from promptmill.api.auth import bearer_token, beta_names, check_anthropic_version
from promptmill.api.streaming import wants_event_stream
from promptmill.errors import InvalidRequestError


def test_beta_names_merge_repeated_and_comma_separated_headers() -> None:
    assert beta_names(["a-1, b-2", " c-3 ", ",,"]) == {"a-1", "b-2", "c-3"}


@pytest.mark.parametrize("value", ["2023-06-01", "2026-10-21", " 2023-06-01 "])
def test_well_formed_versions_are_accepted(value: str) -> None:
    check_anthropic_version(value)


@pytest.mark.parametrize("value", ["", "2023-6-1", "20230601", "2023-02-30", "latest"])
def test_malformed_versions_name_the_header(value: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"^anthropic-version: "):
        check_anthropic_version(value)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/event-stream", True),
        ("application/json, text/event-stream;q=0.9", True),
        ("application/json", False),
        ("*/*", False),
        (None, False),
    ],
)
def test_event_stream_is_chosen_only_when_listed_in_accept(
    accept: str | None, expected: bool
) -> None:
    assert wants_event_stream(accept) is expected


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer sk-pm-1", "sk-pm-1"),
        ("bearer  sk-pm-1 ", "sk-pm-1"),
        ("Basic abc", None),
        ("Bearer", None),
        (None, None),
    ],
)
def test_bearer_token_is_read_from_authorization(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token
