"""The answerability judge, offline: what it reads, its verdicts under other prompts, and the threshold they imply.

    .venv/bin/python bench/judge.py inputs eval/dev eval/sets/science eval/sets/culture eval/sets/civic --out IN.json
    .venv/bin/python bench/judge.py score IN.json --split tune --prompt judge [--sentences 2] [--no-titles] \
        [--no-prefix-reuse] --out SCORES.json
    .venv/bin/python bench/judge.py report IN.json SCORES.json [SCORES.json ...]

``inputs`` indexes each set's corpus in a temporary data dir and keeps, per question, what the answer path's cheap
checks decided and the evidence sentences the judge would read (retrieval, evidence selection and ``decide`` as in
production, with the judge off): the expensive steps run once, the verdicts many times.

``score`` asks the configured judge (``RAGQA_JUDGE``, int8 as in production) about every question the cheap checks
let through, with ``--prompt`` (a template of ``rag/prompts`` or a path to one in the same format; a template whose
user turn ends without a Yes/No request is read as "pick": numbered sentences, verdict ``log Σ P(1..n) − log
P(None)``). ``--no-prefix-reuse`` computes every prompt from scratch, for comparing int8 verdicts with and without
the prefix KV cache. ``--split``: ``tune`` (the sets' tune halves and ``eval/dev``), ``test`` or ``all``.
``--cheap-refused``: also the questions the cheap checks refused (what the judge would say without them).

``report`` prints, per scores file and per split, the AUC of the verdicts (answerable vs not, over the questions the
judge saw), refused/kept at a sweep of thresholds with the cheap checks' refusals included, and the threshold with
the best balanced accuracy over the tuning questions. Thresholds are chosen there, never on ``test``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _split(row: dict[str, Any]) -> str:
    return "tune" if row["set"] == "dev" else str(row["split"] or "tune")


def cmd_inputs(args: argparse.Namespace) -> None:
    from rag.answer import decide
    from rag.engine import Engine
    from rag.evaluation import find_set, load_questions
    from rag.evidence import select_evidence
    from rag.ingest import ingest_paths
    from rag.retrieval import retrieve
    from rag.settings import get_settings

    rows = []
    for folder in args.sets:
        eval_set = find_set(Path(folder))
        temp = tempfile.mkdtemp(prefix="ragqa-judge-")
        settings = get_settings().model_copy(update={"data_dir": Path(temp), "judge": ""})
        engine = Engine.load(settings)
        try:
            ingest_paths(engine, [eval_set.corpus])
            for q in load_questions(eval_set.questions_path):
                found = retrieve(engine, q.question, k=settings.answer_passages)
                evidence = select_evidence(
                    engine.reranker,
                    q.question,
                    found.passages,
                    max_sentences=settings.evidence_max_sentences,
                    max_words=settings.evidence_max_words,
                    passage_weight=settings.evidence_passage_weight,
                    title_context=settings.evidence_title_context,
                )
                decision = decide(engine, q.question, evidence)
                read = sorted(evidence, key=lambda e: -e.answer_score)
                rows.append(
                    {
                        "set": eval_set.name,
                        "id": q.id,
                        "question": q.question,
                        "answerable": q.answerable,
                        "kind": q.kind,
                        "split": q.split,
                        "cheap_ok": decision.answerable,
                        "reason": decision.reason,
                        "read": [e.text for e in read],
                        "read_scores": [e.answer_score for e in read],
                        "read_titles": [e.title for e in read],
                        "facts": [list(f) for f in q.facts],
                    }
                )
        finally:
            engine.close()
            shutil.rmtree(temp, ignore_errors=True)
        print(f"{eval_set.name}: {len(rows)} questions so far", file=sys.stderr)
    Path(args.out).write_text(json.dumps(rows, indent=1), encoding="utf-8")


def _messages(
    prompt: str, question: str, sentences: Sequence[str], titles: Sequence[str] = ()
) -> tuple[list[Any], tuple[str, ...], bool]:
    """The prompt's messages, the words whose first-token log-probabilities make the verdict, and whether it is a
    "pick" prompt. ``titles`` (one per sentence): the evidence grouped under its articles' titles."""
    from rag.judge import evidence_lines
    from rag.prompts import load_template, parse_template, render_template

    path = Path(prompt)
    sections = parse_template(path.read_text(encoding="utf-8"), prompt) if path.is_file() else load_template(prompt)
    pick = "Yes or No" not in sections[-1][1]
    if pick:
        evidence = "\n".join(f"{i + 1}. {s}" for i, s in enumerate(sentences))
    else:
        evidence = evidence_lines(sentences, titles)
    messages = render_template(sections, prompt, evidence=evidence, question=question)
    words = (*(str(i + 1) for i in range(len(sentences))), "None") if pick else ("Yes", "No")
    return messages, words, pick


