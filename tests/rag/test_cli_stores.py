"""``ragqa index copy|stats|verify --repair`` across the two stores (FAISS data dir ↔ Milvus), in-process CLI with
the fake models; Milvus is the session's ``milvus-lite server``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.settings import get_settings
from tests.conftest import FakeModelLoads
from tests.milvus import MilvusServer, unique_prefix
from tests.rag.test_cli import data_dir, run  # noqa: F401  (the fixture: two articles in a FAISS data dir)


def use_milvus(monkeypatch: pytest.MonkeyPatch, server: MilvusServer, prefix: str) -> None:
    monkeypatch.setenv("RAGQA_STORE", "milvus")
    monkeypatch.setenv("RAGQA_MILVUS_URI", server.uri)
    monkeypatch.setenv("RAGQA_MILVUS_COLLECTION_PREFIX", prefix)
    get_settings.cache_clear()


def test_index_copy_faiss_to_milvus_and_back(
    data_dir: str,  # noqa: F811
    tmp_path: Path,
    milvus_server: MilvusServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = unique_prefix("cli")
    try:
        rc, out, err = run(
            capsys, "index", "copy", "--to", milvus_server.uri, "--to-prefix", prefix, "--data-dir", data_dir
        )
        assert rc == 0, err
        assert out.startswith("copied 2 documents (") and "added 2" in out
        rc, faiss_stats, _ = run(capsys, "index", "stats", "--json", "--data-dir", data_dir)

        use_milvus(monkeypatch, milvus_server, prefix)
        rc, out, _ = run(capsys, "index", "stats", "--json")
        assert rc == 0
        stats = json.loads(out)
        want = json.loads(faiss_stats)
        assert (stats["documents"], stats["chunks"], stats["embedder_id"]) == (
            want["documents"],
            want["chunks"],
            want["embedder_id"],
        )
        rc, out, _ = run(capsys, "search", "When do storms close the harbour?", "--json", "-k", "1")
        assert rc == 0 and json.loads(out)["passages"][0]["source"] == "harbour.txt"
        rc, out, _ = run(capsys, "index", "verify", "--repair")
        assert (rc, out.strip()) == (0, f"verify ok: {want['chunks']} chunks checked")
        rc, out, _ = run(capsys, "index", "rebuild")
        assert rc == 0 and out.startswith("rebuilt: ")
        back = tmp_path / "back"
        rc, out, err = run(capsys, "index", "copy", "--to", str(back))
        assert rc == 0, err
        assert "copied 2 documents" in out
        rc, out, err = run(capsys, "delete", "orphard.txt")
        assert rc == 1 and err.startswith("error: no document 'orphard.txt'")
        rc, out, err = run(capsys, "delete", "orchard.txt")
        assert rc == 0
        rc, out, _ = run(capsys, "index", "stats", "--json")
        assert json.loads(out)["documents"] == 1

        monkeypatch.setenv("RAGQA_STORE", "faiss")
        get_settings.cache_clear()
        rc, out, _ = run(capsys, "index", "stats", "--json", "--data-dir", str(back))
        assert (json.loads(out)["documents"], json.loads(out)["chunks"]) == (want["documents"], want["chunks"])
        rc, out, _ = run(capsys, "index", "verify", "--repair", "--data-dir", str(back))
        assert rc == 0 and "verify ok" in out
    finally:
        milvus_server.drop(prefix)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["index", "copy"], "error: index copy needs --to URI"),
        (["index", "copy", "--to", "{data}"], "error: --to {data}: that is the index being copied"),
    ],
)
def test_index_copy_usage_errors(
    data_dir: str,  # noqa: F811
    fake_models: FakeModelLoads,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    before = run(capsys, "index", "stats", "--json", "--data-dir", data_dir)[1]
    rc, out, err = run(capsys, *[a.format(data=data_dir) for a in argv], "--data-dir", data_dir)
    assert rc == 1 and out == ""
    assert err.startswith(message.format(data=data_dir)) and err.count("\n") == 1
    assert run(capsys, "index", "stats", "--json", "--data-dir", data_dir)[1] == before


def test_collections_metadata_sync_and_answers_on_milvus(
    fake_models: FakeModelLoads,
    tmp_path: Path,
    milvus_server: MilvusServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The issue-11 features through the CLI with RAGQA_STORE=milvus: --collection, --meta/--where, sync (origin),
    ask scoped to a collection, stats per collection, delete in a collection."""
    prefix = unique_prefix("cli")
    use_milvus(monkeypatch, milvus_server, prefix)
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "a.txt").write_text("Harbour memo\nThe harbour budget rose by a third this year.")
    (folder / "c.txt").write_text("Crane memo\nThe harbour bought two new cranes in spring.")
    (tmp_path / "b.txt").write_text("Second memo\nThe harbour budget fell after the storms.")
    data = ["--data-dir", str(tmp_path / "data")]
    try:
        rc, out, err = run(capsys, "sync", str(folder), "--collection", "papers", "--meta", "team=risk", *data)
        assert rc == 0, err
        rc, out, err = run(capsys, "ingest", str(tmp_path / "b.txt"), "--meta", "team=ops", *data)
        assert rc == 0, err
        rc, out, _ = run(capsys, "index", "stats", "--json", *data)
        assert json.loads(out)["collections"] == {"default": 1, "papers": 2}

        rc, out, _ = run(capsys, "search", "harbour budget", "--json", "--collection", "papers", *data)
        passages = json.loads(out)["passages"]
        assert rc == 0 and passages and {p["source"] for p in passages} <= {"a.txt", "c.txt"}
        assert passages[0]["meta"]["team"] == "risk"
        rc, out, _ = run(capsys, "search", "harbour budget", "--json", "--where", "team=ops", *data)
        assert {p["source"] for p in json.loads(out)["passages"]} == {"b.txt"}
        rc, out, _ = run(capsys, "search", "harbour budget", "--json", "--where", "team=risk", *data)
        assert json.loads(out)["passages"] == []  # the default collection holds no team=risk document
        rc, out, _ = run(capsys, "ask", "Did the harbour budget rise?", "--json", "--collection", "papers", *data)
        answer = json.loads(out)
        assert rc == 0 and answer["citations"] and {c["source"] for c in answer["citations"]} <= {"a.txt", "c.txt"}

        (folder / "c.txt").unlink()  # sync removes only what it added, in its collection
        rc, out, err = run(capsys, "sync", str(folder), "--collection", "papers", "--meta", "team=risk", *data)
        assert rc == 0, err
        rc, out, _ = run(capsys, "index", "stats", "--json", *data)
        assert json.loads(out)["collections"] == {"default": 1, "papers": 1}
        rc, out, err = run(capsys, "delete", "a.txt", *data)
        assert rc == 1 and err.startswith("error: no document 'a.txt'")
        rc, out, err = run(capsys, "delete", "a.txt", "--collection", "papers", *data)
        assert rc == 0, err
        rc, out, _ = run(capsys, "index", "verify", *data)
        assert rc == 0 and out.startswith("verify ok")
    finally:
        milvus_server.drop(prefix)
