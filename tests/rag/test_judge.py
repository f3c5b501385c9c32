"""The answerability judge: its verdict from first-token log-probabilities, and where ``decide`` consults it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from rag.answer import answer_question, decide
from rag.documents import load_text
from rag.engine import Engine
from rag.ingest import ingest_document
from rag.judge import LmJudge, judge_messages
from rag.models.generator import ChatMessage
from rag.verify import EvidenceSpan
from tests.conftest import make_settings
from tests.fakes import OverlapJudge

ARTICLE = (
    "Harbor Town Opens New Ferry Line\n\n"
    "The ferry line between Harbor Town and Gull Island opens on 3 May. "
    "The ferry sails every hour from the old pier, and the crossing takes twenty minutes. "
    "The town council approved the line after a two-year study of island traffic."
)


class RecordingScorer:
    """A ``NextTokenScorer`` fake: fixed log-probabilities, and the messages it was shown."""

    model_id = "recording-scorer"

    def __init__(self, yes: float, no: float) -> None:
        self.logprobs = {"Yes": yes, "No": no}
        self.seen: list[Sequence[ChatMessage]] = []
        self.kept: list[str] = []

    def next_token_logprobs(self, messages: Sequence[ChatMessage], words: Sequence[str]) -> dict[str, float]:
        self.seen.append(messages)
        return {w: self.logprobs[w] for w in words}

    def render(self, messages: Sequence[ChatMessage]) -> str:
        return "".join(f"<{m.role}>{m.content}</{m.role}>\n" for m in messages) + "<assistant>"

    def keep_prefix(self, text: str) -> None:
        self.kept.append(text)


def test_lm_judge_is_yes_minus_no_over_the_rendered_prompt() -> None:
    scorer = RecordingScorer(yes=-0.2, no=-1.9)
    judge = LmJudge(scorer)
    assert judge.log_odds("When does the line open?", ["It opens on 3 May.", "It sails hourly."]) == pytest.approx(1.7)
    prompt = "\n".join(m.content for m in scorer.seen[0])
    assert "When does the line open?" in prompt
    assert "- It opens on 3 May.\n- It sails hourly." in prompt
    assert judge_messages("q?", ["a b c d"])[0].role == "system"
    # The prompt's fixed start (everything before the evidence) is kept once, and every prompt starts with it.
    (kept,) = scorer.kept
    assert kept.endswith("Evidence:\n") and "<system>" in kept
    assert scorer.render(scorer.seen[0]).startswith(kept)


def test_the_judge_reads_the_sentences_under_their_titles() -> None:
    scorer = RecordingScorer(yes=-0.5, no=-0.7)
    judge = LmJudge(scorer)
    judge.log_odds("Why?", ["First one.", "Second one.", "Third one."], ["Article A", "Article B", "Article A"])
    prompt = "\n".join(m.content for m in scorer.seen[0])
    assert 'Article: "Article A"\n- First one.\n- Third one.\nArticle: "Article B"\n- Second one.' in prompt
    # the kept fixed start still leads the prompt: the titles start inside the evidence
    assert scorer.render(scorer.seen[0]).startswith(scorer.kept[0])


def _engine(make_fake_engine: Callable[..., Engine], tmp_path: Path, **overrides: object) -> Engine:
    engine = make_fake_engine(make_settings(tmp_path / "data", **overrides))
    with engine.store.writer():
        ingest_document(engine, load_text(ARTICLE, source="ferry.txt"))
    return engine


def _spans(*scored: tuple[str, float]) -> list[EvidenceSpan]:
    return [EvidenceSpan("ferry.txt", "Harbor Town Opens New Ferry Line", 0, len(t), t, 0.0, a) for t, a in scored]


def test_decide_refuses_when_the_judge_says_no(make_fake_engine: Callable[..., Engine], tmp_path: Path) -> None:
    engine = _engine(make_fake_engine, tmp_path)
    evidence = _spans(("The ferry sails every hour from the old pier.", 3.0))
    refused = decide(engine, "How much does a ferry ticket to Gull Island cost for a child?", evidence)
    assert not refused.answerable
    assert refused.judge_score is not None and refused.judge_score < engine.settings.judge_below
    assert "does not state the answer" in (refused.reason or "")
    kept = decide(engine, "How often does the ferry sail from the old pier?", evidence)
    assert kept.answerable and kept.judge_score is not None and kept.judge_score >= engine.settings.judge_below


def test_the_judge_reads_the_most_answer_bearing_sentences_and_only_after_the_cheap_checks(
    make_fake_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    engine = _engine(make_fake_engine, tmp_path, judge_sentences=2, judge_titles=True)
    judge = engine.judge
    assert isinstance(judge, OverlapJudge)
    evidence = _spans(("Lead sentence about the ferry.", 2.0), ("Low one.", -3.0), ("Middle one.", 1.0))
    decide(engine, "When does the ferry line open?", evidence)
    assert judge.calls[-1][1] == ("Lead sentence about the ferry.", "Middle one.")
    assert judge.calls[-1][2] == ("Harbor Town Opens New Ferry Line",) * 2  # read under their article's title
    untitled = _engine(make_fake_engine, tmp_path / "untitled", judge_sentences=2, judge_titles=False)
    assert isinstance(untitled.judge, OverlapJudge)
    decide(untitled, "When does the ferry line open?", evidence)
    assert untitled.judge.calls[-1][2] == ()
    calls = len(judge.calls)
    below = [replace(e, answer_score=engine.settings.refuse_below - 1) for e in evidence]
    assert not decide(engine, "When does the ferry line open?", below).answerable
    assert len(judge.calls) == calls  # the answer-score floor refused first: the judge was not asked


def test_a_judged_refusal_streams_nothing_and_quotes_related_passages(
    make_fake_engine: Callable[..., Engine], tmp_path: Path
) -> None:
    engine = _engine(make_fake_engine, tmp_path, judge_below=6.0)  # a judge that needs near-total overlap
    answer = answer_question(engine, "Which company built the ferry for the Gull Island line?")
    assert answer.refused and not answer.sentences
    assert answer.related and all(c.source == "ferry.txt" for c in answer.related)
    assert answer.judge_score is not None and answer.judge_score < 6.0
    assert answer.models["judge"] == "overlap-judge"


def test_no_judge_when_the_setting_is_empty(make_fake_engine: Callable[..., Engine], tmp_path: Path) -> None:
    engine = _engine(make_fake_engine, tmp_path, judge="")
    engine.judge = None
    assert engine.ensure_judge() is None
    answer = answer_question(engine, "How often does the ferry sail from the old pier?")
    assert not answer.refused and answer.judge_score is None and "judge" not in answer.models
