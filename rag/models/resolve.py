"""Turn a model setting into something loadable: an offline package name, a local folder, or a hub model id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelError
from rag.models.install import MARKER, install
from rag.models.sources import OFFLINE_MODELS, Role

_WEIGHT_SUFFIXES = (".onnx", ".safetensors", ".bin", ".gguf")


@dataclass(frozen=True)
class ResolvedModel:
    setting: str
    location: str  # folder path or hub id, as given to from_pretrained()
    kind: str  # "offline" | "local" | "hub"
    checksum: str  # content identity of the weights ("hub:<id>" when unknown)
    gguf_file: str | None = None

    @property
    def model_id(self) -> str:
        return self.setting


def resolve(setting: str, role: Role, models_dir: Path, *, progress: bool = True) -> ResolvedModel:
    spec = OFFLINE_MODELS.get(setting)
    if spec is not None:
        if spec.role != role:
            raise ModelError(f"{setting!r} is a {spec.role}, not a {role}")
        folder = install(setting, models_dir, progress=progress)
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        checksum = ",".join(f"{k}={v}" for k, v in sorted(marker["verified_sha256"].items()))
        return ResolvedModel(setting, str(folder), "offline", checksum)
    path = Path(setting).expanduser()
    if path.exists():
        if path.is_file() and path.suffix == ".gguf":
            return ResolvedModel(setting, str(path.parent), "local", _digest_files([path]), gguf_file=path.name)
        if not path.is_dir():
            raise ModelError(f"{setting}: not a model folder or .gguf file")
        weights = sorted(p for p in path.rglob("*") if p.suffix in _WEIGHT_SUFFIXES)
        if not weights:
            raise ModelError(f"{setting}: no weight files (*.safetensors, *.onnx, *.bin, *.gguf) in the folder")
        ggufs = [p for p in weights if p.suffix == ".gguf"]
        gguf = ggufs[0].name if ggufs and len(ggufs) == len(weights) else None
        return ResolvedModel(setting, str(path), "local", _digest_files(weights), gguf_file=gguf)
    if "/" in setting and not setting.startswith((".", "/")):
        return ResolvedModel(setting, setting, "hub", f"hub:{setting}")
    raise ModelError(
        f"model {setting!r} is neither an offline model ({', '.join(sorted(OFFLINE_MODELS))}), "
        "an existing folder, nor a hub id like 'org/name'"
    )


def _digest_files(paths: list[Path]) -> str:
    """A cheap identity for local weights: sha256 over names, sizes and the first and last MiB of each file."""
    digest = hashlib.sha256()
    for p in paths:
        size = p.stat().st_size
        digest.update(f"{p.name}:{size}".encode())
        with p.open("rb") as fh:
            digest.update(fh.read(1 << 20))
            if size > 2 << 20:
                fh.seek(-(1 << 20), 2)
                digest.update(fh.read())
    return "sampled:" + digest.hexdigest()
