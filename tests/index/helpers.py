"""Helpers for the storage-layer tests: random normalised vectors (dim 8), no models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index import IndexStore, NewChunk

DIM = 8
EMBEDDER = "test-embedder"
CHECKSUM = "0" * 64


def unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def make_chunks(text: str, rng: np.random.Generator, size: int = 30) -> list[NewChunk]:
    return [
        NewChunk(start=s, end=min(s + size, len(text)), text=text[s : s + size], embedding=unit(rng))
        for s in range(0, len(text), size)
    ]


def open_store(data_dir: Path, **kwargs: object) -> IndexStore:
    params: dict[str, object] = {"embedder_id": EMBEDDER, "embedder_checksum": CHECKSUM, "dimension": DIM}
    params.update(kwargs)
    return IndexStore.open(data_dir, **params)  # type: ignore[arg-type]


def add(store: IndexStore, source: str, text: str, rng: np.random.Generator, **kwargs: object) -> list[NewChunk]:
    chunks = make_chunks(text, rng)
    store.upsert_document(source=source, title=source.upper(), text=text, chunks=chunks, **kwargs)  # type: ignore[arg-type]
    return chunks
