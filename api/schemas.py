"""Every wire schema of the HTTP API, in one place.

Requests are validated here (shape and static limits); the limits that come from settings (question length,
``k``, history length, body and upload sizes) are checked in ``api.limits`` because they are not known at import.
The ``*_out`` functions (``citation_out``, ``passage_out``, ...) map the ``rag`` dataclasses to these schemas.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from index import DEFAULT_COLLECTION, ChunkFilter, DocumentRecord
from rag.answer_types import Answer, ChatTurn, Citation
from rag.feedback import MAX_COMMENT_CHARS
from rag.filters import meta_condition
from rag.retrieval import Passage

COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_TURN_CHARS = 20_000
"""Longest ``content`` of one history turn or chat message (assistant turns may be longer than questions)."""


MAX_SOURCE_CHARS = 512
"""The longest document source (identifier) accepted over HTTP."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def collection_field(what: str) -> Any:
    """The ``collection`` field every reading or writing body has (``default`` when left out)."""
    return Field(
        DEFAULT_COLLECTION,
        pattern=COLLECTION_PATTERN,
        description=f"The collection {what} (letters, digits, '_', '.', '-'; at most 64).",
        examples=["default", "risk"],
    )


# ------------------------------------------------------------------------------------------------ errors


class ErrorDetail(BaseModel):
    type: str = Field(description="Stable machine-readable kind, e.g. `not_found`, `limit_exceeded`, `busy`.")
    message: str = Field(description="One line for a person; names the limit when a limit was exceeded.")


class ErrorResponse(BaseModel):
    """The one error shape of the API (also the data of an SSE `error` event)."""

    error: ErrorDetail


# ------------------------------------------------------------------------------------------------ ask


class Turn(_Strict):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_TURN_CHARS)

    def to_rag(self) -> ChatTurn:
        """The turn as ``rag``'s ``ChatTurn``."""
        return ChatTurn(self.role, self.content)


class InValues(_Strict):
    in_: list[str] = Field(alias="in", min_length=1, description="The metadata value is one of these.")


class Filters(_Strict):
    source: str | None = Field(None, description="SQLite GLOB on the document source, e.g. `news/*.md`.")
    date_from: dt.date | None = Field(None, description="Inclusive ISO date.")
    date_to: dt.date | None = Field(None, description="Inclusive ISO date.")
    meta: dict[str, str | list[str] | InValues] | None = Field(
        None,
        description="Document metadata conditions, all of which must hold: `{key: value}` (equality), "
        '`{key: [v1, v2]}` or `{key: {"in": [v1, v2]}}` (any of the values).',
        examples=[{"team": "risk"}, {"team": {"in": ["risk", "ops"]}, "year": "2024"}],
    )

    def meta_values(self) -> dict[str, str | list[str]]:
        """The metadata condition as {key: value or list of values}."""
        return {k: v.in_ if isinstance(v, InValues) else v for k, v in (self.meta or {}).items()}

    def to_rag(self) -> ChunkFilter | None:
        """The filters as ``rag``'s ``ChunkFilter``; None when nothing is filtered."""
        filters = ChunkFilter(
            source_glob=self.source or None,
            date_from=self.date_from.isoformat() if self.date_from else None,
            date_to=self.date_to.isoformat() if self.date_to else None,
            meta=meta_condition(self.meta_values()),
        )
        return None if filters.empty else filters


class AskRequest(_Strict):
    question: str = Field(description="The question (at most `max_question_chars` characters).")
    history: list[Turn] = Field(default_factory=list, description="Earlier turns, oldest first (≤ `max_history`).")
    filters: Filters | None = None
    collection: str = collection_field("to answer from")


class CitationOut(BaseModel):
    source: str
    title: str
    quote: str = Field(description="Exactly `document_text[start:end]`.")
    start: int
    end: int
    page: int | None = Field(
        None,
        description="1-based page (PDF page or slide) where the quote starts; null for other formats.",
        examples=[4],
    )


class NumberedCitation(CitationOut):
    n: int = Field(description="1-based number, in order of first use in the answer.")


class SentenceOut(BaseModel):
    text: str
    citations: list[CitationOut]


