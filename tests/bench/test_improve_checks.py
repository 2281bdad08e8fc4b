"""The improve benchmark's checks: specifics kept in any listed spelling, feedback marks
present, and output-format feedback never turned into an input's description."""

from __future__ import annotations

from bench.improve.checks import input_descriptions, kept, score_case
from bench.improve.run import load_cases

CASE = {
    "must_keep": ["two sentences|2 sentences", "1 to 5|1-5"],
    "applied": ["json"],
    "inputs_exclude": "json",
}
GOOD = (
    "Summarize the ticket in 2 sentences and rate anger 1-5.\n\n"
    "The customer's ticket:\n<ticket>\n{{TICKET}}\n</ticket>\n\nAnswer with one JSON object."
)


def test_a_specific_is_kept_in_any_listed_spelling() -> None:
    assert kept("two sentences|2 sentences", "in 2 Sentences")
    assert not kept("1 to 5|1-5", "from one to ten")


def test_input_descriptions_are_the_lines_before_each_tagged_variable() -> None:
    assert input_descriptions(GOOD) == ["The customer's ticket:"]


def test_a_prompt_that_keeps_everything_and_applies_the_feedback_scores_full() -> None:
    score = score_case(CASE, GOOD)
    assert (score["kept"], score["all_kept"], score["applied"]) == (2, True, True)


def test_a_lost_scale_is_reported_missing() -> None:
    score = score_case(CASE, GOOD.replace("rate anger 1-5", "rate anger"))
    assert score["missing"] == ["1 to 5|1-5"]
    assert not score["all_kept"]


def test_json_feedback_applied_to_the_input_is_not_applied() -> None:
    misplaced = GOOD.replace("The customer's ticket:", "A JSON object with the ticket:")
    score = score_case(CASE, misplaced)
    assert not score["applied"]
    assert score["inputs_in_output_format"] == ["A JSON object with the ticket:"]


def test_the_case_file_has_ten_cases_each_with_specifics_and_feedback_marks() -> None:
    cases = load_cases()
    assert len(cases) == 10
    assert all(case["must_keep"] and case["applied"] and case["feedback"] for case in cases)
