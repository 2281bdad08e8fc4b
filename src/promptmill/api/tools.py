"""The three Prompt Tools endpoints: check, parse, call the engine, answer.

Every tool call goes through the same steps, in this order, so a client always learns
about the most fundamental problem first:

1. The key (``auth.authenticate_key``, 401; 429 for an address that has failed too
   many key checks). From here on the call is recorded (``recording``).
2. ``anthropic-version``, then ``anthropic-beta``, then, on generate and improve,
   ``promptmill-separate-system`` (``auth``, 400).
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
   status (529 for an overloaded or unreachable backend). A successful answer is
   recorded in the same thread, before it goes out (one trip off the event loop per
   call, not two). The answer is the engine's result, serialized once in that thread
   (the route's ``response_model`` documents it), or its Server-Sent Events
   (``streaming``). Remote backends are called here too, through their blocking SDK
   clients: awaiting ``PromptEngine.generate_async`` on the event loop instead was
   measured (bench/overhead, same machine and load, one after the other) at the same
   cost with one client and 16% more CPU per request with 16, so the server keeps one
   path.

The body is parsed by hand rather than by FastAPI's body parameter so that steps 1-2
come before it, and so the raw request can be recorded; the headers are read from the
request rather than declared as parameters, which FastAPI would inspect on every call.
The request models and headers still document ``/openapi.json`` through
``openapi_extra`` (``tool_route_openapi``). A client that goes away while
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
    SeparateSystemHeader,
    VersionHeader,
    authenticate_key,
    check_anthropic_version,
    check_prompt_tools_beta,
    separate_system_requested,
)
from promptmill.api.error_responses import invalid_request_from
from promptmill.api.json_body import parse_json_object
from promptmill.api.middleware import request_id_of
from promptmill.api.openapi import ERROR_RESPONSES, header_parameters, request_body
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
from promptmill.optimize_types import OptimizeResult
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


ToolAnswer = PromptResult | OptimizeResult
"""What a tool answers: a validated model that carries its calls' ``usage``."""


@dataclass(frozen=True)
class Tool:
    """One endpoint: its name (as recorded), request model and how it calls the engine.

    ``run`` returns the response model; ``optimize`` (a promptmill extension) is served
    through the same steps with its own ``Tool``. A tool that ``separates_system`` (generate,
    improve) reads ``promptmill-separate-system`` and gets it as ``run``'s keyword
    ``separate_system``.
    """

    endpoint: str
    request_model: type[BaseModel]
    run: Callable[..., ToolAnswer]
    separates_system: bool = False


def _run_generate(
    engine: PromptEngine,
    params: GeneratePromptRequest,
    on_progress: ProgressCallback | None,
    *,
    separate_system: bool = False,
) -> PromptResult:
    return engine.generate(
        params.task,
        params.target_model,
        separate_system=separate_system,
        on_progress=on_progress,
    )


