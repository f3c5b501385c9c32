"""``POST /v1/chat/completions``: OpenAI-compatible (streaming and not), answering the last user message.

Earlier user/assistant messages are the history; system/developer/tool messages are ignored (the answer
prompt is fixed). The documented extension ``"ragqa": {"citations": [...], "refused": bool, "refusal_reason"}``
rides on the completion, or on the last chunk when streaming.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from fastapi import APIRouter, Request

from api.deps import EngineDep, PoolDep, ReadAccess, StateDep
from api.errors import ApiError
from api.generation import EventBridge
from api.limits import check_history, check_message_chars, check_question
from api.routes.ask import ERRORS
from api.schemas import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessageOut,
    Usage,
    ragqa_extra,
)
from api.sse import EventStreamResponse, chat_chunks
from rag.answer_types import ChatTurn, StreamEvent
from rag.collections import in_collection, scoped_engine
from rag.feedback import record_answer, recorded
from rag.pages import stream_with_pages, with_pages
from rag.snapshot import answer_from_snapshot, stream_from_snapshot

router = APIRouter(tags=["openai"])


def _conversation(body: ChatCompletionRequest) -> tuple[str, list[ChatTurn]]:
    for i, message in enumerate(body.messages):
        check_message_chars(i, len(message.text()))
    turns = [m for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise ApiError(422, "validation_error", "the last user/assistant message must be a user message (the question)")
    history = [ChatTurn("user" if m.role == "user" else "assistant", m.text()) for m in turns[:-1]]
    return turns[-1].text(), history


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {
            "description": "A chat.completion, or with `stream: true` text/event-stream of"
            " `data: {chat.completion.chunk}` lines ending with `data: [DONE]`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **ERRORS,
    },
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, state: StateDep, engine: EngineDep, pool: PoolDep, access: ReadAccess
) -> ChatCompletion | EventStreamResponse:
    question, history = _conversation(body)
    check_question(question, state.settings)
    check_history(len(history), state.settings)
    access.check_read(body.collection)
    filters = in_collection(body.filters.to_rag() if body.filters else None, body.collection)
    scoped = scoped_engine(engine, body.collection)
    cid = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        bridge: EventBridge[StreamEvent] = EventBridge(
            pool,
            lambda cancel: recorded(
                state.feedback,
                stream_with_pages(
                    scoped.store, stream_from_snapshot(scoped, question, history, filters, cancel=cancel)
                ),
                body.collection,
            ),
        )
        return EventStreamResponse(
            chat_chunks(bridge, request, state.metrics, cid=cid, created=created, model=body.model), bridge.cancel
        )
    cancel = threading.Event()
    try:
        answer = await pool.run(
            lambda: record_answer(
                state.feedback,
                with_pages(scoped.store, answer_from_snapshot(scoped, question, history, filters, cancel=cancel)),
                body.collection,
            )
        )
    except asyncio.CancelledError:
        cancel.set()
        raise
    state.metrics.observe_answer(answer.timings, answer.refused)
    prompt_tokens = len(question.split()) + sum(len(t.content.split()) for t in history)
    completion_tokens = len(answer.text.split())
    return ChatCompletion(
        id=cid,
        created=created,
        model=body.model,
        choices=[ChatChoice(message=ChatMessageOut(content=answer.text))],
        usage=Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        ),
        ragqa=ragqa_extra(answer),
    )