class PassageOut(BaseModel):
    source: str
    title: str
    text: str
    start: int
    end: int
    score: float
    page: int | None = Field(
        None, description="1-based page (PDF page or slide) where the passage starts.", examples=[4]
    )
    meta: dict[str, str] = Field(
        default_factory=dict, description="The document's metadata.", examples=[{"team": "risk", "format": "pdf"}]
    )


class AskResponse(BaseModel):
    id: str = Field(
        description="Names this answer for feedback (`POST /v1/feedback`).",
        examples=["4f9c2e1d8a7b4c3e9f0a1b2c3d4e5f60"],
    )
    question: str
    answer: str = Field(description="The answer text (the refusal text when refused).")
    refused: bool
    refusal_reason: str | None
    sentences: list[SentenceOut]
    citations: list[NumberedCitation] = Field(description="Every distinct citation, numbered in order of first use.")
    related: list[CitationOut] = Field(
        default_factory=list,
        description="Only with a refusal: the closest passages the articles do have, quoted — related, not an answer.",
    )
    passages: list[PassageOut]
    timings: dict[str, float]
    models: dict[str, str]


class TokenData(BaseModel):
    text: str


# ------------------------------------------------------------------------------------------------ search


class SearchResponse(BaseModel):
    query: str
    passages: list[PassageOut]


# ------------------------------------------------------------------------------------------------ documents


class DocumentIn(_Strict):
    source: str = Field(
        min_length=1, max_length=MAX_SOURCE_CHARS, description="Identifier, e.g. `news/2024-06-18-seoul.txt`."
    )
    text: str = Field(min_length=1)
    title: str | None = Field(None, max_length=1000)
    format: Literal["txt", "md", "html", "csv"] = "txt"
    meta: dict[str, str] | None = Field(
        None,
        description="Metadata of the document (merged over Markdown front matter), usable in `filters.meta`.",
        examples=[{"team": "risk", "year": "2024"}],
    )
    collection: str = collection_field("to add the document to")


class IngestOut(BaseModel):
    source: str
    status: Literal["added", "replaced", "unchanged"]
    chunks: int


class DocumentSummary(BaseModel):
    source: str
    collection: str = DEFAULT_COLLECTION
    title: str
    date: str | None
    chunks: int
    chars: int
    meta: dict[str, str] = Field(
        default_factory=dict, description="The document's metadata.", examples=[{"team": "risk", "format": "md"}]
    )


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


class DocumentDetail(DocumentSummary):
    added_at: float = Field(description="Unix time of the last change.")
    meta: dict[str, str]
    text: str


class DeletedOut(BaseModel):
    source: str
    status: Literal["deleted"] = "deleted"


# ------------------------------------------------------------------------------------------------ feedback


class FeedbackIn(_Strict):
    answer_id: str = Field(
        min_length=1, max_length=64, description="The `id` of an answer.", examples=["4f9c2e1d8a7b4c3e9f0a1b2c3d4e5f60"]
    )
    rating: Literal["up", "down"] = Field(description="👍 `up` or 👎 `down`.", examples=["down"])
    comment: str = Field(
        "", max_length=MAX_COMMENT_CHARS, description="Optional words from the user.", examples=["wrong year"]
    )


class FeedbackOut(BaseModel):
    id: int = Field(description="The stored feedback's id.")
    answer_id: str
    rating: Literal["up", "down"]


# ------------------------------------------------------------------------------------------------ health


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    documents: int
    chunks: int
    models: dict[str, str]


# ------------------------------------------------------------------------------------------------ widget


class WidgetConfig(BaseModel):
    """The server's limits the chat widget follows (read from settings, so the widget copies no constant)."""

    max_question_chars: int = Field(
        description="Longest question accepted (`max_question_chars`); the widget warns above it.", examples=[1000]
    )
    max_history: int = Field(
        description="Most history turns one request may carry (`max_history`); the widget sends the latest ones.",
        examples=[20],
    )
    max_turn_chars: int = Field(
        description="Longest `content` of one history turn (`MAX_TURN_CHARS`).", examples=[MAX_TURN_CHARS]
    )
    max_comment_chars: int = Field(
        description="Longest feedback comment (`MAX_COMMENT_CHARS`).", examples=[MAX_COMMENT_CHARS]
    )


