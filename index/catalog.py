"""The SQLite catalog: the source of truth for documents, their text, chunks, embeddings and the FTS5 index.

Callers (``IndexStore``) serialise access to the connection with their own lock; each document write is one
``BEGIN IMMEDIATE … COMMIT`` transaction that also increments ``meta.generation``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from index.errors import CorruptIndexError, InvalidValueError, StorageError
from index.records import ChunkFilter, ChunkRecord, DocumentRecord, NewChunk, page_for

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
DEFAULT_COLLECTION = "default"
REQUIRED_TABLES = frozenset({"meta", "contents", "documents", "chunks", "chunks_fts"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contents (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    content_id INTEGER NOT NULL REFERENCES contents(id),
    date TEXT,
    meta TEXT NOT NULL DEFAULT '{}',
    added_at REAL NOT NULL,
    page_starts TEXT NOT NULL DEFAULT '',
    collection TEXT NOT NULL DEFAULT 'default',
    origin TEXT NOT NULL DEFAULT '',
    UNIQUE (collection, source)
);
CREATE INDEX IF NOT EXISTS documents_content ON documents(content_id);
CREATE INDEX IF NOT EXISTS documents_date ON documents(date);
CREATE INDEX IF NOT EXISTS documents_origin ON documents(collection, origin);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_id INTEGER NOT NULL REFERENCES contents(id),
    ord INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL,
    UNIQUE (content_id, ord)
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

# Schema version 1 → 2: documents get page offsets, a collection (unique per collection + source instead of per
# source) and the folder a sync took them from. SQLite cannot change a UNIQUE constraint in place, so the table is
# rebuilt in one transaction; every existing document lands in the default collection.
_MIGRATE_1_TO_2 = (
    """CREATE TABLE documents_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    content_id INTEGER NOT NULL REFERENCES contents(id),
    date TEXT,
    meta TEXT NOT NULL DEFAULT '{}',
    added_at REAL NOT NULL,
    page_starts TEXT NOT NULL DEFAULT '',
    collection TEXT NOT NULL DEFAULT 'default',
    origin TEXT NOT NULL DEFAULT '',
    UNIQUE (collection, source)
)""",
    "INSERT INTO documents_v2(id, source, title, content_id, date, meta, added_at) "
    "SELECT id, source, title, content_id, date, meta, added_at FROM documents",
    "DROP TABLE documents",
    "ALTER TABLE documents_v2 RENAME TO documents",
    "CREATE INDEX IF NOT EXISTS documents_content ON documents(content_id)",
    "CREATE INDEX IF NOT EXISTS documents_date ON documents(date)",
    "CREATE INDEX IF NOT EXISTS documents_origin ON documents(collection, origin)",
)

_DOC_COLUMNS = """
    d.id, d.source, d.title, c.hash, d.date,
    (SELECT COUNT(*) FROM chunks k WHERE k.content_id = d.content_id),
    length(c.text), d.added_at, d.meta, d.page_starts, d.collection, d.origin
