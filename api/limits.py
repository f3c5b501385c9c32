"""Limits that come from settings (so they cannot live in the static schemas); each error names its setting."""

from __future__ import annotations

from api.errors import ApiError, LimitExceeded
from api.schemas import MAX_TURN_CHARS
from rag.settings import Settings


def check_question(question: str, settings: Settings) -> None:
    if not question.strip():
        raise ApiError(422, "bad_input", "the question is empty")
    if len(question.strip()) > settings.max_question_chars:
        raise LimitExceeded(
            "max_question_chars", settings.max_question_chars, f"the question is {len(question.strip())} characters"
        )


def check_history(n_turns: int, settings: Settings) -> None:
    if n_turns > settings.max_history:
        raise LimitExceeded("max_history", settings.max_history, f"the history has {n_turns} turns")


def check_k(k: int, settings: Settings) -> None:
    if k > settings.max_k:
        raise LimitExceeded("max_k", settings.max_k, f"k={k} is too large")


def check_upload(size: int, settings: Settings) -> None:
    if size > settings.max_upload_bytes:
        raise LimitExceeded("max_upload_bytes", settings.max_upload_bytes, f"the document is {size} bytes", 413)


def check_message_chars(index: int, n_chars: int) -> None:
    """The per-message limit of ``/v1/ask``'s history turns (``MAX_TURN_CHARS``), for chat messages too."""
    if n_chars > MAX_TURN_CHARS:
        raise ApiError(
            422,
            "validation_error",
            f"messages.{index}.content: at most {MAX_TURN_CHARS} characters per message ({n_chars} given)",
        )
