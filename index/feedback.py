"""Answers served and the 👍/👎 feedback on them, in their own SQLite file (``feedback.sqlite3`` in the data dir).

Kept apart from the catalog on purpose: recording an answer must not bump the catalog generation (which makes
every reader reload its vectors) nor wait for the index writer lock. Answers without feedback beyond
``keep_answers`` are pruned, oldest first; answers with feedback are kept.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from index.errors import CorruptIndexError, DocumentNotFoundError, InvalidValueError

log = logging.getLogger(__name__)

FEEDBACK_FILE = "feedback.sqlite3"
Rating = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    collection TEXT NOT NULL DEFAULT 'default',
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    citations TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_created ON answers(created_at);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL REFERENCES answers(id),
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_answer ON feedback(answer_id);
"""


class AnswerNotFoundError(DocumentNotFoundError):
    """Feedback names an answer id this service never gave (or pruned long ago)."""


@dataclass(frozen=True)
class AnswerRecord:
    id: str
    created_at: float
    collection: str
    question: str
    answer: str
    refused: bool
    citations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class FeedbackRecord:
    id: int
    rating: Rating
    comment: str
    created_at: float
    answer: AnswerRecord


class FeedbackStore:
    """Thread-safe; one connection guarded by a lock. ``open()`` creates the file when needed."""

    def __init__(self, path: Path, conn: sqlite3.Connection, keep_answers: int) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()
        self.keep_answers = keep_answers

    @classmethod
    def open(cls, data_dir: Path, *, keep_answers: int = 10_000) -> FeedbackStore:
        """Open (or create) the feedback database in ``data_dir``; past ``keep_answers`` answers, the oldest
        without feedback are pruned."""
        path = Path(data_dir) / FEEDBACK_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CorruptIndexError(f"feedback store {path} is not a valid SQLite database: {exc}") from exc
        return cls(path, conn, keep_answers)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def record_answer(
        self,
        answer_id: str,
        *,
        question: str,
        answer: str,
        refused: bool,
        citations: list[dict[str, Any]],
        collection: str = "default",
    ) -> None:
        """Remember an answer so that feedback on it can be stored with its question, text and citations."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO answers(id, created_at, collection, question, answer, refused, citations)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (answer_id, time.time(), collection, question, answer, int(refused), json.dumps(citations)),
                )
                self._conn.execute(
                    "DELETE FROM answers WHERE id IN (SELECT a.id FROM answers a WHERE NOT EXISTS "
                    "(SELECT 1 FROM feedback f WHERE f.answer_id = a.id) ORDER BY a.created_at DESC LIMIT -1 OFFSET ?)",
                    (self.keep_answers,),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def answer(self, answer_id: str) -> AnswerRecord:
        """The remembered answer ``answer_id``; ``AnswerNotFoundError`` if this service never gave it."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, created_at, collection, question, answer, refused, citations FROM answers WHERE id = ?",
                (answer_id,),
            ).fetchone()
        if row is None:
            raise AnswerNotFoundError(f"no answer {answer_id!r}: feedback needs the id of an answer this service gave")
        return _answer(row)

    def add_feedback(self, answer_id: str, rating: Rating, comment: str = "") -> int:
        """Store feedback on a known answer; returns the feedback id."""
        if rating not in ("up", "down"):
            raise InvalidValueError(f"rating must be 'up' or 'down', got {rating!r}")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if self._conn.execute("SELECT 1 FROM answers WHERE id = ?", (answer_id,)).fetchone() is None:
                    raise AnswerNotFoundError(
                        f"no answer {answer_id!r}: feedback needs the id of an answer this service gave"
                    )
                cur = self._conn.execute(
                    "INSERT INTO feedback(answer_id, rating, comment, created_at) VALUES (?, ?, ?, ?)",
                    (answer_id, rating, comment, time.time()),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        log.info("feedback %s on answer %s", rating, answer_id)
        return int(cur.lastrowid or 0)

    def feedback(self, rating: Rating | None = None, collection: str | None = None) -> list[FeedbackRecord]:
        """Feedback in the order given, with its answer; only ``rating`` / ``collection`` when given."""
        sql = (
            "SELECT f.id, f.rating, f.comment, f.created_at, a.id, a.created_at, a.collection, a.question, a.answer, "
            "a.refused, a.citations FROM feedback f JOIN answers a ON a.id = f.answer_id WHERE 1"
        )
        params: list[Any] = []
        if rating is not None:
            sql += " AND f.rating = ?"
            params.append(rating)
        if collection is not None:
            sql += " AND a.collection = ?"
            params.append(collection)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY f.id", params).fetchall()
        return [FeedbackRecord(r[0], r[1], r[2], r[3], _answer(r[4:])) for r in rows]


def _answer(row: Any) -> AnswerRecord:
    return AnswerRecord(
        id=row[0],
        created_at=row[1],
        collection=row[2],
        question=row[3],
        answer=row[4],
        refused=bool(row[5]),
        citations=json.loads(row[6]),
    )
