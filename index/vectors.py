"""The dense vector index: a small ``VectorIndex`` protocol and its FAISS implementation.

Vectors are normalised float32 and compared by inner product (cosine); ids are ``chunks.id`` from the catalog.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import faiss
import numpy as np

logger = logging.getLogger(__name__)


class VectorIndex(Protocol):
    dimension: int

    @property
    def ntotal(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> int: ...

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]: ...

    def ids(self) -> np.ndarray: ...

    def reconstruct(self, chunk_id: int) -> np.ndarray: ...

    def serialize(self) -> bytes: ...


class FaissVectorIndex:
    """``IndexIDMap2(IndexFlatIP(dim))``: exact inner-product search with external ids and reconstruction."""

    def __init__(self, dimension: int, index: Any = None) -> None:
        self.dimension = dimension
        if index is None:
            self._flat = faiss.IndexFlatIP(dimension)
            index = faiss.IndexIDMap2(self._flat)
        self._index: Any = index  # faiss.IndexIDMap2

    @classmethod
    def deserialize(cls, data: bytes, dimension: int) -> FaissVectorIndex:
        """Load a serialised index; ``ValueError`` if it is unreadable or not the expected kind."""
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except Exception as exc:  # faiss raises RuntimeError with a C++ message
            raise ValueError(f"faiss cannot read it: {exc}") from exc
        if not isinstance(index, faiss.IndexIDMap2):
            raise ValueError(f"unexpected index type {type(index).__name__}")
        if index.d != dimension:
            raise ValueError(f"dimension {index.d} != {dimension}")
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError("metric is not inner product")
        return cls(dimension, index)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        x = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dimension)
        self._index.add_with_ids(x, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        sel = faiss.IDSelectorBatch(np.ascontiguousarray(ids, dtype=np.int64))
        return int(self._index.remove_ids(sel))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        limit = self.ntotal if allowed is None else min(self.ntotal, len(allowed))
        k = min(k, limit)
        if k <= 0:
            return []
        x = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dimension)
        if allowed is None:
            scores, labels = self._index.search(x, k)
        else:
            sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            params = faiss.SearchParameters()
            params.sel = sel
            scores, labels = self._index.search(x, k, params=params)
        return [(int(i), float(s)) for i, s in zip(labels[0], scores[0], strict=True) if i >= 0]

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        return np.asarray(self._index.reconstruct(int(chunk_id)), dtype=np.float32)

    def serialize(self) -> bytes:
        return faiss.serialize_index(self._index).tobytes()
