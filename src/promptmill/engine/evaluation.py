"""Runs: every prompt variant on every test case, graded, summarised and compared.

This is the Python API of evaluation and the unit the task queue executes: a result
per (case, variant) pair, computed by ``evaluate_case``, which records a backend
failure on the result instead of raising it, so one bad call never loses a run.
``Evaluator`` runs the pairs with bounded concurrency and hands each result to a
callback as it finishes (the store writes it there); ``summarize`` and ``compare`` turn
results into per-variant figures and paired significance tests.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from promptmill.backends.base import ChatBackend, ChatRequest, ChatTurn
from promptmill.engine.cases import check_cases_fill
from promptmill.engine.graders import GradeContext, Grader, RubricGrader, validate_graders
from promptmill.engine.stats import mcnemar_exact, wilcoxon_signed_rank
from promptmill.engine.versions import PromptTemplate, fill_prompt, render_prompt_text
from promptmill.errors import InvalidRequestError
from promptmill.eval_types import CaseResult, Grade, PairedTest, TestCase, VariantSummary

RUBRIC_RANGE = (1.0, 5.0)


class Variant(BaseModel):
    """One contestant of a run: a prompt, its label and, optionally, the model to run it on."""

    label: str
    template: PromptTemplate
    model: str | None = None


class EvalReport(BaseModel):
    results: list[CaseResult]
    summary: list[VariantSummary]
    comparison: list[PairedTest]
    stopped: bool = False


ResultCallback = Callable[[CaseResult], None]
StopCheck = Callable[[], bool]


def _normalised(grader: Grader, grade: Grade) -> float | None:
    """A grade's score on the 0..1 scale (the rubric judge scores 1..5)."""
    if grade.score is None:
        return None
    if isinstance(grader, RubricGrader):
        low, high = RUBRIC_RANGE
        return (grade.score - low) / (high - low)
    return grade.score


def _chat_turns(template: PromptTemplate) -> list[ChatTurn]:
    """The messages as turns; a final assistant message goes last, as the prefill."""
    return [ChatTurn(m.role, m.text) for m in template.messages]


def evaluate_case(
    backend: ChatBackend,
    variant: Variant,
    case: TestCase,
    graders: Sequence[Grader],
    *,
    case_index: int = 0,
    variant_index: int = 0,
    temperature: float = 0.0,
    max_tokens: int = 1024,
    timeout: float = 120.0,
) -> CaseResult:
    """Run one variant on one case and grade the output. Never raises a backend failure:
    it is recorded on the result (``error_type`` is the promptmill error type)."""
    filled = fill_prompt(variant.template, case.vars)
    result = CaseResult(
        case_index=case_index, variant_index=variant_index, input=filled.model_dump()
    )
    started = time.monotonic()
    try:
        reply = backend.chat(
            ChatRequest(
                turns=_chat_turns(filled),
                system=filled.system,
                max_tokens=max_tokens,
                temperature=temperature,
                timeout=timeout,
                model=variant.model,
            )
        )
    except Exception as exc:
        result.latency_ms = (time.monotonic() - started) * 1000
        result.error_type = str(getattr(exc, "error_type", "api_error"))
        result.error_message = str(exc) or type(exc).__name__
        return result
    result.latency_ms = (time.monotonic() - started) * 1000
    result.output = reply.text
    result.input_tokens = reply.input_tokens
    result.output_tokens = reply.output_tokens
    context = GradeContext(backend=backend, timeout=timeout, prompt_text=render_prompt_text(filled))
    result.grades = [grader.grade(reply.text, case, context) for grader in graders]
    decided = [g.passed for g in result.grades if g.passed is not None]
    result.passed = all(decided) if decided else None
    scores = [
        s
        for grader, g in zip(graders, result.grades, strict=True)
        if (s := _normalised(grader, g)) is not None
    ]
    result.score = statistics.fmean(scores) if scores else None
    return result


