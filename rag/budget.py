"""Bounded ingest work: the size limits, time budget and cancel event of one file, checked before and between
the expensive steps (PDF text operators, chunking, embedding batches).

An ``IngestBudget`` is made per file from settings (``max_document_bytes``, ``max_document_chars``,
``max_document_chunks``, ``max_page_chars``, ``ingest_time_budget_s``) plus an optional ``threading.Event`` that a
disconnect or Ctrl-C sets. Loaders that cannot take it as an argument read the active one with
:func:`active_budget` (set by :func:`budget_scope`; without one, the settings' defaults).

Limit errors are ``BadInputError`` whose message names the setting, e.g. ``(limit: max_document_chunks=2000)``
(the file size keeps its older ``file too large (25.0 MB > 20 MB)``);
a cancelled file raises :class:`WorkCancelled`. Either way nothing has been written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from rag.errors import BadInputError, WorkCancelled
from rag.settings import Settings

log = logging.getLogger(__name__)

PDF_CONTENT_BYTES_PER_CHAR = 8
"""A PDF page whose decoded content stream exceeds this many bytes per allowed character is refused before its
operators are parsed (parsing cannot be interrupted; a text page needs a few bytes of stream per character)."""
CHECK_EVERY_OPERATORS = 256
"""How often (in PDF operators) extraction looks at the clock and the cancel event."""
_TEXT_OPERATORS = frozenset({b"Tj", b"TJ", b"'", b'"'})


class LimitError(BadInputError):
    """A document exceeds a configured ingest limit; the message names the setting."""

    def __init__(self, what: str, limit: str, value: float) -> None:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        super().__init__(f"{what} (limit: {limit}={shown})")
        self.limit = limit
        self.value = value


SIZE_LIMITS = ("max_document_chars", "max_document_chunks", "max_page_chars", "max_document_bytes")
"""The settings an ``IngestBudget`` takes under the same name."""


@dataclass
class IngestBudget:
    """The limits, clock and cancel event of one file's ingest (see the module docstring)."""

    max_document_bytes: int
    max_document_chars: int
    max_document_chunks: int
    max_page_chars: int
    time_budget_s: float
    cancel: threading.Event | None = None
    started: float = field(default_factory=time.monotonic)
    chars: int = 0  # characters extracted so far (PDF pages)

    @classmethod
    def from_settings(cls, settings: Settings, cancel: threading.Event | None = None) -> IngestBudget:
        """A fresh budget with the limits of ``settings``; ``cancel`` stops the work when set."""
        limits: dict[str, Any] = {name: getattr(settings, name) for name in SIZE_LIMITS}
        return cls(**limits, time_budget_s=settings.ingest_time_budget_s, cancel=cancel)

    def check_cancelled(self) -> None:
        """``WorkCancelled`` if the cancel event is set."""
        if self.cancel is not None and self.cancel.is_set():
            raise WorkCancelled("ingest cancelled")

    def check(self) -> None:
        """``WorkCancelled`` if cancelled, ``LimitError`` if the time budget is spent."""
        self.check_cancelled()
        elapsed = time.monotonic() - self.started
        if elapsed > self.time_budget_s:
            raise LimitError(
                f"the document took longer than {self.time_budget_s:g} s to process",
                "ingest_time_budget_s",
                self.time_budget_s,
            )

    def check_bytes(self, n_bytes: int) -> None:
        """``BadInputError`` if a document file of ``n_bytes`` is over ``max_document_bytes``."""
        limit = self.max_document_bytes
        if n_bytes > limit >= 1024 * 1024:
            raise BadInputError(f"file too large ({n_bytes / 1024 / 1024:.1f} MB > {limit // 1024 // 1024} MB)")
        if n_bytes > limit:
            raise BadInputError(f"file too large ({n_bytes} bytes > {limit} bytes)")

    def check_chars(self, n_chars: int) -> None:
        """``LimitError`` if a document of ``n_chars`` characters is over ``max_document_chars``."""
        if n_chars > self.max_document_chars:
            raise LimitError(
                f"the document has more than {self.max_document_chars} characters of text",
                "max_document_chars",
                self.max_document_chars,
            )

    def check_chunks(self, n_chunks: int) -> None:
        """``LimitError`` if ``n_chunks`` is over ``max_document_chunks``."""
        if n_chunks > self.max_document_chunks:
            raise LimitError(f"the document makes {n_chunks} chunks", "max_document_chunks", self.max_document_chunks)

    def add_page_chars(self, n_chars: int) -> None:
        """Count the characters of one more extracted page against ``max_document_chars``."""
        self.chars += n_chars
        self.check_chars(self.chars)


_current: ContextVar[IngestBudget | None] = ContextVar("ragqa_ingest_budget", default=None)


@contextmanager
def budget_scope(budget: IngestBudget) -> Iterator[IngestBudget]:
    """Make ``budget`` the one :func:`current_budget` returns in this thread/context, for the block."""
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def current_budget() -> IngestBudget | None:
    """The budget of the enclosing :func:`budget_scope`, if any."""
    return _current.get()


def active_budget() -> IngestBudget:
    """The budget of the enclosing :func:`budget_scope`, else one with the settings' default limits."""
    budget = current_budget()
    if budget is not None:
        return budget
    return IngestBudget.from_settings(Settings.model_construct())  # the defaults, not the environment


def _operand_chars(operator: bytes, operands: list[Any]) -> int:
    """Characters a text-showing operator can add: the length of its string operands."""
    if operator not in _TEXT_OPERATORS or not operands:
        return 0
    last = operands[-1] if operator != b"TJ" else operands[0]
    if isinstance(last, list):
        return sum(len(part) for part in last if isinstance(part, str | bytes))
    return len(last) if isinstance(last, str | bytes) else 0


def extract_pdf_page(page: Any) -> str:
    """``page.extract_text()`` under the active budget: the page's content stream is sized before it is parsed,
    and every text operator is counted while extracting, so a page of 400k ``Tj`` operators stops early."""
    budget = active_budget()
    budget.check()
    limit = budget.max_page_chars
    content = getattr(page, "_get_contents_as_bytes", None)
    raw = content() if content is not None else None
    if raw is not None and len(raw) > limit * PDF_CONTENT_BYTES_PER_CHAR:
        raise LimitError(
            f"a PDF page has a {len(raw)}-byte content stream, too large to extract", "max_page_chars", limit
        )
    state = {"chars": 0, "ops": 0}

    def visit(operator: bytes, operands: list[Any], cm: Any, tm: Any) -> None:
        state["ops"] += 1
        state["chars"] += _operand_chars(operator, operands)
        if state["chars"] > limit:
            raise LimitError(f"a PDF page has more than {limit} characters of text", "max_page_chars", limit)
        if state["ops"] % CHECK_EVERY_OPERATORS == 0:
            budget.check()

    text = page.extract_text(visitor_operand_before=visit) or ""
    if len(text) > limit:
        raise LimitError(f"a PDF page has more than {limit} characters of text", "max_page_chars", limit)
    budget.add_page_chars(len(text))
    return str(text)
