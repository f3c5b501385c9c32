"""RAGQA_DEVICE=auto|cpu|cuda: resolution on this (CPU-only) machine, and the ONNX provider choice."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.errors import ModelError
from rag.models import device as device_mod
from rag.models.device import CPU_PROVIDER, onnx_provider, resolve_device
from tests.conftest import make_settings


def test_cpu_is_cpu() -> None:
    assert resolve_device("cpu") == "cpu"


def test_auto_follows_what_torch_sees() -> None:
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


def test_auto_picks_cuda_when_torch_sees_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_mod, "cuda_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_mod, "cuda_available", lambda: False)
    with pytest.raises(ModelError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_onnx_models_fall_back_to_the_cpu_provider_without_onnxruntime_gpu(caplog: pytest.LogCaptureFixture) -> None:
    import onnxruntime

    assert onnx_provider("cpu") == CPU_PROVIDER
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with caplog.at_level(logging.WARNING):
            assert onnx_provider("cuda") == CPU_PROVIDER
        assert "onnxruntime-gpu" in caplog.text


@pytest.mark.parametrize("value", ["auto", "cpu", "cuda", "cuda:0"])
def test_setting_accepts_the_documented_values(tmp_path: Path, value: str) -> None:
    assert make_settings(tmp_path, device=value).device == value


@pytest.mark.parametrize("value", ["gpu", "CUDA ", "mps", ""])
def test_setting_rejects_other_values(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValidationError):
        make_settings(tmp_path, device=value)


@pytest.mark.slow
def test_real_embedder_and_reranker_load_with_device_auto(tmp_path: Path) -> None:
    from rag.engine import Engine

    settings = make_settings(tmp_path / "data", device="auto")
    engine = Engine.load(settings, reranker=True)
    try:
        expected = resolve_device("auto")
        assert getattr(engine.embedder, "device", None) in (expected, "cpu")
        vec = engine.embedder.embed_query("Seoul")
        assert vec.shape == (engine.embedder.dimension,)
        assert engine.reranker is not None
        assert engine.reranker.score("Seoul", ["Seoul is a city.", "Bananas."]).shape == (2,)
    finally:
        engine.close()