class Evaluator:
    """Runs variants x cases on one backend with at most ``concurrency`` calls in flight.

    Thread-based: backends are blocking and thread-safe. ``on_result`` is called once per
    result, from the worker threads but never two at a time; if it raises, no new pair
    starts and ``run`` re-raises. ``should_stop`` is checked before each pair starts; a
    stopped run returns the results finished so far with ``stopped=True``.
    """

    def __init__(
        self,
        backend: ChatBackend,
        *,
        concurrency: int = 4,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        timeout: float = 120.0,
    ) -> None:
        if concurrency < 1:
            raise InvalidRequestError(f"concurrency: must be at least 1, not {concurrency}")
        self.backend = backend
        self.concurrency = concurrency
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout

    def through(self, backend: ChatBackend) -> Evaluator:
        """The same evaluation settings on another backend (e.g. one that counts calls)."""
        return Evaluator(
            backend,
            concurrency=self.concurrency,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            timeout=self.timeout,
        )

    def run(
        self,
        variants: Sequence[Variant],
        cases: Sequence[TestCase],
        graders: Sequence[Any],
        on_result: ResultCallback | None = None,
        should_stop: StopCheck | None = None,
        *,
        pairs: Iterable[tuple[int, int]] | None = None,
    ) -> EvalReport:
        """Evaluate every (case, variant) pair, or only ``pairs`` ((case_index,
        variant_index), e.g. the ones a resumed run has not stored yet), case by case."""
        if not variants:
            raise InvalidRequestError("variants: at least one variant is required")
        checked = validate_graders(graders)
        for variant in variants:
            check_cases_fill(cases, variant.template.variables)
        everything = [(c, v) for c in range(len(cases)) for v in range(len(variants))]
        todo = list(pairs) if pairs is not None else everything
        unknown = set(todo) - set(everything)
        if unknown:
            raise ValueError(f"pairs: no such (case, variant) pair: {sorted(unknown)[0]}")
        results: list[CaseResult] = []
        lock = threading.Lock()
        callback_lock = threading.Lock()
        queue = iter(todo)
        failure: list[BaseException] = []
        stopped = False

        def work() -> None:
            nonlocal stopped
            while True:
                with lock:
                    if failure:
                        return
                    if should_stop is not None and should_stop():
                        stopped = True
                        return
                    pair = next(queue, None)
                if pair is None:
                    return
                case_index, variant_index = pair
                try:
                    result = evaluate_case(
                        self.backend,
                        variants[variant_index],
                        cases[case_index],
                        checked,
                        case_index=case_index,
                        variant_index=variant_index,
                        temperature=self.temperature,
                        max_tokens=self.max_tokens,
                        timeout=self.timeout,
                    )
                    with callback_lock:
                        if on_result is not None:
                            on_result(result)
                        results.append(result)
                except BaseException as exc:  # a callback (or grader) fault ends the run
                    with lock:
                        failure.append(exc)
                    return

        threads = [
            threading.Thread(target=work, name=f"promptmill-eval-{i}", daemon=True)
            for i in range(min(self.concurrency, max(1, len(todo))))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failure:
            raise failure[0]
        results.sort(key=lambda r: (r.case_index, r.variant_index))
        return EvalReport(
            results=results,
            summary=summarize(results, variants),
            comparison=compare(results, variants),
            stopped=stopped,
        )


def summarize(results: Sequence[CaseResult], variants: Sequence[Variant]) -> list[VariantSummary]:
    """Per variant: cases, errors, pass rate and mean score (over decided results),
    tokens, and mean and median latency (over calls that succeeded)."""
    summaries = []
    for index, variant in enumerate(variants):
        mine = [r for r in results if r.variant_index == index]
        ok = [r for r in mine if r.error_type is None]
        decided = [r.passed for r in ok if r.passed is not None]
        scores = [r.score for r in ok if r.score is not None]
        latencies = [r.latency_ms for r in ok]
        summaries.append(
            VariantSummary(
                label=variant.label,
                cases=len(mine),
                errors=len(mine) - len(ok),
                pass_rate=sum(decided) / len(decided) if decided else None,
                mean_score=statistics.fmean(scores) if scores else None,
                input_tokens=sum(r.input_tokens for r in mine),
                output_tokens=sum(r.output_tokens for r in mine),
                mean_latency_ms=statistics.fmean(latencies) if latencies else None,
                p50_latency_ms=statistics.median(latencies) if latencies else None,
            )
        )
    return summaries


def compare(results: Sequence[CaseResult], variants: Sequence[Variant]) -> list[PairedTest]:
    """Each variant against variant 0, paired by case: exact McNemar on pass/fail,
    Wilcoxon signed-rank on scores (None when no pair has both values)."""
    by_pair = {(r.case_index, r.variant_index): r for r in results if r.error_type is None}
    tests = []
    for index in range(1, len(variants)):
        paired = [
            (base, other)
            for (case, v), base in by_pair.items()
            if v == 0 and (other := by_pair.get((case, index))) is not None
        ]
        decided = [
            (bool(b.passed), bool(o.passed))
            for b, o in paired
            if b.passed is not None and o.passed is not None
        ]
        wins = sum(1 for b, o in decided if o and not b)
        losses = sum(1 for b, o in decided if b and not o)
        scored = [
            (b.score, o.score) for b, o in paired if b.score is not None and o.score is not None
        ]
        tests.append(
            PairedTest(
                baseline=variants[0].label,
                variant=variants[index].label,
                n=len(paired),
                wins=wins,
                losses=losses,
                mcnemar_p=mcnemar_exact(losses, wins) if decided else None,
                wilcoxon_p=wilcoxon_signed_rank([o for _, o in scored], [b for b, _ in scored])
                if scored
                else None,
            )
        )
    return tests
