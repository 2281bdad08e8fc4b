"""Graders: what decides whether an output is good, one kind per ``type``.

A grader spec is a small pydantic model (so the API, CLI and docs share one shape),
``GRADERS`` lists the kinds, and every spec grades an output itself. Deterministic
graders score 0 or 1; the rubric judge scores 1 to 5 with a reason. A grader that needs
a value the case does not have (no ``expected``, no grading notes) returns
``passed=None`` with the reason rather than guessing. In Python any callable
``(output, case) -> bool | float | Grade`` is a grader too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, TypeAdapter, ValidationError

from promptmill.backends.base import ChatBackend, ChatRequest, ChatTurn
from promptmill.engine import metaprompts
from promptmill.engine.plan import extract_json_object
from promptmill.errors import InvalidRequestError
from promptmill.eval_types import Grade, TestCase

JUDGE_MAX_TOKENS = 300
JUDGE_ATTEMPTS = 2
RUBRIC_SCORES = (1, 2, 3, 4, 5)
_JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "score": {"type": "integer", "enum": list(RUBRIC_SCORES)},
    },
    "required": ["reason", "score"],
}
_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class GradeContext:
    """What a model-graded grader needs: the backend, the time left, the prompt as sent.

    ``model`` stays None in runs, so the judge is the backend's default model for every
    variant, including variants run on another model: one judge for all contestants.
    """

    backend: ChatBackend | None = None
    timeout: float = 60.0
    prompt_text: str = ""
    model: str | None = None


@runtime_checkable
class Grader(Protocol):
    """Anything ``validate_graders`` returns: a name and a ``grade`` method."""

    @property
    def name(self) -> str: ...

    def grade(self, output: str, case: TestCase, context: GradeContext) -> Grade: ...


GraderCallable = Callable[[str, TestCase], "bool | float | Grade"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: str

    @property
    def name(self) -> str:
        return self.type

    def _verdict(self, passed: bool, reason: str) -> Grade:
        return Grade(grader=self.name, passed=passed, score=1.0 if passed else 0.0, reason=reason)

    def _ungraded(self, reason: str) -> Grade:
        return Grade(grader=self.name, passed=None, score=None, reason=reason)


def _reference(value: str | None, case: TestCase) -> str | None:
    return value if value is not None else case.expected


_NO_EXPECTED = "no expected value: the grader has no 'value' and the case no 'expected'"


class ExactGrader(_Spec):
    """Passes when the output equals the value (surrounding whitespace ignored)."""

    type: Literal["exact"] = "exact"
    value: str | None = None
    case_sensitive: bool = True

    def grade(self, output: str, case: TestCase, context: GradeContext) -> Grade:
        wanted = _reference(self.value, case)
        if wanted is None:
            return self._ungraded(_NO_EXPECTED)
        got, want = output.strip(), wanted.strip()
        if not self.case_sensitive:
            got, want = got.casefold(), want.casefold()
        if got == want:
            return self._verdict(True, "the output equals the expected value")
        return self._verdict(False, f"expected {want[:80]!r}, got {got[:80]!r}")


class ContainsGrader(_Spec):
    """Passes when the output contains the value (case-insensitive by default)."""

    type: Literal["contains"] = "contains"
    value: str | None = None
    case_sensitive: bool = False

    def grade(self, output: str, case: TestCase, context: GradeContext) -> Grade:
        wanted = _reference(self.value, case)
        if wanted is None:
            return self._ungraded(_NO_EXPECTED)
        got, want = (
            (output, wanted) if self.case_sensitive else (output.casefold(), wanted.casefold())
        )
        if want in got:
            return self._verdict(True, f"the output contains {wanted[:80]!r}")
        return self._verdict(False, f"the output does not contain {wanted[:80]!r}")


class RegexGrader(_Spec):
    """Passes when the pattern matches somewhere in the output (``re.search``)."""

    type: Literal["regex"] = "regex"
    pattern: str
    flags: str | None = None
    _compiled: re.Pattern[str] | None = PrivateAttr(default=None)

    def compile(self) -> re.Pattern[str]:
        if self._compiled is None:
            flags = 0
            for letter in self.flags or "":
                if letter not in _REGEX_FLAGS:
                    raise ValueError(
                        f"flags: unknown flag {letter!r}; use any of {', '.join(_REGEX_FLAGS)}"
                    )
                flags |= _REGEX_FLAGS[letter]
            try:
                self._compiled = re.compile(self.pattern, flags)
            except re.error as exc:
                raise ValueError(f"pattern: invalid regular expression: {exc}") from exc
        return self._compiled

    def grade(self, output: str, case: TestCase, context: GradeContext) -> Grade:
        match = self.compile().search(output)
        if match:
            return self._verdict(True, f"matched {match.group(0)[:80]!r}")
        return self._verdict(False, f"no match for /{self.pattern}/")


class JsonGrader(_Spec):
    """Passes when the whole output is JSON and, with ``schema``, valid against it."""

    type: Literal["json"] = "json"
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")

    def check_schema(self) -> None:
        if self.json_schema is not None:
            validator = jsonschema.validators.validator_for(self.json_schema)
            try:
                validator.check_schema(self.json_schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"schema: invalid JSON Schema: {exc.message}") from exc

    def grade(self, output: str, case: TestCase, context: GradeContext) -> Grade:
        try:
            value = json.loads(output.strip())
        except ValueError as exc:
            return self._verdict(False, f"not valid JSON: {exc}")
        if self.json_schema is None:
            return self._verdict(True, "valid JSON")
        validator = jsonschema.validators.validator_for(self.json_schema)(self.json_schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
        if error is None:
            return self._verdict(True, "valid JSON matching the schema")
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return self._verdict(False, f"does not match the schema at {where}: {error.message}")


class NumericGrader(_Spec):
    """Passes when the number in the output is within ``tolerance`` of the value.

    The output may be just a number or a text ending with its answer: the last number
    in it is taken ("... so the total is 42." -> 42).
    """

    type: Literal["numeric"] = "numeric"
    value: float | None = None
    tolerance: float = Field(default=0.0, ge=0)

    def grade(self, output: str, case: TestCase, context: GradeContext) -> Grade:
        if self.value is not None:
            wanted = self.value
        elif case.expected is None:
            return self._ungraded(_NO_EXPECTED)
        else:
            parsed = _last_number(case.expected)
            if parsed is None:
                return self._ungraded(f"the case's expected value {case.expected!r} is no number")
            wanted = parsed
        got = _last_number(output)
        if got is None:
            return self._verdict(False, "the output contains no number")
        if abs(got - wanted) <= self.tolerance:
            return self._verdict(True, f"{got:g} is within {self.tolerance:g} of {wanted:g}")
        return self._verdict(False, f"{got:g} is not within {self.tolerance:g} of {wanted:g}")


def _last_number(text: str) -> float | None:
    stripped = text.strip().replace(",", "")
    try:
        number = float(stripped)
    except ValueError:
        found = _NUMBER.findall(stripped)
        return float(found[-1]) if found else None
    return number if math.isfinite(number) else None


class RubricGrader(_Spec):
    """The model judges the output against a rubric (the case's notes by default): a score
    of 1 to 5 with a reason, passing at ``threshold``. Temperature 0."""

    type: Literal["rubric"] = "rubric"
    rubric: str | None = None
    threshold: int = Field(default=4, ge=1, le=5)

    def grade(self, output: str, case: TestCase, context: GradeContext) -> Grade:
        rubric = self.rubric or case.notes
        if not rubric:
            return self._ungraded("no rubric: the grader has no 'rubric' and the case no 'notes'")
        if context.backend is None:
            return self._ungraded("no model to judge with")
        request = ChatRequest(
            turns=[
                ChatTurn(
                    "user",
                    metaprompts.judge_request(context.prompt_text, output, rubric, case.expected),
                )
            ],
            system=metaprompts.JUDGE_SYSTEM,
            json_schema=_JUDGE_SCHEMA,
            max_tokens=JUDGE_MAX_TOKENS,
            temperature=0.0,
            timeout=context.timeout,
            model=context.model,
        )
        problem = "no reply"
        for _ in range(JUDGE_ATTEMPTS):
            try:
                reply = context.backend.chat(request)
            except Exception as exc:  # a judge failure leaves the case ungraded, not failed
                return self._ungraded(
                    f"the judge failed: {getattr(exc, 'error_type', type(exc).__name__)}: {exc}"
                )
            try:
                verdict = extract_json_object(reply.text)
            except ValueError as exc:
                problem = str(exc)
                continue
            score, reason = verdict.get("score"), verdict.get("reason")
            if isinstance(score, bool) or score not in RUBRIC_SCORES:
                problem = f"the judge's score {score!r} is not one of 1-5"
                continue
            return Grade(
                grader=self.name,
                passed=int(score) >= self.threshold,
                score=float(score),
                reason=str(reason or "").strip() or f"scored {score}",
            )
        return self._ungraded(f"the judge gave no usable verdict: {problem}")


GraderSpec = Annotated[
    ExactGrader | ContainsGrader | RegexGrader | JsonGrader | NumericGrader | RubricGrader,
    Field(discriminator="type"),
]

GRADERS: dict[str, type[_Spec]] = {
    "exact": ExactGrader,
    "contains": ContainsGrader,
    "regex": RegexGrader,
    "json": JsonGrader,
    "numeric": NumericGrader,
    "rubric": RubricGrader,
}

_SPEC_ADAPTER: TypeAdapter[Any] = TypeAdapter(GraderSpec)


class CallableGrader:
    """A Python function as a grader: ``bool`` passes or fails, a float in 0..1 is a score
    that passes at 0.5 or more, a ``Grade`` is taken as it is. If it raises, the case fails
    with the exception as the reason."""

    def __init__(self, function: GraderCallable, name: str | None = None) -> None:
        self.function = function
        self._name: str = name or str(getattr(function, "__name__", "callable"))

    @property
    def name(self) -> str:
        return self._name

    def grade(self, output: str, case: TestCase, context: GradeContext) -> Grade:
        try:
            verdict = self.function(output, case)
        except Exception as exc:
            return Grade(
                grader=self.name,
                passed=False,
                score=0.0,
                reason=f"the grader raised {type(exc).__name__}: {exc}",
            )
        if isinstance(verdict, Grade):
            return verdict
        if isinstance(verdict, bool):
            return Grade(
                grader=self.name,
                passed=verdict,
                score=1.0 if verdict else 0.0,
                reason="passed" if verdict else "failed",
            )
        if isinstance(verdict, int | float) and 0.0 <= float(verdict) <= 1.0:
            score = float(verdict)
            return Grade(
                grader=self.name, passed=score >= 0.5, score=score, reason=f"scored {score:g}"
            )
        return Grade(
            grader=self.name,
            passed=False,
            score=0.0,
            reason=f"the grader returned {verdict!r}; expected a bool, a 0..1 float or a Grade",
        )


def validate_graders(specs: Sequence[Any], *, field: str = "graders") -> list[Grader]:
    """Turn API specs (dicts), spec models and callables into graders, or raise a 400
    naming the field (``graders.1.pattern: invalid regular expression: ...``)."""
    graders: list[Grader] = []
    for index, spec in enumerate(specs):
        where = f"{field}.{index}"
        if isinstance(spec, _Spec):
            spec = spec.model_dump(by_alias=True, exclude_unset=True) | {"type": spec.type}
        if isinstance(spec, dict):
            graders.append(_validate_spec(spec, where))
        elif isinstance(spec, Grader):
            graders.append(spec)
        elif callable(spec):
            graders.append(CallableGrader(spec))
        else:
            raise InvalidRequestError(f"{where}: must be a grader object, not {spec!r}")
    return graders


def _validate_spec(raw: dict[str, Any], where: str) -> Grader:
    kinds = ", ".join(GRADERS)
    kind = raw.get("type")
    if kind is None:
        raise InvalidRequestError(f"{where}.type: required; choose one of {kinds}")
    if kind not in GRADERS:
        raise InvalidRequestError(f"{where}.type: unknown grader {kind!r}; choose one of {kinds}")
    try:
        spec = _SPEC_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = ".".join(str(part) for part in error["loc"][1:]) or "type"
        raise InvalidRequestError(f"{where}.{location}: {error['msg']}") from exc
    try:
        if isinstance(spec, RegexGrader):
            spec.compile()
        if isinstance(spec, JsonGrader):
            spec.check_schema()
    except ValueError as exc:
        raise InvalidRequestError(f"{where}.{exc}") from exc
    grader: Grader = spec
    return grader
