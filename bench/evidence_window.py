"""An experiment, not a shipped setting: evidence chosen from passages widened to the whole sentences within
``WINDOW`` characters of each passage in its document, then ``ragqa eval`` as usual.

    .venv/bin/python bench/evidence_window.py 800 --report OUT.json -- eval/sets/science eval/sets/culture \
        eval/sets/civic --split tune

Everything after ``--`` goes to ``ragqa eval``. Compare OUT.json with a plain ``ragqa eval`` of the same sets
(README, "What this does not do well yet"): for "why" questions only about half of the reason sentences are in
the retrieved passages; this measures whether a wider pool of candidate sentences helps the answers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rag.answer as answer
from rag.cli import main as ragqa
from rag.engine import Engine
from rag.retrieval import Passage
from rag.text import split_sentences
from rag.verify import EvidenceSpan


def widened(engine: Engine, passages: Sequence[Passage], window: int) -> list[Passage]:
    """The passages, plus for each the whole sentences of its document within ``window`` characters before and
    after it (as extra passages with the same score; a sentence cut by the window's edge is left out)."""
    out = list(passages)
    for p in passages:
        doc = engine.store.document_text(p.source, p.collection)
        a, b = max(0, p.start - window), min(len(doc), p.end + window)
        before = split_sentences(doc[a : p.start], offset=a)
        if a > 0:
            before = before[1:]
        after = split_sentences(doc[p.end : b], offset=p.end)
        if b < len(doc):
            after = after[:-1]
        for spans in (before, after):
            if spans:
                start, end = spans[0].start, spans[-1].end
                out.append(replace(p, text=doc[start:end], start=start, end=end, chunk_id=-1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("window", type=int, help="characters of the document before and after each passage")
    parser.add_argument("--report", required=True, help="where ragqa eval writes its report")
    parser.add_argument("eval_args", nargs="+", help="after --: the sets and options for ragqa eval")
    args = parser.parse_args()
    select = answer._select

    def select_widened(engine: Engine, query: str, passages: Sequence[Passage]) -> list[EvidenceSpan]:
        return select(engine, query, widened(engine, passages, args.window))

    answer._select = select_widened
    sys.exit(ragqa(["eval", *args.eval_args, "--report", args.report]))


if __name__ == "__main__":
    main()
