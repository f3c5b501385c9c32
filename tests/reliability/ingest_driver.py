"""A stand-in for ``ragqa ingest`` with the fast fake embedder, for the crash and concurrency tests.

    python -m tests.reliability.ingest_driver DATA_DIR PATH... [--delay-ms N] [--milvus-uri URI --milvus-prefix P]

Same code path as the CLI (``rag.ingest.ingest_paths`` over an ``Engine``), but the embedder is ``HashEmbedder(64)``
so a process starts in about a second. After each document's transaction has committed it prints
``committed<TAB>source<TAB>status`` and flushes, so a harness that kills it knows what was durable.
``--delay-ms`` sleeps inside embedding (before the write), to stretch an ingest for the concurrency tests; it also
embeds one document per call (``GROUP_TEXTS = 1``), so that the commits are spread over the run.
``--hold-ms`` (Milvus) sleeps between a document's rows and its commit record, as a slow link to a Milvus server
would, so that a kill lands inside a write often enough for the crash test to see it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import rag.ingest as ingest_module
from index import StoreTarget, open_store
from rag.engine import Engine
from rag.ingest import IngestResult, PreparedDocument
from rag.settings import Settings
from tests.fakes import HashEmbedder

DIMENSION = 64


class SlowHashEmbedder(HashEmbedder):
    def __init__(self, dimension: int, delay_s: float) -> None:
        super().__init__(dimension)
        self.delay_s = delay_s

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if self.delay_s:
            time.sleep(self.delay_s)
        return super().embed_documents(texts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--milvus-uri", help="use the Milvus store at this URI instead of DATA_DIR's FAISS store")
    parser.add_argument("--milvus-prefix", default="ragqa_")
    parser.add_argument("--hold-ms", type=float, default=0.0, help="Milvus: sleep after a document's rows are written")
    args = parser.parse_args(argv)

    settings = Settings(_env_file=None, data_dir=Path(args.data_dir))
    embedder = SlowHashEmbedder(DIMENSION, args.delay_ms / 1000.0)
    target = (
        StoreTarget("milvus", uri=args.milvus_uri, prefix=args.milvus_prefix)
        if args.milvus_uri
        else StoreTarget("faiss", data_dir=settings.data_dir)
    )
    store = open_store(
        target,
        embedder_id=embedder.model_id,
        embedder_checksum=embedder.checksum,
        dimension=embedder.dimension,
    )
    engine = Engine(settings=settings, store=store, embedder=embedder)
    if args.hold_ms and hasattr(store, "_write_rows"):
        write_rows = store._write_rows

        def held(*a: Any, **kw: Any) -> None:
            write_rows(*a, **kw)
            time.sleep(args.hold_ms / 1000.0)

        store._write_rows = held
    original = ingest_module.commit_document

    def reporting(engine: Engine, prepared: PreparedDocument | IngestResult) -> IngestResult:
        result = original(engine, prepared)  # returns after the document's transaction committed
        sys.stdout.write(f"committed\t{result.source}\t{result.status}\n")
        sys.stdout.flush()
        return result

    ingest_module.commit_document = reporting
    if args.delay_ms:
        ingest_module.GROUP_TEXTS = 1
    print("ready", flush=True)
    try:
        summary = ingest_module.ingest_paths(engine, [Path(p) for p in args.paths], progress=False)
    finally:
        engine.close()
    print(f"done\t{summary.line()}", flush=True)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
