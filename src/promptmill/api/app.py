"""The application factory: ``create_app`` wires settings, engine, store and the routes.

The engine is built once per process at startup (the lifespan), in a worker thread,
so an embedded model is loaded before the first request rather than during it; tests
and the CLI may pass a ready engine or store instead. The store opened here is closed
at shutdown; one passed in belongs to the caller. The lifespan also starts the
evaluation queue (``promptmill.jobs``): its worker threads, and the re-enqueueing of
runs left unfinished by a previous process; they stop before the store closes.

Layers, outermost first: ``RequestIdMiddleware`` (request ids, last-resort 500),
``BodySizeLimitMiddleware`` (413), then FastAPI with the error handlers of
``error_responses`` and the routes. A wrong method on a known path is answered 405 with
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
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from promptmill import __version__
from promptmill.api.error_responses import install_error_handlers
from promptmill.api.evaluation import router as evaluation_router
from promptmill.api.evaluation_schemas import REQUEST_MODELS as EVALUATION_REQUEST_MODELS
from promptmill.api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from promptmill.api.rate_limit import SlidingWindowRateLimiter
from promptmill.api.routes import REQUEST_MODELS, AppState, router
from promptmill.config import Settings

if TYPE_CHECKING:
    from promptmill.backends.base import ChatBackend
    from promptmill.engine import PromptEngine
    from promptmill.jobs import EvalJobs
    from promptmill.store import Store

logger = logging.getLogger("promptmill.api")

_DESCRIPTION = """\
An open, self-hosted implementation of Anthropic's experimental Prompt Tools API
(beta `prompt-tools-2025-04-02`): generate, improve and templatize prompts on any LLM.
Every endpoint needs `x-api-key` and `anthropic-beta: prompt-tools-2025-04-02`.
Errors are `{"type": "error", "error": {"type": ..., "message": ...}}`; every response
carries a `request-id` header.
"""


def build_engine(settings: Settings) -> PromptEngine:
    """The configured backend wrapped in the engine (may load a local model: slow)."""
    from promptmill.backends import make_backend
    from promptmill.engine import PromptEngine

    return PromptEngine(make_backend(settings), request_timeout=settings.request_timeout)


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
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.promptmill = state
    app.state.settings = settings
    app.state.eval_jobs = None
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(evaluation_router)
    _include_playground(app)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)  # added last: the outermost layer
    app.openapi = lambda: _openapi_schema(app)  # type: ignore[method-assign]
    return app


def _include_playground(app: FastAPI) -> None:
    """Mount the playground router when its module is installed; a broken one fails loudly."""
    if importlib.util.find_spec("promptmill.api.playground") is None:
        logger.debug("playground not available")
        return
    playground = importlib.import_module("promptmill.api.playground")
    app.include_router(playground.router)


def _openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the request models, which the routes reference by name.

    The routes parse their bodies by hand (see ``routes``), so FastAPI does not collect
    the request models itself; they are added to ``components.schemas`` here.
    """
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    _, definitions = models_json_schema(
        [(model, "validation") for model in (*REQUEST_MODELS, *EVALUATION_REQUEST_MODELS)],
        ref_template="#/components/schemas/{model}",
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in definitions.get("$defs", {}).items():
        components.setdefault(name, definition)
    app.openapi_schema = schema
    return schema
