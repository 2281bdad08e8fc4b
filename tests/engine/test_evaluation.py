"""Runs: evaluate_case, the bounded-concurrency Evaluator, summaries and comparisons."""

from __future__ import annotations

import threading
import time

import pytest

from promptmill.backends.base import ChatRequest
from promptmill.engine.evaluation import (
    CaseResult,
    Evaluator,
    Variant,
    compare,
    evaluate_case,
    summarize,
)
from promptmill.engine.graders import validate_graders
from promptmill.engine.stats import mcnemar_exact, wilcoxon_signed_rank
from promptmill.engine.types import PromptMessage
from promptmill.engine.versions import PromptTemplate
from promptmill.errors import InvalidRequestError, OverloadedError
from promptmill.eval_types import TestCase
from tests.fakes.scripted_backend import ScriptedBackend


def variant(
    text: str, label: str = "v1", prefill: str | None = None, model: str | None = None
) -> Variant:
    messages = [PromptMessage.of("user", text)]
    if prefill is not None:
        messages.append(PromptMessage.of("assistant", prefill))
    return Variant(
        label=label, template=PromptTemplate(messages=messages, system="Be brief."), model=model
    )


CAPITAL = variant("What is the capital of {{COUNTRY}}?")
CASES = [
    TestCase(vars={"COUNTRY": "France"}, expected="Paris"),
    TestCase(vars={"COUNTRY": "Italy"}, expected="Rome"),
    TestCase(vars={"COUNTRY": "Spain"}, expected="Madrid"),
]
CAPITALS = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid"}


def answer_capitals(request: ChatRequest) -> str:
    question = request.turns[0].text
    return next(city for country, city in CAPITALS.items() if country in question)


def test_evaluate_case_fills_sends_and_grades() -> None:
    backend = ScriptedBackend(["Paris"])
    result = evaluate_case(backend, CAPITAL, CASES[0], validate_graders([{"type": "exact"}]))
    assert backend.requests[0].turns[0].text == "What is the capital of France?"
    assert backend.requests[0].system == "Be brief."
    assert result.output == "Paris"
    assert result.input["messages"][0]["content"][0]["text"] == "What is the capital of France?"
    assert (result.passed, result.score, result.error_type) == (True, 1.0, None)
    assert result.input_tokens > 0
    assert result.output_tokens == 1
    assert result.latency_ms >= 0


def test_evaluate_case_sends_at_temperature_zero_by_default() -> None:
    backend = ScriptedBackend(["Paris"])
    evaluate_case(backend, CAPITAL, CASES[0], [])
    assert backend.requests[0].temperature == 0.0
    assert backend.requests[0].max_tokens == 1024


def test_evaluate_case_sends_the_prefill_as_a_final_assistant_turn() -> None:
    backend = ScriptedBackend(['"Paris"}'])
    evaluate_case(
        backend, variant("Capital of {{COUNTRY}} as JSON", prefill='{"city": '), CASES[0], []
    )
    assert [(t.role, t.text) for t in backend.requests[0].turns] == [
        ("user", "Capital of France as JSON"),
        ("assistant", '{"city": '),
    ]


def test_evaluate_case_passes_the_variant_model() -> None:
    backend = ScriptedBackend(["Paris"])
    evaluate_case(backend, variant("{{COUNTRY}}", model="big-model"), CASES[0], [])
    assert backend.requests[0].model == "big-model"


def test_a_backend_failure_is_recorded_on_the_case_not_raised() -> None:
    backend = ScriptedBackend([OverloadedError("upstream is overloaded")])
    result = evaluate_case(backend, CAPITAL, CASES[0], validate_graders([{"type": "exact"}]))
    assert result.error_type == "overloaded_error"
    assert result.error_message == "upstream is overloaded"
    assert (result.output, result.grades, result.passed, result.score) == ("", [], None, None)


def test_an_unexpected_backend_exception_is_recorded_as_an_api_error() -> None:
    backend = ScriptedBackend([RuntimeError("segfault-ish")])
    result = evaluate_case(backend, CAPITAL, CASES[0], [])
    assert (result.error_type, result.error_message) == ("api_error", "segfault-ish")


