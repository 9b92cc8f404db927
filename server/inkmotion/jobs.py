"""The job store: every job, its request and its progress in SQLite, its result in a file beside it.

Results are files of length-delimited `inkmotion.v1.Keyframe` messages (`results/<id>.keyframes`),
each followed by the CRC-32 of its bytes, written whole, flushed to disk and renamed into place
before the job is marked succeeded (the row records the file's size). `GetJob` streams a result
back record by record without re-encoding it, checking each CRC on the way: a file that went
missing or was damaged is reported as lost (`ResultLost`), never served as a success.

The data folder has an identity, written into the database and into a file beside it when the
store is made (`open_data_dir`): a database deleted or swapped under results that are still there,
a corrupt database or a folder that cannot be written stops the server at start with one line.

A job is written before it is acknowledged and its result before it is reported finished, so a
client that disconnects, or a server that is killed, loses nothing: on start, `recover()` puts jobs
that were running back in the queue once, and marks them interrupted if they were already retried.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from google.protobuf.timestamp_pb2 import Timestamp

from inkmotion.v1 import drawing_pb2, jobs_pb2, tasks_pb2

log = logging.getLogger("inkmotion.jobs")

QUEUED = jobs_pb2.JOB_STATE_QUEUED
RUNNING = jobs_pb2.JOB_STATE_RUNNING
SUCCEEDED = jobs_pb2.JOB_STATE_SUCCEEDED
FAILED = jobs_pb2.JOB_STATE_FAILED
CANCELLED = jobs_pb2.JOB_STATE_CANCELLED
INTERRUPTED = jobs_pb2.JOB_STATE_INTERRUPTED
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, INTERRUPTED})

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT UNIQUE NOT NULL,
    owner        TEXT NOT NULL,
    task         INTEGER NOT NULL,
    state        INTEGER NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    label        TEXT NOT NULL DEFAULT '',
    model        TEXT NOT NULL DEFAULT '',
    device       TEXT NOT NULL DEFAULT '',
    progress     REAL NOT NULL DEFAULT 0,
    step         INTEGER NOT NULL DEFAULT 0,
    total_steps  INTEGER NOT NULL DEFAULT 0,
    message      TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   REAL NOT NULL,
    started_at   REAL,
    finished_at  REAL,
    request      BLOB NOT NULL,
    result_info  BLOB
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, priority, seq);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Columns added since the first schema: (name, declaration). Older stores get them on open.
ADDED_COLUMNS = (
    ("request_id", "TEXT NOT NULL DEFAULT ''"),  # the client's idempotency key ('' for none)
    ("result_bytes", "INTEGER"),  # size of the result file as written
    ("result_format", "INTEGER NOT NULL DEFAULT 1"),  # 1: records only; 2: each with its CRC-32
    ("task_name", "TEXT NOT NULL DEFAULT ''"),  # a plugin task's name ('': the name of `task`)
    ("warnings", "TEXT NOT NULL DEFAULT ''"),  # said at submission, one per line
)
RESULT_FORMAT = 2
IDENTITY_FILE = "store-identity"

_COLUMNS = (
    "seq, id, owner, task, state, priority, label, model, device, progress, step, total_steps, "
    "message, error, attempts, created_at, started_at, finished_at, result_info, task_name, warnings"
)


def _timestamp(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


@dataclass
class JobRecord:
    seq: int
    id: str
    owner: str
    task: int
    state: int
    priority: int
    label: str
    model: str
    device: str
    progress: float
    step: int
    total_steps: int
    message: str
    error: str
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    result_info: bytes | None
    task_name: str = ""
    warnings: str = ""  # one per line

    @property
    def name(self) -> str:
        """The task's one name: a plugin task's own, else TASK_<NAME> of the contract, lower-cased."""
        return self.task_name or tasks_pb2.Task.Name(self.task).removeprefix("TASK_").lower()

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def to_proto(self, queue_position: int = 0) -> jobs_pb2.Job:
        job = jobs_pb2.Job(
            id=self.id,
            owner=self.owner,
            task=self.task,
            task_name=self.name,
            state=self.state,
            progress=self.progress,
            step=self.step,
            total_steps=self.total_steps,
            message=self.message,
            error=self.error,
            created_at=_timestamp(self.created_at),
            started_at=_timestamp(self.started_at),
            finished_at=_timestamp(self.finished_at),
            queue_position=queue_position,
            model=self.model,
            device=self.device,
            priority=self.priority,
            label=self.label,
            attempts=self.attempts,
            warnings=self.warnings.splitlines(),
        )
        if self.result_info:
            job.result.ParseFromString(self.result_info)
        return job


class StoreFailure(RuntimeError):
    """The database failed under the server (corrupt, unreadable, disk gone)."""


class ResultLost(RuntimeError):
    """A succeeded job's result file is missing or damaged."""

    def __init__(self, job_id: str, problem: str):
        self.job_id = job_id
        self.problem = problem
        super().__init__(f"job {job_id}: its result is lost ({problem}); submit the job again")


