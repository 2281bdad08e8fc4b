"""``/openapi.json`` states what the server does, for every route under ``/v1/``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from promptmill.protocol import (
    GENERATE_PATH,
    HISTORY_PATH,
    IMPROVE_PATH,
    PROMPT_TOOLS_BETA,
    TEMPLATIZE_PATH,
)
from tests.api.sse import parse_events
from tests.conftest import RunningServer, running_promptmill

TOOL_PATHS = (GENERATE_PATH, IMPROVE_PATH, TEMPLATIZE_PATH)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_promptmill(tmp_path_factory.mktemp("openapi")) as running:
        yield running


@pytest.fixture(scope="module")
def schema(server: RunningServer) -> dict[str, Any]:
    return httpx.get(server.base_url + "/openapi.json").json()


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            yield path, operation


def test_the_key_is_a_security_scheme_not_an_optional_header(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header"}
    assert schemes["ApiKey"]["name"] == "x-api-key"
    assert schemes["Bearer"]["scheme"] == "bearer"
    for path, operation in _operations(schema):
        if path.startswith("/v1/"):
            assert operation["security"] == [{"ApiKey": []}, {"Bearer": []}], path
            names = {parameter["name"] for parameter in operation.get("parameters", [])}
            assert not names & {"x-api-key", "authorization"}, path


def test_the_beta_header_is_required_and_must_name_the_beta(schema: dict[str, Any]) -> None:
    for path in TOOL_PATHS:
        (beta,) = [
            parameter
            for parameter in schema["paths"][path]["post"]["parameters"]
            if parameter["name"] == "anthropic-beta"
        ]
        assert beta["required"] is True
        pattern = re.compile(beta["schema"]["pattern"])
        assert pattern.search(PROMPT_TOOLS_BETA)
        assert pattern.search(f"files-api-2025-04-14, {PROMPT_TOOLS_BETA}")
        assert not pattern.search("files-api-2025-04-14")


def test_no_operation_promises_a_422(schema: dict[str, Any]) -> None:
    for path, operation in _operations(schema):
        assert "422" not in operation["responses"], path
    assert "HTTPValidationError" not in schema["components"]["schemas"]


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        (GENERATE_PATH, "post", {"200", "400", "401", "413", "429", "500", "529"}),
        (HISTORY_PATH, "get", {"200", "400", "401", "413", "429", "500"}),
        (HISTORY_PATH + "/{call_id}", "get", {"200", "400", "401", "404", "413", "429", "500"}),
    ],
)
def test_the_statuses_the_server_returns_are_documented_as_errors(
    schema: dict[str, Any], path: str, method: str, statuses: set[str]
) -> None:
    responses = schema["paths"][path][method]["responses"]
    assert set(responses) == statuses
    for status in statuses - {"200"}:
        error_schema = responses[status]["content"]["application/json"]["schema"]
        assert error_schema == {"$ref": "#/components/schemas/ErrorResponse"}


def test_every_response_documents_its_request_id(schema: dict[str, Any]) -> None:
    for path, operation in _operations(schema):
        for status, response in operation["responses"].items():
            assert response["headers"]["request-id"]["required"] is True, (path, status)
    limited = schema["paths"][GENERATE_PATH]["post"]["responses"]["429"]
    assert limited["headers"]["retry-after"]["required"] is True


def test_a_streamed_answer_is_described_event_by_event(
    server: RunningServer, schema: dict[str, Any]
) -> None:
    event_schema = schema["paths"][TEMPLATIZE_PATH]["post"]["responses"]["200"]["content"][
        "text/event-stream"
    ]["schema"]
    by_event = {
        branch["properties"]["event"]["const"]: branch["properties"]["data"]["contentSchema"]
        for branch in event_schema["oneOf"]
    }
    assert by_event == {
        "progress": {"$ref": "#/components/schemas/Progress"},
        "result": {"$ref": "#/components/schemas/TemplatizeResult"},
        "error": {"$ref": "#/components/schemas/ErrorResponse"},
    }
    assert "Progress" in schema["components"]["schemas"]
    streamed = httpx.post(
        server.base_url + TEMPLATIZE_PATH,
        headers=server.headers(),
        json={"messages": [{"role": "user", "content": "Say hi to Ana"}], "stream": True},
    )
    events = parse_events(streamed.text)
    assert [event for event, _ in events][-1] == "result"
    for event, data in events:
        jsonschema.validate(data, {**by_event[event], "components": schema["components"]})


def test_the_message_order_rule_is_stated(schema: dict[str, Any]) -> None:
    for name in ("ImprovePromptRequest", "TemplatizePromptRequest"):
        messages = schema["components"]["schemas"][name]["properties"]["messages"]
        first = messages["prefixItems"][0]
        assert first["$ref"] == "#/components/schemas/MessageParam"
        assert first["properties"]["role"] == {"const": "user"}
        assert messages["contains"]["properties"]["role"] == {"const": "assistant"}
        assert messages["maxContains"] == 1
        assert "last" in messages["x-message-order"]
        assert "last" in messages["description"]


def test_the_schema_is_json_without_internal_addresses(
    server: RunningServer, schema: dict[str, Any]
) -> None:
    text = json.dumps(schema)
    assert server.fake.base_url not in text
    assert "127.0.0.1" not in text


def test_a_tool_answer_links_to_its_record_in_the_history(
    server: RunningServer, schema: dict[str, Any]
) -> None:
    link = schema["paths"][GENERATE_PATH]["post"]["responses"]["200"]["links"]["RecordedCall"]
    assert link["parameters"] == {"call_id": "$response.header.request-id"}
    target = link["operationRef"].removeprefix("#/paths/").replace("~1", "/")
    assert target == HISTORY_PATH + "/{call_id}/get"
    answer = httpx.post(
        server.base_url + GENERATE_PATH, headers=server.headers(), json={"task": "a chef"}
    )
    entry = httpx.get(
        server.base_url + HISTORY_PATH + "/" + answer.headers["request-id"],
        headers=server.headers(),
    )
    assert entry.status_code == 200
    assert entry.json()["id"] == answer.headers["request-id"]
