"""The playground's Evaluate tab and its one-step Save, clicked through in headless Chromium.

The server is the production app with its lifespan (so runs have their queue and worker
threads) on a fake OpenAI; the page is driven as a user would drive it, and each
assertion is on what the page shows. Prompt and dataset names differ per test because
the server (and its store) is shared by the module.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import RunningServer, running_promptmill
from tests.eval.conftest import API, CHEF, VAGUE, client, food_cases
from tests.playground.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

OK_COLOUR = "rgb(18, 122, 59)"  # --ok in the light theme
DANGER_COLOUR = "rgb(180, 35, 24)"  # --danger in the light theme


def save_prompt(server: RunningServer, name: str, *bodies: dict[str, Any]) -> None:
    """Save each body as the next version of ``name`` through the HTTP API."""
    with client(server) as http:
        for body in bodies:
            assert http.post(f"{API}/prompts", json={"name": name, **body}).is_success


def open_evaluate(page: Any) -> None:
    page.get_by_role("tab", name="Evaluate").click()
    expect(page.locator("#panel-evaluate")).to_be_visible()


def pick(page: Any, side: str, name: str, version: int | None = None) -> None:
    """Choose prompt ``name`` (and a version) for variant ``side`` ("A" or "B")."""
    prompt = page.get_by_label(f"Prompt {side}", exact=True)
    expect(prompt.locator(f'option[value="name:{name}"]')).to_be_attached()
    prompt.select_option(f"name:{name}")
    versions = page.get_by_label(f"Version of {side}")
    expect(versions.locator("option").first).to_have_text(re.compile(r"^v\d"))
    if version is not None:
        versions.select_option(str(version))


def import_csv(page: Any, text: str, filename: str = "foods.csv") -> None:
    page.get_by_label("Import CSV").set_input_files(
        files=[{"name": filename, "mimeType": "text/csv", "buffer": text.encode()}]
    )


def cell(page: Any, case: int, column: str) -> Any:
    return page.get_by_label(f"Case {case} {column}", exact=True)


def run_and_wait(page: Any) -> None:
    page.get_by_role("button", name="Run evaluation").click()
    expect(page.locator("#run-status")).to_have_text(re.compile("completed|cancelled|failed"))
    expect(page.get_by_role("button", name="Run evaluation")).to_be_enabled()


def test_the_whole_flow_save_grid_csv_generate_compare_and_diff(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    # Save a generated prompt in one step from the Generate tab.
    page.get_by_label("Task").fill("a chef who suggests one dish for a given food")
    page.get_by_label("Task").press("Control+Enter")
    page.get_by_label("Save as prompt").first.fill("flow-generated")
    page.get_by_role("button", name="Save prompt").first.click()
    expect(page.locator("#generate-save-status")).to_have_text("Saved as flow-generated, version 1")
    save_prompt(eval_server, "flow-chef", VAGUE, CHEF)  # v1 vague, v2 names the food

    open_evaluate(page)
    expect(page.locator("#eval-prompt-a")).to_contain_text("flow-generated")
    pick(page, "A", "flow-chef")
    expect(page.locator("#eval-version-a")).to_have_value("2")
    pick(page, "B", "flow-chef")
    expect(page.locator("#eval-version-b")).to_have_value("1")  # the other version by default
    expect(page.locator("#cases-grid thead")).to_contain_text("{{FOOD}}")

    import_csv(page, 'FOOD,expected\neggs,eggs\nrice,rice\n"lentils, red",lentils\n')
    expect(page.locator("#cases-status")).to_have_text("Imported 3 cases from foods.csv")
    expect(cell(page, 3, "FOOD")).to_have_value("lentils, red")
    page.get_by_role("button", name="Add case").click()
    expect(cell(page, 4, "FOOD")).to_be_focused()
    page.keyboard.type("kale")
    cell(page, 4, "expected").fill("kale")
    page.get_by_label("Cases to generate").fill("2")
    page.get_by_role("button", name="Generate cases").click()
    expect(page.locator("#cases-status")).to_have_text(re.compile(r"^Generated [12] cases?$"))
    generated = int(page.locator("#cases-status").inner_text().split()[1])
    expect(page.locator("#cases-grid tbody tr")).to_have_count(4 + generated)
    expect(cell(page, 5, "FOOD")).not_to_have_value("")

    page.get_by_label("Regular expression").check()
    page.get_by_role("group", name="Regular expression").get_by_label("Pattern").fill("response")
    run_and_wait(page)

    expect(page.locator("#run-status")).to_have_text("completed")
    total = 2 * (4 + generated)
    progress = page.locator("#run-progress-text")
    expect(progress).to_have_text(f"{total} of {total} results · completed")
    assert page.locator("#run-progress-bar").evaluate("bar => bar.value === bar.max")
    summary = page.locator("#summary-table tbody tr")
    expect(summary).to_have_count(2)
    expect(summary.first).to_contain_text("flow-chef@2")
    expect(summary.first.locator("td").first).to_have_text("100%")
    rows = page.locator("#results-table tbody tr")
    expect(rows).to_have_count(4 + generated)
    first = rows.first
    expect(first.locator("td.result-cell").nth(0)).to_have_attribute("data-verdict", "pass")
    expect(first.locator("td.result-cell").nth(1)).to_have_attribute("data-verdict", "fail")
    passed = first.locator("td.result-cell").nth(0).locator(".grade.pass", has_text="contains")
    failed = first.locator("td.result-cell").nth(1).locator(".grade.fail", has_text="contains")
    expect(passed).to_have_css("color", OK_COLOUR)
    expect(failed).to_have_css("color", DANGER_COLOUR)
    expect(failed).to_have_attribute("title", re.compile("eggs"))  # the reason on hover
    # A generated case has no expected output: its contains grade is neither pass nor fail.
    ungraded = rows.nth(4).locator(".grade.none", has_text="contains").first
    expect(ungraded).to_be_visible()
    reading = page.locator('#comparison [data-test="mcnemar"]')
    expect(reading).to_have_text(re.compile(r"difference could be noise \(p=0\.1\d\)"))

    page.get_by_text("Version history and diff").click()
    expect(page.locator("#versions-list li")).to_have_count(2)
    page.get_by_role("button", name="Show diff").click()
    expect(page.locator("#diff-view .line.add").first).to_be_visible()
    expect(page.locator("#diff-view .line.add", has_text="{{FOOD}}")).to_have_count(1)
    expect(page.locator("#diff-view .line.del", has_text="Say anything")).to_have_count(1)
    expect(page.locator("#diff-view .line.add").first).to_have_css("color", OK_COLOUR)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "evaluate-tab.png"), full_page=True)


def test_saving_a_generated_prompt_again_unchanged_keeps_its_version(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    page.get_by_label("Task").fill("a translator")
    page.get_by_role("button", name="Generate").click()
    page.get_by_label("Save as prompt").first.fill("twice")
    page.get_by_role("button", name="Save prompt").first.click()
    expect(page.locator("#generate-save-status")).to_have_text("Saved as twice, version 1")
    page.get_by_role("button", name="Save prompt").first.click()
    status = page.locator("#generate-save-status")
    expect(status).to_have_text("Unchanged: already twice, version 1")
    with client(eval_server) as http:
        assert len(http.get(f"{API}/prompts/twice/versions").json()["data"]) == 1


def test_a_templatized_prompt_is_saved_from_its_panel(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    page.get_by_role("tab", name="Templatize").click()
    page.get_by_label("Prompt", exact=True).fill("Translate hello to German")
    page.get_by_role("button", name="Templatize").click()
    form = page.locator("#templatize-save-form")
    form.get_by_label("Save as prompt").fill("translator")
    form.get_by_role("button", name="Save prompt").click()
    expect(page.locator("#templatize-save-status")).to_have_text("Saved as translator, version 1")


def test_a_prompt_name_that_cannot_be_a_url_path_is_refused_before_sending(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    page.get_by_label("Task").fill("a chef")
    page.get_by_role("button", name="Generate").click()
    name = page.get_by_label("Save as prompt").first
    name.fill("my chef")
    page.get_by_role("button", name="Save prompt").first.click()
    assert name.evaluate("input => input.validity.patternMismatch")
    expect(page.locator("#generate-save-status")).to_have_text("")
    with client(eval_server) as http:
        assert "my chef" not in {p["name"] for p in http.get(f"{API}/prompts").json()["data"]}


def test_the_prompt_in_the_editor_is_evaluated_without_saving_it(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    page.get_by_label("Task").fill("a chef who suggests one dish for a given food")
    page.get_by_role("button", name="Generate").click()
    page.get_by_role("button", name="Evaluate this prompt").first.click()
    expect(page.locator("#eval-prompt-a")).to_have_value("@editor")
    expect(page.locator("#eval-version-a")).to_be_disabled()
    headers = page.locator("#cases-grid thead mark.var")
    expect(headers.first).to_be_visible()
    page.get_by_role("button", name="Generate cases").click()
    expect(page.locator("#cases-status")).to_have_text(re.compile("^Generated"))
    run_and_wait(page)
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(page.locator("#summary-table tbody th").first).to_have_text("editor")


def test_an_older_version_picked_for_a_stays_picked_and_the_diff_follows_the_pair(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    pastry = {**CHEF, "system": "You are a pastry chef."}
    save_prompt(eval_server, "pair-chef", VAGUE, CHEF, pastry)
    open_evaluate(page)
    pick(page, "A", "pair-chef", 1)
    pick(page, "B", "pair-chef")
    expect(page.locator("#eval-version-a")).to_have_value("1")
    expect(page.locator("#eval-version-b")).to_have_value("3")
    page.get_by_text("Version history and diff").click()
    expect(page.get_by_label("From version")).to_have_value("1")
    expect(page.get_by_label("To version")).to_have_value("3")
    page.get_by_role("button", name="Show diff").click()
    expect(page.locator("#diff-view .line.add", has_text="pastry")).to_have_count(1)


def test_one_prompt_is_compared_on_two_models(eval_page: Any, eval_server: RunningServer) -> None:
    page = eval_page
    save_prompt(eval_server, "model-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "model-chef")
    pick(page, "B", "model-chef", 1)
    page.get_by_label("Model for B").fill("gpt-4o")
    cell(page, 1, "FOOD").fill("eggs")
    before = len(eval_server.fake.requests)
    run_and_wait(page)
    expect(page.locator("#summary-table tbody th")).to_have_text(
        ["model-chef@1", "model-chef@1 (gpt-4o)"]
    )
    models = sorted(r["model"] for r in eval_server.fake.requests[before:])
    assert models == ["gpt-4o", "gpt-4o-mini"]


def test_rows_are_added_edited_and_deleted(eval_page: Any, eval_server: RunningServer) -> None:
    page = eval_page
    save_prompt(eval_server, "grid-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "grid-chef")
    cell(page, 1, "FOOD").fill("eggs")
    page.get_by_role("button", name="Add case").click()
    cell(page, 2, "FOOD").fill("rice")
    cell(page, 2, "notes").fill("a cheap dish")
    page.get_by_role("button", name="Delete case 1").click()
    expect(page.locator("#cases-grid tbody tr")).to_have_count(1)
    expect(cell(page, 1, "FOOD")).to_have_value("rice")
    expect(cell(page, 1, "notes")).to_have_value("a cheap dish")
    expect(page.locator("#cases-count")).to_have_text("1 case")


def test_export_csv_downloads_the_grid_as_the_server_reads_it(
    eval_page: Any, eval_server: RunningServer, tmp_path: Path
) -> None:
    page = eval_page
    save_prompt(eval_server, "export-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "export-chef")
    import_csv(page, 'FOOD,expected,notes\n"say ""hi""",hi,\nrice,rice,cheap\n')
    page.get_by_label("Dataset name").fill("exported")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename == "exported.csv"
    text = Path(download.value.path()).read_bytes().decode()
    assert text == 'FOOD,expected,notes\r\n"say ""hi""",hi,\r\nrice,rice,cheap\r\n'
    with client(eval_server) as http:  # the server's reader takes the file as it is
        saved = http.put(f"{API}/datasets/roundtrip", json={"format": "csv", "content": text})
    first = saved.json()["cases"][0]
    assert first == {"vars": {"FOOD": 'say "hi"'}, "expected": "hi", "notes": None}


