"""Prompt templates: variables, content hash, filling and diffs."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from promptmill.engine.types import PromptMessage
from promptmill.engine.versions import PromptTemplate, diff_prompts, fill_prompt


def template(user: str, system: str = "", prefill: str | None = None) -> PromptTemplate:
    messages = [PromptMessage.of("user", user)]
    if prefill is not None:
        messages.append(PromptMessage.of("assistant", prefill))
    return PromptTemplate(messages=messages, system=system)


def test_variables_are_unique_in_order_of_appearance_system_first() -> None:
    prompt = template("Reply to {{TICKET}} for {{CUSTOMER}} ({{TICKET}})", system="Tone: {{TONE}}")
    assert prompt.variables == ["TONE", "TICKET", "CUSTOMER"]


def test_variables_include_spaced_and_lower_case_placeholders() -> None:
    assert template("Write about {{ food }}").variables == ["food"]


def test_equal_content_has_equal_hash() -> None:
    assert template("a {{X}}", "s").content_hash == template("a {{X}}", "s").content_hash


def test_any_change_changes_the_hash() -> None:
    base = template("a {{X}}", "s")
    assert base.content_hash != template("a {{X}} ", "s").content_hash
    assert base.content_hash != template("a {{X}}", "S").content_hash
    assert base.content_hash != template("a {{X}}", "s", prefill="<").content_hash


def test_hash_is_the_sha256_of_the_canonical_json() -> None:
    canonical = '{"messages":[{"role":"user","text":"hé {{X}}"}],"system":""}'
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert template("hé {{X}}").content_hash == expected


def test_final_assistant_message_is_the_prefill() -> None:
    assert template("q", prefill="{").prefill == "{"
    assert template("q").prefill is None


def test_fill_replaces_every_occurrence_in_system_and_messages() -> None:
    filled = fill_prompt(
        template("Hi {{NAME}}, {{ NAME }}!", system="for {{NAME}}", prefill="{{NAME}}:"),
        {"NAME": "Ada"},
    )
    assert [m.text for m in filled.messages] == ["Hi Ada, Ada!", "Ada:"]
    assert filled.system == "for Ada"


def test_fill_inserts_values_verbatim_without_rescanning_them() -> None:
    filled = fill_prompt(template("{{A}} and {{B}}"), {"A": "{{B}}", "B": "b"})
    assert filled.messages[0].text == "{{B}} and b"


def test_fill_leaves_placeholders_without_a_value() -> None:
    assert fill_prompt(template("{{A}} {{B}}"), {"A": "a"}).messages[0].text == "a {{B}}"


def test_diff_shows_changed_lines_under_the_labels() -> None:
    diff = diff_prompts(template("line one\nline two"), template("line one\nline 2"), "v1", "v2")
    assert diff.startswith("--- v1\n+++ v2\n")
    assert "-line two\n" in diff
    assert "+line 2\n" in diff
    assert " [user]\n" in diff


def test_diff_of_equal_prompts_is_empty() -> None:
    assert diff_prompts(template("x"), template("x")) == ""


def test_diff_shows_a_system_section_when_one_is_added() -> None:
    diff = diff_prompts(template("x"), template("x", system="Be brief."))
    assert "+[system]\n" in diff
    assert "+Be brief.\n" in diff


names = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True)


@given(st.lists(names, min_size=1, max_size=4, unique=True), st.text(max_size=20))
def test_filling_every_variable_leaves_no_variable(names: list[str], value: str) -> None:
    prompt = template(" and ".join("{{" + n + "}}" for n in names), system="{{" + names[0] + "}}")
    assert fill_prompt(prompt, dict.fromkeys(names, value.replace("{", ""))).variables == []
