"""The loaded parts of ragqa — index, embedder, reranker, generator — opened once per process."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from index import Store, StoreTarget, open_store
from rag.models.embedder import Embedder, SentenceTransformerEmbedder
from rag.models.generator import Generator, TransformersGenerator
from rag.models.reranker import CrossEncoderReranker, Reranker
from rag.models.resolve import resolve
from rag.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """Everything a question or an ingest needs. Build with :meth:`load`, or directly with fakes in tests."""

    settings: Settings
    store: Store
    embedder: Embedder
    reranker: Reranker | None = None
    generator: Generator | None = None
    load_seconds: dict[str, float] = field(default_factory=dict)
    _generator_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(
        cls,
        settings: Settings,
        *,
        reranker: bool = True,
        generator: bool = False,
        create: bool = True,
        progress: bool = False,
    ) -> Engine:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        embedder = SentenceTransformerEmbedder(
            resolve(settings.embedder, "embedder", settings.models_dir, progress=progress)
        )
        timings["embedder"] = time.perf_counter() - t0
        store = open_store(
            store_target(settings),
            embedder_id=embedder.model_id,
            embedder_checksum=embedder.checksum,
            dimension=embedder.dimension,
            create=create,
        )
        engine = cls(settings=settings, store=store, embedder=embedder, load_seconds=timings)
        if reranker and settings.rerank:
            t0 = time.perf_counter()
            engine.reranker = CrossEncoderReranker(
                resolve(settings.reranker, "reranker", settings.models_dir, progress=progress),
                max_length=settings.rerank_max_tokens,
            )
            timings["reranker"] = time.perf_counter() - t0
        if generator:
            engine.ensure_generator(progress=progress)
        return engine

    def ensure_generator(self, *, progress: bool = False) -> Generator:
        with self._generator_lock:
            if self.generator is None:
                t0 = time.perf_counter()
                s = self.settings
                self.generator = TransformersGenerator(
                    resolve(s.generator, "generator", s.models_dir, progress=progress),
                    device=s.device,
                    quantize_int8=s.quantize_int8,
                    threads=s.torch_threads,
                )
                self.load_seconds["generator"] = time.perf_counter() - t0
            return self.generator

    def close(self) -> None:
        self.store.close()


def store_target(settings: Settings) -> StoreTarget:
    """The index the settings name: ``data_dir`` for faiss; ``milvus_uri`` (default ``<data_dir>/milvus.db``)."""
    if settings.store == "milvus":
        return StoreTarget(
            "milvus",
            uri=settings.milvus_uri or str(settings.data_dir / "milvus.db"),
            token=settings.milvus_token.get_secret_value(),
            prefix=settings.milvus_collection_prefix,
        )
    return StoreTarget("faiss", data_dir=settings.data_dir)
