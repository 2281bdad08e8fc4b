"""Plan parts that refuse what the task asks: dropped, so the prompt does not contradict itself.

For "extract the date in a sentence and write it as YYYY-MM-DD" the embedded planner
wrote the edge case "if the date is not in ISO 8601 format, return null" and the
examples "The event is on 2023-04-15." -> "2023-04-15" and "The meeting is on
2023/04/15." -> "null": the task is to convert such dates, and the second example shows
the same date as the first refused. The answering model copied the first example's
date for three sentences whose dates were written another way (bench/downstream, dates
at 0.95x the bare task). Two such patterns are recognised (English wording only):

- an edge case or rule that answers nothing ("null", "none", "an empty ...") when the
  input is *not in* the format the task or the plan's output format names: converting
  into that format is the task ("not in a valid format" is left alone);
- an example whose answer is nothing although its input holds every word and number of
  another example's answer: the two examples contradict each other.
"""

from __future__ import annotations

import re

from promptmill.engine.plan import PlanExample, PromptPlan, folded

_NOTHING = r"(?:null|none|nothing|n/?a|an?\s+empty\s+\w+|empty|no\s+answer|blank)"
_REFUSE = (
    r"\b(?:return|answer|output|write|reply|respond|give|leave|set)\b[^.;]*?\b" + _NOTHING + r"\b"
)
# "not in ISO 8601 format", "not written in the YYYY-MM-DD format": the format's name.
_NOT_IN_FORMAT = (
    r"\bnot\s+(?:already\s+)?(?:written\s+|given\s+)?in\s+(?:the\s+|an?\s+)?"
    r"(?P<fmt>[^.;,]*?)\s*format\b"
)
_REFUSES_UNFORMATTED = re.compile(
    _NOT_IN_FORMAT
    + r"[^.;]*?"
    + _REFUSE
    + "|"
    + _REFUSE
    + r"[^.;]*?"
    + _NOT_IN_FORMAT.replace("fmt", "fmt2"),
    re.IGNORECASE,
)
_NOTHING_ANSWER = re.compile(r"^[\"'`]?" + _NOTHING + r"[\"'`]?$", re.IGNORECASE)
_WORD = re.compile(r"\w+")


def without_contradictions(plan: PromptPlan, task: str) -> PromptPlan:
    """``plan`` without rules that refuse input not yet in the answer's format, and
    without examples that contradict each other."""
    answer_format = set(_WORD.findall(f"{task} {plan.output_format}".casefold()))

    def refuses_unformatted(line: str) -> bool:
        for match in _REFUSES_UNFORMATTED.finditer(line):
            named = set(_WORD.findall((match.group("fmt") or match.group("fmt2") or "").casefold()))
            if named and named <= answer_format:  # the answer's own format, not "a valid" one
                return True
        return False

    plan = plan.without_lines(refuses_unformatted, fields=("constraints", "edge_cases"))
    return plan.changed(
        examples=[e for e in plan.examples if not _refuses_an_answer(e, plan.examples)]
    )


def _refuses_an_answer(example: PlanExample, examples: list[PlanExample]) -> bool:
    """Whether ``example`` answers nothing to an input that holds another example's answer."""
    if not _NOTHING_ANSWER.match(folded(example.output)):
        return False
    given = set(_WORD.findall(example.input.casefold()))
    for other in examples:
        answer = set(_WORD.findall(other.output.casefold()))
        if other is example or not answer or _NOTHING_ANSWER.match(folded(other.output)):
            continue
        if answer <= given:
            return True
    return False
