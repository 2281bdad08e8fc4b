"""Prompt versions and datasets over HTTP, on the production app."""

from __future__ import annotations

from tests.conftest import RunningServer
from tests.eval.conftest import API, CHEF, client, food_cases


def test_saving_a_prompt_returns_version_one_with_its_variables(
    promptmill_server: RunningServer,
) -> None:
    with client(promptmill_server) as http:
        response = http.post(f"{API}/prompts", json={"name": "chef", **CHEF})
    assert response.status_code == 201
    version = response.json()
    assert (version["name"], version["number"], version["variables"]) == ("chef", 1, ["FOOD"])
    assert version["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": CHEF["messages"][0]["content"]}]}
    ]
    assert version["system"] == "You are a chef."
    assert len(version["content_hash"]) == 64


def test_a_prompt_tool_response_saves_as_it_is(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        generated = http.post(
            "/v1/experimental/generate_prompt", json={"task": "a chef for {{FOOD}} questions"}
        ).json()
        response = http.post(f"{API}/prompts", json={"name": "generated", **generated})
    assert response.status_code == 201
    assert response.json()["messages"] == generated["messages"]


def test_saving_unchanged_content_returns_the_latest_version_with_200(
    promptmill_server: RunningServer,
) -> None:
    with client(promptmill_server) as http:
        first = http.post(f"{API}/prompts", json={"name": "chef", **CHEF}).json()
        again = http.post(f"{API}/prompts", json={"name": "chef", **CHEF})
    assert again.status_code == 200
    assert again.json() == first


def test_versions_are_listed_shown_and_diffed(promptmill_server: RunningServer) -> None:
    changed = {**CHEF, "system": "You are a pastry chef."}
    with client(promptmill_server) as http:
        http.post(f"{API}/prompts", json={"name": "chef", **CHEF})
        http.post(f"{API}/prompts", json={"name": "chef", **changed})
        listed = http.get(f"{API}/prompts").json()
        versions = http.get(f"{API}/prompts/chef/versions").json()
        shown = http.get(f"{API}/prompts/chef/versions/2").json()
        diff = http.get(f"{API}/prompts/chef/diff", params={"from": 1, "to": 2}).json()
        default_diff = http.get(f"{API}/prompts/chef/diff").json()
    assert [(p["name"], p["latest_version"], p["versions"]) for p in listed["data"]] == [
        ("chef", 2, 2)
    ]
    assert [v["number"] for v in versions["data"]] == [1, 2]
    assert shown["system"] == "You are a pastry chef."
    assert (diff["from"], diff["to"]) == (1, 2)
    assert "-You are a chef." in diff["diff"] and "+You are a pastry chef." in diff["diff"]
    assert "--- chef@1" in diff["diff"]
    assert default_diff == diff


def test_unknown_prompt_and_version_are_404(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        http.post(f"{API}/prompts", json={"name": "chef", **CHEF})
        missing_prompt = http.get(f"{API}/prompts/nope/versions")
        missing_version = http.get(f"{API}/prompts/chef/versions/9")
    assert missing_prompt.status_code == missing_version.status_code == 404
    assert missing_prompt.json()["error"]["type"] == "not_found_error"


def test_a_bad_prompt_name_is_a_400_naming_the_field(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        response = http.post(f"{API}/prompts", json={"name": "has space", **CHEF})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("name: ")


def test_endpoints_need_the_key_and_the_beta_header(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        no_key = http.get(f"{API}/prompts", headers={"x-api-key": ""})
        no_beta = http.get(f"{API}/prompts", headers={"anthropic-beta": "other-beta"})
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert no_beta.status_code == 400
    assert "anthropic-beta: prompt-tools-2025-04-02" in no_beta.json()["error"]["message"]


def test_dataset_put_then_get_returns_the_cases_and_their_variables(
    promptmill_server: RunningServer,
) -> None:
    cases = [*food_cases("eggs"), {"vars": {"FOOD": "rice", "DIET": "vegan"}, "notes": "n"}]
    with client(promptmill_server) as http:
        put = http.put(f"{API}/datasets/dishes", json={"cases": cases})
        got = http.get(f"{API}/datasets/dishes").json()
        listed = http.get(f"{API}/datasets").json()
    assert put.status_code == 200
    assert got["cases"] == [
        {"vars": {"FOOD": "eggs"}, "expected": "eggs", "notes": None},
        {"vars": {"FOOD": "rice", "DIET": "vegan"}, "expected": None, "notes": "n"},
    ]
    assert got["variables"] == ["FOOD", "DIET"]
    assert [(d["name"], d["cases"]) for d in listed["data"]] == [("dishes", 2)]


def test_dataset_imports_csv_and_exports_it_back(promptmill_server: RunningServer) -> None:
    csv_text = 'FOOD,expected,notes\neggs,omelette,\n"rice, brown",pilaf,mention water\n'
    with client(promptmill_server) as http:
        put = http.put(f"{API}/datasets/dishes", json={"format": "csv", "content": csv_text})
        exported = http.get(f"{API}/datasets/dishes", params={"format": "csv"})
        jsonl = http.get(f"{API}/datasets/dishes", params={"format": "jsonl"})
        again = http.put(
            f"{API}/datasets/copy", json={"format": "csv", "content": exported.text}
        ).json()
    assert put.status_code == 200
    assert put.json()["cases"][1] == {
        "vars": {"FOOD": "rice, brown"},
        "expected": "pilaf",
        "notes": "mention water",
    }
    assert exported.headers["content-type"].startswith("text/csv")
    assert again["cases"] == put.json()["cases"]
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert len(jsonl.text.strip().splitlines()) == 2


def test_a_malformed_csv_is_a_400_naming_the_place(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        response = http.put(
            f"{API}/datasets/bad", json={"format": "csv", "content": "FOOD,FOOD\na,b\n"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_dataset_body_without_cases_or_content_is_a_400(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        response = http.put(f"{API}/datasets/empty", json={})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("cases: required")


def test_generated_cases_fill_every_variable_and_can_be_saved(
    promptmill_server: RunningServer,
) -> None:
    with client(promptmill_server) as http:
        response = http.post(
            f"{API}/cases/generate",
            json={"prompt": CHEF, "count": 3, "save_as": "generated"},
        )
        saved = http.get(f"{API}/datasets/generated").json()
    assert response.status_code == 200, response.text
    body = response.json()
    # The fake model's answers are built from the prompt's words, so repeats are likely:
    # the engine drops repeated cases, and may return fewer than asked (never none).
    assert 1 <= len(body["cases"]) <= 3
    assert all(case["vars"]["FOOD"].strip() for case in body["cases"])
    assert body["usage"] and body["usage"][0]["input_tokens"] > 0
    assert body["dataset"] == "generated"
    assert saved["cases"] == body["cases"]


def test_case_generation_from_a_saved_prompt_by_name(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        http.post(f"{API}/prompts", json={"name": "chef", **CHEF})
        response = http.post(f"{API}/cases/generate", json={"prompt": {"name": "chef"}, "count": 2})
        unknown = http.post(f"{API}/cases/generate", json={"prompt": {"name": "nope"}, "count": 2})
    assert response.status_code == 200
    assert len(response.json()["cases"]) == 2
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"].startswith("prompt.name: no prompt 'nope'")


def test_openapi_documents_the_evaluation_endpoints(promptmill_server: RunningServer) -> None:
    with client(promptmill_server) as http:
        schema = http.get("/openapi.json").json()
    for path in (
        "/v1/promptmill/prompts",
        "/v1/promptmill/prompts/{name}/diff",
        "/v1/promptmill/datasets/{name}",
        "/v1/promptmill/cases/generate",
        "/v1/promptmill/runs",
        "/v1/promptmill/runs/{run_id}/events",
    ):
        assert path in schema["paths"], path
    components = schema["components"]["schemas"]
    assert {"CreateRunRequest", "EvalRun", "PromptVersion", "SaveDatasetRequest"} <= set(components)
