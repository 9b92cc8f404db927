"""The job store: every job, its request and its progress in SQLite, its result in a file beside it.

Results are files of length-delimited `inkmotion.v1.Keyframe` messages (`results/<id>.keyframes`),
written whole and renamed into place before the job is marked succeeded: a multi-megabyte result
costs one sequential write, and `GetJob` streams it back without re-encoding.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from google.protobuf.timestamp_pb2 import Timestamp

from inkmotion.v1 import drawing_pb2, jobs_pb2

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
"""

_COLUMNS = (
    "seq, id, owner, task, state, priority, label, model, device, progress, step, total_steps, "
    "message, error, attempts, created_at, started_at, finished_at, result_info"
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

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def to_proto(self, queue_position: int = 0) -> jobs_pb2.Job:
        job = jobs_pb2.Job(
            id=self.id,
            owner=self.owner,
            task=self.task,
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
        )
        if self.result_info:
            job.result.ParseFromString(self.result_info)
        return job


class JobStore:
    """SQLite-backed; safe to call from the event loop and from worker threads."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.results = self.path.parent / "results"
        self.results.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _one(self, sql: str, args: Iterable = ()) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs {sql}", tuple(args)).fetchone()
        return JobRecord(*row) if row else None

    def _many(self, sql: str, args: Iterable = ()) -> list[JobRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM jobs {sql}", tuple(args)).fetchall()
        return [JobRecord(*row) for row in rows]

    def _update(self, job_id: str, where_state: Iterable[int] | None = None, **values) -> bool:
        sets = ", ".join(f"{k} = ?" for k in values)
        sql = f"UPDATE jobs SET {sets} WHERE id = ?"
        args = [*values.values(), job_id]
        if where_state is not None:
            states = list(where_state)
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args += states
        with self._lock:
            return self._db.execute(sql, args).rowcount == 1

    # -- creating and reading ---------------------------------------------------------------

    def create(self, owner: str, task: int, request: bytes, *, priority: int = 0, label: str = "", model: str = "") -> JobRecord:
        job_id = uuid.uuid4().hex
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, owner, task, state, priority, label, model, created_at, request, message)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued')",
                (job_id, owner, task, QUEUED, priority, label, model, time.time(), request),
            )
        return self.get(job_id)

    def get(self, job_id: str) -> JobRecord | None:
        return self._one("WHERE id = ?", (job_id,))

    def request(self, job_id: str) -> bytes:
        with self._lock:
            return self._db.execute("SELECT request FROM jobs WHERE id = ?", (job_id,)).fetchone()[0]

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
        """Queued jobs in the order they run: higher priority first, then first come."""
        return self._many("WHERE state = ? ORDER BY priority DESC, seq ASC", (QUEUED,))

    def queue_position(self, job: JobRecord) -> int:
        with self._lock:
            (ahead,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = ? AND (priority > ? OR (priority = ? AND seq < ?))",
                (QUEUED, job.priority, job.priority, job.seq),
            ).fetchone()
        return ahead

    # -- state changes (each returns False when the job was not in a state that allows it) ----

    def mark_running(self, job_id: str, device: str) -> bool:
        with self._lock:
            ok = self._db.execute(
                "UPDATE jobs SET state = ?, device = ?, started_at = ?, attempts = attempts + 1,"
                " message = 'started', progress = 0, step = 0 WHERE id = ? AND state = ?",
                (RUNNING, device, time.time(), job_id, QUEUED),
            ).rowcount == 1
        return ok

    def set_progress(self, job_id: str, progress: float, step: int, total: int, message: str) -> None:
        self._update(job_id, (RUNNING,), progress=progress, step=step, total_steps=total, message=message)

    def result_path(self, job_id: str) -> Path:
        return self.results / f"{job_id}.keyframes"

    def save_result(self, job_id: str, info: drawing_pb2.AnimationInfo, keyframes: Iterable[bytes]) -> bool:
        """Write the keyframes, then mark the job succeeded (only if it is still running)."""
        final = self.result_path(job_id)
        partial = final.with_suffix(".partial")
        with open(partial, "wb") as out:
            for data in keyframes:
                out.write(encode_varint(len(data)))
                out.write(data)
        os.replace(partial, final)
        ok = self._update(job_id, (RUNNING,), state=SUCCEEDED, progress=1.0, message="finished",
                          finished_at=time.time(), result_info=info.SerializeToString())
        if not ok:  # cancelled or interrupted meanwhile: the result does not count
            final.unlink(missing_ok=True)
        return ok

    def finish(self, job_id: str, state: int, error: str = "", message: str = "", from_states: Iterable[int] = (QUEUED, RUNNING)) -> bool:
        return self._update(job_id, from_states, state=state, error=error, message=message or _STATE_WORDS[state], finished_at=time.time())

    def _result_records(self, job_id: str) -> Iterator[tuple[bytes, int, int, int]]:
        """(file contents, record start, message start, end) for each stored keyframe."""
        try:
            data = self.result_path(job_id).read_bytes()
        except FileNotFoundError:
            return
        pos = 0
        while pos < len(data):
            length, body = decode_varint(data, pos)
            yield data, pos, body, body + length
            pos = body + length

    def keyframes(self, job_id: str) -> Iterator[bytes]:
        """Each stored keyframe, a serialized `inkmotion.v1.Keyframe`."""
        for data, _, body, end in self._result_records(job_id):
            yield data[body:end]

    def delimited_keyframes(self, job_id: str) -> Iterator[bytes]:
        """Each stored keyframe with its varint length in front, as it lies in the file."""
        for data, start, _, end in self._result_records(job_id):
            yield data[start:end]

    def recover(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """After a restart: jobs left running go back in the queue, or are marked interrupted
        once they have had `max_attempts` starts. Returns (requeued ids, interrupted ids)."""
        requeued, interrupted = [], []
        for job in self._many("WHERE state = ?", (RUNNING,)):
            if job.attempts < max_attempts:
                self._update(job.id, (RUNNING,), state=QUEUED, progress=0, step=0, device="",
                             message=f"re-queued: the server stopped during attempt {job.attempts}")
                requeued.append(job.id)
            else:
                self._update(job.id, (RUNNING,), state=INTERRUPTED, finished_at=time.time(),
                             error=f"the server stopped while the job ran ({job.attempts} attempts)",
                             message="interrupted")
                interrupted.append(job.id)
        return requeued, interrupted


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
    """(value, position after it)."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint in a result file")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
