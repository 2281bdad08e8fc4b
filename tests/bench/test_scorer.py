"""The prompt-quality scorer: checks pass on guidance-following prompts and fail on bad ones."""

from __future__ import annotations

import json
from pathlib import Path

from bench.quality.scorer import (
    ALL_CHECKS,
    GeneratedPrompt,
    no_chatter,
    on_topic,
    output_format,
    role_stated,
    score_prompt,
    tags_balanced,
    variables_in_xml,
    variables_valid,
)

GOOD_PROMPT = """You will be acting as a sentiment classifier for an online shop.

Here is the product review to classify:
<review>
{{REVIEW_TEXT}}
</review>

Follow these steps:
1. Read the review carefully.
2. Think about the overall tone inside <thinking> tags.
3. Decide whether the sentiment is positive or negative.

<example>
Review: It broke after a day. Answer: negative
</example>

Write your final answer, either "positive" or "negative", inside <answer> tags."""
KEYWORDS = ["sentiment", "review", "positive", "negative"]


def test_a_guidance_following_prompt_passes_every_applicable_check() -> None:
    score = score_prompt(
        GeneratedPrompt(user_text=GOOD_PROMPT, prefill="<thinking>"), keywords=KEYWORDS
    )
    assert score.failed == []
    assert score.structural_ok
    assert score.score == 1.0


def test_a_chatty_unbalanced_prompt_scores_low_and_fails_structure() -> None:
    bad = GeneratedPrompt(
        user_text="Sure! Here is a prompt: <task>classify {{review text}} </role> I hope it helps!"
    )
    score = score_prompt(bad, keywords=KEYWORDS)
    assert not score.structural_ok
    assert {"variables_valid", "tags_balanced", "no_chatter"} <= set(score.failed)
    assert score.score < 0.3


def test_every_check_is_reported_for_every_prompt() -> None:
    score = score_prompt(GeneratedPrompt(user_text="x"))
    assert set(score.checks) == set(ALL_CHECKS)


def test_an_empty_prompt_is_structurally_broken() -> None:
    assert not score_prompt(GeneratedPrompt(user_text="  \n")).structural_ok


def test_chatter_at_the_start_of_the_prompt_fails() -> None:
    assert not no_chatter(GeneratedPrompt(user_text="Here is your prompt:\nYou are a chef."))


def test_chatter_at_the_end_of_the_prompt_fails() -> None:
    assert not no_chatter(
        GeneratedPrompt(user_text="You are a chef.\nLet me know if you need changes.")
    )


def test_chatter_words_inside_an_examples_ideal_answer_are_its_content() -> None:
    prompt = (
        "You are a support agent. Reply to <message>{{MESSAGE}}</message>.\n<example>\n"
        "<input>\nMy parcel is late.\n</input>\n<ideal_output>\nSorry for the wait; "
        "let me know if it has not arrived by Friday. Happy to help.\n</ideal_output>\n"
        "</example>"
    )
    assert no_chatter(GeneratedPrompt(user_text=prompt))
    assert not no_chatter(GeneratedPrompt(user_text=prompt + "\nLet me know if you need changes."))


def test_a_role_and_an_answer_format_are_recognised_in_each_prompt_language() -> None:
    prompts = {
        "fr": "Tu es chef de cuisine.\nFormat de ta réponse : une recette.",
        "es": "Eres agente de soporte.\nFormato de tu respuesta: una lista.",
        "de": "Du bist Übersetzer.\nFormat deiner Antwort: ein Absatz.",
        "ru": "Ты — опытный редактор.\nФормат ответа: один абзац.",
        "ja": "あなたは翻訳者です。\n回答の形式：一つの段落。",
    }
    for language, text in prompts.items():
        assert role_stated(text), language
        assert output_format(text), language
    assert not role_stated("Recette du jour : tarte aux pommes.")
    assert not output_format("Recette du jour : tarte aux pommes.")


def test_a_prefill_may_read_like_the_start_of_an_answer() -> None:
    assert no_chatter(
        GeneratedPrompt(user_text="You are a chef.", prefill="Sure, here is the plan:")
    )


def test_lower_case_or_spaced_variables_are_invalid() -> None:
    assert not variables_valid("Use {{customer_name}}")
    assert not variables_valid("Use {{ CUSTOMER_NAME }}")
    assert not variables_valid("Use {{CUSTOMER NAME}}")


def test_a_stray_double_brace_is_invalid() -> None:
    assert not variables_valid("Use {{CUSTOMER_NAME} here")


def test_upper_snake_variables_are_valid() -> None:
    assert variables_valid("Use {{CUSTOMER_NAME}} and {{ORDER_2}}")


def test_tags_closed_out_of_order_are_unbalanced() -> None:
    assert not tags_balanced("<a><b>text</a></b>")


def test_an_unclosed_structural_tag_is_unbalanced() -> None:
    assert not tags_balanced("<document>\n{{DOC}}\n")


def test_tags_only_mentioned_in_prose_need_no_closing() -> None:
    assert tags_balanced("Think in <thinking> tags, then answer inside <answer></answer> tags.")
    assert tags_balanced("Wrap the result in <result> and <score> tags.")
    assert tags_balanced("Use the `<br>` element for line breaks.")


