"""Lost or damaged data is said, never served as success (issue 10, point 4).

A result file that is missing, cut short or fails its checksum answers DATA_LOSS with the job id,
and the job says so from then on. A data folder whose database is missing, replaced or corrupt, or
that cannot be written, stops `inkmotion serve` at start with one line. A database that goes bad
while serving turns health NOT_SERVING.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness import ServerProcess, inbetween_request
from inkmotion.client import Client, InkMotionError
from inkmotion.jobs import FAILED, IDENTITY_FILE, DataDirError, JobStore, ResultLost, open_data_dir
from inkmotion.v1 import drawing_pb2, jobs_pb2, tasks_pb2

INBETWEEN = tasks_pb2.TASK_INBETWEEN
KEYFRAMES = [b"first keyframe " * 40, b"second keyframe " * 40, b"third keyframe " * 40]


def _succeeded(store: JobStore) -> str:
    job = store.create("ann", INBETWEEN, b"request")
    store.mark_running(job.id, "cpu")
    assert store.save_result(job.id, drawing_pb2.AnimationInfo(keyframe_count=len(KEYFRAMES)), KEYFRAMES)
    return job.id


def _read_all(store: JobStore, job_id: str) -> list[bytes]:
    return list(store.keyframes(job_id))


# -- the store: each kind of damage is caught where it is --------------------------------------

def test_an_intact_result_reads_back_whole(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    assert _read_all(store, _succeeded(store)) == KEYFRAMES


def test_a_missing_result_file_is_lost(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    job_id = _succeeded(store)
    store.result_path(job_id).unlink()
    with pytest.raises(ResultLost, match=f"job {job_id}.*is missing"):
        _read_all(store, job_id)


def test_a_truncated_result_file_is_lost(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    job_id = _succeeded(store)
    path = store.result_path(job_id)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ResultLost, match="bytes, written as"):
        _read_all(store, job_id)


def test_a_flipped_byte_fails_the_checksum_of_its_keyframe(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    job_id = _succeeded(store)
    path = store.result_path(job_id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20  # inside the second keyframe; the size is unchanged
    path.write_bytes(bytes(data))
    with store.open_result(job_id) as reader:
        assert reader.next()[1] == KEYFRAMES[0], "the keyframes before the damage are good"
        with pytest.raises(ResultLost, match="keyframe 1 fails its checksum"):
            reader.next()


def test_a_lost_result_marks_the_job_failed_with_why(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    job_id = _succeeded(store)
    store.mark_lost(job_id, "it went")
    job = store.get(job_id)
    assert job.state == FAILED and job.message == "result lost" and "it went" in job.error


# -- the data folder: refused at start, in one line --------------------------------------------

def _store_with_a_result(folder: Path) -> str:
    store = open_data_dir(folder)
    job_id = _succeeded(store)
    store.close()
    return job_id


def test_a_data_folder_opens_again_as_itself(tmp_path):
    job_id = _store_with_a_result(tmp_path / "data")
    store = open_data_dir(tmp_path / "data")
    assert _read_all(store, job_id) == KEYFRAMES
    assert (tmp_path / "data" / IDENTITY_FILE).read_text().strip() == store.meta("identity")


def _missing(folder: Path) -> None:
    for name in ("jobs.sqlite3", "jobs.sqlite3-wal", "jobs.sqlite3-shm"):
        (folder / name).unlink(missing_ok=True)


def _replaced(folder: Path) -> None:
    _missing(folder)
    other = folder.parent / "other"
    open_data_dir(other).close()
    (folder / "jobs.sqlite3").write_bytes((other / "jobs.sqlite3").read_bytes())


def _corrupt(folder: Path) -> None:
    with sqlite3.connect(folder / "jobs.sqlite3") as db:  # fold the WAL in, so the damage is in the file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = folder / "jobs.sqlite3"
    data = bytearray(path.read_bytes())
    data[4096:8192] = os.urandom(4096)  # a page of the jobs table; the header stays readable
    path.write_bytes(bytes(data))


def _garbage(folder: Path) -> None:
    _missing(folder)
    (folder / "jobs.sqlite3").write_bytes(b"this is not a database" * 300)


DAMAGE = {
    "missing": (_missing, "jobs.sqlite3 is missing but the folder holds the rest of an earlier store"),
    "replaced": (_replaced, "is not this folder's database"),
    "corrupt": (_corrupt, "jobs.sqlite3 is corrupt"),
    "not a database": (_garbage, "jobs.sqlite3 is corrupt (quick_check: file is not a database)"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_data_folder_is_refused_not_started_afresh(tmp_path, damage):
    folder = tmp_path / "data"
    _store_with_a_result(folder)
    harm, said = DAMAGE[damage]
    harm(folder)
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(DataDirError, match=re.escape(said)):
        open_data_dir(folder).close()
    assert sorted(p.name for p in folder.iterdir()) == before, "a refused folder is left as it was"


def test_a_folder_that_cannot_be_written_is_refused(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(DataDirError, match="cannot write there"):
        open_data_dir(tmp_path / "a-file" / "data")


def _serve(data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inkmotion.cli", "serve", "--port", "0", "--device", "cpu", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("damage", ["replaced", "corrupt"])
def test_serve_stops_at_a_damaged_data_folder_in_one_line(tmp_path, damage):
    folder = tmp_path / "data"
    _store_with_a_result(folder)
    DAMAGE[damage][0](folder)
    result = _serve(folder)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("inkmotion serve: ")]
    assert len(lines) == 1 and lines[0].startswith(f"inkmotion serve: data dir {folder}: "), result.stderr
    assert DAMAGE[damage][1] in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_stops_at_a_folder_it_cannot_write(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = _serve(tmp_path / "a-file" / "data")
    assert result.returncode == 1
    assert f"inkmotion serve: data dir {tmp_path / 'a-file' / 'data'}: cannot write there" in result.stderr
    assert "Traceback" not in result.stderr


# -- a real server -----------------------------------------------------------------------------

def _finished_job(client: Client, vector_sketches) -> str:
    job = client.submit(inbetween_request(vector_sketches[0], vector_sketches[1], frames=5))
    assert client.wait(job.id).state == jobs_pb2.JOB_STATE_SUCCEEDED
    return job.id


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("harm", [Path.unlink, _cut, _flip], ids=["deleted", "truncated", "bit flipped"])
def test_a_lost_result_answers_data_loss_and_the_job_says_so(tmp_path, vector_sketches, harm):
    with ServerProcess(tmp_path / "data") as server, Client(server.address) as client:
        job_id = _finished_job(client, vector_sketches)
        assert len(client.result(job_id).keyframes) == 5
        harm(tmp_path / "data" / "results" / f"{job_id}.keyframes")
        with pytest.raises(InkMotionError) as info:
            client.result(job_id)
        assert info.value.code == "DATA_LOSS" and job_id in info.value.message
        job = client.job(job_id)
        assert job.state == jobs_pb2.JOB_STATE_FAILED and "result is lost" in job.error
        with pytest.raises(InkMotionError) as info:
            client.result(job_id)
        assert info.value.code == "FAILED_PRECONDITION" and "result is lost" in info.value.message


def _health(address: str) -> int:
    with grpc.insecure_channel(address) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def test_a_database_that_goes_bad_while_serving_turns_health_not_serving(tmp_path, vector_sketches):
    with ServerProcess(tmp_path / "data") as server, Client(server.address) as client:
        _finished_job(client, vector_sketches)
        assert _health(server.address) == health_pb2.HealthCheckResponse.SERVING
        # Another program rewrites the schema under the server (what a damaged page does to it).
        with sqlite3.connect(tmp_path / "data" / "jobs.sqlite3", isolation_level=None) as other:
            version = other.execute("PRAGMA schema_version").fetchone()[0]
            other.execute("PRAGMA writable_schema = ON")
            other.execute("UPDATE sqlite_master SET sql = 'CREATE TABLE jobs (broken' WHERE name = 'jobs'")
            other.execute(f"PRAGMA schema_version = {version + 1}")
        deadline = time.monotonic() + 15  # the watchdog reads every 2 s even when nobody calls
        while _health(server.address) != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "health still SERVING 15 s after the database went bad\n" + server.log
            time.sleep(0.2)
        with pytest.raises(InkMotionError) as info:
            list(client.jobs())
        assert info.value.code == "UNAVAILABLE" and "job store is unavailable" in info.value.message
        assert "malformed database schema" in server.log
