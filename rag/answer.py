"""Answer a question from the indexed articles so that every sentence shown is supported by a quoted span.

retrieve + rerank → select evidence sentences → prompt (``rag/prompts/answer.txt``) → generate locally →
split into sentences → verify each against the evidence → drop what is unsupported → fall back to quoting the
best evidence when nothing generated survives → refuse when the evidence is too weak.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence

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
_MARKER = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def standalone_question(question: str, history: Sequence[ChatTurn]) -> str:
    """Make a follow-up retrievable on its own: a question that leans on earlier turns (pronouns, very short)
    is joined with the previous question and the start of the previous answer."""
    users = [t.content for t in history if t.role == "user"]
    if not users or not (_FOLLOW_UP.search(question) or len(question.split()) <= 4):
        return question
    context = users[-1]
    answers = [t.content for t in history if t.role == "assistant"]
    if answers:
        first = split_sentences(answers[-1])
        context += " " + (first[0].text if first else "")
    words = context.split()
    return f"{question} (context: {' '.join(words[:60])})"


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


def stream_answer(
    engine: Engine,
    question: str,
    history: Sequence[ChatTurn] = (),
    filters: ChunkFilter | None = None,
    *,
    cancel: threading.Event | None = None,
) -> Iterator[StreamEvent]:
    """Yield a ``PassagesEvent``, then ``TokenEvent``s of verified sentences only, then the final ``Answer``."""
    started = time.perf_counter()
    s = engine.settings
    question = _check_question(engine, question)
    query = standalone_question(question, history)
    retrieval = retrieve(engine, query, k=s.answer_passages, flt=filters)
    timings = dict(retrieval.timings)
    yield PassagesEvent(tuple(retrieval.passages), query)

    t0 = time.perf_counter()
    evidence = select_evidence(
        engine.reranker,
        query,
        retrieval.passages,
        max_sentences=s.evidence_max_sentences,
        max_words=s.evidence_max_words,
        passage_weight=s.evidence_passage_weight,
        title_context=s.evidence_title_context,
    )
    timings["evidence_s"] = time.perf_counter() - t0
    models = {"embedder": engine.embedder.model_id}
    if engine.reranker is not None:
        models["reranker"] = engine.reranker.model_id

    def finish(sentences: list[AnswerSentence], refused: bool, reason: str | None, dropped: list[str]) -> Answer:
        timings["total_s"] = time.perf_counter() - started
        return Answer(
            question=question,
            standalone_question=query,
            sentences=tuple(sentences),
            refused=refused,
            refusal_reason=reason,
            passages=tuple(retrieval.passages),
            timings=timings,
            models=models,
            dropped=tuple(dropped),
        )

    best = evidence[0].score if evidence else float("-inf")
    reason = None
    if not evidence:
        reason = "nothing in the indexed articles matches the question"
    elif best < s.refuse_below:
        reason = f"no passage in the articles answers this (best evidence score {best:.2f} < {s.refuse_below:.2f})"
    else:
        # The specifics the question hinges on must appear in the article(s) the best evidence comes from.
        lead_articles = {e.source: e.title for e in evidence[: s.anchor_documents]}
        missing = missing_anchors(
            question, [f"{t}\n{engine.store.document_text(src)}" for src, t in lead_articles.items()]
        )
        if missing:
            reason = f"the articles found do not mention {', '.join(repr(m) for m in missing)}"
    if reason is not None:
        yield finish([], True, reason, [])
        return

    # Lead with the best evidence sentence, quoted: it is supported by construction and is shown at once.
    lead = evidence[0]
    kept: list[AnswerSentence] = [AnswerSentence(lead.text, (_citation(lead),), "extractive")]
    shown_terms = content_terms(lead.text)
    timings["ttft_s"] = time.perf_counter() - started
    yield TokenEvent(lead.text)

    # Then let the local model answer from the evidence; show only what verifies and adds something new.
    generator = engine.ensure_generator()
    models["generator"] = generator.model_id
    messages = render("answer", evidence=_evidence_block(evidence), question=query)
    dropped: list[str] = []
    buffer = ""
    t_gen = time.perf_counter()

    def judge(text: str) -> Iterator[TokenEvent]:
        nonlocal shown_terms
        clean = _MARKER.sub("", text).strip()
        if not clean or NOT_IN_EVIDENCE.lower() in clean.lower():
            return
        support = check_support(clean, evidence, s.support_threshold, min_terms=s.min_sentence_terms)
        if not support.supported:
            dropped.append(clean)
            log.debug("dropped unsupported sentence %r: %s", clean, support.reason)
            return
        new_terms = content_terms(clean) - shown_terms
        if len(new_terms) < s.min_new_terms:
            return  # verified but repeats what is already shown
        kept.append(AnswerSentence(clean, tuple(_citation(e) for e in support.spans), "generated"))
        shown_terms |= content_terms(clean)
        yield TokenEvent(" " + clean)

    if s.max_new_tokens > 0:
        for piece in generator.stream(messages, max_new_tokens=s.max_new_tokens, cancel=cancel):
            buffer += piece
            spans = split_sentences(buffer)
            if len(spans) > 1:  # all but the last are complete
                for span in spans[:-1]:
                    yield from judge(span.text)
                buffer = buffer[spans[-1].start :]
        for span in split_sentences(buffer):
            yield from judge(span.text)
    timings["generation_s"] = time.perf_counter() - t_gen

    if len(kept) == 1:
        # The model added nothing verifiable: also quote the next best evidence from the same article, if close.
        for extra in evidence[1 : s.extractive_sentences]:
            if extra.source == lead.source and extra.score >= lead.score - s.extractive_margin:
                kept.append(AnswerSentence(extra.text, (_citation(extra),), "extractive"))
                yield TokenEvent(" " + extra.text)
    yield finish(kept, False, None, dropped)


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
