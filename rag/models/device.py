"""Where models run: ``RAGQA_DEVICE=auto|cpu|cuda`` turned into a torch device and ONNX Runtime providers."""

from __future__ import annotations

import logging

from rag.errors import ModelError

log = logging.getLogger(__name__)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(setting: str) -> str:
    """``auto`` → ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without a GPU is a clear ``ModelError``."""
    setting = setting.strip().lower()
    if setting == "auto":
        device = "cuda" if cuda_available() else "cpu"
        log.info("device auto → %s", device)
        return device
    if setting == "cpu":
        return "cpu"
    if setting == "cuda" or setting.startswith("cuda:"):
        if not cuda_available():
            raise ModelError(f"device is {setting!r} but torch sees no CUDA GPU (use RAGQA_DEVICE=auto or cpu)")
        return setting
    raise ModelError(f"unknown device {setting!r}; use auto, cpu or cuda")


def onnx_provider(device: str) -> str:
    """The ONNX Runtime provider for ``device``: CUDA when asked for and installed (onnxruntime-gpu), else CPU."""
    if not device.startswith("cuda"):
        return CPU_PROVIDER
    import onnxruntime

    if CUDA_PROVIDER in onnxruntime.get_available_providers():
        return CUDA_PROVIDER
    log.warning(
        "device %s: onnxruntime has no CUDA provider (install onnxruntime-gpu); ONNX models use the CPU", device
    )
    return CPU_PROVIDER
