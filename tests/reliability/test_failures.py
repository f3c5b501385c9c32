"""Failure of a part: a generator that cannot load or crashes mid-answer, a corrupt or missing FAISS file, a corrupt
catalog — each a clear error (or a rebuild), never a hung request or a silently empty index."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from index import CorruptIndexError
from rag import cli
from rag.errors import ModelError
from rag.ingest import ingest_paths
from rag.models.generator import ChatMessage
from tests.api.helpers import Harness, api_settings, ingest_seed, parse_sse, quote_first_evidence
from tests.conftest import HEADLINE, FakeModelLoads, build_fake_engine
from tests.fakes import ScriptedGenerator
from tests.reliability.crash import PYTHON, faiss_is_stale, fake_engine, make_corpus, open_store

ASK = {"question": HEADLINE}


class CrashingGenerator:
    """Yields a few words, then fails like a model running out of memory."""

    model_id = "crashing-generator"

    def __init__(self, exc: BaseException, after: int = 3) -> None:
        self.exc = exc
        self.after = after

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        for i in range(self.after):
            yield f" word{i}"
        raise self.exc


def _error(response_json: dict[str, object]) -> dict[str, str]:
    error = response_json["error"]
    assert isinstance(error, dict) and error["type"] and error["message"]
    return error


# ---------------------------------------------------------------- the generator


def test_a_generator_that_cannot_load_is_a_clear_503_not_a_hang(tmp_path: Path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    engine = build_fake_engine(api_settings(tmp_path / "data", generator=str(empty)))
    try:
        ingest_seed(engine)
        engine.generator = None  # as if the lifespan had not loaded it: it is loaded on first use, and fails
        with TestClient(create_app(engine.settings, engine)) as client:
            _check_generator_failure(client, empty)
    finally:
        engine.close()


def _check_generator_failure(client: TestClient, empty: Path) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "generator" in _error(ready.json())["message"]
    started = time.monotonic()
    asked = client.post("/v1/ask", json=ASK)
    assert time.monotonic() - started < 10
    assert asked.status_code == 503
    error = _error(asked.json())
    assert error["type"] == "model_error" and "no weight files" in error["message"] and str(empty) in error["message"]
    streamed = parse_sse(client.post("/v1/ask/stream", json=ASK).text)
    assert streamed[-1].event == "error" and streamed[-1].data["error"]["type"] == "model_error"
    assert client.get("/v1/search", params={"q": "Seoul"}).status_code == 200  # the rest still works


def test_a_model_that_fails_to_load_at_startup_stops_the_app_with_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    app = create_app(api_settings(tmp_path / "data", embedder=str(empty)))
    with pytest.raises(ModelError, match="no weight files"), TestClient(app):
        pass


@pytest.mark.slow
def test_ragqa_serve_with_a_broken_generator_exits_with_the_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    env = {**os.environ, "RAGQA_GENERATOR": str(empty), "RAGQA_DATA_DIR": str(tmp_path / "data")}
    ragqa = str(Path(PYTHON).with_name("ragqa"))
    done = subprocess.run(
        [ragqa, "serve", "--port", "0"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert "no weight files" in done.stderr and "Application startup failed" in done.stderr


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (RuntimeError("CUDA out of memory"), 500, "internal_error"),
        (ModelError("the model crashed"), 503, "model_error"),
    ],
)
def test_a_generator_crashing_mid_answer_is_a_clear_error(
    harness: Harness, exc: BaseException, status: int, kind: str
) -> None:
    engine = harness.engine(generator=CrashingGenerator(exc))
    client = harness.client(engine)
    started = time.monotonic()
    asked = client.post("/v1/ask", json=ASK)
    assert time.monotonic() - started < 10
    assert asked.status_code == status
    error = _error(asked.json())
    assert error["type"] == kind
    if kind == "internal_error":
        assert error["message"] == "internal server error"  # no details leave the server

    events = parse_sse(client.post("/v1/ask/stream", json=ASK).text)
    names = [e.event for e in events]
    assert names[0] == "passages" and names[-1] == "error" and "done" not in names and "answer" not in names
    assert events[-1].data["error"]["type"] == kind

    chat = client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": HEADLINE}], "stream": True}
    )
    lines = [line for line in chat.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]" and '"error"' in lines[-2]

    engine.generator = ScriptedGenerator(quote_first_evidence)  # the worker pool survived the crashes
    assert client.post("/v1/ask", json=ASK).status_code == 200


# ---------------------------------------------------------------- the FAISS file


@pytest.fixture
def indexed(tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    engine = fake_engine(data_dir)
    try:
        summary = ingest_paths(engine, [make_corpus(tmp_path / "corpus", range(12), 1)], progress=False)
        assert not summary.failed
    finally:
        engine.close()
    assert not faiss_is_stale(data_dir)
    return data_dir


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage" * 500)


def _flip_tail(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-64:] = bytes(64)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: _garbage(d / "vectors.faiss"), id="garbage-faiss"),
        pytest.param(lambda d: _flip_tail(d / "vectors.faiss"), id="flipped-faiss"),
        pytest.param(lambda d: (d / "vectors.faiss").unlink(), id="missing-faiss"),
        pytest.param(lambda d: (d / "manifest.json").unlink(), id="missing-manifest"),
        pytest.param(lambda d: (d / "manifest.json").write_text("{not json"), id="corrupt-manifest"),
    ],
)
def test_a_corrupt_or_missing_faiss_file_is_rebuilt_on_start(
    indexed: Path, damage: Callable[[Path], None], caplog: pytest.LogCaptureFixture, harness: Harness
) -> None:
    damage(indexed)
    caplog.set_level(logging.WARNING, logger="index.store")
    engine = fake_engine(indexed)
    try:
        assert any("rebuilding the vector index" in r.getMessage() for r in caplog.records)
        assert engine.store.verify().ok
        stats = engine.store.stats()
        assert stats.documents == 12 and stats.vectors == stats.chunks > 0
        with TestClient(create_app(api_settings(indexed), engine)) as client:
            found = client.get("/v1/search", params={"q": "d005v1", "k": 1}).json()["passages"]
            assert found[0]["source"] == "doc005.txt"
    finally:
        engine.close()
    assert not faiss_is_stale(indexed)  # written back on close
    with open_store(indexed) as store:
        assert store.verify().ok  # includes the manifest/sha256 check of the rewritten file


def test_the_cli_rebuilds_a_damaged_faiss_file(
    indexed: Path, fake_models: FakeModelLoads, capsys: pytest.CaptureFixture[str]
) -> None:
    _garbage(indexed / "vectors.faiss")
    assert cli.main(["index", "verify", "--data-dir", str(indexed)]) == 0
    assert capsys.readouterr().out.startswith("verify ok:")


# ---------------------------------------------------------------- the catalog


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _damage_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(8192, len(data) - 4096, 4096):
        data[offset + 100 : offset + 200] = b"\xff" * 100
    path.write_bytes(bytes(data))


def _other_database(path: Path) -> None:
    path.unlink()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.commit()
    conn.close()


CATALOG_DAMAGE = [
    pytest.param(
        lambda p: p.write_bytes(b"this is not a database " * 200), "not a valid SQLite database", id="garbage"
    ),
    pytest.param(_truncate, "not a valid SQLite database", id="truncated"),
    pytest.param(_damage_pages, "is corrupt", id="damaged-pages"),
    pytest.param(_other_database, "is not a ragqa index", id="another-database"),
]


def _checkpointed(data_dir: Path) -> Path:
    """The catalog with its WAL folded in (so damaging the file damages the data)."""
    catalog = data_dir / "catalog.sqlite3"
    conn = sqlite3.connect(catalog)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        (data_dir / f"catalog.sqlite3{suffix}").unlink(missing_ok=True)
    return catalog


@pytest.mark.parametrize(("damage", "expected"), CATALOG_DAMAGE)
def test_a_corrupt_catalog_is_a_clear_error_naming_the_file(
    indexed: Path,
    damage: Callable[[Path], None],
    expected: str,
    fake_models: FakeModelLoads,
    capsys: pytest.CaptureFixture[str],
) -> None:
    catalog = _checkpointed(indexed)
    damage(catalog)
    with pytest.raises(CorruptIndexError) as caught:
        fake_engine(indexed)
    assert str(catalog) in str(caught.value) and expected in str(caught.value)

    for argv in (["index", "stats"], ["index", "verify"], ["search", "harbour"], ["ingest", str(indexed)]):
        capsys.readouterr()
        assert cli.main([*argv, "--data-dir", str(indexed)]) == 1, argv
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: catalog {catalog}") and expected in lines[0], lines


@pytest.mark.slow
def test_the_real_cli_names_a_corrupt_catalog(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    catalog = data_dir / "catalog.sqlite3"
    catalog.write_bytes(b"this is not a database " * 200)
    ragqa = str(Path(PYTHON).with_name("ragqa"))
    done = subprocess.run(
        [ragqa, "index", "stats", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: catalog {catalog} is not a valid SQLite database")
    shutil.rmtree(data_dir)
