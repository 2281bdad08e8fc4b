"""What ``/openapi.json`` says beyond what FastAPI collects from the routes by itself.

The tool routes parse their bodies by hand (see ``tools``), so FastAPI does not see
their request models: each route points at its model with ``request_body`` and
``openapi_schema`` adds the models to ``components.schemas``. The answers are
documented by the routes' ``response_model``s, errors by ``ERROR_RESPONSES``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from promptmill.protocol import PROMPT_TOOLS_BETA
from promptmill.types import ErrorResponse

DESCRIPTION = f"""\
An open, self-hosted implementation of Anthropic's experimental Prompt Tools API
(beta `{PROMPT_TOOLS_BETA}`): generate, improve and templatize prompts on any LLM.
Every endpoint needs `x-api-key` and `anthropic-beta: {PROMPT_TOOLS_BETA}`.
Errors are `{{"type": "error", "error": {{"type": ..., "message": ...}}}}`; every response
carries a `request-id` header.
"""

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "invalid_request_error: a malformed header or body; the message names the field.",
        401: "authentication_error: missing, unknown or revoked x-api-key.",
        413: "request_too_large: the body exceeds PROMPTMILL_MAX_BODY_BYTES.",
        429: "rate_limit_error: too many requests for this key, or too many failed key checks "
        "from this address; see `retry-after`.",
        500: "api_error: an unexpected error.",
        529: "overloaded_error: the model backend is overloaded.",
    }.items()
}
"""The error answers of a tool route, each documented by ``ErrorResponse``."""


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


def openapi_schema(app: FastAPI, request_models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    """FastAPI's schema plus ``request_models``, which the routes reference by name."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    _, definitions = models_json_schema(
        [(model, "validation") for model in request_models],
        ref_template="#/components/schemas/{model}",
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in definitions.get("$defs", {}).items():
        components.setdefault(name, definition)
    app.openapi_schema = schema
    return schema
