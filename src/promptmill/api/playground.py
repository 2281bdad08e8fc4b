"""The web playground: its page and the history API it reads.

``GET /playground`` serves a single static page (HTML, CSS and vanilla JS from
``promptmill/playground/``, nothing from a CDN) that anyone may load: it holds no data.
The page calls the public endpoints with the key the user typed, and this module's two
read-only endpoints with the same key:

- ``GET /v1/promptmill/history?limit=N``: the key's workspace's recent calls, newest first;
- ``GET /v1/promptmill/history/{call_id}``: one of them.

A call belongs to a workspace, not to a key, so every key of a workspace sees the same
history. Errors use the API's error body, through the app's exception handlers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from promptmill.api.routes import app_state, authenticate_key
from promptmill.errors import APIError, NotFoundError

if TYPE_CHECKING:
    from promptmill.store import Store

router = APIRouter()

_STATIC_DIR = Path(__file__).resolve().parent.parent / "playground"
# Only these files are served, so no path from the URL ever reaches the filesystem.
_ASSETS = {
    "playground.css": "text/css; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_PAGE_HEADERS = {
    # The page runs only its own files and talks only to its own origin.
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
_MAX_HISTORY = 200


@router.get("/playground", include_in_schema=False)
def playground_page() -> HTMLResponse:
    """The single page app; no key needed to load it."""
    html = (_STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=_PAGE_HEADERS)


@router.get("/playground/{asset}", include_in_schema=False)
def playground_asset(asset: str) -> FileResponse:
    """The page's stylesheet, script and icon."""
    media_type = _ASSETS.get(asset)
    if media_type is None:
        raise NotFoundError(f"/playground/{asset} not found")
    return FileResponse(_STATIC_DIR / asset, media_type=media_type, headers=_PAGE_HEADERS)


def _store_of(request: Request) -> Store:
    store = app_state(request).store
    if store is None:
        raise APIError("the key store is not ready")
    return store


@router.get("/v1/promptmill/history")
async def list_history(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=_MAX_HISTORY)] = 50,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """The workspace's most recent calls, newest first, with their requests and responses."""
    key = await authenticate_key(app_state(request), x_api_key, authorization)
    calls = await anyio.to_thread.run_sync(
        lambda: _store_of(request).recent_calls(key.workspace, limit=limit)
    )
    return {"workspace": key.workspace, "data": [_call_view(call.to_dict()) for call in calls]}


@router.get("/v1/promptmill/history/{call_id}")
async def get_history_entry(
    request: Request,
    call_id: str,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """One recorded call of the workspace; ``not_found_error`` for another workspace's call."""
    key = await authenticate_key(app_state(request), x_api_key, authorization)
    call = await anyio.to_thread.run_sync(
        lambda: _store_of(request).get_call(key.workspace, call_id)
    )
    if call is None:
        raise NotFoundError(f"no call {call_id!r} in this workspace's history")
    return _call_view(call.to_dict())


def _call_view(call: dict[str, Any]) -> dict[str, Any]:
    """What the history shows of a call: no key id, the rest as the store keeps it."""
    shown = (
        "id",
        "endpoint",
        "created_at",
        "target_model",
        "backend",
        "model",
        "status",
        "error_type",
        "latency_ms",
        "usage",
        "input_tokens",
        "output_tokens",
        "request",
        "response",
    )
    return {name: call.get(name) for name in shown}
