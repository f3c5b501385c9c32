"""The storage layer of ragqa: a SQLite catalog (truth) plus a FAISS vector index (derived), or Milvus.

Never imports ``rag`` or ``api``.
"""

from index.catalog import DEFAULT_COLLECTION
from index.contract import Store
from index.errors import (
    CorruptIndexError,
    DocumentNotFoundError,
    EmbedderMismatchError,
    IndexLockedError,
    StorageError,
)
from index.factory import CopySummary, StoreTarget, copy_index, open_store, target_from_uri
from index.records import (
    ChunkFilter,
    ChunkRecord,
    DocumentRecord,
    IndexStats,
    NewChunk,
    ScoredId,
    VerifyReport,
)
from index.store import IndexStore, check_collection, content_hash

__all__ = [
    "DEFAULT_COLLECTION",
    "ChunkFilter",
    "ChunkRecord",
    "CopySummary",
    "CorruptIndexError",
    "DocumentNotFoundError",
    "DocumentRecord",
    "EmbedderMismatchError",
    "IndexLockedError",
    "IndexStats",
    "IndexStore",
    "NewChunk",
    "ScoredId",
    "StorageError",
    "Store",
    "StoreTarget",
    "VerifyReport",
    "check_collection",
    "content_hash",
    "copy_index",
    "open_store",
    "target_from_uri",
]
