"""Sentence splitting and chunking with exact character spans.

Every span returned here satisfies ``span.text == source_text[span.start:span.end]`` so that chunks can be
stored by offset and quoted verbatim. Splitting is regex based (no models) and fast: a newline always ends a
sentence, and ``.``/``!``/``?`` end one when followed by whitespace and an uppercase letter, a digit or an
opening quote, unless the period follows a known abbreviation or a single-letter initial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TextSpan", "chunk_lines", "chunk_text", "count_words", "split_sentences"]


@dataclass(frozen=True)
class TextSpan:
    """A slice of a source text: ``text == source_text[start:end]``."""

    start: int
    end: int
    text: str


# Lower-case, without the final period. "No" is handled separately (only before a number).
_ABBREVIATIONS = frozenset(
    {
        *("mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "u.s", "u.k", "u.n"),
        *("gen", "col", "lt", "sgt", "capt", "gov", "sen", "rep", "inc", "ltd", "co", "corp"),
        *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
    }
)

# Either a newline (group 1: a paragraph break, with any whitespace after it) or terminal punctuation with
# optional closing quotes/brackets followed by same-line whitespace; group 2 is the next visible character
# (checked in Python: uppercase, digit or opening quote).
_BOUNDARY_RE = re.compile(r"(\n\s*)|[.!?]+[\"”’)\]]*(?=[^\S\n]+(\S))")
_OPENERS = frozenset("\"“‘'([")
# One or more single-letter initials: "J", "J.R.R", also "U.S" (which is in the abbreviation list anyway).
_INITIALS_RE = re.compile(r"(?:[A-Z]\.)*[A-Z]")
_WORD_RE = re.compile(r"\S+")
# The letters and periods just before a period (``\Z`` matches at the ``endpos`` given to ``search``).
_MAX_TOKEN_LEN = 9
_TOKEN_BEFORE_RE = re.compile(r"(?:[^\W\d_]|\.)+\Z")
_TOKEN_CHAR_RE = re.compile(r"[^\W\d_]|\.")


def count_words(text: str) -> int:
    """Number of whitespace-separated words in ``text``."""
    return len(text.split())


def _is_boundary(text: str, match: re.Match[str], line_start: int) -> bool:
    nxt = match.group(2)
    if not (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS):
        return False
    punct = match.start()
    # Only a lone period can close an abbreviation or an initial; "?", "!" and "..." always end a sentence.
    if text[punct] != "." or text.startswith("..", punct):
        return True
    low = max(line_start, punct - _MAX_TOKEN_LEN)
    token_match = _TOKEN_BEFORE_RE.search(text, low, punct)
    if token_match is None:
        return True
    token = token_match.group()
    if token_match.start() == low and low > line_start and _TOKEN_CHAR_RE.match(text, low - 1):
        return True  # part of a longer word: not an abbreviation
    if token == "No":
        return not nxt.isdigit()
    if token.lower() in _ABBREVIATIONS:
        return False
    return _INITIALS_RE.fullmatch(token) is None


def _append_trimmed(spans: list[TextSpan], text: str, start: int, end: int, offset: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append(TextSpan(start + offset, end + offset, text[start:end]))


def split_sentences(text: str, offset: int = 0) -> list[TextSpan]:
    """Split ``text`` into sentences with exact, whitespace-trimmed spans (``offset`` added to positions).

    A newline always ends a sentence, so headings and title lines without punctuation are sentences of their
    own. Decimals ("43.9%", "$3.37 billion"), abbreviations ("Dr.", "U.S.") and initials ("J. Smith") do not
    end a sentence.
    """
    spans: list[TextSpan] = []
    start = line_start = 0
    for match in _BOUNDARY_RE.finditer(text):
        if match.group(1) is not None:
            _append_trimmed(spans, text, start, match.start(), offset)
            start = line_start = match.end()
        elif _is_boundary(text, match, line_start):
            _append_trimmed(spans, text, start, match.end(), offset)
            start = match.end()
    _append_trimmed(spans, text, start, len(text), offset)
    return spans


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a word-boundary piece of an over-long sentence) as chunking sees it."""

    start: int
    end: int
    words: int
    paragraph_start: bool


def _units(text: str, max_words: int) -> list[_Unit]:
    units: list[_Unit] = []
    prev_end = 0
    for sentence in split_sentences(text):
        paragraph_start = not units or "\n" in text[prev_end : sentence.start]
        prev_end = sentence.end
        words = list(_WORD_RE.finditer(sentence.text))
        if len(words) <= max_words:
            units.append(_Unit(sentence.start, sentence.end, len(words), paragraph_start))
            continue
        for i in range(0, len(words), max_words):
            piece = words[i : i + max_words]
            units.append(
                _Unit(
                    sentence.start + piece[0].start(),
                    sentence.start + piece[-1].end(),
                    len(piece),
                    paragraph_start and i == 0,
                )
            )
    return units


def chunk_text(text: str, max_words: int = 110, overlap_sentences: int = 1) -> list[TextSpan]:
    """Group consecutive sentences into chunks of at most ``max_words`` words, with exact spans.

    A chunk prefers to end at a paragraph break once it holds at least ``max_words / 2`` words. Consecutive
    chunks within a paragraph share ``overlap_sentences`` sentences (fewer when they would not leave room for
    a new sentence); a chunk that starts a paragraph has no overlap. A sentence longer than ``max_words`` is
    cut at word boundaries into pieces of ``max_words`` words. Every chunk adds at least one new sentence, so
    no chunk repeats and the loop always ends.
    """
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    if overlap_sentences < 0:
        raise ValueError("overlap_sentences must not be negative")
    units = _units(text, max_words)
    chunks: list[TextSpan] = []
    n = len(units)
    i = 0
    while i < n:
        words = units[i].words
        j = i + 1
        while j < n:
            unit = units[j]
            if words + unit.words > max_words:
                break
            if unit.paragraph_start and words * 2 >= max_words:
                break
            words += unit.words
            j += 1
        start, end = units[i].start, units[j - 1].end
        chunks.append(TextSpan(start, end, text[start:end]))
        if j >= n:
            break
        # Overlap: the last k units of this chunk begin the next one, if they are in the same paragraph as
        # units[j], leave room for it, and drop at least the first unit of this chunk (progress).
        k = min(overlap_sentences, j - i - 1)
        while k > 0:
            tail = units[j - k : j + 1]
            same_paragraph = not any(u.paragraph_start for u in tail[1:])
            if same_paragraph and sum(u.words for u in tail) <= max_words:
                break
            k -= 1
        i = j - k
    return chunks


def chunk_lines(text: str, max_words: int = 110) -> list[TextSpan]:
    """Group whole lines (e.g. CSV rows) into chunks of at most ``max_words`` words, with exact spans; a line
    longer than that is a chunk of its own (never cut), and no line is in two chunks."""
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    chunks: list[TextSpan] = []
    start = end = -1
    words = 0
    pos = 0
    for line in text.split("\n"):
        line_start, line_end = pos, pos + len(line)
        pos = line_end + 1
        n = count_words(line)
        if n == 0:
            continue
        if start >= 0 and words + n > max_words:
            chunks.append(TextSpan(start, end, text[start:end]))
            start = -1
        if start < 0:
            start, words = line_start, 0
        end = line_end
        words += n
    if start >= 0:
        chunks.append(TextSpan(start, end, text[start:end]))
    return chunks
