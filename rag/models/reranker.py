"""Rerankers: the ``Reranker`` protocol, the cross-encoder implementation, and a word-overlap fake for tests."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import ModelError
from rag.models.device import CUDA_PROVIDER, onnx_provider
from rag.models.embedder import _onnx_file
from rag.models.onnx_direct import DirectOnnxCrossEncoder
from rag.models.resolve import ResolvedModel

log = logging.getLogger(__name__)


class Reranker(Protocol):
    model_id: str

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """Relevance logits, one per passage (higher is more relevant)."""
        ...


class CrossEncoderReranker:
    def __init__(
        self, resolved: ResolvedModel, *, max_length: int = 256, batch_size: int = 16, device: str = "cpu"
    ) -> None:
        self.model_id = resolved.model_id
        kwargs: dict[str, object] = {}
        onnx = _onnx_file(resolved.location) if resolved.kind != "hub" else None
        self._direct: DirectOnnxCrossEncoder | None = None
        if onnx:
            provider = onnx_provider(device)
            device = device if provider == CUDA_PROVIDER else "cpu"
            if device == "cpu":
                # onnxruntime + tokenizers alone: the same scores, without importing torch/sentence-transformers.
                try:
                    self._direct = DirectOnnxCrossEncoder(
                        Path(resolved.location),
                        Path(resolved.location) / onnx,
                        max_length=max_length,
                        batch_size=batch_size,
                    )
                except ValueError as exc:
                    log.info("reranker %s: through sentence-transformers (%s)", resolved.setting, exc)
                except Exception as exc:
                    raise ModelError(f"cannot load reranker {resolved.setting!r}: {exc}") from exc
            kwargs = {
                "backend": "onnx",
                "model_kwargs": {"file_name": onnx, "provider": provider},
            }
        self.device = device
        self._batch_size = batch_size
        if self._direct is not None:
            return
        from sentence_transformers import CrossEncoder

        try:
            self._model = CrossEncoder(resolved.location, device=device, max_length=max_length, **kwargs)
        except Exception as exc:
            raise ModelError(f"cannot load reranker {resolved.setting!r}: {exc}") from exc

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        if self._direct is not None:
            return self._direct.score(query, passages)
        scores = self._model.predict(
            [(query, p) for p in passages],
            batch_size=self._batch_size,
            convert_to_numpy=True,
            activation_fn=None,
            show_progress_bar=False,
        )
        return np.asarray(scores, dtype=np.float32).reshape(-1)