def _run_improve(
    engine: PromptEngine,
    params: ImprovePromptRequest,
    on_progress: ProgressCallback | None,
    *,
    separate_system: bool = False,
) -> PromptResult:
    return engine.improve(
        [message.to_prompt_message() for message in params.messages],
        params.system,
        params.feedback,
        params.target_model,
        separate_system=separate_system,
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


_GENERATE = Tool("generate_prompt", GeneratePromptRequest, _run_generate, separates_system=True)
_IMPROVE = Tool("improve_prompt", ImprovePromptRequest, _run_improve, separates_system=True)
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


TOOL_HEADERS = header_parameters(
    ApiKeyHeader, AuthorizationHeader, VersionHeader, BetaHeader, AcceptHeader
)
"""The headers every tool route reads (from the request: no per-request parameter work)."""

SEPARATING_TOOL_HEADERS = [*TOOL_HEADERS, *header_parameters(SeparateSystemHeader)]
"""``TOOL_HEADERS`` and ``promptmill-separate-system``: what generate and improve read."""


def tool_route_openapi(model: type[BaseModel], *, separates_system: bool = False) -> dict[str, Any]:
    """``openapi_extra`` of a tool route: its body ``model`` and the headers it reads."""
    headers = SEPARATING_TOOL_HEADERS if separates_system else TOOL_HEADERS
    return {**request_body(model), "parameters": headers}


async def serve_tool_call(request: Request, tool: Tool) -> Response:
    """The steps of the module docstring for ``tool``; its result or its event stream.

    The headers are read here rather than declared as route parameters: FastAPI would
    inspect each declared header's type on every request, a large share of the event
    loop's time per call. ``TOOL_HEADERS`` documents them. ``promptmill-separate-system``
    is read only by a tool that ``separates_system``.
    """
    headers = request.headers
    state = app_state(request)
    key = await authenticate_key(request, headers.get("x-api-key"), headers.get("authorization"))
    recorder = CallRecorder(state, key, tool.endpoint, request_id_of(request.scope))
    try:
        check_anthropic_version(headers.get("anthropic-version"))
        check_prompt_tools_beta(headers.getlist("anthropic-beta"))
        run: Callable[..., ToolAnswer] = tool.run
        if tool.separates_system:
            requested = separate_system_requested(headers.get("promptmill-separate-system"))
            run = partial(tool.run, separate_system=requested)
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
        if stream is True or (stream is None and wants_event_stream(headers.get("accept"))):
            return event_stream(state, partial(run, engine, params), recorder)
        try:
            answer = partial(_answer_and_record, run, engine, params, recorder)
            return await model_calls.run(answer)
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
        await recorder.record(status=exc.status, error_type=exc.error_type, usage=exc.usage)
        raise
    except Exception:
        await recorder.record(status=500, error_type="api_error")
        raise


def _answer_and_record(
    run: Callable[..., ToolAnswer], engine: PromptEngine, params: BaseModel, recorder: CallRecorder
) -> Response:
    """Run the tool, record its answer and make the response, all in the calling model-pool thread.

    The answer is a model the engine has already validated, so it is serialized once,
    here, for both the record and the body, rather than validated again and serialized
    twice by FastAPI's ``response_model`` (which still documents it). The engine's errors
    propagate unrecorded: ``serve_tool_call`` records them.
    """
    result = run(engine, params, None)
    body = result.model_dump_json()
    recorder.record_answer_blocking(body, result.usage)
    return Response(body, media_type="application/json")


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
    "written `{{UPPER_SNAKE_CASE}}`. The shape is the Anthropic API's whatever the target; "
    "only the opt-in header `promptmill-separate-system: true` moves the instructions to "
    "`system`, for GPT, o-series and Gemini targets.",
    response_model=PromptResult,
    openapi_extra=tool_route_openapi(GeneratePromptRequest, separates_system=True),
    **_TOOL_ROUTE,
)
async def generate_prompt(request: Request) -> BaseModel | Response:
    return await serve_tool_call(request, _GENERATE)


@router.post(
    IMPROVE_PATH,
    summary="Improve a prompt",
    description="Improve an existing prompt, following `feedback` when given, general best "
    "practice otherwise. Returns the improved prompt as `messages` (a user message and, "
    'typically, an assistant prefill), `system` (`""`) and `usage`. Variables present in '
    "the input (`{{food}}`) survive the improvement. As for generate_prompt, only "
    "`promptmill-separate-system: true` returns a separate `system` prompt (GPT, o-series "
    "and Gemini targets).",
    response_model=PromptResult,
    openapi_extra=tool_route_openapi(ImprovePromptRequest, separates_system=True),
    **_TOOL_ROUTE,
)
async def improve_prompt(request: Request) -> BaseModel | Response:
    return await serve_tool_call(request, _IMPROVE)


@router.post(
    TEMPLATIZE_PATH,
    summary="Templatize a prompt",
    description="Turn the concrete values of a prompt into `{{UPPER_SNAKE_CASE}}` variables, "
    "in the messages and in the system prompt. `variable_values` maps each variable to the "
    "text it replaced, so substituting them back gives the input prompt character for "
    'character; `system` is `""` when none was sent.',
    response_model=TemplatizeResult,
    openapi_extra=tool_route_openapi(TemplatizePromptRequest),
    **_TOOL_ROUTE,
)
async def templatize_prompt(request: Request) -> BaseModel | Response:
    return await serve_tool_call(request, _TEMPLATIZE)
