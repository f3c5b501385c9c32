"""Sentence splitting and chunking: exact spans, tricky punctuation, overlap, long sentences."""

from __future__ import annotations

import itertools
import random
import time

import pytest

from rag.text import TextSpan, chunk_text, count_words, split_sentences

SEOUL = (
    "South Korea is currently re-evaluating its stance on supplying arms to Ukraine, a move prompted by "
    "recent developments in the geopolitical landscape. The catalyst for this reconsideration is Russian "
    "President Vladimir Putin’s visit to North Korea, which has raised significant concerns in Seoul."
)


def sentences(text: str) -> list[str]:
    spans = split_sentences(text)
    for span in spans:
        assert text[span.start : span.end] == span.text
        assert span.text == span.text.strip() and span.text
    return [s.text for s in spans]


# ------------------------------------------------------------------------------------------ sentences


def test_empty_and_whitespace() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n\n \t ") == []
    assert chunk_text("") == []
    assert chunk_text(" \n ") == []


def test_real_paragraph_is_two_sentences() -> None:
    got = sentences(SEOUL)
    assert len(got) == 2
    assert got[0].endswith("geopolitical landscape.")
    assert got[1].startswith("The catalyst") and got[1].endswith("concerns in Seoul.")


def test_exact_spans_with_offset() -> None:
    text = "  Hello there.  General Kenobi!  "
    spans = split_sentences(text, offset=100)
    assert spans == [TextSpan(102, 114, "Hello there."), TextSpan(116, 131, "General Kenobi!")]
    assert [text[s.start - 100 : s.end - 100] for s in spans] == [s.text for s in spans]


def test_decimals_never_split() -> None:
    text = "Revenue grew 43.9% to $141.9 billion. Net income was $3.37 billion in Q2. Version 2.5 shipped."
    assert sentences(text) == [
        "Revenue grew 43.9% to $141.9 billion.",
        "Net income was $3.37 billion in Q2.",
        "Version 2.5 shipped.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "U.S. officials said the talks failed.",
        "Mr. Smith met Mrs. Jones and Dr. Brown at St. Mary's.",
        "Prof. Lee cited Gen. Patton vs. Col. Klink.",
        "Apple Inc. Reports were released in Jan. 2024 and Sept. 2025.",
        "Fruit, e.g. Apples, and i.e. Pears, etc. Are fine.",
        "J. Smith and J.R.R. Tolkien wrote books.",
        "He ranked No. 1 in the U.K. Parliament and the U.N. Council.",
    ],
)
def test_abbreviations_and_initials_do_not_split(text: str) -> None:
    assert sentences(text) == [text]


def test_lowercase_no_is_a_word() -> None:
    assert sentences("The answer was no. Then he left.") == ["The answer was no.", "Then he left."]


def test_question_exclamation_quotes() -> None:
    text = 'Is it true? Yes! She said "Stop." Then she left. "Why?" he asked. (Nobody knew.) Done.'
    assert sentences(text) == [
        "Is it true?",
        "Yes!",
        'She said "Stop."',
        "Then she left.",
        '"Why?" he asked.',
        "(Nobody knew.)",
        "Done.",
    ]


def test_curly_quotes_and_digits_start_sentences() -> None:
    text = "He won. “Great,” they said. 2024 was a record. It ended”. Fine"
    assert sentences(text) == ["He won.", "“Great,” they said.", "2024 was a record.", "It ended”.", "Fine"]


def test_no_split_before_lowercase() -> None:
    assert sentences("See fig. below for details. Okay.") == ["See fig. below for details.", "Okay."]


def test_titles_and_newlines() -> None:
    text = "South Korea Reconsiders Arms Supply\nFirst paragraph here. Second one\n\n## A heading\nlast line"
    assert sentences(text) == [
        "South Korea Reconsiders Arms Supply",
        "First paragraph here.",
        "Second one",
        "## A heading",
        "last line",
    ]


def test_newline_always_ends_sentence_even_mid_phrase() -> None:
    assert sentences("Dr.\nSmith") == ["Dr.", "Smith"]


def test_split_is_fast() -> None:
    paragraph = SEOUL + " Mr. Lee said prices rose 4.5% to $3.2 billion, e.g. In Jan. 2024. Really? Yes!\n"
    text = paragraph * (1_000_000 // len(paragraph) + 1)
    t0 = time.perf_counter()
    spans = split_sentences(text)
    elapsed = time.perf_counter() - t0
    assert len(spans) > 1000
    assert elapsed < 2.0, f"split_sentences took {elapsed:.2f}s for {len(text)} chars"


# ----------------------------------------------------------------------------------------------- words


def test_count_words() -> None:
    assert count_words("") == 0
    assert count_words("  one two\nthree\tfour  ") == 4


# ------------------------------------------------------------------------------------------------ chunks

WORDS = [
    *("alpha", "beta", "gamma", "delta", "river", "stone", "market", "policy", "Seoul", "Ukraine", "arms"),
    *("43.9%", "$3.37", "U.S.", "Dr.", "vote", "report", "growth", "e.g.", "officials", "minister", "talks"),
]


def random_text(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 8)):
        sents = []
        for _ in range(rng.randint(1, 12)):
            n = rng.choice([1, 3, 8, 15, 30, 70, 150, 260]) if rng.random() < 0.3 else rng.randint(2, 25)
            words = [rng.choice(WORDS) for _ in range(n)]
            words[0] = words[0].capitalize()
            sents.append(" ".join(words) + rng.choice([".", "!", "?", ".", '."', ""]))
        paragraphs.append((" " * rng.randint(1, 2)).join(sents))
    sep = rng.choice(["\n", "\n\n", "\n \n", "\n\n\n"])
    return rng.choice(["", "  ", "\n"]) + sep.join(paragraphs) + rng.choice(["", " ", "\n"])


