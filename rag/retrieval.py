"""Hybrid retrieval: dense (FAISS) + BM25 (FTS5), weighted reciprocal-rank fusion, then cross-encoder rerank."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from index import ChunkFilter, ChunkRecord
from rag.engine import Engine
from rag.errors import BadInputError
from rag.models.reranker import Reranker
from rag.verify import STOPWORDS

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: ``text == document_text[start:end]`` of document ``source``."""

    chunk_id: int
    source: str
    title: str
    text: str
    start: int
    end: int
    score: float  # rerank logit when reranked, else the fused RRF score
    fused: float = 0.0
    date: str | None = None
    page: int | None = None  # 1-based page (PDF, slides) where the passage starts
    meta: dict[str, str] = field(default_factory=dict, compare=False)
    collection: str = "default"

    def to_dict(self) -> dict[str, Any]:
        """The passage as a JSON-ready dict (``ragqa search --json``, the HTTP ``PassageOut``): the one
        serializer of a passage. Internal scores (``fused``), ``chunk_id``, ``date`` and ``collection`` stay out."""
        return {
            "source": self.source,
            "title": self.title,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "page": self.page,
            "meta": dict(self.meta),
        }


@dataclass
class Retrieval:
    query: str
    passages: list[Passage]
    timings: dict[str, float] = field(default_factory=dict)
    reranked: bool = False


def fuse(rankings: list[tuple[list[int], float]], rrf_k: int) -> dict[int, float]:
    """Weighted reciprocal-rank fusion of several ranked id lists: Σ w / (rrf_k + rank), rank from 1."""
    scores: dict[int, float] = {}
    for ids, weight in rankings:
        for rank, chunk_id in enumerate(ids, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (rrf_k + rank)
    return scores


def retrieve(
    engine: Engine,
    query: str,
    k: int = 5,
    filters: ChunkFilter | None = None,
    *,
    rerank: bool | None = None,
) -> Retrieval:
    """The ``k`` best passages for ``query``: dense (FAISS) and BM25 (FTS5) candidates fused by reciprocal rank,
    then reranked by the cross-encoder (``rerank=None``: as the settings say). ``filters`` restricts the chunks
    (collection, sources, dates, metadata). ``BadInputError`` for an empty query or ``k`` < 1."""
    query = query.strip()
    if not query:
        raise BadInputError("empty query")
    if k < 1:
        raise BadInputError("k must be at least 1")
    settings = engine.settings
    store = engine.store
    timings: dict[str, float] = {}
    store.refresh()

    t0 = time.perf_counter()
    dense = []
    if settings.dense_weight > 0:
        dense = store.dense_search(engine.embedder.embed_query(query), max(settings.dense_candidates, k), filters)
    timings["dense_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sparse = (
        store.bm25_search(_keywords(query), max(settings.bm25_candidates, k), filters)
        if settings.bm25_weight > 0
        else []
    )
    timings["bm25_s"] = time.perf_counter() - t0

    fused = fuse(
        [([h.chunk_id for h in dense], settings.dense_weight), ([h.chunk_id for h in sparse], settings.bm25_weight)],
        settings.rrf_k,
    )
    order = sorted(fused, key=lambda cid: -fused[cid])
    do_rerank = (settings.rerank if rerank is None else rerank) and engine.reranker is not None
    pool = order[: max(settings.rerank_candidates, k)] if do_rerank else order[:k]
    records = store.chunks(pool, filters)
    candidates = [(records[cid], fused[cid]) for cid in pool if cid in records]
    timings["retrieval_s"] = timings["dense_s"] + timings["bm25_s"]

    if do_rerank and candidates and engine.reranker is not None:
        t0 = time.perf_counter()
        passages = _rerank(engine.reranker, query, candidates, settings.rerank_title_prefix)[:k]
        timings["rerank_s"] = time.perf_counter() - t0
    else:
        passages = [_passage(rec, rrf, rrf) for rec, rrf in candidates[:k]]
    return Retrieval(query, passages, timings, reranked=do_rerank)


def _rerank(
    reranker: Reranker, query: str, candidates: list[tuple[ChunkRecord, float]], title_prefix: bool
) -> list[Passage]:
    texts = [
        f"{rec.title}. {rec.text}" if title_prefix and not rec.text.startswith(rec.title) else rec.text
        for rec, _ in candidates
    ]
    logits = reranker.score(query, texts)
    passages = [_passage(rec, float(logit), rrf) for (rec, rrf), logit in zip(candidates, logits, strict=True)]
    passages.sort(key=lambda p: (-p.score, -p.fused))
    return passages


def _keywords(query: str) -> str:
    """The query without stopwords for BM25: they add nothing to the ranking but make FTS5 scan long posting lists."""
    words = [w for w in _WORD.findall(query) if w.lower() not in STOPWORDS]
    return " ".join(words) or query


def _passage(rec: ChunkRecord, score: float, fused: float) -> Passage:
    return Passage(
        rec.id,
        rec.source,
        rec.title,
        rec.text,
        rec.start,
        rec.end,
        score,
        fused,
        rec.date,
        page=rec.page,
        meta=dict(rec.meta),
        collection=rec.collection,
    )
