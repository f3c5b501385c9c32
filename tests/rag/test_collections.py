"""Collections in one store: the same source in two collections, shared content, deletion in one only, retrieval
scoped to one, and ``--collection`` on the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index import ChunkFilter
from rag import cli
from rag.collections import collection_name, in_collection, scoped_engine
from rag.documents import load_text
from rag.engine import Engine
from rag.errors import BadInputError
from rag.ingest import ingest_document, remove_document
from rag.retrieval import retrieve
from tests.conftest import FakeModelLoads

SAME = "Shared memo\nThe ferry timetable changes in spring for every island route."


def add(engine: Engine, source: str, text: str, collection: str) -> str:
    with engine.store.writer():
        return ingest_document(engine, load_text(text, source=source), collection=collection).status


def test_same_source_in_two_collections_shares_content(fake_engine: Engine) -> None:
    store = fake_engine.store
    assert add(fake_engine, "memo.txt", SAME, "a") == "added"
    assert add(fake_engine, "memo.txt", SAME, "b") == "added"
    assert add(fake_engine, "other.txt", "Other memo\nThe ferry is cancelled in storms.", "b") == "added"
    stats = store.stats()
    assert stats.documents == 3 and stats.contents == 2  # the identical text is stored once
    assert store.collections() == {"a": 1, "b": 2}
    assert {d.source for d in store.list_documents("b")} == {"memo.txt", "other.txt"}
    assert {(d.collection, d.source) for d in store.list_documents(None)} == {
        ("a", "memo.txt"),
        ("b", "memo.txt"),
        ("b", "other.txt"),
    }
    passages = retrieve(fake_engine, "ferry storms timetable", k=10, filters=in_collection(None, "a")).passages
    assert passages and {(p.collection, p.source) for p in passages} == {("a", "memo.txt")}
    remove_document(fake_engine, "memo.txt", "a")
    assert store.stats().contents == 2  # still used by b
    assert retrieve(fake_engine, "ferry timetable", k=10, filters=in_collection(None, "a")).passages == []
    assert {p.source for p in retrieve(fake_engine, "ferry timetable", k=10, filters=in_collection(None, "b")).passages}
    assert store.verify().ok


def test_scoped_engine_reads_its_collection(fake_engine: Engine) -> None:
    add(fake_engine, "memo.txt", SAME, "a")
    add(fake_engine, "memo.txt", "Default memo\nSomething else entirely.", "default")
    scoped = scoped_engine(fake_engine, "a")
    assert scoped.store.document_text("memo.txt") == SAME
    assert scoped.store.get_document("memo.txt").collection == "a"
    assert fake_engine.store.document_text("memo.txt").startswith("Default memo")
    assert scoped_engine(fake_engine, "default") is fake_engine
    assert collection_name(None) == "default"
    for bad in ("", "../x", "a b", "-x"):
        with pytest.raises(BadInputError, match="bad collection name"):
            collection_name(bad)
    with pytest.raises(BadInputError, match="bad collection name"):
        in_collection(ChunkFilter(), "a/b")


def test_cli_collection_everywhere(
    fake_models: FakeModelLoads, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "data")
    a = tmp_path / "a"
    a.mkdir()
    (a / "alpha.txt").write_text("Alpha memo\nThe Alphaville harbour has twelve cranes.")
    b = tmp_path / "b"
    b.mkdir()
    (b / "beta.txt").write_text("Beta memo\nThe Betatown harbour has forty cranes.")
    assert cli.main(["ingest", str(a), "--collection", "a", "--data-dir", data]) == 0
    assert cli.main(["sync", str(b), "--collection", "b", "--data-dir", data]) == 0
    capsys.readouterr()

    def search(*extra: str) -> set[str]:
        assert cli.main(["search", "harbour cranes", "--json", "--data-dir", data, *extra]) == 0
        return {p["source"] for p in json.loads(capsys.readouterr().out)["passages"]}

    assert search("--collection", "a") == {"alpha.txt"}
    assert search("--collection", "b") == {"beta.txt"}
    assert search() == set()  # the default collection is empty
    assert (
        cli.main(
            ["ask", "How many cranes has the Betatown harbour?", "--json", "--collection", "a", "--data-dir", data]
        )
        == 0
    )
    answer = json.loads(capsys.readouterr().out)
    assert all(c["source"] == "alpha.txt" for c in answer["citations"])
    assert "forty" not in answer["answer"]
    assert cli.main(["index", "stats", "--json", "--data-dir", data]) == 0
    assert json.loads(capsys.readouterr().out)["collections"] == {"a": 1, "b": 1}
    assert cli.main(["delete", "beta.txt", "--data-dir", data]) == 1
    assert "no document 'beta.txt'" in capsys.readouterr().err
    assert cli.main(["delete", "beta.txt", "--collection", "b", "--data-dir", data]) == 0
    assert "deleted beta.txt from collection b" in capsys.readouterr().out
    assert cli.main(["search", "x", "--collection", "no/pe", "--data-dir", data]) == 1
    assert capsys.readouterr().err.startswith("error: bad collection name")


def test_filtered_bm25_is_the_unfiltered_ranking_restricted(fake_engine: Engine) -> None:
    for n in range(12):
        add(fake_engine, f"d{n}.txt", f"Memo {n}\nThe harbour ferry {'storm ' * (n % 4)}timetable {n}.", "ab"[n % 2])
    store = fake_engine.store
    everything = store.bm25_search("harbour storm ferry", 100, None)
    for collection in "ab":
        filters = ChunkFilter(collection=collection)
        mine = {cid for cid, rec in store.chunks([h.chunk_id for h in everything], filters).items()}
        expected = [h for h in everything if h.chunk_id in mine][:3]
        got = store.bm25_search("harbour storm ferry", 3, filters)
        # Same scores in the same order (ties may come in another order), only chunks of the collection.
        assert [round(h.score, 9) for h in got] == [round(h.score, 9) for h in expected]
        assert {h.chunk_id for h in got} <= mine and len(got) == 3
