"""Optimization on data: propose prompt candidates, measure them on labelled cases, keep the best.

What makes optimizers such as DSPy, OPRO or PromptWizard work is measuring candidates on
examples rather than trusting one rewrite. ``PromptOptimizer.optimize`` does that
within a budget of model calls:

1. The cases are split, seeded, into training and held-out cases.
2. The original prompt (or, given a task, the prompt ``PromptEngine.generate`` writes
   for it) is evaluated on every training case.
3. Candidates are proposed and evaluated on the training cases, in this order: the
   original with k = 3 examples from the training cases (chosen to cover the expected
   outputs, failures first) and an instruction to answer in the examples' form; the
   original with that form named in words, when the expected outputs are labels (small
   models bury a right answer in prose, or never reach it); the same examples without
   the instruction; the original improved by ``PromptEngine.improve`` with feedback
   written from its failing training cases; the original with a reasoning instruction
   (or, when it asks for reasoning, without); 1 and 2 examples with the instruction;
   and the best candidate so far with reasoning. Cheap candidates (no model call to
   write them) come first, so a small budget still tries them.
4. The best candidate and the original are evaluated on the held-out cases.

A candidate is never scored on the training cases it shows or quotes (its examples, the
failures its improvement was written from): they would flatter it. Its ``gain`` is its
score minus the original's on exactly the cases it was scored on, and the winner is the
candidate with the largest positive net gain (the gain times those cases: cases won
minus cases lost); a tie with the original goes to the original unless the candidate
needs fewer input tokens. So the result never scores below the original on the
training cases.

A candidate's evaluation is a race against the best so far (as in F-Race): the cases
the original passed come first, and it stops once winning every case left could not
lift it past the best, so a hopeless candidate leaves its calls to the next one; one
that could not win even on every case is not written at all. The stop is exact: a
candidate stopped early could not have won.

Every model call (proposals, evaluations, rubric judges) goes through one counter. A
candidate is proposed only if its worst-case cost, plus the held-out evaluation kept in
reserve, fits in what is left of the budget, so the budget is never exceeded; the
counter refuses any call beyond it as a second line of defence.
"""

from __future__ import annotations

import random
import re
import statistics
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptmill.backends.base import ChatBackend, ChatReply, ChatRequest
from promptmill.engine import metaprompts
from promptmill.engine.cases import check_cases_fill
from promptmill.engine.evaluation import Evaluator, Variant
from promptmill.engine.families import model_family
from promptmill.engine.fewshot import (
    ANSWER_LIKE_EXAMPLES,
    add_examples,
    answer_format,
    choice_answer_form,
    choose_examples,
    render_examples,
)
from promptmill.engine.graders import JUDGE_ATTEMPTS, Grader, RubricGrader, validate_graders
from promptmill.engine.pipeline import PLAN_ATTEMPTS, PromptEngine
from promptmill.engine.render import tag_name
from promptmill.engine.types import ProgressCallback, PromptMessage, Usage
from promptmill.engine.versions import PromptTemplate, fill_text
from promptmill.errors import APIError, InvalidRequestError, PromptmillError, carrying_usage
from promptmill.eval_types import CaseResult, TestCase
from promptmill.optimize_types import (
    CandidateKind,
    OptimizeCandidate,
    OptimizeProgress,
    OptimizeResult,
    OptimizeSplit,
    SplitScore,
)

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_HELD_OUT_FRACTION",
    "MAX_BUDGET",
    "MAX_HELD_OUT_FRACTION",
    "PromptOptimizer",
]

DEFAULT_BUDGET = 100
MAX_BUDGET = 5000
DEFAULT_HELD_OUT_FRACTION = 0.25
MAX_HELD_OUT_FRACTION = 0.9
MAX_EXAMPLES = 3
MAX_QUOTED_FAILURES = 3
# A proposal that asks the engine to write a prompt may take every planning attempt.
WRITE_CALLS = PLAN_ATTEMPTS
_EPSILON = 1e-9  # net gains are sums of scores; rounding must not stop a tie
_REASONING = re.compile(
    r"step[- ]by[- ]step|<thinking>|\bthink\b|\breason(?:ing)?\b|\bexplain\b", re.IGNORECASE
)


