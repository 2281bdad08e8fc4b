"""The three Prompt Tools endpoints: check, parse, call the engine, answer.

Every tool call goes through the same steps, in this order, so a client always learns
about the most fundamental problem first:

1. The key (``auth.authenticate_key``, 401). From here on the call is recorded
   (``recording``).
2. ``anthropic-version``, then ``anthropic-beta`` (``auth``, 400).
3. The per-key rate limit (429 ``rate_limit_error`` with ``retry-after``).
4. The body: JSON object, then the request model (``schemas``), whose last check is the
   message-order rule; any problem is a 400 whose message starts with the field path.
5. The engine, in a worker thread. Its errors keep their type and status (529 for an
   overloaded backend). The answer is the engine's result, serialized by the route's
   ``response_model``, or its Server-Sent Events (``streaming``).

The body is parsed by hand rather than by FastAPI's body parameter so that steps 1-3
come before it, and so the raw request can be recorded. The request models still
document ``/openapi.json`` through ``openapi_extra``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from promptmill.api.auth import (
    ApiKeyHeader,
    AuthorizationHeader,
    BetaHeader,
    VersionHeader,
    authenticate_key,
    check_anthropic_version,
    check_prompt_tools_beta,
)
from promptmill.api.error_responses import invalid_request_from
from promptmill.api.middleware import request_id_of
from promptmill.api.openapi import ERROR_RESPONSES, request_body
from promptmill.api.recording import CallRecorder
from promptmill.api.schemas import (
    GeneratePromptRequest,
    ImprovePromptRequest,
    TemplatizePromptRequest,
)
from promptmill.api.state import app_state
from promptmill.api.streaming import (
    STREAM_CONTENT,
    AcceptHeader,
    event_stream,
    wants_event_stream,
)
from promptmill.errors import APIError, InvalidRequestError, PromptmillError
from promptmill.protocol import GENERATE_PATH, IMPROVE_PATH, TEMPLATIZE_PATH
from promptmill.types import ProgressCallback, PromptResult, TemplatizeResult

if TYPE_CHECKING:
    from promptmill.engine import PromptEngine


@dataclass(frozen=True)
class Tool:
    """One endpoint: its name (as recorded), request model and how it calls the engine.

    ``run`` returns the response model; ``optimize`` (a promptmill extension) is served
    through the same steps with its own ``Tool``.
    """

    endpoint: str
    request_model: type[BaseModel]
    run: Callable[[PromptEngine, Any, ProgressCallback | None], BaseModel]


def _run_generate(
    engine: PromptEngine, params: GeneratePromptRequest, on_progress: ProgressCallback | None
) -> PromptResult:
    return engine.generate(params.task, params.target_model, on_progress=on_progress)


def _run_improve(
    engine: PromptEngine, params: ImprovePromptRequest, on_progress: ProgressCallback | None
) -> PromptResult:
    return engine.improve(
        [message.to_prompt_message() for message in params.messages],
        params.system,
        params.feedback,
        params.target_model,
        on_progress=on_progress,
    )


def _run_templatize(
    engine: PromptEngine,
    params: TemplatizePromptRequest,
    on_progress: ProgressCallback | None,
) -> PromptResult:
    return engine.templatize(
        [message.to_prompt_message() for message in params.messages],
        params.system,
        on_progress=on_progress,
    )


_GENERATE = Tool("generate_prompt", GeneratePromptRequest, _run_generate)
_IMPROVE = Tool("improve_prompt", ImprovePromptRequest, _run_improve)
_TEMPLATIZE = Tool("templatize_prompt", TemplatizePromptRequest, _run_templatize)

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    GeneratePromptRequest,
    ImprovePromptRequest,
    TemplatizePromptRequest,
)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise InvalidRequestError("request body is empty; send a JSON object")
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        kind = "an array" if isinstance(payload, list) else type(payload).__name__
        raise InvalidRequestError(f"request body must be a JSON object, got {kind}")
    return payload


async def serve_tool_call(
    request: Request,
    tool: Tool,
    api_key: str | None,
    authorization: str | None,
    version: str | None,
    betas: list[str] | None,
    accept: str | None,
) -> BaseModel | Response:
    """The steps of the module docstring for ``tool``; its result or its event stream."""
    state = app_state(request)
    key = await authenticate_key(state, api_key, authorization)
    recorder = CallRecorder(state, key, tool.endpoint, request_id_of(request.scope))
    try:
        check_anthropic_version(version)
        check_prompt_tools_beta(betas or [])
        state.rate_limiter.check(key.id)
        recorder.request_json = parse_json_object(await request.body())
        try:
            params = tool.request_model.model_validate(recorder.request_json)
        except ValidationError as exc:
            raise invalid_request_from(exc) from None
        engine = state.engine
        if engine is None:
            raise APIError("the engine is not ready")
        stream = getattr(params, "stream", None)
        if stream is True or (stream is None and wants_event_stream(accept)):
            return event_stream(state, partial(tool.run, engine, params), recorder)
        result = await anyio.to_thread.run_sync(partial(tool.run, engine, params, None))
    except PromptmillError as exc:
        await recorder.record(status=exc.status, error_type=exc.error_type)
        raise
    except Exception:
        await recorder.record(status=500, error_type="api_error")
        raise
    await recorder.record(status=200, response=result.model_dump(mode="json"))
    return result


_TOOL_ROUTE: dict[str, Any] = {
    "responses": {200: {"content": STREAM_CONTENT}, **ERROR_RESPONSES},
    "tags": ["prompt tools"],
}

router = APIRouter()


@router.post(
    GENERATE_PATH,
    summary="Generate a prompt",
    description="Write a prompt for a task. Returns `messages` ready for the Messages API "
    "(one user message with the whole prompt, optionally an assistant prefill), `system` "
    '(`""`) and `usage`, a list with one entry per model call. Template variables are '
    "written `{{UPPER_SNAKE_CASE}}`.",
    response_model=PromptResult,
    openapi_extra=request_body(GeneratePromptRequest),
    **_TOOL_ROUTE,
)
async def generate_prompt(
    request: Request,
    x_api_key: ApiKeyHeader = None,
    authorization: AuthorizationHeader = None,
    anthropic_version: VersionHeader = None,
    anthropic_beta: BetaHeader = None,
    accept: AcceptHeader = None,
) -> BaseModel | Response:
    return await serve_tool_call(
        request, _GENERATE, x_api_key, authorization, anthropic_version, anthropic_beta, accept
    )


@router.post(
    IMPROVE_PATH,
    summary="Improve a prompt",
    description="Improve an existing prompt, following `feedback` when given, general best "
    "practice otherwise. Returns the improved prompt as `messages` (a user message and, "
    "typically, an assistant prefill), `system` and `usage`. Variables present in the input "
    "(`{{food}}`) survive the improvement.",
    response_model=PromptResult,
    openapi_extra=request_body(ImprovePromptRequest),
    **_TOOL_ROUTE,
)
async def improve_prompt(
    request: Request,
    x_api_key: ApiKeyHeader = None,
    authorization: AuthorizationHeader = None,
    anthropic_version: VersionHeader = None,
    anthropic_beta: BetaHeader = None,
    accept: AcceptHeader = None,
) -> BaseModel | Response:
    return await serve_tool_call(
        request, _IMPROVE, x_api_key, authorization, anthropic_version, anthropic_beta, accept
    )


@router.post(
    TEMPLATIZE_PATH,
    summary="Templatize a prompt",
    description="Turn the concrete values of a prompt into `{{UPPER_SNAKE_CASE}}` variables, "
    "in the messages and in the system prompt. `variable_values` maps each variable to the "
    "text it replaced, so substituting them back gives the input prompt character for "
    'character; `system` is `""` when none was sent.',
    response_model=TemplatizeResult,
    openapi_extra=request_body(TemplatizePromptRequest),
    **_TOOL_ROUTE,
)
async def templatize_prompt(
    request: Request,
    x_api_key: ApiKeyHeader = None,
    authorization: AuthorizationHeader = None,
    anthropic_version: VersionHeader = None,
    anthropic_beta: BetaHeader = None,
    accept: AcceptHeader = None,
) -> BaseModel | Response:
    return await serve_tool_call(
        request, _TEMPLATIZE, x_api_key, authorization, anthropic_version, anthropic_beta, accept
    )
