"""What every loader shares: the loaded-document type, text normalisation, decoding, titles and dates.

The stored text is kept verbatim apart from a light normalisation (line endings, trailing spaces, runs of
blank lines, surrounding whitespace, Unicode NFC): quotes, dashes and wording are never changed, because
answers are checked against exact substrings of it. Every problem with the input raises ``BadInputError``
with a one-line message meant for a person.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.errors import BadInputError

MAX_TEXT_CHARS = 5_000_000
MAX_TITLE_CHARS = 300


@dataclass(frozen=True)
class LoadedDocument:
    """A loaded document. ``page_starts[i]`` is the offset in ``text`` where page (or slide) ``i + 1`` begins;
    empty for formats without pages."""

    source: str
    title: str
    text: str
    date: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    page_starts: tuple[int, ...] = ()


@dataclass(frozen=True)
class Extracted:
    """What a loader found: normalised text, a title ('' = use the first line), a date, extra metadata, and the
    offsets of the pages in ``text`` (paged formats only)."""

    text: str
    title: str = ""
    date: str | None = None
    meta: dict[str, str] = field(default_factory=dict)
    page_starts: tuple[int, ...] = ()


_BLANK_LINES_RE = re.compile(r"\n{3,}")
_TRAILING_SPACE_RE = re.compile(r"[^\S\n]+$", re.MULTILINE)


def normalise(text: str) -> str:
    """The light normalisation of stored text: line endings, trailing spaces, runs of blank lines, NFC."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _TRAILING_SPACE_RE.sub("", text)
    text = _BLANK_LINES_RE.sub("\n\n", text)
    return unicodedata.normalize("NFC", text.strip())


def join_pages(pages: Sequence[str]) -> tuple[str, tuple[int, ...]]:
    """Normalise each page and join the non-empty ones with a blank line; returns the text and, for every
    page (empty ones included), the offset where it starts (an empty page starts where the next one does)."""
    parts: list[str] = []
    starts: list[int] = []
    offset = 0
    for page in pages:
        clean = normalise(page)
        if parts and clean:
            offset += 2  # the "\n\n" before this page
        starts.append(offset)
        if clean:
            parts.append(clean)
            offset += len(clean)
    return "\n\n".join(parts), tuple(starts)


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped ('' if none)."""
    for line in text.split("\n"):
        if line.strip():
            return line.strip()
    return ""


def clean_title(title: str) -> str:
    """A title on one line, NFC, cut at a word to ``MAX_TITLE_CHARS`` (with an ellipsis)."""
    title = " ".join(title.split())
    if len(title) > MAX_TITLE_CHARS:
        cut = title[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] or title[:MAX_TITLE_CHARS]
        title = cut + "…"
    return unicodedata.normalize("NFC", title)


_ISO_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def iso_date(value: str | None) -> str | None:
    """``yyyy-mm-dd`` if ``value`` starts with a valid ISO date, else None."""
    if not value:
        return None
    m = _ISO_DATE_RE.match(value.strip())
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return None


def control_ratio(text: str) -> float:
    """The share of control characters and U+FFFD in the first 64k characters (binary-data check)."""
    sample = text[:65536]
    if not sample:
        return 0.0
    bad = sum(1 for ch in sample if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\t\n\r\f\v\b\x1b"))
    return bad / len(sample)


_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def decode(data: bytes, fmt: str) -> str:
    """Decode text: UTF-8 (BOM optional), UTF-16 with a BOM, or for HTML a declared ``<meta charset>``."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise BadInputError("not valid UTF-16 text") from None
    if b"\x00" in data:
        raise BadInputError("binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""
        if fmt == "html":
            declared = _CHARSET_RE.search(data[:4096])
            if declared:
                try:
                    text = data.decode(declared.group(1).decode("ascii"))
                except (LookupError, UnicodeDecodeError):
                    text = ""
        if not text:
            if control_ratio(data.decode("utf-8", errors="replace")) > 0.3:
                raise BadInputError("binary file, not text") from None
            raise BadInputError("not valid UTF-8 text") from None
    if control_ratio(text) > 0.1:
        raise BadInputError("binary file, not text")
    return text


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, at most 200 characters (its type name if it has none)."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    return message[:200]


class TextBudget:
    """Counts extracted characters and stops a document that grows past ``MAX_TEXT_CHARS``."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_TEXT_CHARS if limit is None else limit
        self.used = 0

    def take(self, text: str) -> str:
        """Count ``text`` against the limit and return it; ``BadInputError`` once the limit is passed."""
        self.used += len(text)
        if self.used > self.limit:
            raise BadInputError("document too large")
        return text
