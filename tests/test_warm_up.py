"""The start-up warm-up: a local model reads the planner's fixed prompt before any request."""

from __future__ import annotations

import logging

import pytest

from promptmill.backends.anthropic import AnthropicBackend
from promptmill.backends.local import LocalBackend
from promptmill.backends.openai import OpenAIBackend
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


class WarmingBackend(ScriptedBackend):
    """A scripted stand-in for a backend that warms up, as the embedded one does."""

    warms_up = True


def test_the_embedded_backend_is_the_one_that_warms_up() -> None:
    assert LocalBackend.warms_up is True
    assert not hasattr(OpenAIBackend, "warms_up")
    assert not hasattr(AnthropicBackend, "warms_up")


def test_a_backend_that_warms_up_does_so_in_the_background() -> None:
    backend = WarmingBackend(["{"])

    thread = warm_up_in_background(PromptEngine(backend))

    assert thread is not None
    thread.join(timeout=10)
    assert len(backend.requests) == 1


def test_a_backend_that_does_not_warm_up_is_left_alone() -> None:
    backend = ScriptedBackend([])

    assert warm_up_in_background(PromptEngine(backend)) is None
    assert backend.requests == []


def test_a_failed_warm_up_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    backend = WarmingBackend([OverloadedError("the model is busy")])

    with caplog.at_level(logging.WARNING, logger="promptmill"):
        thread = warm_up_in_background(PromptEngine(backend))
        assert thread is not None
        thread.join(timeout=10)

    assert "could not warm up the scripted model: the model is busy" in caplog.text
