"""Embedders: the ``Embedder`` protocol, the sentence-transformers implementation, and a hashing fake for tests."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from rag.errors import ModelError
from rag.models.resolve import ResolvedModel

log = logging.getLogger(__name__)


class Embedder(Protocol):
    model_id: str
    checksum: str
    dimension: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """sentence-transformers model (ONNX backend when the folder has ``onnx/model.onnx``), normalised vectors."""

    def __init__(self, resolved: ResolvedModel, *, batch_size: int = 32, device: str = "cpu") -> None:
        self.model_id = resolved.model_id
        self.checksum = resolved.checksum
        self._resolved = resolved
        self._batch_size = batch_size
        from sentence_transformers import SentenceTransformer

        from rag.models.device import CUDA_PROVIDER, onnx_provider

        kwargs: dict[str, object] = {}
        onnx = resolved.kind != "hub" and (_onnx_file(resolved.location) is not None)
        if onnx:
            provider = onnx_provider(device)
            device = device if provider == CUDA_PROVIDER else "cpu"
            kwargs = {
                "backend": "onnx",
                "model_kwargs": {
                    "file_name": _onnx_file(resolved.location),
                    "provider": provider,
                },
            }
        self.device = device
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
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._model.encode(
            [text],
            prompt_name=self._query_prompt,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vector[0], dtype=np.float32)


def _onnx_file(location: str) -> str | None:
    from pathlib import Path

    for candidate in ("onnx/model.onnx", "model.onnx"):
        if (Path(location) / candidate).is_file():
            return candidate
    return None
