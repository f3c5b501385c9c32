"""The documented exception tree of ragqa.

    RagError
    ├── BadInputError        the caller sent something unusable (empty question, unsupported file, ...)
    ├── ModelError           a model could not be installed, verified, loaded or run
    │   ├── ChecksumError    a downloaded weight file does not match its pinned sha256
    │   └── GeneratorUnavailableError  the remote generator server is unreachable, timed out or failed (5xx)
    ├── BusyError            the generation queue is full; retry later
    └── StorageError         (from ``index.errors``) the index on disk: mismatch, corruption, lock, not found

The HTTP edge maps these to status codes; the CLI prints their message on one line and exits non-zero.
"""

from index.errors import (
    CorruptIndexError,
    DocumentNotFoundError,
    EmbedderMismatchError,
    IndexLockedError,
    StorageError,
)


class RagError(Exception):
    """Root of ragqa's own errors."""


class BadInputError(RagError):
    """The input cannot be processed; the message says why in one line."""


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


__all__ = [
    "BadInputError",
    "BusyError",
    "ChecksumError",
    "CorruptIndexError",
    "DocumentNotFoundError",
    "EmbedderMismatchError",
    "GeneratorUnavailableError",
    "IndexLockedError",
    "ModelError",
    "RagError",
    "StorageError",
]
