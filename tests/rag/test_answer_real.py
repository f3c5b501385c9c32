"""The answer stage with the real default models on the seed article (slow), and the quality floor on eval/dev."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag.answer import answer_question
from rag.answer_types import ChatTurn
from rag.cli import main
from rag.engine import Engine
from tests.conftest import HEADLINE, REPO_ROOT, SEED_SOURCE


def test_headline_answer_names_putins_visit_and_cites_the_seed(seed_engine: Engine) -> None:
    answer = answer_question(seed_engine, HEADLINE)
    assert not answer.refused
    text = answer.text.lower()
    assert "putin" in text and "north korea" in text
    assert answer.citations and all(c.source == SEED_SOURCE for c in answer.citations)
    document = seed_engine.store.document_text(SEED_SOURCE)
    for c in answer.citations:
        assert document[c.start : c.end] == c.text
    assert answer.timings["total_s"] > 0 and "ttft_s" in answer.timings


def test_world_cup_is_refused(seed_engine: Engine) -> None:
    answer = answer_question(seed_engine, "Who won the 2022 World Cup?")
    assert answer.refused
    assert answer.sentences == ()


def test_follow_up_resolves_against_history(seed_engine: Engine) -> None:
    first = answer_question(seed_engine, HEADLINE)
    history = [ChatTurn("user", HEADLINE), ChatTurn("assistant", first.text)]
    follow_up = answer_question(seed_engine, "What does that visit underscore?", history)
    assert not follow_up.refused
    assert "alignment" in follow_up.text.lower()
    assert all(c.source == SEED_SOURCE for c in follow_up.citations)


# Floors a little under what `ragqa eval` measured with the default models: eval/dev (tuned on in earlier work) and
# the test halves of eval/sets (never tuned on; see eval/sets/README.md). A regression below them fails CI.
# Measured on eval/dev: hit@5 0.969, correct 0.781, citation precision 0.991, refused 1.0, kept 0.844 (27 of 32;
# one verdict, dev-026, sits at +0.199 against the judge's 0.2).
DEV_FLOORS = {
    "hit@5": 0.93,
    "correct": 0.75,
    "citation_precision": 0.93,
    "refusal_unanswerable": 0.95,
    "refusal_answerable_kept": 0.81,
}
# Measured on the test halves (115 questions; `ragqa eval eval/sets/{science,culture,civic} --split test`), the judge
# reading 2 sentences under their titles, below 0.2: hit@5 0.921, correct 0.645, citation precision 0.994,
# unanswerable refused 0.795 (31 of 39), answerable kept 0.776 (59 of 76). The previous default (3 sentences, no
# titles, below 0.1): correct 0.592, refused 0.667, kept 0.816.
TEST_HALF_FLOORS = {
    "hit@5": 0.90,
    "correct": 0.62,
    "citation_precision": 0.95,
    "refusal_unanswerable": 0.76,
    "refusal_answerable_kept": 0.75,
}


def _eval(args: list[str], out: Path) -> dict[str, Any]:
    assert main(["eval", *args, "--report", str(out)]) == 0
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    kept = REPO_ROOT / "test-artifacts" / f"eval-{out.stem}.json"  # the measured numbers, kept for the record
    kept.parent.mkdir(exist_ok=True)
    kept.write_text(out.read_text(encoding="utf-8"), encoding="utf-8")
    assert report["unsupported_sentences"] == 0
    assert all(row["citations"] for row in report["questions"] if row["answerable"] and not row["refused"])
    assert all(not row["citations"] for row in report["questions"] if row["refused"])
    return report


@pytest.mark.slow
def test_eval_quality_floor_on_dev(tmp_path: Path) -> None:
    report = _eval([str(REPO_ROOT / "eval" / "dev")], tmp_path / "dev.json")
    assert report["n"] == 40
    below = {k: (report[k], floor) for k, floor in DEV_FLOORS.items() if report[k] < floor}
    assert not below, f"quality below the floor: {below}"


@pytest.mark.slow
def test_eval_quality_floor_on_the_test_halves(tmp_path: Path) -> None:
    sets = [str(REPO_ROOT / "eval" / "sets" / name) for name in ("science", "culture", "civic")]
    report = _eval([*sets, "--split", "test"], tmp_path / "test.json")
    assert report["n"] == 115 and {row["split"] for row in report["questions"]} == {"test"}
    assert {(s["set"], s["split"]) for s in report["sets"]} >= {(n, "test") for n in ("science", "culture", "civic")}
    below = {k: (report[k], floor) for k, floor in TEST_HALF_FLOORS.items() if report[k] < floor}
    assert not below, f"quality below the floor: {below}"
