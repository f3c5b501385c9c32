"""The judge on real models: shared with the generator when it names the same model, and loaded with the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.engine import Engine
from rag.judge import LmJudge
from rag.models.generator import TransformersGenerator
from tests.conftest import make_settings


@pytest.mark.slow
def test_a_judge_naming_the_generator_shares_its_instance(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", generator="smollm2-135m-instruct", judge="smollm2-135m-instruct")
    engine = Engine.load(settings, reranker=False, generator=True)
    try:
        judge = engine.judge
        assert isinstance(judge, LmJudge) and isinstance(engine.generator, TransformersGenerator)
        assert judge.model is engine.generator
        verdict = judge.log_odds("What colour is the sky on a clear day?", ["On a clear day the sky is blue."])
        assert -50.0 < verdict < 50.0
        assert engine.load_seconds["judge"] >= 0.0
    finally:
        engine.close()
