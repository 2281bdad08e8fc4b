"""Optimize in the playground's Evaluate tab, clicked through in headless Chromium.

The server is the production app on the fake OpenAI, which answers a plain chat with
"Here is a response about <the prompt's words>": with a ``contains`` grader a prompt
that shows examples contains the other cases' expected words too, so a few-shot
candidate wins, as in ``tests/api/test_optimize_api.py``. Each assertion is on what the
page shows, or on what the server stored.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import RunningServer
from tests.eval.conftest import API, client
from tests.playground.conftest import ARTIFACTS
from tests.playground.test_evaluate import import_csv, open_evaluate, pick, save_prompt

pytestmark = pytest.mark.browser

FRUIT_PROMPT = {
    "messages": [{"role": "user", "content": "Which colour is this fruit?\n\n{{FRUIT}}"}]
}
FRUITS_CSV = (
    "FRUIT,expected\nbanana,yellow\ncherry,red\nlime,green\nplum,purple\n"
    "lemon,yellow\nstrawberry,red\nkiwi,green\ngrape,purple\n"
)
# Collects every text the progress line shows, so a test can tell it streamed.
WATCH_PROGRESS = """() => {
  window.progressSeen = [];
  const line = document.getElementById("optimize-progress-text");
  new MutationObserver(() => window.progressSeen.push(line.textContent))
    .observe(line, {childList: true, characterData: true, subtree: true});
}"""


def optimize_and_wait(page: Any) -> None:
    page.get_by_role("button", name="Optimize", exact=True).click()
    expect(page.locator("#optimize-results")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Optimize", exact=True)).to_be_enabled()


def set_up_fruit(page: Any, server: RunningServer, name: str) -> None:
    save_prompt(server, name, FRUIT_PROMPT)
    open_evaluate(page)
    pick(page, "A", name)
    import_csv(page, FRUITS_CSV, filename="fruits.csv")
    expect(page.locator("#cases-count")).to_have_text("8 cases")


def test_optimize_streams_progress_shows_scores_and_candidates_and_saves_a_new_version(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    set_up_fruit(page, eval_server, "fruit")
    page.get_by_label("Budget").fill("60")
    page.evaluate(WATCH_PROGRESS)
    optimize_and_wait(page)

    seen = page.evaluate("window.progressSeen")
    assert any(re.match(r"\d+ of 60 calls · evaluate", text) for text in seen), seen
    assert len(seen) > 3  # one line per progress event, not only the last
    expect(page.locator("#optimize-progress-text")).to_have_text(
        re.compile(r"^\d+ of 60 calls · done: ")
    )
    expect(page.locator("#optimize-badge")).to_have_text("improved")
    scores = page.locator("#optimize-scores tbody tr")
    expect(scores).to_have_count(2)
    # Against the fake that repeats its prompt, a few-shot candidate or the one naming the
    # answers' form wins (both put the expected outputs in the prompt); never the original.
    expect(scores.first.locator("th")).to_have_text(
        re.compile(r"^Best: (few-shot|original, answer form named)")
    )
    expect(scores.nth(1).locator("th")).to_have_text("Original")
    expect(page.locator("#optimize-scores caption")).to_have_text(
        "Scores on 6 training and 2 held-out cases"
    )
    candidates = page.locator("#optimize-candidates tbody tr")
    expect(candidates.first.locator("th")).to_have_text("original")
    assert candidates.count() > 2
    expect(page.locator("#optimize-candidates tr.chosen")).to_have_count(1)
    expect(page.locator("#optimize-candidates tr.chosen .badge")).to_have_text("best")
    best = page.locator("#optimize-output .prompt-text").first
    expect(best).to_contain_text("{{FRUIT}}")
    expect(best).to_contain_text("yellow")  # an example from the training cases

    # One click: the name is prompt A's, so the best prompt becomes its next version.
    expect(page.get_by_label("Save the best prompt as")).to_have_value("fruit")
    page.get_by_role("button", name="Save as new version").click()
    expect(page.locator("#optimize-save-status")).to_have_text("Saved as fruit, version 2")
    with client(eval_server) as http:
        versions = http.get(f"{API}/prompts/fruit/versions").json()["data"]
    assert len(versions) == 2
    saved = versions[1]["messages"][0]["content"][0]["text"]
    assert saved == best.inner_text()
    expect(page.locator("#eval-version-a option").first).to_have_text("v2 (latest)")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "optimize.png"), full_page=True)


def test_optimize_starts_from_a_description_with_ctrl_enter(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    open_evaluate(page)
    import_csv(page, FRUITS_CSV, filename="fruits.csv")
    page.get_by_label("A description").check()
    description = page.get_by_label("What the prompt should do")
    description.fill("Name the colour of the fruit")
    page.get_by_label("Budget").fill("80")
    description.press("Control+Enter")
    expect(page.locator("#optimize-results")).to_be_visible(timeout=60_000)
    first = page.locator("#optimize-candidates tbody tr").first.locator("th")
    expect(first).to_have_text(re.compile("^original"))  # the prompt written for it
    expect(page.locator("#optimize-output .prompt-text").first).to_contain_text("{{FRUIT}}")
    expect(page.get_by_label("Save the best prompt as")).to_have_value("")


def test_save_offers_the_name_of_the_prompt_each_run_optimized(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "fruit-two", FRUIT_PROMPT)
    set_up_fruit(page, eval_server, "fruit-one")
    page.get_by_label("Budget").fill("20")
    optimize_and_wait(page)
    expect(page.get_by_label("Save the best prompt as")).to_have_value("fruit-one")
    pick(page, "A", "fruit-two")
    optimize_and_wait(page)
    expect(page.get_by_label("Save the best prompt as")).to_have_value("fruit-two")


def test_a_budget_too_small_gets_the_servers_400_and_no_result(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    set_up_fruit(page, eval_server, "fruit-small")
    page.get_by_label("Budget").fill("3")
    page.get_by_role("button", name="Optimize", exact=True).click()
    expect(page.locator("#optimize-error")).to_contain_text(
        re.compile(r"budget: 3 calls cannot evaluate the original prompt")
    )
    expect(page.locator("#optimize-results")).to_be_hidden()
    expect(page.get_by_role("button", name="Optimize", exact=True)).to_be_enabled()


def test_optimize_without_cases_gets_the_servers_400_naming_the_field(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "fruit-no-cases", FRUIT_PROMPT)
    open_evaluate(page)
    pick(page, "A", "fruit-no-cases")
    page.get_by_role("button", name="Optimize", exact=True).click()
    expect(page.locator("#optimize-error")).to_contain_text("cases: List should have at least 1")
    expect(page.locator("#optimize-results")).to_be_hidden()


def test_the_tab_bar_and_the_optimize_results_fit_a_narrow_screen(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    page.set_viewport_size({"width": 390, "height": 844})
    tabs = page.get_by_role("tablist")
    assert tabs.evaluate("bar => bar.scrollWidth <= bar.clientWidth")
    for name in ("Generate & improve", "Templatize", "Evaluate", "History"):
        box = page.get_by_role("tab", name=name).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    set_up_fruit(page, eval_server, "fruit-narrow")
    page.get_by_label("Budget").fill("40")
    optimize_and_wait(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "optimize-narrow.png"), full_page=True)
