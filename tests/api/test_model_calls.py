"""The model pool's ``ModelCalls.run``: a blocking call off the event loop, as anyio's was.

It replaced ``anyio.to_thread.run_sync`` for speed, so what that gave must still hold:
the result or the exception comes back, context variables reach the thread, and a
caller cancelled while its thread runs waits for the thread before it is cancelled.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from promptmill.api.capacity import ModelCalls

_REQUEST = contextvars.ContextVar("request", default="none")


def test_the_function_runs_off_the_event_loop_and_its_result_comes_back() -> None:
    async def main() -> tuple[str, int]:
        loop_thread = threading.get_ident()
        result = await ModelCalls(2).run(lambda: (threading.current_thread().name, 42))
        assert threading.get_ident() == loop_thread
        return result

    name, value = asyncio.run(main())
    assert name.startswith("promptmill-model") and value == 42


def test_an_exception_in_the_thread_reaches_the_caller() -> None:
    def fail() -> None:
        raise ValueError("the backend said no")

    with pytest.raises(ValueError, match="the backend said no"):
        asyncio.run(ModelCalls(1).run(fail))


def test_the_callers_context_variables_reach_the_thread() -> None:
    async def main() -> str:
        _REQUEST.set("req_123")
        return await ModelCalls(1).run(_REQUEST.get)

    assert asyncio.run(main()) == "req_123"


def test_a_cancelled_caller_waits_for_its_thread_then_is_cancelled() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def slow() -> str:
        started.set()
        release.wait(5)
        finished.append(True)
        return "done"

    async def main() -> None:
        caller = asyncio.create_task(ModelCalls(1).run(slow))
        while not started.is_set():
            await asyncio.sleep(0.01)
        caller.cancel()
        await asyncio.sleep(0.05)
        assert not caller.done()  # still waiting for the thread, whose slot is still taken
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert finished == [True]

    asyncio.run(main())
