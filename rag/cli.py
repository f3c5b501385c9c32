"""The ``ragqa`` command line. Errors print one line on stderr and exit non-zero."""

from __future__ import annotations

import argparse
import json
import logging
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


def _collection(args: argparse.Namespace) -> str:
    from rag.collections import collection_name

    return collection_name(getattr(args, "collection", None))


def _filters(args: argparse.Namespace) -> ChunkFilter | None:
    """The retrieval filter of ``search``/``ask``; always scoped to the collection (``default`` unless named)."""
    from rag.filters import parse_where

    return ChunkFilter(
        source_glob=getattr(args, "source", None),
        date_from=getattr(args, "date_from", None),
        date_to=getattr(args, "date_to", None),
        meta=parse_where(getattr(args, "where", None) or []),
        collection=_collection(args),
    )


def _read_questions(path: str) -> list[str]:
    """Batch mode input: one JSON object per line with a ``question`` field (other fields ignored)."""
    from rag.evaluation import load_questions

    return [q.question for q in load_questions(Path(path))]


# ---------------------------------------------------------------- models


def cmd_models(args: argparse.Namespace) -> int:
    """``ragqa models install|list|verify``: the offline models, by name or the configured ones."""
    from rag.models.install import install, is_installed, verify_installed
    from rag.models.sources import OFFLINE_MODELS

    settings = _settings(args)
    configured = [settings.embedder, settings.reranker, settings.generator, settings.judge]
    if args.action == "list":
        for name, spec in OFFLINE_MODELS.items():
            state = "installed" if is_installed(settings.models_dir, name) else "not installed"
            used = " (configured)" if name in configured else ""
            print(f"{name:32} {spec.role:9} {state}{used}\n    {spec.upstream}\n    from {spec.provenance}")
        return 0
    names = list(args.names) or [n for n in configured if n in OFFLINE_MODELS]
    if args.with_test_model and "smollm2-135m-instruct" not in names:
        names.append("smollm2-135m-instruct")
    unknown = [n for n in names if n not in OFFLINE_MODELS]
    if unknown:
        raise BadInputError(f"not an offline model: {', '.join(unknown)} (see `ragqa models list`)")
    if args.action == "verify":
        problems = [p for n in names for p in verify_installed(settings.models_dir, n)]
        for p in problems:
            print(p, file=sys.stderr)
        print("models ok" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    for name in names:
        already = is_installed(settings.models_dir, name)
        path = install(name, settings.models_dir, progress=_progress())
        print(f"{name}: {'already installed' if already else 'installed'} at {path}")
    return 0


# ---------------------------------------------------------------- ingest / delete / index


def cmd_ingest(args: argparse.Namespace) -> int:
    """``ragqa ingest PATH...``: add or update documents; exit 1 if any file failed."""
    from rag.engine import Engine
    from rag.filters import parse_meta
    from rag.ingest import ingest_paths

    meta = parse_meta(args.meta or [])
    collection = _collection(args)
    engine = Engine.load(_settings(args), reranker=False, progress=_progress())
    try:
        summary = ingest_paths(
            engine, [Path(p) for p in args.paths], progress=_progress(), meta=meta, collection=collection
        )
    finally:
        engine.close()
    for failure in summary.failed:
        print(f"failed: {failure.source}: {failure.reason}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.failed else 0


def cmd_delete(args: argparse.Namespace) -> int:
    """``ragqa delete SOURCE...``: remove documents of the collection."""
    from rag.engine import Engine
    from rag.ingest import remove_document

    collection = _collection(args)
    engine = Engine.load(_settings(args), reranker=False, create=False)
    try:
        for source in args.sources:
            remove_document(engine, source, collection)
            print(f"deleted {source}" + ("" if collection == "default" else f" from collection {collection}"))
    finally:
        engine.close()
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    """``ragqa index stats|verify|rebuild|copy``: look at or maintain the index."""
    from rag.engine import Engine

    engine = Engine.load(_settings(args), reranker=False, create=False)
    try:
        store = engine.store
        if args.action == "stats":
            stats = {**store.stats().__dict__, "collections": store.collections()}
            if getattr(args, "collection", None):
                stats["collections"] = {k: v for k, v in stats["collections"].items() if k == args.collection}
            print(json.dumps(stats, indent=2) if args.json else "\n".join(f"{k:14} {v}" for k, v in stats.items()))
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
    """``ragqa search``: the best passages per query, as text or JSON lines."""
    from rag.engine import Engine
    from rag.retrieval import retrieve

    if not args.query and not args.queries:
        raise BadInputError("give a QUERY or --queries FILE")
    queries = _read_questions(args.queries) if args.queries else [args.query]
    engine = Engine.load(_settings(args), create=False, progress=_progress())
    try:
        filters = _filters(args)
        for query in queries:
            result = retrieve(engine, query, args.k, filters, rerank=not args.no_rerank)
            if args.json:
                passages = [{**p.to_dict(), "score": round(p.score, 6)} for p in result.passages]
                print(json.dumps({"query": query, "passages": passages}, ensure_ascii=False), flush=True)
                continue
            print(f"\n{query}")
            for rank, p in enumerate(result.passages, start=1):
                page = f", p. {p.page}" if p.page is not None else ""
                print(f"  {rank}. [{p.score:.3f}] {p.source}{page} [{p.start}:{p.end}] — {p.title}")
                print(f"     {p.text[:300]}{'…' if len(p.text) > 300 else ''}")
    finally:
        engine.close()
    return 0


# ---------------------------------------------------------------- ask / eval / serve


def cmd_ask(args: argparse.Namespace) -> int:
    """``ragqa ask``: stream an answer per question (text), or one JSON line per question."""
    import time

    from rag.answer_types import Answer, TokenEvent
    from rag.collections import scoped_engine
    from rag.engine import Engine
    from rag.pages import stream_with_pages
    from rag.snapshot import stream_from_snapshot

    if not args.question and not args.questions:
        raise BadInputError("give a QUESTION or --questions FILE")
    questions = _read_questions(args.questions) if args.questions else [args.question]
    engine = Engine.load(_settings(args), create=False, progress=_progress())
    # The first (quoted) sentence needs retrieval, reranking and the judge: it is shown before the generator loads.
    engine.load_judge_in_background(progress=_progress())
    try:
        filters = _filters(args)
        scoped = scoped_engine(engine, _collection(args))
        for question in questions:
            started = time.perf_counter()
            answer: Answer | None = None
            streamed = False
            for event in stream_with_pages(scoped.store, stream_from_snapshot(scoped, question, filters=filters)):
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


RELATED_FIELDS = ("source", "title", "text", "start", "end")
"""``ask --json``: a related passage of a refusal is cited without its page."""


def _answer_json(answer: Any, total_s: float) -> dict[str, Any]:
    """One ``ragqa ask --json`` line."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "refused": answer.refused,
        "citations": [c.to_dict() for c in answer.citations],
        "ttft_s": round(answer.timings.get("ttft_s", total_s), 3),
        "total_s": round(total_s, 3),
        "related": [c.to_dict(RELATED_FIELDS) for c in answer.related],
    }


def _print_answer(answer: Any, streamed: bool) -> None:
    if answer.refused:
        print(f"{answer.text} ({answer.refusal_reason})")
        if answer.related:
            print("\nRelated, not an answer:")
            for c in answer.related:
                print(f"- {c.title} — {c.source} [{c.start}:{c.end}]\n    “{c.text}”")
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
        page = f", p. {c.page}" if c.page is not None else ""
        print(f"[{n}] {c.title} — {c.source}{page} [{c.start}:{c.end}]\n    “{c.text}”")
    t = answer.timings
    print(f"\n(first sentence {t.get('ttft_s', 0):.2f}s · total {t.get('total_s', 0):.2f}s)")


def _eval_sets(args: argparse.Namespace) -> list[Any]:
    from rag.evaluation import EvalSet, find_set

    sets = [find_set(Path(folder)) for folder in args.sets]
    if args.corpus or args.questions:
        if not (args.corpus and args.questions):
            raise BadInputError("--corpus and --questions go together")
        corpus = Path(args.corpus)
        if not corpus.is_dir():
            raise BadInputError(f"--corpus {corpus}: not a directory")
        sets.append(EvalSet(corpus.parent.name or corpus.name, corpus, Path(args.questions)))
    if not sets:
        raise BadInputError("name an evaluation set folder (e.g. eval/dev) or --corpus and --questions")
    if args.data_dir and len(sets) > 1:
        raise BadInputError("--data-dir holds one corpus; evaluate several sets without it")
    return sets


def _evaluate_set(args: argparse.Namespace, eval_set: Any) -> tuple[dict[str, object], list[Any]]:
    """Index one set's corpus (a temporary data dir unless --data-dir) and answer its questions."""
    import shutil
    import tempfile

    from rag.engine import Engine
    from rag.evaluation import load_questions, run_evaluation
    from rag.ingest import ingest_paths

    questions = load_questions(eval_set.questions_path)
    if args.split != "all":
        questions = [q for q in questions if q.split == args.split]
    temp = None if args.data_dir else tempfile.mkdtemp(prefix="ragqa-eval-")
    settings = _settings(args)
    if temp:
        settings = settings.model_copy(update={"data_dir": Path(temp)})
    try:
        engine = Engine.load(settings, generator=True, progress=_progress())
        try:
            collection = _collection(args)
            summary_ingest = ingest_paths(engine, [eval_set.corpus], progress=_progress(), collection=collection)
            for failure in summary_ingest.failed:
                print(f"failed: {failure.source}: {failure.reason}", file=sys.stderr)
            return run_evaluation(
                engine, questions, k=args.k, progress=_progress(), set_name=eval_set.name, collection=collection
            )
        finally:
            engine.close()
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)


_EVAL_COLUMNS = (
    ("n", "n"),
    ("hit@5", "hit@5"),
    ("correct", "correct"),
    ("refusal_unanswerable", "refused(unans)"),
    ("refusal_answerable_kept", "kept(ans)"),
    ("citation_precision", "cite prec"),
    ("unsupported_sentences", "unsupported"),
    ("generated_sentences_shown", "model sents"),
    ("ttft_p50_s", "ttft p50"),
    ("latency_p50_s", "p50 s"),
)


def cmd_eval(args: argparse.Namespace) -> int:
    """``ragqa eval``: index each set, answer its questions, print the table and write the reports."""
    from rag.evaluation import summaries_by_kind, summaries_by_split, summarize

    sets = _eval_sets(args)
    all_rows: list[Any] = []
    table: list[tuple[str, str, dict[str, object]]] = []
    per_set: list[dict[str, object]] = []
    for eval_set in sets:
        _, rows = _evaluate_set(args, eval_set)
        all_rows.extend(rows)
        for split, summary in summaries_by_split(rows).items():
            table.append((eval_set.name, split, summary))
            per_set.append({"set": eval_set.name, "split": split, **summary})
    summary = summarize(all_rows)
    to_stdout = args.json == _JSON_STDOUT
    out = sys.stderr if to_stdout else sys.stdout  # with --json, stdout holds only the JSON report
    if len(table) == 1:
        width = max(len(k) for k in summary)
        for key, value in summary.items():
            print(f"{key:{width}}  {value}", file=out)
    else:
        header = ["set", "split"] + [title for _, title in _EVAL_COLUMNS]
        lines = [header] + [
            [name, split] + [str(s.get(key, "")) for key, _ in _EVAL_COLUMNS] for name, split, s in table
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        for line in lines:
            print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)), file=out)
    report = {
        **summary,
        "k": args.k,
        "sets": per_set,
        "kinds": summaries_by_kind(all_rows),
        "questions": [r.__dict__ for r in all_rows],
    }
    report_path = args.report
    if args.json not in (None, _JSON_STDOUT):
        print(
            "warning: `eval --json OUT` is deprecated; use `--report OUT` (`--json` alone prints JSON)", file=sys.stderr
        )
        report_path = report_path or args.json
    if report_path:
        Path(report_path).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"wrote {report_path}", file=out)
    if to_stdout:
        print(json.dumps(report, ensure_ascii=False))
    if args.html:
        from rag.eval_report import render_html

        Path(args.html).write_text(render_html(report), encoding="utf-8")
        print(f"wrote {args.html}", file=out)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``ragqa serve``: the HTTP API and widget over an app built here from one ``Settings`` (flags over
    ``RAGQA_*``), handed to uvicorn as an object: nothing goes through the environment."""
    from importlib import import_module

    import uvicorn

    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    if args.collection:
        overrides["demo_collection"] = _collection(args)
    settings = _settings(args).model_copy(update=overrides)
    # The HTTP edge is imported by name so that `rag` has no import of `api`: the CLI is the one place above both.
    app = import_module("api.app").create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=SERVE_LOG_CONFIG,
        access_log=False,  # the app writes one redacted access line per request (api.access)
        proxy_headers=False,  # forwarded headers: only from RAGQA_TRUSTED_PROXIES, in the app
        timeout_graceful_shutdown=SERVE_GRACEFUL_SHUTDOWN_S,
    )
    return 0


# ---------------------------------------------------------------- sync


def _print_sync(summary: Any) -> None:
    for r in summary.changed:
        if r.status == "failed":
            print(f"failed: {r.source}: {r.reason}", file=sys.stderr)
        else:
            print(f"{r.status}: {r.source}" + (f" ({r.reason})" if r.reason else ""))
    print(summary.line(), flush=True)


def cmd_sync(args: argparse.Namespace) -> int:
    """``ragqa sync FOLDER``: make the collection mirror the folder, once or ``--watch``."""
    from rag.engine import Engine
    from rag.filters import parse_meta
    from rag.sync import sync_folder, watch_folder

    folder = Path(args.folder)
    if not folder.is_dir():
        raise BadInputError(f"{folder}: not a directory")
    meta = parse_meta(args.meta or [])
    settings = _settings(args)
    collection = _collection(args)
    engine = Engine.load(settings, reranker=False, progress=_progress())
    try:
        if not args.watch:
            summary = sync_folder(engine, folder, collection=collection, meta=meta, progress=_progress())
            _print_sync(summary)
            return 1 if summary.failed else 0
        print(f"watching {folder} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        for summary in watch_folder(
            engine,
            folder,
            collection=collection,
            meta=meta,
            debounce_ms=settings.sync_debounce_ms,
            settle_s=settings.sync_settle_s,
        ):
            _print_sync(summary)
    finally:
        engine.close()
    return 0


# ---------------------------------------------------------------- feedback


def cmd_feedback(args: argparse.Namespace) -> int:
    """``ragqa feedback export``: the thumbs-down answers as evaluation questions."""
    from index.feedback import FEEDBACK_FILE, FeedbackStore
    from rag.feedback import export_down

    settings = _settings(args)
    if not (settings.data_dir / FEEDBACK_FILE).exists():
        raise BadInputError(f"no feedback at {settings.data_dir} (answers get feedback through `ragqa serve`)")
    store = FeedbackStore.open(settings.data_dir, keep_answers=settings.feedback_keep_answers)
    try:
        chosen = getattr(args, "collection", None)
        questions = export_down(store, _collection(args) if chosen else None)
    finally:
        store.close()
    lines = [json.dumps(q, ensure_ascii=False) for q in questions]
    if args.out:
        Path(args.out).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"wrote {len(lines)} question(s) to {args.out}", file=sys.stderr)
    elif args.json:
        for line in lines:
            print(line)
    else:
        for q in questions:
            fb = q["feedback"]
            comment = f" — {fb['comment']}" if fb["comment"] else ""
            print(f"{q['id']}: {q['question']}{comment}")
        print(f"{len(questions)} thumbs-down answer(s); --json writes them in the evaluation question format")
    return 0


SERVE_GRACEFUL_SHUTDOWN_S = 10
"""Ctrl-C / SIGTERM: requests still running after this long are cancelled (uploads stop, nothing is written)."""
SERVE_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"kv": {"format": "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "kv", "stream": "ext://sys.stderr"}},
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {name: {"level": "INFO"} for name in ("uvicorn", "api", "rag", "index")},
}
"""``ragqa serve`` logs key=value lines on stderr: the app's access line and INFO of ragqa and uvicorn."""


