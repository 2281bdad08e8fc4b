"""The application factory: ``create_app`` wires settings, engine, store and the routes.

The engine is built once per process at startup (the lifespan), in a worker thread,
so an embedded model is loaded before the first request rather than during it; tests
and the CLI may pass a ready engine or store instead. The store opened here is closed
at shutdown; one passed in belongs to the caller.

Layers, outermost first: ``RequestIdMiddleware`` (request ids, last-resort 500),
``BodySizeLimitMiddleware`` (413), then FastAPI with the error handlers of
``error_responses`` and the routers: ``service`` (``GET /``), ``tools`` (the three
Prompt Tools endpoints), ``history``, ``optimize`` and, when installed, ``web`` (the playground
page). A wrong method on a known path is answered 405 with
an ``invalid_request_error`` body and an ``allow`` header: the Anthropic API has no
405 error type, and ``invalid_request_error`` is the type its clients already handle
for a request the server will not serve as sent.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import FastAPI

from promptmill import __version__
from promptmill.api import history, optimize, service, tools
from promptmill.api.error_responses import install_error_handlers
from promptmill.api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from promptmill.api.openapi import DESCRIPTION, openapi_schema
from promptmill.api.rate_limit import SlidingWindowRateLimiter
from promptmill.api.state import AppState
from promptmill.config import Settings
from promptmill.startup import build_engine

if TYPE_CHECKING:
    from promptmill.engine import PromptEngine
    from promptmill.store import Store

logger = logging.getLogger("promptmill.api")


def create_app(
    settings: Settings | None = None,
    *,
    engine: PromptEngine | None = None,
    store: Store | None = None,
) -> FastAPI:
    """A ready-to-serve promptmill ASGI app; ``engine``/``store`` default to the settings'."""
    settings = settings or Settings()
    state = AppState(
        rate_limiter=SlidingWindowRateLimiter(settings.rate_limit_per_minute),
        engine=engine,
        store=store,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned_store: Store | None = None
        if state.store is None:
            from promptmill.store import Store

            owned_store = await anyio.to_thread.run_sync(Store.open, settings.resolved_database_url)
            state.store = owned_store
        try:
            if state.engine is None:
                state.engine = await anyio.to_thread.run_sync(build_engine, settings)
            yield
        finally:
            if owned_store is not None:
                owned_store.close()
                state.store = None

    app = FastAPI(
        title="promptmill",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.promptmill = state
    install_error_handlers(app)
    for routes in (service, tools, history, optimize):
        app.include_router(routes.router)
    _include_playground(app)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)  # added last: the outermost layer
    app.openapi = lambda: openapi_schema(  # type: ignore[method-assign]
        app, (*tools.REQUEST_MODELS, *optimize.REQUEST_MODELS)
    )
    return app


def _include_playground(app: FastAPI) -> None:
    """Mount the playground page when its module is installed; a broken one fails loudly."""
    if importlib.util.find_spec("promptmill.api.web") is None:
        logger.debug("playground not available")
        return
    web = importlib.import_module("promptmill.api.web")
    app.include_router(web.router)
