"""``ChatRequest.model``: a per-call model override (evaluation runs one prompt on two models)."""

from __future__ import annotations

import pytest

from promptmill.backends.local import LocalBackend
from promptmill.errors import InvalidRequestError
from tests.backends import test_anthropic_backend as anthropic_tests
from tests.backends import test_openai_backend as openai_tests
from tests.backends.conftest import RecordingSleep
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.openai_server import FakeOpenAIServer


def test_openai_backend_sends_the_requested_model_else_its_own(
    fake_openai: FakeOpenAIServer, sleeps: RecordingSleep
) -> None:
    backend = openai_tests.backend_for(fake_openai, sleeps)
    backend.chat(openai_tests.ask("hello", model="gpt-other"))
    backend.chat(openai_tests.ask("hello"))
    assert [r["model"] for r in fake_openai.requests] == ["gpt-other", "gpt-test"]


def test_anthropic_backend_sends_the_requested_model_else_its_own(
    fake_anthropic: FakeAnthropicServer, sleeps: RecordingSleep
) -> None:
    backend = anthropic_tests.backend_for(fake_anthropic, sleeps)
    backend.chat(anthropic_tests.ask("hello", model="claude-other"))
    backend.chat(anthropic_tests.ask("hello"))
    assert [r["model"] for r in fake_anthropic.requests] == ["claude-other", "claude-test"]


def test_local_backend_refuses_another_model_before_loading_anything() -> None:
    backend = LocalBackend.__new__(LocalBackend)
    backend.model = "qwen-local"
    with pytest.raises(
        InvalidRequestError, match=r"^model: the local backend runs .qwen-local. and cannot switch"
    ):
        backend.chat(openai_tests.ask("hello", model="gpt-4o"))
