"""Answer a question from the indexed articles so that every sentence shown is supported by a quoted span.

retrieve + rerank → select evidence sentences (answer-bearing first) → decide whether they state the answer
(refuse, with related passages, when not) → quote the answer-bearing sentence at once → generate locally from
the evidence (``rag/prompts/answer.txt``) and show only sentences that verify and add something → quote the other
answer-bearing sentences of the lead's article that add something.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from index import ChunkFilter
from rag.answer_types import (
    Answer,
    AnswerSentence,
    ChatTurn,
    Citation,
    PassagesEvent,
    StreamEvent,
    TokenEvent,
)
from rag.engine import Engine
from rag.errors import BadInputError
from rag.evidence import missing_anchors, select_evidence
from rag.prompts import render
from rag.retrieval import Passage, retrieve
from rag.text import split_sentences
from rag.verify import EvidenceSpan, check_support, content_terms

log = logging.getLogger(__name__)

NOT_IN_EVIDENCE = "NOT IN EVIDENCE"
_FOLLOW_UP = re.compile(
    r"\b(that|this|it|its|they|them|their|those|these|he|she|his|her|him|there|then|the same|such)\b", re.IGNORECASE
)
_CONTEXT_WORDS = 60
_MARKER = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def _followed_question(question: str, history: Sequence[ChatTurn]) -> str | None:
    """The previous question, when ``question`` leans on it (a pronoun, or four words or fewer); else None."""
    users = [t.content for t in history if t.role == "user"]
    if not users or not (_FOLLOW_UP.search(question) or len(question.split()) <= 4):
        return None
    return users[-1]


def standalone_question(question: str, history: Sequence[ChatTurn]) -> str:
    """Make a follow-up retrievable on its own: a question that leans on earlier turns (pronouns, very short)
    is joined with the previous question and the previous answer's first sentences, whole sentences within
    ``_CONTEXT_WORDS`` (what "that visit" points to is often not in the answer's first sentence)."""
    followed = _followed_question(question, history)
    if followed is None:
        return question
    words = followed.split()
    answers = [t.content for t in history if t.role == "assistant"]
    for i, sentence in enumerate(split_sentences(answers[-1]) if answers else []):
        more = sentence.text.split()
        if i > 0 and len(words) + len(more) > _CONTEXT_WORDS:
            break
        words += more
    return f"{question} (context: {' '.join(words[:_CONTEXT_WORDS])})"


def judged_question(question: str, history: Sequence[ChatTurn]) -> str:
    """The question as the judge reads it: a follow-up with the question it follows, not the previous answer.
    The answer's words, given as context, made the judge doubt evidence that repeats them (the seed follow-up
    "What does that visit underscore?": +0.01 with the answer as context, +0.71 with the question it follows)."""
    followed = _followed_question(question, history)
    return question if followed is None else f"{question} (follows: {followed})"


def _check_question(engine: Engine, question: str) -> str:
    question = question.strip()
    if not question:
        raise BadInputError("the question is empty")
    limit = engine.settings.max_question_chars
    if len(question) > limit:
        raise BadInputError(f"the question is {len(question)} characters; the limit is {limit}")
    return question


def _citation(span: EvidenceSpan) -> Citation:
    return Citation(span.source, span.title, span.start, span.end, span.text)


def _evidence_block(evidence: Sequence[EvidenceSpan]) -> str:
    return "\n".join(f"[{i}] {e.text}" for i, e in enumerate(evidence, start=1))


# ---------------------------------------------------------------- the steps


@dataclass(frozen=True)
class Decision:
    """Whether the evidence states the answer; if not, why (said to the user with the refusal)."""

    answerable: bool
    reason: str | None = None
    judge_score: float | None = None


def decide(engine: Engine, question: str, evidence: Sequence[EvidenceSpan], *, judged: str | None = None) -> Decision:
    """Does the evidence state the answer? Cheapest check first: the cross-encoder's judgment of the most
    answer-bearing sentence must reach ``refuse_below``; with ``anchor_check``, the specifics the question hinges
    on (a year, a code, two or more names) must appear in that sentence's article; then the judge (a language
    model asked whether the most answer-bearing sentences state the answer) must say yes by ``judge_below``.
    ``judged``: the question as the judge reads it (a follow-up with the question it follows,
    :func:`judged_question`); default ``question``."""
    s = engine.settings
    if not evidence:
        return Decision(False, "nothing in the indexed articles matches the question")
    lead = evidence[0]
    if lead.answer_score < s.refuse_below:
        return Decision(
            False,
            f"the closest article, “{lead.title}”, is related but none of its sentences answers the question "
            f"(answer score {lead.answer_score:.2f} < {s.refuse_below:.2f})",
        )
    if s.anchor_check:
        missing = missing_anchors(question, [f"{lead.title}\n{engine.store.document_text(lead.source)}"])
        if missing:
            return Decision(False, f"the articles found do not mention {', '.join(repr(m) for m in missing)}")
    judge = engine.ensure_judge()
    if judge is None:
        return Decision(True)
    read = sorted(evidence, key=lambda e: -e.answer_score)[: s.judge_sentences]
    titles = [e.title for e in read] if s.judge_titles else []
    verdict = judge.log_odds(judged or question, [e.text for e in read], titles)
    if verdict < s.judge_below:
        return Decision(
            False,
            f"the closest article, “{lead.title}”, is related but does not state the answer "
            f"(judge {verdict:+.2f} < {s.judge_below:+.2f})",
            verdict,
        )
    return Decision(True, judge_score=verdict)


def related_citations(evidence: Sequence[EvidenceSpan], limit: int) -> tuple[Citation, ...]:
    """With a refusal: the closest sentences, one per article, quoted as related (not as an answer)."""
    seen: set[str] = set()
    out: list[Citation] = []
    for span in evidence:
        if span.source not in seen and len(out) < limit:
            seen.add(span.source)
            out.append(_citation(span))
    return tuple(out)


class _Draft:
    """The sentences shown so far: the quoted lead, then only verified sentences that add something new."""

    def __init__(self, engine: Engine, evidence: Sequence[EvidenceSpan]) -> None:
        self._settings = engine.settings
        self._evidence = evidence
        self.sentences: list[AnswerSentence] = []
        self.dropped: list[str] = []
        self._shown_terms: set[str] = set()

    def quote(self, span: EvidenceSpan) -> str:
        """Show an evidence sentence as it stands, cited to its span; returns the text to stream."""
        self.sentences.append(AnswerSentence(span.text, (_citation(span),), "extractive"))
        self._shown_terms |= content_terms(span.text)
        return span.text if len(self.sentences) == 1 else " " + span.text

    def quote_if_new(self, span: EvidenceSpan) -> str | None:
        """Quote ``span`` unless the sentences shown already carry most of its words."""
        if len(content_terms(span.text) - self._shown_terms) < self._settings.min_new_terms:
            return None
        return self.quote(span)

    def offer(self, generated: str) -> str | None:
        """A generated sentence: the text to stream if it verifies against the evidence and adds something."""
        s = self._settings
        clean = _MARKER.sub("", generated).strip()
        if not clean or NOT_IN_EVIDENCE.lower() in clean.lower():
            return None
        support = check_support(clean, self._evidence, s.support_threshold, min_terms=s.min_sentence_terms)
        if not support.supported:
            self.dropped.append(clean)
            log.debug("dropped unsupported sentence %r: %s", clean, support.reason)
            return None
        if len(content_terms(clean) - self._shown_terms) < s.min_new_terms:
            return None  # verified but repeats what is already shown
        self.sentences.append(AnswerSentence(clean, tuple(_citation(e) for e in support.spans), "generated"))
        self._shown_terms |= content_terms(clean)
        return " " + clean


def _generated_sentences(
    engine: Engine, query: str, evidence: Sequence[EvidenceSpan], cancel: threading.Event | None
) -> Iterator[str]:
    """The local model's answer from the evidence, one complete sentence at a time."""
    s = engine.settings
    if s.max_new_tokens <= 0:
        return
    messages = render("answer", evidence=_evidence_block(evidence), question=query)
    buffer = ""
    for piece in engine.ensure_generator().stream(messages, max_new_tokens=s.max_new_tokens, cancel=cancel):
        buffer += piece
        spans = split_sentences(buffer)
        if len(spans) > 1:  # all but the last are complete
            yield from (span.text for span in spans[:-1])
            buffer = buffer[spans[-1].start :]
    yield from (span.text for span in split_sentences(buffer))


def _support_quotes(engine: Engine, evidence: Sequence[EvidenceSpan]) -> list[EvidenceSpan]:
    """Further sentences of the lead's article that the cross-encoder also judges answer-bearing (the other
    reasons of a "why" question), close to the lead's own judgment."""
    s = engine.settings
    lead = evidence[0]
    return [
        e
        for e in evidence[1:]
        if e.source == lead.source
        and e.answer_score >= s.refuse_below
        and e.answer_score >= lead.answer_score - s.extractive_margin
    ][: max(s.extractive_sentences - 1, 0)]


def _select(engine: Engine, query: str, passages: Sequence[Passage]) -> list[EvidenceSpan]:
    """The evidence: the passages' sentences, the most answer-bearing first (``rag.evidence.select_evidence``)."""
    settings = engine.settings
    return select_evidence(
        engine.reranker,
        query,
        passages,
        max_sentences=settings.evidence_max_sentences,
        max_words=settings.evidence_max_words,
        passage_weight=settings.evidence_passage_weight,
        title_context=settings.evidence_title_context,
    )


@dataclass
class _Run:
    """What one answer has gathered so far, turned into the final ``Answer`` by :meth:`finish`."""

    question: str
    query: str
    started: float
    passages: tuple[Passage, ...] = ()
    evidence: Sequence[EvidenceSpan] = ()
    timings: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)

    def finish(self, engine: Engine, decision: Decision, draft: _Draft | None = None) -> Answer:
        self.timings["total_s"] = time.perf_counter() - self.started
        return Answer(
            question=self.question,
            standalone_question=self.query,
            sentences=tuple(draft.sentences) if draft else (),
            refused=not decision.answerable,
            refusal_reason=decision.reason,
            passages=self.passages,
            timings=self.timings,
            models=self.models,
            dropped=tuple(draft.dropped) if draft else (),
            related=() if decision.answerable else related_citations(self.evidence, engine.settings.related_passages),
            judge_score=decision.judge_score,
        )


