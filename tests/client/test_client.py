"""The blocking client: typed results, typed errors, headers, retries, progress."""

from __future__ import annotations

import socket

import pytest

from promptmill import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    Client,
    InvalidRequestError,
    OverloadedError,
    RateLimitError,
)
from promptmill.protocol import (
    ANTHROPIC_VERSION,
    GENERATE_PATH,
    IMPROVE_PATH,
    PROMPT_TOOLS_BETA,
    SEPARATE_SYSTEM_HEADER,
    TEMPLATIZE_PATH,
)
from promptmill.types import Progress, PromptMessage, PromptResult, TemplatizeResult
from tests.client.live_server import LivePromptmill
from tests.client.scripted_server import OK_BODY, ScriptedAPIServer, error_body

# --- against a real promptmill server --------------------------------------------


def test_generate_prompt_returns_a_typed_prompt_result(live_server: LivePromptmill) -> None:
    with Client(live_server.url, api_key=live_server.api_key) as client:
        result = client.generate_prompt("a chef for a meal prep planning service")
    assert isinstance(result, PromptResult)
    assert result.messages[0].role == "user"
    assert result.messages[0].text.strip()
    assert result.system == ""
    assert result.usage and all(u.input_tokens > 0 for u in result.usage)


def test_improve_prompt_accepts_a_plain_string_as_one_user_message(
    live_server: LivePromptmill,
) -> None:
    with Client(live_server.url, api_key=live_server.api_key) as client:
        result = client.improve_prompt(
            "Suggest a recipe using {{INGREDIENT}}.", feedback="Add cooking times"
        )
    assert isinstance(result, PromptResult)
    assert "{{INGREDIENT}}" in result.messages[0].text


def test_templatize_prompt_returns_variable_values(live_server: LivePromptmill) -> None:
    live_server.fake.enqueue_json(
        {
            "variables": [
                {"name": "WORD", "value": "hello"},
                {"name": "TARGET_LANGUAGE", "value": "German"},
            ]
        }
    )
    with Client(live_server.url, api_key=live_server.api_key) as client:
        result = client.templatize_prompt(
            [PromptMessage.of("user", "Translate hello to German")],
            system="You are a professional English to German translator",
        )
    assert isinstance(result, TemplatizeResult)
    assert result.variable_values == {"WORD": "hello", "TARGET_LANGUAGE": "German"}
    assert result.messages[0].text == "Translate {{WORD}} to {{TARGET_LANGUAGE}}"
    assert result.system == "You are a professional English to {{TARGET_LANGUAGE}} translator"


def test_on_progress_reports_pipeline_stages_before_the_result(
    live_server: LivePromptmill,
) -> None:
    seen: list[Progress] = []
    with Client(live_server.url, api_key=live_server.api_key) as client:
        result = client.generate_prompt("a haiku writer", on_progress=seen.append)
    assert seen, "the server streamed no progress events"
    assert all(isinstance(p, Progress) and p.stage for p in seen)
    assert result.messages[0].text


