"""A stand-in for ``ragqa ingest`` with the fast fake embedder, for the crash and concurrency tests.

    python -m tests.reliability.ingest_driver DATA_DIR PATH... [--delay-ms N]

Same code path as the CLI (``rag.ingest.ingest_paths`` over an ``Engine``), but the embedder is ``HashEmbedder(64)``
so a process starts in about a second. After each document's transaction has committed it prints
``committed<TAB>source<TAB>status`` and flushes, so a harness that kills it knows what was durable.
``--delay-ms`` sleeps inside embedding (before the write), to stretch an ingest for the concurrency tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import rag.ingest as ingest_module
from index import IndexStore
from rag.documents import LoadedDocument
from rag.engine import Engine
from rag.ingest import IngestResult
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
    args = parser.parse_args(argv)

    settings = Settings(_env_file=None, data_dir=Path(args.data_dir))  # type: ignore[call-arg]
    embedder = SlowHashEmbedder(DIMENSION, args.delay_ms / 1000.0)
    store = IndexStore.open(
        settings.data_dir,
        embedder_id=embedder.model_id,
        embedder_checksum=embedder.checksum,
        dimension=embedder.dimension,
    )
    engine = Engine(settings=settings, store=store, embedder=embedder)
    original = ingest_module.ingest_document

    def reporting(engine: Engine, doc: LoadedDocument, **kwargs: str) -> IngestResult:
        result = original(engine, doc, **kwargs)  # returns after the document's transaction committed
        sys.stdout.write(f"committed\t{result.source}\t{result.status}\n")
        sys.stdout.flush()
        return result

    ingest_module.ingest_document = reporting  # type: ignore[assignment]
    print("ready", flush=True)
    try:
        summary = ingest_module.ingest_paths(engine, [Path(p) for p in args.paths], progress=False)
    finally:
        engine.close()
    print(f"done\t{summary.line()}", flush=True)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
