"""Metadata: from front matter, ``--meta`` and the API body; stored, returned with documents and passages, and
used as filters (equality and ``in``) in search, ask and chat, from the CLI (``--where``) and the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index import ChunkFilter
from rag import cli
from rag.documents import load_text
from rag.engine import Engine
from rag.errors import BadInputError
from rag.filters import meta_condition, parse_meta, parse_where
from rag.ingest import ingest_document
from rag.retrieval import retrieve
from tests.conftest import FakeModelLoads

DOCS = {
    "risk.md": ("---\nteam: risk\nyear: 2024\n---\n# Risk memo\n\nThe harbour budget rose by ten percent.", {}),
    "ops.txt": ("Ops memo\nThe harbour budget fell for the ferry crews.", {"team": "ops", "year": "2024"}),
    "legal.txt": ("Legal memo\nThe harbour budget needs a contract review.", {"team": "legal", "year": "2023"}),
}


def fill(engine: Engine) -> None:
    with engine.store.writer():
        for source, (text, meta) in DOCS.items():
            fmt = "md" if source.endswith(".md") else "txt"
            ingest_document(engine, load_text(text, source=source, fmt=fmt, meta=meta))


def sources(engine: Engine, filters: ChunkFilter | None) -> set[str]:
    return {p.source for p in retrieve(engine, "harbour budget", k=10, filters=filters).passages}


def test_filter_conditions_parse_and_reject() -> None:
    assert parse_where(["team=risk", "team=ops", "year=2024"]) == (("team", ("risk", "ops")), ("year", ("2024",)))
    assert meta_condition({"team": ["risk", "ops"]}) == (("team", ("risk", "ops")),)
    assert parse_meta(["team=risk", "note=a=b"]) == {"team": "risk", "note": "a=b"}
    for bad in (["team"], ["=x"]):
        with pytest.raises(BadInputError, match="expected key=value"):
            parse_where(bad)
    with pytest.raises(BadInputError, match="bad metadata key"):
        meta_condition({'te"am': "x"})
    with pytest.raises(BadInputError, match="empty list"):
        meta_condition({"team": []})


def test_metadata_is_stored_and_filters_search(fake_engine: Engine) -> None:
    fill(fake_engine)
    assert fake_engine.store.get_document("risk.md").meta == {
        "format": "md",
        "team": "risk",
        "year": "2024",
    }
    assert sources(fake_engine, None) == set(DOCS)
    assert sources(fake_engine, ChunkFilter(meta=(("team", ("risk",)),))) == {"risk.md"}
    assert sources(fake_engine, ChunkFilter(meta=(("team", ("risk", "ops")),))) == {"risk.md", "ops.txt"}
    both = ChunkFilter(meta=(("team", ("risk", "legal")), ("year", ("2024",))))
    assert sources(fake_engine, both) == {"risk.md"}
    assert sources(fake_engine, ChunkFilter(meta=(("team", ("nobody",)),))) == set()
    assert sources(fake_engine, ChunkFilter(meta=(("missing", ("x",)),))) == set()
    passages = retrieve(fake_engine, "harbour budget", k=10, filters=ChunkFilter(meta=(("team", ("ops",)),))).passages
    assert passages[0].meta["team"] == "ops"
    # BM25 alone and dense alone obey the filter too.
    filters = ChunkFilter(meta=(("team", ("legal",)),))
    assert {
        fake_engine.store.chunks([h.chunk_id])[h.chunk_id].source
        for h in fake_engine.store.bm25_search("harbour", 10, filters)
    } == {"legal.txt"}
    vec = fake_engine.embedder.embed_query("harbour budget")
    assert {
        fake_engine.store.chunks([h.chunk_id])[h.chunk_id].source
        for h in fake_engine.store.dense_search(vec, 10, filters)
    } == {"legal.txt"}


def test_changed_metadata_updates_the_document_without_new_chunks(fake_engine: Engine) -> None:
    fill(fake_engine)
    chunks_before = fake_engine.store.stats().chunks
    risk = ChunkFilter(meta=(("team", ("risk",)),))
    vec = fake_engine.embedder.embed_query("harbour budget")
    assert {
        fake_engine.store.chunks([h.chunk_id])[h.chunk_id].source for h in fake_engine.store.dense_search(vec, 10, risk)
    } == {"risk.md"}
    text, _ = DOCS["ops.txt"]
    with fake_engine.store.writer():
        assert (
            ingest_document(fake_engine, load_text(text, source="ops.txt", meta={"team": "ops", "year": "2024"})).status
            == "unchanged"
        )
        assert (
            ingest_document(fake_engine, load_text(text, source="ops.txt", meta={"team": "risk"})).status == "replaced"
        )
    assert fake_engine.store.get_document("ops.txt").meta["team"] == "risk"
    assert fake_engine.store.stats().chunks == chunks_before
    assert sources(fake_engine, ChunkFilter(meta=(("team", ("risk",)),))) == {"risk.md", "ops.txt"}
    # The allowed ids of a filter are cached per catalog generation: the change is seen at once.
    assert {
        fake_engine.store.chunks([h.chunk_id])[h.chunk_id].source for h in fake_engine.store.dense_search(vec, 10, risk)
    } == {"risk.md", "ops.txt"}


def test_cli_meta_and_where(fake_models: FakeModelLoads, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Harbour memo\nThe harbour budget rose.")
    (tmp_path / "b.txt").write_text("Second memo\nThe harbour budget fell.")
    data = str(tmp_path / "data")
    assert cli.main(["ingest", str(folder), "--meta", "team=risk", "--data-dir", data]) == 0
    assert cli.main(["ingest", str(tmp_path / "b.txt"), "--meta", "team=ops", "--data-dir", data]) == 0
    capsys.readouterr()
    assert cli.main(["search", "harbour budget", "--json", "--where", "team=risk", "--data-dir", data]) == 0
    passages = json.loads(capsys.readouterr().out)["passages"]
    assert {p["source"] for p in passages} == {"a.txt"} and passages[0]["meta"]["team"] == "risk"
    assert (
        cli.main(
            ["search", "harbour budget", "--json", "--where", "team=risk", "--where", "team=ops", "--data-dir", data]
        )
        == 0
    )
    assert {p["source"] for p in json.loads(capsys.readouterr().out)["passages"]} == {"a.txt", "b.txt"}
    assert cli.main(["ask", "Did the harbour budget fall?", "--json", "--where", "team=ops", "--data-dir", data]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert {c["source"] for c in answer["citations"]} <= {"b.txt"}
    assert cli.main(["search", "harbour", "--where", "team", "--data-dir", data]) == 1
    assert capsys.readouterr().err.startswith("error: --where 'team': expected key=value")
    assert cli.main(["ingest", str(folder), "--meta", "bad key=x", "--data-dir", data]) == 1
    assert "error: bad metadata key" in capsys.readouterr().err
