"""The three Prompt Tools endpoints and ``GET /``: parse, check, call the engine, answer.

Every tool call goes through the same steps, in this order, so a client always learns
about the most fundamental problem first:

1. ``x-api-key`` (401 ``authentication_error``): checked against the store on every
   request, no cache, so a revoked key fails at once. From here on the call is recorded.
   ``Authorization: Bearer <key>`` is accepted too, because recent official SDKs send the
   key that way; ``x-api-key`` wins when both are present.
2. ``anthropic-version``: optional (missing is accepted, as the official clients always
   send one); a value that is not a ``YYYY-MM-DD`` date is a 400 naming the header.
   Any well-formed date is accepted.
3. ``anthropic-beta``: ``prompt-tools-2025-04-02`` must be among the betas (comma
   separated and/or repeated headers). Without it the answer is what the Anthropic API
   gives a request that lacks a required beta: 400 ``invalid_request_error``, whose
   message names the exact header to add. Other betas are ignored.
4. The per-key rate limit (429 ``rate_limit_error`` with ``retry-after``).
5. The body: JSON object, then the pydantic model, then the message-order rule; any
   problem is a 400 whose message starts with the field path.
6. The engine, in a worker thread. Its errors keep their type and status (529 for an
   overloaded backend).

The body is parsed by hand rather than by FastAPI's body parameter so that steps 1-4
come before it, and so the raw request can be recorded. The request models still
document ``/openapi.json`` through ``openapi_extra``.

Streaming (a promptmill extension): ``"stream": true`` in the body, or an ``Accept``
header listing ``text/event-stream`` when the body says nothing about ``stream``,
turns a call into Server-Sent Events once steps 1-5 passed: ``event: progress`` per
pipeline step, then one ``event: result`` whose data is exactly the non-streaming
JSON body, or one ``event: error`` whose data is the error body. Failures in steps
1-5 are answered as ordinary JSON errors with their HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from promptmill import __version__
from promptmill.api.error_responses import invalid_request_from
from promptmill.api.middleware import request_id_of
from promptmill.api.rate_limit import SlidingWindowRateLimiter
from promptmill.api.schemas import (
    ErrorResponse,
    GeneratePromptRequest,
    ImprovePromptRequest,
    PromptResponse,
    ServiceInfo,
    TemplatizePromptRequest,
    TemplatizeResponse,
    check_message_order,
)
from promptmill.engine.types import Progress, ProgressCallback, PromptResult, TemplatizeResult
from promptmill.errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    PromptmillError,
)

if TYPE_CHECKING:
    from promptmill.engine import PromptEngine
    from promptmill.store import ApiKeyInfo, Store

logger = logging.getLogger("promptmill.api")

PROMPT_TOOLS_BETA = "prompt-tools-2025-04-02"
_VERSION_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class AppState:
    """What the routes share; ``engine`` and ``store`` are filled in by the lifespan."""

    rate_limiter: SlidingWindowRateLimiter
    engine: PromptEngine | None = None
    store: Store | None = None
    # Streaming jobs keep running (and get recorded) even if their client goes away.
    background: set[asyncio.Task[None]] = field(default_factory=set)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.promptmill
    return state


# --- header checks --------------------------------------------------------------


def check_anthropic_version(value: str | None) -> None:
    """Missing is fine; otherwise it must be a real ``YYYY-MM-DD`` date."""
    if value is None:
        return
    candidate = value.strip()
    valid = bool(_VERSION_FORMAT.match(candidate))
    if valid:
        try:
            date.fromisoformat(candidate)
        except ValueError:
            valid = False
    if not valid:
        raise InvalidRequestError(
            f"anthropic-version: header value {value[:40]!r} is not a date in YYYY-MM-DD "
            "form; send for example 'anthropic-version: 2023-06-01'"
        )


def beta_names(header_values: list[str]) -> set[str]:
    """All betas from repeated and comma-separated ``anthropic-beta`` headers, spaces stripped."""
    return {name.strip() for value in header_values for name in value.split(",") if name.strip()}


def check_prompt_tools_beta(header_values: list[str]) -> None:
    if PROMPT_TOOLS_BETA not in beta_names(header_values):
        raise InvalidRequestError(
            "the prompt tools API is in beta: add the header "
            f"'anthropic-beta: {PROMPT_TOOLS_BETA}' to use this endpoint"
        )


def wants_event_stream(accept: str | None) -> bool:
    if not accept:
        return False
    return any(
        part.split(";", 1)[0].strip().lower() == "text/event-stream" for part in accept.split(",")
    )


# --- the tool calls -------------------------------------------------------------


@dataclass(frozen=True)
class _Tool:
    """One endpoint: its name (as recorded), request model and how it calls the engine."""

    endpoint: str
    request_model: type[BaseModel]
    run: Callable[[PromptEngine, Any, ProgressCallback | None], PromptResult]


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


_GENERATE = _Tool("generate_prompt", GeneratePromptRequest, _run_generate)
_IMPROVE = _Tool("improve_prompt", ImprovePromptRequest, _run_improve)
_TEMPLATIZE = _Tool("templatize_prompt", TemplatizePromptRequest, _run_templatize)


def result_body(result: PromptResult) -> dict[str, Any]:
    """The response JSON, keys in the spec's order (``variable_values`` last)."""
    body: dict[str, Any] = {
        "messages": [message.model_dump(mode="json") for message in result.messages],
        "system": result.system,
        "usage": [usage.model_dump(mode="json") for usage in result.usage],
    }
    if isinstance(result, TemplatizeResult):
        body["variable_values"] = dict(result.variable_values)
    return body


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


