"""Retries, deadlines and fault mapping shared by the remote backends.

The vendors' SDKs retry on their own, but their budget is a count of attempts, not
the seconds left in the caller's request: a 529 storm could keep a request alive
long past its deadline. So the remote backends turn SDK retries off and go through
``retrying``, which guarantees two bounds at once: at most
``max_retries`` retries, and no attempt, wait or sleep past the deadline. Each
attempt gets the remaining seconds as its own timeout, and a ``retry-after`` that
would outlast the deadline ends the retries at once with the mapped error (its
``retry_after`` kept, so our caller can pass the hint on).

Each backend classifies its SDK's exceptions into a ``Fault``: the
``promptmill.errors`` instance to raise and whether the fault is worth retrying.
Nothing from an SDK escapes this module's loop.

The loop is written once, as an ``Exchange`` (a generator of what to do next), and
run by ``drive`` with a blocking SDK client or by ``drive_async`` with an
asynchronous one, so the server can call a remote backend on its event loop without
a second copy of the retry rules.

An upstream that cannot be reached, or does not answer within the deadline, is an
``OverloadedError`` (529, with ``retry-after``): the caller can do nothing but try
again shortly, which is what that type tells the official clients. Its message never
names the backend's address or an exception class (those are internal and may be
private); the details go to the server's log instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from promptmill.backoff import retry_wait
from promptmill.errors import (
    APIError,
    OverloadedError,
    PromptmillError,
    RateLimitError,
)
from promptmill.steps import run_steps, run_steps_async

T = TypeVar("T")

logger = logging.getLogger("promptmill.backends")

UNAVAILABLE_RETRY_AFTER = 5.0
"""Seconds an unreachable or unresponsive backend asks clients to wait (``retry-after``)."""

# Statuses worth another attempt: timeouts, conflicts, rate limits, server faults, overload.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# Statuses that say the upstream (or the gateway before it) is down or swamped.
UNAVAILABLE_STATUSES = frozenset({502, 503, 504, 529})


@dataclass(frozen=True)
class Fault:
    """What a failed attempt means: the error to report, and whether to try again."""

    error: PromptmillError
    retryable: bool
    retry_after: float | None = None


Classifier = Callable[[Exception, float], Fault]
"""Maps an exception raised by one attempt (and that attempt's timeout) to a Fault."""


@dataclass(frozen=True)
class Attempt:
    """One SDK call to make: its keyword arguments, and the seconds it may take at most."""

    params: Mapping[str, Any]
    seconds: float


@dataclass(frozen=True)
class Pause:
    """Seconds to wait before the next attempt."""

    seconds: float


Exchange = Generator[Attempt | Pause, Any, T]
"""A backend call written once for both drivers (``drive`` and ``drive_async``).

It yields what to do next; an ``Attempt``'s result is sent back into it, or the
exception the attempt raised is thrown into it; it returns the call's answer. So the
retry rules, the deadline and a backend's own fallbacks are stated once, and only the
driver knows whether the SDK client is synchronous or asynchronous.
"""


def retrying(
    params: Mapping[str, Any],
    classify: Classifier,
    *,
    timeout: float,
    max_retries: int,
    backoff: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
) -> Exchange[Any]:
    """Attempt the call with ``params`` until it succeeds, within both the retry and time budgets.

    Each attempt gets the seconds left before the deadline as its timeout (the SDK's
    per-call timeout). Raises only ``PromptmillError``.
    """
    deadline = clock() + timeout
    retries = 0
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            raise OverloadedError(
                f"the backend did not answer within the request's {timeout:.1f}s deadline; "
                "retry later",
                retry_after=UNAVAILABLE_RETRY_AFTER,
            )
        try:
            return (yield Attempt(params, remaining))
        except PromptmillError:
            raise
        except Exception as exc:
            fault = classify(exc, remaining)
            if not fault.retryable or retries >= max_retries:
                raise fault.error from exc
            delay = retry_wait(
                retries, retry_after=fault.retry_after, base=backoff, remaining=deadline - clock()
            )
            if delay is None:
                raise fault.error from exc
        yield Pause(delay)
        retries += 1


def drive(exchange: Exchange[T], call: Callable[..., Any], sleep: Callable[[float], None]) -> T:
    """Run ``exchange`` with a blocking SDK ``call`` (``create(**params, timeout=...)``)."""

    def perform(step: Attempt | Pause) -> Any:
        if isinstance(step, Pause):
            return sleep(step.seconds)
        return call(**step.params, timeout=step.seconds)

    return run_steps(exchange, perform)


async def drive_async(
    exchange: Exchange[T],
    call: Callable[..., Awaitable[Any]],
    sleep: Callable[[float], Awaitable[None]],
) -> T:
    """Run ``exchange`` with an asynchronous SDK ``call``, on the caller's event loop."""

    async def perform(step: Attempt | Pause) -> Any:
        if isinstance(step, Pause):
            return await sleep(step.seconds)
        return await call(**step.params, timeout=step.seconds)

    return await run_steps_async(exchange, perform)


def upstream_message(body: object, fallback: str) -> str:
    """The human message inside a vendor error body (Anthropic's or OpenAI's shape)."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping) and inner.get("message"):
            return str(inner["message"])
        if body.get("message"):
            return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()
    return fallback


def status_fault(
    backend: str,
    status: int,
    message: str,
    *,
    retry_after: float | None,
    key_setting: str,
    overloaded: bool = False,
) -> Fault:
    """Map an upstream HTTP error to promptmill's error and retry decision.

    ``overloaded`` marks vendor-specific overload signals (Anthropic's
    ``overloaded_error`` type) beyond the ``UNAVAILABLE_STATUSES``.
    """
    where = f"the {backend} backend"
    if status in (401, 403):
        return Fault(
            APIError(
                f"{where} rejected promptmill's credentials (HTTP {status}: {message}). "
                f"This is the server's own backend key, not the caller's API key: "
                f"check {key_setting}."
            ),
            retryable=False,
        )
    if status == 429:
        return Fault(
            RateLimitError(f"{where} is rate limiting promptmill: {message}", retry_after),
            retryable=True,
            retry_after=retry_after,
        )
    if overloaded or status in UNAVAILABLE_STATUSES:
        return Fault(
            OverloadedError(
                f"{where} is overloaded (HTTP {status}): {message}",
                retry_after=retry_after if retry_after is not None else UNAVAILABLE_RETRY_AFTER,
            ),
            retryable=True,
            retry_after=retry_after,
        )
    return Fault(
        APIError(f"{where} returned HTTP {status}: {message}"),
        retryable=status in RETRYABLE_STATUSES,
        retry_after=retry_after,
    )


def out_of_time(what: str) -> OverloadedError:
    """The error of a request whose deadline passed before its model finished.

    A 529 with ``retry-after``, as for an overloaded backend: the request itself was fine,
    the model was too slow for it now (a busy machine, a slow upstream). The message says
    how to give slow models more time.
    """
    return OverloadedError(
        f"{what}; retry later, or raise PROMPTMILL_REQUEST_TIMEOUT for slow models",
        retry_after=UNAVAILABLE_RETRY_AFTER,
    )


def timeout_fault(backend: str, seconds: float) -> Fault:
    """A call that ran out of time; not retried, since the deadline is spent."""
    logger.warning("the %s backend did not answer within %.1fs", backend, seconds)
    return Fault(
        out_of_time(
            f"the {backend} backend did not answer within {seconds:.1f}s (the request's deadline)"
        ),
        retryable=False,
    )


def connection_fault(backend: str, base_url: str, cause: BaseException) -> Fault:
    """No connection to the backend; retried, since servers restart.

    The address and the cause are logged, not told: they are the operator's business.
    """
    detail = str(cause.__cause__ or cause) or type(cause).__name__
    logger.warning("could not connect to the %s backend at %s: %s", backend, base_url, detail)
    return Fault(
        OverloadedError(
            f"the {backend} backend is unreachable; retry later",
            retry_after=UNAVAILABLE_RETRY_AFTER,
        ),
        retryable=True,
    )


def unexpected_fault(backend: str, exc: Exception) -> Fault:
    """Anything the SDK raised that no rule above covers: logged in full, told in general."""
    logger.error("the %s backend failed unexpectedly", backend, exc_info=exc)
    return Fault(APIError(f"the {backend} backend failed unexpectedly"), retryable=False)