def test_an_unknown_key_raises_authentication_error_with_the_request_id(
    live_server: LivePromptmill,
) -> None:
    with (
        Client(live_server.url, api_key="sk-pm-not-a-key") as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.generate_prompt("a chef")
    assert caught.value.status == 401
    assert caught.value.request_id


def test_an_invalid_message_raises_invalid_request_error_naming_the_field(
    live_server: LivePromptmill,
) -> None:
    bad = {"role": "user", "content": [{"type": "image", "source": {}}]}
    with (
        Client(live_server.url, api_key=live_server.api_key) as client,
        pytest.raises(InvalidRequestError) as caught,
    ):
        client.templatize_prompt([bad])
    assert caught.value.status == 400
    assert "messages.0.content" in caught.value.message


def test_the_key_defaults_to_promptmill_api_key_from_the_environment(
    live_server: LivePromptmill, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTMILL_API_KEY", live_server.api_key)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")
    with Client(live_server.url) as client:
        assert client.generate_prompt("a chef").messages


def test_the_key_falls_back_to_anthropic_api_key(
    scripted: ScriptedAPIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMPTMILL_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    with Client(scripted.root_url) as client:
        client.generate_prompt("a chef")
    assert scripted.request_headers[0]["x-api-key"] == "sk-ant-from-env"


# --- the wire, against a scripted server -----------------------------------------


def test_requests_carry_the_anthropic_headers_and_the_spec_path(
    scripted: ScriptedAPIServer,
) -> None:
    with Client(scripted.root_url + "/", api_key="k") as client:
        client.generate_prompt("a chef", target_model="claude-sonnet-4-5")
    headers = scripted.request_headers[0]
    assert headers["x-api-key"] == "k"
    assert headers["anthropic-version"] == ANTHROPIC_VERSION
    assert headers["anthropic-beta"] == PROMPT_TOOLS_BETA
    assert headers["content-type"] == "application/json"
    assert scripted.request_paths == [GENERATE_PATH]
    assert scripted.requests[0] == {"task": "a chef", "target_model": "claude-sonnet-4-5"}


def test_separate_system_is_sent_as_promptmills_header_only_when_asked(
    scripted: ScriptedAPIServer,
) -> None:
    scripted.answer()
    scripted.answer()
    scripted.answer()
    with Client(scripted.root_url, api_key="k") as client:
        client.generate_prompt("a chef")
        client.generate_prompt("a chef", target_model="gpt-4o", separate_system=True)
        client.improve_prompt("Plan meals", separate_system=True, on_progress=lambda _: None)
    sent = [headers.get(SEPARATE_SYSTEM_HEADER) for headers in scripted.request_headers]
    assert sent == [None, "true", "true"]
    assert scripted.requests[1] == {"task": "a chef", "target_model": "gpt-4o"}  # not in the body


def test_separate_system_returns_a_system_prompt_for_a_gpt_target(
    live_server: LivePromptmill,
) -> None:
    with Client(live_server.url, api_key=live_server.api_key) as client:
        separate = client.generate_prompt("a chef", "gpt-4o", separate_system=True)
        default = client.generate_prompt("a chef", "gpt-4o")
    assert separate.system.strip() and default.system == ""


def test_improve_and_templatize_post_to_their_spec_paths(scripted: ScriptedAPIServer) -> None:
    scripted.answer()
    scripted.answer(body={**OK_BODY, "variable_values": {}})
    with Client(scripted.root_url, api_key="k") as client:
        client.improve_prompt("Plan meals")
        client.templatize_prompt("Plan meals")
    assert scripted.request_paths == [IMPROVE_PATH, TEMPLATIZE_PATH]


def test_optional_fields_left_out_are_not_sent(scripted: ScriptedAPIServer) -> None:
    with Client(scripted.root_url, api_key="k") as client:
        client.improve_prompt("Write about {{TOPIC}}")
    message = {"role": "user", "content": [{"type": "text", "text": "Write about {{TOPIC}}"}]}
    assert scripted.requests[0] == {"messages": [message]}


def test_an_overloaded_answer_is_retried_until_it_succeeds(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    scripted.answer(529, error_body("overloaded_error"))
    with Client(scripted.root_url, api_key="k", max_retries=2) as client:
        result = client.generate_prompt("a chef")
    assert result.messages[0].text == "Plan meals for {{CUSTOMER}}"
    assert len(scripted.requests) == 2
    assert len(recorded_sleeps) == 1


def test_a_rate_limited_retry_waits_at_least_retry_after(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    scripted.answer(429, error_body("rate_limit_error"), headers={"retry-after": "3"})
    with Client(scripted.root_url, api_key="k") as client:
        client.generate_prompt("a chef")
    assert recorded_sleeps and recorded_sleeps[0] >= 3.0
    assert len(scripted.requests) == 2


def test_backoff_grows_between_consecutive_retries(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    for _ in range(3):
        scripted.answer(529, error_body("overloaded_error"))
    with Client(scripted.root_url, api_key="k", max_retries=3) as client:
        client.generate_prompt("a chef")
    assert len(recorded_sleeps) == 3
    assert recorded_sleeps[0] < recorded_sleeps[2]


def test_retries_stop_at_max_retries_and_raise_the_last_error(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    for _ in range(3):
        scripted.answer(529, error_body("overloaded_error", "busy"))
    with (
        Client(scripted.root_url, api_key="k", max_retries=2) as client,
        pytest.raises(OverloadedError, match="busy"),
    ):
        client.generate_prompt("a chef")
    assert len(scripted.requests) == 3


def test_a_rate_limit_error_exposes_retry_after_when_retries_are_exhausted(
    scripted: ScriptedAPIServer,
) -> None:
    scripted.answer(429, error_body("rate_limit_error"), headers={"retry-after": "7"})
    with (
        Client(scripted.root_url, api_key="k", max_retries=0) as client,
        pytest.raises(RateLimitError) as caught,
    ):
        client.generate_prompt("a chef")
    assert caught.value.retry_after == 7.0
    assert caught.value.request_id == "req_scripted_1"


def test_a_bad_request_is_not_retried(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    scripted.answer(400, error_body("invalid_request_error", "task: field required"))
    with (
        Client(scripted.root_url, api_key="k") as client,
        pytest.raises(InvalidRequestError, match="task: field required"),
    ):
        client.generate_prompt("a chef")
    assert len(scripted.requests) == 1
    assert recorded_sleeps == []


def test_a_non_json_error_page_still_maps_by_status(scripted: ScriptedAPIServer) -> None:
    scripted.answer(529, "<html>upstream overloaded</html>", content_type="text/html")
    with (
        Client(scripted.root_url, api_key="k", max_retries=0) as client,
        pytest.raises(OverloadedError, match="upstream overloaded"),
    ):
        client.generate_prompt("a chef")


def test_a_refused_connection_raises_api_connection_error(recorded_sleeps: list[float]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    with (
        Client(f"http://127.0.0.1:{port}", api_key="k", max_retries=1) as client,
        pytest.raises(APIConnectionError),
    ):
        client.generate_prompt("a chef")
    assert len(recorded_sleeps) == 1


def test_a_server_slower_than_the_timeout_raises_api_timeout_error(
    scripted: ScriptedAPIServer,
) -> None:
    scripted.answer(200, delay=5.0)
    with (
        Client(scripted.root_url, api_key="k", timeout=0.3, max_retries=0) as client,
        pytest.raises(APITimeoutError),
    ):
        client.generate_prompt("a chef")


def test_a_stream_error_event_raises_the_typed_error(scripted: ScriptedAPIServer) -> None:
    events = (
        'event: progress\ndata: {"type":"progress","stage":"plan","message":"planning",'
        '"attempt":1}\n\n'
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        '"message":"backend busy"}}\n\n'
    )
    scripted.answer(200, events, content_type="text/event-stream")
    seen: list[Progress] = []
    with (
        Client(scripted.root_url, api_key="k", max_retries=0) as client,
        pytest.raises(OverloadedError, match="backend busy"),
    ):
        client.generate_prompt("a chef", on_progress=seen.append)
    assert [p.stage for p in seen] == ["plan"]
    assert scripted.request_headers[0]["accept"] == "text/event-stream"


def test_progress_falls_back_to_plain_json_when_the_server_does_not_stream(
    scripted: ScriptedAPIServer,
) -> None:
    seen: list[Progress] = []
    with Client(scripted.root_url, api_key="k") as client:
        result = client.generate_prompt("a chef", on_progress=seen.append)
    assert seen == []
    assert result.messages[1].role == "assistant"
    assert "stream" not in scripted.requests[0]
