"""``MilvusStore``: the index in Milvus (Milvus Lite file or server), shared by several processes and replicas.

Two collections per index, named ``<prefix>chunks`` and ``<prefix>documents``:

* ``chunks``: one row per chunk of one *write* of a document: ``id`` (auto INT64, the chunk id), ``write_id``,
  ``source``, ``collection``, ``content_hash``, ``ord``, ``span_start``/``span_end``, ``text`` (exact span of the
  document text), ``bm25_text`` (the chunk's words lower-cased, accents removed and Porter-stemmed on the client, as
  SQLite's ``porter unicode61 remove_diacritics 2`` tokenizer does, so both stores rank BM25 alike), ``sparse``
  (Milvus' built-in BM25 function over ``bm25_text``), ``dense`` (normalised embedding, inner product; an HNSW
  index, searched with ``ef`` = max(``HNSW_EF``, k); collections created before it keep their FLAT index).
* ``documents``: rows keyed by ``key``: ``doc:<collection>:<source>`` (the *commit record* of a document: which
  ``write_id`` is current, title, date, content hash, counts, ``collection``, ``meta``, ``pages`` (page offsets),
  ``origin`` (the folder a sync took it from)), ``text:<write_id>:<part>`` (the document text in parts of at most
  16,000 characters), ``meta:index`` (embedder id, checksum, dimension, schema version)
  and ``meta:state`` (a generation counter and a random token that changes on every commit). Milvus needs a vector
  field in every collection, so this one has a 2-d placeholder ``_v``.

**All-or-nothing documents.** A write inserts the text parts and the chunks under a fresh ``write_id`` (a
nanosecond timestamp + random suffix), then commits by upserting ``doc:<source>`` and ``meta:state`` in one request.
Every read goes through the committed ``write_id`` of each document: searches keep only hits of committed writes
(the filters — collection, source glob, dates, metadata — are applied to the cached commit records), ``chunks()``
drops rows of other writes, texts are read by ``write_id``. So a half-written document is invisible,
and a replaced one shows its old rows until the commit, then only its new ones. The old write's rows are deleted
after the commit; rows of an interrupted write stay invisible and are deleted by the next write of that source or by
``repair()`` (``ragqa index verify --repair``) once older than the grace period.

**Concurrent writers** (several replicas): per source, the newest write wins. There is no lock in the engine;
writes are keyed by ``write_id`` and never touch each other's rows. Just before its commit a writer re-reads the
commit record; if a write that *started* later has already committed, it drops its own rows and leaves that one
(the document stays coherent either way: a commit record only ever names a write whose rows are all written).
A delete commits by upserting a tombstone record (empty ``write_id``), then removes the rows and the tombstone.
Within one process writes are serialised by a thread lock (``writer()``).

Readers cache the commit records and reload them when ``meta:state``'s token changes (checked on ``refresh()``,
which retrieval calls once per query; the reads that follow within ``SNAPSHOT_TTL_S`` reuse that look): another
replica's commit is visible on its next query.

**Speed.** Milvus Lite searches rows not yet sealed into a segment by brute force (BM25 ~25× slower), so the end
of each ``writer()`` block (an ingest run, an upload, a delete) flushes. Searches return the chunk rows with the
hits and keep them in a small cache by chunk id (rows never change), so ``chunks()`` of fresh hits costs no round
trip; hits of other writes are dropped here rather than sent as a long ``write_id in [...]`` filter. Milvus Lite
(pure Python) materialises every column of every hit it returns, so a search asks for exactly ``k`` hits and
asks again only when some belonged to other writes; the dense field has an HNSW index (faiss), which answers a
dense search in about half the time of FLAT's numpy brute force at 1.6k chunks, and scales. See README, Scaling
out, for the measurements.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import re
import threading
import time
import unicodedata
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

from index.catalog import DEFAULT_COLLECTION, meta_path, pages_text, parse_pages
from index.contract import check_date, validate_chunks
from index.errors import DocumentNotFoundError, EmbedderMismatchError, InvalidValueError, StorageError
from index.records import (
    ChunkFilter,
    ChunkRecord,
    DocumentRecord,
    IndexStats,
    NewChunk,
    ScoredId,
    VerifyReport,
    page_for,
)
from index.store import check_collection, content_hash

try:  # guarded: the Milvus backend is an optional extra
    from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException
except ImportError:  # pragma: no cover - exercised only without the extra
    MilvusClient = None

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: commit records keyed by collection + source, with pages and origin
SNAPSHOT_TTL_S = 0.25  # reads within this long of a look at the commit records reuse them
REPAIR_GRACE_S = 600.0  # rows of an uncommitted write younger than this may belong to a writer still at work
TEXT_PART_CHARS = 16_000  # ≤ 64,000 UTF-8 bytes: under Milvus' VARCHAR limit of 65,535 bytes
MAX_VARCHAR_BYTES = 65_535
MAX_SOURCE_BYTES = 2_048
MAX_ORIGIN_BYTES = 4_096
MAX_COLLECTION_CHARS = 64
_INSERT_BATCH = 256
_QUERY_BATCH = 4_096
_ROW_CACHE_SIZE = 4_096
_MAX_QUERY_TOKENS = 64
_MAX_LIMIT = 16_384  # Milvus' largest topk / query window
HNSW_M = 16  # graph degree of the dense field's HNSW index (Milvus' default)
HNSW_EF_CONSTRUCTION = 200
HNSW_EF = 128  # search-time candidate list; Milvus requires ef >= k, so a search uses max(HNSW_EF, k)
_TOKEN_RE = re.compile(r"\w+", re.UNICODE)
_PREFIX_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,200}")
_STATE_KEY = "meta:state"
_INDEX_KEY = "meta:index"
_PLACEHOLDER = [1.0, 0.0]


class _LiteUnimplementedFilter(logging.Filter):
    """Milvus Lite's in-process server does not implement every RPC pymilvus may try (``AllocTimestamp``);
    pymilvus falls back by itself, but grpc logs each refusal as an ERROR with a traceback. Only those records
    are dropped; every other grpc server error is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, NotImplementedError) and str(error) == "Method not implemented!")


