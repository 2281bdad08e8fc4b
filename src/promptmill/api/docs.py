"""``GET /docs``: Swagger UI over ``/openapi.json``, served from this server only.

FastAPI's own ``/docs`` and ``/redoc`` load their scripts from a CDN without integrity
hashes, so whoever controls that CDN could run code on a page where users paste API
keys. They are switched off (``create_app``); this page serves Swagger UI's files from
the ``fastapi-offline`` package instead (a pinned dependency that ships the Swagger UI
5 bundle), and starts it with our own ``swagger-init.js``, not an inline script, so
its Content-Security-Policy allows scripts from ``'self'`` only. ReDoc is not offered:
one viewer of the same schema is enough.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from promptmill.errors import NotFoundError

router = APIRouter()

_PAGE_DIR = Path(__file__).resolve().parent.parent / "docs_ui"
_SWAGGER_DIR = Path(str(files("fastapi_offline") / "static"))
# Only these files are served, so no path from the URL ever reaches the filesystem.
_ASSETS = {
    "swagger-ui.css": (_SWAGGER_DIR, "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": (_SWAGGER_DIR, "text/javascript; charset=utf-8"),
    "swagger-init.js": (_PAGE_DIR, "text/javascript; charset=utf-8"),
}
_PAGE_HEADERS = {
    # Swagger UI sets style attributes at run time, hence 'unsafe-inline' for styles only.
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "cache-control": "no-cache",
}


@router.get("/docs", include_in_schema=False)
def docs_page() -> HTMLResponse:
    """The Swagger UI page; no key needed to load it."""
    html = (_PAGE_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=_PAGE_HEADERS)


@router.get("/docs/{asset}", include_in_schema=False)
def docs_asset(asset: str) -> FileResponse:
    """Swagger UI's script and stylesheet, and the script that starts it."""
    if asset not in _ASSETS:
        raise NotFoundError(f"/docs/{asset} not found")
    directory, media_type = _ASSETS[asset]
    return FileResponse(directory / asset, media_type=media_type, headers=_PAGE_HEADERS)
