"""The one backoff rule shared by the client and the backends, checked as properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptmill.backoff import MAX_BACKOFF, retry_wait

retry_indexes = st.integers(min_value=0, max_value=40)
bases = st.floats(min_value=0.01, max_value=4.0)
seconds = st.floats(min_value=0.0, max_value=120.0)


def _nominal(retry_index: int, base: float) -> float:
    return float(min(MAX_BACKOFF, base * 2.0**retry_index))


@given(retry_indexes, bases)
def test_the_backoff_doubles_up_to_the_cap_and_jitter_only_shortens_it(
    retry_index: int, base: float
) -> None:
    wait = retry_wait(retry_index, base=base)
    assert 0.75 * _nominal(retry_index, base) <= wait <= _nominal(retry_index, base)


def test_the_backoff_grows_between_retries_until_the_cap() -> None:
    waits = [retry_wait(index, base=1.0) for index in range(8)]
    assert waits[0] <= 1.0 < 1.5 <= waits[1] <= 2.0 < 3.0 <= waits[2] <= 4.0
    assert all(wait <= MAX_BACKOFF for wait in waits)
    assert waits[-1] >= 0.75 * MAX_BACKOFF


@given(retry_indexes, bases, seconds)
def test_the_wait_is_the_longer_of_backoff_and_retry_after(
    retry_index: int, base: float, retry_after: float
) -> None:
    wait = retry_wait(retry_index, base=base, retry_after=retry_after)
    assert wait >= retry_after
    assert wait <= max(retry_after, _nominal(retry_index, base))


def test_a_retry_after_beyond_the_limit_is_not_honoured() -> None:
    wait = retry_wait(0, base=0.5, retry_after=600.0, max_retry_after=60.0)
    assert wait <= 0.5


@given(retry_indexes, bases, st.none() | seconds, st.floats(min_value=0.0, max_value=30.0))
def test_a_granted_wait_always_ends_before_the_deadline(
    retry_index: int, base: float, retry_after: float | None, remaining: float
) -> None:
    wait = retry_wait(retry_index, base=base, retry_after=retry_after, remaining=remaining)
    assert wait is None or wait < remaining


@pytest.mark.parametrize("retry_after", [5.0, 9.5])
def test_a_retry_after_that_outlasts_the_deadline_means_give_up(retry_after: float) -> None:
    assert retry_wait(0, retry_after=retry_after, remaining=5.0) is None