# ------------------------------------------------------------------------------------------------ OpenAI


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(
        None, description="At most 20,000 characters (`MAX_TURN_CHARS`, the limit of `/v1/ask` history turns)."
    )

    def text(self) -> str:
        """The message's text: a string content, or its text parts joined by newlines."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text or "" for p in self.content if p.type == "text")


class ChatCompletionRequest(BaseModel):
    """OpenAI `chat.completions` request; sampling parameters are accepted and ignored (decoding is greedy)."""

    model_config = ConfigDict(extra="allow")
    model: str = "ragqa"
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    filters: Filters | None = Field(
        None, description="ragqa extension: the same retrieval filters as `/v1/ask` (source, dates, meta)."
    )
    collection: str = collection_field("to answer from (ragqa extension)")


class RagqaExtra(BaseModel):
    """The documented extension on chat completions: what the answer cites, and whether it refused."""

    citations: list[NumberedCitation]
    refused: bool
    refusal_reason: str | None = None
    related: list[CitationOut] = Field(
        default_factory=list, description="Only with a refusal: the closest quoted passages — related, not an answer."
    )
    answer_id: str | None = Field(None, description="The answer's id for feedback (`POST /v1/feedback`).")


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatMessageOut
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    ragqa: RagqaExtra


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    ragqa: RagqaExtra | None = Field(None, description="Only on the last chunk.")


# ------------------------------------------------------------------------------------------------ mapping


def citation_out(c: Citation) -> CitationOut:
    """A citation on the wire: ``Citation.to_dict()`` with ``text`` named ``quote``."""
    fields = c.to_dict()
    fields["quote"] = fields.pop("text")
    return CitationOut(**fields)


def numbered_citations(answer: Answer) -> list[NumberedCitation]:
    """The answer's citations, numbered from 1 in order of first use."""
    return [NumberedCitation(n=i, **citation_out(c).model_dump()) for i, c in enumerate(answer.citations, start=1)]


def passage_out(p: Passage) -> PassageOut:
    """A passage on the wire: ``Passage.to_dict()``."""
    return PassageOut(**p.to_dict())


def ask_response(answer: Answer) -> AskResponse:
    """The ``/v1/ask`` response for ``answer``."""
    return AskResponse(
        id=answer.id,
        question=answer.question,
        answer=answer.text,
        refused=answer.refused,
        refusal_reason=answer.refusal_reason,
        sentences=[
            SentenceOut(text=s.text, citations=[citation_out(c) for c in s.citations]) for s in answer.sentences
        ],
        citations=numbered_citations(answer),
        related=[citation_out(c) for c in answer.related],
        passages=[passage_out(p) for p in answer.passages],
        timings=dict(answer.timings),
        models=dict(answer.models),
    )


def ragqa_extra(answer: Answer) -> RagqaExtra:
    """The ragqa extension of a chat completion: numbered citations, refusal, related, answer id."""
    return RagqaExtra(
        citations=numbered_citations(answer),
        refused=answer.refused,
        refusal_reason=answer.refusal_reason,
        related=[citation_out(c) for c in answer.related],
        answer_id=answer.id,
    )


def document_summary(d: DocumentRecord) -> DocumentSummary:
    """A document in listings (``GET /v1/documents``)."""
    return DocumentSummary(
        source=d.source,
        collection=d.collection,
        title=d.title,
        date=d.date,
        chunks=d.n_chunks,
        chars=d.n_chars,
        meta=dict(d.meta),
    )


def document_detail(d: DocumentRecord, text: str) -> DocumentDetail:
    """One document with its stored text (``GET /v1/documents/{source}``)."""
    return DocumentDetail(
        source=d.source,
        collection=d.collection,
        title=d.title,
        date=d.date,
        chunks=d.n_chunks,
        chars=d.n_chars,
        added_at=d.added_at,
        meta=dict(d.meta),
        text=text,
    )


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The one error JSON shape: ``{"error": {"type": kind, "message": message}}``."""
    return ErrorResponse(error=ErrorDetail(type=kind, message=message)).model_dump()
