"""Answering over one snapshot of the documents it retrieved, so that a concurrent write never fails a question.

``rag.answer`` reads the lead article's text (``store.document_text``) after retrieval; a delete committed in
between used to turn the question into a 404 or an SSE ``error``. These wrappers run the answer inside
``IndexStore.pinned_reads()``: retrieval pins the text of each document it returns, in the same SQLite read
transaction as the chunks, and the answer reads those pins. A document deleted before retrieval is simply not
retrieved (its chunks no longer resolve); one deleted after is answered from the version that was retrieved.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from index import ChunkFilter
from rag.answer import answer_question, stream_answer
from rag.answer_types import Answer, ChatTurn, StreamEvent
from rag.engine import Engine


def answer_from_snapshot(
    engine: Engine,
    question: str,
    history: Sequence[ChatTurn] = (),
    filters: ChunkFilter | None = None,
    *,
    cancel: threading.Event | None = None,
) -> Answer:
    """``answer_question`` over pinned reads."""
    with engine.store.pinned_reads():
        return answer_question(engine, question, history, filters, cancel=cancel)


def stream_from_snapshot(
    engine: Engine,
    question: str,
    history: Sequence[ChatTurn] = (),
    filters: ChunkFilter | None = None,
    *,
    cancel: threading.Event | None = None,
) -> Iterator[StreamEvent]:
    """``stream_answer`` over pinned reads; iterate it in one thread (the pins are per thread)."""
    with engine.store.pinned_reads():
        yield from stream_answer(engine, question, history, filters, cancel=cancel)
