"""Errors raised by the storage layer.

``StorageError`` is the root; the ``rag`` layer re-exports it as part of its own documented tree and the HTTP
edge maps each to a status code.
"""


class StorageError(Exception):
    """Anything wrong with the index on disk."""


class EmbedderMismatchError(StorageError):
    """The index was built with a different embedding model than the one configured."""


class CorruptIndexError(StorageError):
    """A catalog or vector file exists but cannot be read; the message names the file."""


class IndexLockedError(StorageError):
    """Another process holds the write lock on this data directory."""


class DocumentNotFoundError(StorageError):
    """No document with that source."""
