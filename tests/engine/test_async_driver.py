"""The engine's event-loop driver: ``*_async`` make the same calls and give the same answers.

Each operation is written once and run by two drivers (``PromptEngine._drive`` blocks
on ``chat``, ``_drive_async`` awaits ``achat``). These tests run the same scripts both
ways and compare everything the caller can see: the result, the usage, the requests
the backend received and the errors.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest

from promptmill.backends.base import ChatReply, ChatRequest
from promptmill.engine import PromptEngine
from promptmill.engine.types import PromptMessage
from promptmill.errors import InvalidRequestError, OverloadedError
from tests.fakes.scripted_backend import ScriptedBackend, ScriptItem

TASK = "Summarise a customer's support ticket for the refunds team"
PLAN: dict[str, Any] = {
    "role": "experienced support analyst",
    "objective": "Summarise the customer's support ticket for the refunds team.",
    "inputs": [{"name": "TICKET", "description": "The customer's support ticket, verbatim"}],
    "steps": ["Read the ticket", "Say what the customer wants refunded and why"],
    "constraints": ["Quote order numbers exactly"],
    "output_format": "Two sentences: the problem, then what the customer asks for",
    "think_first": False,
}
NOT_JSON = "I would plan it like this: first a role, then"


class AwaitedBackend(ScriptedBackend):
    """The scripted backend with ``achat``; its ``chat`` refuses, so nothing blocks a thread."""

    def __init__(self, script: list[ScriptItem]) -> None:
        super().__init__(script)
        self.awaited = 0

    async def achat(self, request: ChatRequest) -> ChatReply:
        self.awaited += 1
        await asyncio.sleep(0)  # a real await: the loop may run others meanwhile
        return super().chat(request)

    def chat(self, request: ChatRequest) -> ChatReply:
        raise AssertionError("the event-loop driver called the blocking chat")


def _sent(requests: list[ChatRequest]) -> list[ChatRequest]:
    """The requests without their timeouts (the seconds left differ from run to run)."""
    return [replace(request, timeout=0.0) for request in requests]


def _tokens(result: Any) -> list[tuple[int, int]]:
    return [(u.input_tokens, u.output_tokens) for u in result.usage]


def _both_ways(script: list[ScriptItem], operation: str, *args: Any, **kwargs: Any) -> tuple:
    """(result, requests) through ``operation`` and through ``operation_async``."""
    blocking = ScriptedBackend(list(script))
    awaited = AwaitedBackend(list(script))
    sync_result = getattr(PromptEngine(blocking), operation)(*args, **kwargs)
    async_result = asyncio.run(
        getattr(PromptEngine(awaited), f"{operation}_async")(*args, **kwargs)
    )
    assert awaited.awaited == len(awaited.requests)
    return (sync_result, blocking.requests), (async_result, awaited.requests)


def test_generate_async_gives_generates_answer_from_the_same_calls() -> None:
    (sync_result, sync_requests), (async_result, async_requests) = _both_ways(
        [json.dumps(PLAN)], "generate", TASK, "claude-sonnet-4-5"
    )

    assert async_result.messages == sync_result.messages
    assert async_result.system == sync_result.system
    assert _tokens(async_result) == _tokens(sync_result)
    assert _sent(async_requests) == _sent(sync_requests)


def test_the_repair_loop_runs_the_same_on_the_event_loop() -> None:
    (sync_result, sync_requests), (async_result, async_requests) = _both_ways(
        [NOT_JSON, json.dumps(PLAN)], "generate", TASK
    )

    assert len(async_requests) == len(sync_requests) == 2
    assert [r.temperature for r in async_requests] == [r.temperature for r in sync_requests]
    assert async_result.messages == sync_result.messages
    assert len(async_result.usage) == 2


def test_improve_async_keeps_the_variables_as_improve_does() -> None:
    messages = [PromptMessage.of("user", "Summarise this ticket: {{TICKET}}")]
    (sync_result, sync_requests), (async_result, async_requests) = _both_ways(
        [json.dumps(PLAN)] * 3, "improve", messages, "", "Quote order numbers exactly"
    )

    assert async_result.messages == sync_result.messages
    assert "{{TICKET}}" in async_result.messages[0].text
    assert _sent(async_requests) == _sent(sync_requests)


def test_templatize_async_substitutes_as_templatize_does() -> None:
    proposals = json.dumps({"variables": [{"name": "CITY", "value": "Lisbon"}]})
    messages = [PromptMessage.of("user", "Plan a day in Lisbon for two.")]
    (sync_result, _), (async_result, _) = _both_ways([proposals], "templatize", messages)

    assert async_result.messages == sync_result.messages
    assert _tokens(async_result) == _tokens(sync_result)
    assert async_result.variable_values == {"CITY": "Lisbon"}


def test_a_backend_fault_surfaces_unchanged_on_the_event_loop() -> None:
    fault = OverloadedError("the backend is overloaded", retry_after=3.0)
    engine = PromptEngine(AwaitedBackend([fault]))

    with pytest.raises(OverloadedError) as caught:
        asyncio.run(engine.generate_async(TASK))

    assert caught.value is fault


def test_bad_input_is_the_same_invalid_request_on_the_event_loop() -> None:
    engine = PromptEngine(AwaitedBackend([]))

    with pytest.raises(InvalidRequestError, match="task"):
        asyncio.run(engine.generate_async("   "))


def test_only_a_backend_with_achat_runs_on_the_event_loop() -> None:
    blocking = PromptEngine(ScriptedBackend([json.dumps(PLAN)]))

    with pytest.raises(TypeError, match="no achat"):
        asyncio.run(blocking.generate_async(TASK))
