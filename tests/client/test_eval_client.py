"""The blocking client's evaluation methods against a real promptmill server.

The server runs its evaluation queue in-process on the fake OpenAI backend, whose
answers repeat the prompt's words: the chef prompt's output names the food of the case
(``contains`` passes), the vague prompt's never does (it fails).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from promptmill import Client, InvalidRequestError, NotFoundError
from promptmill.eval_client import EvalVariant
from promptmill.eval_types import EvalRun, PromptVersion, RunProgress, TestCase
from promptmill.types import PromptMessage, PromptResult
from tests.conftest import RunningServer

CHEF_TEXT = "Suggest one dish made with {{FOOD}}."
VAGUE_TEXT = "Say anything at all."
FOODS = ("eggs", "rice", "lentils", "salmon", "tofu")
_names = (f"prompt{n}" for n in itertools.count())


def food_cases(*foods: str) -> list[TestCase]:
    return [TestCase(vars={"FOOD": food}, expected=food) for food in foods]


@pytest.fixture
def client(eval_server: RunningServer) -> Iterator[Client]:
    with Client(eval_server.base_url, api_key=eval_server.api_key) as client:
        yield client


@pytest.fixture
def name() -> str:
    """A prompt or dataset name no other test of the module uses."""
    return next(_names)


def test_a_prompt_tools_result_is_saved_in_one_step(client: Client, name: str) -> None:
    generated = client.generate_prompt("a chef for a meal prep planning service")
    version = client.save_prompt(name, generated)
    assert isinstance(version, PromptVersion)
    assert (version.name, version.number) == (name, 1)
    assert version.messages == generated.messages
    assert version.system == generated.system


def test_a_text_is_saved_as_one_user_message_with_its_variables(client: Client, name: str) -> None:
    version = client.save_prompt(name, CHEF_TEXT, system="You are a chef.")
    assert version.messages == [PromptMessage.of("user", CHEF_TEXT)]
    assert version.system == "You are a chef."
    assert version.variables == ["FOOD"]


def test_saving_unchanged_content_returns_the_latest_version(client: Client, name: str) -> None:
    first = client.save_prompt(name, CHEF_TEXT)
    again = client.save_prompt(name, CHEF_TEXT)
    assert again.number == first.number == 1
    assert again.content_hash == first.content_hash


def test_a_changed_prompt_is_the_next_version_and_diffs_against_the_one_before(
    client: Client, name: str
) -> None:
    client.save_prompt(name, CHEF_TEXT)
    client.save_prompt(name, "Suggest two dishes made with {{FOOD}}.")
    assert [v.number for v in client.prompt_versions(name)] == [1, 2]
    assert client.prompt_version(name).number == 2
    assert client.prompt_version(name, 1).messages[0].text == CHEF_TEXT
    diff = client.diff_prompt(name)
    assert (diff.from_, diff.to) == (1, 2)
    assert "-Suggest one dish made with {{FOOD}}." in diff.diff
    assert "+Suggest two dishes made with {{FOOD}}." in diff.diff
    assert client.diff_prompt(name, 2, 2).diff == ""


def test_list_prompts_shows_each_name_with_its_latest_version(client: Client, name: str) -> None:
    client.save_prompt(name, CHEF_TEXT)
    client.save_prompt(name, VAGUE_TEXT)
    [listed] = [item for item in client.list_prompts() if item.name == name]
    assert (listed.latest_version, listed.versions) == (2, 2)


def test_an_unknown_prompt_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.prompt_version("no-such-prompt", 1)


def test_a_dataset_is_saved_from_cases_and_read_back(client: Client, name: str) -> None:
    saved = client.save_dataset(name, food_cases("eggs", "rice"))
    assert saved.variables == ["FOOD"]
    assert client.dataset(name).cases == food_cases("eggs", "rice")
    assert any(item.name == name and item.cases == 2 for item in client.list_datasets())


def test_a_dataset_is_saved_from_csv_text_parsed_by_the_server(client: Client, name: str) -> None:
    saved = client.save_dataset(name, content="FOOD,expected\r\nfigs,figs\r\n", format="csv")
    assert saved.cases == food_cases("figs")


def test_generated_cases_fill_every_variable_and_can_be_saved_as_a_dataset(
    client: Client, name: str
) -> None:
    client.save_prompt(name, CHEF_TEXT)
    generated = client.generate_cases(name, 3, save_as=name)
    # The fake's answers repeat each other, so repeats are dropped: at most 3, at least 1.
    assert 1 <= len(generated.cases) <= 3
    assert all(set(case.vars) == {"FOOD"} and case.vars["FOOD"] for case in generated.cases)
    assert generated.usage and generated.dataset == name
    assert client.dataset(name).cases == generated.cases


def test_a_run_of_two_prompts_reports_progress_then_the_comparison(
    client: Client, name: str
) -> None:
    chef = client.save_prompt(name, CHEF_TEXT)
    vague = PromptResult(messages=[PromptMessage.of("user", VAGUE_TEXT)], usage=[])
    seen: list[RunProgress] = []

    created = client.create_run([chef, vague], cases=food_cases(*FOODS), graders=["contains"])
    finished = client.wait_for_run(created, on_progress=seen.append)

    assert (finished.status, finished.total, finished.done) == ("completed", 10, 10)
    assert [v.label for v in finished.variants] == [f"{name}@1", "variant 2"]
    assert finished.variants[0].prompt_ref is not None
    assert [s.pass_rate for s in finished.summary] == [1.0, 0.0]
    [paired] = finished.comparison
    assert (paired.n, paired.wins, paired.losses) == (5, 0, 5)
    assert paired.mcnemar_p == pytest.approx(2 * 0.5**5)
    assert seen and seen[-1].done == 10 and seen[-1].total == 10
    assert [p.done for p in seen] == sorted(p.done for p in seen)


def test_run_results_hold_each_case_and_variant_with_grades(client: Client, name: str) -> None:
    client.save_prompt(name, CHEF_TEXT)
    run = client.wait_for_run(
        client.create_run(
            EvalVariant(prompt=f"{name}@1", label="chef"),
            cases=food_cases("eggs", "rice"),
            graders=[{"type": "contains"}, "regex:dish"],
        )
    )
    results = client.run_results(run)
    assert [(r.case_index, r.variant) for r in results] == [(0, "chef"), (1, "chef")]
    first = results[0]
    assert (first.vars, first.expected) == ({"FOOD": "eggs"}, "eggs")
    assert "eggs" in first.output
    assert [(g.grader, g.passed) for g in first.grades] == [("contains", True), ("regex", True)]
    assert [r.case_index for r in client.run_results(run, offset=1, limit=1)] == [1]


def test_a_run_on_a_saved_dataset_by_name(client: Client, name: str) -> None:
    client.save_dataset(name, food_cases("tofu"))
    run = client.wait_for_run(
        client.create_run({"messages": [{"role": "user", "content": CHEF_TEXT}]}, dataset=name)
    )
    assert (run.status, run.total) == ("completed", 1)


def test_one_prompt_on_two_models_is_two_variants(client: Client) -> None:
    run = client.wait_for_run(
        client.create_run(
            [
                EvalVariant(prompt={"messages": [{"role": "user", "content": CHEF_TEXT}]}),
                EvalVariant(
                    prompt={"messages": [{"role": "user", "content": CHEF_TEXT}]},
                    model="gpt-4o",
                ),
            ],
            cases=food_cases("kale"),
            graders=["contains"],
        )
    )
    assert [v.model for v in run.variants] == [None, "gpt-4o"]
    assert [s.pass_rate for s in run.summary] == [1.0, 1.0]


def test_runs_are_listed_newest_first(client: Client) -> None:
    run = client.create_run(
        {"messages": [{"role": "user", "content": CHEF_TEXT}]}, cases=food_cases("figs")
    )
    client.wait_for_run(run)
    assert client.list_runs(limit=1)[0].id == run.id
    assert client.run(run.id).status == "completed"


def test_a_grader_shorthand_of_an_unknown_kind_is_refused_before_sending(
    client: Client, eval_server: RunningServer
) -> None:
    before = len(client.list_runs(limit=100))
    with pytest.raises(InvalidRequestError, match=r"^graders\.1: unknown grader 'sounds-good'"):
        client.create_run("anything", cases=food_cases("rice"), graders=["exact", "sounds-good"])
    assert len(client.list_runs(limit=100)) == before


def test_an_invalid_regular_expression_is_a_400_naming_the_field(client: Client) -> None:
    with pytest.raises(InvalidRequestError, match=r"^graders\.0\.pattern: invalid regular"):
        client.create_run(
            {"messages": [{"role": "user", "content": CHEF_TEXT}]},
            cases=food_cases("rice"),
            graders=["regex:(unclosed"],
        )


def test_a_case_missing_a_variable_is_a_400_naming_the_case(client: Client) -> None:
    with pytest.raises(InvalidRequestError, match=r"^cases\.0\.vars: missing variable FOOD"):
        client.create_run(
            {"messages": [{"role": "user", "content": CHEF_TEXT}]},
            cases=[TestCase(vars={"DRINK": "tea"})],
        )


def test_an_unknown_run_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.run("no-such-run")
    with pytest.raises(NotFoundError):
        client.wait_for_run("no-such-run")


def test_a_cancelled_run_starts_no_case_and_waiting_returns_it(
    idle_eval_server: RunningServer,
) -> None:
    with Client(idle_eval_server.base_url, api_key=idle_eval_server.api_key) as client:
        run = client.create_run(
            {"messages": [{"role": "user", "content": CHEF_TEXT}]}, cases=food_cases(*FOODS)
        )
        assert run.status == "queued"
        cancelled = client.cancel_run(run)
        waited = client.wait_for_run(run.id)
    assert isinstance(cancelled, EvalRun)
    assert (cancelled.status, cancelled.done) == ("cancelled", 0)
    assert waited.status == "cancelled" and waited.finished
