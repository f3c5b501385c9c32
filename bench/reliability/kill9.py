"""kill -9 during ingest, N trials: prints one line per trial and the pass count; exit 1 if any trial failed.

    .venv/bin/python bench/reliability/kill9.py                 # 50 trials, fake-embedder driver (~2 s each)
    .venv/bin/python bench/reliability/kill9.py --cli --trials 5   # the real `ragqa ingest -v` (ONNX embedder)

Driver mode: ``tests/reliability/ingest_driver.py`` (same ``rag.ingest.ingest_paths`` as the CLI, hash embedder),
half the trials over an index that already holds an older version of half the corpus (so kills also land in
replacements). CLI mode: the real command, commits read from its ``-v`` log lines (``added <source> …``).
Each trial checks: the index opens, ``verify()`` passes, FAISS agrees with the catalog, every reported document
is present, and every present document has all its chunks, FTS rows and vectors; driver mode then resumes the
ingest and checks again.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from rag.settings import Settings  # noqa: E402
from tests.reliability.crash import expected_versions, make_corpus, run_trial  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cli", action="store_true", help="kill the real `ragqa ingest` (loads the ONNX embedder)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="ragqa-kill9-"))
    try:
        old = make_corpus(root / "old", range(args.docs // 2), 1)
        new = make_corpus(root / "new", range(args.docs), 2)
        expected = expected_versions([old, new], Settings(_env_file=None))  # type: ignore[call-arg]
        rng = random.Random(args.seed)
        mode = "cli" if args.cli else "driver"
        passed = stale = 0
        started = time.perf_counter()
        for trial in range(args.trials):
            prefill = old if (mode == "driver" and trial % 2) else None
            result = run_trial(root / f"t{trial}", rng, old=prefill, new=new, expected=expected, mode=mode)
            passed += result.ok
            stale += result.stale_faiss
            print(f"trial {trial:3d} {result.line()}", flush=True)
            for problem in result.problems[:10]:
                print(f"    {problem}", flush=True)
            shutil.rmtree(root / f"t{trial}", ignore_errors=True)
        print(
            f"kill -9 ({mode}): {passed}/{args.trials} trials passed; {stale} reopened a stale FAISS file "
            f"(rebuilt from the catalog); {time.perf_counter() - started:.0f} s"
        )
        return 0 if passed == args.trials else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
