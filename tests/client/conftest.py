"""Fixtures: the live promptmill server (shared by the module) and a scripted server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.live_server import LivePromptmill
from tests.client.scripted_server import ScriptedAPIServer


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
