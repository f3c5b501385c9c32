"""Server-Sent Events framing and the two event streams: ragqa's own (``/v1/ask/stream``) and OpenAI's chunks."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.errors import map_exception
from api.generation import EventBridge
from api.metrics import Metrics
from api.schemas import (
    ChatCompletionChunk,
    ChunkChoice,
    ChunkDelta,
    ask_response,
    error_body,
    passage_out,
    ragqa_extra,
)
from rag.answer_types import Answer, PassagesEvent, StreamEvent, TokenEvent

log = logging.getLogger(__name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
KEEPALIVE_FRAME = b": keep-alive\n\n"


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response that sets ``cancel`` however it ends: completed, failed, or cancelled
    because the client went away (then the body generator may be left suspended; it is closed here too)."""

    def __init__(self, content: AsyncIterator[bytes], cancel: threading.Event) -> None:
        super().__init__(content, media_type="text/event-stream", headers=SSE_HEADERS)
        self._cancel = cancel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._cancel.set()
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def sse(event: str, data: Any) -> bytes:
    """One SSE frame; the JSON has no raw newlines, so one ``data:`` line is enough."""
    return f"event: {event}\ndata: {_json(data)}\n\n".encode()


def _error_data(exc: BaseException, request_id: str) -> dict[str, Any]:
    mapped = map_exception(exc)
    if mapped.status >= 500 and mapped.kind not in ("busy", "index_locked"):
        log.error("stream %s failed: %s: %s", request_id, type(exc).__name__, mapped.message, exc_info=exc)
    return error_body(mapped.kind, mapped.message)


async def answer_events(bridge: EventBridge[StreamEvent], request: Request, metrics: Metrics) -> AsyncIterator[bytes]:
    """``passages`` → ``token``* → ``answer`` → ``done``; an ``error`` frame instead when something fails."""
    request_id = str(request.scope.get("state", {}).get("request_id", ""))
    try:
        async with aclosing(bridge.events(request)) as events:
            async for event in events:
                if event is None:
                    yield KEEPALIVE_FRAME
                elif isinstance(event, PassagesEvent):
                    yield sse("passages", [passage_out(p).model_dump() for p in event.passages])
                elif isinstance(event, TokenEvent):
                    yield sse("token", {"text": event.text})
                elif isinstance(event, Answer):
                    metrics.observe_answer(event.timings, event.refused)
                    yield sse("answer", ask_response(event).model_dump(mode="json"))
    except Exception as exc:
        yield sse("error", _error_data(exc, request_id))
        return
    yield sse("done", {})


def _chunk(cid: str, created: int, model: str, delta: ChunkDelta, **extra: Any) -> bytes:
    chunk = ChatCompletionChunk(
        id=cid,
        created=created,
        model=model,
        choices=[ChunkChoice(delta=delta, finish_reason=extra.pop("finish_reason", None))],
        **extra,
    )
    return f"data: {_json(chunk.model_dump(mode='json', exclude_none=True))}\n\n".encode()


async def chat_chunks(
    bridge: EventBridge[StreamEvent], request: Request, metrics: Metrics, *, cid: str, created: int, model: str
) -> AsyncIterator[bytes]:
    """OpenAI ``chat.completion.chunk`` lines, the last with ``finish_reason: stop`` and ``ragqa``; then [DONE]."""
    request_id = str(request.scope.get("state", {}).get("request_id", ""))
    yield _chunk(cid, created, model, ChunkDelta(role="assistant", content=""))
    streamed = ""
    try:
        async with aclosing(bridge.events(request)) as events:
            async for event in events:
                if event is None:
                    yield KEEPALIVE_FRAME
                elif isinstance(event, TokenEvent):
                    streamed += event.text
                    yield _chunk(cid, created, model, ChunkDelta(content=event.text))
                elif isinstance(event, Answer):
                    metrics.observe_answer(event.timings, event.refused)
                    text = event.text
                    rest = text[len(streamed) :] if text.startswith(streamed) else ("" if streamed else text)
                    if rest:
                        yield _chunk(cid, created, model, ChunkDelta(content=rest))
                    extra = ragqa_extra(event)
                    yield _chunk(cid, created, model, ChunkDelta(), finish_reason="stop", ragqa=extra)
    except Exception as exc:
        yield f"data: {_json(_error_data(exc, request_id))}\n\n".encode()
    yield b"data: [DONE]\n\n"
