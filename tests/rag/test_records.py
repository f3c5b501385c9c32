"""One serializer per record: ``Citation.to_dict`` and ``Passage.to_dict`` give every JSON output its keys, in the
order the outputs had before (``ragqa ask --json``, ``ragqa search --json``, eval rows, the HTTP schemas)."""

from __future__ import annotations

import json

from api.schemas import citation_out, numbered_citations, passage_out
from rag.answer_types import Answer, AnswerSentence, Citation
from rag.cli import _answer_json
from rag.retrieval import Passage

CITATION = Citation("news/a.txt", "A title", 3, 9, "quoted", page=2)
PASSAGE = Passage(7, "news/a.txt", "A title", "passage text", 0, 12, 1.23456789, 0.5, "2024-01-01", 4, {"team": "risk"})


def _answer() -> Answer:
    return Answer(
        question="q?",
        standalone_question="q?",
        sentences=(AnswerSentence("quoted.", (CITATION,)),),
        refused=False,
        refusal_reason=None,
        passages=(PASSAGE,),
        related=(CITATION,),
    )


def test_citation_to_dict_keys_and_subsets() -> None:
    assert list(CITATION.to_dict()) == ["source", "title", "text", "start", "end", "page"]
    assert CITATION.to_dict() == {
        "source": "news/a.txt",
        "title": "A title",
        "text": "quoted",
        "start": 3,
        "end": 9,
        "page": 2,
    }
    assert list(CITATION.to_dict(("source", "start", "end", "page", "text"))) == [
        "source",
        "start",
        "end",
        "page",
        "text",
    ]


def test_passage_to_dict_is_public_fields_only() -> None:
    out = PASSAGE.to_dict()
    assert list(out) == ["source", "title", "text", "start", "end", "score", "page", "meta"]
    assert out["score"] == 1.23456789 and out["meta"] == {"team": "risk"}
    out["meta"]["team"] = "changed"
    assert PASSAGE.meta == {"team": "risk"}  # a copy: the caller cannot change the record


def test_ask_json_line_keeps_its_shape() -> None:
    line = _answer_json(_answer(), 1.0)
    assert list(line["citations"][0]) == ["source", "title", "text", "start", "end", "page"]
    assert list(line["related"][0]) == ["source", "title", "text", "start", "end"]
    json.dumps(line)


def test_http_schemas_from_the_same_serializers() -> None:
    assert citation_out(CITATION).model_dump() == {
        "source": "news/a.txt",
        "title": "A title",
        "quote": "quoted",
        "start": 3,
        "end": 9,
        "page": 2,
    }
    assert numbered_citations(_answer())[0].model_dump() == {**citation_out(CITATION).model_dump(), "n": 1}
    assert passage_out(PASSAGE).model_dump() == PASSAGE.to_dict()
