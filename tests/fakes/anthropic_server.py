"""A fake Anthropic Messages API server speaking the real wire protocol over loopback.

``POST /v1/messages`` with the API's request rules (``x-api-key``,
``anthropic-version`` (sampling parameters refused from ``2026-10-21`` on, as the
real API does), required ``max_tokens``, ``messages`` of user/assistant
turns, ``system``, ``stop_sequences``, ``tools`` with ``tool_choice``), its
response body (``id``, ``type: message``, ``content`` blocks, ``stop_reason``,
``usage.input_tokens``/``output_tokens``) and its error shape
(``{"type": "error", "error": {"type", "message"}}`` with 429 ``rate_limit_error``,
500 ``api_error``, 529 ``overloaded_error``, ...). Forced tool use
(``tool_choice: {"type": "tool", "name": ...}``) is answered with a ``tool_use``
block whose ``input`` is valid against the tool's ``input_schema``.

    with FakeAnthropicServer() as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="test")

Run as a process: ``python -m tests.fakes.anthropic_server --port 0``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.http_server import (
    FakeServer,
    ScriptedReply,
    count_tokens,
    default_text_reply,
    embedded_schema,
    run_as_process,
)
from tests.fakes.schema_instance import build_instance

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
# From this API version on, the Messages API refuses sampling parameters.
SAMPLING_REMOVED_IN = "2026-10-21"
_DEFAULT_MESSAGES = {
    401: "invalid x-api-key",
    429: "Number of request tokens has exceeded your per-minute rate limit",
    500: "Internal server error",
    529: "Overloaded",
}


def error_response(
    status: int, message: str | None = None, *, retry_after: float | None = None
) -> JSONResponse:
    """Anthropic's error body and status, with ``retry-after`` when given."""
    error_type = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    body = {
        "type": "error",
        "error": {
            "type": error_type,
            "message": message or _DEFAULT_MESSAGES.get(status, error_type),
        },
    }
    headers = {"request-id": f"req_{uuid.uuid4().hex}"}
    if retry_after is not None:
        headers["retry-after"] = (
            str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        )
    return JSONResponse(body, status_code=status, headers=headers)


