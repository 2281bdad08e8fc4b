"""Fixtures: live promptmill servers and a headless Debian Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client.live_server import LivePromptmill
from tests.conftest import RunningServer, running_promptmill

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePromptmill]:
    with LivePromptmill(Path(tmp_path_factory.mktemp("playground"))) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, live_server: LivePromptmill) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1180, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page: Any) -> Any:
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"playground-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="module")
def eval_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with its lifespan on, so evaluation runs have their queue and workers."""
    with running_promptmill(Path(tmp_path_factory.mktemp("evaluate"))) as server:
        yield server


@pytest.fixture
def eval_page(browser: Any, eval_server: RunningServer) -> Iterator[Any]:
    """A page on ``eval_server`` with the key saved; a script error fails the test."""
    context = browser.new_context(
        base_url=eval_server.base_url,
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/playground")
    page.evaluate("key => localStorage.setItem('promptmill.apiKey', key)", eval_server.api_key)
    page.reload()
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"
