"""Turn every failure into the API's error body, ``{"type": "error", "error": {...}}``.

One place maps each layer's exceptions: promptmill's own ``PromptmillError`` types
(auth, validation, rate limit, engine and backend faults) keep their type and status;
Starlette's routing errors become ``not_found_error`` (404; a trailing slash is named
as the reason) and, for a wrong method,
``invalid_request_error`` with status 405 and an ``allow`` header; pydantic validation
errors become one ``invalid_request_error`` whose message starts with the field path
(``messages.0.content.1.type: ...``). Unexpected exceptions are handled by
``RequestIdMiddleware``, which has the last word on every response.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from promptmill.errors import (
    ERROR_CLASSES,
    InvalidRequestError,
    NotFoundError,
    OverloadedError,
    PromptmillError,
    RateLimitError,
)
from promptmill.types import ErrorResponse

_MAX_SHOWN_INPUT = 60


def error_response(
    error: PromptmillError, *, status: int | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON response for ``error``; a rate limit or overload has an integer ``retry-after``."""
    all_headers = dict(headers or {})
    if isinstance(error, RateLimitError | OverloadedError) and error.retry_after is not None:
        all_headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
    return JSONResponse(error_body(error), status_code=status or error.status, headers=all_headers)


def error_body(error: PromptmillError) -> dict[str, Any]:
    """The API's error body for ``error``, built by the model that documents it."""
    return ErrorResponse.of(error).model_dump(mode="json")


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "messages", 0, "role")`` -> ``"messages.0.role"``."""
    parts = [str(part) for part in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts)


def _shown(value: Any) -> str | None:
    if isinstance(value, dict | list):
        return _json_kind(value)
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN_INPUT else text[: _MAX_SHOWN_INPUT - 3] + "..."


def describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """One readable message for pydantic errors: the first error's field, expectation and input.

    The first error is the one a client should fix first (fields are checked in declared
    order); the count of the others follows so nothing is hidden.
    """
    if not errors:
        return "invalid request body"
    first = errors[0]
    loc: Sequence[int | str] = first.get("loc", ())
    path = field_path(loc)
    kind = first.get("type", "")
    if not path and kind in {"model_type", "model_attributes_type", "dict_type"}:
        message = f"request body must be a JSON object, got {_json_kind(first.get('input'))}"
    else:
        message = f"{path}: {first.get('msg', 'invalid value')}" if path else first.get("msg", "")
        shown = _shown(first.get("input")) if kind != "missing" else None
        if shown is not None:
            message += f", got {shown}"
        if kind == "literal_error" and len(loc) >= 2 and loc[-1] == "type" and "content" in loc:
            message += " (only text content blocks are supported)"
    if len(errors) > 1:
        others = len(errors) - 1
        message += f" (and {others} more error{'s' if others > 1 else ''})"
    return message


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def invalid_request_from(exc: ValidationError | RequestValidationError) -> InvalidRequestError:
    return InvalidRequestError(describe_validation_errors(exc.errors()))


async def _handle_promptmill_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PromptmillError)
    return error_response(exc)


async def _handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(invalid_request_from(exc))


async def _handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        path = request.url.path
        hint = (
            f"paths take no trailing slash: {path.rstrip('/')}"
            if len(path) > 1 and path.endswith("/")
            else "the endpoints are under /v1/experimental/"
        )
        error: PromptmillError = NotFoundError(f"{request.method} {path} not found; {hint}")
    elif exc.status_code == 405:
        allowed = _allowed_methods(request) or headers.get("allow") or "POST"
        headers = {k: v for k, v in headers.items() if k.lower() != "allow"} | {"allow": allowed}
        error = InvalidRequestError(
            f"method {request.method} is not allowed for {request.url.path}; use {allowed}"
        )
    else:
        cls = next(
            (c for c in ERROR_CLASSES.values() if c.status == exc.status_code),
            InvalidRequestError if 400 <= exc.status_code < 500 else None,
        )
        detail = exc.detail if isinstance(exc.detail, str) else "request failed"
        error = (cls or ERROR_CLASSES["api_error"])(detail)
    return error_response(error, status=exc.status_code, headers=headers)


_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path, for the 405's ``allow`` header.

    Starlette answers 405 from the first route whose path matches, so a path served by
    several routes (``GET`` and ``POST /v1/promptmill/prompts``) would list only one.
    Each method is tried against the router's public ``matches``, which also sees into
    included routers.
    """
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers so no framework default error page can leak out."""
    app.add_exception_handler(PromptmillError, _handle_promptmill_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
