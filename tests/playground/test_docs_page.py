"""``/docs`` in a real headless Chromium: Swagger UI renders from this server alone.

The page's Content-Security-Policy allows scripts from its own origin only, so the
test fails if Swagger UI needed a CDN, an inline script or ``eval``.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from promptmill.protocol import GENERATE_PATH, HISTORY_PATH
from tests.client.live_server import LivePromptmill

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_every_operation_without_leaving_the_origin(
    page: Any, live_server: LivePromptmill
) -> None:
    requested: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "console",
        lambda message: console_errors.append(message.text) if message.type == "error" else None,
    )
    page.goto("/docs")
    expect(page.locator(".opblock-summary-path", has_text=GENERATE_PATH)).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text=HISTORY_PATH).first).to_be_visible()
    expect(page.locator(".btn.authorize")).to_be_visible()  # the security schemes
    assert requested and all(url.startswith(live_server.url) for url in requested), requested
    assert not console_errors, console_errors
