"""Plain text (``.txt``): normalised; the title is the first non-empty line."""

from __future__ import annotations

from rag.documents.base import Extracted, normalise

FORMAT = "txt"
SUFFIXES = (".txt",)


def from_text(raw: str) -> Extracted:
    return Extracted(normalise(raw))