class _BudgetExhausted(APIError):
    """A call beyond the budget was attempted (planning should make this impossible)."""


class _CountingBackend:
    """Counts every call made through it and refuses the call that would pass ``limit``."""

    def __init__(self, inner: ChatBackend, limit: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.limit = limit
        self.calls = 0
        self.usage: list[Usage] = []
        self._lock = threading.Lock()

    def chat(self, request: ChatRequest) -> ChatReply:
        with self._lock:
            if self.calls >= self.limit:
                raise _BudgetExhausted(f"budget: all {self.limit} model calls are spent")
            self.calls += 1
        reply = self.inner.chat(request)
        with self._lock:
            self.usage.append(
                Usage(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens)
            )
        return reply

    @property
    def left(self) -> int:
        return self.limit - self.calls


@dataclass
class _Scored:
    """A prompt's results on some cases, keyed by case index."""

    template: PromptTemplate
    results: dict[int, CaseResult] = field(default_factory=dict)

    def on(self, indices: Sequence[int]) -> SplitScore:
        return split_score([self.results[i] for i in indices])


class _Race:
    """A candidate's bound while it is evaluated: can it still beat ``to_beat``?

    Its net gain so far is its score minus the original's on the cases it was scored
    on; every case not scored yet may add at most 1 (case scores are on 0..1) and the
    original's score on it is already counted. So ``net + left`` bounds its final net
    gain, and once that falls below ``to_beat`` (the best net gain so far, at least 0)
    the rest of its evaluation cannot change the winner.
    """

    def __init__(self, original_scores: Sequence[float], to_beat: float) -> None:
        self.net = -sum(original_scores)
        self.left = len(original_scores)
        self.to_beat = to_beat
        self._lock = threading.Lock()  # net and left are read together, never half-updated

    def record(self, result: CaseResult) -> None:
        with self._lock:
            self.net += case_score(result)
            self.left -= 1

    def lost(self) -> bool:
        with self._lock:
            return self.net + self.left < self.to_beat - _EPSILON


@dataclass(frozen=True)
class _Proposal:
    label: str
    kind: CandidateKind
    max_calls: int  # model calls writing it may take at most
    exposed: frozenset[int]
    build: Callable[[], PromptTemplate]


def case_score(result: CaseResult) -> float:
    """A case's score for optimization: failed calls and undecided cases count 0."""
    if result.error_type is not None or result.score is None:
        return 0.0
    return result.score


def split_score(results: Sequence[CaseResult]) -> SplitScore:
    n = len(results)
    passed = sum(1 for r in results if r.error_type is None and r.passed is True)
    return SplitScore(
        cases=n,
        passed=passed,
        errors=sum(1 for r in results if r.error_type is not None),
        pass_rate=passed / n if n else None,
        score=statistics.fmean(case_score(r) for r in results) if n else None,
    )


def split_cases(count: int, held_out_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded (training, held-out) indices; at least one training case, held-out rounded down."""
    order = list(range(count))
    random.Random(f"split:{seed}").shuffle(order)
    held = min(int(count * held_out_fraction), count - 1)
    return sorted(order[held:]), sorted(order[:held])


def with_instruction(template: PromptTemplate, instruction: str) -> PromptTemplate:
    """``template`` with ``instruction`` appended to its last user message.

    A prefill is dropped: it starts the answer, which an added instruction about how to
    answer must be free to change.
    """
    messages = [m for m in template.messages if m.role == "user"]
    last = messages[-1]
    messages[-1] = PromptMessage.of("user", f"{last.text.rstrip()}\n\n{instruction}")
    return PromptTemplate(messages=messages, system=template.system)


def asks_for_reasoning(template: PromptTemplate) -> bool:
    """Whether the prompt asks for reasoning (then it is tried without, else with)."""
    return bool(
        _REASONING.search(" ".join([template.system, *(m.text for m in template.messages)]))
    )


def adapt_variables(template: PromptTemplate, names: Sequence[str], other: str) -> PromptTemplate:
    """A generated prompt whose variables are the cases' ``names``.

    Positional: the prompt's i-th variable becomes ``names[i]``; variables beyond the
    cases' are filled with ``other`` (the task, which says what they are about), and
    case variables the prompt lacks are appended to its user message in tagged blocks.
    """
    own = template.variables
    if set(own) == set(names):
        return template
    values = {old: "{{" + new + "}}" for old, new in zip(own, names, strict=False)}
    values.update({old: other for old in own[len(names) :]})
    messages = [PromptMessage.of(m.role, fill_text(m.text, values)) for m in template.messages]
    missing = list(names[len(own) :])
    if missing:
        blocks = "\n\n".join(
            f"<{tag_name(name)}>\n{{{{{name}}}}}\n</{tag_name(name)}>" for name in missing
        )
        at = max(i for i, m in enumerate(messages) if m.role == "user")
        messages[at] = PromptMessage.of("user", f"{messages[at].text.rstrip()}\n\n{blocks}")
    return PromptTemplate(messages=messages, system=fill_text(template.system, values))


class PromptOptimizer:
    """Optimizes prompts on labelled cases with one backend (see the module docstring).

    ``concurrency``, ``temperature``, ``max_tokens`` and ``timeout`` are those of the
    evaluations (``Evaluator``); proposals use the engine's own settings.
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
        self.backend = backend
        self.timeout = timeout
        # The evaluations' settings, checked in one place; each optimization runs them
        # through its own call-counting backend.
        self.evaluation = Evaluator(
            backend,
            concurrency=concurrency,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout=timeout,
        )

    def optimize(
        self,
        cases: Sequence[TestCase],
        graders: Sequence[Any],
        *,
        prompt: PromptTemplate | None = None,
        task: str | None = None,
        target_model: str | None = None,
        budget: int = DEFAULT_BUDGET,
        held_out_fraction: float = DEFAULT_HELD_OUT_FRACTION,
        seed: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> OptimizeResult:
        """The best prompt for ``cases`` as judged by ``graders``, within ``budget`` calls.

        Give either ``prompt`` or ``task`` (a prompt is generated for it first). Bad
        input is an ``InvalidRequestError`` naming the field, raised before any call.
        """
        run = _Run(self, cases, graders, budget, held_out_fraction, seed, target_model, on_progress)
        with carrying_usage(run.counter.usage):  # every call of the run, not the last one's
            return run.execute(prompt, task)


class _Run:
    """One optimization: its split, its counter, the candidates scored so far."""

    def __init__(
        self,
        optimizer: PromptOptimizer,
        cases: Sequence[TestCase],
        graders: Sequence[Any],
        budget: int,
        held_out_fraction: float,
        seed: int,
        target_model: str | None,
        on_progress: ProgressCallback | None,
    ) -> None:
        if isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= MAX_BUDGET:
            raise InvalidRequestError(
                f"budget: must be a number of calls from 1 to {MAX_BUDGET}, not {budget!r}"
            )
        if not 0.0 <= held_out_fraction <= MAX_HELD_OUT_FRACTION:
            raise InvalidRequestError(
                f"held_out_fraction: must be between 0 and {MAX_HELD_OUT_FRACTION}, "
                f"not {held_out_fraction}"
            )
        if not cases:
            raise InvalidRequestError("cases: the dataset is empty")
        self.graders: list[Grader] = validate_graders(graders)
        if not self.graders:
            raise InvalidRequestError("graders: at least one grader is required")
        self.cases = list(cases)
        self.seed = seed
        self.target_model = target_model
        self.budget = budget
        self.on_progress = on_progress
        self.train, self.held_out = split_cases(len(self.cases), held_out_fraction, seed)
        # Worst case per case: the answer plus every attempt of every rubric judge.
        self.per_case = 1 + JUDGE_ATTEMPTS * sum(isinstance(g, RubricGrader) for g in self.graders)
        self.counter = _CountingBackend(optimizer.backend, budget)
        self.engine = PromptEngine(self.counter, request_timeout=optimizer.timeout)
        self.evaluator = optimizer.evaluation.through(self.counter)
        self.candidates: list[OptimizeCandidate] = []
        self.scored: list[_Scored] = []
        self.stopped = ""

    # --- the steps --------------------------------------------------------------------

    def execute(self, prompt: PromptTemplate | None, task: str | None) -> OptimizeResult:
        if (prompt is None) == (task is None or not task.strip()):
            raise InvalidRequestError(
                "prompt: send either a prompt or a task (to generate one from), not both"
                if prompt is not None
                else "prompt: required (or a task to generate one from)"
            )
        needed = (len(self.train) + len(self.held_out)) * self.per_case
        if prompt is None:
            needed += WRITE_CALLS
        if self.budget < needed:
            raise InvalidRequestError(
                f"budget: {self.budget} calls cannot evaluate the original prompt on the "
                f"{len(self.train)} training and {len(self.held_out)} held-out cases"
                + (" after generating it" if prompt is None else "")
                + f"; at least {needed} are needed"
            )
        if prompt is not None:
            check_cases_fill(self.cases, prompt.variables)
            original = prompt
        else:
            assert task is not None
            names = list(dict.fromkeys(name for case in self.cases for name in case.vars))
            check_cases_fill(self.cases, names)  # before the generation's calls are spent
            self._progress("generate", "writing a prompt for the task")
            generated = self.engine.generate(task, self.target_model)
            original = adapt_variables(
                PromptTemplate(messages=generated.messages, system=generated.system), names, task
            )
        self.base = self._evaluate_candidate(
            "original", "original", original, frozenset(), proposal_calls=0
        )
        self._propose_all(original)
        best_index = self._best()
        best = self.candidates[best_index]
        held_best, held_original = self._held_out(original, best)
        assert best.prompt is not None and best.train is not None and best.original_train
        return OptimizeResult(
            prompt=best.prompt,
            label=best.label,
            improved=best_index != 0,
            original=original,
            train=best.train,
            original_train=best.original_train,
            held_out=held_best,
            original_held_out=held_original,
            candidates=self.candidates,
            split=OptimizeSplit(train=self.train, held_out=self.held_out),
            calls=self.counter.calls,
            budget=self.budget,
            usage=list(self.counter.usage),
            stopped=self.stopped,
        )

    def _propose_all(self, original: PromptTemplate) -> None:
        if self.base.on(self.train).score == 1.0:
            self.stopped = "the original passes every training case"
            return
        # The held-out evaluation of a new best is kept in reserve from the first proposal.
        reserve = 2 * len(self.held_out) * self.per_case
        skipped = hopeless = 0
        for proposal in self._proposals(original):
            indices = self._scored_cases(proposal.exposed)
            if not indices:
                continue
            if self._race(indices).lost():
                hopeless += 1  # even winning every case it would be scored on is too little
                continue
            scored_cases = len(indices)
            cost = proposal.max_calls + scored_cases * self.per_case
            if cost + reserve > self.counter.left:
                skipped += 1
                continue
            self._progress("propose", f"writing candidate {proposal.label!r}")
            before = self.counter.calls
            try:
                template = proposal.build()
                check_cases_fill(self.cases, template.variables)
            except PromptmillError as exc:
                self.candidates.append(
                    OptimizeCandidate(
                        label=proposal.label,
                        kind=proposal.kind,
                        prompt=None,
                        exposed_cases=sorted(proposal.exposed),
                        train=None,
                        original_train=None,
                        gain=None,
                        mean_input_tokens=None,
                        proposal_calls=self.counter.calls - before,
                        evaluation_calls=0,
                        error=f"{exc.error_type}: {exc.message}",
                    )
                )
                continue
            self._evaluate_candidate(
                proposal.label,
                proposal.kind,
                template,
                proposal.exposed,
                proposal_calls=self.counter.calls - before,
            )
        self.stopped = (
            f"the budget left no room for {skipped} more candidate(s)"
            if skipped
            else "every candidate was tried"
        ) + (
            f"; {hopeless} more could not have beaten the best on the cases they would be "
            "scored on, so were not written"
            if hopeless
            else ""
        )

    def _proposals(self, original: PromptTemplate) -> Iterator[_Proposal]:
        """The candidates, most promising first; each is built only when its turn comes."""
        failed = [i for i in self.train if not self.base.results[i].passed]
        labelled = [i for i in self.train if self.cases[i].expected is not None]
        family = model_family(self.target_model)
        variables = original.variables

        def few_shot(k: int, *, instructed: bool) -> _Proposal:
            chosen = choose_examples(self.cases, labelled, k, failed=failed, seed=self.seed)
            block = render_examples([self.cases[i] for i in chosen], family, variables)
            label = f"few-shot ({len(chosen)} example{'s' if len(chosen) != 1 else ''})"

            def build() -> PromptTemplate:
                shown = add_examples(original, block)
                return with_instruction(shown, ANSWER_LIKE_EXAMPLES) if instructed else shown

            return _Proposal(
                f"{label}, answer like them" if instructed else label,
                "few_shot",
                0,
                frozenset(chosen),
                build,
            )

        most = min(MAX_EXAMPLES, len(labelled) - 1)
        if most >= 1:
            yield few_shot(most, instructed=True)
        expected = [str(self.cases[i].expected) for i in labelled]
        choice = choice_answer_form(expected)
        if choice is not None:  # before the letter alone, which a small model guesses
            yield _Proposal(
                "original, option named after one sentence",
                "direct",
                0,
                frozenset(),
                lambda: with_instruction(original, choice),
            )
        named = answer_format(expected)
        if named is not None:
            yield _Proposal(
                "original, answer form named",
                "direct",
                0,
                frozenset(),
                lambda: with_instruction(original, named),
            )
        if most >= 1:
            yield few_shot(most, instructed=False)
        quoted = [i for i in failed if self.cases[i].expected is not None][:MAX_QUOTED_FAILURES]
        if quoted:
            yield _Proposal(
                "improved from failures",
                "improved",
                WRITE_CALLS,
                frozenset(quoted),
                lambda: self._improve(original, quoted),
            )
        if asks_for_reasoning(original):
            yield _Proposal(
                "original, direct answer",
                "direct",
                0,
                frozenset(),
                lambda: with_instruction(original, metaprompts.DIRECT_INSTRUCTION),
            )
        else:
            yield _Proposal(
                "original with reasoning",
                "reasoning",
                0,
                frozenset(),
                lambda: with_instruction(original, metaprompts.REASONING_INSTRUCTION),
            )
        for k in range(1, most):
            yield few_shot(k, instructed=True)
        best = self.candidates[self._best()]
        if best.kind in ("few_shot", "improved") and best.prompt is not None:
            best_prompt = best.prompt
            yield _Proposal(
                f"{best.label} with reasoning",
                "reasoning",
                0,
                frozenset(best.exposed_cases),
                lambda: with_instruction(best_prompt, metaprompts.REASONING_INSTRUCTION),
            )

    def _improve(self, original: PromptTemplate, quoted: list[int]) -> PromptTemplate:
        failures = [
            (
                self.cases[i].vars,
                str(self.cases[i].expected),
                self.base.results[i].output or (self.base.results[i].error_message or ""),
            )
            for i in quoted
        ]
        train_score = self.base.on(self.train)
        feedback = metaprompts.failure_feedback(failures, train_score.passed, train_score.cases)
        result = self.engine.improve(
            original.messages, original.system, feedback, self.target_model
        )
        return PromptTemplate(messages=result.messages, system=result.system)

    def _scored_cases(self, exposed: frozenset[int]) -> list[int]:
        return [i for i in self.train if i not in exposed]

    def _evaluate_candidate(
        self,
        label: str,
        kind: CandidateKind,
        template: PromptTemplate,
        exposed: frozenset[int],
        *,
        proposal_calls: int,
    ) -> _Scored:
        indices = self._scored_cases(exposed)
        before = self.counter.calls
        race = None
        if kind != "original":
            # Where it can lose first: the cases the original scored best on.
            indices.sort(key=lambda i: -case_score(self.base.results[i]))
            race = self._race(indices)
        scored = _Scored(template, self._evaluate(label, template, indices, race))
        self.scored.append(scored)
        results = list(scored.results.values())
        evaluated = [i for i in indices if i in scored.results]
        own = scored.on(evaluated)
        baseline = own if kind == "original" else self.base.on(evaluated)
        gain = (
            own.score - baseline.score
            if own.score is not None and baseline.score is not None
            else None
        )
        self.candidates.append(
            OptimizeCandidate(
                label=label,
                kind=kind,
                prompt=template,
                exposed_cases=sorted(exposed),
                train=own,
                original_train=baseline,
                gain=gain,
                mean_input_tokens=statistics.fmean(r.input_tokens for r in results)
                if results
                else None,
                proposal_calls=proposal_calls,
                evaluation_calls=self.counter.calls - before,
                stopped_early=len(evaluated) < len(indices),
            )
        )
        self._progress(
            "evaluated",
            f"{label}: score {own.score:.3f} on {own.cases} training cases"
            + (f" (original {baseline.score:.3f})" if kind != "original" else "")
            + (
                f", stopped: it could no longer beat the best after {own.cases} of {len(indices)}"
                if len(evaluated) < len(indices)
                else ""
            ),
        )
        return scored

    def _evaluate(
        self,
        label: str,
        template: PromptTemplate,
        indices: Sequence[int],
        race: _Race | None = None,
    ) -> dict[int, CaseResult]:
        done = 0
        lock = threading.Lock()

        def on_result(result: CaseResult) -> None:
            nonlocal done
            if race is not None:
                race.record(result)
            with lock:
                done += 1
                count = done
            self._progress("evaluate", f"{label}: {count}/{len(indices)} cases")

        report = self.evaluator.run(
            [Variant(label=label, template=template)],
            [self.cases[i] for i in indices],
            self.graders,
            on_result=on_result,
            should_stop=race.lost if race is not None else None,
        )
        return {indices[r.case_index]: r for r in report.results}

    def _race(self, indices: Sequence[int]) -> _Race:
        """A new candidate's race on ``indices`` against the best so far."""
        return _Race([case_score(self.base.results[i]) for i in indices], self._best_net())

    def _best_net(self) -> float:
        """The net gain a new candidate must beat: the best candidate's, or 0 (the original)."""
        best = self.candidates[self._best()]
        if best.kind == "original" or best.gain is None or best.train is None:
            return 0.0
        return best.gain * best.train.cases

    def _best(self) -> int:
        """The winning candidate's index: the largest positive net gain, ties to fewer tokens.

        The net gain is the gain times the cases it was measured on (cases won minus
        cases lost, for pass/fail graders), so one lucky case does not outweigh a gain
        seen on many. A tie with the original goes to the original unless the
        candidate needs fewer input tokens.
        """
        best = 0
        base_tokens = self.candidates[0].mean_input_tokens or 0.0
        best_key: tuple[float, float] = (0.0, -base_tokens)
        for index, candidate in enumerate(self.candidates[1:], 1):
            if candidate.gain is None or candidate.train is None:
                continue
            tokens = candidate.mean_input_tokens or 0.0
            net = round(candidate.gain * candidate.train.cases, 9)
            if net < 0 or (net == 0 and tokens >= base_tokens):
                continue
            key = (net, -tokens)
            if key > best_key:
                best, best_key = index, key
        return best

    def _held_out(
        self, original: PromptTemplate, best: OptimizeCandidate
    ) -> tuple[SplitScore | None, SplitScore | None]:
        if not self.held_out:
            return None, None
        self._progress("held_out", f"evaluating on {len(self.held_out)} held-out cases")
        original_scores = split_score(
            list(self._evaluate("original", original, self.held_out).values())
        )
        if best.kind == "original" or best.prompt is None:
            return original_scores, original_scores
        best_scores = split_score(
            list(self._evaluate(best.label, best.prompt, self.held_out).values())
        )
        return best_scores, original_scores

    def _progress(self, stage: str, message: str) -> None:
        if self.on_progress is not None:
            self.on_progress(
                OptimizeProgress(
                    stage=stage,
                    message=message,
                    calls=self.counter.calls,
                    budget=self.budget,
                )
            )