def check_chunks(text: str, chunks: list[TextSpan], max_words: int) -> None:
    assert chunks, "non-empty text must give chunks"
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text.strip() == chunk.text and chunk.text
        assert count_words(chunk.text) <= max_words
    # Chunks advance and never repeat.
    for a, b in itertools.pairwise(chunks):
        assert a.start < b.start and a.end < b.end
        assert a != b
    # Together they cover every word of the text.
    covered = [False] * len(text)
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    for i, ch in enumerate(text):
        if not ch.isspace():
            assert covered[i], f"character {i} ({ch!r}) is in no chunk"


@pytest.mark.parametrize("seed", range(60))
def test_chunks_exact_and_covering_random(seed: int) -> None:
    rng = random.Random(seed)
    text = random_text(rng)
    max_words = rng.choice([5, 20, 50, 110])
    overlap = rng.choice([0, 1, 2, 3])
    chunks = chunk_text(text, max_words=max_words, overlap_sentences=overlap)
    check_chunks(text, chunks, max_words)


def test_roughly_one_chunk_per_hundred_words() -> None:
    rng = random.Random(7)
    sents = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 22))).capitalize() + "." for _ in range(400)]
    paragraphs = [" ".join(sents[i : i + 6]) for i in range(0, len(sents), 6)]
    text = "\n".join(paragraphs)
    chunks = chunk_text(text)
    check_chunks(text, chunks, 110)
    per_chunk = count_words(text) / len(chunks)
    assert 55 <= per_chunk <= 110


def test_overlap_repeats_last_sentence_within_paragraph() -> None:
    sents = [f"Sentence number {n} has exactly seven words." for n in range(10)]
    text = " ".join(sents)
    chunks = chunk_text(text, max_words=21, overlap_sentences=1)
    check_chunks(text, chunks, 21)
    assert chunks[0].text == " ".join(sents[0:3])
    assert chunks[1].text == " ".join(sents[2:5])
    assert chunks[2].text == " ".join(sents[4:7])
    for a, b in itertools.pairwise(chunks):
        last = split_sentences(a.text)[-1].text
        assert b.text.startswith(last)


def test_no_overlap_when_zero() -> None:
    sents = [f"Sentence number {n} has exactly seven words." for n in range(6)]
    text = " ".join(sents)
    chunks = chunk_text(text, max_words=14, overlap_sentences=0)
    assert [c.text for c in chunks] == [" ".join(sents[i : i + 2]) for i in (0, 2, 4)]


def test_overlap_larger_than_chunk_still_progresses() -> None:
    sents = [f"Sentence number {n} has exactly seven words." for n in range(8)]
    text = " ".join(sents)
    chunks = chunk_text(text, max_words=14, overlap_sentences=5)
    check_chunks(text, chunks, 14)
    assert len(chunks) == 7  # each chunk adds exactly one new sentence
    assert len(set(chunks)) == len(chunks)


def test_new_chunk_at_paragraph_without_overlap() -> None:
    p1 = " ".join(f"First paragraph sentence {n} of seven words." for n in range(4))  # 28 words
    p2 = " ".join(f"Second paragraph sentence {n} of seven words." for n in range(4))
    text = p1 + "\n" + p2
    chunks = chunk_text(text, max_words=40, overlap_sentences=1)
    assert [c.text for c in chunks] == [p1, p2]


def test_small_paragraphs_are_merged() -> None:
    text = "Title Line\nShort paragraph one.\nShort paragraph two.\n" + "Another sentence is here. " * 3
    chunks = chunk_text(text.strip(), max_words=110)
    assert len(chunks) == 1
    assert chunks[0].text == text.strip()


def test_long_sentence_split_at_word_boundaries() -> None:
    words = [f"W{n}" for n in range(25)]
    text = "Intro sentence here.  " + "  ".join(words) + ".\nTail."
    chunks = chunk_text(text, max_words=10, overlap_sentences=1)
    check_chunks(text, chunks, 10)
    joined = [c.text for c in chunks]
    assert joined[0] == "Intro sentence here."
    assert joined[1].startswith("W0  W1") and count_words(joined[1]) == 10
    assert joined[-1] == "Tail."
    assert any(c.text.endswith("W24.") for c in chunks)


def test_single_huge_word_sentence() -> None:
    text = " ".join(["word"] * 1000)
    chunks = chunk_text(text, max_words=110)
    check_chunks(text, chunks, 110)
    assert len(chunks) == 10
    assert sum(count_words(c.text) for c in chunks) == 1000


def test_seoul_chunk_is_the_paragraph() -> None:
    chunks = chunk_text(SEOUL)
    assert chunks == [TextSpan(0, len(SEOUL), SEOUL)]


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        chunk_text("Some text.", max_words=0)
    with pytest.raises(ValueError):
        chunk_text("Some text.", overlap_sentences=-1)
