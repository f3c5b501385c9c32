"""The FastAPI app: ``create_app(settings, engine=None)`` and ``app_from_env()`` (for ``uvicorn --factory``).

The lifespan loads the engine once (``Engine.load(settings, reranker=True, generator=True)``) unless one was
injected, starts the generation pool, and on shutdown stops the pool and closes the engine it loaded.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.cors import RouteCORSMiddleware
from api.errors import install_error_handlers
from api.generation import GenerationPool
from api.metrics import Metrics
from api.middleware import REQUEST_ID_HEADER, EdgeMiddleware
from api.proxies import TrustedProxyMiddleware
from api.ratelimit import RateLimiter
from api.routes import ask, chat, documents, feedback, health, search, widget
from api.state import AppState
from index.feedback import FeedbackStore
from rag.engine import Engine
from rag.settings import Settings, get_settings

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: AppState = app.state.ragqa
    settings = state.settings
    if state.engine is None:
        state.not_ready_reason = "loading the index and models"
        log.info("loading the index at %s and the models", settings.data_dir)
        state.engine = await run_in_threadpool(lambda: Engine.load(settings, reranker=True, generator=True))
        state.owns_engine = True
    state.pool = GenerationPool(settings.generation_workers, settings.generation_queue)
    if state.feedback is None:
        state.feedback = await run_in_threadpool(
            lambda: FeedbackStore.open(settings.data_dir, keep_answers=settings.feedback_keep_answers)
        )
    state.not_ready_reason = ""
    log.info("ready: %d generation worker(s), queue %d", settings.generation_workers, settings.generation_queue)
    try:
        yield
    finally:
        state.not_ready_reason = "shutting down"
        pool, state.pool = state.pool, None
        if pool is not None:
            pool.shutdown()
        feedback_store, state.feedback = state.feedback, None
        if feedback_store is not None:
            feedback_store.close()
        if state.owns_engine and state.engine is not None:
            state.engine.close()
            state.engine = None


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """The app over ``engine`` (tests inject one with fakes) or over the one the lifespan loads from ``settings``."""
    app = FastAPI(
        title="ragqa",
        version="0.1.0",
        summary="Grounded question answering over your articles, offline.",
        lifespan=_lifespan,
    )
    state = AppState(
        settings=settings,
        metrics=Metrics(),
        limiter=RateLimiter(settings.rate_limit_per_minute),
        engine=engine,
    )
    app.state.ragqa = state
    install_error_handlers(app)
    for module in (ask, chat, search, documents, health, widget, feedback):
        app.include_router(module.router)
    # Added last = outermost: CORS headers also land on 413/429/500 answers of the edge middleware.
    app.add_middleware(EdgeMiddleware, state=state)
    app.add_middleware(
        RouteCORSMiddleware,
        cors_origins=settings.cors_origins,
        widget_origins=settings.widget_origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
        expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
        max_age=600,
    )
    # Outermost: every layer inside (rate limit, access log, CORS) sees the client address it resolves.
    app.add_middleware(TrustedProxyMiddleware, trusted=settings.trusted_proxies)
    return app


def configure_logging(level: int = logging.INFO) -> None:
    """key=value log lines on stderr, unless the host process configured logging already."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format=LOG_FORMAT)


def app_from_env() -> FastAPI:
    """``uvicorn.run("api.app:app_from_env", factory=True)``: settings from ``RAGQA_*`` / ``.env``."""
    configure_logging()
    return create_app(get_settings())
