"""What one connection may cost the server: time to send a request, and bytes held.

A client that opens a connection and then sends its request slowly, or not at all
(slowloris), would otherwise hold that connection, and a task, for ever. Three
limits close it off, each at the layer that can see it:

- **Headers** (``PROMPTMILL_HEADER_READ_TIMEOUT``): uvicorn has no header-read timeout
  of its own (its keep-alive timer stops at the first byte of a request), so the
  server runs ``HeaderTimeoutProtocol``, uvicorn's h11 protocol plus one timer: a
  connection that has not delivered a complete request head within the limit, counted
  from the connection's start or the end of its previous response, is closed. It
  also ends a client that keeps trickling the body of a request already answered.
  h11 caps an incomplete head at 16 KiB (``h11_max_incomplete_event_size``), so a
  slow head cannot grow memory either.
- **Body** (``PROMPTMILL_BODY_READ_TIMEOUT``): ``RequestBodyGuard``, ASGI middleware,
  bounds the time from the request's start to its body's last byte, while the app
  reads it; past it the answer is 408 ``invalid_request_error`` and the connection is
  closed.
- **Memory** (``PROMPTMILL_BODY_MEMORY_BYTES``): the same middleware reserves a
  request's declared body size (or each chunk's, for chunked uploads) from the
  server-wide ``BodyBudget`` before the app reads it, and returns it when the request
  is answered; a body that does not fit now is refused at once with 529
  ``overloaded_error`` and ``retry-after``, unread. uvicorn reads ahead at most
  64 KiB per connection, so refused or waiting bodies stay in the kernel.

``uvicorn_options`` gives the server these and the connection cap
(``PROMPTMILL_MAX_CONNECTIONS``, uvicorn's ``limit_concurrency``: 503 beyond it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import TYPE_CHECKING, Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from promptmill.api.capacity import BodyBudget
from promptmill.api.error_responses import error_response
from promptmill.errors import InvalidRequestError, OverloadedError, PromptmillError

if TYPE_CHECKING:
    from promptmill.config import Settings

MAX_INCOMPLETE_HEAD_BYTES = 16 * 1024


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head does not arrive in time."""

    header_timeout = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served; the body guard and deadlines bound it
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            return
        self.transport.close()


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutProtocol]:
    """``HeaderTimeoutProtocol`` with its limit set (uvicorn builds protocols itself)."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": seconds})


class EnvironmentHeaderTimeoutProtocol(HeaderTimeoutProtocol):
    """``HeaderTimeoutProtocol`` whose limit comes from the environment's settings.

    ``serve --workers N`` hands uvicorn's supervisor a config that is pickled into each
    spawned worker, so its protocol must be importable by name; each worker reads
    ``PROMPTMILL_HEADER_READ_TIMEOUT`` (which it inherits) once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = _environment_header_timeout()


@functools.cache
def _environment_header_timeout() -> float:
    from promptmill.config import Settings

    return Settings.load().header_read_timeout


def uvicorn_options(settings: Settings, *, worker_processes: bool = False) -> dict[str, Any]:
    """The ``uvicorn.Config`` options that enforce the settings' connection limits.

    ``worker_processes``: for ``serve --workers N``, whose config must pickle.
    """
    return {
        "http": EnvironmentHeaderTimeoutProtocol
        if worker_processes
        else header_timeout_protocol(settings.header_read_timeout),
        "timeout_keep_alive": settings.keep_alive_timeout,
        "limit_concurrency": settings.max_connections,
        "h11_max_incomplete_event_size": MAX_INCOMPLETE_HEAD_BYTES,
    }


class _BodyReadTimeout(InvalidRequestError):
    """Raised into the app by the guarded ``receive`` when the body is late."""

    status = 408


class _BodyBudgetSpent(OverloadedError):
    """Raised into the app by the guarded ``receive`` when a chunk does not fit the budget."""


class RequestBodyGuard:
    """Bounds each request's body: its read time, and the bytes all requests hold at once."""

    def __init__(self, app: ASGIApp, *, read_timeout: float, budget: BodyBudget) -> None:
        self.app = app
        self.read_timeout = read_timeout
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        held = 0
        if declared:
            try:
                self.budget.reserve(declared)
            except OverloadedError as exc:
                await error_response(exc)(scope, receive, send)
                return
            held = declared
        deadline = time.monotonic() + self.read_timeout
        body_done = declared == 0 or (declared is None and not _is_chunked(scope))
        failure: PromptmillError | None = None
        response_started = False

        async def guarded_receive() -> Message:
            nonlocal body_done, held, failure
            if body_done:
                return await receive()
            try:
                # asyncio's own timeout (the server's loop is asyncio): anyio's cancel
                # scope cost several times more per chunk, on every request.
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                failure = _BodyReadTimeout(
                    f"the request body did not arrive within {self.read_timeout:g} seconds"
                )
                raise failure from None
            if message["type"] == "http.request":
                if declared is None:
                    size = len(message.get("body", b""))
                    try:
                        self.budget.reserve(size)
                    except OverloadedError as exc:
                        failure = _BodyBudgetSpent(exc.message, retry_after=exc.retry_after)
                        raise failure from None
                    held += size
                body_done = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if failure is not None and not response_started:
                return  # the app's own answer to the failure; ours follows
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            with contextlib.suppress(_BodyReadTimeout, _BodyBudgetSpent):
                await self.app(scope, guarded_receive, guarded_send)
            if failure is not None and not response_started:
                # A late client gets its answer and the connection closes: whatever it
                # still sends is not worth reading.
                headers = {"connection": "close"} if isinstance(failure, _BodyReadTimeout) else {}
                await error_response(failure, headers=headers)(scope, receive, send)
        finally:
            self.budget.release(held)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return None
    return None


def _is_chunked(scope: Scope) -> bool:
    return any(
        name == b"transfer-encoding" and b"chunked" in value.lower()
        for name, value in scope.get("headers", [])
    )
