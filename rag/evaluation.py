"""Scoring exactly as the evaluation set's README says (normalise: collapse whitespace, trim, lower-case)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import BadInputError

_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """``normalize(text)`` plus, for every raw index, the index of the normalised character it maps to."""
    out: list[str] = []
    mapping: list[int] = []
    in_space = False
    for ch in text:
        if ch.isspace():
            if out and not in_space:
                out.append(" ")
            in_space = True
            mapping.append(max(len(out) - 1, 0))
            continue
        in_space = False
        mapping.append(len(out))
        out.append(ch.lower())
    norm = "".join(out)
    stripped = norm.rstrip(" ")
    return stripped, [min(i, max(len(stripped) - 1, 0)) for i in mapping]


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    answerable: bool
    source: str | None = None
    evidence: tuple[str, ...] = ()
    facts: tuple[tuple[str, ...], ...] = ()


def load_questions(path: Path) -> list[EvalQuestion]:
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            questions.append(
                EvalQuestion(
                    id=str(obj.get("id", f"q{number}")),
                    question=obj["question"],
                    answerable=bool(obj.get("answerable", True)),
                    source=obj.get("source"),
                    evidence=tuple(obj.get("evidence", ())),
                    facts=tuple(tuple(group) for group in obj.get("facts", ())),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise BadInputError(f"{path}:{number}: not a question object ({exc})") from exc
    return questions


@dataclass(frozen=True)
class Span:
    source: str
    start: int
    end: int


def evidence_spans(document_text: str, evidence: Sequence[str]) -> list[tuple[int, int]]:
    """Spans (in the normalised document) of every occurrence of every evidence string."""
    norm, _ = normalize_with_offsets(document_text)
    spans = []
    for ev in evidence:
        needle = normalize(ev)
        start = norm.find(needle)
        while needle and start >= 0:
            spans.append((start, start + len(needle)))
            start = norm.find(needle, start + 1)
    return spans


def passage_hits(document_text: str, start: int, end: int, evidence: Sequence[str]) -> bool:
    """Does raw span [start, end) of the document overlap any evidence string, in normalised coordinates?"""
    if end <= start:
        return False
    _, mapping = normalize_with_offsets(document_text)
    n_start, n_end = mapping[start], mapping[end - 1] + 1
    return any(s < n_end and n_start < e for s, e in evidence_spans(document_text, evidence))


def fact_recall(answer: str, facts: Sequence[Sequence[str]]) -> float:
    if not facts:
        return 1.0
    norm = normalize(answer)
    satisfied = sum(1 for group in facts if any(normalize(alt) in norm for alt in group))
    return satisfied / len(facts)


@dataclass
class Aggregate:
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values) if self.values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
