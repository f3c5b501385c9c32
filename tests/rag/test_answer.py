"""The answer stage with deterministic fakes: verification, span attachment, fallback, refusal, follow-ups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from rag.answer import answer_question, judged_question, standalone_question, stream_answer
from rag.answer_types import Answer, ChatTurn, PassagesEvent, TokenEvent
from rag.documents import load_text
from rag.engine import Engine
from rag.errors import BadInputError
from rag.ingest import ingest_document
from rag.models.generator import ChatMessage
from rag.prompts import render, required_variables
from rag.verify import EvidenceSpan, check_support
from tests.api.helpers import evidence_lines
from tests.fakes import OverlapJudge

ARTICLE = (
    "Harbor Town Opens New Ferry Line\n"
    "The town of Harbor opened a ferry line to Gull Island on Monday. "
    "The ferry carries 120 passengers and makes six crossings a day. "
    "Mayor Lena Ortiz said the line would cut travel time to the island by half.\n"
    "Tickets cost 4 euros for adults, and children under twelve travel free. "
    "The ferry was built at the Northwind shipyard over eighteen months."
)
OTHER = (
    "Rainfall Sets Record in Valley Region\n"
    "The valley region recorded 310 millimetres of rain in March, the wettest month since records began. "
    "Farmers said the rain delayed the planting of barley."
)


def _engine(make_fake_engine: Callable[..., Engine], respond: Callable[[Sequence[ChatMessage]], str]) -> Engine:
    engine = make_fake_engine(respond=respond)
    with engine.store.writer():
        ingest_document(engine, load_text(ARTICLE, source="ferry.txt"))
        ingest_document(engine, load_text(OTHER, source="rain.txt"))
    return engine


def _assert_spans_exact(engine: Engine, answer: Answer) -> None:
    for sentence in answer.sentences:
        assert sentence.citations, sentence
        for c in sentence.citations:
            assert engine.store.document_text(c.source)[c.start : c.end] == c.text


def test_supported_generated_sentence_is_kept_with_exact_spans(make_fake_engine: Callable[..., Engine]) -> None:
    # The model restates the second evidence sentence: verified and new beside the lead quote, so it must be kept
    # (as a generated sentence, cited to that sentence's span) — not merely covered by the lead.
    restated: list[str] = []

    def respond(messages: Sequence[ChatMessage]) -> str:
        restated.append(evidence_lines(messages)[1])
        return restated[-1]

    engine = _engine(make_fake_engine, respond)
    answer = answer_question(engine, "How much do adult tickets for the ferry cost?")
    assert not answer.refused and restated
    assert answer.sentences[0].origin == "extractive"
    assert restated[-1] not in answer.sentences[0].text
    kept = [s for s in answer.sentences if s.origin == "generated"]
    assert [s.text for s in kept] == [restated[-1]]
    assert [c.text for c in kept[0].citations] == [restated[-1]]
    _assert_spans_exact(engine, answer)
    assert {c.source for c in answer.citations} == {"ferry.txt"}


def test_invented_sentence_is_never_shown(make_fake_engine: Callable[..., Engine]) -> None:
    invented = "South Korea won the 2022 World Cup in Qatar."
    engine = _engine(make_fake_engine, lambda _: f"{invented} The ferry makes six crossings a day.")
    answer = answer_question(engine, "How often does the ferry to Gull Island cross?")
    assert not answer.refused
    assert "World Cup" not in answer.text
    assert invented in answer.dropped
    _assert_spans_exact(engine, answer)


def test_wrong_number_is_dropped(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _engine(make_fake_engine, lambda _: "The ferry carries 450 passengers and makes six crossings a day.")
    answer = answer_question(engine, "How many passengers does the ferry to Gull Island carry?")
    assert "450" not in answer.text
    assert any("450" in d for d in answer.dropped)


def test_empty_generation_falls_back_to_quoting_evidence(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _engine(make_fake_engine, lambda _: "")
    answer = answer_question(engine, "What do tickets for the ferry cost for adults?")
    assert not answer.refused
    assert answer.sentences and all(s.origin == "extractive" for s in answer.sentences)
    assert "4 euros" in answer.text
    _assert_spans_exact(engine, answer)


def test_refuses_when_nothing_matches(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _engine(make_fake_engine, lambda _: "South Korea won the 2022 World Cup.")
    answer = answer_question(engine, "Who won the 2022 World Cup?")
    assert answer.refused
    assert answer.refusal_reason
    assert answer.sentences == ()
    assert answer.text == Answer.REFUSAL_TEXT


def test_refuses_when_the_question_hinges_on_an_unmentioned_year(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _engine(make_fake_engine, lambda _: "The ferry carries 120 passengers.")
    answer = answer_question(engine, "How many passengers did the Gull Island ferry carry in 2031?")
    assert answer.refused
    assert "2031" in (answer.refusal_reason or "")


def test_stream_order_and_only_verified_text_is_streamed(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _engine(
        make_fake_engine, lambda _: "Pirates own the ferry. Tickets cost 4 euros for adults, and children travel free."
    )
    events = list(stream_answer(engine, "What do tickets for the ferry cost?"))
    assert isinstance(events[0], PassagesEvent)
    assert isinstance(events[-1], Answer)
    streamed = "".join(e.text for e in events if isinstance(e, TokenEvent))
    assert streamed == events[-1].text
    assert "Pirates" not in streamed


def test_empty_and_too_long_questions_are_bad_input(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _engine(make_fake_engine, lambda _: "")
    with pytest.raises(BadInputError):
        answer_question(engine, "   ")
    with pytest.raises(BadInputError, match="limit"):
        answer_question(engine, "x" * (engine.settings.max_question_chars + 1))


def test_follow_up_is_made_standalone_from_history() -> None:
    history = [
        ChatTurn("user", "Why did Harbor open a ferry line to Gull Island?"),
        ChatTurn("assistant", "The town of Harbor opened a ferry line to Gull Island on Monday."),
    ]
    query = standalone_question("What did the mayor say about it?", history)
    assert "Gull Island" in query and "mayor" in query
    assert standalone_question("What did the mayor of Harbor say about ferries?", []) == (
        "What did the mayor of Harbor say about ferries?"
    )


def test_a_follow_up_keeps_the_answers_later_sentences_within_the_budget() -> None:
    history = [
        ChatTurn("user", "Why is Seoul reconsidering arms to Ukraine?"),
        ChatTurn(
            "assistant",
            "Threats from North Korea's ties with Russia push Seoul to reconsider. "
            "The catalyst is Putin's visit to North Korea. " + "Other words follow here " * 20 + ".",
        ),
    ]
    query = standalone_question("What does that visit underscore?", history)
    assert "Putin's visit" in query  # "that visit" points into the answer's second sentence
    assert "Other words" not in query  # whole sentences only, within the budget
    long_first = [ChatTurn("user", "Why?"), ChatTurn("assistant", "word " * 100 + "end.")]
    assert len(standalone_question("And that?", long_first).split()) <= 2 + 60 + 1


def test_follow_up_retrieves_against_history(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _engine(make_fake_engine, lambda _: "")
    history = [ChatTurn("user", "Which ferry line opened to Gull Island?"), ChatTurn("assistant", "A ferry line.")]
    answer = answer_question(engine, "What did the mayor say about it?", history)
    assert not answer.refused
    assert answer.passages[0].source == "ferry.txt"


def test_the_judge_reads_a_follow_up_with_the_question_it_follows(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _engine(make_fake_engine, lambda _: "")
    judge = engine.judge
    assert isinstance(judge, OverlapJudge)
    history = [
        ChatTurn("user", "Which ferry line opened to Gull Island?"),
        ChatTurn("assistant", "The town of Harbor opened a ferry line to Gull Island on Monday."),
    ]
    answer_question(engine, "What did the mayor say about it?", history)
    # not the previous answer, whose words the evidence repeats: only the question it follows
    assert judge.calls[-1][0] == "What did the mayor say about it? (follows: Which ferry line opened to Gull Island?)"
    assert answer_question(engine, "What did the mayor say about it?").judge_score is not None
    assert judge.calls[-1][0] == "What did the mayor say about it?"  # no history: the question as asked
    standalone = "How many passengers does the ferry to Gull Island carry?"
    assert judged_question(standalone, history) == standalone


@pytest.mark.parametrize(
    ("sentence", "supported"),
    [
        ("The ferry carries 120 passengers.", True),
        ("The ferry carries 150 passengers.", False),  # number not in evidence
        ("The ferry does not carry passengers.", False),  # negation not in evidence
        ("Mayor Hans Ortiz said the line would cut travel time.", False),  # name not in evidence
        ("Pirates attacked the island yesterday.", False),
        ("Six.", False),  # too little to verify
    ],
)
def test_check_support(sentence: str, supported: bool) -> None:
    evidence = [
        EvidenceSpan("f", "t", 0, 10, "The ferry carries 120 passengers and makes six crossings a day.", 1.0),
        EvidenceSpan(
            "f", "t", 20, 30, "Mayor Lena Ortiz said the line would cut travel time to the island by half.", 1.0
        ),
    ]
    assert check_support(sentence, evidence, 0.6, min_terms=2).supported is supported


def test_prompt_requires_every_variable() -> None:
    assert required_variables("answer") == {"evidence", "question"}
    messages = render("answer", evidence="[1] x", question="q?")
    assert messages[0].role == "system" and "[1] x" in messages[-1].content
    with pytest.raises(ValueError, match="missing"):
        render("answer", evidence="x")


def test_refusal_quotes_related_passages_but_cites_nothing(make_fake_engine: Callable[..., Engine]) -> None:
    engine = _engine(make_fake_engine, lambda _: "The ferry carries 120 passengers.")
    answer = answer_question(engine, "Which colour is lighthouse keeper's boat painted?")
    assert answer.refused and answer.citations == [] and answer.sentences == ()
    assert answer.related, "a refusal with evidence nearby quotes it as related"
    assert len({c.source for c in answer.related}) == len(answer.related) <= engine.settings.related_passages
    for c in answer.related:
        assert engine.store.document_text(c.source)[c.start : c.end] == c.text
    assert "related" in (answer.refusal_reason or "")


def test_the_answer_bearing_sentence_leads(make_fake_engine: Callable[..., Engine]) -> None:
    # Two sentences of the same passage are on topic; the question's words single out the one holding the price.
    engine = _engine(make_fake_engine, lambda _: "")
    answer = answer_question(engine, "How much do adult tickets cost, and do children under twelve travel free?")
    assert not answer.refused
    assert answer.sentences[0].text.startswith("Tickets cost 4 euros for adults")
    assert answer.sentences[0].origin == "extractive"


def test_decide_refuses_below_the_answer_score_floor(make_fake_engine: Callable[..., Engine]) -> None:
    from rag.answer import decide
    from rag.verify import EvidenceSpan

    engine = _engine(make_fake_engine, lambda _: "")
    text = "The ferry line opens in May."
    lead = EvidenceSpan("ferry.txt", "Harbor Town Opens New Ferry Line", 0, len(text), text, score=1.0)
    question = "When does the ferry line open?"
    floor = engine.settings.refuse_below
    assert decide(engine, question, [replace(lead, answer_score=floor + 0.1)]).answerable
    refused = decide(engine, question, [replace(lead, answer_score=floor - 0.1)])
    assert not refused.answerable and "Harbor Town Opens New Ferry Line" in (refused.reason or "")
    assert not decide(engine, question, []).answerable
