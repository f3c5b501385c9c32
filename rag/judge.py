"""Does the evidence state the answer? A language model's judgment, read from its first-token log-probabilities.

The judge sees the question and the most answer-bearing evidence sentences (``rag/prompts/judge.txt``) and is asked
for "Yes" or "No"; its verdict is ``log P(Yes) − log P(No)`` for the first token of the reply, one forward pass and
no decoding. The answer path refuses below ``Settings.judge_below`` (chosen on the tuning halves of the eval sets).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from rag.models.generator import ChatMessage
from rag.prompts import render


class NextTokenScorer(Protocol):
    """A local causal LM that can score its reply's first token (``TransformersGenerator``)."""

    model_id: str

    def next_token_logprobs(self, messages: Sequence[ChatMessage], words: Sequence[str]) -> dict[str, float]: ...

    def render(self, messages: Sequence[ChatMessage]) -> str: ...

    def keep_prefix(self, text: str) -> None: ...


class AnswerJudge(Protocol):
    model_id: str

    def log_odds(self, question: str, sentences: Sequence[str], titles: Sequence[str] = ()) -> float:
        """How strongly the judge holds that ``sentences`` state the answer to ``question`` (> 0: yes); with
        ``titles`` (one per sentence), it reads them under their articles' titles."""
        ...


def evidence_lines(sentences: Sequence[str], titles: Sequence[str] = ()) -> str:
    """The evidence as the judge reads it: one ``- sentence`` line each; with ``titles`` (one per sentence), the
    sentences grouped under ``Article: "title"`` lines, the articles in order of their first sentence."""
    if not titles:
        return "\n".join(f"- {s}" for s in sentences)
    groups: dict[str, list[str]] = {}
    for title, sentence in zip(titles, sentences, strict=True):
        groups.setdefault(title, []).append(sentence)
    return "\n".join(f'Article: "{title}"\n' + "\n".join(f"- {s}" for s in group) for title, group in groups.items())


def judge_messages(question: str, sentences: Sequence[str], titles: Sequence[str] = ()) -> list[ChatMessage]:
    return render("judge", evidence=evidence_lines(sentences, titles), question=question)


JudgePrompt = Callable[[str, Sequence[str]], list[ChatMessage]]
_MARK = "\u2063ragqa-evidence\u2063"


def fixed_prefix(model: NextTokenScorer, prompt: JudgePrompt = judge_messages) -> str:
    """The rendered judge prompt up to the line of its evidence (system prompt, instructions, "Evidence:"), the
    same for every question (with or without titles, which start inside the evidence): computed once
    (``keep_prefix``), reused by every verdict. ``prompt`` makes the messages from a question and evidence sentences
    (default: ``rag/prompts/judge.txt``)."""
    text = model.render(prompt("?", [_MARK]))
    at = text.index(_MARK)
    return text[: text.rindex("\n", 0, at) + 1]


class LmJudge:
    """The judgment of a local causal LM: ``log P("Yes") − log P("No")`` as the first token of its reply."""

    def __init__(self, model: NextTokenScorer) -> None:
        self.model = model
        self.model_id = model.model_id
        model.keep_prefix(fixed_prefix(model))

    def log_odds(self, question: str, sentences: Sequence[str], titles: Sequence[str] = ()) -> float:
        logprobs = self.model.next_token_logprobs(judge_messages(question, sentences, titles), ("Yes", "No"))
        return logprobs["Yes"] - logprobs["No"]


__all__ = ["AnswerJudge", "JudgePrompt", "LmJudge", "NextTokenScorer", "fixed_prefix", "judge_messages"]