class _CallRecorder:
    """Collects what a call did and writes one ``CallRecord``; never raises."""

    def __init__(self, state: AppState, key: ApiKeyInfo, endpoint: str, request_id: str) -> None:
        self.state = state
        self.key = key
        self.endpoint = endpoint
        self.request_id = request_id
        self.started = time.perf_counter()
        self.request_json: dict[str, Any] = {}

    async def record(
        self,
        *,
        status: int,
        error_type: str | None = None,
        response: dict[str, Any] | None = None,
    ) -> None:
        from promptmill.store import CallRecord

        engine = self.state.engine
        target_model = self.request_json.get("target_model")
        record = CallRecord(
            id=self.request_id or None,
            key_id=self.key.id,
            workspace=self.key.workspace,
            endpoint=self.endpoint,
            target_model=target_model if isinstance(target_model, str) else None,
            backend=engine.backend.name if engine else "",
            model=engine.backend.model if engine else "",
            usage=list(response["usage"]) if response else [],
            latency_ms=(time.perf_counter() - self.started) * 1000.0,
            status=status,
            error_type=error_type,
            request=self.request_json,
            response=response,
        )
        store = self.state.store
        if store is None:
            return
        try:
            await anyio.to_thread.run_sync(store.record_call, record)
        except Exception:
            logger.exception(
                "could not record %s call %s; the response is unaffected",
                self.endpoint,
                self.request_id,
            )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it holds."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def authenticate_key(
    state: AppState, api_key: str | None, authorization: str | None
) -> ApiKeyInfo:
    """The key of a request (``x-api-key`` or a Bearer token), checked on every call.

    No cache, so a revoked key fails at once; shared by every authenticated route.
    """
    api_key = api_key or bearer_token(authorization)
    if not api_key:
        raise AuthenticationError("x-api-key header is required")
    store = state.store
    if store is None:
        raise APIError("the key store is not ready")
    key = await anyio.to_thread.run_sync(store.authenticate, api_key)
    if key is None:
        raise AuthenticationError("invalid x-api-key")
    return key


