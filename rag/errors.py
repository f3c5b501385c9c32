"""The documented exception tree of ragqa, and the one table that maps it to (HTTP status, error kind).

    RagError                           (defined in ``index.errors`` so storage errors can derive from it)
    ├── BadInputError                  400 bad_input: the caller sent something unusable
    │   ├── InvalidValueError          a value the store rejects (date, chunk span, collection name, ...)
    │   ├── LimitError                 (``rag.budget``) a document exceeds a configured ingest limit
    │   └── SettingsError              a ``RAGQA_*`` variable or ``.env`` value is outside its type or bounds
    ├── ModelError                     503 model_error: a model could not be installed, verified, loaded or run
    │   ├── ChecksumError              a downloaded weight file does not match its pinned sha256
    │   └── GeneratorUnavailableError  503 generator_unavailable: the remote generator is down, slow or failed
    ├── BusyError                      503 busy: the generation queue is full; retry later
    ├── WorkCancelled                  499 cancelled: the caller went away before the work finished
    ├── GenerationCancelled            499 cancelled: a generation stream was cancelled
    └── StorageError                   500 storage_error: the index on disk
        ├── EmbedderMismatchError
        ├── CorruptIndexError
        ├── IndexLockedError           503 index_locked: another writer holds the lock; retry later
        └── DocumentNotFoundError      404 not_found

``error_info(exc)`` reads the table for the most specific class of ``exc``; the HTTP edge turns it into a status
and a JSON body, the CLI prints the message on one line and exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from index.errors import (
    BadInputError,
    CorruptIndexError,
    DocumentNotFoundError,
    EmbedderMismatchError,
    IndexLockedError,
    InvalidValueError,
    RagError,
    StorageError,
)


class SettingsError(BadInputError):
    """A setting (``RAGQA_*`` variable or ``.env`` line) has a value outside its type or bounds; the message
    names each variable on one line."""


class ModelError(RagError):
    """A model could not be installed, verified, loaded or run."""


class ChecksumError(ModelError):
    """A fetched file's sha256 differs from the pinned one; nothing was cached."""


class GeneratorUnavailableError(ModelError):
    """The remote (OpenAI-compatible) generator could not be reached, timed out or answered 5xx; retry later."""

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BusyError(RagError):
    """All generation workers are busy and the queue is full."""

    def __init__(self, message: str, retry_after_s: int = 2) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class WorkCancelled(RagError):
    """The caller went away (client disconnect, Ctrl-C, shutdown) before the work finished; nothing was written."""


class GenerationCancelled(RagError):
    """Raised inside a stream when its cancel event is set (e.g. the HTTP client went away)."""


@dataclass(frozen=True)
class ErrorInfo:
    """How an error is reported: its HTTP status, its stable ``kind``, and a fixed public message if it has one
    (``None``: the exception's own message)."""

    status: int
    kind: str
    message: str | None = None


INTERNAL_ERROR = ErrorInfo(500, "internal_error", "internal server error")

ERROR_TABLE: dict[type[BaseException], ErrorInfo] = {
    BadInputError: ErrorInfo(400, "bad_input"),
    DocumentNotFoundError: ErrorInfo(404, "not_found"),
    BusyError: ErrorInfo(503, "busy"),
    IndexLockedError: ErrorInfo(503, "index_locked", "another writer is changing the index; retry in a few seconds"),
    GeneratorUnavailableError: ErrorInfo(503, "generator_unavailable"),
    ModelError: ErrorInfo(503, "model_error"),
    StorageError: ErrorInfo(500, "storage_error"),
    GenerationCancelled: ErrorInfo(499, "cancelled", "generation cancelled"),
    WorkCancelled: ErrorInfo(499, "cancelled", "cancelled: the client went away"),
    RagError: ErrorInfo(500, "rag_error"),
}
"""Error type → how it is reported. A class not listed inherits its nearest listed ancestor's entry."""


def error_info(exc: BaseException) -> ErrorInfo:
    """The table entry of the most specific class of ``exc`` (``INTERNAL_ERROR`` for anything outside the tree)."""
    for cls in type(exc).__mro__:
        info = ERROR_TABLE.get(cls)
        if info is not None:
            return info
    return INTERNAL_ERROR


__all__ = [
    "ERROR_TABLE",
    "INTERNAL_ERROR",
    "BadInputError",
    "BusyError",
    "ChecksumError",
    "CorruptIndexError",
    "DocumentNotFoundError",
    "EmbedderMismatchError",
    "ErrorInfo",
    "GenerationCancelled",
    "GeneratorUnavailableError",
    "IndexLockedError",
    "InvalidValueError",
    "ModelError",
    "RagError",
    "SettingsError",
    "StorageError",
    "WorkCancelled",
    "error_info",
]
