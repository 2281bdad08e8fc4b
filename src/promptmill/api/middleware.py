"""Pure ASGI middleware that must see every request: security headers, request ids, the
error boundary, body size.

They are plain ASGI callables rather than ``BaseHTTPMiddleware`` so that nothing buffers
a body and streaming (SSE) responses pass through untouched.

- ``SecurityHeadersMiddleware`` is the outermost layer: every response, the last-resort
  500 included, carries ``x-content-type-options: nosniff`` and ``referrer-policy:
  no-referrer``, and a ``content-security-policy`` that allows nothing unless the route
  set its own (the playground and ``/docs`` pages do). JSON and SSE answers are never
  meant to be rendered, so a browser tricked into loading one runs nothing.
- ``RequestIdMiddleware`` is next. It gives every response, errors and
  404s included, a ``request-id`` header (``req_`` + 24 hex characters), and turns any
  exception nobody handled into a 500 ``api_error`` whose message carries no traceback;
  the traceback is logged server-side with the request id.
- ``BodySizeLimitMiddleware`` answers 413 ``request_too_large`` without reading a byte
  when ``content-length`` exceeds the limit, and for chunked bodies counts bytes as the
  app reads them, stopping at the limit; the body is never held whole here. The 413
  does not ask to close the connection: closing with unread upload bytes makes the
  kernel reset it, and a client still sending would lose the answer. The server
  discards the rest of the upload instead, then reuses the connection.
"""

from __future__ import annotations

import contextlib
import logging
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptmill.api.error_responses import error_response
from promptmill.errors import APIError, RequestTooLargeError

logger = logging.getLogger("promptmill.api")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def request_id_of(scope: Scope) -> str:
    """The id ``RequestIdMiddleware`` gave this request ("" outside of it)."""
    return str(scope.get("state", {}).get("request_id", ""))


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message)["request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception(
                "unhandled error serving %s %s (request-id %s)",
                scope.get("method"),
                scope.get("path"),
                request_id,
            )
            if started:
                raise
            response = error_response(
                APIError(f"internal server error; quote request-id {request_id} when reporting")
            )
            await response(scope, receive, send_with_id)


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
DEFAULT_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
"""The policy of every response that is not a page: load nothing, run nothing, embed nowhere."""


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if "content-security-policy" not in headers:
                    headers["content-security-policy"] = DEFAULT_CSP
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(RequestTooLargeError):
    """Raised into the app by the wrapped ``receive`` once the body passes the limit.

    A ``RequestTooLargeError`` so that routes which catch promptmill errors (to record
    the call) see it as one; the 413 itself is always sent by the middleware.
    """


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _too_large(self) -> RequestTooLargeError:
        return RequestTooLargeError(
            f"request body is larger than the limit of {self.max_body_bytes} bytes"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            response = error_response(self._too_large())
            await response(scope, receive, send)
            return

        received = 0
        exceeded = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    exceeded = True
                    raise _BodyTooLarge(self._too_large().message)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                # The app answered its own way (e.g. a 400 for a body it could not
                # read); the 413 below replaces that answer.
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if exceeded and not response_started:
            response = error_response(self._too_large())
            await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
