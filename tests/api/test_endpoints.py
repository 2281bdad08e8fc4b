"""The three endpoints over real HTTP, as official clients, httpx and curl call them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from promptmill.protocol import GENERATE_PATH, IMPROVE_PATH, PROMPT_TOOLS_BETA, TEMPLATIZE_PATH
from tests.conftest import RunningServer

# A copy of the spec's seed (../shared/spec/seed-generate-prompt.txt), kept with the tests.
SEED = Path(__file__).resolve().parent.parent / "data" / "seed-generate-prompt.txt"


GENERATE_BODY = {
    "task": "a chef for a meal prep planning service",
    "target_model": "claude-3-7-sonnet-20250219",
}
IMPROVE_BODY = {
    "messages": [
        {"role": "user", "content": "Write a weekly meal plan built around {{food}}."},
        {"role": "assistant", "content": [{"type": "text", "text": "Here is"}]},
    ],
    "system": "You are a chef.",
    "feedback": "Make it more detailed and include cooking times",
}
TEMPLATIZE_BODY = {
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Translate hello to German"}]}
    ],
    "system": "You are a professional English to German translator",
}
CALLS = [
    (GENERATE_PATH, GENERATE_BODY),
    (IMPROVE_PATH, IMPROVE_BODY),
    (TEMPLATIZE_PATH, TEMPLATIZE_BODY),
]


def assert_prompt_response(body: Any, *, templatize: bool = False) -> None:
    """The spec's response shape, keys in the spec's order."""
    expected_keys = ["messages", "system", "usage"] + (["variable_values"] if templatize else [])
    assert list(body) == expected_keys
    assert body["messages"], "at least one message"
    assert body["messages"][0]["role"] == "user"
    for message in body["messages"]:
        assert set(message) == {"role", "content"}
        assert message["role"] in {"user", "assistant"}
        for block in message["content"]:
            assert block["type"] == "text" and isinstance(block["text"], str)
    assert isinstance(body["system"], str)
    assert isinstance(body["usage"], list) and body["usage"]
    for usage in body["usage"]:
        assert set(usage) == {"input_tokens", "output_tokens"}
        assert usage["input_tokens"] > 0
        assert isinstance(usage["output_tokens"], int) and usage["output_tokens"] >= 0
    if templatize:
        values = body["variable_values"]
        assert isinstance(values, dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
        text = "".join(b["text"] for m in body["messages"] for b in m["content"]) + body["system"]
        assert all("{{" + name + "}}" in text for name in values)


def test_service_info_needs_no_key(promptmill_server: RunningServer) -> None:
    response = httpx.get(promptmill_server.base_url + "/")
    assert response.status_code == 200
    assert response.json() == {
        "name": "promptmill",
        "version": "0.1.0",
        "backend": "openai",
        "model": "gpt-4o-mini",
        "status": "ok",
    }
    assert re.fullmatch(r"req_[0-9a-f]{24}", response.headers["request-id"])


def test_every_response_gets_a_distinct_request_id(promptmill_server: RunningServer) -> None:
    ids = {httpx.get(promptmill_server.base_url + "/").headers["request-id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(("path", "body"), CALLS, ids=["generate", "improve", "templatize"])
def test_httpx_client_gets_the_spec_response(
    promptmill_server: RunningServer, path: str, body: dict[str, Any]
) -> None:
    response = httpx.post(
        promptmill_server.base_url + path, headers=promptmill_server.headers(), json=body
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["request-id"].startswith("req_")
    assert_prompt_response(response.json(), templatize=path == TEMPLATIZE_PATH)


@pytest.mark.parametrize(("path", "body"), CALLS, ids=["generate", "improve", "templatize"])
def test_official_anthropic_sdk_works_by_changing_base_url_and_key(
    promptmill_server: RunningServer, path: str, body: dict[str, Any]
) -> None:
    client = anthropic.Anthropic(
        base_url=promptmill_server.base_url, api_key=promptmill_server.api_key, max_retries=0
    )
    result = client.post(
        path,
        body=body,
        cast_to=object,
        options={"headers": {"anthropic-beta": PROMPT_TOOLS_BETA}},
    )
    assert_prompt_response(result, templatize=path == TEMPLATIZE_PATH)


@pytest.mark.parametrize(
    ("target_model", "roles"),
    [
        ("gpt-4o", ["user"]),
        ("gemini-2.5-pro", ["user"]),
        ("claude-opus-4-6", ["user"]),  # rejects an assistant prefill
        ("claude-3-7-sonnet-20250219", ["user", "assistant"]),
    ],
)
def test_generate_puts_the_whole_prompt_in_the_user_message_for_every_target(
    promptmill_server: RunningServer, target_model: str, roles: list[str]
) -> None:
    response = httpx.post(
        promptmill_server.base_url + GENERATE_PATH,
        headers=promptmill_server.headers(),
        json={**GENERATE_BODY, "target_model": target_model},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["system"] == ""
    assert [m["role"] for m in body["messages"]] == roles
    user = body["messages"][0]["content"][0]["text"]
    assert user.startswith(("You are", "# Identity")) and "{{" in user


def test_official_sdk_raises_its_typed_errors(promptmill_server: RunningServer) -> None:
    client = anthropic.Anthropic(
        base_url=promptmill_server.base_url, api_key="sk-pm-not-a-key", max_retries=0
    )
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.post(
            GENERATE_PATH,
            body=GENERATE_BODY,
            cast_to=object,
            options={"headers": {"anthropic-beta": PROMPT_TOOLS_BETA}},
        )
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    assert caught.value.request_id is not None
    assert caught.value.request_id.startswith("req_")


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_seed_curl_command_works_with_only_the_host_changed(
    promptmill_server: RunningServer,
) -> None:
    seed = SEED.read_text(encoding="utf-8")
    command = seed[seed.index("curl -X POST") : seed.index("}'") + 2]
    command = command.replace("https://api.anthropic.com", promptmill_server.base_url)
    completed = subprocess.run(
        ["bash", "-c", command + " --silent --show-error --fail-with-body"],
        env={"ANTHROPIC_API_KEY": promptmill_server.api_key, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert_prompt_response(json.loads(completed.stdout))


@pytest.mark.parametrize(
    "beta_headers",
    [
        [("anthropic-beta", PROMPT_TOOLS_BETA)],
        [("anthropic-beta", f"other-beta-2024-01-01, {PROMPT_TOOLS_BETA}")],
        [("anthropic-beta", "other-beta-2024-01-01"), ("anthropic-beta", PROMPT_TOOLS_BETA)],
        [("anthropic-beta", f"other-beta-2024-01-01 ,  {PROMPT_TOOLS_BETA} ,")],
    ],
    ids=["single", "comma-separated", "repeated-header", "with-spaces"],
)
def test_the_beta_may_come_in_any_header_form(
    promptmill_server: RunningServer, beta_headers: list[tuple[str, str]]
) -> None:
    headers = [("x-api-key", promptmill_server.api_key), *beta_headers]
    response = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH, headers=headers, json=TEMPLATIZE_BODY
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("version", [None, "2023-06-01", "2031-12-31"], ids=str)
def test_anthropic_version_is_optional_and_any_date_is_accepted(
    promptmill_server: RunningServer, version: str | None
) -> None:
    headers = {"x-api-key": promptmill_server.api_key, "anthropic-beta": PROMPT_TOOLS_BETA}
    if version is not None:
        headers["anthropic-version"] = version
    response = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH, headers=headers, json=TEMPLATIZE_BODY
    )
    assert response.status_code == 200, response.text


def test_unknown_body_fields_are_ignored(promptmill_server: RunningServer) -> None:
    response = httpx.post(
        promptmill_server.base_url + TEMPLATIZE_PATH,
        headers=promptmill_server.headers(),
        json={**TEMPLATIZE_BODY, "metadata": {"user_id": "u1"}, "temperature": 0.5},
    )
    assert response.status_code == 200, response.text


def test_a_revoked_key_fails_on_the_next_request(promptmill_server: RunningServer) -> None:
    url = promptmill_server.base_url + TEMPLATIZE_PATH
    first = httpx.post(url, headers=promptmill_server.headers(), json=TEMPLATIZE_BODY)
    assert first.status_code == 200, first.text
    promptmill_server.store.revoke_key(promptmill_server.key_id)
    second = httpx.post(url, headers=promptmill_server.headers(), json=TEMPLATIZE_BODY)
    assert second.status_code == 401
    assert second.json()["error"] == {
        "type": "authentication_error",
        "message": "invalid x-api-key",
    }


def test_openapi_documents_the_three_endpoints(promptmill_server: RunningServer) -> None:
    schema = httpx.get(promptmill_server.base_url + "/openapi.json").json()
    for path, model in [
        (GENERATE_PATH, "GeneratePromptRequest"),
        (IMPROVE_PATH, "ImprovePromptRequest"),
        (TEMPLATIZE_PATH, "TemplatizePromptRequest"),
    ]:
        operation = schema["paths"][path]["post"]
        assert operation["summary"]
        assert operation["description"]
        body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert body_ref == f"#/components/schemas/{model}"
        assert model in schema["components"]["schemas"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert {"anthropic-version", "anthropic-beta"} <= headers
        assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}]
        for status in ("400", "401", "429", "529"):
            error_ref = operation["responses"][status]["content"]["application/json"]["schema"]
            assert error_ref == {"$ref": "#/components/schemas/ErrorResponse"}
    generate = schema["components"]["schemas"]["GeneratePromptRequest"]
    assert generate["required"] == ["task"]
    templatize_200 = schema["paths"][TEMPLATIZE_PATH]["post"]["responses"]["200"]
    assert templatize_200["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TemplatizeResult"
    }
