"""The retry loop's two bounds (retries and deadline) and the ``retry-after`` parsing."""

from __future__ import annotations

import email.utils
import itertools
import time
from collections.abc import Callable

import pytest

from promptmill.backends.faults import (
    Classifier,
    Fault,
    drive,
    retrying,
    status_fault,
)
from promptmill.errors import APIError, OverloadedError, RateLimitError, parse_retry_after


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps or works."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky(Exception):
    """What a failing attempt raises in these tests."""


def overloaded(exc: Exception, seconds: float) -> Fault:
    return Fault(OverloadedError("overloaded"), retryable=True)


def with_retries(
    attempt: Callable[[float], str],
    classify: Classifier,
    *,
    timeout: float,
    max_retries: int,
    backoff: float = 0.5,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> str:
    """``retrying`` driven with ``attempt(seconds_left)`` as the call, as a backend drives it."""
    steps = retrying(
        {}, classify, timeout=timeout, max_retries=max_retries, backoff=backoff, clock=clock
    )
    return drive(steps, lambda *, timeout: attempt(timeout), sleep)


def run(
    attempt: Callable[[float], str],
    clock: FakeClock,
    *,
    timeout: float = 60.0,
    max_retries: int = 3,
    backoff: float = 1.0,
) -> str:
    return with_retries(
        attempt,
        overloaded,
        timeout=timeout,
        max_retries=max_retries,
        backoff=backoff,
        sleep=clock.sleep,
        clock=clock,
    )


def test_success_after_failures_returns_the_result() -> None:
    clock = FakeClock()
    outcomes: list[Exception | str] = [Flaky(), Flaky(), "done"]

    def attempt(seconds: float) -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert run(attempt, clock) == "done"
    assert len(clock.sleeps) == 2


def test_retries_stop_at_max_retries() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def attempt(seconds: float) -> str:
        calls.append(seconds)
        raise Flaky()

    with pytest.raises(OverloadedError):
        run(attempt, clock, max_retries=3)

    assert len(calls) == 4


def test_each_attempt_gets_only_the_seconds_left_before_the_deadline() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def attempt(seconds: float) -> str:
        calls.append(seconds)
        clock.now += min(4.0, seconds)  # takes time, but honours its timeout as the SDKs do
        raise Flaky()

    with pytest.raises(OverloadedError):
        run(attempt, clock, timeout=20.0, max_retries=10)

    assert calls[0] == 20.0
    assert all(later < earlier for earlier, later in itertools.pairwise(calls))
    assert clock.now - 1000.0 <= 20.0


def test_no_wait_runs_past_the_deadline() -> None:
    clock = FakeClock()

    def attempt(seconds: float) -> str:
        raise Flaky()

    with pytest.raises(OverloadedError):
        run(attempt, clock, timeout=5.0, max_retries=10, backoff=1.0)

    assert sum(clock.sleeps) < 5.0


def test_non_retryable_fault_is_raised_at_once() -> None:
    clock = FakeClock()
    calls: list[float] = []

    def attempt(seconds: float) -> str:
        calls.append(seconds)
        raise Flaky()

    with pytest.raises(APIError, match="bad request"):
        with_retries(
            attempt,
            lambda exc, s: Fault(APIError("bad request"), retryable=False),
            timeout=60.0,
            max_retries=3,
            sleep=clock.sleep,
            clock=clock,
        )

    assert len(calls) == 1
    assert clock.sleeps == []


def test_a_longer_retry_after_wins_over_the_backoff() -> None:
    clock = FakeClock()
    outcomes: list[Exception | str] = [Flaky(), "done"]

    def attempt(seconds: float) -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = with_retries(
        attempt,
        lambda exc, s: Fault(RateLimitError("slow down", 7.0), retryable=True, retry_after=7.0),
        timeout=60.0,
        max_retries=3,
        sleep=clock.sleep,
        clock=clock,
    )

    assert result == "done"
    assert clock.sleeps == [7.0]


def test_the_original_exception_is_kept_as_the_cause() -> None:
    def attempt(seconds: float) -> str:
        raise Flaky("upstream detail")

    with pytest.raises(OverloadedError) as caught:
        run(attempt, FakeClock(), max_retries=0)

    assert isinstance(caught.value.__cause__, Flaky)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)

    parsed = parse_retry_after({"retry-after": when})

    assert parsed is not None
    assert 25.0 <= parsed <= 31.0


@pytest.mark.parametrize(
    ("status", "error_class", "retryable"),
    [
        (429, RateLimitError, True),
        (529, OverloadedError, True),
        (503, OverloadedError, True),
        (500, APIError, True),
        (502, OverloadedError, True),
        (504, OverloadedError, True),
        (400, APIError, False),
        (401, APIError, False),
        (403, APIError, False),
        (404, APIError, False),
    ],
)
def test_status_mapping(status: int, error_class: type[Exception], retryable: bool) -> None:
    fault = status_fault("test", status, "detail", retry_after=None, key_setting="KEY")

    assert type(fault.error) is error_class
    assert fault.retryable is retryable
    assert "detail" in fault.error.message
