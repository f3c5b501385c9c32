"""Sentence-level verification: is every content word and every number of a sentence found in evidence spans?

The small answer models cannot be trusted to stay grounded, so nothing they write is shown unless this check
finds the spans that support it. The check is lexical on purpose: it is fast, deterministic and explainable
(a sentence is shown with the exact spans that contain its words), and it errs towards dropping sentences.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)
_NUMBER = re.compile(r"^\d")
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "nor",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "s",
        "t",
        "according",
        "said",
        "says",
        "article",
        "articles",
        "report",
        "reported",
        "evidence",
        "answer",
        "question",
        "'s",
    ]
)
NEGATIONS = frozenset({"not", "no", "never", "neither", "nor", "without", "n't", "cannot"})


@dataclass(frozen=True)
class EvidenceSpan:
    """A sentence (or short span) of a stored document offered to the generator as evidence."""

    source: str
    title: str
    start: int
    end: int
    text: str
    score: float  # rank among the evidence: the answer score blended with its passage's retrieval score
    # The cross-encoder's judgment that this sentence answers the question (its raw logit, "title: sentence").
    answer_score: float = 0.0


@dataclass(frozen=True)
class Support:
    supported: bool
    coverage: float
    spans: tuple[EvidenceSpan, ...]
    reason: str = ""


def _stem(word: str) -> str:
    word = word.replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


def tokens(text: str) -> list[str]:
    return [t.lower().replace(",", "") for t in _TOKEN.findall(text)]


def content_terms(text: str) -> set[str]:
    """Lower-cased, crudely stemmed words and numbers that carry meaning (stopwords and 1-letter words dropped)."""
    out = set()
    for tok in tokens(text):
        if _NUMBER.match(tok):
            out.add(tok.rstrip("%"))
        elif tok not in STOPWORDS and len(tok) > 1:
            out.add(_stem(tok))
    return out


def numbers(text: str) -> set[str]:
    return {t.rstrip("%") for t in tokens(text) if _NUMBER.match(t)}


def _negated(text: str) -> bool:
    lowered = text.lower().replace("’", "'")
    return any(tok in NEGATIONS for tok in tokens(lowered)) or "n't" in lowered


_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w’'-]*")


def proper_names(text: str) -> set[str]:
    """Capitalised words that are not sentence-initial, stemmed like content terms."""
    return {_stem(w.lower()) for w in _NAME.findall(text.strip()) if w.lower() not in STOPWORDS}


def check_support(
    sentence: str,
    evidence: Sequence[EvidenceSpan],
    threshold: float,
    max_spans: int = 3,
    min_terms: int = 1,
) -> Support:
    """Find the fewest evidence spans (≤ ``max_spans``) that cover the sentence's content; judge the coverage.

    Rules, all required: every number of the sentence is in the chosen spans; a negation needs a negated span;
    the first (primary) span alone covers at least half of the sentence's content words; every further span
    adds at least two; every proper name is in a chosen span; and the spans together cover ``threshold``.
    """
    terms = content_terms(sentence)
    if len(terms) < max(min_terms, 1):
        return Support(False, 0.0, (), "too few content words to verify")
    span_terms = [content_terms(e.text) for e in evidence]
    chosen: list[int] = []
    covered: set[str] = set()
    while len(chosen) < max_spans:
        best, gain = -1, 0
        for i, st in enumerate(span_terms):
            if i in chosen:
                continue
            g = len((terms - covered) & st)
            if g > gain:
                best, gain = i, g
        if best < 0 or (chosen and gain < 2):
            break
        chosen.append(best)
        covered |= terms & span_terms[best]
    coverage = len(covered) / len(terms)
    spans = tuple(evidence[i] for i in sorted(chosen, key=lambda i: (evidence[i].source, evidence[i].start)))
    missing_numbers = numbers(sentence) - set().union(*(numbers(s.text) for s in spans)) if spans else numbers(sentence)
    if missing_numbers:
        return Support(False, coverage, spans, f"numbers not in evidence: {sorted(missing_numbers)}")
    if _negated(sentence) and not any(_negated(s.text) for s in spans):
        return Support(False, coverage, spans, "negation not in evidence")
    if not chosen or len(terms & span_terms[chosen[0]]) < len(terms) / 2:
        return Support(False, coverage, spans, "no single evidence span carries the sentence")
    missing_names = proper_names(sentence) - set().union(*(span_terms[i] for i in chosen))
    if missing_names:
        return Support(False, coverage, spans, f"names not in evidence: {sorted(missing_names)}")
    if coverage < threshold:
        return Support(False, coverage, spans, f"only {coverage:.0%} of its words are in the evidence")
    if len(covered) < min(2, len(terms)):
        return Support(False, coverage, spans, "too little overlap with the evidence")
    return Support(True, coverage, spans)
