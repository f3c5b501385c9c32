"""``POST /v1/feedback``: 👍/👎 (and an optional comment) on an answer, stored with its question, text and citations."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import ReadAccess, StateDep
from api.errors import not_ready
from api.routes.ask import ERRORS
from api.schemas import FeedbackIn, FeedbackOut
from rag.feedback import give_feedback

router = APIRouter(tags=["feedback"])


@router.post("/v1/feedback", status_code=201, response_model=FeedbackOut, responses={**ERRORS, 404: ERRORS[400]})
async def post_feedback(body: FeedbackIn, state: StateDep, access: ReadAccess) -> FeedbackOut:
    """Rate an answer by its `id` (from `/v1/ask`, the stream's `answer` event, or `ragqa.answer_id` of a chat
    completion); 404 for an id this service never gave."""
    store = state.feedback
    if store is None:
        raise not_ready(state.not_ready_reason)
    answer = await run_in_threadpool(store.answer, body.answer_id)
    access.check_read(answer.collection)  # feedback reaches only answers of collections the key may read
    feedback_id = await run_in_threadpool(give_feedback, store, body.answer_id, body.rating, body.comment)
    return FeedbackOut(id=feedback_id, answer_id=body.answer_id, rating=body.rating)
