"""Plain record types of the storage layer (no dependency on ``rag``)."""

from __future__ import annotations

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


@dataclass(frozen=True)
class ChunkFilter:
    """Optional metadata filter: ``source_glob`` (SQLite GLOB on source) and an inclusive ISO date range."""

    source_glob: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    @property
    def empty(self) -> bool:
        return self.source_glob is None and self.date_from is None and self.date_to is None


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
