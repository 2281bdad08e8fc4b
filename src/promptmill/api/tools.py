"""The three Prompt Tools endpoints: check, parse, call the engine, answer.

Every tool call goes through the same steps, in this order, so a client always learns
about the most fundamental problem first:

1. The key (``auth.authenticate_key``, 401; 429 for an address that has failed too
   many key checks). From here on the call is recorded (``recording``).
2. ``anthropic-version``, then ``anthropic-beta`` (``auth``, 400).
3. The body: JSON object (``json_body``: valid Unicode, finite numbers, bounded
   depth), then the request model (``schemas``), whose last check is the
   message-order rule; any problem is a 400 whose message starts with the field path.
4. The per-key rate limit (``rate_limit``; 429 ``rate_limit_error`` with
   ``retry-after``), shared by every server process. It comes after the body so that
   only well-formed requests use up the quota: a request that could never be served
   costs its sender nothing, and a client over its quota still learns what is wrong
   with a malformed request first.
5. Admission (``capacity``): beyond ``PROMPTMILL_MAX_INFLIGHT_MODEL_CALLS`` calls in
   flight, 529 ``overloaded_error`` with ``retry-after`` at once.
6. The engine, in the model pool's worker threads. Its errors keep their type and
   status (529 for an overloaded or unreachable backend). The answer is the engine's
   result, serialized by the route's ``response_model``, or its Server-Sent Events
   (``streaming``).

The body is parsed by hand rather than by FastAPI's body parameter so that steps 1-2
come before it, and so the raw request can be recorded. The request models still
document ``/openapi.json`` through ``openapi_extra``. A client that goes away while
sending the body is logged in one line and recorded with ``CLIENT_CLOSED_REQUEST``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from promptmill.api import history
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
from promptmill.api.json_body import parse_json_object
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
from promptmill.errors import APIError, PromptmillError
from promptmill.protocol import GENERATE_PATH, IMPROVE_PATH, TEMPLATIZE_PATH
from promptmill.types import ProgressCallback, PromptResult, TemplatizeResult

if TYPE_CHECKING:
    from promptmill.engine import PromptEngine


logger = logging.getLogger("promptmill.api")

CLIENT_CLOSED_REQUEST = 499
"""The status recorded for a call whose client went away before its body arrived.

nginx's "client closed request": the call counts as a failed call in the history and
usage, not as a server error, since the server did nothing wrong, and no tokens were used.
"""


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


async def _read_body(request: Request) -> tuple[str | bytes, int]:
    """The body decoded once, and its size: at most two copies alive, none kept by Starlette.

    ``request.body()`` would hold the chunks and their join, and keep the bytes for the
    request's life; JSON parsing then adds the decoded text and the parsed strings.
    Bytes that are not UTF-8 are handed on as bytes, for the parser's error message.
    """
    buffer = bytearray()
    async for chunk in request.stream():
        buffer += chunk
    size = len(buffer)
    try:
        return buffer.decode("utf-8"), size
    except UnicodeDecodeError:
        return bytes(buffer), size


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
    key = await authenticate_key(request, api_key, authorization)
    recorder = CallRecorder(state, key, tool.endpoint, request_id_of(request.scope))
    try:
        check_anthropic_version(version)
        check_prompt_tools_beta(betas or [])
        text, recorder.body_bytes = await _read_body(request)
        recorder.request_json = parse_json_object(text)
        del text
        try:
            params = tool.request_model.model_validate(recorder.request_json)
        except ValidationError as exc:
            raise invalid_request_from(exc) from None
        await state.limits().count_request(key.id)
        engine = state.engine
        if engine is None:
            raise APIError("the engine is not ready")
        model_calls = state.capacity.model_calls
        model_calls.admit()
        stream = getattr(params, "stream", None)
        if stream is True or (stream is None and wants_event_stream(accept)):
            return event_stream(state, partial(tool.run, engine, params), recorder)
        try:
            result = await model_calls.run(partial(tool.run, engine, params, None))
        finally:
            model_calls.release()
    except ClientDisconnect:
        # Nobody is left to answer, and nothing failed on this side: one line, no
        # traceback, and a record that does not count as a server error.
        logger.info(
            "client went away while sending its %s request (request-id %s)",
            tool.endpoint,
            recorder.request_id,
        )
        await recorder.record(status=CLIENT_CLOSED_REQUEST)
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    except PromptmillError as exc:
        await recorder.record(status=exc.status, error_type=exc.error_type)
        raise
    except Exception:
        await recorder.record(status=500, error_type="api_error")
        raise
    await recorder.record(
        status=200, response=result.model_dump(mode="json"), usage=getattr(result, "usage", None)
    )
    return result


_TOOL_ROUTE: dict[str, Any] = {
    "responses": {
        200: {"content": STREAM_CONTENT, "links": history.LINK_TO_RECORDED_CALL},
        **ERROR_RESPONSES,
    },
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
