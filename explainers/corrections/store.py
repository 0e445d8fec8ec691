"""Corrections on disk: one SQLite database in WAL mode, one short write transaction per record, schema versioned.

WAL lets an export (or the owner's status) read a consistent snapshot while visitors keep writing; synchronous=FULL
makes every committed record survive a crash of the process (kill -9) or of the machine. Each write opens its own
connection and takes SQLite's write lock at once (BEGIN IMMEDIATE), so threads and processes queue instead of
failing half-way; a process-wide lock keeps this process's writers from spinning on SQLite's busy timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import CorrectionError

SCHEMA_VERSION = 1
DB_NAME = "corrections.sqlite3"
# Far above what a Space collects between two fine-tunes; past it new corrections are refused, never old ones dropped.
MAX_RECORDS = int(os.environ.get("XAI_CORRECTIONS_MAX", "200000"))
BUSY_TIMEOUT_S = 30.0
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS corrections (
        id TEXT PRIMARY KEY,
        created TEXT NOT NULL,
        model_id TEXT NOT NULL,
        revision TEXT,
        weights_sha256 TEXT NOT NULL,
        task TEXT NOT NULL,
        prediction TEXT NOT NULL,
        answer TEXT NOT NULL,
        image_sha256 TEXT NOT NULL,
        image BLOB,
        image_ext TEXT,
        consent INTEGER NOT NULL,
        finetune_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS corrections_pending ON corrections (finetune_id)",
    """CREATE TABLE IF NOT EXISTS finetunes (
        id TEXT PRIMARY KEY,
        created TEXT NOT NULL,
        model_id TEXT NOT NULL,
        revision TEXT,
        figures TEXT NOT NULL
    )""",
)
_COLUMNS = (
    "id, created, model_id, revision, weights_sha256, task, prediction, answer, image_sha256, image, image_ext, "
    "consent, finetune_id"
)


def now() -> str:
    """UTC time as ISO 8601 with microseconds: sorts as text in the order records were made."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    """A random record id (uuid4, 32 hex digits)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Record:
    """One stored correction.

    Attributes:
        id: uuid4 hex, made when the record is.
        created: UTC ISO 8601 time.
        model_id: the model as the app named it ("default", "owner/name", a folder name).
        revision: the Hub commit sha, None for local models.
        weights_sha256: sha256 of model.safetensors: which weights made the prediction.
        task: the model's task kind.
        prediction: the model's own prediction (Prediction.to_dict()).
        answer: the visitor's answer (Answer.to_dict()).
        image_sha256: sha256 of the uploaded file; always kept.
        image: the image bytes, only with the visitor's consent.
        image_ext: the image's file suffix ("png", "jpg", "webp"), with the bytes.
        consent: whether the visitor agreed to keep the image.
        finetune_id: the fine-tune that used this correction; None while pending.
    """

    id: str
    created: str
    model_id: str
    revision: str | None
    weights_sha256: str
    task: str
    prediction: dict[str, Any]
    answer: dict[str, Any]
    image_sha256: str
    image: bytes | None = field(default=None, repr=False)
    image_ext: str | None = None
    consent: bool = False
    finetune_id: str | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready view without the image bytes (what the visitor gets back)."""
        return {
            "id": self.id,
            "created": self.created,
            "model": {"id": self.model_id, "revision": self.revision, "weights_sha256": self.weights_sha256},
            "prediction": self.prediction.get("decision"),
            "answer": self.answer,
            "image": {"sha256": self.image_sha256, "kept": self.image is not None},
        }


class CorrectionStore:
    """The SQLite file of corrections (and of the fine-tunes that used them) in a data folder."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        """Open (creating it if needed) the database in ``folder``.

        Raises:
            CorrectionError: the database was written by a newer version of this app.
        """
        self.folder = Path(folder).expanduser()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / DB_NAME
        self._write_lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # persistent: recorded in the file itself
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise CorrectionError(
                    f"{self.path} has schema version {version}, newer than this app's {SCHEMA_VERSION}; "
                    "update the app or point XAI_DATA_DIR elsewhere"
                )
            if version < SCHEMA_VERSION:
                with self._transaction(db):
                    for statement in _SCHEMA:
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _transaction(self, db: sqlite3.Connection) -> Iterator[None]:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def add(self, record: Record) -> Record:
        """Store one record in its own transaction; it is on disk when this returns.

        Raises:
            CorrectionError: the store already holds MAX_RECORDS corrections.
        """
        row = (
            record.id,
            record.created,
            record.model_id,
            record.revision,
            record.weights_sha256,
            record.task,
            json.dumps(record.prediction),
            json.dumps(record.answer),
            record.image_sha256,
            record.image,
            record.image_ext,
            int(record.consent),
            record.finetune_id,
        )
        with self._write_lock, self._connect() as db, self._transaction(db):
            count = db.execute("SELECT count(*) FROM corrections").fetchone()[0]
            if count >= MAX_RECORDS:
                raise CorrectionError(
                    f"the corrections store is full ({count} records); the owner must export and fine-tune first"
                )
            db.execute(f"INSERT INTO corrections ({_COLUMNS}) VALUES ({', '.join('?' * 13)})", row)
        return record

    def records(
        self, *, model_id: str | None = None, pending_only: bool = False, with_images: bool = True
    ) -> Iterator[Record]:
        """Every record, oldest first, from one consistent snapshot (writers go on meanwhile).

        Args:
            model_id: only this model's records.
            pending_only: only records no recorded fine-tune has used.
            with_images: False leaves the image bytes out (for counts and listings).
        """
        where, args = [], []
        if model_id is not None:
            where.append("model_id = ?")
            args.append(model_id)
        if pending_only:
            where.append("finetune_id IS NULL")
        columns = _COLUMNS if with_images else _COLUMNS.replace("image, ", "NULL, ")
        sql = (
            f"SELECT {columns} FROM corrections {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY created, id"
        )
        with self._connect() as db:
            db.execute("BEGIN")  # one read transaction: a snapshot of the WAL, however long the export takes
            try:
                for row in db.execute(sql, args):
                    yield _record(row)
            finally:
                db.execute("COMMIT")

    def get(self, record_id: str) -> Record | None:
        """The record with this id, or None."""
        with self._connect() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM corrections WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else _record(row)

    def count(self, *, pending_only: bool = False, model_id: str | None = None) -> int:
        """How many corrections are stored (or pending: not yet used by a recorded fine-tune), of one model or all."""
        where = (["finetune_id IS NULL"] if pending_only else []) + (["model_id = ?"] if model_id is not None else [])
        sql = "SELECT count(*) FROM corrections" + (f" WHERE {' AND '.join(where)}" if where else "")
        with self._connect() as db:
            return int(db.execute(sql, [] if model_id is None else [model_id]).fetchone()[0])

    def record_finetune(self, model_id: str, revision: str | None, figures: dict[str, Any], used: list[str]) -> str:
        """Remember a fine-tune (its figures) and mark the corrections it used; returns its id."""
        finetune_id = new_id()
        with self._write_lock, self._connect() as db, self._transaction(db):
            db.execute(
                "INSERT INTO finetunes (id, created, model_id, revision, figures) VALUES (?, ?, ?, ?, ?)",
                (finetune_id, now(), model_id, revision, json.dumps(figures)),
            )
            db.executemany("UPDATE corrections SET finetune_id = ? WHERE id = ?", [(finetune_id, i) for i in used])
        return finetune_id

    def last_finetune(self) -> dict[str, Any] | None:
        """The latest recorded fine-tune: id, created, model_id, revision and its figures; None if there was none."""
        with self._connect() as db:
            row = db.execute(
                "SELECT id, created, model_id, revision, figures FROM finetunes ORDER BY created DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "created": row[1], "model_id": row[2], "revision": row[3], "figures": json.loads(row[4])}

    def integrity(self) -> str:
        """SQLite's own check of the whole file: "ok" when sound."""
        with self._connect() as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def _record(row: tuple[Any, ...]) -> Record:
    return Record(
        id=row[0],
        created=row[1],
        model_id=row[2],
        revision=row[3],
        weights_sha256=row[4],
        task=row[5],
        prediction=json.loads(row[6]),
        answer=json.loads(row[7]),
        image_sha256=row[8],
        image=row[9],
        image_ext=row[10],
        consent=bool(row[11]),
        finetune_id=row[12],
    )
