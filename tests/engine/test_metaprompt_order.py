"""Every meta-prompt puts its fixed part first and the request's own text last (issue 11),
so a backend that keeps the evaluated prompt prefix between calls (llama.cpp) evaluates
only each request's suffix.

The property, for each builder: given two different requests, every line of text they
share (the fixed instructions) lies inside their common prefix; nothing fixed comes after
the first request-specific character, and the system prompt is wholly shared.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from promptmill.engine import metaprompts
from promptmill.engine.families import CONVENTIONS, accepts_prefill, model_family
from promptmill.engine.language import detect_language

# (system, user text) of one call, built for request number 0 or 1.
Builder = Callable[[int], tuple[str, str]]

_TASKS = ("a chef for a meal prep planning service", "classify support tickets by urgency")
_PROMPTS = (
    "Summarize this support ticket in two sentences: {{TICKET}}",
    "Translate the text into {{LANGUAGE}}, keep the term 'Cloud Sync': {{TEXT}}",
)


def _generate(i: int) -> tuple[str, str]:
    return metaprompts.PLANNER_SYSTEM, metaprompts.generate_plan_request(
        _TASKS[i], ("claude-sonnet-4-5", None)[i], detect_language(_TASKS[i])
    )


def _improve(i: int) -> tuple[str, str]:
    return metaprompts.PLANNER_SYSTEM, metaprompts.improve_plan_request(
        _PROMPTS[i],
        ("Make the output JSON", None)[i],
        [["TICKET"], ["LANGUAGE", "TEXT"]][i],
        ("gpt-4o", "claude-opus-4-6")[i],
        must_keep=[["two sentences"], ["Cloud Sync", "into"]][i],
    )


def _templatize(i: int) -> tuple[str, str]:
    texts = ("Write a haiku about Paris in spring.", "Email Ana Lopez about invoice 4411.")
    return metaprompts.TEMPLATIZE_SYSTEM, metaprompts.templatize_request(texts[i])


def _repair(i: int) -> tuple[str, str]:
    problems = (["the role 'assistant' is generic"], ["input ANSWER is what it produces"])
    return "", metaprompts.repair_request(problems[i])


def _cases(i: int) -> tuple[str, str]:
    avoid = ([], [{"TEXT": "Hello there", "LANGUAGE": "French"}])[i]
    return metaprompts.CASES_SYSTEM, metaprompts.cases_request(
        _PROMPTS[i], [["TICKET"], ["LANGUAGE", "TEXT"]][i], (3, 5)[i], avoid
    )


def _judge(i: int) -> tuple[str, str]:
    return metaprompts.JUDGE_SYSTEM, metaprompts.judge_request(
        _PROMPTS[i],
        ("The customer cannot log in.", "Bonjour")[i],
        ("Two sentences, no more.", "A faithful French translation.")[i],
        (None, "Bonjour")[i],
    )


def _freeform(i: int) -> tuple[str, str]:
    target = ("claude-sonnet-4-5", "gpt-4.1")[i]
    return metaprompts.FREEFORM_SYSTEM, metaprompts.freeform_request(
        _TASKS[i],
        target,
        CONVENTIONS[model_family(target)],
        prefill=accepts_prefill(target),
        language=detect_language(_TASKS[i]),
    )


def _repair_written(i: int) -> tuple[str, str]:
    problems = (["the prompt has no template variable"], ["variable {{x}} is not UPPER_SNAKE"])
    return "", metaprompts.repair_written_request(problems[i])


BUILDERS: dict[str, Builder] = {
    "planner-generate": _generate,
    "freeform": _freeform,
    "repair-written": _repair_written,
    "planner-improve": _improve,
    "templatize": _templatize,
    "repair": _repair,
    "cases": _cases,
    "judge": _judge,
}


def _common_prefix(first: str, second: str) -> str:
    length = next(
        (i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b),
        min(len(first), len(second)),
    )
    return first[:length]


def _full(system: str, user: str) -> str:
    return f"{system}\n\n{user}" if system else user


def _shared_instruction_lines(first: str, second: str) -> list[str]:
    """Lines of prose both requests contain (tag-only and very short lines aside)."""
    theirs = set(second.splitlines())
    return [
        line
        for line in first.splitlines()
        if line in theirs and len(line.strip()) > 15 and not re.fullmatch(r"\s*</?\w+>\s*", line)
    ]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_two_requests_share_the_fixed_text_as_a_common_prefix(name: str) -> None:
    (system_a, user_a), (system_b, user_b) = BUILDERS[name](0), BUILDERS[name](1)
    first, second = _full(system_a, user_a), _full(system_b, user_b)
    assert first != second
    assert system_a == system_b
    common = _common_prefix(first, second)
    assert len(common) >= len(system_a)
    shared = _shared_instruction_lines(first, second)
    assert shared, "the builder has no fixed instructions at all"
    for line in shared:
        assert first.index(line) + len(line) <= len(common), (
            f"fixed text after the request: {line!r}"
        )
