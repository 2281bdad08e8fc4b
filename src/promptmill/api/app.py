"""The application factory: ``create_app`` wires settings, engine, store and the routes.

The engine is built once per process at startup (the lifespan), in a worker thread,
so an embedded model is loaded before the first request rather than during it; tests
and the CLI may pass a ready engine or store instead. The store opened here is closed
at shutdown; one passed in belongs to the caller. The lifespan also starts the
evaluation queue (``promptmill.jobs``): its worker threads, and the re-enqueueing of
runs left unfinished by a previous process; they stop before the store closes.

Layers, outermost first: ``RequestIdMiddleware`` (request ids, last-resort 500),
``BodySizeLimitMiddleware`` (413), then FastAPI with the error handlers of
``error_responses`` and the routers: ``service`` (``GET /``), ``tools`` (the three
Prompt Tools endpoints), ``history``, ``evaluation`` (prompt versions, datasets and
evaluation runs) and, when installed, ``web`` (the playground page). A wrong method on a
known path is answered 405 with an ``invalid_request_error`` body and an ``allow``
header: the Anthropic API has no 405 error type, and ``invalid_request_error`` is the
type its clients already handle for a request the server will not serve as sent.
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
from promptmill.api import evaluation, history, service, tools
from promptmill.api.error_responses import install_error_handlers
from promptmill.api.evaluation_schemas import REQUEST_MODELS as EVALUATION_REQUEST_MODELS
from promptmill.api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from promptmill.api.openapi import DESCRIPTION, openapi_schema
from promptmill.api.rate_limit import SlidingWindowRateLimiter
from promptmill.api.state import AppState
from promptmill.config import Settings
from promptmill.startup import build_engine

if TYPE_CHECKING:
    from promptmill.backends.base import ChatBackend
    from promptmill.engine import PromptEngine
    from promptmill.jobs import EvalJobs
    from promptmill.store import Store

logger = logging.getLogger("promptmill.api")


def start_eval_jobs(settings: Settings, store: Store, backend: ChatBackend) -> EvalJobs:
    """The evaluation queue, its worker threads (``eval_workers``), and resumed runs."""
    from promptmill.jobs import EvalJobs

    jobs = EvalJobs.from_settings(settings, store, backend)
    jobs.resume_unfinished()
    jobs.start_workers(settings.eval_workers)
    return jobs


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
        jobs: EvalJobs | None = None
        try:
            if state.engine is None:
                state.engine = await anyio.to_thread.run_sync(build_engine, settings)
            jobs = await anyio.to_thread.run_sync(
                start_eval_jobs, settings, state.store, state.engine.backend
            )
            app.state.eval_jobs = jobs
            yield
        finally:
            if jobs is not None:
                await anyio.to_thread.run_sync(jobs.stop)
                app.state.eval_jobs = None
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
    app.state.settings = settings
    app.state.eval_jobs = None
    install_error_handlers(app)
    for routes in (service, tools, history, evaluation):
        app.include_router(routes.router)
    _include_playground(app)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)  # added last: the outermost layer
    app.openapi = lambda: openapi_schema(app, (*tools.REQUEST_MODELS, *EVALUATION_REQUEST_MODELS))  # type: ignore[method-assign]
    return app


def _include_playground(app: FastAPI) -> None:
    """Mount the playground page when its module is installed; a broken one fails loudly."""
    if importlib.util.find_spec("promptmill.api.web") is None:
        logger.debug("playground not available")
        return
    web = importlib.import_module("promptmill.api.web")
    app.include_router(web.router)
