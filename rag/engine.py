"""The loaded parts of ragqa — index, embedder, reranker, generator — opened once per process."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from index import IndexStore
from index.vectors import AnnConfig
from rag.errors import ModelError
from rag.models.device import resolve_device
from rag.models.embedder import Embedder, SentenceTransformerEmbedder
from rag.models.generator import Generator, TransformersGenerator, int8_cache_path
from rag.models.remote import OpenAICompatibleGenerator
from rag.models.reranker import CrossEncoderReranker, Reranker
from rag.models.resolve import resolve
from rag.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Engine:
    """Everything a question or an ingest needs. Build with :meth:`load`, or directly with fakes in tests."""

    settings: Settings
    store: IndexStore
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
        device = resolve_device(settings.device)
        embedder = SentenceTransformerEmbedder(
            resolve(settings.embedder, "embedder", settings.models_dir, progress=progress), device=device
        )
        timings["embedder"] = time.perf_counter() - t0
        store = IndexStore.open(
            settings.data_dir,
            embedder_id=embedder.model_id,
            embedder_checksum=embedder.checksum,
            dimension=embedder.dimension,
            create=create,
            ann=ann_config(settings),
        )
        engine = cls(settings=settings, store=store, embedder=embedder, load_seconds=timings)
        # The generator (the slowest part: reading ~0.5 GB of weights) loads in parallel with the reranker; the
        # embedder came first, so the heavy imports they share are done once, in this thread.
        loading = engine.load_generator_in_background(progress=progress) if generator else None
        if reranker and settings.rerank:
            t0 = time.perf_counter()
            engine.reranker = CrossEncoderReranker(
                resolve(settings.reranker, "reranker", settings.models_dir, progress=progress),
                max_length=settings.rerank_max_tokens,
                device=device,
            )
            timings["reranker"] = time.perf_counter() - t0
        if loading is not None:
            loading.join()
            engine.ensure_generator(progress=progress)  # raises here if the background load failed
        return engine

    def ensure_generator(self, *, progress: bool = False) -> Generator:
        with self._generator_lock:
            if self.generator is None:
                t0 = time.perf_counter()
                self.generator = build_generator(self.settings, progress=progress)
                self.load_seconds["generator"] = time.perf_counter() - t0
            return self.generator

    def load_generator_in_background(self, *, progress: bool = False) -> threading.Thread:
        """Start loading the generator in a thread and return at once; :meth:`ensure_generator` waits for it.

        The answer path streams its first (quoted) sentence from retrieval and reranking alone, so a command that
        answers one question shows it while the generator is still loading. A failure here is only logged:
        ``ensure_generator`` then loads again in the caller's thread and raises there.
        """

        def load() -> None:
            try:
                self.ensure_generator(progress=progress)
            except Exception as exc:
                log.warning("loading the generator in the background failed: %s", exc)

        thread = threading.Thread(target=load, name="ragqa-load-generator", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.store.close()
        closer = getattr(self.generator, "close", None)
        if callable(closer):
            closer()


def ann_config(settings: Settings) -> AnnConfig:
    return AnnConfig(threshold=settings.ann_threshold, nprobe=settings.ann_nprobe, nlist=settings.ann_nlist)


def build_generator(settings: Settings, *, progress: bool = False) -> Generator:
    """The remote OpenAI-compatible generator when ``generator_url`` is set, else the local transformers model."""
    s = settings
    if s.generator_url:
        if not s.generator_model:
            raise ModelError("RAGQA_GENERATOR_URL is set but RAGQA_GENERATOR_MODEL is not: name the model to request")
        log.info("generator: remote %s at %s", s.generator_model, s.generator_url)
        return OpenAICompatibleGenerator(
            s.generator_url,
            s.generator_model,
            api_key=s.generator_api_key.get_secret_value() if s.generator_api_key else None,
            timeout_s=s.generator_timeout_s,
            retry_after_s=s.generator_retry_after_s,
        )
    resolved = resolve(s.generator, "generator", s.models_dir, progress=progress)
    device = resolve_device(s.device)
    return TransformersGenerator(
        resolved,
        device=device,
        quantize_int8=s.quantize_int8,
        threads=s.torch_threads,
        int8_cache=int8_cache_path(s.models_dir, resolved) if s.quantize_int8 and device == "cpu" else None,
    )
