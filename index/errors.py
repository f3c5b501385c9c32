"""The root of ragqa's exception tree and the errors raised by the storage layer.

The root lives here, in the lowest layer, so that storage errors can be part of the one tree without ``index``
importing ``rag`` (arrows only point down: ``api`` → ``rag`` → ``index``). ``rag.errors`` re-exports every class
below and documents the whole tree; code above ``index`` imports errors from ``rag.errors``.

    RagError
    ├── BadInputError
    │   └── InvalidValueError      a value the store rejects (date, chunk span, collection name, ...)
    └── StorageError               the index on disk
        ├── EmbedderMismatchError
        ├── CorruptIndexError
        ├── IndexLockedError
        └── DocumentNotFoundError
"""


class RagError(Exception):
    """Root of ragqa's own errors (re-exported as ``rag.errors.RagError``)."""


class BadInputError(RagError):
    """The input cannot be processed; the message says why in one line."""


class InvalidValueError(BadInputError, ValueError):
    """A value the storage layer rejects; also a ``ValueError``, as for any other bad argument."""


class StorageError(RagError):
    """Anything wrong with the index on disk."""


class EmbedderMismatchError(StorageError):
    """The index was built with a different embedding model than the one configured."""


class CorruptIndexError(StorageError):
    """A catalog or vector file exists but cannot be read; the message names the file."""


class IndexLockedError(StorageError):
    """Another process holds the write lock on this data directory."""


class DocumentNotFoundError(StorageError):
    """No document with that source."""