# ---------------------------------------------------------------- parser


_JSON_STDOUT = "-"  # `eval --json` with no path: the report as JSON on stdout


def _add_global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """Add the options every command takes; `default` is None/False on the top parser and SUPPRESS on the
    subcommands, so an option given before the subcommand is not reset by the subcommand's default."""
    parser.add_argument("--data-dir", default=default, help="index directory (default: RAGQA_DATA_DIR or ./data)")
    parser.add_argument(
        "--models-dir", default=default, help="model cache (default: RAGQA_MODELS_DIR or ~/.cache/ragqa/models)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", default=default or False, help="log at INFO level")


_Option = tuple[tuple[str, ...], dict[str, Any]]

_INDEX_ACTIONS: tuple[tuple[str, str, str, tuple[_Option, ...]], ...] = (
    (
        "stats",
        "documents, chunks, vectors, embedder, sizes",
        "ragqa index stats --json --collection risk",
        ((("--json",), {"action": "store_true", "help": "one JSON object on stdout"}),),
    ),
    (
        "verify",
        "check that catalog, FTS5, vectors and manifest agree (exit 1 if not)",
        "ragqa index verify --repair",
        (
            (
                ("--repair",),
                {"action": "store_true", "help": "first clean up interrupted writes (and rebuild if needed)"},
            ),
        ),
    ),
    ("rebuild", "rebuild FTS5 and the vector index from the catalog", "ragqa index rebuild", ()),
    (
        "copy",
        "copy the index into another store with its stored embeddings (no re-embedding)",
        "ragqa index copy --to http://127.0.0.1:19530",
        (
            (
                ("--to",),
                {"metavar": "URI", "help": "target: a data dir (faiss), a Milvus Lite file *.db, or http://host:port"},
            ),
            (
                ("--to-prefix",),
                {"help": "Milvus collection prefix of the target (default RAGQA_MILVUS_COLLECTION_PREFIX)"},
            ),
        ),
    ),
)
"""``ragqa index ACTION``: (action, help, example, options as (flags, add_argument keywords))."""


