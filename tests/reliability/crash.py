"""The kill -9 harness (used by ``test_kill9.py`` and ``bench/reliability/kill9.py``).

A trial: (optionally) index an older version of half the corpus, start an ingest of the corpus in another process,
SIGKILL it at a random moment (after a random number of reported commits plus a few ms, or at a random time after
the start), then reopen the index and check it. Every sentence of a document version carries a token unique to
that version (``d007v2``), so full-text search finds exactly that version's chunks.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from index import IndexStore, Store, content_hash
from rag.documents import load_path
from rag.engine import Engine
from rag.ingest import ingest_paths
from rag.settings import Settings
from rag.text import chunk_text
from tests.fakes import HashEmbedder

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
DIMENSION = 64

_VOCAB = (
    "council",
    "harbour",
    "budget",
    "river",
    "tunnel",
    "school",
    "museum",
    "railway",
    "market",
    "festival",
    "bridge",
    "library",
    "clinic",
    "orchard",
    "factory",
    "airport",
    "stadium",
    "archive",
    "garden",
    "ferry",
    "reservoir",
    "station",
    "tower",
    "canal",
    "village",
)
_VERBS = (
    "approved",
    "delayed",
    "reviewed",
    "funded",
    "opened",
    "expanded",
    "inspected",
    "questioned",
    "praised",
    "closed",
)


def document_text(n: int, version: int) -> str:
    """A small article: title line, 3–5 paragraphs of 3–4 sentences; every sentence names the version token."""
    rng = random.Random(n * 1000 + version)
    token = f"d{n:03d}v{version}"
    lines = [f"Report {n} on the {rng.choice(_VOCAB)} ({token})", ""]
    for _ in range(rng.randint(3, 5)):
        sentences = []
        for _ in range(rng.randint(3, 4)):
            words = " ".join(rng.choice(_VOCAB) for _ in range(rng.randint(5, 9)))
            sentences.append(f"The {rng.choice(_VOCAB)} {rng.choice(_VERBS)} {words} in {token}.")
        lines += [" ".join(sentences), ""]
    return "\n".join(lines)


def make_corpus(folder: Path, numbers: range, version: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        (folder / f"doc{n:03d}.txt").write_text(document_text(n, version), encoding="utf-8")
    return folder


@dataclass(frozen=True)
class Version:
    token: str
    chunks: int


def expected_versions(folders: list[Path], settings: Settings) -> dict[str, dict[str, Version]]:
    """source → {content hash → (token, number of chunks)} for every version in ``folders``."""
    out: dict[str, dict[str, Version]] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.txt")):
            doc = load_path(path, path.name)
            token = re.search(r"\((d\d{3}v\d+)\)", doc.text)
            assert token is not None
            n = len(chunk_text(doc.text, settings.chunk_max_words, settings.chunk_overlap_sentences))
            out.setdefault(path.name, {})[content_hash(doc.text)] = Version(token.group(1), n)
    return out


def fake_engine(data_dir: Path) -> Engine:
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    emb = HashEmbedder(DIMENSION)
    store = IndexStore.open(data_dir, embedder_id=emb.model_id, embedder_checksum=emb.checksum, dimension=DIMENSION)
    return Engine(settings=settings, store=store, embedder=emb)


def catalog_meta(data_dir: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{data_dir / 'catalog.sqlite3'}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()


def _has_meta(data_dir: Path) -> bool:
    try:
        return bool(catalog_meta(data_dir))
    except sqlite3.OperationalError:
        return False


def faiss_is_stale(data_dir: Path) -> bool:
    """True when manifest.json is missing or describes another catalog generation (open() must rebuild)."""
    try:
        manifest = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return int(manifest.get("generation", -1)) != int(catalog_meta(data_dir)["generation"])


def open_store(data_dir: Path) -> IndexStore:
    meta = catalog_meta(data_dir)
    return IndexStore.open(
        data_dir,
        embedder_id=meta["embedder_id"],
        embedder_checksum=meta.get("embedder_checksum", ""),
        dimension=int(meta["dimension"]),
        create=False,
    )


def check_index(
    data_dir: Path,
    expected: dict[str, dict[str, Version]],
    reported: dict[str, str],
) -> list[str]:
    """Problems found in the index at ``data_dir`` (empty list = consistent).

    ``reported``: source → content hash of every document whose commit the ingest reported before it died.
    """
    with open_store(data_dir) as store:
        return check_store(store, expected, reported)


def check_store(store: Store, expected: dict[str, dict[str, Version]], reported: dict[str, str]) -> list[str]:
    """``check_index`` on an open store of either kind (FAISS or Milvus)."""
    problems: list[str] = []
    report = store.verify()
    problems += [f"verify: {p}" for p in report.problems]
    stats = store.stats()
    if stats.vectors != stats.chunks:
        problems.append(f"FAISS holds {stats.vectors} vectors, the catalog {stats.chunks} chunks")
    docs = {d.source: d for d in store.list_documents()}
    for source, digest in reported.items():
        if source not in docs:
            problems.append(f"{source}: reported committed but missing")
        elif docs[source].content_hash != digest:
            problems.append(f"{source}: reported committed but holds another version")
    present_hashes = {d.content_hash for d in docs.values()}
    for source, versions in expected.items():
        for digest, version in versions.items():
            hits = store.bm25_search(version.token, 500)
            records = store.chunks([h.chunk_id for h in hits])
            if digest not in present_hashes:
                if hits:
                    problems.append(f"{source} {version.token}: absent, yet {len(hits)} chunks are searchable")
                continue
            if len(hits) != version.chunks or {r.source for r in records.values()} != {source}:
                problems.append(
                    f"{source} {version.token}: full-text search finds {len(hits)} chunks of "
                    f"{sorted({r.source for r in records.values()})}, expected {version.chunks} of {source}"
                )
    for source, doc in docs.items():
        version = expected.get(source, {}).get(doc.content_hash)
        if version is None:
            problems.append(f"{source}: holds content that no corpus version has")
            continue
        if doc.n_chunks != version.chunks:
            problems.append(f"{source}: {doc.n_chunks} chunks, expected {version.chunks}")
        stored = store.content_embeddings(doc.content_hash) or []
        if len(stored) != version.chunks:
            problems.append(f"{source}: {len(stored)} stored embeddings, expected {version.chunks}")
            continue
        for chunk in (stored[0], stored[-1]):
            top = store.dense_search(chunk.embedding, 1)
            where = store.chunks([top[0].chunk_id]) if top else {}
            if not top or top[0].score < 0.999 or [r.source for r in where.values()] != [source]:
                problems.append(f"{source}: dense search for its own chunk does not find it ({top[:1]})")
                break
    return problems


@dataclass
class TrialResult:
    ok: bool
    problems: list[str]
    kill: str
    reported: int
    present: int
    stale_faiss: bool
    resumed_ok: bool | None  # None: not resumed (CLI mode)
    seconds: float
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        state = "ok" if self.ok else "FAILED"
        return (
            f"{state}: killed {self.kill}; {self.reported} reported, {self.present} present; "
            f"FAISS {'stale → rebuilt' if self.stale_faiss else 'current'}; "
            f"resume {_RESUME[self.resumed_ok]} ({self.seconds:.1f}s)"
        )


_RESUME = {True: "ok", False: "FAILED", None: "not tried"}
_COMMIT_DRIVER = re.compile(r"^committed\t(.+?)\t(added|replaced|unchanged)$")
_COMMIT_CLI = re.compile(r"^INFO index\.store: (added|replaced) (.+?) \(\d+ new chunks")


def _command(mode: str, data_dir: Path, corpus: Path) -> tuple[list[str], bool]:
    """The ingest command, and whether its commit lines come on stderr."""
    if mode == "cli":
        ragqa = str(Path(PYTHON).with_name("ragqa"))
        return [ragqa, "ingest", "-v", "--data-dir", str(data_dir), str(corpus)], True
    return [PYTHON, "-m", "tests.reliability.ingest_driver", str(data_dir), str(corpus)], False


def run_trial(
    workdir: Path,
    rng: random.Random,
    *,
    old: Path | None,
    new: Path,
    expected: dict[str, dict[str, Version]],
    mode: str = "driver",
) -> TrialResult:
    """One kill -9 trial in ``workdir`` (must be empty). ``old``: a corpus indexed first (driver mode only)."""
    started = time.perf_counter()
    data_dir = workdir / "data"
    if old is not None:
        engine = fake_engine(data_dir)
        try:
            ingest_paths(engine, [old], progress=False)
        finally:
            engine.close()
    new_hash = {path.name: content_hash(load_path(path, path.name).text) for path in new.glob("*.txt")}

    n_docs = len(new_hash)
    if rng.random() < 0.7:
        after_commits = rng.randint(0, n_docs)
        delay = rng.uniform(0.0, 0.02)
        kill_at: float | None = None
        kill = f"after {after_commits} reported commits + {delay * 1000:.0f} ms"
    else:
        after_commits = -1
        delay = 0.0
        kill_at = rng.uniform(0.2, 1.6 if mode == "driver" else 12.0)
        kill = f"{kill_at:.2f} s after start"

    cmd, on_stderr = _command(mode, data_dir, new)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL if on_stderr else subprocess.PIPE,
        stderr=subprocess.PIPE if on_stderr else subprocess.DEVNULL,
        text=True,
    )
    stream = proc.stderr if on_stderr else proc.stdout
    assert stream is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    reported: dict[str, str] = {}
    pattern = _COMMIT_CLI if on_stderr else _COMMIT_DRIVER

    def take(line: str) -> None:
        m = pattern.match(line)
        if m:
            source = m.group(2) if on_stderr else m.group(1)
            reported[source] = new_hash[source]

    eof = False
    deadline = time.monotonic() + (kill_at if kill_at is not None else 120.0)
    while not eof:
        if kill_at is None and len(reported) >= after_commits:
            time.sleep(delay)
            break
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            break
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            break
        if line is None:
            eof = True
        else:
            take(line)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    else:
        kill += " (it had already finished)"
    proc.wait()
    reader.join(timeout=10)
    while True:  # lines printed before it died are in the pipe: those documents had committed too
        try:
            line = lines.get_nowait()
        except queue.Empty:
            break
        if line is not None:
            take(line)

    # Killed while creating the catalog: the file may exist before its schema transaction committed.
    created = (data_dir / "catalog.sqlite3").exists() and _has_meta(data_dir)
    stale = faiss_is_stale(data_dir) if created else False
    if not created:
        problems = [] if not reported else ["no catalog, yet commits were reported"]
        present = 0
    else:
        problems = check_index(data_dir, expected, reported)
        with open_store(data_dir) as store:
            present = store.stats().documents
    resumed_ok: bool | None = None
    if mode == "driver" and not problems:
        engine = fake_engine(data_dir)
        try:
            summary = ingest_paths(engine, [new], progress=False)
            docs = {d.source: d.content_hash for d in engine.store.list_documents()}
        finally:
            engine.close()
        resume_problems = [] if not summary.failed else [f"resume failed: {summary.failed}"]
        if docs != new_hash:
            resume_problems.append("after resuming, the index does not hold exactly the new corpus")
        resume_problems += check_index(data_dir, expected, new_hash)
        if faiss_is_stale(data_dir):
            resume_problems.append("after a clean resume, vectors.faiss is still stale")
        resumed_ok = not resume_problems
        problems += resume_problems
    return TrialResult(
        ok=not problems,
        problems=problems,
        kill=kill,
        reported=len(reported),
        present=present,
        stale_faiss=stale,
        resumed_ok=resumed_ok,
        seconds=time.perf_counter() - started,
    )
