"""Hybrid retrieval: RRF fusion, spans, filters, rerank on/off; the seed question with the real models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from index import ChunkFilter
from rag.engine import Engine
from rag.errors import BadInputError
from rag.ingest import ingest_paths
from rag.retrieval import fuse, retrieve
from tests.conftest import HEADLINE, SEED_SOURCE, make_settings

DOCS = {
    "news/harbour.txt": (
        "Harbour news\nThe lighthouse keeper counts ships every morning.\n"
        "Storms close the harbour about ten days a year, and the island ferry stops."
    ),
    "news/orchard.txt": (
        "Orchard news\nThe apple harvest began in September.\nThe cider press opens in October for the village."
    ),
    "blog/rain.md": "# Rain log\n\nStation nine logged forty millimetres of rain. Herons gathered by the river.",
}


def build(make_fake_engine: Callable[..., Engine], tmp_path: Path, **overrides: object) -> Engine:
    folder = tmp_path / "docs"
    for name, text in DOCS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    engine = make_fake_engine(make_settings(tmp_path / "data", **overrides))
    summary = ingest_paths(engine, [folder], progress=False)
    assert not summary.failed
    return engine


# ---------------------------------------------------------------- fusion


def test_fuse_is_weighted_reciprocal_rank() -> None:
    scores = fuse([([1, 2, 3], 1.0), ([3, 4], 0.5)], rrf_k=60)
    assert scores[1] == pytest.approx(1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 0.5 / 61)
    assert scores[4] == pytest.approx(0.5 / 62)
    assert fuse([], 60) == {}
    assert max(scores, key=scores.__getitem__) == 3  # found by both lists beats first in one


def test_fuse_with_zero_weight_ignores_a_list() -> None:
    scores = fuse([([1], 1.0), ([2], 0.0)], rrf_k=10)
    assert scores[2] == 0.0 < scores[1]


# ---------------------------------------------------------------- retrieve, fakes


def test_passages_are_exact_slices_of_their_documents(make_fake_engine: Callable[..., Engine], tmp_path: Path) -> None:
    engine = build(make_fake_engine, tmp_path)
    result = retrieve(engine, "when does the cider press open?", k=3)
    assert result.passages
    assert result.passages[0].source == "news/orchard.txt"
    assert "cider press" in result.passages[0].text
    for p in result.passages:
        assert engine.store.document_text(p.source)[p.start : p.end] == p.text
        assert p.title
    assert result.reranked
    scores = [p.score for p in result.passages]
    assert scores == sorted(scores, reverse=True)
    assert {"dense_s", "bm25_s", "retrieval_s", "rerank_s"} <= set(result.timings)


def test_without_rerank_scores_are_fused_scores(make_fake_engine: Callable[..., Engine], tmp_path: Path) -> None:
    engine = build(make_fake_engine, tmp_path)
    result = retrieve(engine, "lighthouse ships", k=2, rerank=False)
    assert not result.reranked
    assert "rerank_s" not in result.timings
    assert all(p.score == p.fused > 0 for p in result.passages)
    assert result.passages[0].source == "news/harbour.txt"


def test_settings_can_turn_rerank_off(make_fake_engine: Callable[..., Engine], tmp_path: Path) -> None:
    engine = build(make_fake_engine, tmp_path, rerank=False)
    assert not retrieve(engine, "lighthouse ships").reranked
    assert retrieve(engine, "lighthouse ships", rerank=True).reranked  # an explicit request wins


def test_k_limits_the_passages(make_fake_engine: Callable[..., Engine], tmp_path: Path) -> None:
    engine = build(make_fake_engine, tmp_path)
    assert len(retrieve(engine, "the", k=1).passages) == 1
    assert len(retrieve(engine, "news rain harbour orchard", k=50).passages) == engine.store.stats().chunks


def test_source_filter(make_fake_engine: Callable[..., Engine], tmp_path: Path) -> None:
    engine = build(make_fake_engine, tmp_path)
    result = retrieve(engine, "rain herons river lighthouse", k=5, filters=ChunkFilter(source_glob="news/*"))
    assert result.passages
    assert {p.source for p in result.passages} <= {"news/harbour.txt", "news/orchard.txt"}


def test_bm25_only_and_dense_only(make_fake_engine: Callable[..., Engine], tmp_path: Path) -> None:
    sparse = build(make_fake_engine, tmp_path / "a", dense_weight=0.0)
    assert retrieve(sparse, "herons", rerank=False).passages[0].source == "blog/rain.md"
    dense = build(make_fake_engine, tmp_path / "b", bm25_weight=0.0)
    assert retrieve(dense, "herons river rain station", rerank=False).passages[0].source == "blog/rain.md"


def test_no_match_in_an_empty_index(fake_engine: Engine) -> None:
    assert retrieve(fake_engine, "anything at all").passages == []


@pytest.mark.parametrize(("query", "k"), [("", 5), ("   ", 5), ("harbour", 0)])
def test_bad_queries_are_refused(fake_engine: Engine, query: str, k: int) -> None:
    with pytest.raises(BadInputError):
        retrieve(fake_engine, query, k)


# ---------------------------------------------------------------- real models


def test_real_models_put_putins_visit_first_for_the_headline_question(seed_engine: Engine) -> None:
    result = retrieve(seed_engine, HEADLINE, k=5)
    assert result.reranked
    top = result.passages[0]
    assert top.source == SEED_SOURCE
    assert "visit to North Korea" in top.text and "catalyst" in top.text, top.text
    text = seed_engine.store.document_text(SEED_SOURCE)
    for p in result.passages:
        assert text[p.start : p.end] == p.text


def test_real_models_without_rerank_still_find_the_paragraph(seed_engine: Engine) -> None:
    result = retrieve(seed_engine, HEADLINE, k=3, rerank=False)
    assert any("catalyst" in p.text for p in result.passages)


def test_real_embedder_prefers_relevant_text(seed_engine: Engine) -> None:
    emb = seed_engine.embedder
    q = emb.embed_query("Who visited North Korea?")
    docs = emb.embed_documents(["Putin’s visit to North Korea alarmed Seoul.", "Apple harvest in September."])
    assert docs.shape == (2, 384)
    assert float(docs[0] @ q) > float(docs[1] @ q)
