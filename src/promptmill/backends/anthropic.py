"""The Anthropic backend: Claude through the official ``anthropic`` SDK.

A JSON schema is enforced the way Anthropic recommends for structured output:
one tool whose ``input_schema`` is the schema, and ``tool_choice`` forcing the
model to call it; the tool call's ``input`` is the answer. Tool input schemas
must be objects, so any other schema is wrapped in ``{"value": ...}`` and
unwrapped on the way back.

``request.temperature`` is not sent: the API version this SDK speaks
(``anthropic-version: 2026-10-21``) refuses every sampling parameter with a 400.

The SDK's own retries are off; ``faults.retrying`` retries instead, so the
request's deadline bounds every attempt and every wait. ``chat`` runs the call
through the SDK's blocking client, ``achat`` through its asynchronous one (the
server's event loop); both drive the same ``_exchange``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anthropic

from promptmill.backends.base import ChatReply, ChatRequest
from promptmill.backends.faults import (
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
from promptmill.errors import parse_retry_after

if TYPE_CHECKING:
    from promptmill.config import Settings

DEFAULT_BASE_URL = "https://api.anthropic.com"
KEY_SETTING = "PROMPTMILL_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY)"
TOOL_NAME = "record_answer"
TOOL_DESCRIPTION = (
    "Record your complete answer. Call this tool exactly once, with the whole answer as "
    "its input, following the input schema exactly."
)
_WRAPPED_KEY = "value"


class AnthropicBackend:
    """Chats with an Anthropic model; raises only ``promptmill.errors`` types."""

    name = "anthropic"

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
        self._client = anthropic.Anthropic(api_key=api_key, base_url=self.base_url, max_retries=0)
        # The server's event loop calls through this one (``achat``); it makes no
        # connection until first used.
        self._async_client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=self.base_url, max_retries=0
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> AnthropicBackend:
        """Called by ``make_backend``, which has checked that the key is set."""
        return cls(
            api_key=settings.anthropic_api_key or "",
            model=settings.anthropic_model,
            base_url=settings.anthropic_base_url,
            max_retries=settings.max_retries,
        )

    def chat(self, request: ChatRequest) -> ChatReply:
        return drive(self._exchange(request), self._client.messages.create, self._sleep)

    async def achat(self, request: ChatRequest) -> ChatReply:
        """``chat`` on the caller's event loop, through the SDK's asynchronous client."""
        return await drive_async(
            self._exchange(request), self._async_client.messages.create, self._async_sleep
        )

    def _exchange(self, request: ChatRequest) -> Exchange[ChatReply]:
        """The call and its retries, for either driver."""
        params, wrapped = self._params(request)
        message: anthropic.types.Message = yield from retrying(
            params,
            self._classify,
            timeout=request.timeout,
            max_retries=self.max_retries,
            backoff=self._backoff,
        )
        return self._reply(message, request.json_schema is not None, wrapped)

    def _params(self, request: ChatRequest) -> tuple[dict[str, Any], bool]:
        """The Messages API arguments for ``request``, and whether the schema was wrapped."""
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": turn.role, "content": turn.text} for turn in request.turns],
        }
        if request.system:
            params["system"] = request.system
        wrapped = False
        if request.json_schema is not None:
            schema = request.json_schema
            if schema.get("type") != "object":
                schema = _wrap(schema)
                wrapped = True
            params["tools"] = [
                {"name": TOOL_NAME, "description": TOOL_DESCRIPTION, "input_schema": schema}
            ]
            params["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        return params, wrapped

    def _reply(
        self, message: anthropic.types.Message, constrained: bool, wrapped: bool
    ) -> ChatReply:
        usage = message.usage
        tool_input = next(
            (
                block.input
                for block in message.content
                if block.type == "tool_use" and block.name == TOOL_NAME
            ),
            None,
        )
        if constrained and tool_input is not None:
            value: Any = tool_input
            if wrapped and isinstance(tool_input, dict) and _WRAPPED_KEY in tool_input:
                value = tool_input[_WRAPPED_KEY]
            text = json.dumps(value, ensure_ascii=False)
        else:
            text = "".join(block.text for block in message.content if block.type == "text")
        # Anthropic's ``input_tokens`` leave out the prompt cache: reads are reused, writes
        # were evaluated like the uncached rest.
        return ChatReply(
            text=text,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            reused_input_tokens=usage.cache_read_input_tokens,
            evaluated_input_tokens=usage.input_tokens + (usage.cache_creation_input_tokens or 0),
        )

    def _classify(self, exc: Exception, seconds: float) -> Fault:
        if isinstance(exc, anthropic.APITimeoutError):
            return timeout_fault(self.name, seconds)
        if isinstance(exc, anthropic.APIConnectionError):
            return connection_fault(self.name, self.base_url, exc)
        if isinstance(exc, anthropic.APIStatusError):
            body = exc.body
            overloaded = isinstance(body, dict) and (
                (body.get("error") or {}).get("type") == "overloaded_error"
            )
            return status_fault(
                self.name,
                exc.status_code,
                upstream_message(body, str(exc)),
                retry_after=parse_retry_after(exc.response.headers),
                key_setting=KEY_SETTING,
                overloaded=overloaded,
            )
        return unexpected_fault(self.name, exc)


def _wrap(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema holding ``schema`` under one required key, for tool input.

    Definitions stay at the root so that ``#/$defs/...`` references still resolve.
    """
    definitions = ("$defs", "definitions")
    wrapper: dict[str, Any] = {
        "type": "object",
        "properties": {_WRAPPED_KEY: {k: v for k, v in schema.items() if k not in definitions}},
        "required": [_WRAPPED_KEY],
    }
    wrapper.update({k: schema[k] for k in definitions if k in schema})
    return wrapper
