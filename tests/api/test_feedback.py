"""Feedback: answers carry an ``id``; ``POST /v1/feedback`` stores 👍/👎 with the question, answer and citations;
``ragqa feedback export --json`` writes the 👎 ones as evaluation questions that the eval loader reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from index.feedback import AnswerNotFoundError, FeedbackStore
from rag import cli
from rag.evaluation import load_questions
from tests.api.helpers import API_KEY, AUTH, Harness, parse_sse
from tests.conftest import HEADLINE, SEED_SOURCE


def test_answers_have_ids_and_take_feedback(
    harness: Harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = harness.engine()
    client: TestClient = harness.client(engine)
    first = client.post("/v1/ask", json={"question": HEADLINE}).json()
    second = client.post("/v1/ask", json={"question": HEADLINE}).json()
    assert first["id"] and first["id"] != second["id"]
    r = client.post("/v1/feedback", json={"answer_id": first["id"], "rating": "up"})
    assert r.status_code == 201 and r.json()["rating"] == "up" and r.json()["answer_id"] == first["id"]
    r = client.post("/v1/feedback", json={"answer_id": second["id"], "rating": "down", "comment": "  wrong year "})
    assert r.status_code == 201

    # Streamed and chat answers are remembered too.
    with client.stream("POST", "/v1/ask/stream", json={"question": HEADLINE}) as response:
        events = parse_sse("".join(response.iter_text()))
    streamed = next(e.data for e in events if e.event == "answer")
    assert client.post("/v1/feedback", json={"answer_id": streamed["id"], "rating": "down"}).status_code == 201
    chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": HEADLINE}]}).json()
    chat_id = chat["ragqa"]["answer_id"]
    assert chat_id and client.post("/v1/feedback", json={"answer_id": chat_id, "rating": "up"}).status_code == 201

    # Bad feedback: unknown id, bad rating, extra field, too long a comment.
    r = client.post("/v1/feedback", json={"answer_id": "nope", "rating": "up"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
    assert client.post("/v1/feedback", json={"answer_id": first["id"], "rating": "meh"}).status_code == 422
    assert client.post("/v1/feedback", json={"answer_id": first["id"], "rating": "up", "x": 1}).status_code == 422
    long = {"answer_id": first["id"], "rating": "down", "comment": "x" * 2001}
    assert client.post("/v1/feedback", json=long).status_code == 422

    store = FeedbackStore.open(engine.settings.data_dir)
    try:
        downs = store.feedback("down")
        assert [f.answer.id for f in downs] == [second["id"], streamed["id"]]
        assert downs[0].comment == "wrong year" and downs[0].answer.question == HEADLINE
        assert downs[0].answer.answer == second["answer"]
        assert [c["text"] for c in downs[0].answer.citations] == [c["quote"] for c in second["citations"]]
        assert len(store.feedback("up")) == 2
    finally:
        store.close()

    out = tmp_path / "to-label.jsonl"
    data_dir = str(engine.settings.data_dir)
    assert cli.main(["feedback", "export", "--json", "--data-dir", data_dir]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    exported = [json.loads(line) for line in lines]
    assert exported[0]["question"] == HEADLINE and exported[0]["labelled"] is False
    assert exported[0]["feedback"]["comment"] == "wrong year" and exported[0]["feedback"]["rating"] == "down"
    if not second["refused"]:
        assert exported[0]["source"] == SEED_SOURCE and exported[0]["evidence"]
    assert cli.main(["feedback", "export", "--json", "-o", str(out), "--data-dir", data_dir]) == 0
    assert capsys.readouterr().err.startswith("wrote 2 question(s) to ")
    questions = load_questions(out)
    assert [q.question for q in questions] == [HEADLINE, HEADLINE]
    assert cli.main(["feedback", "export", "--data-dir", str(tmp_path / "empty")]) == 1
    assert capsys.readouterr().err.startswith("error: no feedback at")


def test_feedback_needs_a_key_when_reads_do(harness: Harness) -> None:
    client = harness.client(api_keys=[API_KEY], read_requires_key=True)
    answer = client.post("/v1/ask", json={"question": HEADLINE}, headers=AUTH).json()
    body = {"answer_id": answer["id"], "rating": "up"}
    assert client.post("/v1/feedback", json=body).status_code == 401
    assert client.post("/v1/feedback", json=body, headers=AUTH).status_code == 201


def test_old_answers_without_feedback_are_pruned(tmp_path: Path) -> None:
    store = FeedbackStore.open(tmp_path, keep_answers=3)
    try:
        for n in range(6):
            store.record_answer(f"a{n}", question="q", answer="a", refused=False, citations=[])
            if n == 0:
                store.add_feedback("a0", "down")
        assert store.answer("a0").id == "a0"  # has feedback: kept
        kept = [i for i in ("a1", "a2", "a3", "a4", "a5") if _known(store, i)]
        assert kept == ["a3", "a4", "a5"]
    finally:
        store.close()


def _known(store: FeedbackStore, answer_id: str) -> bool:
    try:
        store.answer(answer_id)
    except AnswerNotFoundError:
        return False
    return True