def test_a_malformed_csv_is_reported_with_the_file_and_row(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    open_evaluate(page)
    import_csv(page, "FOOD,expected\neggs\n", filename="broken.csv")
    error = page.locator("#eval-error")
    expect(error).to_contain_text("broken.csv: row 1 has 1 fields, the header has 2")


def test_a_failed_case_generation_shows_the_error_and_leaves_the_grid_alone(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "gen-fail-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "gen-fail-chef")
    cell(page, 1, "FOOD").fill("eggs")
    page.get_by_label("Model for A").fill("no-such-model")
    eval_server.fake.enqueue_error(404, message="The model no-such-model does not exist")
    page.get_by_role("button", name="Generate cases").click()
    expect(page.locator("#eval-error")).to_contain_text("no-such-model")
    expect(page.locator("#cases-status")).to_have_text("")
    expect(page.locator("#cases-grid tbody tr")).to_have_count(1)
    expect(cell(page, 1, "FOOD")).to_have_value("eggs")


def test_a_case_that_leaves_a_variable_empty_gets_the_servers_400(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "empty-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "empty-chef")
    cell(page, 1, "expected").fill("eggs")
    page.get_by_role("button", name="Run evaluation").click()
    expect(page.locator("#eval-error")).to_contain_text(
        "cases.0.vars: missing variable FOOD (case 1 does not fill every variable"
    )
    expect(page.locator("#eval-results")).to_be_hidden()


def test_an_invalid_regular_expression_gets_the_servers_400_naming_the_grader(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "regex-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "regex-chef")
    cell(page, 1, "FOOD").fill("eggs")
    page.get_by_label("Regular expression").check()
    page.get_by_role("group", name="Regular expression").get_by_label("Pattern").fill("(")
    page.get_by_role("button", name="Run evaluation").click()
    expect(page.locator("#eval-error")).to_contain_text(
        "graders.1.pattern: invalid regular expression"
    )


def test_a_failing_model_call_shows_its_error_in_its_cell_and_the_run_goes_on(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "failing-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "failing-chef")
    import_csv(page, "FOOD,expected\neggs,eggs\nrice,rice\n")
    eval_server.fake.enqueue_error(400, message="this request is refused")
    run_and_wait(page)
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(page.locator("#results-table .cell-error")).to_have_count(1)
    expect(page.locator("#results-table .cell-error")).to_contain_text("this request is refused")
    expect(page.locator("#results-table .result-cell.pass")).to_have_count(1)
    expect(page.locator("#summary-table tbody td").last).to_have_text("1 of 2")


def test_each_result_shows_the_filled_prompt_it_was_answered_from(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "sent-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "sent-chef")
    cell(page, 1, "FOOD").fill("figs")
    run_and_wait(page)
    sent = page.locator("#results-table .cell-input").first
    sent.get_by_text("Prompt sent").click()
    expect(sent.locator("pre")).to_have_text(
        "[system]\nYou are a chef.\n\n[user]\nSuggest one dish made with figs."
    )


def test_the_grid_is_saved_as_a_dataset_and_loaded_back(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "dataset-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "dataset-chef")
    import_csv(page, "FOOD,expected\neggs,eggs\nfigs,figs\n")
    page.get_by_label("Dataset name").fill("two-foods")
    page.get_by_role("button", name="Save as dataset").click()
    expect(page.locator("#cases-status")).to_have_text("Saved dataset two-foods (2 cases)")
    with client(eval_server) as http:
        saved = http.get(f"{API}/datasets/two-foods").json()["cases"]
    assert saved == [{**case, "notes": None} for case in food_cases("eggs", "figs")]

    page.reload()
    open_evaluate(page)
    page.get_by_label("Load dataset").select_option("two-foods")
    expect(cell(page, 2, "FOOD")).to_have_value("figs")
    expect(cell(page, 2, "expected")).to_have_value("figs")


def test_a_clear_difference_on_ten_cases_reads_as_unlikely_noise(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "clear-chef", VAGUE, CHEF)
    foods = ("eggs", "rice", "beans", "kale", "figs", "tofu", "leeks", "pasta", "salmon", "oats")
    with client(eval_server) as http:
        http.put(f"{API}/datasets/ten-foods", json={"cases": food_cases(*foods)})
    open_evaluate(page)
    pick(page, "A", "clear-chef", 2)
    pick(page, "B", "clear-chef", 1)
    page.get_by_label("Load dataset").select_option("ten-foods")
    expect(page.locator("#cases-count")).to_have_text("10 cases")
    run_and_wait(page)
    reading = page.locator('#comparison [data-test="mcnemar"]')
    expect(reading).to_have_text(
        "Pass/fail (McNemar): the difference is unlikely to be noise (p=0.002)."
    )
    expect(page.locator("#comparison .paired")).to_contain_text("0 wins and 10 losses")
    expect(page.locator("#results-table .result-cell.fail")).to_have_count(10)


def test_cancel_stops_a_running_run_and_keeps_its_results(browser: Any, tmp_path: Path) -> None:
    # Its own server: the slow replies it queues must not reach another test's run.
    with running_promptmill(tmp_path) as server:
        context = browser.new_context(base_url=server.base_url)
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto("/playground")
        page.evaluate("key => localStorage.setItem('promptmill.apiKey', key)", server.api_key)
        save_prompt(server, "slow-chef", CHEF)
        open_evaluate(page)
        pick(page, "A", "slow-chef")
        import_csv(page, "FOOD\n" + "\n".join(f"food{i}" for i in range(12)) + "\n")
        for _ in range(12):
            server.fake.enqueue_delay(1.0)
        page.get_by_role("button", name="Run evaluation").click()
        cancel = page.get_by_role("button", name="Cancel run")
        expect(cancel).to_be_visible()
        cancel.click()
        expect(page.locator("#run-status")).to_have_text("cancelled")
        expect(cancel).to_be_hidden()
        done = int(page.locator("#run-progress-text").inner_text().split()[0])
        assert done < 12
        expect(page.locator("#results-table tbody tr")).to_have_count(12)
        expect(page.locator("#results-table .result-cell.missing")).to_have_count(12 - done)
        context.close()


def test_a_finished_run_is_reopened_after_a_reload(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "reopen-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "reopen-chef")
    import_csv(page, "FOOD,expected\neggs,eggs\nrice,rice\n")
    run_and_wait(page)
    page.reload()
    open_evaluate(page)
    runs = page.get_by_label("Reopen a run")
    option = runs.locator("option", has_text="reopen-chef@1 · 2 results · completed")
    expect(option).to_have_count(1)
    runs.select_option(option.get_attribute("value"))
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(page.locator("#results-table tbody tr")).to_have_count(2)
    expect(page.locator("#results-table .result-cell.pass")).to_have_count(2)
    expect(page.locator("#summary-table tbody th")).to_have_text(["reopen-chef@1"])


def test_the_evaluate_tab_works_from_the_keyboard(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "keys-chef", CHEF)
    page.get_by_role("tab", name="Templatize").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Evaluate")).to_be_focused()
    expect(page.locator("#panel-evaluate")).to_be_visible()
    pick(page, "A", "keys-chef")
    cell(page, 1, "FOOD").focus()
    page.keyboard.type("eggs")
    page.keyboard.press("Tab")
    expect(cell(page, 1, "expected")).to_be_focused()
    page.keyboard.type("eggs")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(page.locator("#results-table .result-cell.pass")).to_have_count(1)


def test_the_evaluate_tab_fits_a_narrow_screen(eval_page: Any, eval_server: RunningServer) -> None:
    page = eval_page
    page.set_viewport_size({"width": 390, "height": 844})
    save_prompt(eval_server, "narrow-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "narrow-chef")
    import_csv(page, "FOOD,expected\neggs,eggs\n")
    run_and_wait(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "evaluate-tab-narrow.png"), full_page=True)


def test_a_runs_model_calls_show_in_the_history_and_reopen_the_run(
    eval_page: Any, eval_server: RunningServer
) -> None:
    page = eval_page
    save_prompt(eval_server, "history-chef", CHEF)
    open_evaluate(page)
    pick(page, "A", "history-chef")
    import_csv(page, "FOOD,expected\neggs,eggs\nrice,rice\n")
    run_and_wait(page)
    page.get_by_role("tab", name="History").click()
    item = page.locator(".history-item", has=page.locator(".badge", has_text="eval run")).first
    expect(item.locator(".summary")).to_have_text(re.compile(r"^evaluation run \S+, part 1$"))
    expect(item.locator(".details")).to_contain_text("tokens")
    page.locator("#results-table").evaluate("table => table.replaceChildren()")
    item.click()
    expect(page.locator("#panel-evaluate")).to_be_visible()
    expect(page.locator("#results-table tbody tr")).to_have_count(2)
    expect(page.locator("#summary-table tbody th")).to_have_text(["history-chef@1"])
