"""What ``/openapi.json`` says beyond what FastAPI collects from the routes by itself.

The tool routes parse their bodies by hand (see ``tools``), so FastAPI does not see
their request models: each route points at its model with ``request_body`` and
``openapi_schema`` adds the models to ``components.schemas``. The answers are
documented by the routes' ``response_model``s, errors by ``ERROR_RESPONSES``.

The routes read their headers as optional parameters (or, for the tool routes, from
the request, described by ``header_parameters``), so that the checks run in the
documented order (the key first); FastAPI would therefore document them as optional
and promise a 422 nobody ever gets. ``openapi_schema`` states the truth instead, with
rules applied to every operation under ``/v1/`` (the routers of later modules get them
without doing anything):

- the key is a security requirement (``x-api-key``, or ``Authorization: Bearer``), not
  a pair of optional headers; ``anthropic-beta``, where a route reads it, is required
  and must list the prompt tools beta; ``anthropic-version`` is a date;
  ``promptmill-separate-system``, where a route reads it, is ``true`` or ``false``;
- no 422: validation errors are 400 ``invalid_request_error``; every operation
  documents 400, 401, 413, 429 (an address over its failed key checks) and 500, and
  404 when its path has a parameter;
- every answer carries ``request-id``, every 429 ``retry-after``;
- a streamed 200 is described event by event: ``schema`` of ``text/event-stream`` is
  one event (the reading of OpenAPI 3.1 that OpenAPI 3.2 made its ``itemSchema``), its
  ``data`` a JSON text whose ``contentSchema`` depends on the event's name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from promptmill.protocol import PROMPT_TOOLS_BETA, SEPARATE_SYSTEM_HEADER, SEPARATE_SYSTEM_VALUES
from promptmill.types import ErrorResponse, Progress

DESCRIPTION = f"""\
An open, self-hosted implementation of Anthropic's experimental Prompt Tools API
(beta `{PROMPT_TOOLS_BETA}`): generate, improve and templatize prompts on any LLM.
Every endpoint under `/v1/` needs a key (`x-api-key`, or `Authorization: Bearer`); the
prompt tools also need `anthropic-beta: {PROMPT_TOOLS_BETA}`.
Errors are `{{"type": "error", "error": {{"type": ..., "message": ...}}}}`; every response
carries a `request-id` header.
"""

_ERROR_DESCRIPTIONS = {
    400: "invalid_request_error: a malformed header, query or body; the message names the field.",
    401: "authentication_error: missing, unknown or revoked key.",
    404: "not_found_error: no such resource in this workspace.",
    413: "request_too_large: the body exceeds PROMPTMILL_MAX_BODY_BYTES.",
    429: "rate_limit_error: too many requests for this key, or too many failed key checks "
    "from this address; see `retry-after`.",
    500: "api_error: an unexpected error; quote the request-id when reporting it.",
    529: "overloaded_error: the model backend is overloaded.",
}


def _error_response(status: int) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": _ERROR_DESCRIPTIONS[status]}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: _error_response(status) for status in (400, 401, 413, 429, 500, 529)
}
"""The error answers of a tool route, each documented by ``ErrorResponse``."""

_API_PREFIX = "/v1/"
# 429 too: any route that checks a key refuses an address over its failed key checks.
_COMMON_ERRORS = (400, 401, 413, 429, 500)
_KEY_HEADERS = frozenset({"x-api-key", "authorization"})
_BETA_PATTERN = rf"(^|,)\s*{re.escape(PROMPT_TOOLS_BETA)}\s*(,|$)"
_HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    # What ``auth`` accepts: a list of betas that includes ours (repeated headers are
    # joined with commas, as HTTP does), and an ISO date.
    "anthropic-beta": {"type": "string", "pattern": _BETA_PATTERN, "examples": [PROMPT_TOOLS_BETA]},
    "anthropic-version": {"type": "string", "format": "date", "examples": ["2023-06-01"]},
    SEPARATE_SYSTEM_HEADER: {"type": "string", "enum": list(SEPARATE_SYSTEM_VALUES)},
}
_REQUIRED_HEADERS = frozenset({"anthropic-beta"})
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "A promptmill API key (`promptmill keys create`).",
    },
    "Bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same key as `Authorization: Bearer <key>`, as recent official "
        "SDKs send it; `x-api-key` wins when both are present.",
    },
}
_REQUEST_ID_HEADER = {
    "description": "This request's id; quote it when reporting a problem.",
    "required": True,
    "schema": {"type": "string", "pattern": "^req_[0-9a-f]{24}$"},
}
_RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before retrying.",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body ``model`` describes."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def header_parameters(*headers: Any) -> list[dict[str, Any]]:
    """OpenAPI parameters for headers a route reads from ``request.headers`` itself.

    ``headers`` are the ``Annotated[..., Header(alias=..., description=...)]`` aliases
    other routes take as parameters (``auth.ApiKeyHeader``...), so each header is
    described once. Declared as parameters, FastAPI would inspect and validate them on
    every request; the tool routes, the hot path, read them directly instead. The rules
    of ``openapi_schema`` then apply to them as to any declared header.
    """
    parameters = []
    for header in headers:
        info = header.__metadata__[0]
        parameters.append(
            {
                "name": info.alias,
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "description": info.description,
            }
        )
    return parameters


def openapi_schema(app: FastAPI, request_models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    """FastAPI's schema plus ``request_models``, with the rules of this module applied."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    _, definitions = models_json_schema(
        [(model, "validation") for model in request_models] + [(Progress, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    components = schema.setdefault("components", {})
    models = components.setdefault("schemas", {})
    for name, definition in definitions.get("$defs", {}).items():
        models.setdefault(name, definition)
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method in _METHODS:
                _document_operation(path, operation)
    _drop_unused_validation_models(schema)
    app.openapi_schema = schema
    return schema


def _document_operation(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    if path.startswith(_API_PREFIX):
        operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
        parameters = [
            parameter
            for parameter in operation.get("parameters", [])
            if not (parameter["in"] == "header" and parameter["name"] in _KEY_HEADERS)
        ]
        for parameter in parameters:
            if parameter["in"] != "header":
                continue
            if parameter["name"] in _REQUIRED_HEADERS:
                parameter["required"] = True
            if parameter["name"] in _HEADER_SCHEMAS:
                parameter["schema"] = _HEADER_SCHEMAS[parameter["name"]]
        operation["parameters"] = parameters
        errors = list(_COMMON_ERRORS) + ([404] if "{" in path else [])
        for error_status in errors:
            responses.setdefault(str(error_status), _error_content(error_status))
    for status, response in responses.items():
        headers = response.setdefault("headers", {})
        headers["request-id"] = _REQUEST_ID_HEADER
        if status == "429":
            headers["retry-after"] = _RETRY_AFTER_HEADER
        _describe_event_stream(response)


def _error_content(status: int) -> dict[str, Any]:
    return {
        "description": _ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


def _describe_event_stream(response: dict[str, Any]) -> None:
    """Describe one event of a stream, as OpenAPI 3.1 tools read ``schema`` there.

    Each event is ``{"event": ..., "data": ...}``; ``data`` is a JSON text whose schema
    (``contentSchema``) depends on the event: ``Progress``, the route's JSON answer, or
    ``ErrorResponse``.
    """
    content = response.get("content", {})
    stream = content.get("text/event-stream")
    answer = content.get("application/json", {}).get("schema")
    if stream is None or answer is None:
        return
    data_schemas = {
        "progress": {"$ref": "#/components/schemas/Progress"},
        "result": answer,
        "error": {"$ref": "#/components/schemas/ErrorResponse"},
    }
    stream["schema"] = {
        **stream.get("schema", {}),
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"enum": list(data_schemas)},
            "data": {"type": "string", "contentMediaType": "application/json"},
        },
        "oneOf": [
            {
                "properties": {
                    "event": {"const": event},
                    "data": {"contentSchema": data_schema},
                }
            }
            for event, data_schema in data_schemas.items()
        ],
    }


def _drop_unused_validation_models(schema: dict[str, Any]) -> None:
    """FastAPI's 422 models, once no operation refers to them any more."""
    models = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        if name in models and f'"#/components/schemas/{name}"' not in json.dumps(
            {key: value for key, value in schema.items() if key != "components"}
        ):
            del models[name]
