"""Reading the chosen letter out of an answer (``bench.bigbench.answers.extract_choice``),
and the optimizer's grader built on it."""

from __future__ import annotations

import pytest
from bench.bigbench.answers import extract_choice
from bench.bigbench.data import Item
from bench.bigbench.run import ChoiceGrader

from promptmill.engine.cases import TestCase
from promptmill.engine.graders import GradeContext

OPTIONS = ("the first option", "the second option", "a third one")


@pytest.mark.parametrize(
    "reply",
    [
        "(B)",
        "B)",
        "B",
        "B. the second option",
        "Answer: B",
        "The answer is (B).",
        "So the correct option is B, because...",
        "<answer>(B)</answer>",
        "<thinking>(A) is tempting, but no.</thinking>\n(B)",
        "It must be the second option.",
    ],
)
def test_the_chosen_letter_is_read_in_every_usual_form(reply: str) -> None:
    assert extract_choice(reply, OPTIONS) == "B"


def test_an_article_opening_the_reply_is_not_a_letter() -> None:
    assert extract_choice("A sentence that names no option at all.", OPTIONS) is None


def test_a_letter_beyond_the_options_is_ignored() -> None:
    assert extract_choice("(D)", OPTIONS) is None


def test_the_last_stated_answer_wins_over_letters_discussed_before_it() -> None:
    assert extract_choice("Comparing (A) with (C): the answer is (C)", OPTIONS) == "C"


def test_an_empty_reply_chooses_nothing() -> None:
    assert extract_choice("", OPTIONS) is None


def test_the_grader_passes_when_the_letter_read_is_the_label() -> None:
    item = Item(id="t#0", question="Which?", options=OPTIONS, label="B")
    grader = ChoiceGrader([item])
    case = TestCase(vars={"QUESTION": item.text}, expected="(B)")
    assert grader.grade("The answer is (B)", case, GradeContext()).passed is True
    assert grader.grade("(A)", case, GradeContext()).passed is False
