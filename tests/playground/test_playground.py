"""The web playground, clicked through in a real headless Chromium.

Each test drives the page as a user would (type, click, press Ctrl+Enter) against a
live promptmill server, asserts on what the page shows, and saves a screenshot under
``tests/artifacts/``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.client.live_server import LivePromptmill

pytestmark = pytest.mark.browser


def enter_key(page: Any, key: str) -> None:
    page.goto("/playground")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Save key").click()
    expect(page.locator("#key-status")).to_have_text("Key saved")


def generate(page: Any, task: str) -> None:
    page.get_by_label("Task").fill(task)
    page.get_by_label("Task").press("Control+Enter")
    expect(page.locator("#generate-result")).to_be_visible()


def test_the_page_loads_without_a_key_and_asks_for_one(
    page: Any, live_server: LivePromptmill, screenshot: Any
) -> None:
    response = page.goto("/playground")
    assert response.status == 200
    expect(page).to_have_title("promptmill playground")
    expect(page.locator("#key-status")).to_have_text("No key yet")
    expect(page.get_by_label("API key")).to_be_focused()
    screenshot("empty")


def test_the_key_is_kept_in_local_storage_across_reloads(
    page: Any, live_server: LivePromptmill
) -> None:
    enter_key(page, live_server.api_key)
    page.reload()
    expect(page.locator("#key-status")).to_have_text("Key saved")
    assert page.evaluate("localStorage.getItem('promptmill.apiKey')") == live_server.api_key


def test_generate_shows_the_prompt_with_variables_usage_and_latency(
    page: Any, live_server: LivePromptmill, screenshot: Any
) -> None:
    enter_key(page, live_server.api_key)
    page.get_by_label("Target model").fill("claude-sonnet-4-5")
    generate(page, "a chef for a meal prep planning service")
    prompt = page.locator('#generate-output [data-kind="prompt"] .prompt-text')
    expect(prompt).not_to_be_empty()
    marks = page.locator("#generate-output mark.var")
    for text in marks.all_text_contents():
        assert text.startswith("{{") and text.endswith("}}")
    meta = page.locator('#generate-output [data-role="meta"]')
    expect(meta).to_contain_text("input tokens")
    expect(meta).to_contain_text("latency")
    expect(page.locator("#generate-error")).to_be_hidden()
    screenshot("generate")


def test_improve_rewrites_the_current_prompt_following_feedback(
    page: Any, live_server: LivePromptmill, screenshot: Any
) -> None:
    enter_key(page, live_server.api_key)
    generate(page, "a chef for a meal prep planning service")
    before = len(live_server.fake.requests)
    page.get_by_label("Improve this prompt").fill("Include cooking times")
    page.get_by_role("button", name="Improve", exact=True).click()
    expect(page.locator("#improve-button")).to_be_enabled()
    expect(page.locator('#generate-output [data-kind="prompt"] .prompt-text')).not_to_be_empty()
    expect(page.locator("#generate-error")).to_be_hidden()
    assert len(live_server.fake.requests) > before
    screenshot("improve")


def test_templatize_shows_the_template_and_the_variable_values_table(
    page: Any, live_server: LivePromptmill, screenshot: Any
) -> None:
    enter_key(page, live_server.api_key)
    page.get_by_role("tab", name="Templatize").click()
    page.get_by_label("Prompt", exact=True).fill("Translate hello to German")
    page.get_by_label("System prompt").fill("You are a professional English to German translator")
    page.get_by_label("System prompt").press("Control+Enter")
    expect(page.locator("#templatize-result")).to_be_visible()
    expect(page.locator('#templatize-output [data-kind="system"]')).to_be_visible()
    expect(page.locator('#templatize-output [data-kind="prompt"]')).to_be_visible()
    expect(page.locator("#variable-values")).to_be_visible()
    expect(page.locator("#variable-values th").first).to_have_text("Variable")
    screenshot("templatize")


def test_a_wrong_key_shows_the_authentication_error(
    page: Any, live_server: LivePromptmill, screenshot: Any
) -> None:
    enter_key(page, "sk-pm-wrong")
    page.get_by_label("Task").fill("a chef")
    page.get_by_role("button", name="Generate").click()
    error = page.locator("#generate-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("authentication_error")
    expect(page.locator("#generate-result")).to_be_hidden()
    screenshot("auth-error")


def test_history_lists_previous_calls_and_reopens_one_on_click(
    page: Any, live_server: LivePromptmill, screenshot: Any
) -> None:
    enter_key(page, live_server.api_key)
    page.get_by_role("tab", name="Templatize").click()
    page.get_by_label("Prompt", exact=True).fill("Summarize the Paris weather report")
    page.get_by_role("button", name="Templatize").click()
    expect(page.locator("#templatize-result")).to_be_visible()

    page.get_by_role("tab", name="History").click()
    entry = page.locator(".history-item").filter(has_text="Summarize the Paris weather report")
    expect(entry.first).to_be_visible()
    expect(entry.first.locator(".badge")).to_have_text("templatize")
    screenshot("history")

    page.reload()  # a fresh page: the result can only come from the stored record
    page.get_by_role("tab", name="History").click()
    entry.first.click()
    expect(page.get_by_role("tab", name="Templatize")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(
        "Summarize the Paris weather report"
    )
    expect(page.locator("#templatize-result")).to_be_visible()
    expect(page.locator('#templatize-output [data-role="meta"]')).to_contain_text("input tokens")
    screenshot("history-reopened")


def test_tabs_can_be_switched_with_the_arrow_keys(page: Any, live_server: LivePromptmill) -> None:
    page.goto("/playground")
    page.get_by_role("tab", name="Generate & improve").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Templatize")).to_be_focused()
    expect(page.locator("#panel-templatize")).to_be_visible()
    expect(page.locator("#panel-generate")).to_be_hidden()


def test_playground_assets_are_served_locally_and_unknown_ones_are_404(
    live_server: LivePromptmill,
) -> None:
    css = httpx.get(f"{live_server.url}/playground/playground.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    html = httpx.get(f"{live_server.url}/playground").text
    assert "http://" not in html and "https://" not in html
    assert httpx.get(f"{live_server.url}/playground/secrets.txt").status_code == 404