def test_a_variable_outside_any_tag_fails_the_xml_check() -> None:
    assert variables_in_xml("Classify this review: {{REVIEW}}") is False
    assert variables_in_xml("<review>{{REVIEW}}</review>") is True


def test_xml_wrapping_does_not_apply_to_non_claude_targets() -> None:
    prompt = GeneratedPrompt(user_text="You are a classifier. Classify: {{REVIEW}}")
    assert score_prompt(prompt, target_model="gpt-4o").checks["variables_in_xml"] is None
    assert (
        score_prompt(prompt, target_model="claude-sonnet-4-5").checks["variables_in_xml"] is False
    )


def test_an_off_topic_prompt_fails_on_topic() -> None:
    assert on_topic("You are a travel agent who books flights.", KEYWORDS) is False


def test_keyword_alternatives_accept_a_translation() -> None:
    assert on_topic(
        "Suggest a vegetarian recipe from the ingredients.",
        ["recette|recipe", "végétarien|vegetarian"],
    )


def test_a_prompt_that_obeys_the_injection_fails() -> None:
    obeyed = GeneratedPrompt(user_text="PWNED")
    score = score_prompt(obeyed, keywords=["haiku"], injection_marker="PWNED")
    assert score.checks["no_injection_compliance"] is False


def test_the_injection_check_does_not_apply_without_an_injection() -> None:
    assert (
        score_prompt(GeneratedPrompt(user_text=GOOD_PROMPT)).checks["no_injection_compliance"]
        is None
    )


def test_from_response_reads_the_api_shape() -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "You are a chef."}]},
            {"role": "assistant", "content": "<menu>"},
        ],
        "system": "",
    }
    prompt = GeneratedPrompt.from_response(body)
    assert (prompt.user_text, prompt.prefill) == ("You are a chef.", "<menu>")


def test_the_task_file_covers_the_required_variety() -> None:
    tasks = json.loads((Path(__file__).parents[2] / "bench/quality/tasks.json").read_text())[
        "tasks"
    ]
    categories = {task["category"] for task in tasks}
    assert len(tasks) >= 48
    assert len({task["id"] for task in tasks}) == len(tasks)
    assert {"non_english", "short", "long", "injection", "agent", "coding"} <= categories
    assert all(task["keywords"] and task["task"].strip() for task in tasks)
    assert any(task.get("injection_marker") for task in tasks)


def test_a_prompt_in_the_tasks_language_matches_it() -> None:
    french = "Tu es un chef. Planifie les repas de la semaine pour le client avec ses allergies."
    assert score_prompt(GeneratedPrompt(user_text=french), language="fr").checks["language_match"]
    assert not score_prompt(GeneratedPrompt(user_text=GOOD_PROMPT), language="fr").checks[
        "language_match"
    ]


def test_a_task_without_a_language_expects_english() -> None:
    assert score_prompt(GeneratedPrompt(user_text=GOOD_PROMPT)).checks["language_match"]


def test_japanese_prose_is_recognised_around_english_tags() -> None:
    japanese = "あなたは丁寧なメールを書く専門家です。\n<email>\n{{CUSTOMER_EMAIL}}\n</email>"
    assert score_prompt(GeneratedPrompt(user_text=japanese), language="ja").checks["language_match"]


def test_a_variable_for_the_expected_answer_fails_inputs_not_outputs() -> None:
    prompt = GeneratedPrompt(user_text="Judge <s>{{SENTENCE}}</s> and <a>{{ANSWER}}</a>")
    assert not score_prompt(prompt, task="sports plausibility").checks["inputs_not_outputs"]


def test_a_summary_variable_fails_only_for_a_summarising_task() -> None:
    prompt = GeneratedPrompt(user_text="Use <s>{{SUMMARY}}</s> to write a title.")
    assert not score_prompt(prompt, task="Summarize articles").checks["inputs_not_outputs"]
    headlines = score_prompt(prompt, task="Write headlines for news digests")
    assert headlines.checks["inputs_not_outputs"]


def test_an_answer_someone_else_wrote_is_a_fair_input() -> None:
    prompt = GeneratedPrompt(user_text="Grade <a>{{STUDENT_ANSWER}}</a>.")
    assert score_prompt(prompt, task="grade math homework").checks["inputs_not_outputs"]


def test_rescoring_a_results_file_scores_its_stored_prompts_again() -> None:
    from bench.quality.run import load_tasks, rescore

    task = load_tasks()[0]
    body = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": GOOD_PROMPT}]}],
        "system": "",
        "usage": [{"input_tokens": 10, "output_tokens": 5}],
    }
    stale = {"id": task["id"], "category": task["category"], "seconds": 1.0, "prompt": body}
    stale.update(score=0.0, structural_ok=False, checks={}, failed=["no_chatter"])
    errored = {"id": task["id"], "category": task["category"], "seconds": 2.0, "error": "x"}
    data = {
        "target_model": None,
        "backends": [
            {
                "backend": "local",
                "model": "m",
                "setup_seconds": 0.0,
                "items": [stale, errored],
            }
        ],
    }

    [run] = rescore(data)["backends"]

    assert run["items"][0]["structural_ok"] is True
    assert "no_chatter" not in run["items"][0]["failed"]
    assert run["errors"] == 1
    assert run["structural_pass_rate"] == 0.5