def _quiet_lite_server() -> None:
    grpc_server = logging.getLogger("grpc._server")
    if not any(isinstance(f, _LiteUnimplementedFilter) for f in grpc_server.filters):
        grpc_server.addFilter(_LiteUnimplementedFilter())


def missing_extra_error() -> StorageError:
    """The error for a Milvus store without pymilvus installed, naming the extra to install."""
    return StorageError("the Milvus store needs the 'milvus' extra: pip install 'ragqa[milvus]'")


def is_milvus_uri(uri: str) -> bool:
    """True for a Milvus server URI (``http(s)://``, ``tcp://``, ``unix:``) or a Milvus Lite file (``*.db``)."""
    return uri.startswith(("http://", "https://", "tcp://", "unix:")) or uri.endswith(".db")


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    try:
        import snowballstemmer
    except ImportError:  # pragma: no cover
        raise missing_extra_error() from None
    return snowballstemmer.stemmer("porter")


def bm25_terms(text: str) -> list[str]:
    """Words of ``text`` as SQLite's ``porter unicode61 remove_diacritics 2`` sees them: folded and stemmed."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    words = _TOKEN_RE.findall(folded)
    return list(_stemmer().stemWords(words)) if words else []


def _new_write_id() -> str:
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


def _write_age_s(write_id: str) -> float:
    try:
        return max(0.0, (time.time_ns() - int(write_id.split("-", 1)[0])) / 1e9)
    except ValueError:
        return float("inf")


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _in_list(field_name: str, values: Sequence[str] | Sequence[int]) -> str:
    return f"{field_name} in [{', '.join(_quote(v) if isinstance(v, str) else str(int(v)) for v in values)}]"


@dataclass(frozen=True)
class _Doc:
    """A committed document as the commit record describes it."""

    source: str
    write_id: str
    title: str
    content_hash: str
    date: str | None
    added_at: float
    n_chunks: int
    n_chars: int
    collection: str = DEFAULT_COLLECTION
    meta: dict[str, str] = field(default_factory=dict)
    page_starts: tuple[int, ...] = ()
    origin: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.collection, self.source)

    def record(self, doc_id: int) -> DocumentRecord:
        return DocumentRecord(
            id=doc_id,
            source=self.source,
            title=self.title,
            content_hash=self.content_hash,
            date=self.date,
            n_chunks=self.n_chunks,
            n_chars=self.n_chars,
            added_at=self.added_at,
            meta=dict(self.meta),
            page_starts=self.page_starts,
            collection=self.collection,
            origin=self.origin,
        )

    def matches(self, filters: ChunkFilter | None) -> bool:
        if filters is None or filters.empty:
            return True
        if filters.source_glob is not None and not fnmatch.fnmatchcase(self.source, filters.source_glob):
            return False
        if filters.collection is not None and self.collection != filters.collection:
            return False
        if filters.date_from is not None and (self.date is None or self.date < filters.date_from):
            return False
        if filters.date_to is not None and (self.date is None or self.date > filters.date_to):
            return False
        return all(key in self.meta and self.meta[key] in values for key, values in filters.meta)


def _doc_from_row(row: Mapping[str, Any]) -> _Doc:
    return _Doc(
        source=row["source"],
        write_id=row["write_id"],
        title=row["title"],
        content_hash=row["content_hash"],
        date=row["date"] or None,
        added_at=float(row["added_at"]),
        n_chunks=int(row["n_chunks"]),
        n_chars=int(row["n_chars"]),
        collection=row.get("collection") or DEFAULT_COLLECTION,
        meta={str(k): str(v) for k, v in (row.get("meta") or {}).items()},
        page_starts=parse_pages(row.get("pages")),
        origin=row.get("origin") or "",
    )


def _doc_key(collection: str, source: str) -> str:
    return f"doc:{collection}:{source}"


_DOC_FIELDS = [
    "source",
    "write_id",
    "title",
    "content_hash",
    "date",
    "added_at",
    "n_chunks",
    "n_chars",
    "collection",
    "pages",
    "origin",
]
_DOC_FIELDS_META = [*_DOC_FIELDS, "meta"]
_CHUNK_FIELDS = ["id", "write_id", "source", "collection", "ord", "span_start", "span_end", "text"]


class MilvusStore:
    """The ``Store`` contract over two Milvus collections; safe to share between threads and processes."""

    def __init__(
        self,
        client: Any,
        uri: str,
        prefix: str,
        *,
        embedder_id: str,
        embedder_checksum: str,
        dimension: int,
    ) -> None:
        self.uri = uri
        self.prefix = prefix
        self.embedder_id = embedder_id
        self.embedder_checksum = embedder_checksum
        self.dimension = dimension
        self.chunks_collection = f"{prefix}chunks"
        self.documents_collection = f"{prefix}documents"
        self._client = client
        self._lock = threading.RLock()  # guards the cache below
        self._wlock = threading.RLock()  # serialises this process's writes
        self._docs: dict[tuple[str, str], _Doc] = {}  # (collection, source) → its commit record
        self._pinned = threading.local()  # per thread: a stack of {(collection, source): text}, see pinned_reads()
        self._token = ""
        self._generation = 0
        self._closed = False
        self._dense_index = "FLAT"  # the dense field's index type, read at open (older collections: FLAT)
        # chunk id → its row, as the searches returned it: rows never change (a new version is new rows with new ids),
        # so chunks() of the ids a search just found needs no second round trip; validity is checked on every read
        self._rows: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._checked_at = 0.0  # time.monotonic() of the last look at meta:state
        self._writer_depth = 0  # nesting of writer() blocks (under _wlock)
        self._unflushed = False  # rows written since the last flush (under _wlock)

    @property
    def dense_index_type(self) -> str:
        """The index on the dense field (``HNSW`` for collections created now, ``FLAT`` for older ones)."""
        return self._dense_index

    @property
    def location(self) -> str:
        """The Milvus URI and collection prefix, for messages."""
        return f"{self.uri} (collections {self.prefix}*)"

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(
        cls,
        uri: str,
        *,
        embedder_id: str,
        embedder_checksum: str,
        dimension: int,
        token: str = "",
        prefix: str = "ragqa_",
        create: bool = True,
    ) -> MilvusStore:
        """Connect to ``uri`` (a ``*.db`` file → Milvus Lite; ``http://host:19530`` → a server) and open the index."""
        if MilvusClient is None:
            raise missing_extra_error()
        if dimension <= 0:
            raise InvalidValueError(f"dimension must be positive, got {dimension}")
        if not _PREFIX_RE.fullmatch(prefix):
            raise InvalidValueError(f"collection prefix must be letters, digits and underscores, got {prefix!r}")
        if not is_milvus_uri(uri):
            raise StorageError(f"not a Milvus URI: {uri!r} (use a path ending in .db, or http://host:19530)")
        if uri.endswith(".db") and not uri.startswith(("http://", "https://", "tcp://", "unix:")):
            path = Path(uri)
            if not path.exists() and not create:
                raise StorageError(f"no index at {uri}; run `ragqa ingest` first")
            path.parent.mkdir(parents=True, exist_ok=True)
            _quiet_lite_server()
        try:
            client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
        except MilvusException as exc:
            raise StorageError(f"cannot connect to Milvus at {uri}: {exc}") from exc
        except Exception as exc:  # grpc/OS errors surface as plain exceptions
            raise StorageError(f"cannot connect to Milvus at {uri}: {exc}") from exc
        store = cls(
            client, uri, prefix, embedder_id=embedder_id, embedder_checksum=embedder_checksum, dimension=dimension
        )
        try:
            store._open_collections(create)
            store.refresh()
        except BaseException:
            client.close()
            raise
        return store

    def _open_collections(self, create: bool) -> None:
        c = self._client
        have_docs = c.has_collection(self.documents_collection)
        have_chunks = c.has_collection(self.chunks_collection)
        if not (have_docs and have_chunks):
            if not create:
                raise StorageError(f"no index at {self.location}; run `ragqa ingest` first")
            if not have_chunks:
                self._create_if_absent(self.chunks_collection, self._create_chunks_collection)
            if not have_docs:
                self._create_if_absent(self.documents_collection, self._create_documents_collection)
        for name in (self.chunks_collection, self.documents_collection):
            self._load(name)
        self._dense_index = self._index_type(self.chunks_collection, "dense")
        rows = c.get(self.documents_collection, ids=[_INDEX_KEY], output_fields=["text"])
        if not rows:
            info = {
                "embedder_id": self.embedder_id,
                "embedder_checksum": self.embedder_checksum,
                "dimension": self.dimension,
                "schema_version": SCHEMA_VERSION,
                "metric": "inner_product",
                "normalized": True,
            }
            c.upsert(self.documents_collection, [self._meta_row(_INDEX_KEY, info)])
            log.info("created the Milvus index %s", self.location)
            return
        info = json.loads(rows[0]["text"])
        if info.get("embedder_id") != self.embedder_id or int(info.get("dimension", -1)) != self.dimension:
            raise EmbedderMismatchError(
                f"the index at {self.location} was built with embedder {info.get('embedder_id')!r} "
                f"(dimension {info.get('dimension')}) but embedder {self.embedder_id!r} (dimension "
                f"{self.dimension}) is configured; use another collection prefix, or set the embedder it was "
                "built with (RAGQA_EMBEDDER)"
            )
        if int(info.get("schema_version", 0)) > SCHEMA_VERSION:
            raise StorageError(f"the index at {self.location} has a newer schema than this ragqa; upgrade ragqa")
        if int(info.get("schema_version", 0)) < SCHEMA_VERSION:
            raise StorageError(
                f"the index at {self.location} has schema {info.get('schema_version')} (before collections); "
                "ingest into a new collection prefix (RAGQA_MILVUS_COLLECTION_PREFIX) or copy it from a FAISS index"
            )
        if info.get("embedder_checksum", "") != self.embedder_checksum:
            log.warning(
                "index %s was built with embedder checksum %s, configured checksum is %s",
                self.location,
                info.get("embedder_checksum"),
                self.embedder_checksum,
            )

    def _index_type(self, collection: str, field_name: str) -> str:
        """The index type on ``field_name`` ("" if it cannot be told), which picks the search parameters."""
        try:
            for name in self._client.list_indexes(collection, field_name=field_name) or [field_name]:
                info = self._client.describe_index(collection, name) or {}
                if info.get("field_name", field_name) == field_name:
                    return str(info.get("index_type", "")).upper()
        except MilvusException as exc:
            log.warning("cannot read the index of %s.%s: %s", collection, field_name, exc)
        return ""

    def _create_if_absent(self, name: str, create: Callable[[], None]) -> None:
        """Create a collection unless another process (a replica starting at the same moment) just did."""
        try:
            create()
        except MilvusException:
            deadline = time.monotonic() + 30.0  # the other creation may still be under way
            while not self._client.has_collection(name):
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
            log.info("collection %s was created by another process meanwhile", name)

    def _load(self, name: str, wait_s: float = 30.0) -> None:
        """Load a collection; one another process created a moment ago may still be getting its indexes."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._client.load_collection(name)
                return
            except MilvusException:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def _create_chunks_collection(self) -> None:
        c = self._client
        schema = c.create_schema(auto_id=True, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("write_id", DataType.VARCHAR, max_length=64)
        schema.add_field("source", DataType.VARCHAR, max_length=MAX_SOURCE_BYTES)
        schema.add_field("collection", DataType.VARCHAR, max_length=MAX_COLLECTION_CHARS)
        schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("ord", DataType.INT64)
        schema.add_field("span_start", DataType.INT64)
        schema.add_field("span_end", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES)
        schema.add_field(
            "bm25_text",
            DataType.VARCHAR,
            max_length=MAX_VARCHAR_BYTES,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]},
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.dimension)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["bm25_text"],
                output_field_names=["sparse"],
            )
        )
        index = c.prepare_index_params()
        index.add_index(
            "dense", index_type="HNSW", metric_type="IP", params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
        )
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        c.create_collection(self.chunks_collection, schema=schema, index_params=index, consistency_level="Strong")

    def _create_documents_collection(self) -> None:
        c = self._client
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=MAX_SOURCE_BYTES + 96)
        schema.add_field("kind", DataType.VARCHAR, max_length=16)
        schema.add_field("source", DataType.VARCHAR, max_length=MAX_SOURCE_BYTES)
        schema.add_field("write_id", DataType.VARCHAR, max_length=64)
        schema.add_field("title", DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES)
        schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("date", DataType.VARCHAR, max_length=16)
        schema.add_field("added_at", DataType.DOUBLE)
        schema.add_field("n_chunks", DataType.INT64)
        schema.add_field("n_chars", DataType.INT64)
        schema.add_field("part", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES)
        schema.add_field("collection", DataType.VARCHAR, max_length=MAX_COLLECTION_CHARS)
        schema.add_field("meta", DataType.JSON)
        schema.add_field("pages", DataType.VARCHAR, max_length=MAX_VARCHAR_BYTES)
        schema.add_field("origin", DataType.VARCHAR, max_length=MAX_ORIGIN_BYTES)
        schema.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
        index = c.prepare_index_params()
        index.add_index("_v", index_type="FLAT", metric_type="IP")
        c.create_collection(self.documents_collection, schema=schema, index_params=index, consistency_level="Strong")

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(Exception):
            self._client.close()

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the index at {self.location} is closed")

    # ------------------------------------------------------------------ rows
    @staticmethod
    def _row(key: str, kind: str, **values: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "key": key,
            "kind": kind,
            "source": "",
            "write_id": "",
            "title": "",
            "content_hash": "",
            "date": "",
            "added_at": 0.0,
            "n_chunks": 0,
            "n_chars": 0,
            "part": 0,
            "text": "",
            "collection": DEFAULT_COLLECTION,
            "meta": {},
            "pages": "",
            "origin": "",
            "_v": _PLACEHOLDER,
        }
        row.update(values)
        return row

    def _meta_row(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        return self._row(key, "meta", text=json.dumps(value, sort_keys=True))

    def _state_row(self) -> dict[str, Any]:
        return self._meta_row(_STATE_KEY, {"generation": self._read_state()[0] + 1, "token": uuid.uuid4().hex})

    def _read_state(self) -> tuple[int, str]:
        rows = self._client.get(self.documents_collection, ids=[_STATE_KEY], output_fields=["text"])
        if not rows:
            return 0, ""
        state = json.loads(rows[0]["text"])
        return int(state.get("generation", 0)), str(state.get("token", ""))

    def _scan(self, collection: str, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row matching the Milvus filter expression ``expr``: one query when it fits Milvus' result window,
        else an iterator."""
        rows = self._client.query(collection, filter=expr, output_fields=fields, limit=_MAX_LIMIT)
        if len(rows) < _MAX_LIMIT:
            yield from rows
            return
        it = self._client.query_iterator(collection, batch_size=_QUERY_BATCH, filter=expr, output_fields=fields)
        try:
            while True:
                batch = it.next()
                if not batch:
                    return
                yield from batch
        finally:
            it.close()

    def _commit_row(self, source: str, collection: str) -> dict[str, Any] | None:
        rows = self._client.get(
            self.documents_collection, ids=[_doc_key(collection, source)], output_fields=_DOC_FIELDS_META
        )
        return rows[0] if rows else None

    # ------------------------------------------------------------------ cache
    def refresh(self) -> bool:
        """Reload the commit records if any process committed since the last look; True if reloaded."""
        with self._lock:
            self._check_open()
            generation, token = self._read_state()
            self._checked_at = time.monotonic()
            if token == self._token and self._token:
                return False
            docs: dict[tuple[str, str], _Doc] = {}
            for row in self._scan(self.documents_collection, 'kind == "doc"', _DOC_FIELDS_META):
                if row["write_id"]:  # an empty write_id is a delete's tombstone
                    doc = _doc_from_row(row)
                    docs[doc.key] = doc
            self._docs = docs
            self._token = token
            self._generation = generation
            return True

    def _snapshot(self) -> dict[tuple[str, str], _Doc]:
        """The commit records, looked up again unless that was done in the last ``SNAPSHOT_TTL_S`` (one query
        calls ``refresh()`` and then several reads: one round trip instead of four)."""
        with self._lock:
            if self._token and time.monotonic() - self._checked_at < SNAPSHOT_TTL_S:
                return self._docs
        self.refresh()
        with self._lock:
            return self._docs

    def _allowed_writes(self, filters: ChunkFilter | None) -> set[str]:
        for key, _ in filters.meta if filters is not None else ():
            meta_path(key)  # the same ValueError as the FAISS store for a key it cannot express
        return {d.write_id for d in self._snapshot().values() if d.matches(filters)}

    # ------------------------------------------------------------------ writing
    @contextmanager
    def writer(self, timeout: float = 10.0) -> Iterator[None]:
        """Serialise this process's writes. Other processes write concurrently (newest write per source wins)."""
        if not self._wlock.acquire(timeout=max(timeout, 0.0)):
            raise StorageError(f"another thread is writing to {self.location}")
        self._writer_depth += 1
        try:
            self.refresh()
            yield
        finally:
            self._writer_depth -= 1
            try:
                if self._writer_depth == 0:
                    self._flush_written()
            finally:
                self._wlock.release()

    def _written(self) -> None:
        """Note rows written (caller holds ``_wlock``); flush at once unless a ``writer()`` block will at its end."""
        self._unflushed = True
        if self._writer_depth == 0:
            self._flush_written()

    def _flush_written(self) -> None:
        """Seal what was written into indexed segments: Milvus Lite searches unsealed ("growing") rows by brute
        force, BM25 about 25 times slower than sealed ones (bench/stores.py). One flush per writer block (an
        ingest run, an upload), so a bulk ingest pays it once; Milvus compacts the small segments itself."""
        if not self._unflushed or self._closed:
            return
        started = time.perf_counter()
        try:
            self._client.flush(self.chunks_collection)
            self._client.flush(self.documents_collection)
        except MilvusException as exc:  # only slower searches until the next flush; never fail a write for it
            log.warning("flush of %s failed: %s", self.location, exc)
            return
        self._unflushed = False
        log.debug("flushed %s in %.2fs", self.location, time.perf_counter() - started)

    def _check_sizes(self, source: str, title: str, chunks: Sequence[NewChunk]) -> None:
        if len(source.encode("utf-8")) > MAX_SOURCE_BYTES:
            raise InvalidValueError(f"document source is longer than {MAX_SOURCE_BYTES} bytes")
        if len(title.encode("utf-8")) > MAX_VARCHAR_BYTES:
            raise InvalidValueError(f"document title is longer than {MAX_VARCHAR_BYTES} bytes")
        for i, chunk in enumerate(chunks):
            if len(chunk.text.encode("utf-8")) > MAX_VARCHAR_BYTES:
                raise InvalidValueError(f"chunk {i} is longer than {MAX_VARCHAR_BYTES} bytes, the most Milvus stores")

    def upsert_document(
        self,
        *,
        source: str,
        title: str,
        text: str,
        chunks: Sequence[NewChunk],
        date: str | None = None,
        meta: Mapping[str, str] | None = None,
        page_starts: Sequence[int] = (),
        collection: str = DEFAULT_COLLECTION,
        origin: str = "",
    ) -> Literal["added", "replaced", "unchanged"]:
        """Add or replace ``source`` of ``collection``; visible all at once when its commit record is written.

        The same text with other metadata, pages or origin is written again as a new version (``replaced``), so
        even a metadata change goes through the commit record and concurrent writers stay safe."""
        if not source:
            raise InvalidValueError("document source is empty")
        check_collection(collection)
        clean = validate_chunks(text, chunks, self.dimension, self.embedder_id)
        check_date(date)
        self._check_sizes(source, title, clean)
        if any(not (0 <= p <= len(text)) for p in page_starts) or list(page_starts) != sorted(page_starts):
            raise InvalidValueError("page offsets must be ascending offsets inside the text")
        pages = pages_text(page_starts)
        if len(pages) > MAX_VARCHAR_BYTES or len(origin.encode("utf-8")) > MAX_ORIGIN_BYTES:
            raise InvalidValueError("too many page offsets, or an origin longer than Milvus stores")
        meta_dict = {str(k): str(v) for k, v in (meta or {}).items()}
        digest = content_hash(text)
        with self._wlock:
            self._check_open()
            existing = self._commit_row(source, collection)
            if (
                existing is not None
                and existing["write_id"]
                and existing["content_hash"] == digest
                and (existing.get("meta") or {}, existing.get("pages") or "", existing.get("origin") or "")
                == (meta_dict, pages, origin)
            ):
                log.debug("unchanged %s", source)
                return "unchanged"
            write_id = _new_write_id()
            self._write_rows(write_id, source, digest, text, clean, collection)
            current = self._commit_row(source, collection)
            if current is not None and current["write_id"] > write_id:
                # A write that started after ours has committed: it wins; ours is dropped.
                self._delete_write(write_id)
                log.info("replaced %s: a newer write from another process won", source)
                return "replaced"
            commit = self._row(
                _doc_key(collection, source),
                "doc",
                source=source,
                write_id=write_id,
                title=title,
                content_hash=digest,
                date=date or "",
                added_at=time.time(),
                n_chunks=len(clean),
                n_chars=len(text),
                collection=collection,
                meta=meta_dict,
                pages=pages,
                origin=origin,
            )
            self._client.upsert(self.documents_collection, [commit, self._state_row()])
            self._collect_garbage(source, collection, keep=write_id, replaced=current["write_id"] if current else None)
            self.refresh()
            self._written()
        result: Literal["added", "replaced"] = "replaced" if current is not None and current["write_id"] else "added"
        log.info("%s %s (%d new chunks)", result, source, len(clean))
        return result

    def _write_rows(
        self,
        write_id: str,
        source: str,
        digest: str,
        text: str,
        chunks: list[NewChunk],
        collection: str = DEFAULT_COLLECTION,
    ) -> None:
        parts = [text[i : i + TEXT_PART_CHARS] for i in range(0, len(text), TEXT_PART_CHARS)]
        text_rows = [
            self._row(
                f"text:{write_id}:{n:06d}",
                "text",
                source=source,
                write_id=write_id,
                part=n,
                text=part,
                collection=collection,
            )
            for n, part in enumerate(parts)
        ]
        for pos in range(0, len(text_rows), 16):
            self._client.insert(self.documents_collection, text_rows[pos : pos + 16])
        rows = [
            {
                "write_id": write_id,
                "source": source,
                "collection": collection,
                "content_hash": digest,
                "ord": n,
                "span_start": chunk.start,
                "span_end": chunk.end,
                "text": chunk.text,
                "bm25_text": " ".join(bm25_terms(chunk.text)),
                "dense": np.asarray(chunk.embedding, dtype=np.float32).tolist(),
            }
            for n, chunk in enumerate(chunks)
        ]
        for pos in range(0, len(rows), _INSERT_BATCH):
            self._client.insert(self.chunks_collection, rows[pos : pos + _INSERT_BATCH])

    def _delete_write(self, write_id: str) -> None:
        self._client.delete(self.chunks_collection, filter=f"write_id == {_quote(write_id)}")
        self._client.delete(self.documents_collection, filter=f'kind == "text" and write_id == {_quote(write_id)}')

    def _collect_garbage(self, source: str, collection: str, keep: str, replaced: str | None) -> None:
        """Delete the rows of the write that ``keep`` replaced, and of the document's interrupted writes.

        A write of another process still at work (younger than ``REPAIR_GRACE_S``) is left alone: deleting its rows
        could let it commit a document with missing chunks.

        The writes are found from their text rows alone: a write inserts its text rows before its chunk rows, and
        ``_delete_write`` deletes them after, so a write that has chunk rows has text rows. Scanning the chunks by
        ``source`` instead cost a brute-force pass over every chunk per document (Milvus Lite), which made a bulk
        ingest quadratic: a copy of 33,691 chunks had not finished after 22 minutes (``bench/stores.py``).
        """
        where = f"source == {_quote(source)} and collection == {_quote(collection)}"
        writes = {
            r["write_id"] for r in self._scan(self.documents_collection, f'kind == "text" and {where}', ["write_id"])
        }
        for write_id in sorted(writes - {keep}):
            if write_id == replaced or _write_age_s(write_id) >= REPAIR_GRACE_S:
                self._delete_write(write_id)

    def delete_document(self, source: str, collection: str = DEFAULT_COLLECTION) -> None:
        """Remove a document: a tombstone commit record hides it at once, then its rows are deleted."""
        with self._wlock:
            self._check_open()
            existing = self._commit_row(source, collection)
            if existing is None or not existing["write_id"]:
                raise DocumentNotFoundError(_not_found(source, collection))
            key = _doc_key(collection, source)
            tombstone = self._row(key, "doc", source=source, collection=collection, added_at=time.time())
            self._client.upsert(self.documents_collection, [tombstone, self._state_row()])
            self._collect_garbage(source, collection, keep="", replaced=existing["write_id"])
            current = self._commit_row(source, collection)
            if current is not None and not current["write_id"]:
                self._client.delete(self.documents_collection, ids=[key])
            self.refresh()
            self._written()
        log.info("deleted %s (%d chunks dropped)", source, int(existing["n_chunks"]))

    # ------------------------------------------------------------------ reading
    def _doc(self, source: str, collection: str) -> _Doc:
        doc = self._snapshot().get((collection, source))
        if doc is None:
            raise DocumentNotFoundError(_not_found(source, collection))
        return doc

    def document_state(
        self, source: str, content_hash: str, collection: str = DEFAULT_COLLECTION
    ) -> Literal["new", "unchanged", "changed"]:
        """``new``, ``unchanged`` (committed with this content hash) or ``changed``."""
        doc = self._snapshot().get((collection, source))
        if doc is None:
            return "new"
        return "unchanged" if doc.content_hash == content_hash else "changed"

    def _chunk_rows(self, write_id: str, fields: list[str]) -> list[dict[str, Any]]:
        rows = list(self._scan(self.chunks_collection, f"write_id == {_quote(write_id)}", fields))
        rows.sort(key=lambda r: int(r["ord"]))
        return rows

    def content_embeddings(self, content_hash: str) -> list[NewChunk] | None:
        """The committed chunks and embeddings of this content (any source), to reuse; None if none."""
        doc = next((d for d in self._snapshot().values() if d.content_hash == content_hash), None)
        if doc is None:
            return None
        rows = self._chunk_rows(doc.write_id, ["ord", "span_start", "span_end", "text", "dense"])
        if len(rows) != doc.n_chunks:  # replaced meanwhile and its rows collected: read the new version
            return self.content_embeddings(content_hash) if self.refresh() else None
        return [
            NewChunk(
                start=int(r["span_start"]),
                end=int(r["span_end"]),
                text=r["text"],
                embedding=np.asarray(r["dense"], dtype=np.float32),
            )
            for r in rows
        ]

    def _doc_ids(self, docs: Mapping[tuple[str, str], _Doc]) -> dict[tuple[str, str], int]:
        return {key: n for n, key in enumerate(sorted(docs), start=1)}

    def get_document(self, source: str, collection: str = DEFAULT_COLLECTION) -> DocumentRecord:
        """The committed record of ``source``; ``DocumentNotFoundError`` if it is not there."""
        docs = self._snapshot()
        doc = docs.get((collection, source))
        if doc is None:
            raise DocumentNotFoundError(_not_found(source, collection))
        return doc.record(self._doc_ids(docs)[doc.key])

    def _texts_of(self, write_ids: Sequence[str]) -> dict[str, str]:
        """The stored text of each write (parts joined in order)."""
        parts: dict[str, list[tuple[int, str]]] = {}
        for pos in range(0, len(write_ids), 100):
            expr = f'kind == "text" and {_in_list("write_id", write_ids[pos : pos + 100])}'
            for r in self._scan(self.documents_collection, expr, ["write_id", "part", "text"]):
                parts.setdefault(r["write_id"], []).append((int(r["part"]), r["text"]))
        return {w: "".join(t for _, t in sorted(p)) for w, p in parts.items()}

    def _text_of(self, write_id: str) -> str:
        return self._texts_of([write_id]).get(write_id, "")

    def document_text(self, source: str, collection: str = DEFAULT_COLLECTION) -> str:
        """The committed text of ``source`` (the pinned version inside ``pinned_reads()``)."""
        pinned = self._pinned_text(source, collection)
        if pinned is not None:
            return pinned
        for _ in range(3):
            doc = self._doc(source, collection)
            text = self._text_of(doc.write_id)
            if content_hash(text) == doc.content_hash:
                return text
            # replaced or deleted meanwhile (its rows are gone): read the commit records again
            with self._lock:
                self._token = ""
            self.refresh()
        raise StorageError(f"the text of {source!r} in collection {collection!r} changed while it was read; retry")

    def list_documents(
        self, collection: str | None = DEFAULT_COLLECTION, origin: str | None = None
    ) -> list[DocumentRecord]:
        """Documents of ``collection`` (None: every collection), only those a sync took from ``origin`` if given."""
        docs = self._snapshot()
        ids = self._doc_ids(docs)
        return [
            docs[key].record(ids[key])
            for key in sorted(docs)
            if (collection is None or key[0] == collection) and (origin is None or docs[key].origin == origin)
        ]

    def collections(self) -> dict[str, int]:
        """Every collection that holds documents, with its document count."""
        counts: dict[str, int] = {}
        for collection, _ in self._snapshot():
            counts[collection] = counts.get(collection, 0) + 1
        return dict(sorted(counts.items()))

    def page_of(self, source: str, offset: int, collection: str = DEFAULT_COLLECTION) -> int | None:
        """The 1-based page of character ``offset`` of a document; None without pages or for an unknown one."""
        doc = self._snapshot().get((collection, source))
        return None if doc is None else page_for(doc.page_starts, offset)

    def chunks(self, ids: Sequence[int], filters: ChunkFilter | None = None) -> dict[int, ChunkRecord]:
        """The committed chunks among ``ids`` that ``filters`` allows, by id (pins texts in ``pinned_reads()``)."""
        unique = sorted({int(i) for i in ids})
        if not unique:
            return {}
        docs = self._snapshot()
        out: dict[int, ChunkRecord] = {}
        owner: dict[int, _Doc] = {}
        with self._lock:
            rows = [self._rows[i] for i in unique if i in self._rows]
        cached = {int(r["id"]) for r in rows}
        missing = [i for i in unique if i not in cached]
        for pos in range(0, len(missing), 1000):
            rows += self._client.query(
                self.chunks_collection, filter=_in_list("id", missing[pos : pos + 1000]), output_fields=_CHUNK_FIELDS
            )
        for r in rows:
            doc = docs.get((r["collection"], r["source"]))
            if doc is None or doc.write_id != r["write_id"] or not doc.matches(filters):
                continue
            start = int(r["span_start"])
            out[int(r["id"])] = ChunkRecord(
                id=int(r["id"]),
                source=doc.source,
                title=doc.title,
                date=doc.date,
                ord=int(r["ord"]),
                start=start,
                end=int(r["span_end"]),
                text=r["text"],
                meta=dict(doc.meta),
                page=page_for(doc.page_starts, start),
                collection=doc.collection,
            )
            owner[int(r["id"])] = doc
        pins = self._pins()
        if pins is not None:
            wanted = {d.write_id: d for d in owner.values() if d.key not in pins}
            texts = self._texts_of(sorted(wanted)) if wanted else {}
            for write_id, doc in wanted.items():
                text = texts.get(write_id, "")
                if content_hash(text) == doc.content_hash:
                    pins[doc.key] = text
            # a document whose rows were collected between the two reads (replaced or deleted meanwhile) is
            # treated as not retrieved, as the FAISS store does for a delete that commits before retrieval
            out = {i: rec for i, rec in out.items() if owner[i].key in pins}
        return dict(sorted(out.items()))

    # ------------------------------------------------------------------ pinned reads (answers vs. writers)
    @contextmanager
    def pinned_reads(self) -> Iterator[None]:
        """Within this block, in this thread, ``chunks()`` also pins the text of each document it returns (the
        write its chunks belong to), and ``document_text()`` answers from those pins first: an answer that reads a
        document it retrieved a moment ago gets that version even if another replica replaced or deleted it
        meanwhile. Outside the block nothing changes; blocks nest."""
        stack: list[dict[tuple[str, str], str]] | None = getattr(self._pinned, "stack", None)
        if stack is None:
            stack = self._pinned.stack = []
        pins: dict[tuple[str, str], str] = {}
        stack.append(pins)
        try:
            yield
        finally:
            for i in range(len(stack) - 1, -1, -1):
                if stack[i] is pins:
                    del stack[i]
                    break

    def _pins(self) -> dict[tuple[str, str], str] | None:
        stack: list[dict[tuple[str, str], str]] | None = getattr(self._pinned, "stack", None)
        return stack[-1] if stack else None

    def _pinned_text(self, source: str, collection: str) -> str | None:
        for pins in reversed(getattr(self._pinned, "stack", None) or ()):
            if (collection, source) in pins:
                return str(pins[(collection, source)])
        return None

    def _search(self, data: Any, field_name: str, metric: str, k: int, filters: ChunkFilter | None) -> list[ScoredId]:
        """Top ``k`` hits among the chunks of committed writes that ``filters`` allows.

        When the filter keeps most of the chunks (the usual case: no filter, or one collection of a few), Milvus
        searches without a write-id list (only ``collection == …``) for ``k`` hits (a few more than ``k`` when the
        filter drops some committed chunks, or when the first try lost hits) and the hits of other writes are
        dropped here; a long ``write_id in [...]`` expression costs more than the search itself. A
        narrow filter, or too few hits left, searches with the exact list."""
        if k <= 0:
            return []
        docs = self._snapshot()
        allowed = self._allowed_writes(filters)
        if not allowed:
            return []
        scope = [
            d
            for d in docs.values()
            if filters is None or filters.collection is None or d.collection == filters.collection
        ]
        n_scope = sum(d.n_chunks for d in scope)
        n_allowed = sum(d.n_chunks for d in scope if d.write_id in allowed)
        limit = min(k, _MAX_LIMIT)
        if n_allowed * 2 >= n_scope:
            expr = (
                "" if filters is None or filters.collection is None else f"collection == {_quote(filters.collection)}"
            )
            wide = min(_MAX_LIMIT, max(limit + 16, limit * 3 // 2))
            # Without a filter that drops committed chunks only rows of other writes (a write in progress, an
            # interrupted one: rare) are dropped here, so exactly k hits are asked for first: Milvus Lite's cost
            # grows with every hit it returns.
            for window in (limit, wide) if n_allowed == n_scope else (wide,):
                hits = self._search_once(data, field_name, metric, window, expr)
                kept = [h for h in hits if h[1] in allowed]
                if len(kept) >= limit or len(hits) < window:
                    return [h[0] for h in kept[:limit]]
        hits = self._search_once(data, field_name, metric, limit, _in_list("write_id", sorted(allowed)))
        return [h[0] for h in hits if h[1] in allowed]

    def _search_once(
        self, data: Any, field_name: str, metric: str, limit: int, expr: str
    ) -> list[tuple[ScoredId, str]]:
        params: dict[str, Any] = {"metric_type": metric}
        if field_name == "dense" and self._dense_index == "HNSW":
            params["params"] = {"ef": max(HNSW_EF, limit)}
        hits = self._client.search(
            self.chunks_collection,
            data=[data],
            anns_field=field_name,
            limit=limit,
            filter=expr,
            search_params=params,
            output_fields=_CHUNK_FIELDS[1:],
        )
        out: list[tuple[ScoredId, str]] = []
        with self._lock:
            for h in hits[0]:
                chunk_id = int(h["id"])
                row = {**h["entity"], "id": chunk_id}
                self._rows[chunk_id] = row
                self._rows.move_to_end(chunk_id)
                out.append((ScoredId(chunk_id=chunk_id, score=float(h["distance"])), row["write_id"]))
            while len(self._rows) > _ROW_CACHE_SIZE:
                self._rows.popitem(last=False)
        return out

    def dense_search(self, query: np.ndarray, k: int, filters: ChunkFilter | None = None) -> list[ScoredId]:
        """The ``k`` chunks nearest to the (normalised) query embedding that ``filters`` allows."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dimension:
            raise InvalidValueError(f"query has dimension {q.shape[0]}, the index has {self.dimension}")
        norm = float(np.linalg.norm(q))
        if not np.isfinite(norm) or norm == 0.0 or k <= 0:
            return []
        return self._search((q / norm).tolist(), "dense", "IP", k, filters)

    def bm25_search(self, query: str, k: int, filters: ChunkFilter | None = None) -> list[ScoredId]:
        """The ``k`` best Milvus BM25 matches of the keywords in ``query`` that ``filters`` allows."""
        terms = list(dict.fromkeys(bm25_terms(query))) if isinstance(query, str) else []
        if not terms or k <= 0:
            return []
        try:
            hits = self._search(" ".join(terms[:_MAX_QUERY_TOKENS]), "sparse", "BM25", k, filters)
        except MilvusException as exc:
            log.warning("full-text query %r failed: %s", query, exc)
            return []
        # Milvus Lite reports BM25 scores negated (best first); report them positive, larger = better, like FTS5.
        return [ScoredId(h.chunk_id, abs(h.score)) for h in hits]

    # ------------------------------------------------------------------ stats / verify / repair
    def _count(self, collection: str, expr: str) -> int:
        rows = self._client.query(collection, filter=expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def stats(self) -> IndexStats:
        """Counts of committed documents and chunks, the embedder and the commit generation."""
        docs = self._snapshot()
        writes = [d.write_id for d in docs.values()]
        chunks = self._count(self.chunks_collection, _in_list("write_id", writes)) if writes else 0
        with self._lock:
            generation = self._generation
        return IndexStats(
            documents=len(docs),
            contents=len({d.content_hash for d in docs.values()}),
            chunks=chunks,
            vectors=chunks,
            dimension=self.dimension,
            embedder_id=self.embedder_id,
            generation=generation,
            catalog_bytes=0,
            faiss_bytes=0,
        )

    def _uncommitted(self) -> dict[str, tuple[int, int]]:
        """write_id → (chunk rows, text rows) of writes no commit record names."""
        committed = {d.write_id for d in self._snapshot().values()}
        out: dict[str, list[int]] = {}
        for r in self._scan(self.chunks_collection, "id >= 0", ["write_id"]):
            if r["write_id"] not in committed:
                out.setdefault(r["write_id"], [0, 0])[0] += 1
        for r in self._scan(self.documents_collection, 'kind == "text"', ["write_id"]):
            if r["write_id"] not in committed:
                out.setdefault(r["write_id"], [0, 0])[1] += 1
        return {w: (v[0], v[1]) for w, v in out.items()}

    def verify(self, grace_s: float = REPAIR_GRACE_S) -> VerifyReport:
        """Check every committed document (text hash, chunk count, spans, embeddings) and look for leftovers.

        Rows of uncommitted writes older than ``grace_s`` are problems (an interrupted write: ``repair()``);
        younger ones may belong to a writer at work and are only logged.
        """
        problems: list[str] = []
        checked = 0
        docs = self._snapshot()
        for doc in docs.values():
            text = self._text_of(doc.write_id)
            if content_hash(text) != doc.content_hash or len(text) != doc.n_chars:
                problems.append(f"{doc.source}: stored text does not match its sha256/length")
            rows = self._chunk_rows(doc.write_id, ["ord", "span_start", "span_end", "text", "dense"])
            checked += len(rows)
            if len(rows) != doc.n_chunks or [int(r["ord"]) for r in rows] != list(range(len(rows))):
                problems.append(f"{doc.source}: {len(rows)} chunks, its commit record says {doc.n_chunks}")
            for r in rows:
                start, end = int(r["span_start"]), int(r["span_end"])
                if not (0 <= start < end <= len(text)) or text[start:end] != r["text"]:
                    problems.append(f"{doc.source}: chunk {r['ord']} text does not match its span [{start}:{end}]")
                vec = np.asarray(r["dense"], dtype=np.float32)
                norm = float(np.linalg.norm(vec))
                if vec.shape != (self.dimension,) or not np.isfinite(norm) or abs(norm - 1.0) > 1e-3:
                    problems.append(
                        f"{doc.source}: chunk {r['ord']} embedding is not a unit vector of {self.dimension}"
                    )
        for write_id, (n_chunks, n_texts) in sorted(self._uncommitted().items()):
            what = f"uncommitted write {write_id}: {n_chunks} chunk rows, {n_texts} text rows"
            if _write_age_s(write_id) >= grace_s:
                problems.append(f"{what} (an interrupted write; run `ragqa index verify --repair`)")
            else:
                log.info("verify %s: %s, younger than %.0f s: a write in progress?", self.location, what, grace_s)
        for problem in problems:
            log.warning("verify %s: %s", self.location, problem)
        return VerifyReport(ok=not problems, problems=problems, checked_chunks=checked)

    def repair(self, grace_s: float = REPAIR_GRACE_S) -> list[str]:
        """Delete the rows of uncommitted writes older than ``grace_s`` and stale delete tombstones."""
        actions: list[str] = []
        with self._wlock:
            self._check_open()
            for write_id, (n_chunks, n_texts) in sorted(self._uncommitted().items()):
                if _write_age_s(write_id) >= grace_s:
                    self._delete_write(write_id)
                    actions.append(f"deleted interrupted write {write_id} ({n_chunks} chunk rows, {n_texts} text rows)")
            tombstones = [
                r["key"]
                for r in self._scan(self.documents_collection, 'kind == "doc" and write_id == ""', ["key", "added_at"])
                if time.time() - float(r["added_at"]) >= grace_s
            ]
            if tombstones:
                self._client.delete(self.documents_collection, ids=tombstones)
                actions.append(f"deleted {len(tombstones)} delete tombstones")
        for action in actions:
            log.info("repair %s: %s", self.location, action)
        return actions

    def rebuild(self) -> None:
        """Milvus keeps its dense and BM25 indexes itself: drop leftovers of interrupted writes and compact."""
        self.repair()
        with contextlib.suppress(Exception):  # Milvus Lite does not implement every maintenance call
            self._client.flush(self.chunks_collection)
            self._client.compact(self.chunks_collection)
        log.info("rebuilt %s", self.location)


def _not_found(source: str, collection: str) -> str:
    where = "" if collection == DEFAULT_COLLECTION else f" in collection {collection!r}"
    return f"no document {source!r}{where}"
