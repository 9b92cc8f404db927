"""A real `inkmotion serve` in a subprocess on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

PLUGINS = Path(__file__).parent / "plugins"
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
_SERVING = re.compile(r"serving on (\S+):(\d+)")


def script(name: str):
    """The module scripts/NAME.py, imported once (scripts import their neighbours, so scripts/ is
    put on the path; dataclasses look their module up while a class is made, so it is registered)."""
    if name in sys.modules:
        return sys.modules[name]
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def models_config(path: Path, source: Path, tasks: dict[str, str]) -> Path:
    """A models.toml registering the model folder `source` once per name, each for its task
    (e.g. {"tiny": "text_motion", "tiny-flip": "raster_text_motion"}): what a server finds through INKMOTION_MODELS."""
    tables = [f'[models.{name}]\nsource = "{source}"\ntasks = ["{task}"]\n' for name, task in tasks.items()]
    Path(path).write_text("\n".join(tables), encoding="utf-8")
    return Path(path)


class ServerProcess:
    def __init__(self, data_dir: Path, *args: str, env: dict | None = None):
        self.data_dir = Path(data_dir)
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), self.env.get("PYTHONPATH")]))
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.host = "127.0.0.1"
        self.lines: list[str] = []

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> "ServerProcess":
        cmd = [sys.executable, "-m", "inkmotion.cli", "serve", "--port", "0", "--data-dir", str(self.data_dir),
               "--device", "cpu", "--plugin", "inkmotion_test_models", *self.args]
        self.lines = []
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=self.env)
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip())
                match = _SERVING.search(line)
                if match:
                    self.host, self.port = match.group(1), int(match.group(2))
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start:\n" + self.log)
        return self

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 60.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def inbetween_request(start, end, frames: int = 9, model: str = "", first_frame: int = 1):
    """An InbetweenRequest from two SVG files or Drawings."""
    from inkmotion.codec.proto import drawing_to_proto
    from inkmotion.codec.svg import read_svg
    from inkmotion.v1 import drawing_pb2, tasks_pb2

    start, end = (read_svg(d) if isinstance(d, (str, Path)) else d for d in (start, end))
    return tasks_pb2.InbetweenRequest(
        start=drawing_pb2.Keyframe(frame=first_frame, drawing=drawing_to_proto(start)),
        end=drawing_pb2.Keyframe(frame=first_frame + frames - 1, drawing=drawing_to_proto(end)),
        frames=frames,
        model=model,
    )


def cancel_at(step: int) -> tuple[list[int], Callable]:
    """A progress callback that cancels at `step`, and the list of steps it was called with."""
    from inkmotion.errors import Cancelled

    calls: list[int] = []

    def callback(progress) -> None:
        calls.append(progress.step)
        if progress.step == step:
            raise Cancelled()

    return calls, callback


SQUARE = [[40, 60], [64, 60], [64, 36], [40, 36], [40, 60]]  # 24 px across, as square_clip's square


def square_clip(path: Path, frames: int = 10, step: int = 4) -> Path:
    """A movie made here for the video-motion tests: a black 24 px square crossing a white 96 px
    frame, `step` px a frame (36 px in all by default: 1.5 times its width), 12 fps."""
    import numpy as np

    from inkmotion.codec.video import write_video

    images = []
    for i in range(frames):
        image = np.full((96, 96, 3), 255, np.uint8)
        image[36:60, 20 + step * i:44 + step * i] = 0
        images.append(image)
    return write_video(images, [1] * frames, 12.0, path)


def finished(client, job_id: str):
    """A job's result as an Animation, once it has succeeded (its error said if it did not)."""
    from inkmotion.codec.proto import animation_from_parts
    from inkmotion.v1 import jobs_pb2

    job = client.wait(job_id)
    assert job.state == jobs_pb2.JOB_STATE_SUCCEEDED, job.error
    result = client.result(job_id)
    return animation_from_parts(result.info, result.keyframes)


def assert_same_attributes(frames, sketch) -> None:
    """Every frame keeps the sketch's strokes and each point's radius, opacity and colours."""
    import numpy as np

    for frame in frames:
        assert len(frame.strokes) == len(sketch.strokes)
        for got, want in zip(frame.strokes, sketch.strokes):
            assert got.points.shape == want.points.shape and np.isfinite(got.points).all()
            np.testing.assert_array_equal(got.radii, want.radii)
            np.testing.assert_array_equal(got.opacities, want.opacities)
            np.testing.assert_array_equal(got.color, want.color)
            np.testing.assert_array_equal(got.point_colors, want.point_colors)
