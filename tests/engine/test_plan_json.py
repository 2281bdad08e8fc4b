"""Reading the plan's JSON object out of a model's reply (``plan.extract_json_object``)."""

from __future__ import annotations

import pytest

from promptmill.engine.plan import cut_loop, extract_json_object, parse_plan


def test_a_bare_object_is_read_as_it_is() -> None:
    assert extract_json_object('{"role": "a chef", "steps": ["plan"]}') == {
        "role": "a chef",
        "steps": ["plan"],
    }


def test_an_object_in_a_code_fence_among_prose_is_read() -> None:
    reply = 'Here it is:\n```json\n{"role": "a chef"}\n```\nHope it helps {not json}.'
    assert extract_json_object(reply) == {"role": "a chef"}


def test_an_object_surrounded_by_prose_is_read() -> None:
    assert extract_json_object('Sure. {"role": "a chef"} Anything else?') == {"role": "a chef"}


def test_a_reply_cut_off_inside_a_list_keeps_its_whole_items() -> None:
    reply = '{"role": "a chef", "steps": ["plan the week", "buy the food", "cook the me'
    assert extract_json_object(reply) == {
        "role": "a chef",
        "steps": ["plan the week", "buy the food"],
    }


def test_a_raw_line_break_inside_a_string_is_read_as_one() -> None:
    """What Qwen 1.5B wrote for a bulleted example (bench/quality, article-summary)."""
    reply = '{"examples": [{"input": "A study.", "output": "- Study shows X\n- Y matters"}]}'
    assert "\n" in reply  # a real line break inside the JSON string, not an escape
    assert extract_json_object(reply) == {
        "examples": [{"input": "A study.", "output": "- Study shows X\n- Y matters"}]
    }


def test_a_cut_off_reply_with_a_raw_line_break_is_closed_and_read() -> None:
    reply = '{"role": "a summariser", "steps": ["read it", "list the\npoints", "chec'
    assert extract_json_object(reply) == {
        "role": "a summariser",
        "steps": ["read it", "list the\npoints"],
    }


def test_a_reply_without_an_object_is_an_error() -> None:
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json_object("I cannot help with that.")


# The seed task's example as Qwen 1.5B planned it (README's first request, stop 18).
LOOPING_OUTPUT = "## Ingredients\n- Pasta\n- Chicken\n" + "- Garlic\n- Onion\n- Olive oil\n" * 6


def test_an_example_output_that_loops_is_cut_where_the_loop_starts() -> None:
    assert cut_loop(LOOPING_OUTPUT) == (
        "## Ingredients\n- Pasta\n- Chicken\n- Garlic\n- Onion\n- Olive oil\n..."
    )
    plan = parse_plan(
        {
            "role": "chef",
            "objective": "Plan a week of meals",
            "inputs": [{"name": "CLIENT", "description": "The client's diet and servings"}],
            "steps": ["Read the client's diet", "Plan the meals"],
            "examples": [{"input": "Vegetarian, 2 servings", "output": LOOPING_OUTPUT}],
        }
    )
    assert plan.examples[0].output.endswith("- Olive oil\n...")


def test_an_output_that_repeats_a_block_of_lines_is_cut_where_the_copy_starts() -> None:
    # bench/quality's long-onboarding, stop 19: a nine-item checklist, then most of it again.
    items = [f"- [ ] Step {n}" for n in range(9)]
    looping = "\n".join(["## Greeting", "Hello, John!", "## First-week checklist", *items, *items])
    assert cut_loop(looping) == "\n".join(
        ["## Greeting", "Hello, John!", "## First-week checklist", *items, "..."]
    )


def test_an_output_that_repeats_a_sentence_is_cut_where_the_copy_starts() -> None:
    # bench/quality's long-onboarding, stop 19: one sentence over and over in one line.
    sentence = "I'll start with payroll dates, safety training and equipment requests."
    looping = f"Good morning, John! {sentence} {sentence} {sentence} I'll start with"
    assert cut_loop(looping) == f"Good morning, John! {sentence} ..."


def test_an_output_with_a_few_repeated_lines_is_not_a_loop() -> None:
    # Half the lines repeat ("Breakfast: oats" every day): a plan, not a loop.
    week = "\n".join(f"## Day {day}\nBreakfast: oats\nLunch: soup" for day in range(4))
    assert cut_loop(week) == week
    assert cut_loop("short\nshort\nshort") == "short\nshort\nshort"
    twice = "Next, fill in the form. Then you are done. Next, check the form."
    assert cut_loop(twice) == twice
