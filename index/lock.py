"""The writer lock of a data directory: a thread ``RLock`` plus an exclusive file lock on ``write.lock``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import filelock

from index.errors import IndexLockedError

log = logging.getLogger(__name__)


class WriterLock:
    """Reentrant within a thread; exclusive across threads and processes.

    Only the outermost holder takes the file lock, so nested ``hold()`` calls in one thread are cheap.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rlock = threading.RLock()
        self._file = filelock.FileLock(str(path), thread_local=False)
        self._depth = 0

    def _locked_error(self) -> IndexLockedError:
        return IndexLockedError(
            f"another process is writing to {self.path.parent} (lock {self.path}); wait for it to finish"
        )

    @contextmanager
    def hold(self, timeout: float) -> Iterator[bool]:
        """Hold the lock (yields True for the outermost holder); ``IndexLockedError`` after ``timeout`` s."""
        if not self._rlock.acquire(timeout=max(timeout, 0.0)):
            raise self._locked_error()
        try:
            if self._depth == 0:
                try:
                    self._file.acquire(timeout=max(timeout, 0.0))
                except filelock.Timeout:
                    raise self._locked_error() from None
                log.debug("acquired writer lock %s", self.path)
            self._depth += 1
            try:
                yield self._depth == 1
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._file.release()
                    log.debug("released writer lock %s", self.path)
        finally:
            self._rlock.release()
