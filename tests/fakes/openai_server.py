"""A fake OpenAI chat-completions server speaking the real wire protocol over loopback.

``POST /v1/chat/completions`` and ``GET /v1/models``, with OpenAI's request rules
(bearer key, ``messages``, ``response_format`` of type ``text``, ``json_object`` or
``json_schema``, ``stop``, ``max_tokens``/``max_completion_tokens``), response
bodies (``id``, ``model``, ``choices[].message``, ``finish_reason``, ``usage``) and
error shape (``{"error": {"message", "type", "param", "code"}}``). With
``reject_json_schema=True`` it refuses ``json_schema`` with a 400, as llama.cpp's
server, older vLLM and others do, so clients can test their fallback.

    with FakeOpenAIServer() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="test")

Run as a process: ``python -m tests.fakes.openai_server --port 0`` prints the base
URL on the first line of stdout and serves until killed.
"""

from __future__ import annotations

import json
import time
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
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", None),
}
_DEFAULT_MESSAGES = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "Access denied.",
    404: "The model does not exist or you do not have access to it.",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
}


def error_response(
    status: int,
    message: str | None = None,
    *,
    param: str | None = None,
    retry_after: float | None = None,
) -> JSONResponse:
    """OpenAI's error body and status, with ``retry-after`` when given."""
    error_type, code = _ERROR_TYPES.get(status, ("server_error", None))
    body = {
        "error": {
            "message": message or _DEFAULT_MESSAGES.get(status, f"HTTP {status}"),
            "type": error_type,
            "param": param,
            "code": code,
        }
    }
    headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
    if retry_after is not None:
        headers["retry-after"] = _format_seconds(retry_after)
    return JSONResponse(body, status_code=status, headers=headers)


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _content_text(content: Any) -> str:
    """The text of a message's ``content``: a string or a list of ``text`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


class FakeOpenAIServer(FakeServer):
    """A scripted, cooperative stand-in for ``api.openai.com`` (or any compatible server)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        reject_json_schema: bool = False,
        reject_json_object: bool = False,
        report_usage: bool = True,
        minimal_completions: bool = False,
    ) -> None:
        super().__init__(api_key=api_key)
        self.reject_json_schema = reject_json_schema
        self.reject_json_object = reject_json_object
        # Some OpenAI-compatible servers omit ``usage``; clients must cope.
        self.report_usage = report_usage
        # Some compatible servers leave out what OpenAI always sends (``object``,
        # ``created``, ``system_fingerprint``, ``logprobs``) and have finish reasons of
        # their own.
        self.minimal_completions = minimal_completions
        # ``usage.prompt_tokens_details.cached_tokens`` when set (OpenAI's prompt cache).
        self.cached_prompt_tokens: int | None = None

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    def _authorized(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            return error_response(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if self.api_key is not None and header[7:].strip() != self.api_key:
            return error_response(401)
        return None

    async def _models(self, request: Request) -> JSONResponse:
        denied = self._authorized(request)
        if denied is not None:
            return denied
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "fake"}
                ],
            }
        )

    async def _chat_completions(self, request: Request) -> JSONResponse:
        await self.hold_while_hung()
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error_response(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return error_response(400, "The request body must be a JSON object.")
        self.record(body, dict(request.headers))
        denied = self._authorized(request)
        if denied is not None:
            return denied
        problem = self._validate(body)
        if problem is not None:
            return problem
        reply = self.next_reply()
        if reply.delay:
            await self.wait(reply.delay)
        if reply.kind == "error":
            return error_response(reply.status, reply.message, retry_after=reply.retry_after)
        return JSONResponse(self._completion(body, reply))

    def _validate(self, body: dict[str, Any]) -> JSONResponse | None:
        if not isinstance(body.get("model"), str) or not body["model"]:
            return error_response(400, "you must provide a model parameter", param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return error_response(
                400,
                "[] is too short - 'messages'" if messages == [] else "'messages' is required",
                param="messages",
            )
        for i, message in enumerate(messages):
            roles = ("system", "developer", "user", "assistant", "tool")
            if not isinstance(message, dict) or message.get("role") not in roles:
                return error_response(
                    400, f"Invalid value for 'messages[{i}].role'.", param=f"messages[{i}].role"
                )
        if body.get("stream"):
            return error_response(400, "This fake does not stream.", param="stream")
        stop = body.get("stop")
        if isinstance(stop, list) and len(stop) > 4:
            return error_response(400, "'stop' accepts at most 4 sequences.", param="stop")
        fmt = body.get("response_format")
        if fmt is None:
            return None
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_schema":
            if self.reject_json_schema:
                return error_response(
                    400,
                    "Invalid value: 'json_schema'. Supported values are: 'text' and 'json_object'.",
                    param="response_format.type",
                )
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                return error_response(
                    400,
                    "Missing required parameter: 'response_format.json_schema.name'.",
                    param="response_format.json_schema.name",
                )
            if not isinstance(spec.get("schema"), dict):
                return error_response(
                    400, "Invalid schema for response_format.", param="response_format"
                )
        elif kind == "json_object":
            if self.reject_json_object:
                return error_response(
                    400,
                    "Invalid value: 'json_object'. Supported values are: 'text'.",
                    param="response_format.type",
                )
            all_text = " ".join(_content_text(m.get("content")) for m in messages)
            if "json" not in all_text.lower():
                return error_response(
                    400,
                    "'messages' must contain the word 'json' in some form, to use "
                    "'response_format' of type 'json_object'.",
                    param="messages",
                )
        elif kind != "text":
            return error_response(400, f"Invalid value: {kind!r}.", param="response_format.type")
        return None

    def _completion(self, body: dict[str, Any], reply: ScriptedReply) -> dict[str, Any]:
        messages: list[dict[str, Any]] = body["messages"]
        sent = "\n".join(_content_text(m.get("content")) for m in messages)
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            sent += json.dumps(fmt["json_schema"]["schema"])
        last_user = next(
            (_content_text(m.get("content")) for m in reversed(messages) if m["role"] == "user"),
            "",
        )
        content, finish = self._content(body, reply, sent, last_user)
        prompt_tokens = count_tokens(sent)
        completion_tokens = count_tokens(content)
        result: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
        }
        if self.minimal_completions:
            for field in ("object", "created", "system_fingerprint"):
                del result[field]
            result["choices"][0] = {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "eos" if finish == "stop" else finish,
            }
        if self.report_usage:
            result["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            if self.cached_prompt_tokens is not None:
                result["usage"]["prompt_tokens_details"] = {
                    "cached_tokens": self.cached_prompt_tokens
                }
        return result

    def _content(
        self, body: dict[str, Any], reply: ScriptedReply, sent: str, last_user: str
    ) -> tuple[str, str]:
        if reply.kind == "text":
            return self._limit(body, reply.text)
        if reply.kind == "json":
            return json.dumps(reply.payload), "stop"
        fmt = body.get("response_format") or {}
        schema: dict[str, Any] | None = None
        if fmt.get("type") == "json_schema":
            schema = fmt["json_schema"]["schema"]
        else:
            schema = embedded_schema(sent)
        if schema is not None:
            return json.dumps(build_instance(schema, last_user)), "stop"
        if fmt.get("type") == "json_object":
            return json.dumps({"response": default_text_reply(last_user)}), "stop"
        return self._limit(body, default_text_reply(last_user))

    @staticmethod
    def _limit(body: dict[str, Any], text: str) -> tuple[str, str]:
        """Apply ``stop`` and the token limit the way a model would, with the finish reason."""
        stop = body.get("stop")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        cut = min((text.find(s) for s in stops if s and s in text), default=-1)
        if cut >= 0:
            return text[:cut], "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and count_tokens(text) > limit:
            return text[: limit * 4], "length"
        return text, "stop"


if __name__ == "__main__":
    run_as_process(FakeOpenAIServer, "Fake OpenAI chat-completions server for tests.")
