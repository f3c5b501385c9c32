"""The ONNX embedder and reranker run on onnxruntime + tokenizers alone and give the numbers sentence-transformers
gives with the same files (real default models), without importing torch or sentence-transformers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.models.embedder import EMBED_BATCH_SIZE, SentenceTransformerEmbedder, _onnx_file
from rag.models.reranker import CrossEncoderReranker
from rag.models.resolve import resolve
from rag.settings import Settings
from tests.conftest import REPO_ROOT, SEED_SOURCE, SEEDS_DIR

pytestmark = pytest.mark.slow


def _texts() -> list[str]:
    text = (SEEDS_DIR / SEED_SOURCE).read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n") if p.strip()]
    # Different lengths (so batches are sorted and padded), more than one batch.
    return [f"{i}. " + paragraphs[i % len(paragraphs)][: 60 + (37 * i) % 500] for i in range(45)]


def test_direct_embedder_gives_the_sentence_transformers_vectors(real_models_settings: Settings) -> None:
    from sentence_transformers import SentenceTransformer

    s = real_models_settings
    resolved = resolve(s.embedder, "embedder", s.models_dir)
    embedder = SentenceTransformerEmbedder(resolved)
    assert embedder._direct is not None  # the default ONNX embedder takes the direct path
    onnx = _onnx_file(resolved.location)
    reference = SentenceTransformer(resolved.location, device="cpu", backend="onnx", model_kwargs={"file_name": onnx})
    texts = _texts()
    assert len(texts) > EMBED_BATCH_SIZE
    expected = reference.encode(texts, batch_size=EMBED_BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True)
    got = embedder.embed_documents(texts)
    assert got.shape == expected.shape == (len(texts), embedder.dimension)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    question = "Why is Seoul reconsidering arms to Ukraine?"
    expected_q = reference.encode([question], prompt_name="query", normalize_embeddings=True)[0]
    np.testing.assert_allclose(embedder.embed_query(question), expected_q, atol=1e-5)
    # The query prompt matters: without it the vector is a different one.
    assert np.abs(embedder.embed_query(question) - embedder.embed_documents([question])[0]).max() > 1e-3


def test_direct_reranker_gives_the_sentence_transformers_scores(real_models_settings: Settings) -> None:
    from sentence_transformers import CrossEncoder

    s = real_models_settings
    resolved = resolve(s.reranker, "reranker", s.models_dir)
    reranker = CrossEncoderReranker(resolved, max_length=s.rerank_max_tokens)
    assert reranker._direct is not None
    reference = CrossEncoder(
        resolved.location,
        device="cpu",
        max_length=s.rerank_max_tokens,
        backend="onnx",
        model_kwargs={"file_name": _onnx_file(resolved.location)},
    )
    question = "Why is Seoul reconsidering arms to Ukraine?"
    passages = _texts()
    expected = reference.predict(
        [(question, p) for p in passages], batch_size=16, activation_fn=None, convert_to_numpy=True
    ).reshape(-1)
    got = reranker.score(question, passages)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert got.max() - got.min() > 1.0  # real scores, not a constant


def test_search_process_does_not_import_torch(real_models_settings: Settings, tmp_path: Path) -> None:
    """Loading the default embedder and reranker and scoring with them leaves torch unimported (cold start)."""
    code = (
        "import sys\n"
        "from rag.settings import Settings\n"
        "from rag.models.resolve import resolve\n"
        "from rag.models.embedder import SentenceTransformerEmbedder\n"
        "from rag.models.reranker import CrossEncoderReranker\n"
        "s = Settings(_env_file=None)\n"
        "e = SentenceTransformerEmbedder(resolve(s.embedder, 'embedder', s.models_dir))\n"
        "r = CrossEncoderReranker(resolve(s.reranker, 'reranker', s.models_dir))\n"
        "assert e.embed_query('a question').shape == (e.dimension,)\n"
        "assert r.score('a question', ['an answer']).shape == (1,)\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_direct_embedder_in_parallel_sessions_gives_the_same_vectors(real_models_settings: Settings) -> None:
    """Several batches run on single-threaded sessions at once (ingest); each batch is still computed alone, so the
    vectors are the ones one session gives, in the callers' order."""
    from rag.models.onnx_direct import DirectOnnxEmbedder

    s = real_models_settings
    resolved = resolve(s.embedder, "embedder", s.models_dir)
    folder = Path(resolved.location)
    onnx = _onnx_file(resolved.location)
    assert onnx is not None
    texts = _texts()
    serial = DirectOnnxEmbedder(folder, folder / onnx, batch_size=EMBED_BATCH_SIZE, parallel=1)
    parallel = DirectOnnxEmbedder(folder, folder / onnx, batch_size=EMBED_BATCH_SIZE, parallel=3)
    expected = serial.embed(texts)
    got = parallel.embed(texts)
    assert len(parallel._workers) == 3  # the parallel path was taken
    assert not serial._workers
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # Each text keeps its own vector (not merely the same set in another order).
    assert np.abs(got[0] - got[1]).max() > 1e-3