"""


def filter_sql(filters: ChunkFilter | None, alias: str = "d") -> tuple[str, list[Any]]:
    """SQL conditions (``AND …``) on documents aliased ``alias`` for a filter, and their parameters."""
    if filters is None or filters.empty:
        return "", []
    parts: list[str] = []
    params: list[Any] = []
    if filters.source_glob is not None:
        parts.append(f"{alias}.source GLOB ?")
        params.append(filters.source_glob)
    if filters.date_from is not None:
        parts.append(f"{alias}.date IS NOT NULL AND {alias}.date >= ?")
        params.append(filters.date_from)
    if filters.date_to is not None:
        parts.append(f"{alias}.date IS NOT NULL AND {alias}.date <= ?")
        params.append(filters.date_to)
    if filters.collection is not None:
        parts.append(f"{alias}.collection = ?")
        params.append(filters.collection)
    for key, values in filters.meta:
        if not values:
            parts.append("0")
            continue
        marks = ",".join("?" * len(values))
        parts.append(f"json_extract({alias}.meta, ?) IN ({marks})")
        params.append(meta_path(key))
        params.extend(values)
    return "".join(f" AND {p}" for p in parts), params


def meta_path(key: str) -> str:
    """The JSON path of a metadata key, quoted so that any key text stays one path step."""
    if '"' in key or "\\" in key:
        raise InvalidValueError(f"metadata key {key!r} must not contain a quote or a backslash")
    return '$."' + key + '"'


def pages_text(page_starts: Sequence[int]) -> str:
    """Page start offsets as stored in the catalog: comma-separated integers ('' = no pages)."""
    return ",".join(str(int(p)) for p in page_starts)


def parse_pages(text: str | None) -> tuple[int, ...]:
    """The page start offsets stored by ``pages_text``."""
    return tuple(int(p) for p in text.split(",")) if text else ()


def _doc_record(row: Sequence[Any]) -> DocumentRecord:
    return DocumentRecord(
        id=row[0],
        source=row[1],
        title=row[2],
        content_hash=row[3],
        date=row[4],
        n_chunks=row[5],
        n_chars=row[6],
        added_at=row[7],
        meta=json.loads(row[8]) if row[8] else {},
        page_starts=parse_pages(row[9]),
        collection=row[10],
        origin=row[11],
    )


class DocumentRow(NamedTuple):
    """A document's row ids and its content's hash, as an upsert or a delete needs them."""

    doc_id: int
    content_id: int
    content_hash: str


class DocumentFields(NamedTuple):
    """The fields of a document row that a re-ingest of the same text may change."""

    meta_json: str
    page_starts: str
    origin: str


@dataclass
class WriteTransaction:
    """Yielded by ``Catalog.write()``; ``generation`` is the index generation its commit created (0 before)."""

    generation: int = 0


class Catalog:
    """A thin wrapper over one SQLite connection (``check_same_thread=False``; the caller locks)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, created: bool) -> None:
        self.path = path
        self.conn = conn
        self.created = created

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: Path, *, create: bool, embedder_id: str, embedder_checksum: str, dimension: int) -> Catalog:
        """Open (or create) the catalog; ``CorruptIndexError`` naming ``path`` if it is not one."""
        if not path.exists() and not create:
            raise StorageError(f"no index at {path.parent}; run `ragqa ingest` first")
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
            created = False
            if not tables:
                if not create:
                    raise StorageError(f"no index at {path.parent}; run `ragqa ingest` first")
                cls._create_schema(conn, embedder_id, embedder_checksum, dimension)
                created = True
                log.info("created catalog %s", path)
            elif not tables >= REQUIRED_TABLES:
                missing = ", ".join(sorted(REQUIRED_TABLES - tables))
                raise CorruptIndexError(f"catalog {path} is not a ragqa index (missing tables: {missing})")
            else:
                # A damaged page passes the checks above and only fails later reads, with a bare sqlite error.
                check = [str(r[0]) for r in conn.execute("PRAGMA quick_check(1)")]
                if check != ["ok"]:
                    detail = check[0].replace("\n", " ")[:200] if check else "no result"
                    raise CorruptIndexError(f"catalog {path} is corrupt (sqlite quick_check: {detail})")
            catalog = cls(path, conn, created)
            meta = catalog.meta()
            for key in ("schema_version", "embedder_id", "dimension", "generation"):
                if key not in meta:
                    raise CorruptIndexError(f"catalog {path} is not a ragqa index (meta lacks {key})")
            if int(meta["schema_version"]) > SCHEMA_VERSION:
                raise StorageError(
                    f"catalog {path} has schema version {meta['schema_version']}, newer than this ragqa "
                    f"supports ({SCHEMA_VERSION}); upgrade ragqa"
                )
            if int(meta["schema_version"]) < SCHEMA_VERSION:
                catalog._migrate(int(meta["schema_version"]))
            return catalog
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CorruptIndexError(f"catalog {path} is not a valid SQLite database: {exc}") from exc
        except BaseException:
            conn.close()
            raise

    @staticmethod
    def _create_schema(conn: sqlite3.Connection, embedder_id: str, embedder_checksum: str, dimension: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                [
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("embedder_id", embedder_id),
                    ("embedder_checksum", embedder_checksum),
                    ("dimension", str(dimension)),
                    ("generation", "0"),
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _migrate(self, version: int) -> None:
        """Bring an older catalog up to ``SCHEMA_VERSION`` in one transaction (another process may have
        migrated it meanwhile: the version is read again under the write lock)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0])
            if version < 2:
                for statement in _MIGRATE_1_TO_2:
                    self.conn.execute(statement)
            self.conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(max(version, SCHEMA_VERSION)),)
            )
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        if version < SCHEMA_VERSION:
            log.info("migrated catalog %s from schema version %d to %d", self.path, version, SCHEMA_VERSION)

    def close(self) -> None:
        """Close the SQLite connection."""
        self.conn.close()

    # ------------------------------------------------------------------ meta / transactions
    def meta(self) -> dict[str, str]:
        """The catalog's meta table (embedder, dimension, versions, generation) as a dict."""
        return {k: v for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def generation(self) -> int:
        """The commit counter: every write transaction raises it (0 for a new catalog)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def write(self) -> Iterator[WriteTransaction]:
        """One write transaction; on commit the generation is incremented and set on the yielded object."""
        self.conn.execute("BEGIN IMMEDIATE")
        out = WriteTransaction()
        try:
            yield out
            gen = self.generation() + 1
            self.conn.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(gen),))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        out.generation = gen

    @contextmanager
    def read(self) -> Iterator[None]:
        """A read transaction: a consistent snapshot across several statements."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    # ------------------------------------------------------------------ documents
    def document_row(self, source: str, collection: str = DEFAULT_COLLECTION) -> DocumentRow | None:
        """The document row of ``source`` in ``collection``, with its content's hash."""
        row = self.conn.execute(
            "SELECT d.id, d.content_id, c.hash FROM documents d JOIN contents c ON c.id = d.content_id "
            "WHERE d.source = ? AND d.collection = ?",
            (source, collection),
        ).fetchone()
        return DocumentRow(row[0], row[1], row[2]) if row else None

    def document_fields(self, doc_id: int) -> DocumentFields:
        """The fields of a document row that an unchanged re-ingest may still change."""
        row = self.conn.execute("SELECT meta, page_starts, origin FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return DocumentFields(row[0], row[1], row[2])

    def get_document(self, source: str, collection: str = DEFAULT_COLLECTION) -> DocumentRecord | None:
        """The record of ``source`` of ``collection``; None if it is not there."""
        row = self.conn.execute(
            f"SELECT {_DOC_COLUMNS} FROM documents d JOIN contents c ON c.id = d.content_id "
            "WHERE d.source = ? AND d.collection = ?",
            (source, collection),
        ).fetchone()
        return _doc_record(row) if row else None

    def list_documents(
        self, collection: str | None = DEFAULT_COLLECTION, origin: str | None = None
    ) -> list[DocumentRecord]:
        """Documents of ``collection`` (None: of every collection), only those from ``origin`` if given."""
        cond, params = "", []
        if collection is not None:
            cond += " AND d.collection = ?"
            params.append(collection)
        if origin is not None:
            cond += " AND d.origin = ?"
            params.append(origin)
        rows = self.conn.execute(
            f"SELECT {_DOC_COLUMNS} FROM documents d JOIN contents c ON c.id = d.content_id WHERE 1{cond} "
            "ORDER BY d.collection, d.source",
            params,
        ).fetchall()
        return [_doc_record(r) for r in rows]

    def collections(self) -> dict[str, int]:
        """Every collection that holds documents, with its document count."""
        rows = self.conn.execute("SELECT collection, COUNT(*) FROM documents GROUP BY collection ORDER BY collection")
        return {r[0]: int(r[1]) for r in rows}

    def document_text(self, source: str, collection: str = DEFAULT_COLLECTION) -> str | None:
        """The stored text of ``source`` of ``collection``; None if it is not there."""
        row = self.conn.execute(
            "SELECT c.text FROM documents d JOIN contents c ON c.id = d.content_id "
            "WHERE d.source = ? AND d.collection = ?",
            (source, collection),
        ).fetchone()
        return row[0] if row else None

    def insert_document(
        self,
        source: str,
        title: str,
        content_id: int,
        date: str | None,
        meta: str,
        added_at: float,
        page_starts: str = "",
        collection: str = DEFAULT_COLLECTION,
        origin: str = "",
    ) -> None:
        """Insert a document row pointing at stored content (the caller holds the write transaction)."""
        self.conn.execute(
            "INSERT INTO documents(source, title, content_id, date, meta, added_at, page_starts, collection, origin)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (source, title, content_id, date, meta, added_at, page_starts, collection, origin),
        )

    def update_document(
        self,
        doc_id: int,
        title: str,
        content_id: int,
        date: str | None,
        meta: str,
        added_at: float,
        page_starts: str = "",
        origin: str = "",
    ) -> None:
        """Point an existing document row at new content and fields."""
        self.conn.execute(
            "UPDATE documents SET title = ?, content_id = ?, date = ?, meta = ?, added_at = ?, page_starts = ?, "
            "origin = ? WHERE id = ?",
            (title, content_id, date, meta, added_at, page_starts, origin, doc_id),
        )

    def delete_document_row(self, doc_id: int) -> None:
        """Delete one document row (its content is collected separately)."""
        self.conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))

    # ------------------------------------------------------------------ contents and chunks
    def content_id(self, content_hash: str) -> int | None:
        """The id of the stored content with this hash; None if there is none."""
        row = self.conn.execute("SELECT id FROM contents WHERE hash = ?", (content_hash,)).fetchone()
        return row[0] if row else None

    def insert_content(self, content_hash: str, text: str, chunks: Sequence[NewChunk]) -> tuple[int, list[int]]:
        """Insert a content row and its chunks (+ FTS rows); returns the content id and the new chunk ids."""
        cur = self.conn.execute("INSERT INTO contents(hash, text) VALUES (?, ?)", (content_hash, text))
        content_id = int(cur.lastrowid or 0)
        ids: list[int] = []
        for ord_, chunk in enumerate(chunks):
            blob = np.ascontiguousarray(chunk.embedding, dtype=np.float32).tobytes()
            cur = self.conn.execute(
                'INSERT INTO chunks(content_id, ord, start, "end", text, embedding) VALUES (?, ?, ?, ?, ?, ?)',
                (content_id, ord_, chunk.start, chunk.end, chunk.text, blob),
            )
            chunk_id = int(cur.lastrowid or 0)
            self.conn.execute("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)", (chunk_id, chunk.text))
            ids.append(chunk_id)
        return content_id, ids

    def delete_content_if_orphan(self, content_id: int) -> list[int]:
        """Drop an unreferenced content row with its chunks and FTS rows; returns the dropped chunk ids."""
        row = self.conn.execute("SELECT 1 FROM documents WHERE content_id = ? LIMIT 1", (content_id,)).fetchone()
        if row:
            return []
        ids = [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE content_id = ?", (content_id,))]
        self.conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
        self.conn.execute("DELETE FROM chunks WHERE content_id = ?", (content_id,))
        self.conn.execute("DELETE FROM contents WHERE id = ?", (content_id,))
        return ids

    def delete_orphan_contents(self) -> int:
        """Drop every content row (with chunks and FTS rows) that no document references; returns how many."""
        rows = self.conn.execute(
            "SELECT id FROM contents c WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.content_id = c.id)"
        ).fetchall()
        for (content_id,) in rows:
            self.delete_content_if_orphan(content_id)
        return len(rows)

    def content_chunks(self, content_hash: str, dimension: int) -> list[NewChunk] | None:
        """The chunks with embeddings of the content with this hash, in order; None if there is none."""
        content_id = self.content_id(content_hash)
        if content_id is None:
            return None
        rows = self.conn.execute(
            'SELECT start, "end", text, embedding FROM chunks WHERE content_id = ? ORDER BY ord',
            (content_id,),
        ).fetchall()
        return [
            NewChunk(start=r[0], end=r[1], text=r[2], embedding=np.frombuffer(r[3], dtype=np.float32).copy())
            for r in rows
        ]

    def iter_embeddings(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """All (ids, vectors) in batches, in id order; vectors are raw stored float32 rows."""
        cur = self.conn.execute("SELECT id, embedding FROM chunks ORDER BY id")
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            yield ids, vecs

    def allowed_chunk_ids(self, filters: ChunkFilter) -> np.ndarray:
        """The ids of every chunk of a document that ``filters`` allows."""
        cond, params = filter_sql(filters)
        rows = self.conn.execute(
            "SELECT k.id FROM chunks k WHERE EXISTS "
            f"(SELECT 1 FROM documents d WHERE d.content_id = k.content_id{cond})",
            params,
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def resolve_chunks(self, ids: Sequence[int], filters: ChunkFilter | None) -> dict[int, ChunkRecord]:
        """The chunks among ``ids`` whose documents ``filters`` allows, by id."""
        cond, fparams = filter_sql(filters)
        out: dict[int, ChunkRecord] = {}
        unique = sorted({int(i) for i in ids})
        for pos in range(0, len(unique), 500):
            part = unique[pos : pos + 500]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                'SELECT k.id, d.source, d.title, d.date, k.ord, k.start, k."end", k.text, d.meta, d.page_starts, '
                "d.collection FROM chunks k JOIN documents d ON d.content_id = k.content_id "
                f"WHERE k.id IN ({marks}){cond} ORDER BY k.id, d.id",
                [*part, *fparams],
            ).fetchall()
            for r in rows:
                if r[0] not in out:
                    out[r[0]] = ChunkRecord(
                        id=r[0],
                        source=r[1],
                        title=r[2],
                        date=r[3],
                        ord=r[4],
                        start=r[5],
                        end=r[6],
                        text=r[7],
                        meta=json.loads(r[8]) if r[8] else {},
                        page=page_for(parse_pages(r[9]), r[5]),
                        collection=r[10],
                    )
        return out

    def bm25(self, expression: str, k: int, filters: ChunkFilter | None) -> list[tuple[int, float]]:
        """The ``k`` best FTS5 matches of ``expression`` that ``filters`` allows: (chunk id, -bm25), best first."""
        cond, fparams = filter_sql(filters)
        if cond:
            # Match first (materialised), then keep the allowed hits: a ``rowid IN (…)`` next to MATCH makes
            # FTS5 run the whole query once per allowed rowid, which is slow on large filtered sets.
            sql = (
                "WITH hits AS MATERIALIZED (SELECT rowid AS id, bm25(chunks_fts) AS s FROM chunks_fts "
                "WHERE chunks_fts MATCH ?) SELECT h.id, h.s FROM hits h WHERE EXISTS (SELECT 1 FROM chunks k "
                f"JOIN documents d ON d.content_id = k.content_id WHERE k.id = h.id{cond}) ORDER BY h.s LIMIT ?"
            )
        else:
            sql = "SELECT rowid, bm25(chunks_fts) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?"
        rows = self.conn.execute(sql, [expression, *fparams, k]).fetchall()
        return [(int(r[0]), -float(r[1])) for r in rows]

    def rebuild_fts(self) -> None:
        """Refill the FTS5 table from the chunks."""
        self.conn.execute("DELETE FROM chunks_fts")
        self.conn.execute("INSERT INTO chunks_fts(rowid, text) SELECT id, text FROM chunks")

    # ------------------------------------------------------------------ stats / verify
    def counts(self) -> tuple[int, int, int]:
        """(documents, contents, chunks)."""
        row = self.conn.execute(
            "SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM contents), (SELECT COUNT(*) FROM chunks)"
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def verify(self, dimension: int) -> tuple[list[str], int, np.ndarray, dict[int, np.ndarray]]:
        """Catalog-side checks; returns (problems, checked chunks, chunk ids, embeddings by id)."""
        problems: list[str] = []
        integrity = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            problems.append(f"sqlite integrity_check: {'; '.join(integrity[:5])}")
        try:
            self.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as exc:
            problems.append(f"fts5 integrity-check failed: {exc}")
        texts: dict[int, str] = {}
        for content_id, content_hash, content_text in self.conn.execute("SELECT id, hash, text FROM contents"):
            texts[content_id] = content_text
            if hashlib.sha256(content_text.encode("utf-8")).hexdigest() != content_hash:
                problems.append(f"content {content_id} text does not match its sha256")
        embeddings: dict[int, np.ndarray] = {}
        checked = 0
        rows = self.conn.execute('SELECT id, content_id, start, "end", text, embedding FROM chunks ORDER BY id')
        for chunk_id, content_id, start, end, text, blob in rows:
            checked += 1
            full = texts.get(content_id)
            if full is None:
                problems.append(f"chunk {chunk_id} references missing content {content_id}")
            elif not (0 <= start < end <= len(full)) or full[start:end] != text:
                problems.append(f"chunk {chunk_id} text does not match its content span [{start}:{end}]")
            if len(blob) != 4 * dimension:
                problems.append(f"chunk {chunk_id} embedding has {len(blob) // 4} dims, expected {dimension}")
                continue
            vec = np.frombuffer(blob, dtype=np.float32)
            norm = float(np.linalg.norm(vec))
            if not np.isfinite(norm) or abs(norm - 1.0) > 1e-3:
                problems.append(f"chunk {chunk_id} embedding norm is {norm:.4f}, expected 1")
            embeddings[chunk_id] = vec
        chunk_ids = np.array(sorted(embeddings), dtype=np.int64)
        all_chunk_ids = {r[0] for r in self.conn.execute("SELECT id FROM chunks")}
        fts_ids = {r[0] for r in self.conn.execute("SELECT rowid FROM chunks_fts")}
        if fts_ids != all_chunk_ids:
            problems.append(
                f"FTS rows differ from chunks: {len(fts_ids - all_chunk_ids)} extra, "
                f"{len(all_chunk_ids - fts_ids)} missing"
            )
        orphans = self.conn.execute(
            "SELECT COUNT(*) FROM contents c WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.content_id = c.id)"
        ).fetchone()[0]
        if orphans:
            problems.append(f"{orphans} content rows are referenced by no document")
        for (bad,) in self.conn.execute(
            "SELECT COUNT(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM contents c WHERE c.id = d.content_id)"
        ):
            if bad:
                problems.append(f"{bad} documents reference missing content")
        fk = self.conn.execute("PRAGMA foreign_key_check").fetchall()
        if fk:
            problems.append(f"{len(fk)} foreign key violations")
        return problems, checked, chunk_ids, embeddings