class DuplicateRequest(Exception):
    """A submission reused a request id: `job` is the job it made the first time."""

    def __init__(self, job: JobRecord):
        self.job = job


class JobStore:
    """SQLite-backed; safe to call from the event loop and from worker threads.

    `on_failure(message)` is called (once) when the database fails while in use; that call and
    every later one raise StoreFailure, so a broken store is said, not papered over."""

    def __init__(self, path: Path | str, on_failure=None):
        self.path = Path(path)
        self.results = self.path.parent / "results"
        self.results.mkdir(parents=True, exist_ok=True)
        self.failure: str | None = None
        self.on_failure = on_failure
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for name, declaration in ADDED_COLUMNS:
                if name not in have:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {declaration}")
            self._db.execute(
                "CREATE UNIQUE INDEX IF NOT EXISTS jobs_request_id ON jobs (owner, request_id) WHERE request_id != ''")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, args: Iterable = ()) -> sqlite3.Cursor:
        """Run one statement under the lock; a failing database is recorded and reported."""
        if self.failure is not None:
            raise StoreFailure(self.failure)
        try:
            with self._lock:
                return self._db.execute(sql, tuple(args))
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.DatabaseError as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            raise StoreFailure(self.failure) from None

    def _failed(self, message: str) -> None:
        if self.failure is None:
            self.failure = f"the job database {self.path} failed: {message}"
            log.error("%s", self.failure)
            if self.on_failure is not None:
                self.on_failure(self.failure)

    def check(self) -> None:
        """Reads that fail (and record the failure) once the database has gone bad."""
        self._execute("SELECT COUNT(*) FROM meta").fetchone()
        self._execute("SELECT MAX(seq), COUNT(*) FROM jobs WHERE state IN (?, ?)", (QUEUED, RUNNING)).fetchone()

    def meta(self, key: str) -> str | None:
        row = self._execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _one(self, sql: str, args: Iterable = ()) -> JobRecord | None:
        row = self._execute(f"SELECT {_COLUMNS} FROM jobs {sql}", args).fetchone()
        return JobRecord(*row) if row else None

    def _many(self, sql: str, args: Iterable = ()) -> list[JobRecord]:
        rows = self._execute(f"SELECT {_COLUMNS} FROM jobs {sql}", args).fetchall()
        return [JobRecord(*row) for row in rows]

    def _update(self, job_id: str, where_state: Iterable[int] | None = None, **values) -> bool:
        sets = ", ".join(f"{k} = ?" for k in values)
        sql = f"UPDATE jobs SET {sets} WHERE id = ?"
        args = [*values.values(), job_id]
        if where_state is not None:
            states = list(where_state)
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args += states
        return self._execute(sql, args).rowcount == 1

    # -- creating and reading ---------------------------------------------------------------

    def create(self, owner: str, task: int, request: bytes, *, priority: int = 0, label: str = "", model: str = "",
               request_id: str = "", task_name: str = "", warnings: Iterable[str] = ()) -> JobRecord:
        """Store a queued job. A `request_id` the owner used before raises DuplicateRequest,
        which carries the job that id made."""
        job_id = uuid.uuid4().hex
        try:
            self._execute(
                "INSERT INTO jobs (id, owner, task, state, priority, label, model, created_at, request, message,"
                " request_id, task_name, warnings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                (job_id, owner, task, QUEUED, priority, label, model, time.time(), request, request_id, task_name,
                 "\n".join(w.replace("\n", " ") for w in warnings)),
            )
        except sqlite3.IntegrityError:
            existing = self.by_request_id(owner, request_id) if request_id else None
            if existing is None:
                raise
            raise DuplicateRequest(existing) from None
        return self.get(job_id)

    def by_request_id(self, owner: str, request_id: str) -> JobRecord | None:
        return self._one("WHERE owner = ? AND request_id = ?", (owner, request_id))

    def get(self, job_id: str) -> JobRecord | None:
        return self._one("WHERE id = ?", (job_id,))

    def request(self, job_id: str) -> bytes:
        return self._execute("SELECT request FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]

    def list(self, owner: str | None, states: Iterable[int] = (), limit: int = 50, before_seq: int | None = None) -> list[JobRecord]:
        where, args = [], []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        states = list(states)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args += states
        if before_seq is not None:
            where.append("seq < ?")
            args.append(before_seq)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        return self._many(f"{clause}ORDER BY seq DESC LIMIT ?", [*args, limit])

    def queued(self) -> list[JobRecord]:
        """Queued jobs, oldest first (the scheduler decides the order they run in)."""
        return self._many("WHERE state = ? ORDER BY seq ASC", (QUEUED,))

    def last_starts(self) -> dict[str, float]:
        """When each user's latest job started: where the fair queue takes up after a restart."""
        rows = self._execute("SELECT owner, MAX(started_at) FROM jobs WHERE started_at IS NOT NULL GROUP BY owner")
        return {owner: started for owner, started in rows.fetchall()}

    # -- state changes (each returns False when the job was not in a state that allows it) ----

    def mark_running(self, job_id: str, device: str) -> bool:
        return self._execute(
            "UPDATE jobs SET state = ?, device = ?, started_at = ?, attempts = attempts + 1,"
            " message = 'started', progress = 0, step = 0 WHERE id = ? AND state = ?",
            (RUNNING, device, time.time(), job_id, QUEUED),
        ).rowcount == 1

    def set_progress(self, job_id: str, progress: float, step: int, total: int, message: str) -> None:
        self._update(job_id, (RUNNING,), progress=progress, step=step, total_steps=total, message=message)

    def result_path(self, job_id: str) -> Path:
        return self.results / f"{job_id}.keyframes"

    def save_result(self, job_id: str, info: drawing_pb2.AnimationInfo, keyframes: Iterable[bytes]) -> bool:
        """Write the keyframes (each with its CRC-32), then mark the job succeeded if it is still
        running."""
        final = self.result_path(job_id)
        partial = final.with_suffix(".partial")
        size = 0
        with open(partial, "wb") as out:
            for data in keyframes:
                record = encode_varint(len(data)) + data + zlib.crc32(data).to_bytes(4, "little")
                out.write(record)
                size += len(record)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
        ok = self._update(job_id, (RUNNING,), state=SUCCEEDED, progress=1.0, message="finished",
                          finished_at=time.time(), result_info=info.SerializeToString(),
                          result_bytes=size, result_format=RESULT_FORMAT)
        if not ok:  # cancelled or interrupted meanwhile: the result does not count
            final.unlink(missing_ok=True)
        return ok

    def finish(self, job_id: str, state: int, error: str = "", message: str = "", from_states: Iterable[int] = (QUEUED, RUNNING)) -> bool:
        return self._update(job_id, from_states, state=state, error=error, message=message or _STATE_WORDS[state], finished_at=time.time())

    def requeue(self, job_id: str, message: str) -> bool:
        """A running job goes back in the queue (the server stopped under it)."""
        return self._update(job_id, (RUNNING,), state=QUEUED, progress=0, step=0, device="", message=message)

    def mark_lost(self, job_id: str, problem: str) -> None:
        """A succeeded job whose result went missing or bad: it says so from now on."""
        self._update(job_id, (SUCCEEDED,), state=FAILED, message="result lost",
                     error=f"its result is lost ({problem}); submit the job again")

    def open_result(self, job_id: str) -> "ResultReader":
        """A reader of a succeeded job's stored keyframes. Raises ResultLost if the file is gone
        or is not the size it was written at."""
        row = self._execute("SELECT result_bytes, result_format, result_info FROM jobs WHERE id = ?", (job_id,)).fetchone()
        size, form, info = row if row else (None, 1, None)
        path = self.result_path(job_id)
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            raise ResultLost(job_id, f"{path.name} is missing from {self.results}") from None
        except OSError as exc:
            raise ResultLost(job_id, f"{path.name} cannot be read: {exc.strerror}") from None
        actual = os.fstat(handle.fileno()).st_size
        if size is not None and actual != size:
            handle.close()
            raise ResultLost(job_id, f"{path.name} is {actual} bytes, written as {size}")
        expected = drawing_pb2.AnimationInfo.FromString(info).keyframe_count if info else None
        return ResultReader(job_id, handle, checked=form >= 2, expected=expected)

    def keyframes(self, job_id: str) -> Iterator[bytes]:
        """Each stored keyframe, a serialized `inkmotion.v1.Keyframe` (ResultLost if damaged)."""
        with self.open_result(job_id) as reader:
            while (record := reader.next()) is not None:
                yield record[1]

    def recover(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """After a restart: jobs left running go back in the queue, or are marked interrupted
        once they have had `max_attempts` starts. Returns (requeued ids, interrupted ids)."""
        requeued, interrupted = [], []
        for job in self._many("WHERE state = ?", (RUNNING,)):
            if job.attempts < max_attempts:
                self.requeue(job.id, f"re-queued: the server stopped during attempt {job.attempts}")
                requeued.append(job.id)
            else:
                self._update(job.id, (RUNNING,), state=INTERRUPTED, finished_at=time.time(),
                             error=f"the server stopped while the job ran ({job.attempts} attempts)",
                             message="interrupted")
                interrupted.append(job.id)
        return requeued, interrupted


class ResultReader:
    """A stored result, one record at a time (a slow reader holds one keyframe, not the file).

    `next()` returns (the record as it lies in the file: varint length + message, the message)
    or None at the end; a bad CRC, a truncated record or a wrong count raises ResultLost."""

    def __init__(self, job_id: str, handle, checked: bool, expected: int | None):
        self.job_id = job_id
        self._file = handle
        self._checked = checked
        self._expected = expected
        self._count = 0

    def next(self) -> tuple[bytes, bytes] | None:
        head = self._file.read(10)
        if not head:
            if self._expected is not None and self._count != self._expected:
                raise ResultLost(self.job_id, f"the file holds {self._count} of {self._expected} keyframes")
            return None
        try:
            length, start = decode_varint(head, 0)
        except ValueError:
            raise ResultLost(self.job_id, f"keyframe {self._count} is truncated") from None
        self._file.seek(start - len(head), os.SEEK_CUR)
        body = self._file.read(length)
        if len(body) != length:
            raise ResultLost(self.job_id, f"keyframe {self._count} is truncated")
        if self._checked:
            crc = self._file.read(4)
            if len(crc) != 4 or int.from_bytes(crc, "little") != zlib.crc32(body):
                raise ResultLost(self.job_id, f"keyframe {self._count} fails its checksum")
        self._count += 1
        return head[:start] + body, body

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ResultReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- the data folder --------------------------------------------------------------------------

class DataDirError(Exception):
    """The data folder cannot be used as it is; the message says why and what to do."""

    def __init__(self, folder: Path, problem: str):
        self.folder = folder
        self.problem = problem
        super().__init__(f"data dir {folder}: {problem}")


def open_data_dir(folder: Path | str, on_failure=None) -> JobStore:
    """The job store of a data folder, once it is known to be the folder's own and sound."""
    folder = Path(folder)
    database, identity_file, results = folder / "jobs.sqlite3", folder / IDENTITY_FILE, folder / "results"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataDirError(folder, f"cannot write there ({exc.strerror}); give --data-dir a folder this user can write") from None

    fresh = not database.exists()
    if fresh:
        leftovers = sum(1 for _ in results.glob("*.keyframes")) if results.is_dir() else 0
        if identity_file.exists() or leftovers:
            raise DataDirError(
                folder,
                f"jobs.sqlite3 is missing but the folder holds the rest of an earlier store ({leftovers} result "
                "file(s)): restore the database from a backup, or move the folder away to start afresh",
            )
    try:
        if not fresh:
            probe_db = sqlite3.connect(f"file:{database}?mode=rw", uri=True)
            try:
                verdict = [row[0] for row in probe_db.execute("PRAGMA quick_check").fetchall()]
            except sqlite3.DatabaseError as exc:  # too damaged to check at all
                verdict = [str(exc)]
            finally:
                probe_db.close()
            if verdict != ["ok"]:
                raise DataDirError(folder, f"jobs.sqlite3 is corrupt (quick_check: {'; '.join(verdict[:3])}); "
                                           "restore it from a backup, or move it away to start afresh")
        store = JobStore(database, on_failure=on_failure)
        identity = store.meta("identity")
    except sqlite3.DatabaseError as exc:
        raise DataDirError(folder, f"jobs.sqlite3 cannot be read ({exc}); restore it from a backup, "
                                   "or move it away to start afresh") from None
    except StoreFailure as exc:
        raise DataDirError(folder, f"{exc}; restore it from a backup, or move it away to start afresh") from None

    written = identity_file.read_text().strip() if identity_file.exists() else None
    if identity is None and written is None:  # a new store, or one from before identities
        identity = uuid.uuid4().hex
        store.set_meta("identity", identity)
        identity_file.write_text(identity + "\n")
    elif identity != written:
        store.close()
        raise DataDirError(
            folder,
            f"jobs.sqlite3 (identity {identity or 'none'}) is not this folder's database ({IDENTITY_FILE} says "
            f"{written or 'nothing'}): it was replaced; put the right one back, or move the folder away",
        )
    return store


_STATE_WORDS = {
    QUEUED: "queued",
    RUNNING: "running",
    SUCCEEDED: "finished",
    FAILED: "failed",
    CANCELLED: "cancelled",
    INTERRUPTED: "interrupted",
}


def state_word(state: int) -> str:
    return _STATE_WORDS.get(state, "unknown")


def encode_varint(value: int) -> bytes:
    """Protobuf base-128 varint."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); ValueError if `data` ends inside it or it runs past 64 bits."""
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated or corrupt")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
