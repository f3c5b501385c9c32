"""The dense vector index: a small ``VectorIndex`` protocol and its FAISS implementation.

Vectors are normalised float32 and compared by inner product (cosine); ids are ``chunks.id`` from the catalog.

Below ``AnnConfig.threshold`` vectors the index is exact (``IndexIDMap2(IndexFlatIP)``). When an ``add`` takes it to
the threshold it becomes approximate, once: an ``IndexIVFScalarQuantizer`` (inverted lists over k-means cells,
8-bit scalar-quantised codes, a hash-table id map for reconstruct/remove) trained on the vectors it holds at that
moment. Chosen by measurement (``bench/ann.py``): at 1M 384-d vectors it builds in about a minute on 2 cores, keeps
~0.4 GB (4× less than float32 — HNSW over float32 alone needs 1.5 GB plus its graph) and answers in about a
few milliseconds at recall@10 ≥ 0.95. Filters are honoured exactly: a small allowed set (≤ 2,000 ids) is scored
exhaustively from its decoded vectors; a larger one is searched in the IVF index with an id selector, probing more
cells as the allowed share shrinks.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Protocol

import faiss
import numpy as np

log = logging.getLogger(__name__)

_HASHTABLE: Any = faiss.DirectMap.Hashtable  # type: ignore[attr-defined]  # (missing from faiss's stubs)


class VectorIndex(Protocol):
    """Embeddings by chunk id, searched by inner product (the vectors are normalised)."""

    dimension: int

    @property
    def ntotal(self) -> int:
        """How many vectors the index holds."""
        ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` (one row per id) under ``ids``."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors of ``ids`` that are present; returns how many were removed."""
        ...

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` (id, score) pairs nearest to ``query``, best first; only ids in ``allowed`` if given."""
        ...

    def ids(self) -> np.ndarray:
        """Every id in the index."""
        ...

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        """The stored vector of ``chunk_id`` (approximate indexes: the decoded one)."""
        ...

    def serialize(self) -> bytes:
        """The index as bytes, to write to the FAISS file."""
        ...


@dataclass(frozen=True)
class AnnConfig:
    """When and how the exact index becomes approximate (IVF + 8-bit scalar quantiser)."""

    threshold: int = 200_000
    """Vectors at which the index turns approximate; 0 = always exact."""
    nprobe: int = 16
    """Inverted lists (cells) probed per query; more = better recall, slower."""
    nlist: int = 0
    """Cells; 0 = a power of two near 4·√n at the time of training (4096 at 1M)."""
    train_size: int = 100_000
    """At most this many vectors (an even sample) train the k-means cells and the quantiser."""

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.nprobe < 1 or self.nlist < 0 or self.train_size < 1:
            raise ValueError(f"invalid ANN configuration {self}")

    def cells_for(self, n: int) -> int:
        """IVF cells for ``n`` vectors: ``nlist`` if set, else a power of two near 4·sqrt(n), 39+ points each."""
        if self.nlist:
            return self.nlist
        auto = int(min(65536, max(64, 2 ** round(math.log2(4 * math.sqrt(max(n, 1)))))))
        return max(1, min(auto, n // 39))  # k-means wants at least 39 training points per cell


EXACT_TOLERANCE = 1e-5
SQ8_TOLERANCE = 0.05
"""Largest per-component difference between a stored and a reconstructed vector (8-bit codes are approximate; a
vector added after training that falls outside the trained range is clipped). Another vector in its place still
differs by far more in some component."""
EXACT_FILTER_MAX = 2_000
"""A filter allowing at most this many ids is answered by scoring exactly those (decoded) vectors (decoding
runs at about 25 µs a vector, so only small sets gain)."""
SQ8_RANGE_MARGIN = 0.25
"""The 8-bit code range is the trained per-dimension min..max widened by this share on each side."""


class FaissVectorIndex:
    """Exact ``IndexIDMap2(IndexFlatIP(dim))`` below ``ann.threshold`` vectors, ``IndexIVFScalarQuantizer`` above:
    inner-product search with external ids, removal and reconstruction either way."""

    def __init__(self, dimension: int, index: Any = None, *, ann: AnnConfig | None = None) -> None:
        self.dimension = dimension
        self.ann = ann or AnnConfig()
        if index is None:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._index: Any = index  # faiss.IndexIDMap2 or faiss.IndexIVFScalarQuantizer

    @classmethod
    def deserialize(cls, data: bytes, dimension: int, *, ann: AnnConfig | None = None) -> FaissVectorIndex:
        """Load a serialised index; ``ValueError`` if it is unreadable or not the expected kind."""
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except Exception as exc:  # faiss raises RuntimeError with a C++ message
            raise ValueError(f"faiss cannot read it: {exc}") from exc
        if not isinstance(index, faiss.IndexIDMap2 | faiss.IndexIVFScalarQuantizer):
            raise ValueError(f"unexpected index type {type(index).__name__}")
        if index.d != dimension:
            raise ValueError(f"dimension {index.d} != {dimension}")
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError("metric is not inner product")
        if isinstance(index, faiss.IndexIVFScalarQuantizer):
            index.set_direct_map_type(_HASHTABLE)  # kept by the file; idempotent
        return cls(dimension, index, ann=ann)

    @property
    def approximate(self) -> bool:
        """True once the index is IVF with 8-bit codes (past ``ann.threshold`` vectors)."""
        return isinstance(self._index, faiss.IndexIVF)

    @property
    def kind(self) -> str:
        """``flat`` (exact) or ``ivf<cells>,sq8`` (approximate)."""
        return f"ivf{self._index.nlist},sq8" if self.approximate else "flat"

    @property
    def tolerance(self) -> float:
        """How far a reconstructed vector may be from the stored one, per component."""
        return SQ8_TOLERANCE if self.approximate else EXACT_TOLERANCE

    @property
    def ntotal(self) -> int:
        """How many vectors the index holds."""
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` under ``ids``; turns approximate when the count reaches the threshold."""
        if len(ids) == 0:
            return
        x = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dimension)
        self._index.add_with_ids(x, np.ascontiguousarray(ids, dtype=np.int64))
        if not self.approximate and self.ann.threshold and self.ntotal >= self.ann.threshold:
            self._become_approximate()

    def _flat_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        flat: Any = faiss.downcast_index(self._index.index)
        n = self.ntotal
        x = faiss.rev_swig_ptr(flat.get_xb(), n * self.dimension).reshape(n, self.dimension).copy()
        return self.ids(), x

    def _become_approximate(self) -> None:
        ids, x = self._flat_vectors()
        self._index = build_ivf(x, ids, self.ann)
        log.info("vector index is now approximate (%s) at %d vectors", self.kind, len(ids))

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors of ``ids`` that are present; returns how many were removed."""
        if len(ids) == 0:
            return 0
        wanted = np.ascontiguousarray(ids, dtype=np.int64)
        if self.approximate:  # the hash-table id map removes by an explicit id array only
            present = np.asarray([i for i in wanted if self._has(int(i))], dtype=np.int64)
            if len(present) == 0:
                return 0
            return int(self._index.remove_ids(faiss.IDSelectorArray(present)))
        return int(self._index.remove_ids(faiss.IDSelectorBatch(wanted)))

    def _has(self, chunk_id: int) -> bool:
        try:
            self._index.reconstruct(chunk_id)
        except RuntimeError:
            return False
        return True

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` (id, score) pairs nearest to ``query``, best first; only ids in ``allowed`` if given."""
        limit = self.ntotal if allowed is None else min(self.ntotal, len(allowed))
        k = min(k, limit)
        if k <= 0:
            return []
        x = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dimension)
        if self.approximate and allowed is not None and len(allowed) <= EXACT_FILTER_MAX:
            hits = self._search_among(x[0], k, np.ascontiguousarray(allowed, dtype=np.int64))
            if hits is not None:
                return hits
        params: Any = None
        if self.approximate:
            nlist = int(self._index.nlist)
            nprobe = min(nlist, self.ann.nprobe)
            if allowed is not None:  # probe more cells as the allowed share shrinks: as many allowed candidates
                share = max(len(allowed), 1) / max(self.ntotal, 1)
                nprobe = min(nlist, math.ceil(nprobe / min(share, 1.0)))
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe
        elif allowed is not None:
            params = faiss.SearchParameters()
        if allowed is not None:
            params.sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
        if params is None:
            scores, labels = self._index.search(x, k)
        else:
            scores, labels = self._index.search(x, k, params=params)
        return [(int(i), float(s)) for i, s in zip(labels[0], scores[0], strict=True) if i >= 0]

    def _search_among(self, q: np.ndarray, k: int, allowed: np.ndarray) -> list[tuple[int, float]] | None:
        """Score exactly the (decoded) vectors of a small allowed set; None if one of them is not in the index."""
        try:
            vectors = self._index.reconstruct_batch(allowed)
        except RuntimeError:
            return None
        scores = vectors @ q
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(allowed[i]), float(scores[i])) for i in top]

    def ids(self) -> np.ndarray:
        """Every id in the index (from the id map, or the IVF cells' lists)."""
        if not self.approximate:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        invlists = self._index.invlists
        parts = []
        for cell in range(int(self._index.nlist)):
            size = int(invlists.list_size(cell))
            if size:
                ptr = invlists.get_ids(cell)
                parts.append(faiss.rev_swig_ptr(ptr, size).astype(np.int64).copy())
                invlists.release_ids(cell, ptr)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        """The stored vector of ``chunk_id`` (approximate: decoded from its 8-bit code)."""
        return np.asarray(self._index.reconstruct(int(chunk_id)), dtype=np.float32)

    def serialize(self) -> bytes:
        """The index as bytes, to write to the FAISS file."""
        return faiss.serialize_index(self._index).tobytes()


def build_ivf(vectors: np.ndarray, ids: np.ndarray, ann: AnnConfig, *, batch: int = 65536) -> Any:
    """An ``IndexIVFScalarQuantizer`` (inner product, 8-bit codes, hash-table id map) holding ``vectors``."""
    n, dimension = vectors.shape
    nlist = ann.cells_for(n)
    quantizer: Any = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.own_fields = True
    quantizer.this.disown()  # the IVF index owns (and frees) its quantizer
    index.cp.niter = 10
    index.sq.rangestat_arg = SQ8_RANGE_MARGIN  # room for vectors added after training
    index.cp.max_points_per_centroid = max(1, ann.train_size // nlist + 1)
    sample = max(min(n, ann.train_size), nlist)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(n, size=min(sample, n), replace=False))
    index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
    index.set_direct_map_type(_HASHTABLE)
    for start in range(0, n, batch):
        chunk = np.ascontiguousarray(vectors[start : start + batch], dtype=np.float32)
        index.add_with_ids(chunk, np.ascontiguousarray(ids[start : start + batch], dtype=np.int64))
    index.nprobe = min(nlist, ann.nprobe)
    return index
