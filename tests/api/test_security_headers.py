"""Every response carries the security headers; the docs page loads nothing from elsewhere."""

from __future__ import annotations

import re

import httpx
import pytest

from promptmill.api.middleware import DEFAULT_CSP
from promptmill.protocol import GENERATE_PATH, HISTORY_PATH, TEMPLATIZE_PATH
from tests.conftest import RunningServer

TEMPLATIZE_BODY = {"messages": [{"role": "user", "content": "Translate hello to German"}]}


def _assert_security_headers(response: httpx.Response, csp: str = DEFAULT_CSP) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["content-security-policy"] == csp


@pytest.mark.parametrize(
    ("method", "path", "with_key"),
    [
        ("GET", "/", False),
        ("GET", "/openapi.json", False),
        ("GET", "/v1/nope", False),
        ("GET", HISTORY_PATH, False),
        ("GET", HISTORY_PATH, True),
        ("POST", GENERATE_PATH, False),
        ("GET", GENERATE_PATH, True),
    ],
)
def test_json_answers_carry_nosniff_referrer_policy_and_a_deny_all_csp(
    promptmill_server: RunningServer, method: str, path: str, with_key: bool
) -> None:
    headers = promptmill_server.headers() if with_key else {}
    response = httpx.request(method, promptmill_server.base_url + path, headers=headers)
    _assert_security_headers(response)


def test_tool_answers_and_streams_carry_the_security_headers(
    promptmill_server: RunningServer,
) -> None:
    url = promptmill_server.base_url + TEMPLATIZE_PATH
    answer = httpx.post(url, headers=promptmill_server.headers(), json=TEMPLATIZE_BODY)
    assert answer.status_code == 200
    _assert_security_headers(answer)
    streamed = httpx.post(
        url, headers=promptmill_server.headers(), json={**TEMPLATIZE_BODY, "stream": True}
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    _assert_security_headers(streamed)


def test_the_docs_page_loads_only_this_servers_files(promptmill_server: RunningServer) -> None:
    page = httpx.get(promptmill_server.base_url + "/docs")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "default-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text  # no inline script: the CSP allows none
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/") for source in sources), sources
    for source in sources:
        asset = httpx.get(promptmill_server.base_url + source)
        assert asset.status_code == 200, source
        if source.endswith(".js"):
            assert asset.headers["content-type"].startswith("text/javascript")
            assert "cdn." not in asset.text[:2000]


def test_cdn_backed_doc_pages_are_not_served(promptmill_server: RunningServer) -> None:
    for path in ("/redoc", "/docs/oauth2-redirect", "/docs/../pyproject.toml"):
        response = httpx.get(promptmill_server.base_url + path)
        assert response.status_code == 404, path
