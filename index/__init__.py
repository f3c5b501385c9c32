"""The storage layer of ragqa: a SQLite catalog (truth) plus a FAISS vector index (derived).

Never imports ``rag`` or ``api``.
"""

from index.catalog import DEFAULT_COLLECTION
from index.errors import (
    CorruptIndexError,
    DocumentNotFoundError,
    EmbedderMismatchError,
    IndexLockedError,
    StorageError,
)
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
    "VerifyReport",
    "check_collection",
    "content_hash",
]