def stream_answer(
    engine: Engine,
    question: str,
    history: Sequence[ChatTurn] = (),
    filters: ChunkFilter | None = None,
    *,
    cancel: threading.Event | None = None,
) -> Iterator[StreamEvent]:
    """retrieve → select evidence → decide answerability → lead with the answer-bearing quote → generate and
    verify → quote further answer-bearing support. Yields a ``PassagesEvent``, ``TokenEvent``s of verified
    sentences only, then the final ``Answer`` (also when refused)."""
    question = _check_question(engine, question)
    run = _Run(question, standalone_question(question, history), time.perf_counter())

    retrieval = retrieve(engine, run.query, k=engine.settings.answer_passages, filters=filters)
    run.passages, run.timings = tuple(retrieval.passages), dict(retrieval.timings)
    yield PassagesEvent(run.passages, run.query)

    t0 = time.perf_counter()
    run.evidence = _select(engine, run.query, retrieval.passages)
    run.timings["evidence_s"] = time.perf_counter() - t0
    run.models["embedder"] = engine.embedder.model_id
    if engine.reranker is not None:
        run.models["reranker"] = engine.reranker.model_id

    t0 = time.perf_counter()
    decision = decide(engine, question, run.evidence, judged=judged_question(question, history))
    run.timings["decide_s"] = time.perf_counter() - t0
    if engine.judge is not None:
        run.models["judge"] = engine.judge.model_id
    if not decision.answerable:
        yield run.finish(engine, decision)
        return

    draft = _Draft(engine, run.evidence)
    run.timings["ttft_s"] = time.perf_counter() - run.started
    yield TokenEvent(draft.quote(run.evidence[0]))

    t0 = time.perf_counter()
    run.models["generator"] = engine.ensure_generator().model_id
    for sentence in _generated_sentences(engine, run.query, run.evidence, cancel):
        shown = draft.offer(sentence)
        if shown is not None:
            yield TokenEvent(shown)
    run.timings["generation_s"] = time.perf_counter() - t0

    for span in _support_quotes(engine, run.evidence):  # the other answer-bearing sentences, when they add something
        shown = draft.quote_if_new(span)
        if shown is not None:
            yield TokenEvent(shown)
    yield run.finish(engine, decision, draft)


def answer_question(
    engine: Engine,
    question: str,
    history: Sequence[ChatTurn] = (),
    filters: ChunkFilter | None = None,
    *,
    cancel: threading.Event | None = None,
) -> Answer:
    for event in stream_answer(engine, question, history, filters, cancel=cancel):
        if isinstance(event, Answer):
            return event
    raise AssertionError("stream_answer ended without an Answer")  # pragma: no cover


__all__ = ["Answer", "Passage", "answer_question", "stream_answer"]
