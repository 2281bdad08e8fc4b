"""The prompt tools' pipeline: plan -> render -> validate, behind generate, improve and
templatize, with the bounded repair loop that asks the model again when a plan fails.

It knows nothing of HTTP, SQL or the CLI: callers hand it plain values and a
``ChatBackend`` and get typed results or a ``promptmill.errors`` exception. Every
request runs against one deadline; each model call gets the time that is left, and the
repair loop is bounded, so nothing hangs.

Each operation is written once as ``ModelSteps`` (a generator that yields the model
calls it needs) and run by one of two drivers: ``generate`` and friends block the
calling thread on ``backend.chat``; ``generate_async`` and friends await
``backend.achat`` on an event loop, so a server in front of a remote backend needs no
worker thread per request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from promptmill.backends.base import (
    AsyncChatBackend,
    ChatBackend,
    ChatReply,
    ChatRequest,
    ChatTurn,
)
from promptmill.backends.faults import out_of_time
from promptmill.engine import metaprompts
from promptmill.engine.answer_set import keep_named_answers
from promptmill.engine.checks import (
    check_prompt,
    content_words,
    mentions_injection,
    placeholders,
    shares_content_word,
)
from promptmill.engine.choice import settle_choice, with_choice_examples
from promptmill.engine.contradictions import without_contradictions
from promptmill.engine.exemplar_copies import without_exemplar_copies
from promptmill.engine.families import (
    CONVENTIONS,
    accepts_prefill,
    model_family,
    reasons_step_by_step,
    separates_system,
)
from promptmill.engine.freeform import (
    FREEFORM_ATTEMPTS,
    FREEFORM_MAX_TOKENS,
    FREEFORM_SCHEMA,
    WrittenPrompt,
    parse_written_prompt,
    written_prompt_problems,
)
from promptmill.engine.headings import headings_for
from promptmill.engine.language import ENGLISH, Language, detect_language
from promptmill.engine.machinery import without_machinery
from promptmill.engine.plan import (
    MAX_KEPT_CONSTRAINTS,
    PromptPlan,
    clean_sentence,
    extract_json_object,
    output_like_inputs,
    parse_plan,
    plan_schema,
)
from promptmill.engine.received import (
    NO_QUESTION_INPUT,
    NOT_A_CLASSIFICATION,
    answering_objective,
    classifies_questions,
    lacks_question_input,
    missing_materials,
    no_material_input,
    with_received_inputs,
)
from promptmill.engine.render import RenderedPrompt, render_prompt
from promptmill.engine.specifics import (
    extract_specifics,
    missing_specifics,
    requested_format_words,
    requested_items,
    sentence_with,
    survives,
)
from promptmill.engine.templatize import apply_variables
from promptmill.engine.types import (
    MeteredUsage,
    Progress,
    ProgressCallback,
    PromptMessage,
    PromptResult,
    TemplatizeResult,
    Usage,
)
from promptmill.errors import APIError, InvalidRequestError, carrying_usage
from promptmill.steps import run_steps, run_steps_async
from promptmill.types import GenerateMode, check_message_order

__all__ = ["PromptEngine"]

T = TypeVar("T")

PLAN_ATTEMPTS = 3
# A compact plan (context, edge cases, output fields, one or two short examples) is
# 300-600 tokens; the cap stops a small model's repeat loops early (a cut-off plan is
# closed and validated, see ``plan.close_json_prefix``) and keeps a repair round inside
# a 4096-token context and the request deadline.
PLAN_MAX_TOKENS = 800
TEMPLATIZE_MAX_TOKENS = 500
# Soft problems of a valid plan are fed back only while this share of the deadline is left.
SOFT_REPAIR_TIME_SHARE = 0.5
MAX_TEMPLATE_VARIABLES = 12

_TEMPLATIZE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "variables": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": "string"},
                },
                "required": ["name", "value"],
            },
        }
    },
    "required": ["variables"],
}


@dataclass(frozen=True)
class _ImproveGoals:
    """What an improved prompt owes its original: the specifics it said, the feedback."""

    original: str
    specifics: list[str]
    feedback: str | None


class _Run:
    """Book-keeping of one request: its deadline, usage list and progress reports."""

    def __init__(self, timeout: float, on_progress: ProgressCallback | None) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.usage: list[Usage] = []
        self._on_progress = on_progress

    def progress(self, stage: str, message: str, attempt: int = 1) -> None:
        if self._on_progress is not None:
            self._on_progress(Progress(stage=stage, message=message, attempt=attempt))

    def attempting(self, stage: str, doing: str, attempt: int, problems: list[str]) -> None:
        """Report an attempt: what the model is doing, or on a retry what it must fix."""
        if attempt == 1:
            self.progress(stage, doing, attempt)
        else:
            self.progress("repair", "asking the model to fix: " + "; ".join(problems), attempt)

    def time_left(self) -> float:
        """Seconds to the deadline (negative once it has passed)."""
        return self.deadline - time.monotonic()

    def remaining(self) -> float:
        """Seconds left for the next model call; past the deadline, the 529 every
        too-slow call gets (``faults.out_of_time``), since the caller can only retry."""
        left = self.time_left()
        if left <= 0:
            raise out_of_time("the request ran out of time before the model finished")
        return left

    def meter(self, reply: ChatReply, started: float) -> None:
        """Keep one model call's usage; ``started`` is when it was sent (``perf_counter``)."""
        seconds = reply.seconds if reply.seconds is not None else time.perf_counter() - started
        self.usage.append(
            MeteredUsage(
                input_tokens=reply.input_tokens,
                output_tokens=reply.output_tokens,
                reused_input_tokens=reply.reused_input_tokens,
                evaluated_input_tokens=reply.evaluated_input_tokens,
                seconds=seconds,
            )
        )


