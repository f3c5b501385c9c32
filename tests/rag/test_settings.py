"""Settings: every field is described, bounded fields refuse values outside their bounds, and a bad
``RAGQA_*`` value is one line naming the variable (``error: ...`` from the CLI), never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import ValidationError

from rag import cli
from rag.errors import SettingsError
from rag.settings import Settings, get_settings, settings_error_message
from tests.conftest import make_settings


def _bounds() -> list[tuple[str, str, float]]:
    out = []
    for name, info in Settings.model_fields.items():
        for item in info.metadata:
            if isinstance(item, annotated_types.Ge):
                out.append((name, "ge", float(item.ge)))  # type: ignore[arg-type]
            if isinstance(item, annotated_types.Le):
                out.append((name, "le", float(item.le)))  # type: ignore[arg-type]
    return out


BOUNDS = _bounds()


def test_every_field_has_a_description() -> None:
    missing = [name for name, info in Settings.model_fields.items() if not (info.description or "").strip()]
    assert missing == []


def test_the_limits_of_the_issue_are_bounded() -> None:
    bounded = {name for name, _, _ in BOUNDS}
    for name in ("generation_workers", "generation_queue", "max_k", "chunk_max_words", "answer_passages", "port"):
        assert name in bounded, name


@pytest.mark.parametrize(("name", "side", "bound"), BOUNDS, ids=[f"{n}-{s}" for n, s, _ in BOUNDS])
def test_bounds_hold_and_defaults_are_inside(tmp_path: Path, name: str, side: str, bound: float) -> None:
    info = Settings.model_fields[name]
    default = info.get_default(call_default_factory=True)
    assert (default >= bound) if side == "ge" else (default <= bound)
    is_int = info.annotation is int
    outside: Any = bound - 1 if side == "ge" else bound + 1
    with pytest.raises(ValidationError, match=name):
        make_settings(tmp_path, **{name: int(outside) if is_int else outside})
    edge: Any = int(bound) if is_int else bound
    assert getattr(make_settings(tmp_path, **{name: edge}), name) == edge


def test_a_bad_variable_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGQA_GENERATION_WORKERS", "0")
    monkeypatch.setenv("RAGQA_MAX_K", "many")
    with pytest.raises(SettingsError) as info:
        get_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("invalid settings ")
    assert "RAGQA_GENERATION_WORKERS='0': Input should be greater than or equal to 1" in message
    assert "RAGQA_MAX_K='many'" in message


def test_a_bad_secret_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        make_settings(tmp_path, milvus_token=987654321, port=70000)
    message = settings_error_message(info.value)
    assert "RAGQA_PORT=70000: Input should be less than or equal to 65535" in message
    assert "RAGQA_MILVUS_TOKEN: Input should be a valid string" in message
    assert "987654321" not in message


def test_cli_reports_a_bad_variable_on_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("RAGQA_GENERATION_WORKERS", "0")
    assert cli.main(["index", "stats", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == "error: invalid setting RAGQA_GENERATION_WORKERS='0': Input should be greater than or equal to 1\n"