def test_passed_requires_every_decided_grade_and_ignores_undecided_ones() -> None:
    graders = validate_graders(
        [
            {"type": "contains", "value": "Par"},
            {"type": "regex", "pattern": "^P"},
            {"type": "numeric"},
        ]
    )
    result = evaluate_case(ScriptedBackend(["Paris"]), CAPITAL, CASES[0], graders)
    assert [g.passed for g in result.grades] == [True, True, None]
    assert result.passed is True
    failing = evaluate_case(ScriptedBackend(["Lyon"]), CAPITAL, CASES[0], graders)
    assert failing.passed is False


def test_score_is_the_mean_of_grades_with_the_rubric_scaled_to_one() -> None:
    backend = ScriptedBackend(["Paris", '{"reason": "good", "score": 4}'])
    graders = validate_graders([{"type": "exact"}, {"type": "rubric", "rubric": "Is right"}])
    result = evaluate_case(backend, CAPITAL, CASES[0], graders)
    assert result.score == pytest.approx((1.0 + 0.75) / 2)


def test_the_evaluator_runs_every_case_on_every_variant() -> None:
    backend = ScriptedBackend(responder=answer_capitals)
    second = variant("Name the capital city of {{COUNTRY}}.", label="v2")
    report = Evaluator(backend).run([CAPITAL, second], CASES, [{"type": "exact"}])
    assert [(r.case_index, r.variant_index) for r in report.results] == [
        (c, v) for c in range(3) for v in range(2)
    ]
    assert all(r.passed for r in report.results)
    assert [s.pass_rate for s in report.summary] == [1.0, 1.0]
    assert report.stopped is False


def test_the_evaluator_never_exceeds_its_concurrency() -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def slow(request: ChatRequest) -> str:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        return "x"

    cases = [TestCase(vars={"COUNTRY": str(i)}) for i in range(24)]
    Evaluator(ScriptedBackend(responder=slow), concurrency=3).run([CAPITAL], cases, [])
    assert peak == 3


def test_the_evaluator_reports_each_result_as_it_finishes() -> None:
    seen: list[CaseResult] = []
    report = Evaluator(ScriptedBackend(responder=answer_capitals), concurrency=2).run(
        [CAPITAL], CASES, [{"type": "exact"}], on_result=seen.append
    )
    assert sorted(seen, key=lambda r: r.case_index) == report.results


def test_should_stop_stops_before_the_next_case_starts() -> None:
    done: list[CaseResult] = []
    backend = ScriptedBackend(responder=lambda request: "x")
    cases = [TestCase(vars={"COUNTRY": str(i)}) for i in range(10)]
    report = Evaluator(backend, concurrency=1).run(
        [CAPITAL], cases, [], on_result=done.append, should_stop=lambda: len(done) >= 4
    )
    assert report.stopped is True
    assert len(report.results) == 4
    assert len(backend.requests) == 4


def test_a_failing_case_does_not_stop_the_run() -> None:
    backend = ScriptedBackend(["Paris", OverloadedError("busy"), "Madrid"])
    report = Evaluator(backend, concurrency=1).run([CAPITAL], CASES, [{"type": "exact"}])
    assert [r.error_type for r in report.results] == [None, "overloaded_error", None]
    assert report.summary[0].errors == 1
    assert report.summary[0].pass_rate == 1.0


def test_only_the_given_pairs_are_evaluated() -> None:
    backend = ScriptedBackend(responder=answer_capitals)
    report = Evaluator(backend).run([CAPITAL], CASES, [], pairs=[(2, 0)])
    assert [(r.case_index, r.variant_index) for r in report.results] == [(2, 0)]
    assert backend.requests[0].turns[0].text == "What is the capital of Spain?"


def test_a_callback_failure_stops_the_run_and_is_raised() -> None:
    def store_down(result: CaseResult) -> None:
        raise OSError("disk full")

    backend = ScriptedBackend(responder=answer_capitals)
    with pytest.raises(OSError, match="disk full"):
        Evaluator(backend, concurrency=1).run([CAPITAL], CASES, [], on_result=store_down)
    assert len(backend.requests) == 1


def test_a_case_missing_a_variable_is_rejected_before_any_call() -> None:
    backend = ScriptedBackend()
    with pytest.raises(InvalidRequestError, match=r"cases\.1\.vars: missing variable COUNTRY"):
        Evaluator(backend).run([CAPITAL], [CASES[0], TestCase(vars={"LAND": "x"})], [])
    assert backend.requests == []