ModelSteps = Generator[ChatRequest, ChatReply, T]
"""A request's work, written once for both drivers (``_drive``, ``_drive_async``).

It yields each model call it needs and is sent the reply; it returns the result. The
engine's rules (plan, validate, repair, render) thus know nothing of how a call is made:
blocking in the caller's thread, or awaited on an event loop.
"""


class PromptEngine:
    """Writes, improves and templatizes prompts with one backend. Thread-safe."""

    def __init__(
        self,
        backend: ChatBackend,
        *,
        request_timeout: float = 120.0,
        generate_mode: GenerateMode = "plan",
    ) -> None:
        self.backend = backend
        self.request_timeout = request_timeout
        self.generate_mode = generate_mode

    # --- generate ---------------------------------------------------------------------

    def generate(
        self,
        task: str,
        target_model: str | None = None,
        *,
        separate_system: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> PromptResult:
        """Write a prompt for ``task``, in the task's language, for ``target_model``.

        The result follows the Prompt Tools API's contract: ``system`` is ``""`` and the
        whole prompt is the first user message, laid out in the target family's
        conventions; an assistant prefill follows only if the target accepts one
        (``families.accepts_prefill``), otherwise the prompt states the answer's opening
        as an instruction. With ``separate_system=True`` (promptmill's own opt-in, for
        clients that want it), families whose vendor convention is a system/developer
        message (GPT, o-series, Gemini) get their instructions in ``system`` and only the
        inputs in the user message; other families are unaffected.
        """
        steps = partial(self._generate, task, target_model, separate_system)
        return self._drive(steps, on_progress)

    async def generate_async(
        self,
        task: str,
        target_model: str | None = None,
        *,
        separate_system: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> PromptResult:
        """``generate`` on the caller's event loop; the backend must have ``achat``."""
        steps = partial(self._generate, task, target_model, separate_system)
        return await self._drive_async(steps, on_progress)

    def _generate(
        self, task: str, target_model: str | None, separate_system: bool, run: _Run
    ) -> ModelSteps[PromptResult]:
        if not task or not task.strip():
            raise InvalidRequestError("task: must be a non-empty string")
        language = detect_language(task)
        family = model_family(target_model)
        if self.generate_mode == "freeform" and not (separate_system and separates_system(family)):
            written = yield from self._write(run, task, target_model, language)
            if written is not None:
                return _written_result(written, run)
        request = metaprompts.generate_plan_request(task.strip(), target_model, language)
        plan = yield from self._plan(run, request, task=task, language=language, fixed_inputs=None)
        plan = _settled(plan, task, task)
        return self._finish(
            run,
            plan,
            target_model,
            language=language,
            separate_system=separate_system,
            declared=[i.name for i in plan.inputs],
        )

    # --- improve ----------------------------------------------------------------------

    def improve(
        self,
        messages: Sequence[PromptMessage],
        system: str = "",
        feedback: str | None = None,
        target_model: str | None = None,
        *,
        separate_system: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> PromptResult:
        """Rewrite a prompt, keeping its variables and its language, applying ``feedback``.

        Returns the same shape as ``generate`` (``system: ""`` unless ``separate_system``
        is asked for and the target's family uses one; a prefill only where the target
        accepts it). The language is that of the prompt being improved.
        """
        steps = partial(self._improve, messages, system, feedback, target_model, separate_system)
        return self._drive(steps, on_progress)

    async def improve_async(
        self,
        messages: Sequence[PromptMessage],
        system: str = "",
        feedback: str | None = None,
        target_model: str | None = None,
        *,
        separate_system: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> PromptResult:
        """``improve`` on the caller's event loop; the backend must have ``achat``."""
        steps = partial(self._improve, messages, system, feedback, target_model, separate_system)
        return await self._drive_async(steps, on_progress)

    def _improve(
        self,
        messages: Sequence[PromptMessage],
        system: str,
        feedback: str | None,
        target_model: str | None,
        separate_system: bool,
        run: _Run,
    ) -> ModelSteps[PromptResult]:
        check_message_order(messages)
        original = _prompt_text(messages, system)
        variables = list(dict.fromkeys(n for n in placeholders(original) if _usable_name(n)))
        language = detect_language(" ".join([system, *(m.text for m in messages)]))
        specifics = extract_specifics(original)
        request = metaprompts.improve_plan_request(
            original, feedback, variables, target_model, language, must_keep=specifics
        )
        plan = yield from self._plan(
            run,
            request,
            task=original,
            language=language,
            fixed_inputs=variables,
            goals=_ImproveGoals(original, specifics, feedback),
        )
        plan = _settled(plan, original, f"{original}\n{feedback or ''}")
        return self._finish(
            run,
            plan,
            target_model,
            language=language,
            separate_system=separate_system,
            declared=variables,
            keep_names=True,
        )

    # --- templatize -------------------------------------------------------------------

    def templatize(
        self,
        messages: Sequence[PromptMessage],
        system: str = "",
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TemplatizeResult:
        return self._drive(partial(self._templatize, messages, system), on_progress)

    async def templatize_async(
        self,
        messages: Sequence[PromptMessage],
        system: str = "",
        *,
        on_progress: ProgressCallback | None = None,
    ) -> TemplatizeResult:
        """``templatize`` on the caller's event loop; the backend must have ``achat``."""
        return await self._drive_async(partial(self._templatize, messages, system), on_progress)

    def _templatize(
        self, messages: Sequence[PromptMessage], system: str, run: _Run
    ) -> ModelSteps[TemplatizeResult]:
        check_message_order(messages)
        texts = [m.text for m in messages] + [system]
        run.progress("propose", "asking the model which values are variable")
        reply = yield ChatRequest(
            turns=[
                ChatTurn("user", metaprompts.templatize_request(_prompt_text(messages, system)))
            ],
            system=metaprompts.TEMPLATIZE_SYSTEM,
            json_schema=_TEMPLATIZE_SCHEMA,
            max_tokens=TEMPLATIZE_MAX_TOKENS,
            temperature=0.0,
            timeout=run.remaining(),
        )
        proposals = _templatize_proposals(reply.text)
        run.progress("substitute", f"checking {len(proposals)} proposed variables")
        templated, values = apply_variables(texts, proposals)
        run.progress("done", f"{len(values)} variables")
        return TemplatizeResult(
            messages=[
                PromptMessage.of(m.role, text) for m, text in zip(messages, templated, strict=False)
            ],
            system=templated[-1],
            usage=run.usage,
            variable_values=values,
        )

    # --- start-up ---------------------------------------------------------------------

    def warm_up(self) -> None:
        """Have the backend read the planner's fixed prompt once, answering one token.

        A backend that keeps the evaluated prompt prefix between calls (llama.cpp) then
        starts the first generate or improve with its 1,500 fixed tokens already read:
        about 25 of the first request's 30 extra seconds on two cores. Its cost is not
        counted anywhere: it serves no request.
        """
        request = metaprompts.generate_plan_request("", None)
        self.backend.chat(
            ChatRequest(
                turns=[ChatTurn("user", request)],
                system=metaprompts.PLANNER_SYSTEM,
                max_tokens=1,
                temperature=0.0,
                timeout=self.request_timeout,
            )
        )

    # --- the drivers ------------------------------------------------------------------

    def _drive(
        self, steps_of: Callable[[_Run], ModelSteps[T]], on_progress: ProgressCallback | None
    ) -> T:
        """Run a request's steps, each model call blocking this thread (``backend.chat``)."""
        run = _Run(self.request_timeout, on_progress)

        def call(request: ChatRequest) -> ChatReply:
            started = time.perf_counter()
            reply = self.backend.chat(request)
            run.meter(reply, started)
            return reply

        with carrying_usage(run.usage):
            return run_steps(steps_of(run), call)

    async def _drive_async(
        self, steps_of: Callable[[_Run], ModelSteps[T]], on_progress: ProgressCallback | None
    ) -> T:
        """Run a request's steps on the caller's event loop, awaiting ``backend.achat``."""
        backend = self.backend
        if not isinstance(backend, AsyncChatBackend):
            raise TypeError(f"the {backend.name} backend has no achat: call the blocking method")
        run = _Run(self.request_timeout, on_progress)

        async def call(request: ChatRequest) -> ChatReply:
            started = time.perf_counter()
            reply = await backend.achat(request)
            run.meter(reply, started)
            return reply

        with carrying_usage(run.usage):
            return await run_steps_async(steps_of(run), call)

    # --- the pipeline -----------------------------------------------------------------

    def _write(
        self, run: _Run, task: str, target_model: str | None, language: Language
    ) -> ModelSteps[WrittenPrompt | None]:
        """The free-form mode: the whole prompt written by the model, or None to fall back.

        A written prompt that fails its checks gets one repair turn; if that fails too,
        or less than half the deadline is left for it, the caller plans and renders
        instead, so the answer is always well-formed.
        """
        prefill = accepts_prefill(target_model)
        request = metaprompts.freeform_request(
            task.strip(),
            target_model,
            CONVENTIONS[model_family(target_model)],
            prefill=prefill,
            language=language,
        )
        turns = [ChatTurn("user", request)]
        problems: list[str] = []
        for attempt in range(1, FREEFORM_ATTEMPTS + 1):
            if attempt > 1 and run.time_left() < SOFT_REPAIR_TIME_SHARE * run.timeout:
                break
            run.attempting("write", "the model is writing the prompt", attempt, problems)
            reply = yield ChatRequest(
                turns=turns,
                system=metaprompts.FREEFORM_SYSTEM,
                json_schema=FREEFORM_SCHEMA,
                max_tokens=FREEFORM_MAX_TOKENS,
                temperature=0.3,
                timeout=run.remaining(),
            )
            run.progress("validate", "checking the written prompt", attempt)
            try:
                written = parse_written_prompt(reply.text)
            except ValueError as exc:
                problems = [str(exc)]
            else:
                if not prefill:
                    written = WrittenPrompt(written.text, "")
                problems = written_prompt_problems(written, task, language)
                if not problems:
                    return written
            turns = [
                turns[0],
                ChatTurn("assistant", reply.text),
                ChatTurn("user", metaprompts.repair_written_request(problems)),
            ]
        run.progress("plan", "the written prompt failed its checks; planning it instead")
        return None

    def _plan(
        self,
        run: _Run,
        request_text: str,
        *,
        task: str,
        language: Language,
        fixed_inputs: list[str] | None,
        goals: _ImproveGoals | None = None,
    ) -> ModelSteps[PromptPlan]:
        """Ask for a plan until one validates, at most ``PLAN_ATTEMPTS`` times.

        Hard problems (off topic, injected instructions, schema) fail the attempt; soft
        ones (weak spots, inputs that are really outputs, lost specifics, unapplied
        feedback) are fed back while attempts remain, and what the model did not repair
        by the last attempt is repaired deterministically (``_repair``).
        """
        turns = [ChatTurn("user", request_text)]
        schema = plan_schema(fixed_inputs=fixed_inputs)
        problems: list[str] = []
        for attempt in range(1, PLAN_ATTEMPTS + 1):
            run.attempting("plan", "the model is planning the prompt", attempt, problems)
            reply = yield ChatRequest(
                turns=turns,
                system=metaprompts.PLANNER_SYSTEM,
                json_schema=schema,
                max_tokens=PLAN_MAX_TOKENS,
                temperature=(0.2, 0.5, 0.8)[min(attempt, 3) - 1],
                timeout=run.remaining(),
            )
            run.progress("validate", "checking the plan", attempt)
            try:
                raw = extract_json_object(reply.text)
            except ValueError as exc:
                # Unparseable (often a small model stuck in a loop): showing it the broken
                # reply makes it repeat itself, so ask afresh at a higher temperature.
                problems = [str(exc)]
                continue
            try:
                plan = parse_plan(raw, fixed_inputs=fixed_inputs)
            except ValueError as exc:
                problems = [str(exc)]
            else:
                problems = _plan_problems(plan, task, language)
                if attempt == PLAN_ATTEMPTS:
                    # The topic check compares words: worth two more model calls, but a
                    # task in an odd script or of stray characters must not become a 500.
                    problems = [p for p in problems if p != _OFF_TOPIC]
                # A repair call takes about as long as the call that wrote the plan: with
                # less than half the deadline left it would turn a usable prompt into an
                # error, so soft problems are then left to ``_repair``.
                soft = (
                    _weak_spots(plan, language) + _owed(plan, task, goals, fixed_inputs)
                    if attempt < PLAN_ATTEMPTS
                    and run.time_left() >= SOFT_REPAIR_TIME_SHARE * run.timeout
                    else []
                )
                if not problems and not soft:
                    return _repair(plan, task, goals, fixed_inputs)
                problems = problems + soft
            if len(turns) == 1:
                # Feed the problems back once; if the repaired plan fails too, start afresh,
                # because small models tend to repeat a flawed plan they are shown.
                turns = [
                    turns[0],
                    ChatTurn("assistant", reply.text),
                    ChatTurn("user", metaprompts.repair_request(problems)),
                ]
            else:
                turns = turns[:1]
        raise APIError(
            f"the model did not produce a valid prompt plan after {PLAN_ATTEMPTS} attempts: "
            + "; ".join(problems)
        )

    def _finish(
        self,
        run: _Run,
        plan: PromptPlan,
        target_model: str | None,
        *,
        language: Language,
        separate_system: bool,
        declared: list[str],
        keep_names: bool = False,
    ) -> PromptResult:
        family = model_family(target_model)
        plan = with_choice_examples(plan)
        if plan.think_first and not reasons_step_by_step(target_model):
            plan = plan.model_copy(update={"think_first": False})
        run.progress("render", f"rendering for the {family} family")
        rendered = render_prompt(
            plan,
            family,
            prefill=accepts_prefill(target_model),
            separate_system=separate_system,
            headings=headings_for(language),
        )
        problems = check_prompt(
            [rendered.user, rendered.system], declared=declared, require_upper_snake=not keep_names
        )
        if problems:  # The renderer owns the structure, so this is a bug, not a model fault.
            raise APIError(
                "rendered prompt failed validation: " + "; ".join(p.message for p in problems)
            )
        run.progress("done", "prompt ready")
        return PromptResult(messages=_messages(rendered), system=rendered.system, usage=run.usage)


def _settled(plan: PromptPlan, task: str, source: str) -> PromptPlan:
    """``plan`` with what a small planner gets wrong even when told, set right here.

    It rewrites a choice into a label and calls other tasks choices (``choice.py``),
    adds labels and counting rules a classification never gave (``answer_set.py``),
    plans a task as a program (``machinery.py``), refuses what the task asks for
    (``contradictions.py``) and copies its exemplars (``exemplar_copies.py``).
    ``source`` is everything the request said (for improve, the original prompt and its
    feedback).
    """
    plan = keep_named_answers(settle_choice(plan, task), source)
    plan = without_exemplar_copies(without_machinery(plan, source), source)
    return without_contradictions(plan, source)


def _written_result(written: WrittenPrompt, run: _Run) -> PromptResult:
    messages = [PromptMessage.of("user", written.text)]
    if written.prefill:
        messages.append(PromptMessage.of("assistant", written.prefill))
    run.progress("done", "prompt ready")
    return PromptResult(messages=messages, system="", usage=run.usage)


def _messages(rendered: RenderedPrompt) -> list[PromptMessage]:
    messages = [PromptMessage.of("user", rendered.user)]
    if rendered.prefill:
        messages.append(PromptMessage.of("assistant", rendered.prefill))
    return messages


_OFF_TOPIC = "the plan is not about the task: mention what the task is about"


def _plan_problems(plan: PromptPlan, task: str, language: Language) -> list[str]:
    """Content checks the schema cannot express: on topic, no injected instructions.

    The topic check compares words of the task and the plan, so it runs when both are in
    the same language (any language; see ``content_words``). A plan in another language
    is the soft problem ``_weak_spots`` reports, not an off-topic plan.
    """
    problems = []
    plan_text = " ".join(plan.text_fields())
    task_words = content_words(task)
    # The shared word first: found, it is usually among the plan's first words, and the
    # plan's language is then not needed.
    if (
        task_words
        and not shares_content_word(task_words, plan_text)
        and detect_language(plan_text) == language
    ):
        problems.append(_OFF_TOPIC)
    if mentions_injection(plan_text):
        problems.append(
            "the plan repeats an instruction to ignore instructions; describe the legitimate "
            "task only"
        )
    return problems


_GENERIC_ROLES = frozenset(
    {"assistant", "ai assistant", "ai", "helpful assistant", "chatbot", "ai model"}
)


def _weak_spots(plan: PromptPlan, language: Language) -> list[str]:
    """Quality problems worth one more model call, but not worth failing the request for."""
    spots = []
    if language != ENGLISH and detect_language(" ".join(plan.text_fields())) != language:
        spots.append(
            f"the plan is not written in {language.name}: write every text field in "
            f"{language.name}, the language of the task (input names stay ASCII "
            "UPPER_SNAKE_CASE)"
        )
    if plan.role.lower().removeprefix("an ").removeprefix("a ").strip() in _GENERIC_ROLES:
        spots.append(
            f"the role {plan.role!r} is generic: name the expertise the task needs "
            "(for example a profession)"
        )
    if not plan.output_format and not plan.output_fields and not plan.examples:
        # A reply cut short (by the loop guard or the token cap) and closed: the answer's
        # specification and the examples come last in the plan.
        spots.append(
            "the plan stops early: it has no output_format and no examples; say exactly "
            "what the answer contains and how it is laid out, and add one short worked "
            "example (a realistic input and the ideal answer)"
        )
    for item in plan.inputs:
        if not _says_what_it_contains(item.description):
            spots.append(
                f"the description of input {item.name} ({item.description!r}) does not say "
                "what it contains"
            )
    return spots


def _owed(
    plan: PromptPlan, task: str, goals: _ImproveGoals | None, fixed_inputs: list[str] | None
) -> list[str]:
    """Problems with what the plan owes the request: the inputs it receives (what the task
    says it receives, never its own answer), the original, the feedback."""
    spots = []
    if fixed_inputs is None:
        if lacks_question_input(plan.inputs, task):
            spots.append(NO_QUESTION_INPUT)
        if classifies_questions(plan, task):
            spots.append(NOT_A_CLASSIFICATION)
        spots.extend(no_material_input(m) for m in missing_materials(plan.inputs, task))
        for item in output_like_inputs(plan):
            spots.append(
                f"input {item.name} ({item.description!r}) is what the assistant produces, "
                "not what it receives: remove it from inputs and describe it in "
                "output_format instead"
            )
    if goals is None:
        return spots
    missing = missing_specifics(goals.specifics, _instruction_text(plan))
    if missing:
        listed = "; ".join(repr(m) for m in missing)
        spots.append(
            f"the plan drops these specifics of the original: {listed}; keep each of them "
            "word for word in the objective, a step, a constraint or the output format"
        )
    spots.extend(_feedback_gaps(plan, goals))
    return spots


def _feedback_gaps(plan: PromptPlan, goals: _ImproveGoals) -> list[str]:
    """Feedback the plan did not apply: an output format it names, items it asks for."""
    if not goals.feedback:
        return []
    gaps = []
    answer_text = _answer_text(plan)
    original = goals.original.lower()
    for word in requested_format_words(goals.feedback):
        if word not in answer_text.lower():
            gaps.append(f"the feedback asks for {word} output: say so in output_format")
        for item in plan.inputs:
            if word in item.description.lower() and word not in original:
                gaps.append(
                    f"input {item.name} is described as {word}, but the feedback asks for "
                    f"{word} in the answer, not the input: describe what {item.name} contains"
                )
    # Items are compared word for word, so only when feedback and plan share a language.
    same_language = detect_language(goals.feedback) == detect_language(answer_text)
    for wanted in requested_items(goals.feedback) if same_language else []:
        if not survives(wanted, answer_text) and not _mostly_said(wanted, answer_text):
            gaps.append(
                f"the feedback asks the answer to include {wanted!r}: add it to the steps "
                "and the output format"
            )
    return gaps


def _mostly_said(phrase: str, text: str) -> bool:
    words = content_words(phrase)
    return bool(words) and words <= content_words(text)


def _repair(
    plan: PromptPlan, task: str, goals: _ImproveGoals | None, fixed_inputs: list[str] | None
) -> PromptPlan:
    """Deterministic repair of what the model left unrepaired, so nothing owed is lost.

    Output-like inputs are dropped (while another input remains), what the task says
    the assistant receives (its question, the material it works from) is added, and a
    plan that classifies questions it should answer loses that kind and objective
    (``received.py``); a specific the plan lost comes back as the original's own sentence
    among the constraints; unapplied feedback is added as a constraint in the user's own
    words, and an input wrongly described in the feedback's format gets a plain
    description.
    """
    inputs, task_kind, objective = plan.inputs, plan.task_kind, plan.objective
    if fixed_inputs is None:
        flagged = output_like_inputs(plan)
        kept = [i for i in inputs if i not in flagged]
        inputs = with_received_inputs(kept or inputs, task)
        if classifies_questions(plan, task):
            task_kind, objective = "", answering_objective(task) or objective
    constraints = list(plan.constraints)
    if goals is not None:
        for specific in missing_specifics(goals.specifics, _instruction_text(plan)):
            sentence = clean_sentence(sentence_with(specific, goals.original))
            if sentence and sentence not in constraints:
                constraints.append(sentence)
        gaps = _feedback_gaps(plan, goals)
        if gaps and goals.feedback:
            constraints.append(clean_sentence(goals.feedback))
            formats = requested_format_words(goals.feedback)
            inputs = [
                i.model_copy(update={"description": i.name.replace("_", " ").capitalize()})
                if any(
                    w in i.description.lower() and w not in goals.original.lower() for w in formats
                )
                else i
                for i in inputs
            ]
    return plan.model_copy(
        update={
            "inputs": inputs,
            "task_kind": task_kind,
            "objective": objective,
            "constraints": constraints[:MAX_KEPT_CONSTRAINTS],
        }
    )


def _instruction_text(plan: PromptPlan) -> str:
    """The plan's instructions (no examples), where a kept specific must be said."""
    return "\n".join(
        [
            plan.role,
            plan.context,
            plan.objective,
            *(i.description for i in plan.inputs),
            *plan.steps,
            *plan.constraints,
            *plan.edge_cases,
            _answer_text(plan),
        ]
    )


def _answer_text(plan: PromptPlan) -> str:
    """What the plan says the answer is: steps, output format and fields."""
    return "\n".join(
        [
            *plan.steps,
            plan.output_format,
            *(f"{f.name.replace('_', ' ')} {f.type} {f.description}" for f in plan.output_fields),
            *plan.constraints,
        ]
    )


def _says_what_it_contains(description: str) -> bool:
    """Two words at least; for scripts written without spaces, three character pairs."""
    return (
        len(re.findall(r"[^\W\d_]{2,}", description)) >= 2 or len(content_words(description)) >= 3
    )


def _usable_name(name: str) -> bool:
    return bool(name) and name.replace("_", "").isalnum() and not name[0].isdigit()


def _prompt_text(messages: Sequence[PromptMessage], system: str) -> str:
    parts = []
    if system:
        parts.append(f"[system]\n{system}")
    for message in messages:
        parts.append(f"[{message.role}]\n{message.text}")
    return "\n\n".join(parts)


def _templatize_proposals(text: str) -> list[tuple[str, str]]:
    try:
        data = extract_json_object(text)
    except ValueError:
        return []
    items = data.get("variables")
    if not isinstance(items, list):
        return []
    return [
        (str(item["name"]), str(item["value"]))
        for item in items
        if isinstance(item, dict) and item.get("name") and isinstance(item.get("value"), str)
    ][:MAX_TEMPLATE_VARIABLES]
