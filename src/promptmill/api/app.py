"""The application factory: ``create_app`` wires settings, engine, store and the routes.

The engine is built once per process at startup (the lifespan), in a worker thread,
so an embedded model is loaded before the first request rather than during it; tests
and the CLI may pass a ready engine or store instead. The rate limits
(``rate_limit.make_rate_limits``) follow the store: made with it, at once when it is
passed in. The store opened here is closed
at shutdown; one passed in belongs to the caller. The lifespan also starts the
evaluation queue (``promptmill.jobs``): its worker threads, and the re-enqueueing of
runs left unfinished by a previous process; they stop before the store closes.

Layers, outermost first: ``SecurityHeadersMiddleware`` (nosniff, referrer policy, a
deny-all CSP for everything but pages), ``RequestIdMiddleware`` (request ids, last-
resort 500), ``BodySizeLimitMiddleware`` (413), ``RequestBodyGuard`` (body read time,
408, and the server-wide budget of request bytes, 529; see ``request_limits``), then
FastAPI with the error handlers of ``error_responses`` and the routers: ``service``
(``GET /``), ``tools`` (the three Prompt Tools endpoints), ``history``, ``evaluation``
(prompt versions, datasets and evaluation runs), ``optimize``, ``docs`` (Swagger UI,
served locally) and, when installed, ``web`` (the playground page). A path with a
trailing slash is a 404 naming the path without it, never a redirect. A wrong method on
a known path is answered 405 with an ``invalid_request_error`` body and an ``allow``
header: the Anthropic API has no 405 error type, and ``invalid_request_error`` is the
type its clients already handle for a request the server will not serve as sent.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import FastAPI

from promptmill import __version__
from promptmill.api import docs, evaluation, history, optimize, service, tools
from promptmill.api.capacity import Capacity
from promptmill.api.error_responses import install_error_handlers
from promptmill.api.evaluation_schemas import REQUEST_MODELS as EVALUATION_REQUEST_MODELS
from promptmill.api.middleware import (
    BodySizeLimitMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from promptmill.api.openapi import DESCRIPTION, openapi_schema
from promptmill.api.rate_limit import make_rate_limits
from promptmill.api.request_limits import RequestBodyGuard
from promptmill.api.state import AppState
from promptmill.api.streaming import finish_streams
from promptmill.config import Settings
from promptmill.startup import build_engine, freeze_startup_heap, warm_up_in_background

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
        capacity=Capacity.from_settings(settings),
        store_bodies_up_to=settings.stored_body_max_bytes if settings.store_bodies else None,
        key_cache_seconds=settings.key_cache_seconds,
        engine=engine,
        store=store,
    )
    if store is not None:  # ready now, so the app also works without its lifespan
        state.rate_limits = make_rate_limits(settings, store, state.capacity.store_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned_store: Store | None = None
        warming: threading.Thread | None = None
        if state.store is None:
            from promptmill.store import Store

            owned_store = await anyio.to_thread.run_sync(Store.open, settings.resolved_database_url)
            state.store = owned_store
        jobs: EvalJobs | None = None
        try:
            if state.rate_limits is None:
                state.rate_limits = await anyio.to_thread.run_sync(
                    make_rate_limits, settings, state.store, state.capacity.store_threads
                )
            if state.engine is None:
                state.engine = await anyio.to_thread.run_sync(build_engine, settings)
            # Built here or passed in (``promptmill serve`` builds its own): either way.
            warming = warm_up_in_background(state.engine)
            jobs = await anyio.to_thread.run_sync(
                start_eval_jobs, settings, state.store, state.engine.backend
            )
            app.state.eval_jobs = jobs
            yield
        finally:
            # Streams whose clients have gone still run; record them before the store
            # closes and the loop ends (SIGTERM included).
            await finish_streams(state, settings.request_timeout)
            if warming is not None and warming.is_alive():
                # llama.cpp must not be mid-call when the process ends.
                logger.info("waiting for the model to finish reading the planner's prompt")
                await anyio.to_thread.run_sync(warming.join)
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
        # FastAPI's pages load scripts from a CDN; ``docs`` serves Swagger UI locally.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # No 307 to the slash-less path (its location would be built from the Host
        # header): a path with a trailing slash is simply not one of ours, a 404.
        redirect_slashes=False,
    )
    app.state.promptmill = state
    app.state.settings = settings
    app.state.eval_jobs = None
    install_error_handlers(app)
    for routes in (service, tools, history, evaluation, optimize, docs):
        app.include_router(routes.router)
    _include_playground(app)
    app.add_middleware(
        RequestBodyGuard,
        read_timeout=settings.body_read_timeout,
        budget=state.capacity.bodies,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)  # added last: the outermost layer
    request_models = (
        *tools.REQUEST_MODELS,
        *EVALUATION_REQUEST_MODELS,
        *optimize.REQUEST_MODELS,
    )
    app.openapi = lambda: openapi_schema(app, request_models)  # type: ignore[method-assign]
    return app


APP_FACTORY = "promptmill.api.app:app_from_environment"
"""What each process of ``promptmill serve --workers N`` imports (uvicorn's ``factory``)."""


def app_from_environment() -> FastAPI:
    """The app of one server process, configured from the environment alone.

    ``promptmill serve --workers N`` starts N processes that import this by name, so
    each builds its own engine, store connections and evaluation threads in its
    lifespan; what they share lives in the database (or Redis), not in memory. What
    the process holds by then (modules, the app) is frozen (``freeze_startup_heap``).
    """
    app = create_app(Settings.load())
    freeze_startup_heap()
    return app


def _include_playground(app: FastAPI) -> None:
    """Mount the playground page when its module is installed; a broken one fails loudly."""
    if importlib.util.find_spec("promptmill.api.web") is None:
        logger.debug("playground not available")
        return
    web = importlib.import_module("promptmill.api.web")
    app.include_router(web.router)
