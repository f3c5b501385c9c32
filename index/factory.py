"""Pick and open the index backend: ``faiss`` (SQLite + FAISS in a data dir) or ``milvus`` (a Milvus URI)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from index.contract import Store, iter_documents
from index.errors import StorageError
from index.store import IndexStore
from index.vectors import AnnConfig

log = logging.getLogger(__name__)

StoreKind = Literal["faiss", "milvus"]


@dataclass(frozen=True)
class StoreTarget:
    """Where an index lives: a FAISS data dir, or a Milvus URI with its token and collection prefix."""

    kind: StoreKind
    data_dir: Path | None = None
    uri: str = ""
    token: str = ""
    prefix: str = "ragqa_"

    @property
    def location(self) -> str:
        """The data dir (faiss) or the Milvus URI and collection prefix, for messages."""
        return str(self.data_dir) if self.kind == "faiss" else f"{self.uri} (collections {self.prefix}*)"


def target_from_uri(uri: str, *, token: str = "", prefix: str = "ragqa_") -> StoreTarget:
    """``http(s)://…``, ``tcp://…`` or a path ending in ``.db`` → Milvus; any other path → a FAISS data dir."""
    from index.milvus_store import is_milvus_uri

    if not uri:
        raise StorageError("the target URI is empty")
    if is_milvus_uri(uri):
        return StoreTarget("milvus", uri=uri, token=token, prefix=prefix)
    return StoreTarget("faiss", data_dir=Path(uri))


def open_store(
    target: StoreTarget,
    *,
    embedder_id: str,
    embedder_checksum: str,
    dimension: int,
    create: bool = True,
    ann: AnnConfig | None = None,
) -> Store:
    """Open the index at ``target`` with the embedder it must have been built with (``ann``: FAISS only; Milvus
    keeps its own index)."""
    if target.kind == "faiss":
        if target.data_dir is None:
            raise StorageError("the FAISS store needs a data dir")
        return IndexStore.open(
            target.data_dir,
            embedder_id=embedder_id,
            embedder_checksum=embedder_checksum,
            dimension=dimension,
            create=create,
            ann=ann,
        )
    if target.kind == "milvus":
        from index.milvus_store import MilvusStore

        return MilvusStore.open(
            target.uri,
            embedder_id=embedder_id,
            embedder_checksum=embedder_checksum,
            dimension=dimension,
            token=target.token,
            prefix=target.prefix,
            create=create,
        )
    raise StorageError(f"unknown store {target.kind!r}: use faiss or milvus")


@dataclass(frozen=True)
class CopySummary:
    documents: int
    chunks: int
    added: int
    replaced: int
    unchanged: int


def copy_index(source: Store, destination: Store, *, on_document: Callable[[int], None] | None = None) -> CopySummary:
    """Copy every document (text, metadata, chunks and their embeddings) from ``source`` into ``destination``.

    No re-embedding: the stored vectors travel. Idempotent (unchanged documents are skipped), so an interrupted
    copy can simply be run again. ``on_document(n_chunks)`` is called after each document (progress bars).
    """
    if source.embedder_id != destination.embedder_id or source.dimension != destination.dimension:
        raise StorageError(
            f"cannot copy: {source.location} uses {source.embedder_id} ({source.dimension}), "
            f"{destination.location} uses {destination.embedder_id} ({destination.dimension})"
        )
    counts = {"added": 0, "replaced": 0, "unchanged": 0}
    documents = chunks = 0
    with destination.writer():
        for doc, text, stored in iter_documents(source):
            result = destination.upsert_document(
                source=doc.source,
                title=doc.title,
                text=text,
                chunks=stored,
                date=doc.date,
                meta=doc.meta,
                page_starts=doc.page_starts,
                collection=doc.collection,
                origin=doc.origin,
            )
            counts[result] += 1
            documents += 1
            chunks += len(stored)
            if on_document is not None:
                on_document(len(stored))
    log.info("copied %d documents (%d chunks) to %s", documents, chunks, destination.location)
    return CopySummary(documents, chunks, counts["added"], counts["replaced"], counts["unchanged"])
