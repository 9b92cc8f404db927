"""The CLI against a real server on the real sketches, including a SIGKILL in the middle of a job."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from harness import PLUGINS, ServerProcess, inbetween_request
from inkmotion.client import Client
from inkmotion.codec.svg import read_svg
from inkmotion.v1 import jobs_pb2

pytestmark = pytest.mark.slow


def inkmotion(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "inkmotion.cli", *args], capture_output=True, text=True, timeout=timeout, env=env)


def svg_frames(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.svg"))


def test_cli_against_a_server_survives_a_kill_and_restart(tmp_path, vector_sketches):
    data = tmp_path / "data"
    start, end = vector_sketches[13], vector_sketches[14]

    server = ServerProcess(data).start()
    try:
        # 1. A whole job through the CLI: a folder of SVG frames, named by frame number.
        run = inkmotion("animate", "inbetween", str(start), str(end), "--frames", "9", "--server", server.address,
                        "-o", f"{tmp_path}/frames/")
        assert run.returncode == 0, run.stderr
        frames = svg_frames(tmp_path / "frames")
        assert [p.stem for p in frames] == [f"{i:04d}" for i in range(1, 10)]
        first, last = read_svg(frames[0]), read_svg(frames[-1])
        assert len(first.strokes) == len(read_svg(start).strokes) and len(last.strokes) == len(read_svg(end).strokes)
        cli_job = run.stderr.split("job ", 1)[1].split()[0]

        # 2. A preview of the same task.
        run = inkmotion("animate", "inbetween", str(start), str(end), "--frames", "6", "--server", server.address,
                        "-o", str(tmp_path / "preview.gif"))
        assert run.returncode == 0, run.stderr
        assert Image.open(tmp_path / "preview.gif").n_frames == 6

        # 3. Jobs in flight when the server dies: one running, two queued.
        client = Client(server.address)
        running = client.submit(inbetween_request(start, end, frames=40, model="test-slow"), label="running")
        queued = [client.submit(inbetween_request(end, start, frames=5, model="test-slow"), label=f"queued {i}") for i in range(2)]
        deadline = time.monotonic() + 30
        while client.job(running.id).step < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.close()
        server.kill()
    finally:
        server.stop()

    with ServerProcess(data) as server:
        client = Client(server.address)
        jobs = {j.id: j for j in client.jobs()}
        assert {cli_job, running.id, *(q.id for q in queued)} <= set(jobs), "every job is still known"
        assert len(jobs) == 5
        assert jobs[running.id].state in (jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING), "re-queued, not lost"
        for job in (running, *queued):
            assert client.wait(job.id).state == jobs_pb2.JOB_STATE_SUCCEEDED
        assert len(client.result(running.id).keyframes) == 40

        # 4. The result from before the kill is served as it was.
        run = inkmotion("jobs", "result", cli_job, "-o", f"{tmp_path}/again/", "--server", server.address)
        assert run.returncode == 0, run.stderr
        again = svg_frames(tmp_path / "again")
        assert [p.read_text() for p in again] == [p.read_text() for p in frames]

        listing = inkmotion("jobs", "list", "--server", server.address)
        assert listing.returncode == 0 and all(j in listing.stdout for j in jobs)
        assert "re-queued" in server.log or "attempt 2" in server.log


def test_cli_in_process_writes_frames(tmp_path, vector_sketches):
    run = inkmotion("animate", "inbetween", str(vector_sketches[15]), str(vector_sketches[16]), "--frames", "5",
                    "--easing", "linear", "-o", f"{tmp_path}/out/")
    assert run.returncode == 0, run.stderr
    assert len(svg_frames(tmp_path / "out")) == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["animate", "inbetween", "missing.svg", "also-missing.svg", "-o", "out/"], "missing.svg: no such file"),
        (["animate", "inbetween", "{svg}", "-o", "out/"],
         "the following arguments are required: END (see `inkmotion animate inbetween --help`)"),
        (["animate", "inbetween", "{svg}", "{svg}", "--frames", "1", "-o", "out/"], "inbetween.frames: 1 is under the minimum of 2"),
        (["animate", "inbetween", "{svg}", "{svg}", "-o", "out.avi"], "output:"),
        (["animate", "path_motion", "{svg}", "{png}", "-o", "out/"], ".png: not an SVG file"),  # the path is a stroke
        (["animate", "video_motion", "{svg}", "{png}", "-o", "out/"], "reference_frames: "),  # one image is no clip
        (["animate", "video", "{svg}", "{svg}", "-o", "out/"], ".svg: not a video that can be read"),
        (["animate", "text_motion", "{svg}", "-o", "out/"], "text_motion.prompt: is empty"),
        (["animate", "text_motion", "{svg}", "--prompt", "a cat", "--model", "no-such-model", "-o", "out/"], "text_motion.model: unknown model 'no-such-model'"),
    ],
)
def test_cli_bad_input_exits_with_one_clear_line(tmp_path, vector_sketches, raster_sketches, args, message):
    args = [a.format(svg=vector_sketches[0], png=raster_sketches[0]) for a in args]
    os.chdir(tmp_path)
    run = inkmotion(*args)
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("inkmotion: error: "), run.stderr
    assert message in lines[0]
