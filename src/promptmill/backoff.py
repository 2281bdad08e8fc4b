"""How long to wait before retrying a transient failure: one rule for the client and the backends.

The wait grows exponentially (``base``, ``2 * base``, ``4 * base``, ... capped at
``cap``), each shortened by up to a quarter at random so that many callers retrying
together spread out instead of arriving in step. A server's ``retry-after`` wins when
it is longer: waiting less than asked only earns another refusal. Two bounds keep a
caller from hanging: a ``retry-after`` beyond ``max_retry_after`` is not honoured (the
backoff is used instead), and a wait that would reach the caller's ``remaining``
deadline is refused (``None``), so the caller fails now rather than after the deadline.
"""

from __future__ import annotations

import random
from typing import overload

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 8.0
_JITTER = 0.25


@overload
def retry_wait(
    retry_index: int,
    *,
    retry_after: float | None = ...,
    base: float = ...,
    cap: float = ...,
    max_retry_after: float | None = ...,
    remaining: None = ...,
) -> float: ...


@overload
def retry_wait(
    retry_index: int,
    *,
    retry_after: float | None = ...,
    base: float = ...,
    cap: float = ...,
    max_retry_after: float | None = ...,
    remaining: float,
) -> float | None: ...


def retry_wait(
    retry_index: int,
    *,
    retry_after: float | None = None,
    base: float = INITIAL_BACKOFF,
    cap: float = MAX_BACKOFF,
    max_retry_after: float | None = None,
    remaining: float | None = None,
) -> float | None:
    """Seconds to wait before retry number ``retry_index + 1``, or ``None`` to give up.

    ``retry_index`` counts the retries already made (0 before the first). The answer is
    ``max(backoff, retry_after)`` with the backoff in ``[0.75, 1] * min(cap, base *
    2**retry_index)``; ``retry_after`` counts only up to ``max_retry_after`` (no limit
    when ``None``). With ``remaining`` set, a wait that would not end before that many
    seconds is ``None``: the caller should stop retrying.
    """
    backoff = min(cap, base * 2.0**retry_index) * (1.0 - _JITTER * random.random())
    wait = backoff
    if retry_after is not None and (max_retry_after is None or retry_after <= max_retry_after):
        wait = max(backoff, retry_after)
    if remaining is not None and wait >= remaining:
        return None
    return wait
