"""Named collections in one store: each document belongs to one (``default`` unless named), every read is scoped
to one, so passages of one collection never reach a search or an answer in another.

``in_collection`` puts the collection into the retrieval filter; ``scoped_engine`` gives the answer path an engine
whose store reads documents (``document_text``, ``get_document``, ``page_of``) from that collection by default, so
``rag.answer`` needs no collection argument of its own.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from index import DEFAULT_COLLECTION, ChunkFilter, Store, check_collection
from rag.engine import Engine

__all__ = ["DEFAULT_COLLECTION", "collection_name", "in_collection", "scoped_engine"]


def collection_name(name: str | None) -> str:
    """A valid collection name (``None`` → ``default``); ``BadInputError`` for a bad one."""
    if name is None:
        return DEFAULT_COLLECTION
    return check_collection(name)


def in_collection(filters: ChunkFilter | None, collection: str) -> ChunkFilter:
    """``filters`` (or no filter) restricted to ``collection``."""
    return dataclasses.replace(filters or ChunkFilter(), collection=collection_name(collection))


class _CollectionStore:
    """Delegates everything to the store, reading documents from one collection unless told otherwise."""

    def __init__(self, store: Store, collection: str) -> None:
        self._store = store
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def document_text(self, source: str, collection: str | None = None) -> str:
        return self._store.document_text(source, collection or self._collection)

    def get_document(self, source: str, collection: str | None = None) -> Any:
        return self._store.get_document(source, collection or self._collection)

    def page_of(self, source: str, offset: int, collection: str | None = None) -> int | None:
        return self._store.page_of(source, offset, collection or self._collection)


def scoped_engine(engine: Engine, collection: str) -> Engine:
    """The same engine (models, store, locks shared) with document reads scoped to ``collection``. Never close it."""
    collection = collection_name(collection)
    if collection == DEFAULT_COLLECTION:
        return engine
    return dataclasses.replace(engine, store=cast(Store, _CollectionStore(engine.store, collection)))
