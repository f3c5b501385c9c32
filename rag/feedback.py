"""👍/👎 feedback on answers: remember what was answered, store feedback on it, and export the 👎 ones as
evaluation questions (the ``eval/README.md`` format) so that they can be labelled and added to an eval set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from index import DEFAULT_COLLECTION
from index.feedback import FeedbackRecord, FeedbackStore, Rating
from rag.answer_types import Answer, StreamEvent
from rag.errors import BadInputError

MAX_COMMENT_CHARS = 2000


def citation_dicts(answer: Answer) -> list[dict[str, Any]]:
    """The answer's citations as stored with it for feedback (the shape ``ragqa feedback export`` writes)."""
    return [c.to_dict(("source", "title", "start", "end", "page", "text")) for c in answer.citations]


def record_answer(store: FeedbackStore | None, answer: Answer, collection: str = DEFAULT_COLLECTION) -> Answer:
    """Remember ``answer`` under its id (question, text, refusal, citations); returns it. No store: nothing."""
    if store is None:
        return answer
    store.record_answer(
        answer.id,
        question=answer.question,
        answer=answer.text,
        refused=answer.refused,
        citations=citation_dicts(answer),
        collection=collection,
    )
    return answer


def recorded(
    store: FeedbackStore | None, events: Iterator[StreamEvent], collection: str = DEFAULT_COLLECTION
) -> Iterator[StreamEvent]:
    """The events of an answer stream, remembering the final ``Answer`` before it is passed on."""
    for event in events:
        if store is not None and isinstance(event, Answer):
            record_answer(store, event, collection)
        yield event


def give_feedback(store: FeedbackStore, answer_id: str, rating: Rating, comment: str = "") -> int:
    """Store 👍 (``up``) or 👎 (``down``) with an optional comment on a known answer; returns the feedback id."""
    if rating not in ("up", "down"):
        raise BadInputError(f"rating must be 'up' or 'down', got {rating!r}")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise BadInputError(f"comment is longer than {MAX_COMMENT_CHARS} characters")
    return store.add_feedback(answer_id, rating, comment)


def eval_question(record: FeedbackRecord) -> dict[str, Any]:
    """One feedback record as an evaluation question to label: ``answerable``/``source``/``evidence`` are a first
    guess from the answer (its cited article and quotes; ``answerable: false`` when it refused), ``facts`` is
    empty, and ``labelled: false`` plus the ``feedback`` object say what the user saw and said."""
    a = record.answer
    sources = list(dict.fromkeys(str(c["source"]) for c in a.citations))
    question: dict[str, Any] = {
        "id": f"feedback-{record.id}",
        "question": a.question,
        "answerable": not a.refused,
    }
    if not a.refused:
        question["source"] = sources[0] if sources else None
        question["evidence"] = [str(c["text"]) for c in a.citations if c["source"] == question["source"]]
        question["facts"] = []
    question["labelled"] = False
    question["feedback"] = {
        "rating": record.rating,
        "comment": record.comment,
        "answer_id": a.id,
        "answer": a.answer,
        "refused": a.refused,
        "citations": a.citations,
        "collection": a.collection,
        "created_at": record.created_at,
    }
    return question


def export_down(store: FeedbackStore, collection: str | None = None) -> list[dict[str, Any]]:
    """Every 👎 as an evaluation question, oldest first (only ``collection`` when given)."""
    return [eval_question(r) for r in store.feedback("down", collection)]
