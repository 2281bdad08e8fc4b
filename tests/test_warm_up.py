"""The start-up warm-up: a local model reads the planner's fixed prompt before any request."""

from __future__ import annotations

import logging

import pytest

from promptmill.config import Settings
from promptmill.engine import PromptEngine, metaprompts
from promptmill.errors import OverloadedError
from promptmill.startup import warm_up_in_background
from tests.fakes.scripted_backend import ScriptedBackend


def test_warm_up_reads_the_planners_fixed_prompt_and_answers_one_token() -> None:
    backend = ScriptedBackend(["{"])

    PromptEngine(backend).warm_up()

    [request] = backend.requests
    assert request.system == metaprompts.PLANNER_SYSTEM
    assert request.max_tokens == 1
    real = metaprompts.generate_plan_request("a chef for a meal prep planning service", None)
    fixed = real.split("Target model:")[0]
    assert request.turns[0].text.startswith(fixed)


def test_the_embedded_backend_warms_up_in_the_background() -> None:
    backend = ScriptedBackend(["{"])

    thread = warm_up_in_background(PromptEngine(backend), Settings(backend="local"))

    assert thread is not None
    thread.join(timeout=10)
    assert len(backend.requests) == 1


def test_a_remote_backend_is_not_warmed_up_since_its_api_would_bill_it() -> None:
    backend = ScriptedBackend([])
    settings = Settings(backend="openai", openai_base_url="http://127.0.0.1:9")

    assert warm_up_in_background(PromptEngine(backend), settings) is None
    assert backend.requests == []


def test_a_failed_warm_up_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    backend = ScriptedBackend([OverloadedError("the model is busy")])

    with caplog.at_level(logging.WARNING, logger="promptmill"):
        thread = warm_up_in_background(PromptEngine(backend), Settings(backend="local"))
        assert thread is not None
        thread.join(timeout=10)

    assert "could not warm up the local model: the model is busy" in caplog.text
