"""``GET /healthz`` (the process answers), ``GET /readyz`` (index open + models loaded), ``GET /metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import StateDep
from api.errors import ApiError
from api.metrics import CONTENT_TYPE
from api.schemas import ErrorResponse, Health, Readiness
from index.errors import StorageError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": ErrorResponse}})
def readyz(state: StateDep) -> Readiness:
    engine = state.engine
    if engine is None:
        raise ApiError(503, "not_ready", f"not ready: {state.not_ready_reason}", {"Retry-After": "5"})
    try:
        stats = engine.store.stats()
    except StorageError as exc:
        raise ApiError(503, "not_ready", f"not ready: the index is not usable: {exc}") from None
    missing = []
    if engine.reranker is None and state.settings.rerank:
        missing.append("reranker")
    if engine.generator is None:
        missing.append("generator")
    if engine.judge is None and state.settings.judge:
        missing.append("judge")
    if missing:
        raise ApiError(503, "not_ready", f"not ready: not loaded: {', '.join(missing)}")
    models = {"embedder": engine.embedder.model_id, "generator": engine.generator.model_id}  # type: ignore[union-attr]
    if engine.reranker is not None:
        models["reranker"] = engine.reranker.model_id
    if engine.judge is not None:
        models["judge"] = engine.judge.model_id
    return Readiness(documents=stats.documents, chunks=stats.chunks, models=models)


@router.get("/metrics", response_model=str, response_class=PlainTextResponse)
def metrics(state: StateDep) -> PlainTextResponse:
    """Prometheus text exposition format."""
    gauges: dict[str, tuple[str, float]] = {}
    pool = state.pool
    if pool is not None:
        gauges["ragqa_generation_queue_depth"] = ("Generation jobs waiting for a worker.", pool.queue_depth)
        gauges["ragqa_generation_in_flight"] = ("Generation jobs running or waiting.", pool.in_flight)
        gauges["ragqa_generation_capacity"] = ("generation_workers + generation_queue.", pool.capacity)
    gauges["ragqa_ready"] = ("1 when the index and models are loaded.", 1.0 if state.engine is not None else 0.0)
    if state.engine is not None:
        try:
            stats = state.engine.store.stats()
            gauges["ragqa_documents"] = ("Documents in the index.", stats.documents)
            gauges["ragqa_chunks"] = ("Chunks in the index.", stats.chunks)
        except StorageError:
            pass
    return PlainTextResponse(state.metrics.render(gauges), media_type=CONTENT_TYPE)
