"""The ``ragqa`` command line. Errors print one line on stderr and exit non-zero."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from index import ChunkFilter, StorageError
from rag.errors import BadInputError, RagError
from rag.settings import Settings, get_settings

log = logging.getLogger("ragqa")

HEADLINE = "Why is Seoul reconsidering arms to Ukraine?"


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "models_dir", None):
        overrides["models_dir"] = Path(args.models_dir)
    base = get_settings()
    return base.model_copy(update=overrides) if overrides else base


def _progress() -> bool:
    return sys.stderr.isatty() or get_settings().progress


def _filter(args: argparse.Namespace) -> ChunkFilter | None:
    flt = ChunkFilter(
        source_glob=getattr(args, "source", None),
        date_from=getattr(args, "date_from", None),
        date_to=getattr(args, "date_to", None),
    )
    return None if flt.empty else flt


def _read_questions(path: str) -> list[str]:
    """Batch mode input: one JSON object per line with a ``question`` field (other fields ignored)."""
    from rag.evaluation import load_questions

    return [q.question for q in load_questions(Path(path))]


# ---------------------------------------------------------------- models


def cmd_models(args: argparse.Namespace) -> int:
    from rag.models.install import install, is_installed, verify_installed
    from rag.models.sources import OFFLINE_MODELS

    s = _settings(args)
    configured = [s.embedder, s.reranker, s.generator]
    if args.action == "list":
        for name, spec in OFFLINE_MODELS.items():
            state = "installed" if is_installed(s.models_dir, name) else "not installed"
            used = " (configured)" if name in configured else ""
            print(f"{name:32} {spec.role:9} {state}{used}\n    {spec.upstream}\n    from {spec.provenance}")
        return 0
    names = args.names or [n for n in configured if n in OFFLINE_MODELS]
    if args.with_test_model and "smollm2-135m-instruct" not in names:
        names.append("smollm2-135m-instruct")
    unknown = [n for n in names if n not in OFFLINE_MODELS]
    if unknown:
        raise BadInputError(f"not an offline model: {', '.join(unknown)} (see `ragqa models list`)")
    if args.action == "verify":
        problems = [p for n in names for p in verify_installed(s.models_dir, n)]
        for p in problems:
            print(p, file=sys.stderr)
        print("models ok" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    for name in names:
        already = is_installed(s.models_dir, name)
        path = install(name, s.models_dir, progress=_progress())
        print(f"{name}: {'already installed' if already else 'installed'} at {path}")
    return 0


# ---------------------------------------------------------------- ingest / delete / index


def cmd_ingest(args: argparse.Namespace) -> int:
    from rag.engine import Engine
    from rag.ingest import ingest_paths

    engine = Engine.load(_settings(args), reranker=False, progress=_progress())
    try:
        summary = ingest_paths(engine, [Path(p) for p in args.paths], progress=_progress())
    finally:
        engine.close()
    for failure in summary.failed:
        print(f"failed: {failure.source}: {failure.reason}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.failed else 0


def cmd_delete(args: argparse.Namespace) -> int:
    from rag.engine import Engine
    from rag.ingest import remove_document

    engine = Engine.load(_settings(args), reranker=False, create=False)
    try:
        for source in args.sources:
            remove_document(engine, source)
            print(f"deleted {source}")
    finally:
        engine.close()
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from rag.engine import Engine

    engine = Engine.load(_settings(args), reranker=False, create=False)
    try:
        store = engine.store
        if args.action == "stats":
            stats = store.stats()
            print(
                json.dumps(stats.__dict__, indent=2)
                if args.json
                else "\n".join(f"{k:14} {v}" for k, v in stats.__dict__.items())
            )
            return 0
        if args.action == "rebuild":
            with store.writer():
                store.rebuild()
            print(f"rebuilt: {store.stats().chunks} chunks")
            return 0
        if args.action == "copy":
            return _copy_index(engine, args)
        if args.repair:
            for action in store.repair():
                print(f"repaired: {action}")
        report = store.verify()
        for problem in report.problems:
            print(f"problem: {problem}", file=sys.stderr)
        print(f"verify {'ok' if report.ok else 'FAILED'}: {report.checked_chunks} chunks checked")
        return 0 if report.ok else 1
    finally:
        engine.close()


def _copy_index(engine: Any, args: argparse.Namespace) -> int:
    """``ragqa index copy --to URI``: the configured index into another store, with its stored embeddings."""
    from tqdm import tqdm

    from index import copy_index, open_store, target_from_uri
    from rag.engine import store_target

    if not args.to:
        raise BadInputError("index copy needs --to URI (a data dir, a Milvus Lite file *.db, or http://host:19530)")
    settings = engine.settings
    target = target_from_uri(
        args.to,
        token=settings.milvus_token.get_secret_value(),
        prefix=args.to_prefix or settings.milvus_collection_prefix,
    )
    if target.location == store_target(settings).location:
        raise BadInputError(f"--to {args.to}: that is the index being copied")
    embedder = engine.embedder
    destination = open_store(
        target, embedder_id=embedder.model_id, embedder_checksum=embedder.checksum, dimension=embedder.dimension
    )
    try:
        total = engine.store.stats().chunks
        with tqdm(total=total, unit="chunk", desc="copy", disable=not _progress()) as bar:
            summary = copy_index(engine.store, destination, on_document=bar.update)
        print(
            f"copied {summary.documents} documents ({summary.chunks} chunks) to {target.location}: "
            f"added {summary.added} · replaced {summary.replaced} · unchanged {summary.unchanged}"
        )
    finally:
        destination.close()
    return 0


# ---------------------------------------------------------------- search


def cmd_search(args: argparse.Namespace) -> int:
    from rag.engine import Engine
    from rag.retrieval import retrieve

    if not args.query and not args.queries:
        raise BadInputError("give a QUERY or --queries FILE")
    queries = _read_questions(args.queries) if args.queries else [args.query]
    engine = Engine.load(_settings(args), create=False, progress=_progress())
    try:
        flt = _filter(args)
        for query in queries:
            result = retrieve(engine, query, args.k, flt, rerank=not args.no_rerank)
            if args.json:
                print(
                    json.dumps(
                        {
                            "query": query,
                            "passages": [
                                {
                                    "source": p.source,
                                    "title": p.title,
                                    "text": p.text,
                                    "start": p.start,
                                    "end": p.end,
                                    "score": round(p.score, 6),
                                }
                                for p in result.passages
                            ],
                        },
                        ensure_ascii=False,
                    ),
                    flush=True,
                )
                continue
            print(f"\n{query}")
            for rank, p in enumerate(result.passages, start=1):
                print(f"  {rank}. [{p.score:.3f}] {p.source} [{p.start}:{p.end}] — {p.title}")
                print(f"     {p.text[:300]}{'…' if len(p.text) > 300 else ''}")
    finally:
        engine.close()
    return 0


# ---------------------------------------------------------------- ask / eval / serve


def cmd_ask(args: argparse.Namespace) -> int:
    import time

    from rag.answer import stream_answer
    from rag.answer_types import Answer, TokenEvent
    from rag.engine import Engine

    if not args.question and not args.questions:
        raise BadInputError("give a QUESTION or --questions FILE")
    questions = _read_questions(args.questions) if args.questions else [args.question]
    engine = Engine.load(_settings(args), create=False, generator=True, progress=_progress())
    try:
        flt = _filter(args)
        for question in questions:
            started = time.perf_counter()
            answer: Answer | None = None
            streamed = False
            for event in stream_answer(engine, question, filters=flt):
                if isinstance(event, TokenEvent) and not args.json:
                    print(event.text, end="", flush=True)
                    streamed = True
                elif isinstance(event, Answer):
                    answer = event
            assert answer is not None
            if args.json:
                print(json.dumps(_answer_json(answer, time.perf_counter() - started), ensure_ascii=False), flush=True)
                continue
            _print_answer(answer, streamed)
    finally:
        engine.close()
    return 0


def _answer_json(answer: Any, total_s: float) -> dict[str, Any]:
    return {
        "question": answer.question,
        "answer": answer.text,
        "refused": answer.refused,
        "citations": [
            {"source": c.source, "title": c.title, "text": c.text, "start": c.start, "end": c.end}
            for c in answer.citations
        ],
        "ttft_s": round(answer.timings.get("ttft_s", total_s), 3),
        "total_s": round(total_s, 3),
    }


def _print_answer(answer: Any, streamed: bool) -> None:
    if answer.refused:
        print(f"{answer.text} ({answer.refusal_reason})")
        return
    numbers = {(c.source, c.start, c.end): n for n, c in enumerate(answer.citations, start=1)}
    if streamed:
        print()
    marked = " ".join(
        s.text + " " + "".join(f"[{numbers[(c.source, c.start, c.end)]}]" for c in s.citations)
        for s in answer.sentences
    )
    print(f"\n{marked}\n")
    for c, n in zip(answer.citations, numbers.values(), strict=True):
        print(f"[{n}] {c.title} — {c.source} [{c.start}:{c.end}]\n    “{c.text}”")
    t = answer.timings
    print(f"\n(first sentence {t.get('ttft_s', 0):.2f}s · total {t.get('total_s', 0):.2f}s)")


def cmd_eval(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from rag.engine import Engine
    from rag.evaluation import load_questions, run_evaluation
    from rag.ingest import ingest_paths

    corpus, questions_path = Path(args.corpus), Path(args.questions)
    if not corpus.is_dir():
        raise BadInputError(f"--corpus {corpus}: not a directory")
    questions = load_questions(questions_path)
    temp = None if args.data_dir else tempfile.mkdtemp(prefix="ragqa-eval-")
    settings = _settings(args)
    if temp:
        settings = settings.model_copy(update={"data_dir": Path(temp)})
    try:
        engine = Engine.load(settings, generator=True, progress=_progress())
        try:
            summary_ingest = ingest_paths(engine, [corpus], progress=_progress())
            if summary_ingest.failed:
                for failure in summary_ingest.failed:
                    print(f"failed: {failure.source}: {failure.reason}", file=sys.stderr)
            summary, rows = run_evaluation(engine, questions, k=args.k, progress=_progress())
        finally:
            engine.close()
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:{width}}  {value}")
    report = {**summary, "k": args.k, "questions": [r.__dict__ for r in rows]}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {args.json}")
    if args.html:
        from rag.eval_report import render_html

        Path(args.html).write_text(render_html(report), encoding="utf-8")
        print(f"wrote {args.html}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    settings = settings.model_copy(update=overrides)
    get_settings.cache_clear()
    os.environ["RAGQA_DATA_DIR"] = str(settings.data_dir)
    os.environ["RAGQA_MODELS_DIR"] = str(settings.models_dir)
    # The HTTP edge is loaded by import string so that ``rag`` never imports ``api``.
    uvicorn.run("api.app:app_from_env", factory=True, host=settings.host, port=settings.port, log_level="info")
    return 0


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="index directory (default: RAGQA_DATA_DIR or ./data)")
    common.add_argument("--models-dir", help="model cache (default: RAGQA_MODELS_DIR or ~/.cache/ragqa/models)")
    common.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")

    parser = argparse.ArgumentParser(prog="ragqa", description="Grounded question answering over your articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", parents=[common], help="install, list or verify the offline models")
    p.add_argument("action", choices=["install", "list", "verify"])
    p.add_argument("names", nargs="*", help="offline model names (default: the configured ones)")
    p.add_argument("--with-test-model", action="store_true", help="also the small generator used by tests")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("ingest", parents=[common], help="add or update documents (files or folders)")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("delete", parents=[common], help="remove documents by source")
    p.add_argument("sources", nargs="+")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser(
        "index",
        parents=[common],
        help="index maintenance",
        epilog="example: ragqa index copy --to http://127.0.0.1:19530  (faiss → milvus, no re-embedding)",
    )
    p.add_argument("action", choices=["stats", "verify", "rebuild", "copy"])
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--repair", action="store_true", help="verify: first clean up interrupted writes (and rebuild if needed)"
    )
    p.add_argument(
        "--to",
        metavar="URI",
        help="copy: target index: a data dir (faiss), a Milvus Lite file *.db, or http://host:port",
    )
    p.add_argument(
        "--to-prefix", help="copy: Milvus collection prefix of the target (default RAGQA_MILVUS_COLLECTION_PREFIX)"
    )
    p.set_defaults(func=cmd_index)

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--source", help="only sources matching this glob (e.g. 'news/*.txt')")
    filters.add_argument("--date-from", help="only documents dated on or after (yyyy-mm-dd)")
    filters.add_argument("--date-to", help="only documents dated on or before (yyyy-mm-dd)")

    p = sub.add_parser("search", parents=[common, filters], help="retrieve passages")
    p.add_argument("query", nargs="?")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--queries", help="JSONL file, one object with a 'question' field per line")
    p.add_argument("--json", action="store_true", help="one JSON line per query")
    p.add_argument("--no-rerank", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", parents=[common, filters], help="answer a question from the articles")
    p.add_argument("question", nargs="?")
    p.add_argument("--questions", help="JSONL file, one object with a 'question' field per line")
    p.add_argument("--json", action="store_true", help="one JSON line per question")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", parents=[common], help="index a corpus and score labelled questions")
    p.add_argument("--corpus", required=True, help="folder of articles")
    p.add_argument("--questions", required=True, help="questions.jsonl in the evaluation format")
    p.add_argument("--k", type=int, default=5, help="k for retrieval hit@k (reported: 1, 3, 5)")
    p.add_argument("--json", metavar="OUT", help="write summary + per-question rows as JSON")
    p.add_argument("--html", nargs="?", const="eval-report.html", metavar="OUT", help="write an HTML report")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", parents=[common], help="serve the HTTP API and the chat widget")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except (RagError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
