"""The asyncio twin behaves like the blocking client."""

from __future__ import annotations

import asyncio

import pytest

from promptmill import AsyncClient, AuthenticationError, OverloadedError
from promptmill.types import Progress, PromptResult, TemplatizeResult
from tests.client.live_server import LivePromptmill
from tests.client.scripted_server import ScriptedAPIServer, error_body


def test_async_generate_prompt_returns_a_typed_result(live_server: LivePromptmill) -> None:
    async def run() -> PromptResult:
        async with AsyncClient(live_server.url, api_key=live_server.api_key) as client:
            return await client.generate_prompt("a chef for a meal prep planning service")

    result = asyncio.run(run())
    assert isinstance(result, PromptResult)
    assert result.messages[0].text


def test_async_templatize_streams_progress_then_returns_variable_values(
    live_server: LivePromptmill,
) -> None:
    seen: list[Progress] = []

    async def run() -> TemplatizeResult:
        async with AsyncClient(live_server.url, api_key=live_server.api_key) as client:
            return await client.templatize_prompt(
                "Translate hello to German", on_progress=seen.append
            )

    live_server.fake.enqueue_json({"variables": [{"name": "WORD", "value": "hello"}]})
    result = asyncio.run(run())
    assert isinstance(result, TemplatizeResult)
    assert result.variable_values == {"WORD": "hello"}
    assert result.messages[0].text == "Translate {{WORD}} to German"
    assert [p.stage for p in seen] == ["propose", "substitute", "done"]


def test_async_separate_system_returns_a_system_prompt_for_a_gemini_target(
    live_server: LivePromptmill,
) -> None:
    async def run() -> tuple[PromptResult, PromptResult]:
        async with AsyncClient(live_server.url, api_key=live_server.api_key) as client:
            return (
                await client.improve_prompt(
                    "Summarize {{TEXT}}", target_model="gemini-2.5-pro", separate_system=True
                ),
                await client.generate_prompt(
                    "a chef", "gemini-2.5-pro", separate_system=True, on_progress=lambda _: None
                ),
            )

    improved, generated = asyncio.run(run())
    assert improved.system.strip() and generated.system.strip()
    assert "{{TEXT}}" in improved.messages[0].text


def test_async_unknown_key_raises_authentication_error(live_server: LivePromptmill) -> None:
    async def run() -> None:
        async with AsyncClient(live_server.url, api_key="sk-pm-nope") as client:
            await client.generate_prompt("a chef")

    with pytest.raises(AuthenticationError):
        asyncio.run(run())


def test_async_client_retries_an_overloaded_answer_honouring_retry_after(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    scripted.answer(529, error_body("overloaded_error"), headers={"retry-after": "2"})

    async def run() -> PromptResult:
        async with AsyncClient(scripted.root_url, api_key="k") as client:
            return await client.generate_prompt("a chef")

    assert asyncio.run(run()).usage[0].output_tokens == 34
    assert len(scripted.requests) == 2
    assert recorded_sleeps[0] >= 2.0


def test_async_client_raises_after_max_retries(
    scripted: ScriptedAPIServer, recorded_sleeps: list[float]
) -> None:
    scripted.answer(529, error_body("overloaded_error"))
    scripted.answer(529, error_body("overloaded_error"))

    async def run() -> None:
        async with AsyncClient(scripted.root_url, api_key="k", max_retries=1) as client:
            await client.generate_prompt("a chef")

    with pytest.raises(OverloadedError):
        asyncio.run(run())
    assert len(scripted.requests) == 2
