"""Every bad input gets the API's error body, the right status and a request id.

The matrix runs against one real server; after each case the server must still answer
``GET /``, so no bad request can take it down. Its hostile part (lone surrogates,
deep nesting, huge numbers, non-JSON constants, trailing slashes) holds what attackers
and fuzzers send: each is a 4xx naming the field, never a 500 or an internal name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from promptmill.protocol import (
    GENERATE_PATH,
    HISTORY_PATH,
    IMPROVE_PATH,
    MAX_JSON_DEPTH,
    PROMPT_TOOLS_BETA,
    TEMPLATIZE_PATH,
)
from tests.conftest import RunningServer, running_promptmill

FORTY_MB = 40 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_promptmill(tmp_path_factory.mktemp("errors")) as running:
        yield running


@dataclass
class BadCase:
    """One bad request and the error it must get."""

    status: int
    error_type: str
    message: str  # a regular expression the error message must match
    path: str = GENERATE_PATH
    method: str = "POST"
    json: Any = None
    content: bytes | Callable[[], Iterator[bytes]] | None = None
    headers: Callable[[RunningServer], dict[str, str]] = field(
        default=lambda server: server.headers()
    )


def _without(name: str) -> Callable[[RunningServer], dict[str, str]]:
    return lambda server: {k: v for k, v in server.headers().items() if k != name}


def _with(name: str, value: str) -> Callable[[RunningServer], dict[str, str]]:
    return lambda server: server.headers(**{name: value})


def _revoked_key_headers(server: RunningServer) -> dict[str, str]:
    info, secret = server.store.create_key(workspace="default", name="to-revoke")
    server.store.revoke_key(info.id)
    return server.headers(**{"x-api-key": secret})


def _big_json() -> bytes:
    return b'{"task": "' + b"a" * FORTY_MB + b'"}'


def _chunked_big_json() -> Iterator[bytes]:
    yield b'{"task": "'
    chunk = b"a" * (1024 * 1024)
    for _ in range(40):
        yield chunk
    yield b'"}'


def _user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def _ascii_json(payload: Any) -> bytes:
    """``payload`` as JSON with escapes, so a lone surrogate travels as ``\\ud800``."""
    return json.dumps(payload).encode("ascii")


def _nested(depth: int) -> bytes:
    return b'{"task": "a chef", "extra": ' + b"[" * depth + b"]" * depth + b"}"


LONE = "\ud800"
SURROGATE_MESSAGE = r"contains a lone UTF-16 surrogate \(\\ud800 at character \d+\)"

TASK = {"task": "a chef for a meal prep planning service"}
TEMPLATIZE_BODY = {"messages": [{"role": "user", "content": "Translate hello to German"}]}

CASES: dict[str, BadCase] = {
    "missing key": BadCase(
        401,
        "authentication_error",
        r"^x-api-key header is required$",
        headers=_without("x-api-key"),
        json=TASK,
    ),
    "unknown key": BadCase(
        401,
        "authentication_error",
        r"^invalid x-api-key$",
        headers=_with("x-api-key", "sk-pm-unknown"),
        json=TASK,
    ),
    "revoked key": BadCase(
        401,
        "authentication_error",
        r"^invalid x-api-key$",
        headers=_revoked_key_headers,
        json=TASK,
    ),
    "unknown bearer token": BadCase(
        401,
        "authentication_error",
        r"^invalid x-api-key$",
        headers=lambda server: {
            "authorization": "Bearer sk-pm-unknown",
            "anthropic-beta": PROMPT_TOOLS_BETA,
        },
        json=TASK,
    ),
    "missing beta": BadCase(
        400,
        "invalid_request_error",
        re.escape(f"anthropic-beta: {PROMPT_TOOLS_BETA}"),
        headers=_without("anthropic-beta"),
        json=TASK,
    ),
    "other beta only": BadCase(
        400,
        "invalid_request_error",
        re.escape(f"anthropic-beta: {PROMPT_TOOLS_BETA}"),
        headers=_with("anthropic-beta", "files-api-2025-04-14"),
        json=TASK,
    ),
    "malformed anthropic-version": BadCase(
        400,
        "invalid_request_error",
        r"^anthropic-version: .*YYYY-MM-DD",
        headers=_with("anthropic-version", "june 2023"),
        json=TASK,
    ),
    "impossible anthropic-version date": BadCase(
        400,
        "invalid_request_error",
        r"^anthropic-version: ",
        headers=_with("anthropic-version", "2023-13-45"),
        json=TASK,
    ),
    "missing task": BadCase(400, "invalid_request_error", r"^task: Field required", json={}),
    "task not a string": BadCase(
        400, "invalid_request_error", r"^task: Input should be a valid string", json={"task": 42}
    ),
    "empty task": BadCase(
        400,
        "invalid_request_error",
        r"^task: String should have at least 1 character",
        json={"task": ""},
    ),
    "blank task": BadCase(
        400, "invalid_request_error", r"^task: String should not be blank", json={"task": "  "}
    ),
    "target_model of 257 characters": BadCase(
        400,
        "invalid_request_error",
        r"^target_model: String should have at most 256 characters",
        json={**TASK, "target_model": "m" * 257},
    ),
    "empty target_model": BadCase(
        400,
        "invalid_request_error",
        r"^target_model: String should have at least 1 character",
        json={**TASK, "target_model": ""},
    ),
    "malformed JSON": BadCase(
        400,
        "invalid_request_error",
        r"^request body is not valid JSON",
        content=b'{"task": "a chef",',
    ),
    "empty body": BadCase(400, "invalid_request_error", r"^request body is empty", content=b""),
    "JSON array body": BadCase(
        400,
        "invalid_request_error",
        r"^request body must be a JSON object, got an array",
        json=[TASK],
    ),
    "missing messages": BadCase(
        400, "invalid_request_error", r"^messages: Field required", path=IMPROVE_PATH, json={}
    ),
    "empty messages": BadCase(
        400,
        "invalid_request_error",
        r"^messages: List should have at least 1 item",
        path=TEMPLATIZE_PATH,
        json={"messages": []},
    ),
    "image block": BadCase(
        400,
        "invalid_request_error",
        r"^messages\.0\.content\.1\.type: Input should be 'text', got 'image'",
        path=IMPROVE_PATH,
        json={
            "messages": [
                _user(
                    [
                        {"type": "text", "text": "Describe this"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": ""},
                        },
                    ]
                )
            ]
        },
    ),
    "tool_use block": BadCase(
        400,
        "invalid_request_error",
        r"^messages\.0\.content\.0\.type: Input should be 'text', got 'tool_use'",
        path=TEMPLATIZE_PATH,
        json={"messages": [_user([{"type": "tool_use", "id": "t1", "name": "f", "input": {}}])]},
    ),
    "document block": BadCase(
        400,
        "invalid_request_error",
        r"^messages\.0\.content\.0\.type: Input should be 'text', got 'document'",
        path=TEMPLATIZE_PATH,
        json={"messages": [_user([{"type": "document", "source": {}}])]},
    ),
    "cache_control on a text block": BadCase(
        400,
        "invalid_request_error",
        r"^messages\.0\.content\.0\.cache_control: ",
        path=IMPROVE_PATH,
        json={
            "messages": [
                _user([{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}])
            ]
        },
    ),
    "content of the wrong type": BadCase(
        400,
        "invalid_request_error",
        r"^messages\.0\.content: Input should be a string or a list",
        path=IMPROVE_PATH,
        json={"messages": [_user(7)]},
    ),
    "unknown role": BadCase(
        400,
        "invalid_request_error",
        r"^messages\.0\.role: Input should be 'user' or 'assistant'",
        path=IMPROVE_PATH,
        json={"messages": [{"role": "system", "content": "hi"}]},
    ),
    "first message from the assistant": BadCase(
        400,
        "invalid_request_error",
        r"^messages\.0\.role: the first message must have role 'user'",
        path=IMPROVE_PATH,
        json={"messages": [{"role": "assistant", "content": "hi"}, _user("x")]},
    ),
    "assistant message before a user message": BadCase(
        400,
        "invalid_request_error",
        r"^messages\.1\.role: an assistant message is only allowed",
        path=TEMPLATIZE_PATH,
        json={"messages": [_user("a"), {"role": "assistant", "content": "b"}, _user("c")]},
    ),
    "system as a list of blocks": BadCase(
        400,
        "invalid_request_error",
        r"^system: Input should be a valid string",
        path=IMPROVE_PATH,
        json={"messages": [_user("hi")], "system": [{"type": "text", "text": "s"}]},
    ),
    "feedback not a string": BadCase(
        400,
        "invalid_request_error",
        r"^feedback: Input should be a valid string",
        path=IMPROVE_PATH,
        json={"messages": [_user("hi")], "feedback": ["shorter"]},
    ),
    "40 MB body": BadCase(413, "request_too_large", r"larger than the limit", content=_big_json()),
    "40 MB body, chunked": BadCase(
        413, "request_too_large", r"larger than the limit", content=_chunked_big_json
    ),
    "unknown path": BadCase(404, "not_found_error", r"not found", path="/v1/experimental/nope"),
    "unknown path without a key": BadCase(
        404, "not_found_error", r"not found", path="/v1/messages", headers=lambda server: {}
    ),
    "GET on a POST route": BadCase(
        405, "invalid_request_error", r"^method GET is not allowed .* use POST$", method="GET"
    ),
}

HOSTILE_CASES: dict[str, BadCase] = {
    "lone surrogate in task": BadCase(
        400,
        "invalid_request_error",
        r"^task: the text " + SURROGATE_MESSAGE,
        content=_ascii_json({"task": "a chef " + LONE}),
    ),
    "lone surrogate in an ignored field": BadCase(
        400,
        "invalid_request_error",
        r"^metadata\.note: the text " + SURROGATE_MESSAGE,
        content=_ascii_json({**TASK, "metadata": {"note": LONE}}),
    ),
    "lone surrogate in a key": BadCase(
        400,
        "invalid_request_error",
        r"^metadata: a key " + SURROGATE_MESSAGE,
        content=_ascii_json({**TASK, "metadata": {LONE: 1}}),
    ),
    "lone surrogate in system": BadCase(
        400,
        "invalid_request_error",
        r"^system: the text " + SURROGATE_MESSAGE,
        path=IMPROVE_PATH,
        content=_ascii_json({"messages": [_user("hi")], "system": "be " + LONE}),
    ),
    "lone surrogate in feedback": BadCase(
        400,
        "invalid_request_error",
        r"^feedback: the text " + SURROGATE_MESSAGE,
        path=IMPROVE_PATH,
        content=_ascii_json({"messages": [_user("hi")], "feedback": LONE}),
    ),
    "lone surrogate in message text": BadCase(
        400,
        "invalid_request_error",
        r"^messages\.0\.content\.0\.text: the text " + SURROGATE_MESSAGE,
        path=TEMPLATIZE_PATH,
        content=_ascii_json({"messages": [_user([{"type": "text", "text": "x" + LONE}])]}),
    ),
    "low surrogate alone in string content": BadCase(
        400,
        "invalid_request_error",
        r"^messages\.0\.content: the text contains a lone UTF-16 surrogate \(\\udc00",
        path=TEMPLATIZE_PATH,
        content=_ascii_json({"messages": [_user("\udc00 hello")]}),
    ),
    "JSON nested 1,000 deep": BadCase(
        400,
        "invalid_request_error",
        rf"more than {MAX_JSON_DEPTH} levels deep",
        content=_nested(1000),
    ),
    "JSON nested 100,000 deep": BadCase(
        400,
        "invalid_request_error",
        rf"more than {MAX_JSON_DEPTH} levels deep",
        content=_nested(100_000),
    ),
    "JSON nested just past the limit": BadCase(
        400,
        "invalid_request_error",
        rf"more than {MAX_JSON_DEPTH} levels deep",
        content=_nested(MAX_JSON_DEPTH),
    ),
    "integer of 5,000 digits": BadCase(
        400,
        "invalid_request_error",
        r"an integer of 5000 digits; numbers may have at most",
        content=b'{"task": "a chef", "n": ' + b"9" * 5000 + b"}",
    ),
    "NaN": BadCase(
        400,
        "invalid_request_error",
        r"^request body is not valid JSON: NaN is not a JSON value",
        content=b'{"task": "a chef", "n": NaN}',
    ),
    "-Infinity": BadCase(
        400,
        "invalid_request_error",
        r"-Infinity is not a JSON value",
        content=b'{"task": "a chef", "n": -Infinity}',
    ),
    "number beyond a double": BadCase(
        400,
        "invalid_request_error",
        r"^n: number is too large for a 64-bit float",
        content=b'{"task": "a chef", "n": 1e400}',
    ),
    "invalid UTF-8": BadCase(
        400,
        "invalid_request_error",
        r"^request body is not valid JSON",
        content=b'{"task": "a chef \xff"}',
    ),
    "trailing slash on a tool path": BadCase(
        404,
        "not_found_error",
        re.escape(f"paths take no trailing slash: {GENERATE_PATH}") + "$",
        path=GENERATE_PATH + "/",
        json=TASK,
    ),
    "trailing slash on the history path": BadCase(
        404,
        "not_found_error",
        re.escape(f"paths take no trailing slash: {HISTORY_PATH}") + "$",
        path=HISTORY_PATH + "/",
        method="GET",
    ),
}
ALL_CASES = {**CASES, **HOSTILE_CASES}


@pytest.mark.parametrize("case", ALL_CASES.values(), ids=ALL_CASES.keys())
def test_bad_request_gets_a_precise_error(server: RunningServer, case: BadCase) -> None:
    content = case.content() if callable(case.content) else case.content
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        response = client.request(
            case.method, case.path, headers=case.headers(server), json=case.json, content=content
        )
        assert response.status_code == case.status, response.text
        assert re.fullmatch(r"req_[0-9a-f]{24}", response.headers["request-id"])
        body = response.json()
        assert body["type"] == "error"
        assert set(body["error"]) == {"type", "message"}
        assert body["error"]["type"] == case.error_type
        assert re.search(case.message, body["error"]["message"]), body["error"]["message"]
        assert not re.search(r"[A-Z]\w*(Error|Exception)\b", body["error"]["message"])
        assert "location" not in response.headers
        if case.status == 405:
            assert response.headers["allow"] == "POST"
    assert httpx.get(server.base_url + "/").status_code == 200


def test_error_messages_never_echo_the_api_key(server: RunningServer) -> None:
    response = httpx.post(
        server.base_url + GENERATE_PATH,
        headers=_with("x-api-key", "sk-pm-secret-value")(server),
        json=TASK,
    )
    assert "sk-pm-secret-value" not in response.text


def test_rate_limit_answers_429_with_integer_retry_after(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(rate_limit_per_minute=2)
    url = server.base_url + TEMPLATIZE_PATH
    body = TEMPLATIZE_BODY
    statuses = [httpx.post(url, headers=server.headers(), json=body).status_code for _ in range(2)]
    assert statuses == [200, 200]
    limited = httpx.post(url, headers=server.headers(), json=body)
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["request-id"].startswith("req_")


def test_rate_limit_is_per_key(promptmill_server_factory: Callable[..., RunningServer]) -> None:
    server = promptmill_server_factory(rate_limit_per_minute=1)
    _, other_secret = server.store.create_key(workspace="other")
    url = server.base_url + TEMPLATIZE_PATH
    body = TEMPLATIZE_BODY
    assert httpx.post(url, headers=server.headers(), json=body).status_code == 200
    assert httpx.post(url, headers=server.headers(), json=body).status_code == 429
    other = httpx.post(url, headers=server.headers(**{"x-api-key": other_secret}), json=body)
    assert other.status_code == 200, other.text


def test_backend_overload_is_a_529_overloaded_error(promptmill_server: RunningServer) -> None:
    for _ in range(5):
        promptmill_server.fake.enqueue_error(529)
    response = httpx.post(
        promptmill_server.base_url + GENERATE_PATH, headers=promptmill_server.headers(), json=TASK
    )
    assert response.status_code == 529, response.text
    assert response.json()["error"]["type"] == "overloaded_error"
    assert response.headers["request-id"].startswith("req_")


def test_a_small_limit_applies_to_ordinary_bodies(
    promptmill_server_factory: Callable[..., RunningServer],
) -> None:
    server = promptmill_server_factory(max_body_bytes=100)
    response = httpx.post(
        server.base_url + GENERATE_PATH, headers=server.headers(), json={"task": "x" * 200}
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
