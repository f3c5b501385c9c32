"""Deterministic test doubles that implement the model Protocols (embedder, reranker, generator, judge).

Fast unit tests use them instead of real models; production code never imports this module.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from rag.errors import GenerationCancelled
from rag.verify import content_terms

if TYPE_CHECKING:  # importing the generator module pulls in torch: slow for the subprocesses that use fakes
    from rag.models.generator import ChatMessage

_WORD = re.compile(r"\w+")


class HashEmbedder:
    """Deterministic bag-of-words hashing embedder: shared words → similar vectors. For fast tests only."""

    model_id = "hash-embedder"
    checksum = "hash-v1"

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dimension, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            vec[h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            vec[0] = 1.0
            return vec
        return vec / norm

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


class OverlapReranker:
    """Scores by the share of the query's content words found in the passage, mapped to a logit-like range
    (-6 … 6). Tests only."""

    model_id = "overlap-reranker"

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        from rag.verify import STOPWORDS

        q = {w for w in _WORD.findall(query.lower()) if len(w) > 2 and w not in STOPWORDS}
        out = []
        for p in passages:
            words = set(_WORD.findall(p.lower()))
            share = len(q & words) / len(q) if q else 0.0
            out.append(12.0 * share - 6.0)
        return np.asarray(out, dtype=np.float32)


class ScriptedGenerator:
    """Deterministic fake: ``respond(messages)`` returns the full completion, streamed word by word. Tests only."""

    model_id = "scripted-generator"

    def __init__(self, respond: Callable[[Sequence[ChatMessage]], str]) -> None:
        self._respond = respond
        self.calls: list[Sequence[ChatMessage]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: Sequence[ChatMessage], *, max_new_tokens: int, cancel: threading.Event | None = None
    ) -> Iterator[str]:
        self.calls.append(messages)
        words = self._respond(messages).split(" ")
        for i, word in enumerate(words[:max_new_tokens]):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation cancelled")
            yield word if i == 0 else " " + word


class OverlapJudge:
    """The judge's fake: "yes" in proportion to the share of the question's content words that the sentences
    contain (log-odds -6 … 6, "no" below a quarter). Implements ``rag.judge.AnswerJudge``."""

    model_id = "overlap-judge"

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []

    def log_odds(self, question: str, sentences: Sequence[str], titles: Sequence[str] = ()) -> float:
        self.calls.append((question, tuple(sentences), tuple(titles)))
        q = content_terms(question)
        share = len(q & content_terms(" ".join(sentences))) / len(q) if q else 0.0
        return 12.0 * share - 3.0
