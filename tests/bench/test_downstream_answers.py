"""The downstream benchmark's answer extraction, prompt filling and data sets."""

from __future__ import annotations

import datetime

from bench.downstream.answers import extract_iso_date, extract_label, fill_prompt
from bench.downstream.run import load_sets

URGENCY = ["urgent", "not_urgent"]


def test_a_bare_label_is_read() -> None:
    assert extract_label("Positive", ["positive", "negative"]) == "positive"


def test_the_answer_tag_wins_over_reasoning() -> None:
    reply = "<thinking>Some would call it negative, but</thinking><answer>positive</answer>"
    assert extract_label(reply, ["positive", "negative"]) == "positive"


def test_not_urgent_is_never_read_as_urgent() -> None:
    assert extract_label("This is not urgent.", URGENCY) == "not_urgent"
    assert extract_label("Label: not_urgent", URGENCY) == "not_urgent"
    assert extract_label("non-urgent request", URGENCY) == "not_urgent"
    assert extract_label("URGENT: outage", URGENCY) == "urgent"


def test_a_reply_without_any_label_is_unparsed() -> None:
    assert extract_label("I cannot tell.", ["positive", "negative"]) is None


def test_dates_are_read_in_several_spellings() -> None:
    assert extract_iso_date("2011-02-01") == "2011-02-01"
    assert extract_iso_date("The date is February 1, 2011.") == "2011-02-01"
    assert extract_iso_date("the 3rd of Sept. 2020") == "2020-09-03"
    assert extract_iso_date("2020/9/3") == "2020-09-03"


def test_an_impossible_date_is_unparsed() -> None:
    assert extract_iso_date("2021-02-30") is None


def test_the_item_goes_in_the_only_variable() -> None:
    user, system = fill_prompt("Review:\n<review>{{REVIEW}}</review>", "", "Great!", "task")
    assert user == "Review:\n<review>Great!</review>"
    assert system == ""


def test_other_variables_get_the_task_description() -> None:
    user, _ = fill_prompt(
        "{{EMAIL}} labels: {{LABELS}} again {{EMAIL}}", "", "Help!", "urgent or not"
    )
    assert user == "Help! labels: urgent or not again Help!"


def test_a_prompt_without_variables_gets_the_item_appended() -> None:
    user, _ = fill_prompt("Classify the review.", "", "Great!", "task")
    assert user == "Classify the review.\n\nGreat!"


def test_every_set_has_fifty_items_with_valid_gold_labels() -> None:
    sets = load_sets()
    assert len(sets) >= 3
    for task_set in sets:
        items = task_set["items"]
        assert len(items) >= 50, task_set["name"]
        assert len({item["id"] for item in items}) == len(items)
        for item in items:
            if task_set["kind"] == "label":
                assert item["label"] in task_set["labels"]
            else:
                datetime.date.fromisoformat(item["label"])


def test_every_gold_date_is_what_the_extractor_reads_from_the_item_itself() -> None:
    # The sentences spell their date in a form the extractor knows, so gold is exact.
    for item in next(s for s in load_sets() if s["name"] == "dates")["items"]:
        assert extract_iso_date(item["input"]) == item["label"], item["input"]


def test_an_answer_inside_an_unclosed_thinking_block_is_still_read() -> None:
    reply = "<thinking>\nThe sentence says February 2, 2010 ... \n<answer>2011-02-01</answer>"
    assert extract_iso_date(reply) == "2011-02-01"
