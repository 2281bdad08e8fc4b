"""The OpenAI backend: OpenAI, or any OpenAI-compatible server, through the ``openai`` SDK.

Besides api.openai.com this drives the servers people self-host (Ollama, vLLM,
llama.cpp's server, LM Studio) by setting ``PROMPTMILL_OPENAI_BASE_URL``; those
need no real key, so a dummy one is sent.

A JSON schema is requested with ``response_format`` ``json_schema``. Many
compatible servers reject that with a 400 (or 422), so the backend steps down to
``json_object`` and then to plain text, spelling the schema out in the system
message, and remembers the first mode the server accepted for the rest of its
life.

The SDK's own retries are off; ``faults.retrying`` retries instead, so the
request's deadline bounds every attempt and every wait. ``chat`` sends the call
through the SDK's blocking HTTP client, as ``create`` would send it (``_create``),
``achat`` through its asynchronous client (an event loop); both drive the same
``_exchange``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import httpx2
import openai
import pydantic
from openai import RequestOptions
from openai.types.chat import ChatCompletion

from promptmill.backends.base import ChatReply, ChatRequest
from promptmill.backends.faults import (
    UNAVAILABLE_RETRY_AFTER,
    Exchange,
    Fault,
    connection_fault,
    drive,
    drive_async,
    retrying,
    status_fault,
    timeout_fault,
    unexpected_fault,
    upstream_message,
)
from promptmill.errors import APIError, OverloadedError, parse_retry_after

if TYPE_CHECKING:
    from promptmill.config import Settings

DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_SETTING = "PROMPTMILL_OPENAI_API_KEY (or OPENAI_API_KEY)"
# Local servers ignore the key, but the SDK insists on one.
DUMMY_API_KEY = "not-needed"
SCHEMA_INSTRUCTION = (
    "Reply with a single JSON object and nothing else (no prose, no code fence). "
    "It must be valid against this JSON schema:\n{schema}"
)

SchemaMode = Literal["json_schema", "json_object", "text"]
_SCHEMA_MODES: tuple[SchemaMode, ...] = ("json_schema", "json_object", "text")
# Statuses with which compatible servers refuse a response_format they do not support.
_FORMAT_REJECTION_STATUSES = frozenset({400, 422})


class _ResponseFormatRejected(APIError):
    """The server refused the request while a ``response_format`` was set; try a weaker one."""


class OpenAIBackend:
    """Chats with an OpenAI(-compatible) model; raises only ``promptmill.errors`` types."""

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str | None = None,
        max_retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.model = model
        self.base_url = base_url or DEFAULT_BASE_URL
        self.max_retries = max_retries
        self._backoff = backoff
        self._sleep = sleep
        self._async_sleep = async_sleep
        # OpenAI's newer models refuse ``max_tokens``; compatible servers may not know
        # ``max_completion_tokens`` yet.
        self._max_tokens_field = "max_tokens" if base_url else "max_completion_tokens"
        # The SDK's own HTTP client, made here so the blocking calls can post through it
        # (``_create``); the SDK client drives it for everything else.
        self._http = openai.DefaultHttpxClient()
        self._client = openai.OpenAI(
            api_key=api_key, base_url=self.base_url, max_retries=0, http_client=self._http
        )
        self._completions_url = str(self._client.base_url).rstrip("/") + _COMPLETIONS_PATH
        self._headers = _sdk_headers(self._client)
        # The server's event loop calls through this one (``achat``); it makes no
        # connection until first used.
        self._async_client = openai.AsyncOpenAI(
            api_key=api_key, base_url=self.base_url, max_retries=0
        )
        self._lock = threading.Lock()
        self._schema_mode: SchemaMode = "json_schema"

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIBackend:
        """Called by ``make_backend``, which has checked that a key or a base URL is set.

        A server at a base URL of one's own (Ollama, vLLM...) needs no key: a dummy is sent.
        """
        return cls(
            api_key=settings.openai_api_key or DUMMY_API_KEY,
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            max_retries=settings.max_retries,
        )

    @property
    def schema_mode(self) -> SchemaMode:
        """How JSON schemas are currently requested from this server."""
        return self._schema_mode

    def chat(self, request: ChatRequest) -> ChatReply:
        return drive(self._exchange(request), self._create, self._sleep)

    async def achat(self, request: ChatRequest) -> ChatReply:
        """``chat`` on the caller's event loop, through the SDK's asynchronous client."""
        return await drive_async(self._exchange(request), self._acreate, self._async_sleep)

    def _create(self, *, timeout: float, **params: Any) -> ChatCompletion:
        """``chat.completions.create(**params)``: the same request, a fraction of the CPU.

        Every tool call of the server comes through here, so the request is sent as
        ``create`` would send it, but without the SDK's layers around its HTTP client:
        the body is the SDK's JSON of ``params`` (``create``'s ``maybe_transform`` walk
        changes nothing in what ``_params`` builds), the headers are the SDK client's own
        (``_sdk_headers``, read once) with ``create``'s per-call ones, posted through the
        SDK's HTTP client (``openai.DefaultHttpxClient``, its pool and defaults); its
        failures become the SDK's exceptions, as ``create`` raises them. The reply is
        parsed by pydantic (``_completion``) rather than built field by field.

        The SDK's request pipeline (options models copied per call, headers merged and
        checked twice, URL joins, its authentication and response wrappers) cost about
        0.35 ms per call, 14% of the server's CPU per generate_prompt at 16 clients
        (A/B of the server, 2.63 -> 2.27 ms, 4 alternating rounds); ``post(...,
        cast_to=bytes)`` before it, and ``create`` before that, a further 0.5 ms.
        ``tests/backends`` checks that body and headers match ``create``'s.
        """
        request = self._http.build_request(
            "POST",
            self._completions_url,
            content=_json_body(params),
            headers={**self._headers, "X-Stainless-Read-Timeout": str(float(timeout))},
            timeout=timeout,
        )
        try:
            response = self._http.send(request)
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=request) from exc
        except Exception as exc:  # as the SDK: anything else is a connection failure
            raise openai.APIConnectionError(request=request) from exc
        if response.status_code >= 400:
            # The SDK's own exception for the status (RateLimitError for a 429...), with
            # its message and parsed body: what ``create`` raises.
            raise self._client._make_status_error_from_response(response)
        return _completion(response.content)

    async def _acreate(self, *, timeout: float, **params: Any) -> ChatCompletion:
        """``chat.completions.create(**params)`` through the asynchronous client's ``post``.

        Not on the server's path (its tool calls run in model threads, ``_create``):
        ``post`` is the SDK's documented way to send a body as it is, which skips
        ``create``'s ``maybe_transform`` walk over every message and the schema.
        """
        content = await self._async_client.post(
            _COMPLETIONS_PATH, body=params, cast_to=bytes, options=_options(timeout)
        )
        return _completion(content)

    def _exchange(self, request: ChatRequest) -> Exchange[ChatReply]:
        """The call, its retries and the steps down the schema modes, for either driver."""
        if request.json_schema is None:
            return self._reply((yield from self._attempts(request, None, "text")))
        deadline = time.monotonic() + request.timeout
        first_rejection: _ResponseFormatRejected | None = None
        start = _SCHEMA_MODES.index(self._schema_mode)
        for mode in _SCHEMA_MODES[start:]:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                completion = yield from self._attempts(request, left, mode)
            except _ResponseFormatRejected as rejection:
                first_rejection = first_rejection or rejection
                continue
            if mode != _SCHEMA_MODES[start]:
                self._remember(mode)
            return self._reply(completion)
        if first_rejection is not None:
            raise APIError(first_rejection.message) from first_rejection
        raise OverloadedError(
            f"the {self.name} backend did not answer within the request's "
            f"{request.timeout:.1f}s deadline; retry later",
            retry_after=UNAVAILABLE_RETRY_AFTER,
        )

    def _remember(self, mode: SchemaMode) -> None:
        with self._lock:
            if _SCHEMA_MODES.index(mode) > _SCHEMA_MODES.index(self._schema_mode):
                self._schema_mode = mode

    def _attempts(
        self, request: ChatRequest, timeout: float | None, mode: SchemaMode
    ) -> Exchange[ChatCompletion]:
        constrained = request.json_schema is not None and mode != "text"

        def classify(exc: Exception, seconds: float) -> Fault:
            fault = self._classify(exc, seconds)
            if (
                constrained
                and isinstance(exc, openai.APIStatusError)
                and exc.status_code in _FORMAT_REJECTION_STATUSES
            ):
                return Fault(_ResponseFormatRejected(fault.error.message), retryable=False)
            return fault

        completion: ChatCompletion = yield from retrying(
            self._params(request, mode),
            classify,
            timeout=request.timeout if timeout is None else timeout,
            max_retries=self.max_retries,
            backoff=self._backoff,
        )
        return completion

    def _params(self, request: ChatRequest, mode: SchemaMode) -> dict[str, Any]:
        """The chat-completions arguments for ``request`` with schema ``mode``."""
        system = request.system
        schema = request.json_schema
        if schema is not None and mode != "json_schema":
            instruction = SCHEMA_INSTRUCTION.format(schema=json.dumps(schema, indent=1))
            system = f"{system}\n\n{instruction}" if system else instruction
        messages: list[dict[str, str]] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.extend({"role": turn.role, "content": turn.text} for turn in request.turns)
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": messages,
            "temperature": request.temperature,
            self._max_tokens_field: request.max_tokens,
        }
        if schema is not None and mode == "json_schema":
            strict = _strict_schema(schema)
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(schema),
                    "schema": strict if strict is not None else schema,
                    "strict": strict is not None,
                },
            }
        elif schema is not None and mode == "json_object":
            params["response_format"] = {"type": "json_object"}
        return params

    def _reply(self, completion: ChatCompletion) -> ChatReply:
        if not completion.choices:
            raise APIError(f"the {self.name} backend returned no choices")
        choice = completion.choices[0]
        if choice.message.content is None and choice.message.refusal:
            raise APIError(f"the {self.name} backend's model refused: {choice.message.refusal}")
        usage = completion.usage
        details = usage.prompt_tokens_details if usage else None
        # OpenAI's ``prompt_tokens`` include the cached ones.
        cached = details.cached_tokens if details else None
        return ChatReply(
            text=choice.message.content or "",
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
            reused_input_tokens=cached,
            evaluated_input_tokens=usage.prompt_tokens - cached
            if usage and cached is not None
            else None,
        )

    def _classify(self, exc: Exception, seconds: float) -> Fault:
        if isinstance(exc, openai.APITimeoutError):
            return timeout_fault(self.name, seconds)
        if isinstance(exc, openai.APIConnectionError):
            return connection_fault(self.name, self.base_url, exc)
        if isinstance(exc, openai.APIStatusError):
            return status_fault(
                self.name,
                exc.status_code,
                upstream_message(exc.body, str(exc)),
                retry_after=parse_retry_after(exc.response.headers),
                key_setting=KEY_SETTING,
            )
        return unexpected_fault(self.name, exc)


_COMPLETIONS_PATH = "/chat/completions"


def _sdk_headers(client: openai.OpenAI) -> dict[str, str]:
    """The headers the SDK client sends with every request, its key and retry count included.

    Read once: they depend only on how the client was made (key, organization, project,
    the platform), and the key is a plain string here, never refreshed.
    """
    headers = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}
    headers.update(client.auth_headers)
    headers["X-Stainless-Retry-Count"] = "0"  # the SDK's retries are off; ``faults`` retries
    return headers


def _json_body(params: dict[str, Any]) -> bytes:
    """``params`` as the SDK serializes a request body (``openapi_dumps``, httpx's defaults)."""
    return json.dumps(params, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _options(timeout: float) -> RequestOptions:
    """The options ``chat.completions.create`` sends: the key as a bearer token, ``timeout``."""
    return {"timeout": timeout, "security": {"bearer_auth": True}}


def _completion(content: bytes) -> ChatCompletion:
    """The reply body as a ``ChatCompletion``, as leniently as the SDK's ``create`` reads it.

    Validated by pydantic when it fits the model; a compatible server's reply that does
    not (a field OpenAI always sends left out, a ``finish_reason`` of its own) is built
    without validation, as ``create`` builds every reply. A body that is not JSON raises.
    """
    try:
        return ChatCompletion.model_validate_json(content)
    except pydantic.ValidationError:
        return ChatCompletion.model_construct(**json.loads(content))


def _schema_name(schema: dict[str, Any]) -> str:
    """A ``json_schema.name`` (``^[a-zA-Z0-9_-]{1,64}$``) from the schema's title."""
    title = str(schema.get("title") or "response")
    return re.sub(r"[^a-zA-Z0-9_-]", "_", title)[:64] or "response"


def _strict_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    """``schema`` fit for OpenAI's strict mode, or None when it cannot be without changing it.

    Strict mode needs every object to list all its properties as required and to
    forbid others. Adding ``additionalProperties: false`` keeps every instance the
    caller expects valid; an optional property cannot be made required, so such a
    schema is sent non-strict.

    The engine sends the same few schema objects again and again (``plan_schema`` is
    built once per list of inputs), so the answer is kept per object, and otherwise per
    schema keyed by its JSON (key order kept, as it orders the model's output); turning
    the plan schema into JSON cost as much as the rest of the call's preparation. What
    is returned is shared and only ever read.
    """
    kept = _STRICT_BY_OBJECT.get(id(schema))
    if kept is not None and kept[0] is schema:
        return kept[1]
    strict = _strict_schema_of(json.dumps(schema))
    if len(_STRICT_BY_OBJECT) >= _STRICT_KEPT:
        _STRICT_BY_OBJECT.clear()
    # The schema is kept alive with its answer, so its id cannot name another object.
    _STRICT_BY_OBJECT[id(schema)] = (schema, strict)
    return strict


_STRICT_KEPT = 64
_STRICT_BY_OBJECT: dict[int, tuple[dict[str, Any], dict[str, Any] | None]] = {}


@functools.lru_cache(maxsize=64)
def _strict_schema_of(schema_json: str) -> dict[str, Any] | None:
    result = json.loads(schema_json)
    return result if _make_strict(result) else None


def _make_strict(node: Any) -> bool:
    if isinstance(node, list):
        return all(_make_strict(item) for item in node)
    if not isinstance(node, dict):
        return True
    is_object = node.get("type") == "object" or "properties" in node
    if is_object:
        properties = node.get("properties") or {}
        if set(node.get("required") or []) != set(properties):
            return False
        if node.get("additionalProperties", False) is not False:
            return False
        node["additionalProperties"] = False
    for key in ("properties", "$defs", "definitions"):
        children = node.get(key)
        if isinstance(children, dict) and not all(_make_strict(v) for v in children.values()):
            return False
    return all(
        _make_strict(node[key])
        for key in ("items", "anyOf", "oneOf", "allOf", "prefixItems")
        if key in node
    )
