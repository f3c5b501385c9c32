"""Pick the evidence: the sentences of the retrieved passages that best answer the question, within a budget."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from rag.models.reranker import Reranker
from rag.retrieval import Passage
from rag.text import split_sentences
from rag.verify import EvidenceSpan

_MIN_WORDS = 4  # shorter "sentences" (datelines, headings of one or two words) are no evidence


def candidate_sentences(passages: Sequence[Passage]) -> list[tuple[Passage, EvidenceSpan]]:
    seen: set[tuple[str, int]] = set()
    out = []
    for passage in passages:
        for span in split_sentences(passage.text, offset=passage.start):
            key = (passage.source, span.start)
            if key in seen or len(span.text.split()) < _MIN_WORDS:
                continue
            seen.add(key)
            out.append((passage, EvidenceSpan(passage.source, passage.title, span.start, span.end, span.text, 0.0)))
    return out


def select_evidence(
    reranker: Reranker | None,
    query: str,
    passages: Sequence[Passage],
    *,
    max_sentences: int,
    max_words: int,
    passage_weight: float = 0.3,
    title_context: bool = False,
) -> list[EvidenceSpan]:
    """The evidence for ``query``, answer-bearing sentence first, within ``max_words``.

    Every candidate sentence of the passages is judged by the cross-encoder ("does this sentence answer the
    query?", led by its article's title): that logit is its ``answer_score``. The first span is the one the
    cross-encoder judges most answer-bearing; the rest follow by ``score`` — the answer score blended with the
    passage's retrieval score, which keeps support from the passages that retrieval trusts most.
    """
    candidates = candidate_sentences(passages)
    if not candidates:
        return []
    if reranker is not None:
        texts = [
            f"{span.title}: {span.text}" if title_context and span.text != span.title else span.text
            for _, span in candidates
        ]
        judged = [float(x) for x in reranker.score(query, texts)]
    else:
        judged = [p.score for p, _ in candidates]
    scored = [
        replace(span, score=answer + passage_weight * p.score, answer_score=answer)
        for (p, span), answer in zip(candidates, judged, strict=True)
    ]
    lead = max(scored, key=lambda e: (e.answer_score, e.score))
    rest = sorted((e for e in scored if e is not lead), key=lambda e: -e.score)
    chosen = [lead]
    words = len(lead.text.split())
    for span in rest:
        n = len(span.text.split())
        if len(chosen) >= max_sentences:
            break
        if words + n > max_words:
            continue
        chosen.append(span)
        words += n
    return chosen


_ANCHOR = re.compile(r"[^\W\d_][\w’'\-/]*|\d[\d,.]*\w*", re.UNICODE)
_MONTHS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
)
_OPENERS = frozenset(
    [
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
    ]
)


def question_anchors(question: str) -> tuple[list[str], list[str]]:
    """The specifics a question hinges on: (numbers, months and codes like 'Hyunmoo-5'; capitalised names)."""
    specifics: list[str] = []
    names: list[str] = []
    words = [part for word in _ANCHOR.findall(question) for part in word.split("/") if part]
    for i, word in enumerate(words):
        if i == 0 and word.lower() in _OPENERS:
            continue
        if any(ch.isdigit() for ch in word):
            specifics.append(word.strip(".,"))
        elif word.lower() in _MONTHS:
            specifics.append(word)
        elif word[0].isupper():
            names.extend(part for part in re.split(r"[-/]", word) if part and part[0].isupper())
    return specifics, names


def _mentioned(term: str, haystack: str) -> bool:
    t = term.lower().replace("’", "'")
    candidates = {t, t.rstrip("s"), t[:-1] if t.endswith("n") and len(t) > 4 else t, t.replace(",", "")}
    return any(c and c in haystack for c in candidates)


def missing_anchors(question: str, texts: Sequence[str]) -> list[str]:
    """The question's specifics that none of ``texts`` mention (empty when they can be about it).

    Returns the missing specifics if any number/month/code is missing, or the missing names if two or more are:
    a question about a year or a name that the article holding the evidence never mentions is not answered by it.
    """
    haystack = " ".join(texts).lower().replace("’", "'")
    specifics, names = question_anchors(question)
    missing_specifics = [a for a in specifics if not _mentioned(a, haystack)]
    if missing_specifics:
        return missing_specifics
    missing_names = list(dict.fromkeys(a for a in names if not _mentioned(a, haystack)))
    return missing_names if len(missing_names) >= 2 else []