async def _serve_tool_call(
    request: Request,
    tool: _Tool,
    api_key: str | None,
    authorization: str | None,
    version: str | None,
    betas: list[str] | None,
    accept: str | None,
) -> Response:
    state = app_state(request)
    key = await authenticate_key(state, api_key, authorization)
    recorder = _CallRecorder(state, key, tool.endpoint, request_id_of(request.scope))
    try:
        check_anthropic_version(version)
        check_prompt_tools_beta(betas or [])
        state.rate_limiter.check(key.id)
        recorder.request_json = parse_json_object(await request.body())
        try:
            params = tool.request_model.model_validate(recorder.request_json)
        except ValidationError as exc:
            raise invalid_request_from(exc) from None
        messages = getattr(params, "messages", None)
        if messages is not None:
            check_message_order(messages)
        engine = state.engine
        if engine is None:
            raise APIError("the engine is not ready")
        stream = getattr(params, "stream", None)
        if stream is True or (stream is None and wants_event_stream(accept)):
            return _event_stream(state, tool, engine, params, recorder)
        result = await anyio.to_thread.run_sync(partial(tool.run, engine, params, None))
        body = result_body(result)
    except PromptmillError as exc:
        await recorder.record(status=exc.status, error_type=exc.error_type)
        raise
    except Exception:
        await recorder.record(status=500, error_type="api_error")
        raise
    await recorder.record(status=200, response=body)
    return JSONResponse(body)


# --- streaming ------------------------------------------------------------------


def sse_event(name: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event; ``data`` is compact JSON on a single line."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n"


@dataclass(frozen=True)
class _Finished:
    event: str
    data: dict[str, Any]


def _event_stream(
    state: AppState, tool: _Tool, engine: PromptEngine, params: Any, recorder: _CallRecorder
) -> StreamingResponse:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Progress | _Finished] = asyncio.Queue()

    def on_progress(progress: Progress) -> None:
        # Called in the engine's worker thread: hand the event to the event loop.
        loop.call_soon_threadsafe(queue.put_nowait, progress)

    async def run_and_record() -> None:
        try:
            result = await anyio.to_thread.run_sync(partial(tool.run, engine, params, on_progress))
            body = result_body(result)
        except PromptmillError as exc:
            await recorder.record(status=exc.status, error_type=exc.error_type)
            queue.put_nowait(_Finished("error", exc.to_body()))
            return
        except Exception:
            logger.exception("unhandled error in streamed %s call", tool.endpoint)
            await recorder.record(status=500, error_type="api_error")
            error = APIError(
                f"internal server error; quote request-id {recorder.request_id} when reporting"
            )
            queue.put_nowait(_Finished("error", error.to_body()))
            return
        await recorder.record(status=200, response=body)
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
            yield sse_event(
                "progress",
                {
                    "type": "progress",
                    "stage": item.stage,
                    "message": item.message,
                    "attempt": item.attempt,
                },
            )

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


# --- the routes -----------------------------------------------------------------

ApiKeyHeader = Annotated[
    str | None,
    Header(
        alias="x-api-key",
        description="Your promptmill API key (`promptmill keys create`). Required.",
    ),
]
AuthorizationHeader = Annotated[
    str | None,
    Header(
        alias="authorization",
        description="`Bearer <key>`: an alternative to x-api-key, as recent official SDKs send it.",
    ),
]
VersionHeader = Annotated[
    str | None,
    Header(
        alias="anthropic-version",
        description="API version date, e.g. `2023-06-01`. Optional; a malformed value is a 400.",
    ),
]
BetaHeader = Annotated[
    list[str] | None,
    Header(
        alias="anthropic-beta",
        description=f"Must include `{PROMPT_TOOLS_BETA}`. Comma-separated (`beta1,beta2`) or "
        "the header repeated once per beta.",
    ),
]
AcceptHeader = Annotated[
    str | None,
    Header(
        alias="accept",
        description="`text/event-stream` asks for the streaming variant (promptmill extension).",
    ),
]

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "invalid_request_error: a malformed header or body; the message names the field.",
        401: "authentication_error: missing, unknown or revoked x-api-key.",
        413: "request_too_large: the body exceeds PROMPTMILL_MAX_BODY_BYTES.",
        429: "rate_limit_error: too many requests for this key; see `retry-after`.",
        500: "api_error: an unexpected error.",
        529: "overloaded_error: the model backend is overloaded.",
    }.items()
}

