"""The web playground's files: ``GET /playground`` and the page's assets.

It serves a single static page (HTML, CSS and vanilla JS from ``promptmill/playground/``,
nothing from a CDN) that anyone may load: it holds no data. The page calls the tool
endpoints, the history API (``history``) and the evaluation API (``evaluation``: prompt
versions, datasets, generated cases, runs followed over Server-Sent Events) and optimize
(``optimize``, its progress streamed) with the key the user typed.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from promptmill.errors import NotFoundError

router = APIRouter()

_STATIC_DIR = Path(__file__).resolve().parent.parent / "playground"
# Only these files are served, so no path from the URL ever reaches the filesystem.
_ASSETS = {
    "playground.css": "text/css; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
    "evaluate.js": "text/javascript; charset=utf-8",
    "optimize.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_PAGE_HEADERS = {
    # The page runs only its own files and talks only to its own origin.
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "cache-control": "no-cache",
}


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
