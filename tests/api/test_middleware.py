"""The last-resort error boundary of the real app, over real HTTP."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from fastapi import Request

from promptmill.api import create_app
from promptmill.config import Settings
from tests.conftest import serve_in_thread
from tests.fakes.openai_server import FakeOpenAIServer


async def _broken(request: Request) -> None:
    raise RuntimeError("secret internal detail")


def test_unexpected_exception_is_a_500_api_error_without_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeOpenAIServer() as fake:
        settings = Settings(
            backend="openai", openai_base_url=fake.base_url, openai_api_key="t", home=tmp_path
        )
        app = create_app(settings)
        # A route that fails the way a bug would, mounted inside the real middleware stack.
        app.add_api_route("/broken", _broken)
        with caplog.at_level(logging.ERROR, logger="promptmill.api"), serve_in_thread(app) as url:
            response = httpx.get(url + "/broken")
            assert httpx.get(url + "/").status_code == 200
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "api_error"
    request_id = response.headers["request-id"]
    assert request_id in body["error"]["message"]
    assert "secret internal detail" not in response.text
    assert any("secret internal detail" in (r.exc_text or "") for r in caplog.records)