_STREAM_CONTENT = {
    "text/event-stream": {
        "schema": {
            "type": "string",
            "description": "`progress` events, then one `result` (the JSON body above) or "
            "`error` event.",
        }
    }
}


def _request_body(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


router = APIRouter()


@router.get("/", response_model=ServiceInfo, summary="Service status", tags=["service"])
async def service_info(request: Request) -> ServiceInfo:
    """Name, version, backend and model of this server; needs no key."""
    engine = app_state(request).engine
    return ServiceInfo(
        version=__version__,
        backend=engine.backend.name if engine else "",
        model=engine.backend.model if engine else "",
    )


# Health checkers often probe with HEAD; same answer, not worth an OpenAPI entry.
router.add_api_route("/", service_info, methods=["HEAD"], include_in_schema=False)


@router.post(
    "/v1/experimental/generate_prompt",
    summary="Generate a prompt",
    description="Write a prompt for a task. Returns `messages` ready for the Messages API "
    "(one user message with the whole prompt, optionally an assistant prefill), `system` "
    '(`""`) and `usage`, a list with one entry per model call. Template variables are '
    "written `{{UPPER_SNAKE_CASE}}`.",
    response_model=PromptResponse,
    responses={200: {"content": _STREAM_CONTENT}, **_ERROR_RESPONSES},
    openapi_extra=_request_body(GeneratePromptRequest),
    tags=["prompt tools"],
)
async def generate_prompt(
    request: Request,
    x_api_key: ApiKeyHeader = None,
    authorization: AuthorizationHeader = None,
    anthropic_version: VersionHeader = None,
    anthropic_beta: BetaHeader = None,
    accept: AcceptHeader = None,
) -> Response:
    return await _serve_tool_call(
        request, _GENERATE, x_api_key, authorization, anthropic_version, anthropic_beta, accept
    )


@router.post(
    "/v1/experimental/improve_prompt",
    summary="Improve a prompt",
    description="Improve an existing prompt, following `feedback` when given, general best "
    "practice otherwise. Returns the improved prompt as `messages` (a user message and, "
    "typically, an assistant prefill), `system` and `usage`. Variables present in the input "
    "(`{{food}}`) survive the improvement.",
    response_model=PromptResponse,
    responses={200: {"content": _STREAM_CONTENT}, **_ERROR_RESPONSES},
    openapi_extra=_request_body(ImprovePromptRequest),
    tags=["prompt tools"],
)
async def improve_prompt(
    request: Request,
    x_api_key: ApiKeyHeader = None,
    authorization: AuthorizationHeader = None,
    anthropic_version: VersionHeader = None,
    anthropic_beta: BetaHeader = None,
    accept: AcceptHeader = None,
) -> Response:
    return await _serve_tool_call(
        request, _IMPROVE, x_api_key, authorization, anthropic_version, anthropic_beta, accept
    )


@router.post(
    "/v1/experimental/templatize_prompt",
    summary="Templatize a prompt",
    description="Turn the concrete values of a prompt into `{{UPPER_SNAKE_CASE}}` variables, "
    "in the messages and in the system prompt. `variable_values` maps each variable to the "
    "text it replaced, so substituting them back gives the input prompt character for "
    'character; `system` is `""` when none was sent.',
    response_model=TemplatizeResponse,
    responses={200: {"content": _STREAM_CONTENT}, **_ERROR_RESPONSES},
    openapi_extra=_request_body(TemplatizePromptRequest),
    tags=["prompt tools"],
)
async def templatize_prompt(
    request: Request,
    x_api_key: ApiKeyHeader = None,
    authorization: AuthorizationHeader = None,
    anthropic_version: VersionHeader = None,
    anthropic_beta: BetaHeader = None,
    accept: AcceptHeader = None,
) -> Response:
    return await _serve_tool_call(
        request, _TEMPLATIZE, x_api_key, authorization, anthropic_version, anthropic_beta, accept
    )


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    GeneratePromptRequest,
    ImprovePromptRequest,
    TemplatizePromptRequest,
)
