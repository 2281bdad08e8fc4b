"""The asyncio client's evaluation methods behave like the blocking client's."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from promptmill import AsyncClient, InvalidRequestError, NotFoundError
from promptmill.eval_types import EvalRun, RunProgress, RunResult, TestCase
from tests.conftest import RunningServer

CHEF_TEXT = "Suggest one dish made with {{FOOD}}."
_names = (f"async{n}" for n in itertools.count())


def _client(server: RunningServer) -> AsyncClient:
    return AsyncClient(server.base_url, api_key=server.api_key)


def test_async_prompt_versions_and_diff(eval_server: RunningServer) -> None:
    name = next(_names)

    async def scenario() -> tuple[list[int], str]:
        async with _client(eval_server) as client:
            await client.save_prompt(name, CHEF_TEXT)
            await client.save_prompt(name, "Suggest two dishes made with {{FOOD}}.")
            versions = await client.prompt_versions(name)
            latest = await client.prompt_version(name)
            assert latest.number == 2
            diff = await client.diff_prompt(name, 1, 2)
            return [v.number for v in versions], diff.diff

    numbers, diff = asyncio.run(scenario())
    assert numbers == [1, 2]
    assert "+Suggest two dishes made with {{FOOD}}." in diff


def test_async_run_on_generated_cases_streams_progress_and_returns_results(
    eval_server: RunningServer,
) -> None:
    name = next(_names)
    seen: list[RunProgress] = []

    async def scenario() -> tuple[EvalRun, list[RunResult]]:
        async with _client(eval_server) as client:
            await client.save_prompt(name, CHEF_TEXT)
            generated = await client.generate_cases(name, 2, save_as=name)
            assert (await client.dataset(name)).cases == generated.cases
            run = await client.create_run(name, dataset=name, graders=["regex:dish"])
            finished = await client.wait_for_run(run, on_progress=seen.append)
            return finished, await client.run_results(finished)

    run, results = asyncio.run(scenario())
    assert run.status == "completed" and run.done == run.total == len(results)
    assert run.summary[0].pass_rate == 1.0
    assert seen[-1].done == run.total
    assert all(r.grades[0].grader == "regex" for r in results)


def test_async_cancel_and_list(idle_eval_server: RunningServer) -> None:
    async def scenario() -> tuple[EvalRun, list[str]]:
        async with _client(idle_eval_server) as client:
            run = await client.create_run(
                {"messages": [{"role": "user", "content": CHEF_TEXT}]},
                cases=[TestCase(vars={"FOOD": "rice"})],
            )
            cancelled = await client.cancel_run(run.id)
            assert (await client.wait_for_run(run)).status == "cancelled"
            return cancelled, [r.id for r in await client.list_runs()]

    cancelled, listed = asyncio.run(scenario())
    assert cancelled.status == "cancelled"
    assert cancelled.id in listed


def test_async_errors_are_the_same_classes(eval_server: RunningServer) -> None:
    async def unknown_run() -> None:
        async with _client(eval_server) as client:
            await client.run("no-such-run")

    async def bad_grader() -> None:
        async with _client(eval_server) as client:
            await client.create_run("chef", cases=[], graders=["regex"])

    with pytest.raises(NotFoundError):
        asyncio.run(unknown_run())
    with pytest.raises(InvalidRequestError, match=r"^graders\.0: regex: a value is needed"):
        asyncio.run(bad_grader())
