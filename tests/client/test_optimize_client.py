"""``Client.optimize`` and ``AsyncClient.optimize`` against a real promptmill server
(its backend the OpenAI backend on the fake OpenAI server)."""

from __future__ import annotations

import asyncio

import pytest

from promptmill import AsyncClient, Client, InvalidRequestError
from promptmill.engine.cases import TestCase
from promptmill.optimize_types import OptimizeProgress, OptimizeResult
from promptmill.types import Progress, PromptMessage, PromptResult
from tests.client.live_server import LivePromptmill

CASES = [
    TestCase(vars={"FRUIT": fruit}, expected=colour)
    for fruit, colour in [
        ("banana", "yellow"),
        ("cherry", "red"),
        ("lime", "green"),
        ("plum", "purple"),
        ("lemon", "yellow"),
    ]
]
PROMPT = "Which colour is this fruit?\n\n{{FRUIT}}"


def client_of(server: LivePromptmill) -> Client:
    return Client(base_url=server.url, api_key=server.api_key, max_retries=0)


def test_optimize_returns_a_typed_result(live_server: LivePromptmill) -> None:
    with client_of(live_server) as client:
        result = client.optimize(CASES, [{"type": "contains"}], PROMPT, budget=30)
    assert isinstance(result, OptimizeResult)
    assert result.original.messages[0].text == PROMPT
    assert result.calls <= 30 and result.budget == 30


def test_optimize_accepts_a_prompt_tools_result_and_plain_dict_cases(
    live_server: LivePromptmill,
) -> None:
    generated = PromptResult(messages=[PromptMessage.of("user", PROMPT)], system="", usage=[])
    cases = [case.model_dump(exclude_none=True) for case in CASES]
    with client_of(live_server) as client:
        result = client.optimize(cases, [{"type": "exact"}], generated, budget=20, seed=3)
    assert result.original.messages[0].text == PROMPT


def test_on_progress_receives_optimization_progress_with_the_calls_spent(
    live_server: LivePromptmill,
) -> None:
    seen: list[Progress] = []
    with client_of(live_server) as client:
        result = client.optimize(
            CASES, [{"type": "contains"}], PROMPT, budget=25, on_progress=seen.append
        )
    assert seen and all(isinstance(p, OptimizeProgress) for p in seen)
    assert max(p.calls for p in seen if isinstance(p, OptimizeProgress)) <= result.calls


def test_a_bad_grader_raises_invalid_request_error_naming_it(live_server: LivePromptmill) -> None:
    with client_of(live_server) as client, pytest.raises(InvalidRequestError) as raised:
        client.optimize(CASES, [{"type": "fuzzy"}], PROMPT)
    assert raised.value.message.startswith("graders.0.type: unknown grader 'fuzzy'")


def test_the_async_client_optimizes_too(live_server: LivePromptmill) -> None:
    async def run() -> OptimizeResult:
        async with AsyncClient(base_url=live_server.url, api_key=live_server.api_key) as client:
            return await client.optimize(CASES, [{"type": "contains"}], PROMPT, budget=30)

    result = asyncio.run(run())
    assert isinstance(result, OptimizeResult) and result.calls <= 30
