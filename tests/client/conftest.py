"""Fixtures: the live promptmill servers (shared by the module) and a scripted server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.live_server import LivePromptmill
from tests.client.scripted_server import ScriptedAPIServer
from tests.conftest import RunningServer, running_promptmill


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePromptmill]:
    with LivePromptmill(Path(tmp_path_factory.mktemp("promptmill"))) as server:
        yield server


@pytest.fixture
def scripted() -> Iterator[ScriptedAPIServer]:
    with ScriptedAPIServer() as server:
        yield server


@pytest.fixture
def recorded_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's waits between retries, recorded instead of slept."""
    sleeps: list[float] = []

    async def async_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr("promptmill.client._sleep", sleeps.append)
    monkeypatch.setattr("promptmill.client._async_sleep", async_sleep)
    return sleeps


@pytest.fixture(scope="module")
def eval_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A promptmill server with its evaluation queue running (workers in-process)."""
    with running_promptmill(Path(tmp_path_factory.mktemp("evaluation"))) as server:
        yield server


@pytest.fixture(scope="module")
def idle_eval_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that queues runs but evaluates none (no workers): runs stay queued."""
    with running_promptmill(Path(tmp_path_factory.mktemp("idle")), eval_workers=0) as server:
        yield server
