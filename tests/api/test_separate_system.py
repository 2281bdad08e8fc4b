"""``promptmill-separate-system``: the opt-in to a separate system prompt, over real HTTP.

Without the header (or with ``false``) every answer has the Anthropic API's shape:
``system`` is ``""`` and the whole prompt is the user message. With ``true``, GPT,
o-series and Gemini targets get their instructions in ``system``; other families are
unaffected; templatize ignores the header and templatizes the system it was given.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from promptmill.protocol import (
    GENERATE_PATH,
    IMPROVE_PATH,
    SEPARATE_SYSTEM_HEADER,
    TEMPLATIZE_PATH,
)
from tests.conftest import RunningServer

TASK = {"task": "a chef who suggests one dish for a given food"}
IMPROVE = {
    "messages": [{"role": "user", "content": "Suggest one dish made with {{FOOD}}."}],
    "system": "You are a chef.",
    "feedback": "Say why the dish suits the food",
}


def post(server: RunningServer, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        server.base_url + path, headers=server.headers(**headers), json=body, timeout=60
    )


def opt_in(value: str = "true") -> dict[str, str]:
    return {SEPARATE_SYSTEM_HEADER: value}


def user_text(body: dict[str, Any]) -> str:
    return "".join(block["text"] for block in body["messages"][0]["content"])


@pytest.mark.parametrize("path", [GENERATE_PATH, IMPROVE_PATH])
@pytest.mark.parametrize("target", ["gpt-4o", "o3-mini", "gemini-2.5-pro"])
def test_the_header_returns_a_separate_system_prompt_where_the_family_uses_one(
    promptmill_server: RunningServer, path: str, target: str
) -> None:
    body = {**(TASK if path == GENERATE_PATH else IMPROVE), "target_model": target}
    response = post(promptmill_server, path, body, **opt_in())
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["system"].strip()
    assert "{{" not in answer["system"]  # the inputs stay in the user message
    assert "{{" in user_text(answer)
    assert answer["system"] not in user_text(answer)


@pytest.mark.parametrize("path", [GENERATE_PATH, IMPROVE_PATH])
@pytest.mark.parametrize("headers", [{}, opt_in("false")], ids=["absent", "false"])
def test_without_the_opt_in_the_system_is_empty_for_every_family(
    promptmill_server: RunningServer, path: str, headers: dict[str, str]
) -> None:
    body = {**(TASK if path == GENERATE_PATH else IMPROVE), "target_model": "gpt-4o"}
    response = post(promptmill_server, path, body, **headers)
    assert response.status_code == 200, response.text
    assert response.json()["system"] == ""


@pytest.mark.parametrize("target", ["claude-sonnet-4-5", "llama-3.1-8b", None])
def test_the_opt_in_leaves_families_without_a_system_convention_alone(
    promptmill_server: RunningServer, target: str | None
) -> None:
    response = post(promptmill_server, GENERATE_PATH, {**TASK, "target_model": target}, **opt_in())
    assert response.status_code == 200, response.text
    assert response.json()["system"] == ""


@pytest.mark.parametrize("value", ["yes", "1", "True", ""])
def test_a_bad_header_value_is_a_400_naming_the_header(
    promptmill_server: RunningServer, value: str
) -> None:
    response = post(promptmill_server, GENERATE_PATH, TASK, **opt_in(value))
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(f"{SEPARATE_SYSTEM_HEADER}: header value")


def test_templatize_keeps_the_system_it_was_given_whatever_the_header(
    promptmill_server: RunningServer,
) -> None:
    promptmill_server.fake.enqueue_json({"variables": [{"name": "LANGUAGE", "value": "German"}]})
    body = {
        "messages": [{"role": "user", "content": "Translate hello to German"}],
        "system": "You translate into German.",
    }
    response = post(promptmill_server, TEMPLATIZE_PATH, body, **opt_in("not-read-here"))
    assert response.status_code == 200, response.text
    assert response.json()["system"] == "You translate into {{LANGUAGE}}."


def test_openapi_documents_the_header_on_generate_and_improve_only(
    promptmill_server: RunningServer,
) -> None:
    paths = httpx.get(promptmill_server.base_url + "/openapi.json").json()["paths"]

    def header(path: str) -> dict[str, Any] | None:
        parameters = paths[path]["post"].get("parameters", [])
        found = [p for p in parameters if p["name"] == SEPARATE_SYSTEM_HEADER]
        return found[0] if found else None

    for path in (GENERATE_PATH, IMPROVE_PATH):
        documented = header(path)
        assert documented is not None and documented["in"] == "header"
        assert documented["schema"] == {"type": "string", "enum": ["true", "false"]}
        assert not documented.get("required", False)
        assert 'system` is `""`' in documented["description"]
    assert header(TEMPLATIZE_PATH) is None
