"""The `inkmotion` command as a person or a script meets it: one line for bad input, progress from
the first second, exit codes that say how a job ended, and no torch for commands that only talk
to a server. Every test runs the real command in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness import ServerProcess, inbetween_request
from inkmotion import cli, tasks
from inkmotion.client import Client
from inkmotion.limits import Limits
from inkmotion.tasks import base as tbase
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import jobs_pb2

DEAD = "127.0.0.1:1"  # nothing listens there


def inkmotion(*args: str, timeout: float = 120, python_flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *python_flags, "-m", "inkmotion.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=os.environ)


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "inkmotion.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_animate_offers_every_task_under_its_one_name():
    oneof = [f.name for f in service_pb2.SubmitJobRequest.DESCRIPTOR.oneofs_by_name["task"].fields]
    assert list(tasks.registry()) == [name for name in oneof if name != tasks.PLUGIN]
    run = inkmotion("animate", "--help")
    for spec in tasks.registry().values():
        assert spec.name in run.stdout.split() and spec.label in run.stdout


@pytest.mark.parametrize("name", list(tasks.NAMES))
def test_animate_task_help_lists_the_tasks_own_inputs_and_parameters(name, monkeypatch):
    """Each task's help is built from its own descriptions (what capabilities carry): every input
    with its help, every parameter with its default and its range under the limits."""
    monkeypatch.setenv("COLUMNS", "400")  # no words broken across lines
    spec = tasks.get(name)
    run = inkmotion("animate", name, "--help")
    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())  # argparse wraps lines
    for item in spec.inputs:
        assert " ".join(item.help.split()) in text, item.name
    for param in spec.params:
        assert "--" + param.name.replace("_", "-") in text
        low, high = param.bounds(Limits())
        if param.choices:
            assert "{" + ",".join(param.choices) + "}" in text
            assert f"(default {param.default})" in text
        elif param.name == "frames" and any(i.kind == tbase.KEYFRAME for i in spec.inputs):
            assert f"(default {cli.KEYED_FRAMES}; 2..{int(high)})" in text
        elif high != float("inf"):
            assert f"(default {param.text(param.default)}; {cli._number(low)}..{cli._number(high)})" in text, param.name
    others = {p.name for s in tasks.registry().values() for p in s.params} - {p.name for p in spec.params}
    for other in others:  # no generic options: a task offers only what it has
        assert "--" + other.replace("_", "-") + " " not in text


# -- bad numbers: the server's words, one line, exit 2 ------------------------------------------

@pytest.mark.parametrize(
    "args, message",
    [
        (["text_motion", "{svg}", "--prompt", "x", "--steps", "-3"], "text_motion.steps: -3 is under the minimum of 1"),
        (["text_motion", "{svg}", "--prompt", "x", "--frames", "-1"], "text_motion.frames: -1 is under the minimum of 2"),
        (["text_motion", "{svg}", "--prompt", "x", "--steps", "5001"], "text_motion.steps: 5001 is over the limit of 5000"),
        (["text_motion", "{svg}", "--prompt", "x", "--seed", "-1"], "text_motion.seed: -1 is under the minimum of 0"),
        (["text_motion", "{svg}", "--prompt", "x", "--seed", str(2**64)],
         f"text_motion.seed: {2**64} is over the limit of {2**64 - 1}"),
        (["inbetween", "{svg}", "{svg}", "--frames", "500"], "inbetween.frames: 500 is over the limit of 128"),
        (["inbetween", "{svg}", "{svg}", "--frames", "-1"], "inbetween.frames: -1 is under the minimum of 2"),
        (["inbetween", "{svg}", "{svg}", "--start-frame", str(2**31 - 2)],
         f"inbetween.end.frame: {2**31 + 6} is over the limit of {2**31 - 1}"),
        (["inbetween", "{svg}", "{svg}", "--start-frame", str(-2**31 - 1)],
         f"inbetween.start.frame: {-2**31 - 1} is under the minimum of {-2**31}"),
        (["inbetween", "{svg}", "{svg}", "--priority", "11"], "priority: 11 is over the limit of 10"),
        (["inbetween", "{svg}", "{svg}", "--steps", "3"],
         "--steps: task inbetween has no such option or input (see `inkmotion animate inbetween --help`)"),
        (["raster_text_motion", "{png}", "--prompt", "x", "--steps", "1001"], "raster_text_motion.steps: 1001 is over the limit of 1000"),
        (["raster_text_motion", "{png}", "--prompt", "x", "--samples", "0"], "raster_text_motion.samples: 0 is under the minimum of 1"),
        (["raster_text_motion", "{png}", "--prompt", "x", "--lambda", "1.5"], "raster_text_motion.composition_weight: 1.5 is over the limit of 1"),
        (["raster_text_motion", "{png}", "--prompt", "x", "--lambda", "nan"], "raster_text_motion.composition_weight: nan is not a finite number (the range is 0 to 1)"),
        (["text_motion", "{svg}", "--prompt", "x", "--lambda", "0.5"],
         "--lambda: task text_motion has no such option or input (see `inkmotion animate text_motion --help`)"),
        (["inbetween", "{svg}", "{svg}", "--detach"], "--detach: needs --server: an in-process run ends with the command"),
        (["inbetween", "{svg}", "{svg}", "--no-o"], "-o: is required: DIR/ for one file per frame, or a .gif / .mp4 preview"),
    ],
)
def test_animate_refuses_bad_numbers_in_one_line(tmp_path, vector_sketches, raster_sketches, args, message):
    args = [a.format(svg=vector_sketches[0], png=raster_sketches[0]) for a in args]
    if "--no-o" in args:
        args.remove("--no-o")
    else:
        args += ["-o", f"{tmp_path}/out/"]
    run = inkmotion("animate", *args)
    assert (run.returncode, lines(run.stderr)) == (cli.EXIT_USAGE, [f"inkmotion: error: {message}"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--port", "-1"], "--port: -1 is under the minimum of 0"),
        (["--port", "65536"], "--port: 65536 is over the limit of 65535"),
        (["--max-message-mb", "0"], "--max-message-mb: 0 is under the minimum of 1"),
        (["--max-message-mb", "4096"], "--max-message-mb: 4096 is over the limit of 2047"),
        (["--drain-timeout", "-1"], "--drain-timeout: -1.0 is under the minimum of 0"),
        (["--drain-timeout", "inf"], "--drain-timeout: inf is not a number of seconds"),
        (["--ray-workers", "0", "--backend", "ray"], "--ray-workers: 0 is under the minimum of 1"),
        (["--ray-address", "auto"], "--ray-address: is for --backend ray"),
    ],
)
def test_serve_refuses_bad_numbers_in_one_line(tmp_path, args, message):
    run = inkmotion("serve", "--data-dir", tmp_path, *args)
    assert (run.returncode, lines(run.stderr)) == (cli.EXIT_USAGE, [f"inkmotion: error: {message}"])


def test_serve_without_ray_says_how_to_get_it_in_one_line(tmp_path):
    """A Python without the `ray` extra (a folder first on the path whose `ray` will not import)."""
    blocker = tmp_path / "no-ray" / "ray"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "inkmotion.cli", "serve", "--data-dir", str(tmp_path / "data"),
                          "--port", "0", "--backend", "ray"], capture_output=True, text=True, timeout=120, env=env)
    said = [line for line in lines(run.stderr) if "error" in line.lower()]
    assert run.returncode != 0 and len(said) == 1, run.stderr
    assert "ray is not installed here: pip install -e '.[ray]'" in said[0], said


# -- commands that only talk to a server --------------------------------------------------------

@pytest.mark.parametrize(
    "args, numpy_allowed",
    [
        (["jobs", "list", "--server", DEAD], False),
        (["jobs", "watch", "0123abcd", "--server", DEAD], False),
        (["models", "--server", DEAD], False),
        (["animate", "inbetween", "{svg}", "{svg}", "-o", "{out}", "--server", DEAD], True),  # the codec reads the SVGs
    ],
)
def test_server_commands_start_without_torch(tmp_path, vector_sketches, args, numpy_allowed):
    args = [a.format(svg=vector_sketches[0], out=f"{tmp_path}/out/") for a in args]
    run = inkmotion(*args, python_flags=("-X", "importtime"), timeout=30)
    imported = {line.rsplit("|", 1)[1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")}
    said = [line for line in lines(run.stderr) if not line.startswith("import time:")]
    assert run.returncode == cli.EXIT_FAILED
    assert len(said) == 1 and said[0].startswith("inkmotion: error: ") and "UNAVAILABLE" in said[0], said
    assert "torch" not in imported
    assert numpy_allowed or "numpy" not in imported
    assert run.stdout == "", "no table heading before the error"


def test_help_lists_the_exit_codes():
    run = inkmotion("--help")
    assert run.returncode == 0
    codes = run.stdout.split("exit codes:", 1)[1].split()
    for code in (cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_CANCELLED, cli.EXIT_INTERRUPTED):
        assert str(code) in codes


# -- against a real server ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("cli-server") / "data") as proc:
        yield proc


def slow_job_args(vector_sketches, server, frames: int = 60) -> list[str]:
    # test-slow: 0.1 s a frame, so the job runs for seconds
    return ["animate", "inbetween", vector_sketches[0], vector_sketches[1], "--frames", str(frames),
            "--model", "test-slow", "--server", server.address]


def queued_id(proc: subprocess.Popen) -> str:
    line = proc.stderr.readline()  # "job ID queued on HOST:PORT"
    assert line.startswith("job ") and " queued on " in line, line
    return line.split()[1]


def wait_for_step(address: str, job_id: str, step: int = 2) -> None:
    with Client(address) as client:
        deadline = time.monotonic() + 30
        while client.job(job_id).step < step:
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.05)


def collect(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


@pytest.mark.slow
def test_detach_prints_only_the_job_id_and_watch_result_follow(server, vector_sketches, tmp_path):
    run = inkmotion("animate", "inbetween", vector_sketches[0], vector_sketches[1], "--frames", "5",
                    "--server", server.address, "--detach")
    assert run.returncode == cli.EXIT_OK, run.stderr
    job_id = run.stdout.strip()
    assert run.stdout == job_id + "\n" and len(job_id) == 32
    assert lines(run.stderr) == [f"job {job_id} queued on {server.address}"]

    watch = inkmotion("jobs", "watch", job_id, "--server", server.address)
    assert (watch.returncode, watch.stdout) == (cli.EXIT_OK, f"job {job_id} succeeded\n"), watch.stderr
    result = inkmotion("jobs", "result", job_id, "-o", f"{tmp_path}/frames/", "--server", server.address)
    assert result.returncode == cli.EXIT_OK, result.stderr
    assert len(list((tmp_path / "frames").glob("*.svg"))) == 5


@pytest.mark.slow
def test_a_cancelled_job_exits_3_in_animate_and_watch_and_says_so_once(server, vector_sketches, tmp_path):
    animate = start(*slow_job_args(vector_sketches, server), "-o", f"{tmp_path}/out/")
    job_id = queued_id(animate)
    watch = start("jobs", "watch", job_id, "--server", server.address)
    wait_for_step(server.address, job_id)

    cancel = inkmotion("jobs", "cancel", job_id, "--server", server.address)
    assert cancel.returncode == cli.EXIT_OK, cancel.stderr
    assert cancel.stdout.startswith(f"job {job_id} ")

    code, out, err = collect(animate)
    assert code == cli.EXIT_CANCELLED, err
    assert out == "" and err.count("cancelled") == 1
    assert lines(err)[-1] == f"inkmotion: error: job {job_id} cancelled"
    assert not (tmp_path / "out").exists()

    code, out, err = collect(watch)
    assert (code, out) == (cli.EXIT_CANCELLED, f"job {job_id} cancelled\n"), err
    assert "cancelled" not in err


@pytest.mark.slow
def test_ctrl_c_in_animate_cancels_the_job(server, vector_sketches, tmp_path):
    animate = start(*slow_job_args(vector_sketches, server), "-o", f"{tmp_path}/out/")
    job_id = queued_id(animate)
    wait_for_step(server.address, job_id)
    animate.send_signal(signal.SIGINT)
    code, _, err = collect(animate)
    assert code == cli.EXIT_INTERRUPTED, err
    assert err.count("cancelled") == 1 and lines(err)[-1] == f"inkmotion: cancelled job {job_id} (Ctrl-C)"
    with Client(server.address) as client:
        assert client.wait(job_id).state == jobs_pb2.JOB_STATE_CANCELLED


@pytest.mark.slow
def test_ctrl_c_in_jobs_watch_leaves_the_job_running(server, vector_sketches):
    with Client(server.address) as client:
        job = client.submit(inbetween_request(vector_sketches[0], vector_sketches[1], frames=30, model="test-slow"))
        watch = start("jobs", "watch", job.id, "--server", server.address)
        wait_for_step(server.address, job.id)
        time.sleep(0.3)  # the watch is attached
        watch.send_signal(signal.SIGINT)
        code, out, err = collect(watch)
        assert (code, out) == (cli.EXIT_INTERRUPTED, ""), err
        assert lines(err)[-1] == (f"inkmotion: stopped watching job {job.id}; it goes on "
                                  f"(`inkmotion jobs cancel {job.id}` stops it)")
        assert client.wait(job.id).state == jobs_pb2.JOB_STATE_SUCCEEDED


@pytest.mark.slow
def test_the_server_limits_and_refusals_are_said_in_one_line(server, vector_sketches, tmp_path):
    base = ["animate", "inbetween", vector_sketches[0], vector_sketches[1], "--server", server.address, "-o", f"{tmp_path}/o/"]
    run = inkmotion(*base, "--frames", "500")
    assert (run.returncode, lines(run.stderr)) == (cli.EXIT_USAGE, ["inkmotion: error: inbetween.frames: 500 is over the limit of 128"])
    run = inkmotion(*base, "--model", "no-such-model")  # refused by the server: INVALID_ARGUMENT
    assert run.returncode == cli.EXIT_USAGE
    assert lines(run.stderr) == ["inkmotion: error: inbetween.model: unknown model 'no-such-model' for task inbetween; "
                                 "available: stroke-match, sketch-flow, test-slow, test-stuck"]


# -- progress from the first second --------------------------------------------------------------

@pytest.mark.slow
def test_in_process_text_says_each_phase_before_the_first_step(tiny_dir, vector_sketches, tmp_path):
    run = inkmotion("animate", "text_motion", vector_sketches[0], "--prompt", "it waves", "--model", tiny_dir,
                    "--steps", "1", "--frames", "2", "--device", "cpu", "-o", f"{tmp_path}/out/", timeout=300)
    assert run.returncode == cli.EXIT_OK, run.stderr
    said = [line.split("% ", 1)[1] for line in lines(run.stderr) if line.startswith("[")]
    assert said == ["starting", "running on cpu", f"loading model {tiny_dir}", "encoding the prompt",
                    "preparing the sketch", "step 1/1 score distillation"]
    assert len(list((tmp_path / "out").glob("*.svg"))) == 2


@pytest.mark.slow
def test_a_watcher_hears_the_phases_of_a_server_job(tiny_dir, vector_sketches, tmp_path):
    """The same phases reach a watcher through the server: the CLI prints them as they come."""
    from harness import models_config

    config = models_config(tmp_path / "models.toml", tiny_dir, {"tiny": "text_motion"})
    with ServerProcess(tmp_path / "data", env={"INKMOTION_MODELS": str(config)}) as proc:
        run = inkmotion("animate", "text_motion", vector_sketches[0], "--prompt", "it waves", "--model", "tiny",
                        "--steps", "1", "--frames", "2", "--server", proc.address, "-o", f"{tmp_path}/out/", timeout=300)
    assert run.returncode == cli.EXIT_OK, run.stderr
    said = [line.split("% ", 1)[1] for line in lines(run.stderr) if line.startswith("[")]
    assert "loading model tiny" in said and said.index("loading model tiny") < said.index("step 1/1 score distillation")
