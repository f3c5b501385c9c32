"""Embedders: the ``Embedder`` protocol, the sentence-transformers implementation, and a hashing fake for tests."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import ModelError
from rag.models.onnx_direct import DirectOnnxEmbedder
from rag.models.resolve import ResolvedModel

log = logging.getLogger(__name__)

EMBED_BATCH_SIZE = 4
"""Texts per forward pass of the embedder. Chosen by measurement for ingest (``bench/ingest_speed.py``, README
"Ingest throughput"): with the int8 ONNX model on this 2-core AVX2 CPU, batches of 4 ran ~1.3× faster than 32 (most
likely the activations of 32 texts no longer fit the caches; 1, 4 and 8 were within ~10% of each other). The int8 model
quantises its activations per batch, so the batch size changes the vectors slightly (cosine ≥ 0.99 against 32's);
the direct ONNX path and sentence-transformers use the same value, so they still give the same numbers."""


class Embedder(Protocol):
    model_id: str
    checksum: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """sentence-transformers model (ONNX backend when the folder has ``onnx/model.onnx``), normalised vectors."""

    def __init__(self, resolved: ResolvedModel, *, batch_size: int = EMBED_BATCH_SIZE, device: str = "cpu") -> None:
        self.model_id = resolved.model_id
        self.checksum = resolved.checksum
        self._resolved = resolved
        self._batch_size = batch_size
        from rag.models.device import CUDA_PROVIDER, onnx_provider

        kwargs: dict[str, object] = {}
        onnx_file = _onnx_file(resolved.location) if resolved.kind != "hub" else None
        self._direct: DirectOnnxEmbedder | None = None
        if onnx_file is not None:
            provider = onnx_provider(device)
            device = device if provider == CUDA_PROVIDER else "cpu"
            if device == "cpu":
                # onnxruntime + tokenizers alone: the same vectors, without importing torch/sentence-transformers.
                try:
                    self._direct = DirectOnnxEmbedder(
                        Path(resolved.location), Path(resolved.location) / onnx_file, batch_size=batch_size
                    )
                except ValueError as exc:
                    log.info("embedder %s: through sentence-transformers (%s)", resolved.setting, exc)
                except Exception as exc:
                    raise ModelError(f"cannot load embedder {resolved.setting!r}: {exc}") from exc
            kwargs = {
                "backend": "onnx",
                "model_kwargs": {"file_name": onnx_file, "provider": provider},
            }
        self.device = device
        if self._direct is not None:
            self.dimension = self._direct.dimension
            return
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(resolved.location, device=device, **kwargs)
        except Exception as exc:
            raise ModelError(f"cannot load embedder {resolved.setting!r}: {exc}") from exc
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ModelError(f"embedder {resolved.setting!r} does not report its dimension")
        self.dimension = int(dim)
        prompts = getattr(self._model, "prompts", {}) or {}
        self._query_prompt = "query" if prompts.get("query") else None

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._direct is not None:
            return self._direct.embed(texts)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        if self._direct is not None:
            return self._direct.embed([text], self._direct.query_prompt)[0]
        vector = self._model.encode(
            [text],
            prompt_name=self._query_prompt,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vector[0], dtype=np.float32)


def _onnx_file(location: str) -> str | None:
    for candidate in ("onnx/model.onnx", "model.onnx"):
        if (Path(location) / candidate).is_file():
            return candidate
    return None
