"""Plain record types of the storage layer (no dependency on ``rag``)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class NewChunk:
    """A chunk to store: its exact span in the document text and its normalised embedding (float32, 1-D)."""

    start: int
    end: int
    text: str
    embedding: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class DocumentRecord:
    id: int
    source: str
    title: str
    content_hash: str
    date: str | None
    n_chunks: int
    n_chars: int
    added_at: float
    meta: dict[str, str] = field(default_factory=dict)
    page_starts: tuple[int, ...] = ()  # offset of each page (PDF page, slide) in the text; () = no pages
    collection: str = "default"
    origin: str = ""  # the folder a sync took it from ('' = ingested directly)

    def page_of(self, offset: int) -> int | None:
        """The 1-based page holding character ``offset``, or None for documents without pages."""
        return page_for(self.page_starts, offset)


def page_for(page_starts: Sequence[int], offset: int) -> int | None:
    """The 1-based page whose start is the last one at or before ``offset`` (None without pages)."""
    if not page_starts:
        return None
    return max(1, bisect.bisect_right(page_starts, offset))


@dataclass(frozen=True)
class ChunkRecord:
    """A stored chunk, resolved to one document that holds it; ``text == document_text[start:end]``."""

    id: int
    source: str
    title: str
    date: str | None
    ord: int
    start: int
    end: int
    text: str
    meta: dict[str, str] = field(default_factory=dict, compare=False)
    page: int | None = None  # 1-based page (PDF, slides) of ``start``; None for formats without pages
    collection: str = "default"


@dataclass(frozen=True)
class ChunkFilter:
    """Optional filter: ``source_glob`` (SQLite GLOB on source), an inclusive ISO date range, a collection (None =
    every collection), and metadata conditions: each ``(key, values)`` pair needs ``meta[key]`` to be one of
    ``values`` (one value = equality); all pairs must hold."""

    source_glob: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    collection: str | None = None
    meta: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def empty(self) -> bool:
        return (
            self.source_glob is None
            and self.date_from is None
            and self.date_to is None
            and self.collection is None
            and not self.meta
        )


@dataclass(frozen=True)
class ScoredId:
    chunk_id: int
    score: float


@dataclass(frozen=True)
class IndexStats:
    documents: int
    contents: int
    chunks: int
    vectors: int
    dimension: int
    embedder_id: str
    generation: int
    catalog_bytes: int
    faiss_bytes: int


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    problems: list[str]
    checked_chunks: int
