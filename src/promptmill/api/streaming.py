"""The streaming variant of a tool call (a promptmill extension), as Server-Sent Events.

``"stream": true`` in the body, or an ``Accept`` header listing ``text/event-stream``
when the body says nothing about ``stream``, turns a call into Server-Sent Events once
its headers, key, rate limit and body passed: ``event: progress`` per pipeline step
(data: ``promptmill.types.Progress``), then one ``event: result`` whose data is exactly
the non-streaming JSON body, or one ``event: error`` whose data is the error body.
The engine keeps running, and its call is recorded, even if the client goes away, and
even if the server is then told to stop: shutdown waits for such jobs
(``finish_streams``), which the request deadline bounds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

import anyio
from fastapi import Header
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from promptmill.api.error_responses import error_body
from promptmill.api.recording import CallRecorder
from promptmill.api.state import AppState
from promptmill.errors import APIError, PromptmillError
from promptmill.types import Progress, ProgressCallback

logger = logging.getLogger("promptmill.api")

SHUTDOWN_GRACE_SECONDS = 5.0

AcceptHeader = Annotated[
    str | None,
    Header(
        alias="accept",
        description="`text/event-stream` asks for the streaming variant (promptmill extension).",
    ),
]

STREAM_CONTENT = {
    "text/event-stream": {
        "schema": {
            "description": "One Server-Sent Event: `progress` events, then one `result` "
            "event (its data is the JSON answer) or one `error` event (its data is the "
            "error body). Each `data` is one compact JSON document on one line.",
        }
    }
}
"""The OpenAPI ``content`` entry of a streamed 200 answer; ``openapi`` adds each event's
data schema from the route's JSON answer."""


def wants_event_stream(accept: str | None) -> bool:
    if not accept:
        return False
    return any(
        part.split(";", 1)[0].strip().lower() == "text/event-stream" for part in accept.split(",")
    )


def sse_event(name: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event; ``data`` is compact JSON on a single line."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n"


@dataclass(frozen=True)
class _Finished:
    event: str
    data: dict[str, Any]


def event_stream(
    state: AppState,
    run: Callable[[ProgressCallback], BaseModel],
    recorder: CallRecorder,
) -> StreamingResponse:
    """Run ``run(on_progress)`` in the model pool and stream its progress and outcome.

    The caller has admitted the call (``ModelCalls.admit``); its slot is released when
    the job ends, whether or not the client is still there.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Progress | _Finished] = asyncio.Queue()

    def on_progress(progress: Progress) -> None:
        # Called in the engine's worker thread: hand the event to the event loop.
        loop.call_soon_threadsafe(queue.put_nowait, progress)

    async def run_and_record() -> None:
        try:
            await run_to_the_end()
        finally:
            state.capacity.model_calls.release()

    async def run_to_the_end() -> None:
        try:
            result = await state.capacity.model_calls.run(partial(run, on_progress))
            body = result.model_dump(mode="json")
        except PromptmillError as exc:
            await recorder.record(status=exc.status, error_type=exc.error_type, usage=exc.usage)
            queue.put_nowait(_Finished("error", error_body(exc)))
            return
        except Exception:
            logger.exception("unhandled error in streamed %s call", recorder.endpoint)
            await recorder.record(status=500, error_type="api_error")
            error = APIError(
                f"internal server error; quote request-id {recorder.request_id} when reporting"
            )
            queue.put_nowait(_Finished("error", error_body(error)))
            return
        await recorder.record(status=200, response=body, usage=getattr(result, "usage", None))
        queue.put_nowait(_Finished("result", body))

    job = loop.create_task(run_and_record())
    state.background.add(job)
    job.add_done_callback(state.background.discard)

    async def events() -> AsyncIterator[str]:
        while True:
            item = await queue.get()
            if isinstance(item, _Finished):
                yield sse_event(item.event, item.data)
                return
            yield sse_event("progress", item.model_dump(mode="json"))

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


async def finish_streams(state: AppState, timeout: float) -> None:
    """Wait for the streaming jobs still running (each bounded by ``timeout``), so they record.

    Called at shutdown. The grace adds a few seconds to the deadline for the record's
    write; a job still running after that is left to be cancelled with the loop.
    """
    jobs = set(state.background)
    if not jobs:
        return
    logger.info("waiting for %d streamed call(s) to finish and be recorded", len(jobs))
    with anyio.move_on_after(timeout + SHUTDOWN_GRACE_SECONDS):
        await asyncio.gather(*jobs, return_exceptions=True)
