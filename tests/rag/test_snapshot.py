"""Answers survive concurrent writes (issue 13, defect 2): an answer reads the documents it retrieved from one
snapshot, so a delete or replace that commits mid-answer cannot turn the question into an error."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from index import DocumentNotFoundError
from rag import snapshot
from rag.answer_types import Answer
from rag.documents import load_text
from rag.engine import Engine
from rag.ingest import add_document, remove_document
from tests.conftest import HEADLINE, SEED_SOURCE, SEEDS_DIR
from tests.fakes import OverlapReranker


class WriteMidAnswer(OverlapReranker):
    """The overlap fake that runs ``write`` once, on its second call: after retrieval reranked the passages,
    before the evidence is scored and the lead article's text is read — the window of the reported race."""

    def __init__(self, write: Callable[[], object]) -> None:
        self.write = write
        self.calls = 0

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == 2:
            self.write()
        return super().score(query, passages)


def _seeded(make_fake_engine: Callable[..., Engine]) -> Engine:
    engine = make_fake_engine()
    text = (SEEDS_DIR / SEED_SOURCE).read_text(encoding="utf-8")
    add_document(engine, load_text(text, source=SEED_SOURCE))
    return engine


def test_a_delete_mid_answer_does_not_fail_the_answer(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _seeded(make_fake_engine)
    engine.reranker = WriteMidAnswer(lambda: remove_document(engine, SEED_SOURCE))
    answer = snapshot.answer_from_snapshot(engine, HEADLINE)
    assert engine.reranker.calls >= 2  # the delete happened mid-answer
    assert engine.store.stats().documents == 0
    assert not answer.refused and answer.citations
    assert all(c.source == SEED_SOURCE for c in answer.citations)


def test_a_delete_mid_stream_does_not_fail_the_stream(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _seeded(make_fake_engine)
    engine.reranker = WriteMidAnswer(lambda: remove_document(engine, SEED_SOURCE))
    events = list(snapshot.stream_from_snapshot(engine, HEADLINE))
    assert isinstance(events[-1], Answer) and not events[-1].refused


def test_a_replace_mid_answer_quotes_the_version_that_was_retrieved(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _seeded(make_fake_engine)
    original = engine.store.document_text(SEED_SOURCE)
    engine.reranker = WriteMidAnswer(
        lambda: add_document(engine, load_text("Completely different words now.", source=SEED_SOURCE))
    )
    answer = snapshot.answer_from_snapshot(engine, HEADLINE)
    assert answer.citations
    assert all(original[c.start : c.end] == c.text for c in answer.citations)


def test_outside_an_answer_a_deleted_document_is_still_not_found(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _seeded(make_fake_engine)
    snapshot.answer_from_snapshot(engine, HEADLINE)
    remove_document(engine, SEED_SOURCE)
    with pytest.raises(DocumentNotFoundError):
        engine.store.document_text(SEED_SOURCE)


def test_pinned_reads_pin_only_what_chunks_returned(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _seeded(make_fake_engine)
    add_document(engine, load_text("Another note about apples and pears.", source="other.txt"))
    before = engine.store.document_text(SEED_SOURCE)
    ids = [h.chunk_id for h in engine.store.bm25_search("Seoul arms Ukraine", 3)]
    with engine.store.pinned_reads():
        records = engine.store.chunks(ids)
        assert {r.source for r in records.values()} == {SEED_SOURCE}
        remove_document(engine, SEED_SOURCE)
        remove_document(engine, "other.txt")
        assert engine.store.document_text(SEED_SOURCE) == before
        with pytest.raises(DocumentNotFoundError):
            engine.store.document_text("other.txt")  # never retrieved in this snapshot
