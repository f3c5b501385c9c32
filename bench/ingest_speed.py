#!/usr/bin/env python3
"""Ingest throughput of this tree against an older commit, side by side on the same files in one run.

    .venv/bin/python bench/ingest_speed.py --baseline-ref 6369a96 --pages 100 --rounds 2
    .venv/bin/python bench/ingest_speed.py --baseline-ref 6369a96 --pages 100 --rounds 2 --dev-hits

The corpus is a bounded subset of the HTML of Debian's ``python3.11-doc`` (``/usr/share/doc/python3.11/html``,
installed with apt-get when missing and running as root): every n-th page of the library reference, ``--pages``
of them. The baseline's tree is exported with ``git archive`` into a temporary folder. Each round ingests the
pages once with each code (old, then new, alternating, each in its own process and a fresh data dir; the models
load before the clock starts), so both see the same machine load. ``--dev-hits`` also indexes ``eval/dev`` with
each code and prints hybrid + rerank retrieval hit@1/3/5 over its answerable questions (scored as
``bench/retrieval_modes.py`` does). This is a script that prints numbers, not a test with thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DOCS_DIR = Path("/usr/share/doc/python3.11/html")


def ensure_docs() -> None:
    if (DOCS_DIR / "library").is_dir():
        return
    if os.geteuid() != 0:
        raise SystemExit(f"{DOCS_DIR} is missing: run apt-get install python3.11-doc")
    subprocess.run(["apt-get", "install", "-y", "-q", "python3.11-doc"], check=True)


def pick_pages(n: int) -> list[Path]:
    pages = sorted(p for p in (DOCS_DIR / "library").glob("*.html") if p.name != "index.html")
    step = max(1, len(pages) // n)
    return pages[::step][:n]


def worker(code_root: str, corpus: str, data_dir: str, dev: bool) -> dict[str, Any]:
    """Runs in a child process whose ``sys.path`` starts with ``code_root``: ingest ``corpus`` and time it."""
    sys.path.insert(0, code_root)
    from rag.engine import Engine
    from rag.ingest import ingest_paths
    from rag.settings import get_settings

    settings = get_settings().model_copy(update={"data_dir": Path(data_dir), "progress": False})
    engine = Engine.load(settings, reranker=dev)
    started = time.perf_counter()
    summary = ingest_paths(engine, [Path(corpus)], progress=False)
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {"seconds": seconds, "chunks": summary.chunks, "documents": len(summary.results)}
    if dev:
        out["hits"] = dev_hits(engine)
    engine.close()
    return out


def dev_hits(engine: Any) -> list[float]:
    from rag.evaluation import load_questions, passage_hits
    from rag.retrieval import retrieve

    questions = [q for q in load_questions(REPO_ROOT / "eval" / "dev" / "questions.jsonl") if q.answerable]
    texts = {d.source: engine.store.document_text(d.source) for d in engine.store.list_documents()}
    first_hit: list[int | None] = []
    for q in questions:
        passages = retrieve(engine, q.question, 5, rerank=True).passages
        ranks = [
            i
            for i, p in enumerate(passages, start=1)
            if p.source == q.source and passage_hits(texts[p.source], p.start, p.end, q.evidence)
        ]
        first_hit.append(ranks[0] if ranks else None)
    return [sum(1 for r in first_hit if r is not None and r <= k) / len(questions) for k in (1, 3, 5)]


def run_worker(code_root: Path, corpus: Path, data_dir: Path, dev: bool) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(code_root), RAGQA_PROGRESS="false")
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / "ingest_speed.py"), "--worker", str(code_root), str(corpus), str(data_dir)]
        + (["--dev"] if dev else []),
        cwd=code_root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-ref", default="6369a96", help="the older commit (default 6369a96)")
    parser.add_argument("--pages", type=int, default=100, help="library pages to ingest (default 100)")
    parser.add_argument("--rounds", type=int, default=2, help="old/new pairs (default 2)")
    parser.add_argument("--dev-hits", action="store_true", help="also compare retrieval hit@k on eval/dev")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", nargs=3, metavar=("CODE", "CORPUS", "DATA"), help=argparse.SUPPRESS)
    parser.add_argument("--dev", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        code_root, corpus, data_dir = args.worker
        print(json.dumps(worker(code_root, corpus, data_dir, dev=args.dev)))
        return 0

    sys.path.insert(0, str(BENCH_DIR))
    from baseline import export_ref

    ensure_docs()
    with tempfile.TemporaryDirectory(prefix="ragqa-ingest-speed-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for page in pick_pages(args.pages):
            (corpus / page.name).write_bytes(page.read_bytes())
        codes = {"old": export_ref(args.baseline_ref, Path(tmp) / "old"), "new": REPO_ROOT}
        print(f"{args.pages} pages of {DOCS_DIR}/library, old = {args.baseline_ref}, new = this tree", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in codes}
        for round_no in range(args.rounds):
            for name, root in codes.items():
                result = run_worker(root, corpus, Path(tmp) / f"data-{name}-{round_no}", False)
                runs[name].append(result)
                rate = result["chunks"] / result["seconds"]
                print(
                    f"round {round_no + 1} {name}: {result['documents']} documents, {result['chunks']} chunks,"
                    f" {result['seconds']:.1f}s, {rate:.1f} chunks/s",
                    flush=True,
                )
        hits: dict[str, list[float]] = {}
        if args.dev_hits:
            for name, root in codes.items():
                hits[name] = run_worker(root, REPO_ROOT / "eval" / "dev" / "corpus", Path(tmp) / f"dev-{name}", True)[
                    "hits"
                ]

    print(f"\n{'code':<5} {'chunks':>7} {'median s':>9} {'chunks/s':>9}" + ("  hit@1 hit@3 hit@5" if hits else ""))
    summary: dict[str, Any] = {"pages": args.pages, "baseline_ref": args.baseline_ref, "runs": runs, "hits": hits}
    medians = {}
    for name, rs in runs.items():
        med = statistics.median(r["seconds"] for r in rs)
        medians[name] = med
        line = f"{name:<5} {rs[0]['chunks']:>7} {med:>9.1f} {rs[0]['chunks'] / med:>9.1f}"
        if hits:
            line += "  " + " ".join(f"{h:5.3f}" for h in hits[name])
        print(line)
    speedup = medians["old"] / medians["new"]
    per_round = [o["seconds"] / n["seconds"] for o, n in zip(runs["old"], runs["new"], strict=True)]
    print(f"speed-up new vs old: {speedup:.2f}× (median); per round: " + ", ".join(f"{x:.2f}×" for x in per_round))
    summary["speedup"] = speedup
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
