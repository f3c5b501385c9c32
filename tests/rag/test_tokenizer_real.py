"""The default generator's tokenizer, converted from the Qwen GGUF, tokenizes exactly like Qwen2's published
pre-tokenizer over the same vocabulary and merges, and loads without transformers' false "incorrect regex" warning."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import pytest

from rag.models.generator import tokenizer_kwargs
from rag.models.resolve import resolve
from rag.settings import get_settings

# Qwen2's pre-tokenizer pattern as published with Qwen2/Qwen2.5 (tokenizer.json of the upstream models).
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _strings() -> list[str]:
    numbers = ["0", "7", "42", "1,234", "3.14159", "-12.5%", "2024", "1998–2003", "$1.4bn", "10,000,000", "½", "٣"]
    names = ["Kim Jong Un", "김정은", "Yoon Suk Yeol", "윤석열", "Pyongyang", "평양", "Hyunmoo-5", "Lee Jae-myung"]
    names += ["Zelensky", "Zelenskyy", "O'Neill", "Ngũgĩ", "Škoda", "İstanbul", "東京", "Müller", "naïve café"]
    punct = ["“quoted”", "‘single’", "it's", "they'll", "WE'VE", "—", "...", "?!", "(a)", "[1]", "a/b", "#tag", "@x"]
    spaces = ["  two spaces", "tab\there", "line\nbreak", "\r\n", "trailing   ", " lead", "\u00a0nbsp"]
    words = numbers + names + punct + spaces
    pairs = [f"{a} {b}" for a, b in itertools.product(names[:8], numbers[:8])]
    sentences = [f"On {n} Seoul said {m} would visit {p}" for n, m, p in zip(numbers, names, punct, strict=False)]
    return words + pairs + sentences + ["".join(words), "\n".join(names), "   ".join(punct)]


@pytest.fixture(scope="module")
def qwen_folder() -> Path:
    resolved = resolve("qwen2.5-coder-0.5b-instruct", "generator", get_settings().models_dir, progress=False)
    return Path(resolved.location)


@pytest.mark.slow
def test_token_ids_match_the_published_qwen2_pretokenizer(qwen_folder: Path) -> None:
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
    from tokenizers.decoders import ByteLevel as ByteLevelDecoder
    from tokenizers.models import BPE
    from transformers import AutoTokenizer

    ours = AutoTokenizer.from_pretrained(qwen_folder, **tokenizer_kwargs(str(qwen_folder)))
    vocab = json.loads((qwen_folder / "vocab.json").read_text(encoding="utf-8"))
    merges_file = qwen_folder / "merges.txt"
    reference = Tokenizer(BPE.from_file(str(qwen_folder / "vocab.json"), str(merges_file)))
    reference.normalizer = normalizers.NFC()
    reference.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    reference.decoder = ByteLevelDecoder()
    strings = _strings()
    assert len(strings) >= 100 and len(vocab) > 150_000
    mismatches = [s for s in strings if ours.encode(s, add_special_tokens=False) != reference.encode(s).ids]
    assert mismatches == []
    assert all(ours.decode(ours.encode(s, add_special_tokens=False)) == s for s in strings if "\u00a0" not in s)


@pytest.mark.slow
def test_loading_gives_no_incorrect_regex_warning(qwen_folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING):
            AutoTokenizer.from_pretrained(qwen_folder, **tokenizer_kwargs(str(qwen_folder)))
            fixed = [r for r in caplog.records if "incorrect regex" in r.getMessage()]
            caplog.clear()
            AutoTokenizer.from_pretrained(qwen_folder)  # what transformers 4.57.x does without being told
            unfixed = [r for r in caplog.records if "incorrect regex" in r.getMessage()]
    finally:
        hf_logging.disable_propagation()
    assert fixed == []
    assert unfixed, "transformers no longer warns here: tokenizer_kwargs() may be unnecessary"
