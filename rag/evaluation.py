"""Scoring exactly as the evaluation set's README says (normalise: collapse whitespace, trim, lower-case)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import BadInputError

if TYPE_CHECKING:
    from rag.engine import Engine

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
    kind: str | None = None  # optional label, e.g. factoid, why, paraphrase, near-miss, off-topic
    split: str | None = None  # optional: "tune" (thresholds may be chosen on it) or "test" (never tuned on)


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
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        try:
            if not isinstance(obj, dict) or not isinstance(obj.get("question"), str):
                raise BadInputError(f"{path}:{number}: expected an object with a string 'question' field")
            questions.append(
                EvalQuestion(
                    id=str(obj.get("id", f"q{number}")),
                    question=obj["question"],
                    answerable=bool(obj.get("answerable", True)),
                    source=obj.get("source"),
                    evidence=tuple(obj.get("evidence", ())),
                    facts=tuple(tuple(group) for group in obj.get("facts", ())),
                    kind=obj.get("kind"),
                    split=obj.get("split"),
                )
            )
        except (KeyError, TypeError) as exc:
            raise BadInputError(f"{path}:{number}: not a question object ({exc})") from exc
    return questions


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


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# ---------------------------------------------------------------- the full run (``ragqa eval``)


@dataclass
class QuestionResult:
    id: str
    question: str
    answerable: bool
    source: str | None
    answer: str
    refused: bool
    refusal_reason: str | None
    hit_rank: int | None  # 1-based rank of the first passage that hits, None if none in the top k
    fact_recall: float | None
    correct: bool | None
    citations: list[dict[str, object]]
    citation_precision: float | None
    unsupported_sentences: int
    generated_sentences: int  # shown sentences written by the answer model (the rest quote the evidence)
    dropped_sentences: int
    ttft_s: float
    total_s: float
    kind: str | None = None
    split: str | None = None
    set: str | None = None
    related: int = 0  # passages shown as "related, not an answer" with a refusal
    judge_score: float | None = None  # the answerability judge's log-odds (None: not asked)


def sentence_supported_by_citations(text: str, quotes: Sequence[str], threshold: float = 0.5) -> bool:
    """Independent check of a shown sentence: enough of its content words appear in the quotes it cites."""
    from rag.verify import content_terms

    terms = content_terms(text)
    if not terms or not quotes:
        return False
    quoted = set().union(*(content_terms(q) for q in quotes))
    return len(terms & quoted) / len(terms) >= threshold


def run_evaluation(
    engine: Engine,
    questions: Sequence[EvalQuestion],
    *,
    k: int = 5,
    progress: bool = True,
    set_name: str | None = None,
    collection: str = "default",
) -> tuple[dict[str, object], list[QuestionResult]]:
    """Answer every question with ``engine`` (an ``Engine`` with the corpus indexed in ``collection``) and score as
    the README says."""
    from tqdm import tqdm

    from rag.answer import answer_question
    from rag.collections import in_collection, scoped_engine
    from rag.pages import with_pages

    engine = scoped_engine(engine, collection)
    filters = in_collection(None, collection)
    texts = {d.source: engine.store.document_text(d.source) for d in engine.store.list_documents(collection)}
    rows: list[QuestionResult] = []
    for q in tqdm(questions, desc="eval", unit="q", disable=not progress):
        answer = with_pages(engine.store, answer_question(engine, q.question, filters=filters))
        hit_rank = None
        if q.answerable and q.source in texts:
            for rank, p in enumerate(answer.passages[:k], start=1):
                if p.source == q.source and passage_hits(texts[p.source], p.start, p.end, q.evidence):
                    hit_rank = rank
                    break
        cites = answer.citations
        unsupported = 0
        for sentence in answer.sentences:
            quotes = [c.text for c in sentence.citations]
            intact = all(texts.get(c.source, "")[c.start : c.end] == c.text for c in sentence.citations)
            if not intact or not sentence_supported_by_citations(sentence.text, quotes):
                unsupported += 1
        recall = (0.0 if answer.refused else fact_recall(answer.text, q.facts)) if q.answerable else None
        rows.append(
            QuestionResult(
                id=q.id,
                question=q.question,
                answerable=q.answerable,
                source=q.source,
                answer=answer.text,
                refused=answer.refused,
                refusal_reason=answer.refusal_reason,
                hit_rank=hit_rank,
                fact_recall=recall,
                correct=(recall == 1.0) if recall is not None else None,
                citations=[c.to_dict(("source", "start", "end", "page", "text")) for c in cites],
                citation_precision=(sum(c.source == q.source for c in cites) / len(cites))
                if q.answerable and cites
                else None,
                unsupported_sentences=unsupported,
                generated_sentences=sum(1 for x in answer.sentences if x.origin == "generated"),
                dropped_sentences=len(answer.dropped),
                ttft_s=answer.timings.get("ttft_s", answer.timings.get("total_s", 0.0)),
                total_s=answer.timings.get("total_s", 0.0),
                kind=q.kind,
                split=q.split,
                set=set_name,
                related=len(answer.related),
                judge_score=answer.judge_score,
            )
        )
    return summarize(rows), rows


def summarize(rows: Sequence[QuestionResult]) -> dict[str, object]:
    answerable = [r for r in rows if r.answerable]
    unanswerable = [r for r in rows if not r.answerable]
    cited = [r.citation_precision for r in answerable if r.citation_precision is not None]
    answered = [r for r in rows if not r.refused]

    def hit(k: int) -> float:
        return sum(1 for r in answerable if r.hit_rank is not None and r.hit_rank <= k) / max(len(answerable), 1)

    return {
        "n": len(rows),
        "hit@1": round(hit(1), 4),
        "hit@3": round(hit(3), 4),
        "hit@5": round(hit(5), 4),
        "correct": round(sum(1 for r in answerable if r.correct) / max(len(answerable), 1), 4),
        "fact_recall": round(sum(r.fact_recall or 0.0 for r in answerable) / max(len(answerable), 1), 4),
        "citation_precision": round(sum(cited) / len(cited), 4) if cited else 0.0,
        "answerable_without_citations": sum(1 for r in answerable if r.citation_precision is None),
        "refusal_unanswerable": round(sum(r.refused for r in unanswerable) / max(len(unanswerable), 1), 4),
        "refusal_answerable_kept": round(sum(not r.refused for r in answerable) / max(len(answerable), 1), 4),
        "refusal_accuracy": round(
            (sum(r.refused for r in unanswerable) + sum(not r.refused for r in answerable)) / max(len(rows), 1), 4
        ),
        "unsupported_sentences": sum(r.unsupported_sentences for r in rows),
        "generated_sentences_shown": sum(r.generated_sentences for r in rows),
        "generated_sentences_dropped": sum(r.dropped_sentences for r in rows),
        "ttft_p50_s": round(percentile([r.ttft_s for r in answered], 0.5), 3),
        "latency_p50_s": round(percentile([r.total_s for r in rows], 0.5), 3),
        "latency_p95_s": round(percentile([r.total_s for r in rows], 0.95), 3),
    }


# ---------------------------------------------------------------- several sets in one run


@dataclass(frozen=True)
class EvalSet:
    """A corpus folder and its labelled questions, evaluated in a data dir of its own."""

    name: str
    corpus: Path
    questions_path: Path


def find_set(folder: Path) -> EvalSet:
    """A set folder holds ``corpus/`` and ``questions.jsonl`` (the layout of ``eval/dev``)."""
    corpus, questions = folder / "corpus", folder / "questions.jsonl"
    if not corpus.is_dir() or not questions.is_file():
        raise BadInputError(f"{folder}: an evaluation set is a folder with corpus/ and questions.jsonl")
    return EvalSet(folder.name, corpus, questions)


def summaries_by_split(rows: Sequence[QuestionResult]) -> dict[str, dict[str, object]]:
    """``summarize`` over all rows, and over each split that the questions name ("tune", "test")."""
    out = {"all": summarize(rows)}
    for split in sorted({r.split for r in rows if r.split}):
        out[split] = summarize([r for r in rows if r.split == split])
    return out


def summaries_by_kind(rows: Sequence[QuestionResult]) -> dict[str, dict[str, float | int]]:
    """Per question kind: how many, and the share handled right (answerable: correct; unanswerable: refused)."""
    out: dict[str, dict[str, float | int]] = {}
    for kind in sorted({r.kind for r in rows if r.kind}):
        group = [r for r in rows if r.kind == kind]
        good = sum(1 for r in group if (r.correct if r.answerable else r.refused))
        out[kind] = {"n": len(group), "ok": round(good / len(group), 4)}
    return out