def test_an_invalid_grader_is_rejected_before_any_call() -> None:
    with pytest.raises(InvalidRequestError, match=r"graders\.0\.type: unknown grader"):
        Evaluator(ScriptedBackend()).run([CAPITAL], CASES, [{"type": "vibes"}])


def test_a_run_needs_a_variant_and_a_case() -> None:
    with pytest.raises(InvalidRequestError, match="variants: at least one"):
        Evaluator(ScriptedBackend()).run([], CASES, [])
    with pytest.raises(InvalidRequestError, match="cases: the dataset is empty"):
        Evaluator(ScriptedBackend()).run([CAPITAL], [], [])


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(InvalidRequestError, match="concurrency: must be at least 1"):
        Evaluator(ScriptedBackend(), concurrency=0)


def result(
    case: int, variant: int, passed: bool | None, score: float | None, **extra: object
) -> CaseResult:
    return CaseResult(
        case_index=case,
        variant_index=variant,
        input={},
        passed=passed,
        score=score,
        **extra,  # type: ignore[arg-type]
    )


TWO = [CAPITAL, variant("{{COUNTRY}}?", label="v2")]


def test_summary_counts_pass_rate_score_tokens_and_latency() -> None:
    results = [
        result(0, 0, True, 1.0, input_tokens=10, output_tokens=2, latency_ms=100),
        result(1, 0, False, 0.0, input_tokens=12, output_tokens=3, latency_ms=300),
        result(2, 0, None, None, input_tokens=11, output_tokens=4, latency_ms=200),
        result(3, 0, None, None, error_type="overloaded_error", latency_ms=5),
    ]
    (summary,) = summarize(results, [CAPITAL])
    assert summary.model_dump() == {
        "label": "v1",
        "cases": 4,
        "errors": 1,
        "pass_rate": 0.5,
        "mean_score": 0.5,
        "input_tokens": 33,
        "output_tokens": 9,
        "mean_latency_ms": 200.0,
        "p50_latency_ms": 200.0,
    }


def test_summary_of_a_variant_without_results_has_no_rates() -> None:
    summary = summarize([], [CAPITAL])[0]
    assert (summary.cases, summary.pass_rate, summary.mean_score, summary.p50_latency_ms) == (
        0,
        None,
        None,
        None,
    )


def test_compare_counts_wins_and_losses_and_tests_them() -> None:
    baseline = [True, True, False, False, True, False, False, False]
    other = [True, False, True, True, True, True, True, False]
    results = [result(i, 0, p, float(p)) for i, p in enumerate(baseline)] + [
        result(i, 1, p, float(p)) for i, p in enumerate(other)
    ]
    (test,) = compare(results, TWO)
    assert (test.baseline, test.variant, test.n, test.wins, test.losses) == ("v1", "v2", 8, 4, 1)
    assert test.mcnemar_p == pytest.approx(mcnemar_exact(1, 4))
    assert test.wilcoxon_p == pytest.approx(
        wilcoxon_signed_rank([float(p) for p in other], [float(p) for p in baseline])
    )


def test_compare_pairs_only_cases_both_variants_answered() -> None:
    results = [
        result(0, 0, True, 1.0),
        result(0, 1, False, 0.0),
        result(1, 0, True, 1.0),
        result(1, 1, None, None, error_type="api_error"),
        result(2, 0, False, 0.0),
    ]
    (test,) = compare(results, TWO)
    assert (test.n, test.wins, test.losses) == (1, 0, 1)


def test_compare_without_decided_pairs_has_no_p_values() -> None:
    (test,) = compare([result(0, 0, None, None), result(0, 1, None, None)], TWO)
    assert (test.n, test.mcnemar_p, test.wilcoxon_p) == (1, None, None)


def test_compare_of_a_single_variant_is_empty() -> None:
    assert compare([result(0, 0, True, 1.0)], [CAPITAL]) == []


def test_pairs_outside_the_run_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"pairs: no such \(case, variant\) pair: \(3, 0\)"):
        Evaluator(ScriptedBackend()).run([CAPITAL], CASES, [], pairs=[(3, 0)])


def test_a_python_grader_named_rubric_keeps_its_own_scale() -> None:
    def rubric(output: str, case: TestCase) -> float:
        return 0.5

    result = evaluate_case(ScriptedBackend(["x"]), CAPITAL, CASES[0], validate_graders([rubric]))
    assert result.score == 0.5
