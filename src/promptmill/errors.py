"""The error hierarchy shared by the engine, the backends, the HTTP layer and the client.

Each class mirrors one error type of the Anthropic API, so the HTTP layer can turn any
of them into the API's error body (``promptmill.types.ErrorResponse``) with the right
status, and the Python client can raise the same classes from a response.
Callers catch at the level they care about: ``PromptmillError`` for everything,
``OverloadedError`` for upstream overload only.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar


class PromptmillError(Exception):
    """Base of every error promptmill reports; ``error_type`` and ``status`` are the wire values."""

    error_type: ClassVar[str] = "api_error"
    status: ClassVar[int] = 500
    # The ``request-id`` header of the response that carried the error (set by the client).
    request_id: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # The model calls a request had made when it failed (set by the engine), so the
        # call record counts tokens that were spent even though no answer came of them.
        self.usage: list[Any] = []


@contextmanager
def carrying_usage(usage: Sequence[Any]) -> Iterator[None]:
    """A ``PromptmillError`` raised inside leaves carrying ``usage`` as it is then."""
    try:
        yield
    except PromptmillError as exc:
        exc.usage = list(usage)
        raise


class InvalidRequestError(PromptmillError):
    error_type = "invalid_request_error"
    status = 400


class AuthenticationError(PromptmillError):
    error_type = "authentication_error"
    status = 401


class PermissionDeniedError(PromptmillError):
    error_type = "permission_error"
    status = 403


class NotFoundError(PromptmillError):
    error_type = "not_found_error"
    status = 404


class RequestTooLargeError(PromptmillError):
    error_type = "request_too_large"
    status = 413


class RateLimitError(PromptmillError):
    """Too many requests; ``retry_after`` (seconds) becomes the ``retry-after`` header."""

    error_type = "rate_limit_error"
    status = 429

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class APIError(PromptmillError):
    error_type = "api_error"
    status = 500


class OverloadedError(PromptmillError):
    """The server or its backend cannot take the call now; ``retry_after`` seconds is a hint.

    Also what an unreachable or unresponsive backend becomes: to the caller, both mean
    "try again shortly", and neither may show the backend's address.
    """

    error_type = "overloaded_error"
    status = 529

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class APIConnectionError(APIError):
    """The client could not reach the server or lost the connection (no API response at all)."""


class APITimeoutError(APIConnectionError):
    """The client gave up waiting for the server (its ``timeout`` elapsed)."""


class ConfigurationError(APIError):
    """promptmill's own settings are wrong or incomplete; ``setting`` names the one to fix.

    ``promptmill serve`` reports it and exits before it listens. It is an ``APIError`` so
    that, should it ever surface while answering a request, the caller sees the server's
    fault (500 ``api_error``), not its own.
    """

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message)
        self.setting = setting


ERROR_CLASSES: dict[str, type[PromptmillError]] = {
    cls.error_type: cls
    for cls in (
        InvalidRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RequestTooLargeError,
        RateLimitError,
        APIError,
        OverloadedError,
    )
}


def error_from_body(status: int, body: object) -> PromptmillError:
    """Rebuild the typed error from an API error response (used by the client)."""
    message = f"HTTP {status}"
    error_type = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error_type = body["error"].get("type")
        message = str(body["error"].get("message", message))
    cls = ERROR_CLASSES.get(str(error_type)) if error_type else None
    if cls is None:
        cls = next((c for c in ERROR_CLASSES.values() if c.status == status), APIError)
    return cls(message)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait per ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())
