"""Optimization on data through a scripted in-memory backend: what is proposed, how it is
scored, what is returned, and what the budget allows.

The scripted "model" answers a parity question ("is NUMBER even or odd?"); how well it
answers depends on the prompt it is sent, which is how a test makes a kind of
candidate help or hurt. Planning requests (the improve step) carry a JSON schema and
get a plan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptmill.backends.base import ChatRequest
from promptmill.engine import metaprompts
from promptmill.engine.cases import TestCase
from promptmill.engine.evaluation import Evaluator, Variant
from promptmill.engine.fewshot import (
    ANSWER_LIKE_EXAMPLES,
    add_examples,
    answer_format,
    choice_answer_form,
    choose_examples,
    render_examples,
)
from promptmill.engine.headings import ENGLISH_HEADINGS
from promptmill.engine.optimize import PromptOptimizer, adapt_variables, split_cases
from promptmill.engine.versions import PromptTemplate
from promptmill.errors import APIError, InvalidRequestError
from promptmill.optimize_types import OptimizeProgress
from promptmill.types import Progress, PromptMessage
from tests.fakes.scripted_backend import ScriptedBackend

ORIGINAL = PromptTemplate(
    messages=[PromptMessage.of("user", "Say whether the number is even or odd.\n\n{{NUMBER}}")]
)
EXACT = [{"type": "exact"}]
IMPROVE_PLAN = {
    "role": "careful arithmetic checker",
    "objective": "Decide whether the given number is even or odd.",
    "input_descriptions": {"NUMBER": "The whole number to classify"},
    "steps": ["Look at the last digit", "Decide even or odd", "Write the one word"],
    "constraints": ["Answer with one word"],
    "output_format": "One word: even or odd",
    "think_first": False,
}


def parity_cases(count: int = 12) -> list[TestCase]:
    return [
        TestCase(vars={"NUMBER": f"#{n}"}, expected="even" if n % 2 == 0 else "odd")
        for n in range(count)
    ]


def _number(request: ChatRequest) -> int:
    return int(re.findall(r"#(\d+)", request.turns[0].text)[-1])


def _truth(request: ChatRequest) -> str:
    return "even" if _number(request) % 2 == 0 else "odd"


def model(
    *, examples_help: bool = False, reasoning_helps: bool = False, improved_helps: bool = False
) -> Callable[[ChatRequest], str]:
    """A model that says "even" to everything unless the prompt has what helps it."""

    def answer(request: ChatRequest) -> str:
        if request.json_schema is not None:  # a planning call of improve
            return json.dumps(IMPROVE_PLAN)
        text = request.turns[0].text
        if examples_help and "<examples>" in text:
            return _truth(request)
        if reasoning_helps and metaprompts.REASONING_INSTRUCTION in text:
            return _truth(request)
        if improved_helps and "arithmetic checker" in text:
            return _truth(request)
        return "even"

    return answer


def optimize(backend: ScriptedBackend, **options: Any) -> Any:
    options.setdefault("prompt", ORIGINAL)
    options.setdefault("budget", 200)
    cases = options.pop("cases", parity_cases())
    graders = options.pop("graders", EXACT)
    concurrency = options.pop("concurrency", 2)
    return PromptOptimizer(backend, concurrency=concurrency).optimize(cases, graders, **options)


# --- what is returned -------------------------------------------------------------------


def test_the_original_is_kept_when_no_candidate_beats_it() -> None:
    result = optimize(ScriptedBackend(responder=model()))
    assert result.label == "original" and not result.improved
    assert result.prompt == ORIGINAL
    assert len(result.candidates) > 1  # candidates were tried, and lost


def test_the_candidate_with_the_largest_gain_is_returned() -> None:
    result = optimize(ScriptedBackend(responder=model(examples_help=True)))
    assert (
        result.improved
        and result.candidates[[c.label for c in result.candidates].index(result.label)].kind
        == "few_shot"
    )
    assert "<examples>" in result.prompt.messages[0].text
    assert result.train.score == 1.0
    assert result.original_train.score is not None and result.original_train.score < 1.0


def test_a_gain_measured_on_more_cases_outweighs_the_same_gain_on_fewer() -> None:
    # The original is always wrong; examples and reasoning both make every answer right.
    # Few-shot candidates are scored on the cases they do not show (1 to 3 of 4), the
    # reasoning candidate on all four: it wins the most cases, so it is chosen.
    def answer(request: ChatRequest) -> str:
        if request.json_schema is not None:
            return json.dumps(IMPROVE_PLAN)
        text = request.turns[0].text
        helped = "<examples>" in text or metaprompts.REASONING_INSTRUCTION in text
        return _truth(request) if helped else "unsure"

    result = optimize(ScriptedBackend(responder=answer), cases=parity_cases(4), held_out_fraction=0)
    few_shot = [c for c in result.candidates if c.kind == "few_shot"]
    assert few_shot and all(c.gain == 1.0 and c.train.cases < 4 for c in few_shot)
    assert result.label == "original with reasoning"
    assert result.train.cases == 4 and result.train.score == 1.0


def test_an_improvement_written_from_failures_can_win() -> None:
    result = optimize(ScriptedBackend(responder=model(improved_helps=True)))
    assert result.label == "improved from failures"
    assert "{{NUMBER}}" in result.prompt.messages[0].text


def test_examples_come_first_closed_by_an_instruction_to_answer_like_them() -> None:
    result = optimize(ScriptedBackend(responder=model(examples_help=True)))
    # Every few-shot candidate is perfect; the one showing fewest examples is scored on
    # the most cases, so it wins.
    assert result.label == "few-shot (1 example), answer like them"
    text = result.prompt.messages[0].text
    assert text.index("<examples>") < text.index("{{NUMBER}}")
    assert text.endswith(ANSWER_LIKE_EXAMPLES)


def test_labelled_outputs_get_a_candidate_naming_their_form() -> None:
    def answer(request: ChatRequest) -> str:
        text = request.turns[0].text
        return _truth(request) if "these answers: even, odd." in text else "It is even"

    result = optimize(ScriptedBackend(responder=answer))
    assert result.label == "original, answer form named"
    assert result.prompt.messages[0].text.startswith(ORIGINAL.messages[0].text)


def test_lettered_options_are_first_tried_as_one_sentence_then_the_letter() -> None:
    # A model that picks the right option only when it may say which one fits first, as
    # Qwen 1.5B does on BIG-bench (render._output_spec); the letter alone is a guess.
    def answer(request: ChatRequest) -> str:
        right = "(A)" if _truth(request) == "even" else "(B)"
        if ENGLISH_HEADINGS.choose_answer in request.turns[0].text:
            return f"The number fits the first option. {right}"
        return "(A)"

    cases = [
        TestCase(vars={"NUMBER": f"#{n}"}, expected="(A)" if n % 2 == 0 else "(B)")
        for n in range(12)
    ]
    result = optimize(
        ScriptedBackend(responder=answer), cases=cases, graders=[{"type": "contains"}]
    )
    assert result.label == "original, option named after one sentence"
    assert result.prompt.messages[0].text.endswith(ENGLISH_HEADINGS.choose_answer)
    labels = [c.label for c in result.candidates]
    assert labels.index(result.label) < labels.index("original, answer form named")


def test_only_lettered_options_get_the_one_sentence_form() -> None:
    assert choice_answer_form(["(A)", "(C)"]) == ENGLISH_HEADINGS.choose_answer
    assert choice_answer_form(["(A)", "even"]) is None
    assert choice_answer_form(["A", "B"]) is None


def test_free_text_outputs_get_no_answer_form() -> None:
    assert answer_format(["even", "odd", "(A)"]) is not None
    assert answer_format(["a summary\nover two lines"]) is None
    assert answer_format(["x" * 41]) is None
    assert answer_format([str(n) for n in range(13)]) is None


def test_a_reasoning_variant_can_win_and_keeps_the_answer_format() -> None:
    result = optimize(ScriptedBackend(responder=model(reasoning_helps=True)))
    assert result.label == "original with reasoning"
    text = result.prompt.messages[0].text
    assert text.startswith(ORIGINAL.messages[0].text)
    assert text.endswith(metaprompts.REASONING_INSTRUCTION)
    assert "exactly in the form asked for" in metaprompts.REASONING_INSTRUCTION


def test_a_prompt_that_asks_for_reasoning_is_tried_without_it() -> None:
    thinking = PromptTemplate(
        messages=[PromptMessage.of("user", "Think step by step: is {{NUMBER}} even or odd?")]
    )
    result = optimize(ScriptedBackend(responder=model()), prompt=thinking)
    kinds = [c.kind for c in result.candidates]
    assert "direct" in kinds and "reasoning" not in kinds[:4]


def test_every_candidate_tried_is_reported_with_its_scores() -> None:
    result = optimize(ScriptedBackend(responder=model()))
    assert result.candidates[0].label == "original" and result.candidates[0].gain == 0.0
    labels = [c.label for c in result.candidates]
    assert labels[1:6] == [
        "few-shot (3 examples), answer like them",
        "original, answer form named",
        "few-shot (3 examples)",
        "improved from failures",
        "original with reasoning",
    ]
    for candidate in result.candidates:
        assert candidate.train is not None and candidate.original_train is not None
        assert candidate.train.cases == candidate.original_train.cases
        assert candidate.gain == pytest.approx(
            candidate.train.score - candidate.original_train.score
        )


def test_a_candidate_is_never_scored_on_the_cases_it_shows() -> None:
    backend = ScriptedBackend(responder=model(examples_help=True))
    result = optimize(backend)
    few_shot = next(c for c in result.candidates if c.kind == "few_shot")
    assert len(few_shot.exposed_cases) == 3
    assert few_shot.train is not None
    assert few_shot.train.cases == len(result.split.train) - 3
    with_examples = [r for r in backend.requests if "<examples>" in r.turns[0].text]
    asked = {_number(r) for r in with_examples[: few_shot.train.cases]}
    assert asked.isdisjoint(few_shot.exposed_cases)


def test_a_tie_goes_to_a_candidate_only_when_it_needs_fewer_tokens() -> None:
    # The model never improves, so every candidate ties or loses: with a short original
    # the (longer) candidates lose the tie, with a very long one the improvement wins it.
    assert optimize(ScriptedBackend(responder=model())).label == "original"
    long_original = PromptTemplate(
        messages=[
            PromptMessage.of(
                "user", "Say whether the number is even or odd. " * 60 + "\n\n{{NUMBER}}"
            )
        ]
    )
    result = optimize(ScriptedBackend(responder=model()), prompt=long_original)
    assert result.label == "improved from failures"
    assert result.train.score == result.original_train.score
    chosen = next(c for c in result.candidates if c.label == result.label)
    original = result.candidates[0]
    assert chosen.mean_input_tokens < original.mean_input_tokens


def test_the_held_out_cases_score_the_best_prompt_and_the_original() -> None:
    result = optimize(ScriptedBackend(responder=model(examples_help=True)), held_out_fraction=0.25)
    assert len(result.split.held_out) == 3
    assert set(result.split.train).isdisjoint(result.split.held_out)
    assert result.held_out is not None and result.held_out.cases == 3
    assert result.held_out.score == 1.0
    assert result.original_held_out is not None and result.original_held_out.cases == 3


def test_without_held_out_cases_there_are_no_held_out_scores() -> None:
    result = optimize(ScriptedBackend(responder=model()), held_out_fraction=0.0)
    assert result.split.held_out == [] and result.held_out is None
    assert result.original_held_out is None


def test_a_perfect_original_is_returned_without_proposing() -> None:
    backend = ScriptedBackend(responder=_truth)
    result = optimize(backend)
    assert [c.label for c in result.candidates] == ["original"]
    assert result.stopped == "the original passes every training case"


def test_the_feedback_quotes_input_expected_and_got_of_failing_cases() -> None:
    backend = ScriptedBackend(responder=model())
    optimize(backend)
    planning = next(r for r in backend.requests if r.json_schema is not None)
    text = planning.turns[0].text
    assert "<feedback>" in text and "Expected output: odd" in text
    assert "The model answered: even" in text
    assert "NUMBER: " in text


def test_a_task_is_turned_into_a_prompt_first_with_the_cases_variables() -> None:
    plan = {
        "role": "number classifier",
        "objective": "Classify a number as even or odd.",
        "inputs": [{"name": "INTEGER_VALUE", "description": "The number to classify"}],
        "steps": ["Read the number", "Check divisibility by two", "Answer"],
        "constraints": ["Answer with one word"],
        "output_format": "even or odd",
        "think_first": False,
    }
    backend = ScriptedBackend([json.dumps(plan)], responder=model())
    result = optimize(backend, prompt=None, task="Say whether a number is even or odd")
    assert result.original.variables == ["NUMBER"]
    assert "number classifier" in result.original.messages[0].text


def test_progress_reports_stages_and_the_calls_spent() -> None:
    seen: list[Progress] = []
    result = optimize(ScriptedBackend(responder=model()), on_progress=seen.append)
    assert all(isinstance(p, OptimizeProgress) and p.budget == 200 for p in seen)
    stages = {p.stage for p in seen}
    assert {"evaluate", "evaluated", "propose", "held_out"} <= stages
    calls = [p.calls for p in seen if isinstance(p, OptimizeProgress)]
    assert calls == sorted(calls) and calls[-1] <= result.calls


# --- the budget -----------------------------------------------------------------------


def test_the_budget_is_spent_exactly_when_it_fits_whole_candidates() -> None:
    # 9 training + 3 held-out cases: the original costs 12, the reserve for a new best
    # on the held-out cases 3, a 3-example few-shot 6: 21 calls, and nothing else fits.
    backend = ScriptedBackend(responder=model(examples_help=True))
    result = optimize(backend, budget=21)
    assert len(backend.requests) == result.calls == 21
    assert [c.label for c in result.candidates] == [
        "original",
        "few-shot (3 examples), answer like them",
    ]
    assert "no room" in result.stopped


def test_a_candidate_that_can_no_longer_win_stops_and_leaves_its_calls_to_the_next() -> None:
    # Examples make the model answer "odd" to everything: against an original that
    # passes the even cases, the few-shot candidates lose the cases they are scored on
    # first (the even ones) and stop after 5 of 9; the calls left over reach the
    # reasoning candidate, which wins. Scored in full, the candidates before it would
    # take 52 of the 60 calls, leaving too few for its 12 cases.
    def answer(request: ChatRequest) -> str:
        if request.json_schema is not None:
            return json.dumps(IMPROVE_PLAN)
        text = request.turns[0].text
        if metaprompts.REASONING_INSTRUCTION in text:
            return _truth(request)
        return "odd" if "<examples>" in text else "even"

    backend = ScriptedBackend(responder=answer)
    result = optimize(backend, budget=60, held_out_fraction=0.0, concurrency=1)
    by_label = {c.label: c for c in result.candidates}
    few_shot = by_label["few-shot (3 examples), answer like them"]
    assert few_shot.stopped_early
    assert few_shot.train is not None and few_shot.original_train is not None
    assert few_shot.train.cases < len(result.split.train) - 3
    assert few_shot.evaluation_calls == few_shot.train.cases
    assert few_shot.gain == pytest.approx(few_shot.train.score - few_shot.original_train.score)
    assert result.label == "original with reasoning" and result.train.score == 1.0
    assert not by_label["original with reasoning"].stopped_early
    assert len(backend.requests) == result.calls <= 60
    assert "2 more could not have beaten the best" in result.stopped


@settings(max_examples=30, deadline=None)
@given(
    answers=st.lists(st.sampled_from(["even", "odd"]), min_size=64, max_size=64),
    seed=st.integers(0, 100),
)
def test_a_stopped_candidate_could_not_have_won(answers: list[str], seed: int) -> None:
    # Each candidate stopped early, scored afresh on every case it would have been
    # scored on, nets less than the winner: the stop never changes the result.
    def arbitrary(request: ChatRequest) -> str:
        if request.json_schema is not None:
            return json.dumps(IMPROVE_PLAN)
        return answers[(hash(request.turns[0].text) + _number(request)) % len(answers)]

    cases = parity_cases()
    backend = ScriptedBackend(responder=arbitrary)
    result = optimize(backend, cases=cases, seed=seed, concurrency=1)
    winner = next(c for c in result.candidates if c.label == result.label)
    best_net = (winner.gain or 0.0) * (winner.train.cases if winner.train else 0)

    def passed(template: PromptTemplate, indices: list[int]) -> int:
        report = Evaluator(backend).run(
            [Variant(label="x", template=template)], [cases[i] for i in indices], EXACT
        )
        return sum(1 for r in report.results if r.passed)

    for candidate in result.candidates:
        if not candidate.stopped_early:
            continue
        assert candidate.prompt is not None and candidate.train is not None
        indices = [i for i in result.split.train if i not in candidate.exposed_cases]
        assert candidate.train.cases < len(indices)
        full_net = passed(candidate.prompt, indices) - passed(result.original, indices)
        assert full_net < best_net


@settings(max_examples=25, deadline=None)
@given(budget=st.integers(min_value=12, max_value=80), seed=st.integers(0, 5))
def test_the_budget_is_never_exceeded(budget: int, seed: int) -> None:
    backend = ScriptedBackend(responder=model(improved_helps=True))
    result = optimize(backend, budget=budget, seed=seed)
    assert len(backend.requests) == result.calls <= budget


def test_a_budget_too_small_for_the_original_is_refused_before_any_call() -> None:
    backend = ScriptedBackend(responder=model())
    with pytest.raises(InvalidRequestError, match=r"^budget: .*at least 12 are needed"):
        optimize(backend, budget=11)
    assert backend.requests == []


@pytest.mark.parametrize("budget", [0, -3, 10_000])
def test_a_budget_out_of_range_is_refused(budget: int) -> None:
    with pytest.raises(InvalidRequestError, match=r"^budget: must be a number of calls from 1"):
        optimize(ScriptedBackend(), budget=budget)


# --- never worse than the original ------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    answers=st.lists(st.sampled_from(["even", "odd"]), min_size=64, max_size=64),
    seed=st.integers(0, 100),
    budget=st.integers(min_value=12, max_value=70),
)
def test_the_result_never_scores_below_the_original_on_training_cases(
    answers: list[str], seed: int, budget: int
) -> None:
    def arbitrary(request: ChatRequest) -> str:
        if request.json_schema is not None:
            return json.dumps(IMPROVE_PLAN)
        text = request.turns[0].text
        return answers[(hash(text) + _number(request)) % len(answers)]

    result = optimize(ScriptedBackend(responder=arbitrary), budget=budget, seed=seed)
    assert result.train.score >= result.original_train.score
    if result.improved:
        assert result.train.score > result.original_train.score or (
            result.train.cases == result.original_train.cases
        )


# --- bad input ------------------------------------------------------------------------


def test_an_unknown_grader_is_a_400_naming_it_before_any_call() -> None:
    backend = ScriptedBackend()
    with pytest.raises(InvalidRequestError, match=r"^graders\.0\.type: unknown grader 'nope'"):
        optimize(backend, graders=[{"type": "nope"}])
    assert backend.requests == []


def test_a_case_missing_a_variable_is_a_400_naming_the_case() -> None:
    cases = [*parity_cases(4), TestCase(vars={"OTHER": "#1"}, expected="odd")]
    with pytest.raises(InvalidRequestError, match=r"^cases\.4\.vars: missing variable NUMBER"):
        optimize(ScriptedBackend(), cases=cases)


def test_no_cases_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match=r"^cases: the dataset is empty"):
        optimize(ScriptedBackend(), cases=[])


def test_a_prompt_and_a_task_together_are_a_400() -> None:
    with pytest.raises(InvalidRequestError, match=r"^prompt: send either a prompt or a task"):
        optimize(ScriptedBackend(), task="classify numbers")


def test_a_held_out_fraction_out_of_range_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match=r"^held_out_fraction: "):
        optimize(ScriptedBackend(), held_out_fraction=0.95)


# --- the pieces -----------------------------------------------------------------------


def test_the_split_is_seeded_disjoint_and_keeps_a_training_case() -> None:
    assert split_cases(12, 0.25, 3) == split_cases(12, 0.25, 3)
    train, held = split_cases(12, 0.25, 3)
    assert len(held) == 3 and sorted(train + held) == list(range(12))
    assert split_cases(1, 0.9, 0) == ([0], [])


def test_examples_cover_every_label_and_failures_first() -> None:
    cases = parity_cases(10)
    chosen = choose_examples(cases, range(10), 2, failed={3, 5, 7})
    assert {cases[i].expected for i in chosen} == {"even", "odd"}
    assert next(i for i in chosen if cases[i].expected == "odd") in {3, 5, 7}


def test_examples_follow_the_target_familys_conventions() -> None:
    examples = parity_cases(2)
    claude = render_examples(examples, "claude", ["NUMBER"])
    assert "<examples>" in claude and "<ideal_output>\nodd\n</ideal_output>" in claude
    assert "<number>\n#1\n</number>" in claude
    assert render_examples(examples, "open", ["NUMBER"]).startswith("## Examples")
    assert render_examples(examples, "openai", ["NUMBER"]).startswith("# Examples")
    assert "Input:\n#1\nOutput: odd" in render_examples(examples, "gemini", ["NUMBER"])


def test_examples_go_before_the_inputs_and_their_introduction() -> None:
    template = PromptTemplate(
        messages=[PromptMessage.of("user", "Classify it.\n\nHere is the number:\n\n{{NUMBER}}")]
    )
    text = add_examples(template, "EXAMPLES").messages[0].text
    assert text == "Classify it.\n\nEXAMPLES\n\nHere is the number:\n\n{{NUMBER}}"


def test_a_generated_prompts_variables_are_renamed_to_the_cases() -> None:
    template = PromptTemplate(
        messages=[PromptMessage.of("user", "Q: {{A}} context: {{B}}")], system=""
    )
    adapted = adapt_variables(template, ["QUESTION"], "the task")
    assert adapted.messages[0].text == "Q: {{QUESTION}} context: the task"
    widened = adapt_variables(template, ["X", "Y", "Z"], "the task")
    assert widened.variables == ["X", "Y", "Z"]


def test_an_optimization_that_fails_carries_the_usage_of_every_call_it_made() -> None:
    """A task whose prompt cannot be written fails the optimization; the calls it spent
    trying still count (the server records them in the call's usage)."""
    backend = ScriptedBackend(responder=lambda _: "no plan here")
    with pytest.raises(APIError) as failure:
        optimize(backend, prompt=None, task="Say whether a number is even or odd")
    assert len(failure.value.usage) == len(backend.requests) > 0