def _add_command(
    group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, *, example: str, **kwargs: Any
) -> argparse.ArgumentParser:
    """Add command ``name`` to ``group``, with ``example`` as its help's epilog (every command has one)."""
    return group.add_parser(name, epilog=f"example: {example}", **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """Build the `ragqa` argument parser: one subcommand per task, subcommand groups for `models` and `index`."""
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, argparse.SUPPRESS)

    scope = argparse.ArgumentParser(add_help=False)
    scope.add_argument(
        "--collection",
        metavar="NAME",
        help="the collection to read or write (default: default); letters, digits, '_', '.', '-'",
    )

    parser = argparse.ArgumentParser(
        prog="ragqa",
        description="Grounded question answering over your articles.",
        epilog="example: ragqa -v ask 'when does the cider press open?'",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_global_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True)

    p = _add_command(
        sub,
        "models",
        example="ragqa models install --with-test-model",
        help="install, list or verify the offline models",
    )
    models = p.add_subparsers(dest="action", required=True, metavar="{install,list,verify}")
    for action, what, example in (
        ("install", "download and check the offline models", "ragqa models install --with-test-model"),
        ("verify", "check the installed models' files against their checksums", "ragqa models verify"),
    ):
        a = _add_command(models, action, example=example, parents=[common], help=what)
        a.add_argument("names", nargs="*", help="offline model names (default: the configured ones)")
        a.add_argument("--with-test-model", action="store_true", help="also the small generator used by tests")
        a.set_defaults(func=cmd_models)
    a = _add_command(
        models,
        "list",
        example="ragqa models list",
        parents=[common],
        help="every offline model with its provenance and install state",
    )
    a.set_defaults(func=cmd_models)

    p = _add_command(
        sub,
        "ingest",
        example="ragqa ingest ~/articles report.pdf --meta team=risk",
        parents=[common, scope],
        help="add or update documents (files or folders)",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a file, or a folder searched recursively (repeatable)")
    p.add_argument(
        "--meta",
        action="append",
        metavar="KEY=VALUE",
        help="metadata for every ingested document (repeatable), e.g. --meta team=risk",
    )
    p.set_defaults(func=cmd_ingest)

    p = _add_command(
        sub,
        "delete",
        example="ragqa delete news/seoul.txt --collection risk",
        parents=[common, scope],
        help="remove documents by source",
    )
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="a document's source as ingested (repeatable)")
    p.set_defaults(func=cmd_delete)

    p = _add_command(
        sub,
        "index",
        example="ragqa index copy --to http://127.0.0.1:19530  (faiss → milvus, no re-embedding)",
        help="index maintenance",
    )
    index = p.add_subparsers(dest="action", required=True, metavar="{stats,verify,rebuild,copy}")
    for action, what, example, options in _INDEX_ACTIONS:
        a = _add_command(index, action, example=example, parents=[common, scope], help=what)
        for flags, kwargs in options:
            a.add_argument(*flags, **kwargs)
        a.set_defaults(func=cmd_index, json=False, repair=False)  # each action reads both; only some set them

    filter_options = argparse.ArgumentParser(add_help=False)
    filter_options.add_argument("--source", help="only sources matching this glob (e.g. 'news/*.txt')")
    filter_options.add_argument("--date-from", help="only documents dated on or after (yyyy-mm-dd)")
    filter_options.add_argument("--date-to", help="only documents dated on or before (yyyy-mm-dd)")
    filter_options.add_argument(
        "--where",
        action="append",
        metavar="KEY=VALUE",
        help="only documents whose metadata KEY is VALUE; repeat a key for any of several values (in), "
        "different keys must all match, e.g. --where team=risk --where year=2024",
    )

    p = _add_command(
        sub,
        "search",
        example="ragqa search 'cider press' -k 3 --where team=risk --json",
        parents=[common, scope, filter_options],
        help="retrieve passages",
    )
    p.add_argument("query", nargs="?", help="what to search for (or --queries FILE)")
    p.add_argument("-k", type=int, default=5, help="passages to return per query (default 5)")
    p.add_argument("--queries", help="JSONL file, one object with a 'question' field per line")
    p.add_argument("--json", action="store_true", help="one JSON line per query")
    p.add_argument("--no-rerank", action="store_true", help="keep the fused (BM25 + vector) order, no cross-encoder")
    p.set_defaults(func=cmd_search)

    p = _add_command(
        sub,
        "ask",
        example=f"ragqa ask '{HEADLINE}' --json",
        parents=[common, scope, filter_options],
        help="answer a question from the articles",
    )
    p.add_argument("question", nargs="?", help="the question (or --questions FILE)")
    p.add_argument("--questions", help="JSONL file, one object with a 'question' field per line")
    p.add_argument("--json", action="store_true", help="one JSON line per question")
    p.set_defaults(func=cmd_ask)

    p = _add_command(
        sub,
        "eval",
        example="ragqa eval eval/dev eval/sets/science eval/sets/culture --split test",
        parents=[common, scope],
        help="index corpora and score labelled questions",
        description="Score one or more evaluation sets, each indexed on its own, and report each (and each split).",
    )
    p.add_argument("sets", nargs="*", metavar="SET", help="a folder with corpus/ and questions.jsonl (repeatable)")
    p.add_argument("--corpus", help="folder of articles (with --questions: one more set)")
    p.add_argument("--questions", help="questions.jsonl in the evaluation format")
    p.add_argument(
        "--split",
        choices=("all", "tune", "test"),
        default="all",
        help="only the questions of this split (their 'split' field); default all, reported per split",
    )
    p.add_argument("-k", "--k", type=int, default=5, help="k for retrieval hit@k (reported: 1, 3, 5)")
    p.add_argument("--report", metavar="FILE", help="write summary + per-question rows as JSON to FILE")
    p.add_argument(
        "--json",
        nargs="?",
        const=_JSON_STDOUT,
        metavar="OUT",
        help="print the report as JSON on stdout (`--json OUT` still writes OUT: deprecated, use --report)",
    )
    p.add_argument("--html", nargs="?", const="eval-report.html", metavar="OUT", help="write an HTML report")
    p.set_defaults(func=cmd_eval)

    p = _add_command(
        sub,
        "sync",
        example="ragqa sync ~/notes --watch --collection notes",
        parents=[common, scope],
        help="make the index mirror a folder (adds, replaces, removes), once or --watch",
        description="Removes only documents an earlier sync of the same folder added; each change is reported with "
        "its reason.",
    )
    p.add_argument("folder", help="the folder the index should mirror (searched recursively)")
    p.add_argument("--watch", action="store_true", help="keep syncing as files change (debounced) until Ctrl-C")
    p.add_argument("--meta", action="append", metavar="KEY=VALUE", help="metadata for every synced document")
    p.set_defaults(func=cmd_sync)

    p = _add_command(
        sub,
        "feedback",
        example="ragqa feedback export --json > to-label.jsonl",
        parents=[common, scope],
        help="export thumbs-down answers as evaluation questions",
        description="The thumbs-down answers of `ragqa serve`, as evaluation questions to label.",
    )
    p.add_argument("action", choices=["export"], help="export: list the thumbs-down answers (or write them)")
    p.add_argument("--json", action="store_true", help="one evaluation question (JSON) per line on stdout")
    p.add_argument("-o", "--out", metavar="FILE", help="write the JSON lines to FILE instead")
    p.set_defaults(func=cmd_feedback)

    p = _add_command(
        sub,
        "serve",
        example="ragqa serve --host 0.0.0.0 --port 8080 --collection docs",
        parents=[common, scope],
        help="serve the HTTP API and the chat widget",
        description="--collection: the collection the demo page at / lists and its widget answers from "
        "(API requests name their own).",
    )
    p.add_argument("--host", help="address to listen on (default RAGQA_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default RAGQA_PORT or 8000)")
    p.set_defaults(func=cmd_serve)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ragqa")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `ragqa` command line with `argv` (default: sys.argv) and return the exit status."""
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
