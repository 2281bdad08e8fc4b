"""The typed Python client for the Prompt Tools API, on a promptmill server or Anthropic's.

``Client`` and ``AsyncClient`` speak exactly the public wire protocol (the same paths,
headers and bodies as ``https://api.anthropic.com``), so switching between a promptmill
server and Anthropic is a matter of ``base_url`` and key. Results come back as the
engine's pydantic models; failures as the ``promptmill.errors`` classes matching the
response's error type, so ``except RateLimitError`` means the same thing in-process and
over the network.

Transient failures (429, 529, connection errors, timeouts) are retried up to
``max_retries`` times with exponential backoff plus jitter, waiting at least what the
server asked for in ``retry-after`` (``promptmill.backoff``, the backends' rule too).

The evaluation methods (prompt versions, datasets, generated test cases, runs: promptmill
extensions under ``/v1/promptmill/``) come from ``promptmill.eval_client`` and answer the
models of ``promptmill.eval_types``; they go through the same transport.

Passing ``on_progress`` asks for Server-Sent Events with ``Accept: text/event-stream``
(a standard header, not a body field, so Anthropic's API is never sent anything
non-standard); a server that answers plain JSON instead is handled the same way.

``separate_system=True`` on ``generate_prompt``/``improve_prompt`` is promptmill's opt-in
(the ``promptmill-separate-system`` header, sent only when asked): GPT, o-series and
Gemini targets then get their instructions in ``system``. Left off, the answer has the
Anthropic API's shape (``system: ""``) on either server.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from promptmill import __version__
from promptmill.backoff import retry_wait
from promptmill.errors import (
    ERROR_CLASSES,
    APIConnectionError,
    APIError,
    APITimeoutError,
    OverloadedError,
    PromptmillError,
    RateLimitError,
    error_from_body,
    parse_retry_after,
)
from promptmill.eval_client import AsyncEvaluationMethods, EvaluationMethods
from promptmill.optimize_types import OptimizeProgress, OptimizeResult
from promptmill.protocol import (
    ANTHROPIC_VERSION,
    GENERATE_PATH,
    IMPROVE_PATH,
    OPTIMIZE_PATH,
    PROMPT_TOOLS_BETA,
    SEPARATE_SYSTEM_HEADER,
    TEMPLATIZE_PATH,
)
from promptmill.types import (
    Progress,
    ProgressCallback,
    PromptMessage,
    PromptResult,
    TemplatizeResult,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# A server's retry-after wins over the backoff when longer, up to this many seconds,
# beyond which we would rather retry on our own schedule than hang.
_MAX_RETRY_AFTER = 60.0
_RETRY_AFTER_ATTR = "_promptmill_retry_after"

MessageInput = str | PromptMessage | Mapping[str, Any]
"""One message: a plain string (a user message), a ``PromptMessage``, or a wire dict."""

_R = TypeVar("_R", bound=BaseModel)
_T = TypeVar("_T")

# The waits between retries go through these names so tests can record them instead
# of sleeping.
_sleep = time.sleep
_async_sleep = asyncio.sleep


def _resolve_api_key(api_key: str | None) -> str | None:
    # The client runs in the caller's process, not the server's, so it reads the same
    # variables the official SDK does rather than promptmill's server Settings.
    return api_key or os.environ.get("PROMPTMILL_API_KEY") or os.environ.get("ANTHROPIC_API_KEY")


def _to_message(message: MessageInput) -> dict[str, Any]:
    if isinstance(message, str):
        return PromptMessage.of("user", message).model_dump(mode="json")
    if isinstance(message, PromptMessage):
        return message.model_dump(mode="json")
    return dict(message)


def _to_messages(messages: str | Sequence[MessageInput]) -> list[dict[str, Any]]:
    """Wire messages from the convenient forms: a single string is one user message."""
    if isinstance(messages, str):
        return [_to_message(messages)]
    return [_to_message(m) for m in messages]


def _improve_body(
    messages: str | Sequence[MessageInput],
    system: str | None,
    feedback: str | None,
    target_model: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": _to_messages(messages)}
    if system is not None:
        body["system"] = system
    if feedback is not None:
        body["feedback"] = feedback
    if target_model is not None:
        body["target_model"] = target_model
    return body


def _generate_body(task: str, target_model: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"task": task}
    if target_model is not None:
        body["target_model"] = target_model
    return body


def _tool_headers(separate_system: bool) -> dict[str, str] | None:
    """The extra headers of a tool call: promptmill's opt-in, only when asked for."""
    return {SEPARATE_SYSTEM_HEADER: "true"} if separate_system else None


