"""Retrieval hit@1/3/5 for dense only, BM25 only, hybrid (RRF) and hybrid + rerank, scored as eval/README.md says.

    .venv/bin/python bench/retrieval_modes.py [--corpus eval/dev/corpus] [--questions eval/dev/questions.jsonl]

Indexes the corpus into a temporary data dir with the configured (default) models and prints one row per mode.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rag.engine import Engine
from rag.evaluation import load_questions, passage_hits
from rag.ingest import ingest_paths
from rag.retrieval import retrieve
from rag.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
MODES = {
    "dense": ({"bm25_weight": 0.0}, False),
    "bm25": ({"dense_weight": 0.0}, False),
    "hybrid": ({}, False),
    "hybrid+rerank": ({}, True),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=ROOT / "eval" / "dev" / "corpus")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev" / "questions.jsonl")
    args = parser.parse_args()
    questions = [q for q in load_questions(args.questions) if q.answerable]
    with tempfile.TemporaryDirectory() as tmp:
        base = get_settings().model_copy(update={"data_dir": Path(tmp)})
        engine = Engine.load(base)
        ingest_paths(engine, [args.corpus], progress=False)
        texts = {d.source: engine.store.document_text(d.source) for d in engine.store.list_documents()}
        print(f"{len(questions)} answerable questions, {engine.store.stats().chunks} chunks")
        print(f"{'mode':14} {'hit@1':>6} {'hit@3':>6} {'hit@5':>6} {'ms/query':>9}")
        for mode, (update, rerank) in MODES.items():
            engine.settings = base.model_copy(update=update)
            first_hit: list[int | None] = []
            started = time.perf_counter()
            for q in questions:
                passages = retrieve(engine, q.question, 5, rerank=rerank).passages
                ranks = [
                    i
                    for i, p in enumerate(passages, start=1)
                    if p.source == q.source and passage_hits(texts[p.source], p.start, p.end, q.evidence)
                ]
                first_hit.append(ranks[0] if ranks else None)
            ms = (time.perf_counter() - started) / len(questions) * 1000
            hits = [sum(1 for r in first_hit if r is not None and r <= k) / len(questions) for k in (1, 3, 5)]
            print(f"{mode:14} {hits[0]:6.3f} {hits[1]:6.3f} {hits[2]:6.3f} {ms:9.1f}")
        engine.close()


if __name__ == "__main__":
    main()
