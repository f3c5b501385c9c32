"""What the answer stage returns: an ``Answer`` of verified sentences, each with the spans that support it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rag.retrieval import Passage


@dataclass(frozen=True)
class ChatTurn:
    """One earlier turn of the conversation, used to resolve follow-up questions."""

    role: Literal["user", "assistant"]
    content: str


CITATION_FIELDS = ("source", "title", "text", "start", "end", "page")
"""A citation's public fields, in the order its JSON outputs list them."""


@dataclass(frozen=True)
class Citation:
    """A quoted span of a stored document: ``text == document_text[start:end]``."""

    source: str
    title: str
    start: int
    end: int
    text: str
    page: int | None = None  # 1-based page (PDF, slides) of ``start``; filled by ``rag.pages.with_pages``

    def to_dict(self, fields: Sequence[str] = CITATION_FIELDS) -> dict[str, Any]:
        """The citation as a JSON-ready dict of ``fields``, in that order: the one serializer of a citation.
        Each output picks its subset (``ragqa ask --json`` all of them, its ``related`` all but ``page``, the
        evaluation rows all but ``title``); the HTTP schemas rename ``text`` to ``quote``."""
        return {name: getattr(self, name) for name in fields}


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citations: tuple[Citation, ...]
    origin: Literal["generated", "extractive"] = "generated"


@dataclass(frozen=True)
class Answer:
    question: str
    standalone_question: str
    sentences: tuple[AnswerSentence, ...]
    refused: bool
    refusal_reason: str | None
    passages: tuple[Passage, ...]
    timings: dict[str, float] = field(default_factory=dict)  # retrieval_s, rerank_s, ttft_s, generation_s, total_s
    models: dict[str, str] = field(default_factory=dict)  # role → model id
    dropped: tuple[str, ...] = ()  # generated sentences that failed verification (never shown)
    # With a refusal: the closest passages, quoted as "related, not an answer" (never counted as citations).
    related: tuple[Citation, ...] = ()
    # The answerability judge's log P(Yes) − log P(No) that the evidence states the answer (None: not asked).
    judge_score: float | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # names the answer for feedback (POST /v1/feedback)

    REFUSAL_TEXT = "The articles don't say."

    @property
    def text(self) -> str:
        """The answer as shown: its sentences joined, or the refusal text."""
        if self.refused:
            return self.REFUSAL_TEXT
        return " ".join(s.text for s in self.sentences)

    @property
    def citations(self) -> list[Citation]:
        """Every distinct citation, in order of first use (the numbering shown to users)."""
        seen: dict[tuple[str, int, int], Citation] = {}
        for sentence in self.sentences:
            for c in sentence.citations:
                seen.setdefault((c.source, c.start, c.end), c)
        return list(seen.values())


@dataclass(frozen=True)
class PassagesEvent:
    """First event of a stream: the passages retrieval found."""

    passages: tuple[Passage, ...]
    standalone_question: str


@dataclass(frozen=True)
class TokenEvent:
    """A piece of answer text. Only text of sentences that passed verification is streamed."""

    text: str


StreamEvent = PassagesEvent | TokenEvent | Answer