def cmd_score(args: argparse.Namespace) -> None:
    from rag.engine import JUDGE_FLOAT_LAYERS, build_local_lm
    from rag.judge import fixed_prefix
    from rag.settings import get_settings

    settings = get_settings()
    t0 = time.perf_counter()
    lm = build_local_lm(settings, settings.judge, float_layers=JUDGE_FLOAT_LAYERS)
    print(f"judge {settings.judge} loaded in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    if not args.no_prefix_reuse:  # as LmJudge does: the template's fixed start, computed once
        lm.keep_prefix(fixed_prefix(lm, lambda question, sentences: _messages(args.prompt, question, sentences)[0]))
    rows = [
        r
        for r in json.loads(Path(args.inputs).read_text(encoding="utf-8"))
        if (r["cheap_ok"] or args.cheap_refused) and args.split in ("all", _split(r))
    ]
    scores: dict[str, float] = {}
    seconds: list[float] = []
    for i, row in enumerate(rows):
        titles = row["read_titles"][: args.sentences] if args.titles else ()
        messages, words, pick = _messages(args.prompt, row["question"], row["read"][: args.sentences], titles)
        t0 = time.perf_counter()
        logprobs = lm.next_token_logprobs(messages, words)
        seconds.append(time.perf_counter() - t0)
        if pick:
            top = max(logprobs[w] for w in words[:-1])
            yes = top + math.log(sum(math.exp(logprobs[w] - top) for w in words[:-1]))
            scores[f"{row['set']}/{row['id']}"] = yes - logprobs["None"]
        else:
            scores[f"{row['set']}/{row['id']}"] = logprobs["Yes"] - logprobs["No"]
        if i % 25 == 0:
            print(f"{i}/{len(rows)} verdict p50 {statistics.median(seconds):.2f}s", file=sys.stderr)
    out = {
        "prompt": args.prompt,
        "sentences": args.sentences,
        "titles": args.titles,
        "prefix_reuse": not args.no_prefix_reuse,
        "judge": settings.judge,
        "seconds_p50": statistics.median(seconds) if seconds else None,
        "seconds": seconds,
        "scores": scores,
    }
    Path(args.out).write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(f"verdict p50 {out['seconds_p50']:.2f}s over {len(seconds)} questions", file=sys.stderr)


def _auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def _rates(rows: list[dict[str, Any]], scores: dict[str, float], threshold: float) -> tuple[float, float]:
    """(unanswerable refused, answerable kept), the cheap checks' refusals included."""
    refused = kept = unanswerable = answerable = 0
    for r in rows:
        key = f"{r['set']}/{r['id']}"
        out = not r["cheap_ok"] or (key in scores and scores[key] < threshold)
        if r["answerable"]:
            answerable += 1
            kept += not out
        else:
            unanswerable += 1
            refused += out
    return refused / max(unanswerable, 1), kept / max(answerable, 1)


def cmd_report(args: argparse.Namespace) -> None:
    rows = json.loads(Path(args.inputs).read_text(encoding="utf-8"))
    for path in args.scores:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        scores: dict[str, float] = data["scores"]
        print(
            f"\n{path}: prompt {data['prompt']}, {data['sentences']} sentences, prefix reuse {data['prefix_reuse']},"
            f" verdict p50 {data['seconds_p50']:.2f}s"
        )
        for split in ("tune", "test"):
            part = [r for r in rows if _split(r) == split]
            seen = [r for r in part if f"{r['set']}/{r['id']}" in scores]
            if not seen:
                continue
            auc = _auc(
                [scores[f"{r['set']}/{r['id']}"] for r in seen if r["answerable"]],
                [scores[f"{r['set']}/{r['id']}"] for r in seen if not r["answerable"]],
            )
            print(f"  {split}: {len(part)} questions, {len(seen)} judged, AUC {auc:.3f}")
            for threshold in (-0.5, -0.25, 0.0, 0.1, 0.25, 0.5, 1.0, 1.5):
                refused, kept = _rates(part, scores, threshold)
                balanced = (refused + kept) / 2
                print(f"    below {threshold:+.2f}: refused {refused:.3f} kept {kept:.3f} balanced {balanced:.3f}")
            if split == "tune":
                grid = [t / 20 for t in range(-40, 61)]
                best = max(grid, key=lambda t: sum(_rates(part, scores, t)))
                refused, kept = _rates(part, scores, best)
                print(f"    best balanced accuracy on tune: below {best:+.2f} (refused {refused:.3f} kept {kept:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inputs", help="what the judge reads, per question")
    p.add_argument("sets", nargs="+")
    p.add_argument("--out", required=True)
    p.set_defaults(run=cmd_inputs)
    p = sub.add_parser("score", help="the judge's verdicts under one prompt")
    p.add_argument("inputs")
    p.add_argument("--prompt", default="judge")
    from rag.settings import Settings

    shipped = Settings.model_fields
    p.add_argument("--sentences", type=int, default=shipped["judge_sentences"].default)
    p.add_argument(
        "--titles",
        action=argparse.BooleanOptionalAction,
        default=shipped["judge_titles"].default,
        help="the evidence under its articles' titles (default: as shipped, RAGQA_JUDGE_TITLES)",
    )
    p.add_argument("--split", choices=("tune", "test", "all"), default="tune")
    p.add_argument("--no-prefix-reuse", action="store_true")
    p.add_argument("--cheap-refused", action="store_true", help="also the questions the cheap checks refused")
    p.add_argument("--out", required=True)
    p.set_defaults(run=cmd_score)
    p = sub.add_parser("report", help="AUC, refused/kept per threshold, the best tune threshold")
    p.add_argument("inputs")
    p.add_argument("scores", nargs="+")
    p.set_defaults(run=cmd_report)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
