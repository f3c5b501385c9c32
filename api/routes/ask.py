"""``POST /v1/ask`` (JSON answer) and ``POST /v1/ask/stream`` (Server-Sent Events)."""

from __future__ import annotations

import asyncio
import threading

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.deps import Access, EngineDep, PoolDep, ReadAccess, StateDep
from api.generation import EventBridge
from api.limits import check_history, check_question
from api.schemas import AskRequest, AskResponse, ErrorResponse, ask_response
from api.sse import EventStreamResponse, answer_events
from index import ChunkFilter
from rag.answer_types import ChatTurn, StreamEvent
from rag.collections import in_collection, scoped_engine
from rag.engine import Engine
from rag.feedback import record_answer, recorded
from rag.pages import stream_with_pages, with_pages
from rag.snapshot import answer_from_snapshot, stream_from_snapshot

router = APIRouter(tags=["ask"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 413, 422, 429, 503)
}
SSE_DOC: dict[int | str, dict[str, object]] = {
    200: {
        "description": (
            'text/event-stream: `event: passages` (data: list of passages), `event: token` (data: {"text"})…, '
            "`event: answer` (data: the same JSON as /v1/ask, always sent, also when refused), `event: done`; "
            'on failure `event: error` (data: {"error": {"type", "message"}}) instead.'
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **ERRORS,
}


def _check(body: AskRequest, state: StateDep) -> None:
    check_question(body.question, state.settings)
    check_history(len(body.history), state.settings)


def _prepare(
    body: AskRequest, state: StateDep, engine: Engine, access: Access
) -> tuple[list[ChatTurn], ChunkFilter, Engine]:
    """Limits, the key's scope, and the collection: history, filters (with the collection), a scoped engine."""
    _check(body, state)
    access.check_read(body.collection)
    history = [t.to_rag() for t in body.history]
    filters = in_collection(body.filters.to_rag() if body.filters else None, body.collection)
    return history, filters, scoped_engine(engine, body.collection)


@router.post("/v1/ask", response_model=AskResponse, responses=ERRORS)
async def ask(body: AskRequest, state: StateDep, engine: EngineDep, pool: PoolDep, access: ReadAccess) -> AskResponse:
    """Answer a question from the indexed articles; every sentence carries the quoted spans that support it."""
    history, filters, scoped = _prepare(body, state, engine, access)
    cancel = threading.Event()
    try:
        answer = await pool.run(
            lambda: record_answer(
                state.feedback,
                with_pages(scoped.store, answer_from_snapshot(scoped, body.question, history, filters, cancel=cancel)),
                body.collection,
            )
        )
    except asyncio.CancelledError:
        cancel.set()
        raise
    state.metrics.observe_answer(answer.timings, answer.refused)
    return ask_response(answer)


@router.post("/v1/ask/stream", response_model=None, response_class=StreamingResponse, responses=SSE_DOC)
async def ask_stream(
    body: AskRequest, request: Request, state: StateDep, engine: EngineDep, pool: PoolDep, access: ReadAccess
) -> EventStreamResponse:
    """The answer as Server-Sent Events; disconnecting stops the generation."""
    history, filters, scoped = _prepare(body, state, engine, access)
    bridge: EventBridge[StreamEvent] = EventBridge(
        pool,
        lambda cancel: recorded(
            state.feedback,
            stream_with_pages(
                scoped.store, stream_from_snapshot(scoped, body.question, history, filters, cancel=cancel)
            ),
            body.collection,
        ),
    )
    return EventStreamResponse(answer_events(bridge, request, state.metrics), bridge.cancel)