def _templatize_body(messages: str | Sequence[MessageInput], system: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": _to_messages(messages)}
    if system is not None:
        body["system"] = system
    return body


def _optimize_body(
    cases: Sequence[Any],
    graders: Sequence[Any],
    prompt: str | Sequence[MessageInput] | BaseModel | None,
    system: str | None,
    task: str | None,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The optimize request: the prompt in any of the client's forms, cases and graders as
    dicts (pydantic models are dumped as the wire has them), the options that were set."""
    body: dict[str, Any] = {
        "cases": [_as_dict(case) for case in cases],
        "graders": [_as_dict(grader) for grader in graders],
    }
    if prompt is not None:
        if isinstance(prompt, BaseModel):  # a PromptResult, a PromptTemplate
            dumped = prompt.model_dump(mode="json")
            body["prompt"] = {"messages": dumped["messages"], "system": dumped.get("system", "")}
        else:
            body["prompt"] = {"messages": _to_messages(prompt)}
        if system is not None:
            body["prompt"]["system"] = system
    if task is not None:
        body["task"] = task
    body.update({name: value for name, value in options.items() if value is not None})
    return body


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        dumped: dict[str, Any] = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        return dumped
    return dict(value)


def _error_from_response(status: int, headers: httpx.Headers, content: bytes) -> PromptmillError:
    try:
        body: object = json.loads(content) if content else None
    except ValueError:
        body = None
    error = error_from_body(status, body)
    if body is None and content:
        # Not an API error body (a proxy's HTML page, say): keep a readable excerpt.
        error.message = f"HTTP {status}: {content[:200].decode('utf-8', 'replace')}"
        error.args = (error.message,)
    error.request_id = headers.get("request-id")
    retry_after = parse_retry_after(headers)
    if isinstance(error, RateLimitError):
        error.retry_after = retry_after
    # Any retryable answer (a 529 too) may say when to come back; the retry loop reads it.
    error.__dict__[_RETRY_AFTER_ATTR] = retry_after
    return error


def _is_retryable(error: PromptmillError, retry_timeouts: bool = True) -> bool:
    if isinstance(error, APITimeoutError) and not retry_timeouts:
        return False
    return isinstance(error, RateLimitError | OverloadedError | APIConnectionError)


def _timeout(seconds: float | None) -> Any:
    """A request's own timeout, or the client's (``httpx.USE_CLIENT_DEFAULT``) when None."""
    return httpx.USE_CLIENT_DEFAULT if seconds is None else httpx.Timeout(seconds)


def _transport_error(exc: httpx.TransportError, url: str) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"timed out waiting for {url}")
    return APIConnectionError(f"could not reach {url}: {exc}")


def _retry_delay(attempt: int, retry_after: float | None) -> float:
    """How long to sleep before retry number ``attempt + 1`` (``attempt`` starts at 0)."""
    return retry_wait(attempt, retry_after=retry_after, max_retry_after=_MAX_RETRY_AFTER)


def _retry_after_of(error: PromptmillError) -> float | None:
    value = error.__dict__.get(_RETRY_AFTER_ATTR)
    return value if isinstance(value, float) else None


class _SSEDecoder:
    """Turns the lines of a ``text/event-stream`` body into ``(event, data)`` pairs."""

    def __init__(self) -> None:
        self._event = "message"
        self._data: list[str] = []

    def feed(self, line: str) -> tuple[str, str] | None:
        line = line.rstrip("\r")
        if not line:
            if not self._data:
                self._event = "message"
                return None
            dispatched = (self._event, "\n".join(self._data))
            self._event, self._data = "message", []
            return dispatched
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        return None

    def flush(self) -> tuple[str, str] | None:
        return self.feed("")


class _StreamOutcome:
    """Applies SSE events: reports progress, keeps the result or the error."""

    def __init__(self, status: int, headers: httpx.Headers, on_progress: ProgressCallback) -> None:
        self._status = status
        self._headers = headers
        self._on_progress = on_progress
        self.result: dict[str, Any] | None = None
        self.error: PromptmillError | None = None

    def apply(self, event: str, data: str) -> None:
        if event == "progress":
            try:
                payload = json.loads(data)
                # An optimization's events carry the calls spent and the budget too.
                model = OptimizeProgress if "budget" in payload else Progress
                progress = model.model_validate(payload)
            except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
                return
            self._on_progress(progress)
        elif event == "result":
            self.result = json.loads(data)
        elif event == "error":
            payload = json.loads(data)
            error_type = payload.get("error", {}).get("type") if isinstance(payload, dict) else None
            cls = ERROR_CLASSES.get(str(error_type), APIError)
            self.error = error_from_body(cls.status, payload)
            self.error.request_id = self._headers.get("request-id")

    def finish(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        if self.result is None:
            error = APIConnectionError("the event stream ended without a result")
            error.request_id = self._headers.get("request-id")
            raise error
        return self.result


class _ClientConfig:
    """What both clients share: where to send requests, with which headers, how long to wait."""

    def __init__(
        self, base_url: str, api_key: str | None, timeout: float, max_retries: int
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.api_key = _resolve_api_key(api_key)
        self.timeout = timeout
        self.max_retries = max_retries

    def headers(self, *, stream: bool, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {
            "anthropic-version": ANTHROPIC_VERSION,
            "anthropic-beta": PROMPT_TOOLS_BETA,
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "user-agent": f"promptmill-python/{__version__}",
        }
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return {**headers, **(extra or {})}

    def url(self, path: str) -> str:
        return self.base_url + path


class Client(EvaluationMethods):
    """A blocking client; thread-safe, reusable, and a context manager that closes its pool.

    ``api_key`` defaults to ``PROMPTMILL_API_KEY``, then ``ANTHROPIC_API_KEY``.
    ``timeout`` bounds each HTTP attempt in seconds; ``max_retries`` bounds the retries
    of transient failures.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        *,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._config = _ClientConfig(base_url, api_key, timeout, max_retries)
        self._http = http_client or httpx.Client(timeout=httpx.Timeout(timeout))
        self._owns_http = http_client is None

    @property
    def base_url(self) -> str:
        return self._config.base_url

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def generate_prompt(
        self,
        task: str,
        target_model: str | None = None,
        *,
        separate_system: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> PromptResult:
        """Write a prompt template for ``task`` (``POST /v1/experimental/generate_prompt``).

        ``separate_system=True`` asks a promptmill server for a separate system prompt
        where the target's family uses one (see the module docstring).
        """
        body = _generate_body(task, target_model)
        headers = _tool_headers(separate_system)
        return self._call(GENERATE_PATH, body, PromptResult, on_progress, headers)

    def improve_prompt(
        self,
        messages: str | Sequence[MessageInput],
        system: str | None = None,
        feedback: str | None = None,
        target_model: str | None = None,
        *,
        separate_system: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> PromptResult:
        """Improve an existing prompt, optionally following ``feedback``; for
        ``separate_system`` see ``generate_prompt``."""
        body = _improve_body(messages, system, feedback, target_model)
        headers = _tool_headers(separate_system)
        return self._call(IMPROVE_PATH, body, PromptResult, on_progress, headers)

    def templatize_prompt(
        self,
        messages: str | Sequence[MessageInput],
        system: str | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TemplatizeResult:
        """Turn the concrete values of a prompt into ``{{VARIABLES}}``."""
        body = _templatize_body(messages, system)
        return self._call(TEMPLATIZE_PATH, body, TemplatizeResult, on_progress)

    def optimize(
        self,
        cases: Sequence[Any],
        graders: Sequence[Any],
        prompt: str | Sequence[MessageInput] | BaseModel | None = None,
        *,
        system: str | None = None,
        task: str | None = None,
        target_model: str | None = None,
        budget: int | None = None,
        held_out_fraction: float | None = None,
        seed: int | None = None,
        concurrency: int | None = None,
        max_tokens: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> OptimizeResult:
        """Optimize ``prompt`` (or a prompt generated for ``task``) on labelled ``cases``
        (``POST /v1/promptmill/optimize``, a promptmill extension).

        ``cases`` are ``TestCase``s or dicts (``{"vars": {...}, "expected": ...}``),
        ``graders`` grader specs as dicts (``{"type": "exact"}``); ``prompt`` a string,
        messages, or a ``PromptResult``/``PromptTemplate``. Options left ``None`` take the
        server's defaults. ``on_progress`` receives the progress events as they stream.
        """
        body = _optimize_body(
            cases,
            graders,
            prompt,
            system,
            task,
            {
                "target_model": target_model,
                "budget": budget,
                "held_out_fraction": held_out_fraction,
                "seed": seed,
                "concurrency": concurrency,
                "max_tokens": max_tokens,
            },
        )
        return self._call(OPTIMIZE_PATH, body, OptimizeResult, on_progress)

    def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        on_progress: ProgressCallback | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """POST ``body`` to ``path`` with retries; the response's JSON exactly as it came.

        For callers that want the raw wire answer (the CLI's ``--json``); the typed
        methods above are this plus validation. ``headers`` are added to the client's own.
        """
        if on_progress is None:
            return self._send("POST", path, body=body, headers=headers)
        return self._with_retries(lambda: self._post_stream(path, dict(body), on_progress, headers))

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        retry_timeouts: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One JSON request with retries; the response's JSON as it came.

        ``timeout`` replaces the client's for this request; ``retry_timeouts=False`` for
        work a server goes on doing after the client gave up (asking again would pile up).
        """
        payload = dict(body) if body is not None else None
        return self._with_retries(
            lambda: self._request_json(method, path, payload, params, timeout, headers),
            retry_timeouts=retry_timeouts,
        )

    def _pause(self, attempt: int) -> None:
        _sleep(_retry_delay(attempt, None))

    def _with_retries(self, attempt_once: Callable[[], _T], *, retry_timeouts: bool = True) -> _T:
        attempt = 0
        while True:
            try:
                return attempt_once()
            except PromptmillError as error:
                if attempt >= self._config.max_retries or not _is_retryable(error, retry_timeouts):
                    raise
                _sleep(_retry_delay(attempt, _retry_after_of(error)))
                attempt += 1

    def _call(
        self,
        path: str,
        body: dict[str, Any],
        model: type[_R],
        on_progress: ProgressCallback | None,
        headers: Mapping[str, str] | None = None,
    ) -> _R:
        payload = self.post(path, body, on_progress=on_progress, headers=headers)
        return _validate_result(model, payload)

    def _request_json(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: Mapping[str, Any] | None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        url = self._config.url(path)
        try:
            response = self._http.request(
                method,
                url,
                json=body,
                params=params,
                headers=self._config.headers(stream=False, extra=headers),
                timeout=_timeout(timeout),
            )
        except httpx.TransportError as exc:
            raise _transport_error(exc, url) from exc
        if response.status_code >= 400:
            raise _error_from_response(response.status_code, response.headers, response.content)
        return _json_of(response.status_code, response.headers, response.content)

    def _post_stream(
        self,
        path: str,
        body: dict[str, Any],
        on_progress: ProgressCallback,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Any:
        url = self._config.url(path)
        headers = self._config.headers(stream=True, extra=extra_headers)
        try:
            with self._http.stream("POST", url, json=body, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from_response(
                        response.status_code, response.headers, response.content
                    )
                if not _is_event_stream(response):
                    response.read()
                    return _json_of(response.status_code, response.headers, response.content)
                return _consume_events(response, response.iter_lines(), on_progress)
        except httpx.TransportError as exc:
            raise _transport_error(exc, url) from exc

    def _events(self, path: str) -> Iterator[tuple[str, str]]:
        """GET ``path`` as Server-Sent Events: ``(event, data)`` pairs until the stream ends.

        An error answer raises before the first event; a dropped connection raises
        ``APIConnectionError`` (the caller decides whether to reconnect).
        """
        url = self._config.url(path)
        try:
            with self._http.stream(
                "GET", url, headers=self._config.headers(stream=True)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from_response(
                        response.status_code, response.headers, response.content
                    )
                if not _is_event_stream(response):
                    raise _not_an_event_stream(response)
                decoder = _SSEDecoder()
                for line in response.iter_lines():
                    event = decoder.feed(line)
                    if event is not None:
                        yield event
                last = decoder.flush()
                if last is not None:
                    yield last
        except httpx.TransportError as exc:
            raise _transport_error(exc, url) from exc


class AsyncClient(AsyncEvaluationMethods):
    """The asyncio twin of ``Client``: same arguments, same methods, awaitable."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        *,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._config = _ClientConfig(base_url, api_key, timeout, max_retries)
        self._http = http_client or httpx.AsyncClient(timeout=httpx.Timeout(timeout))
        self._owns_http = http_client is None

    @property
    def base_url(self) -> str:
        return self._config.base_url

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def generate_prompt(
        self,
        task: str,
        target_model: str | None = None,
        *,
        separate_system: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> PromptResult:
        """Write a prompt template for ``task`` (``POST /v1/experimental/generate_prompt``).

        ``separate_system=True`` asks a promptmill server for a separate system prompt
        where the target's family uses one (see the module docstring).
        """
        body = _generate_body(task, target_model)
        headers = _tool_headers(separate_system)
        return await self._call(GENERATE_PATH, body, PromptResult, on_progress, headers)

    async def improve_prompt(
        self,
        messages: str | Sequence[MessageInput],
        system: str | None = None,
        feedback: str | None = None,
        target_model: str | None = None,
        *,
        separate_system: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> PromptResult:
        """Improve an existing prompt, optionally following ``feedback``; for
        ``separate_system`` see ``generate_prompt``."""
        body = _improve_body(messages, system, feedback, target_model)
        headers = _tool_headers(separate_system)
        return await self._call(IMPROVE_PATH, body, PromptResult, on_progress, headers)

    async def templatize_prompt(
        self,
        messages: str | Sequence[MessageInput],
        system: str | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TemplatizeResult:
        """Turn the concrete values of a prompt into ``{{VARIABLES}}``."""
        body = _templatize_body(messages, system)
        return await self._call(TEMPLATIZE_PATH, body, TemplatizeResult, on_progress)

    async def optimize(
        self,
        cases: Sequence[Any],
        graders: Sequence[Any],
        prompt: str | Sequence[MessageInput] | BaseModel | None = None,
        *,
        system: str | None = None,
        task: str | None = None,
        target_model: str | None = None,
        budget: int | None = None,
        held_out_fraction: float | None = None,
        seed: int | None = None,
        concurrency: int | None = None,
        max_tokens: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> OptimizeResult:
        """Optimize ``prompt`` (or a prompt generated for ``task``) on labelled ``cases``
        (``POST /v1/promptmill/optimize``, a promptmill extension).

        ``cases`` are ``TestCase``s or dicts (``{"vars": {...}, "expected": ...}``),
        ``graders`` grader specs as dicts (``{"type": "exact"}``); ``prompt`` a string,
        messages, or a ``PromptResult``/``PromptTemplate``. Options left ``None`` take the
        server's defaults. ``on_progress`` receives the progress events as they stream.
        """
        body = _optimize_body(
            cases,
            graders,
            prompt,
            system,
            task,
            {
                "target_model": target_model,
                "budget": budget,
                "held_out_fraction": held_out_fraction,
                "seed": seed,
                "concurrency": concurrency,
                "max_tokens": max_tokens,
            },
        )
        return await self._call(OPTIMIZE_PATH, body, OptimizeResult, on_progress)

    async def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        on_progress: ProgressCallback | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """POST ``body`` to ``path`` with retries; the response's JSON exactly as it came."""
        if on_progress is None:
            return await self._send("POST", path, body=body, headers=headers)
        return await self._with_retries(
            lambda: self._post_stream(path, dict(body), on_progress, headers)
        )

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        retry_timeouts: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One JSON request with retries; the response's JSON as it came."""
        payload = dict(body) if body is not None else None
        return await self._with_retries(
            lambda: self._request_json(method, path, payload, params, timeout, headers),
            retry_timeouts=retry_timeouts,
        )

    async def _pause(self, attempt: int) -> None:
        await _async_sleep(_retry_delay(attempt, None))

    async def _with_retries(
        self, attempt_once: Callable[[], Awaitable[_T]], *, retry_timeouts: bool = True
    ) -> _T:
        attempt = 0
        while True:
            try:
                return await attempt_once()
            except PromptmillError as error:
                if attempt >= self._config.max_retries or not _is_retryable(error, retry_timeouts):
                    raise
                await _async_sleep(_retry_delay(attempt, _retry_after_of(error)))
                attempt += 1

    async def _call(
        self,
        path: str,
        body: dict[str, Any],
        model: type[_R],
        on_progress: ProgressCallback | None,
        headers: Mapping[str, str] | None = None,
    ) -> _R:
        payload = await self.post(path, body, on_progress=on_progress, headers=headers)
        return _validate_result(model, payload)

    async def _request_json(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: Mapping[str, Any] | None,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        url = self._config.url(path)
        try:
            response = await self._http.request(
                method,
                url,
                json=body,
                params=params,
                headers=self._config.headers(stream=False, extra=headers),
                timeout=_timeout(timeout),
            )
        except httpx.TransportError as exc:
            raise _transport_error(exc, url) from exc
        if response.status_code >= 400:
            raise _error_from_response(response.status_code, response.headers, response.content)
        return _json_of(response.status_code, response.headers, response.content)

    async def _post_stream(
        self,
        path: str,
        body: dict[str, Any],
        on_progress: ProgressCallback,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Any:
        url = self._config.url(path)
        headers = self._config.headers(stream=True, extra=extra_headers)
        try:
            async with self._http.stream("POST", url, json=body, headers=headers) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _error_from_response(
                        response.status_code, response.headers, response.content
                    )
                if not _is_event_stream(response):
                    await response.aread()
                    return _json_of(response.status_code, response.headers, response.content)
                outcome = _StreamOutcome(response.status_code, response.headers, on_progress)
                decoder = _SSEDecoder()
                async for line in response.aiter_lines():
                    event = decoder.feed(line)
                    if event is not None:
                        outcome.apply(*event)
                last = decoder.flush()
                if last is not None:
                    outcome.apply(*last)
                return outcome.finish()
        except httpx.TransportError as exc:
            raise _transport_error(exc, url) from exc

    async def _events(self, path: str) -> AsyncIterator[tuple[str, str]]:
        """The asyncio twin of ``Client._events``."""
        url = self._config.url(path)
        try:
            async with self._http.stream(
                "GET", url, headers=self._config.headers(stream=True)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _error_from_response(
                        response.status_code, response.headers, response.content
                    )
                if not _is_event_stream(response):
                    raise _not_an_event_stream(response)
                decoder = _SSEDecoder()
                async for line in response.aiter_lines():
                    event = decoder.feed(line)
                    if event is not None:
                        yield event
                last = decoder.flush()
                if last is not None:
                    yield last
        except httpx.TransportError as exc:
            raise _transport_error(exc, url) from exc


def _is_event_stream(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.startswith("text/event-stream")


def _not_an_event_stream(response: httpx.Response) -> APIError:
    content_type = response.headers.get("content-type", "none")
    error = APIError(
        f"HTTP {response.status_code}: not an event stream (content-type {content_type})"
    )
    error.request_id = response.headers.get("request-id")
    return error


def _consume_events(
    response: httpx.Response, lines: Iterator[str], on_progress: ProgressCallback
) -> dict[str, Any]:
    outcome = _StreamOutcome(response.status_code, response.headers, on_progress)
    decoder = _SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            outcome.apply(*event)
    last = decoder.flush()
    if last is not None:
        outcome.apply(*last)
    return outcome.finish()


def _json_of(status: int, headers: httpx.Headers, content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError as exc:
        error = APIError(f"HTTP {status}: the response is not JSON")
        error.request_id = headers.get("request-id")
        raise error from exc


def _validate_result(model: type[_R], payload: Any) -> _R:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise APIError(f"the response does not match {model.__name__}: {exc}") from exc