def _blocks_text(content: Any) -> str:
    """The text of ``content``: a string or a list of content blocks."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_use":
                parts.append(json.dumps(block.get("input")))
            elif block.get("type") == "tool_result":
                parts.append(_blocks_text(block.get("content")))
    return "".join(parts)


class FakeAnthropicServer(FakeServer):
    """A scripted, cooperative stand-in for ``api.anthropic.com``'s Messages API."""

    cache_read_input_tokens = 0
    """What every answer reports as read from Anthropic's prompt cache."""

    def build_app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    async def _messages(self, request: Request) -> JSONResponse:
        await self.hold_while_hung()
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error_response(400, "There was an issue with the JSON body of your request.")
        if not isinstance(body, dict):
            return error_response(400, "The request body must be a JSON object.")
        self.record(body, dict(request.headers))
        key = request.headers.get("x-api-key")
        if not key:
            bearer = request.headers.get("authorization", "")
            key = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        if not key:
            return error_response(401, "x-api-key header is required")
        if self.api_key is not None and key != self.api_key:
            return error_response(401)
        if not request.headers.get("anthropic-version"):
            return error_response(400, "anthropic-version: header is required")
        problem = self._validate(body, request.headers["anthropic-version"])
        if problem is not None:
            return error_response(400, problem)
        reply = self.next_reply()
        if reply.delay:
            await self.wait(reply.delay)
        if reply.kind == "error":
            return error_response(reply.status, reply.message, retry_after=reply.retry_after)
        return JSONResponse(self._message(body, reply))

    @staticmethod
    def _validate(body: dict[str, Any], version: str) -> str | None:
        """The API's own message for an invalid request, or None."""
        if version >= SAMPLING_REMOVED_IN:
            for name in ("temperature", "top_p", "top_k"):
                if name in body:
                    return f"{name}: Extra inputs are not permitted"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model: Field required"
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            return "max_tokens: Field required"
        if max_tokens < 1:
            return "max_tokens: must be greater than or equal to 1"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
                return f"messages.{i}.role: Input should be 'user' or 'assistant'"
            content = message.get("content")
            if not isinstance(content, str | list):
                return f"messages.{i}.content: Field required"
            if isinstance(content, str) and not content and i < len(messages) - 1:
                return f"messages.{i}: all messages must have non-empty content"
        system = body.get("system")
        if system is not None and not isinstance(system, str | list):
            return "system: Input should be a valid string or list of text blocks"
        temperature = body.get("temperature")
        if temperature is not None and not 0 <= float(temperature) <= 1:
            return "temperature: Input should be less than or equal to 1"
        if body.get("stream"):
            return "stream: this fake does not stream"
        tools = body.get("tools") or []
        names = set()
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not tool.get("name"):
                return f"tools.{i}.name: Field required"
            schema = tool.get("input_schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                return f"tools.{i}.custom.input_schema.type: Input should be 'object'"
            names.add(tool["name"])
        choice = body.get("tool_choice")
        if choice is not None:
            if not tools:
                return "tool_choice may only be specified while providing tools."
            if choice.get("type") == "tool" and choice.get("name") not in names:
                return f"tool_choice.name: tool {choice.get('name')!r} not found in tools"
        return None

    def _message(self, body: dict[str, Any], reply: ScriptedReply) -> dict[str, Any]:
        messages: list[dict[str, Any]] = body["messages"]
        system = _blocks_text(body.get("system") or "")
        tools: list[dict[str, Any]] = body.get("tools") or []
        sent = system + "\n" + "\n".join(_blocks_text(m["content"]) for m in messages)
        sent += "".join(json.dumps(t) for t in tools)
        last_user = next(
            (_blocks_text(m["content"]) for m in reversed(messages) if m["role"] == "user"), ""
        )
        forced = self._forced_tool(body)
        content: list[dict[str, Any]]
        stop_sequence = None
        if forced is not None and reply.kind in ("default", "json"):
            value = (
                reply.payload
                if reply.kind == "json"
                else build_instance(forced["input_schema"], last_user)
            )
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{uuid.uuid4().hex[:24]}",
                    "name": forced["name"],
                    "input": value,
                }
            ]
            stop_reason = "tool_use"
            output = json.dumps(value)
        else:
            if reply.kind == "text":
                text = reply.text
            elif reply.kind == "json":
                text = json.dumps(reply.payload)
            else:
                schema = embedded_schema(system + "\n" + last_user)
                text = (
                    json.dumps(build_instance(schema, last_user))
                    if schema is not None
                    else default_text_reply(last_user)
                )
            text, stop_reason, stop_sequence = self._limit(body, text)
            content = [{"type": "text", "text": text}]
            output = text
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": {
                "input_tokens": count_tokens(sent),
                "output_tokens": count_tokens(output),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": self.cache_read_input_tokens,
            },
        }

    @staticmethod
    def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
        """The tool the request forces (``tool_choice`` ``tool`` or ``any``), if any."""
        choice = body.get("tool_choice") or {}
        tools: list[dict[str, Any]] = body.get("tools") or []
        if choice.get("type") == "tool":
            return next(t for t in tools if t["name"] == choice["name"])
        if choice.get("type") == "any" and tools:
            return tools[0]
        return None

    @staticmethod
    def _limit(body: dict[str, Any], text: str) -> tuple[str, str, str | None]:
        """Apply ``stop_sequences`` and ``max_tokens`` as the model would, with the stop reason."""
        hits = [(text.find(s), s) for s in body.get("stop_sequences") or [] if s and s in text]
        if hits:
            cut, sequence = min(hits)
            return text[:cut], "stop_sequence", sequence
        if count_tokens(text) > body["max_tokens"]:
            return text[: body["max_tokens"] * 4], "max_tokens", None
        return text, "end_turn", None


if __name__ == "__main__":
    run_as_process(FakeAnthropicServer, "Fake Anthropic Messages API server for tests.")
