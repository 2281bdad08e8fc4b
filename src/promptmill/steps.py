"""Work written once as a generator of steps, and the two loops that perform them.

Some work is a conversation with the outside world: a backend call with its retries and
waits (``backends.faults``), or a request's model calls (``engine.pipeline``). Each is
written once as a generator that yields the step it needs next and is sent that step's
outcome, or has the step's exception thrown into it (so it can retry, or let it pass).
``run_steps`` performs the steps blocking the calling thread; ``run_steps_async`` awaits
them on an event loop. The rules live in the generator; only these loops know how the
outside world is reached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar, cast

Step = TypeVar("Step")
Result = TypeVar("Result")


def run_steps(steps: Generator[Step, Any, Result], perform: Callable[[Step], Any]) -> Result:
    """Perform each step ``steps`` yields with ``perform``; return what ``steps`` returns."""
    try:
        step = next(steps)
        while True:
            try:
                outcome = perform(step)
            except Exception as exc:
                step = steps.throw(exc)
            else:
                step = steps.send(outcome)
    except StopIteration as done:
        return cast(Result, done.value)
    finally:
        steps.close()


async def run_steps_async(
    steps: Generator[Step, Any, Result], perform: Callable[[Step], Awaitable[Any]]
) -> Result:
    """``run_steps`` on the caller's event loop: ``perform`` is awaited."""
    try:
        step = next(steps)
        while True:
            try:
                outcome = await perform(step)
            except Exception as exc:
                step = steps.throw(exc)
            else:
                step = steps.send(outcome)
    except StopIteration as done:
        return cast(Result, done.value)
    finally:
        steps.close()
