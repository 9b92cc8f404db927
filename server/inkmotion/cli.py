"""The `inkmotion` command: serve, animate, jobs, models."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from inkmotion import __version__
from inkmotion.errors import InvalidInput, ModelUnavailable
from inkmotion.models import OFFLOAD_ENV

EXIT_USAGE = 2


def fail(message: str, code: int = 1) -> "NoReturn":  # noqa: F821
    print(f"inkmotion: error: {message}", file=sys.stderr)
    raise SystemExit(code)


class ProgressBar:
    """One line on stderr, redrawn in place on a terminal, a line per 10% elsewhere."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self._last_decile = -1
        self._drawn = False

    def update(self, fraction: float, message: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}% {message}"
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(120))
            self._drawn = True
        elif int(fraction * 10) != self._last_decile:
            self._last_decile = int(fraction * 10)
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


# -- building requests from files -------------------------------------------------------------

def _read_drawing(path: str):
    from inkmotion.codec.svg import read_svg

    if not Path(path).is_file():
        raise InvalidInput(path, "no such file")
    return read_svg(path)


def _read_raster(path: str):
    from inkmotion.codec.preview import read_raster

    if not Path(path).is_file():
        raise InvalidInput(path, "no such file")
    return read_raster(path)


def _expect_inputs(task: str, inputs: list[str], count: int, what: str) -> None:
    if len(inputs) != count:
        raise InvalidInput("INPUT", f"task {task} takes {what}; got {len(inputs)} file(s)")


# Names the CLI also takes: `animate flip` is FlipSketch (the raster task).
TASK_ALIASES = {"flip": "raster"}


def build_request(args):
    """The task request message for `inkmotion animate`."""
    from inkmotion.codec.proto import drawing_to_proto, raster_to_proto
    from inkmotion.v1 import drawing_pb2, tasks_pb2

    task, inputs = TASK_ALIASES.get(args.task, args.task), args.inputs
    if task == "inbetween":
        _expect_inputs(task, inputs, 2, "START.svg END.svg")
        start, end = (_read_drawing(p) for p in inputs)
        first = args.start_frame
        request = tasks_pb2.InbetweenRequest(
            start=drawing_pb2.Keyframe(frame=first, drawing=drawing_to_proto(start)),
            end=drawing_pb2.Keyframe(frame=first + args.frames - 1, drawing=drawing_to_proto(end)),
            model=args.model or "",
            frames=args.frames,
            easing=tasks_pb2.Easing.Value("EASING_" + args.easing.upper().replace("-", "_")),
            motion_path=tasks_pb2.MotionPath.Value("MOTION_PATH_" + args.motion_path.upper()),
            unmatched=tasks_pb2.UnmatchedStrokes.Value("UNMATCHED_STROKES_" + args.unmatched.upper().replace("-", "_")),
        )
    elif task == "text":
        _expect_inputs(task, inputs, 1, "one SKETCH.svg")
        request = tasks_pb2.TextMotionRequest(sketch=drawing_to_proto(_read_drawing(inputs[0])), prompt=args.prompt or "", model=args.model or "")
    elif task == "raster":
        _expect_inputs(args.task, inputs, 1, "one SKETCH.png")
        request = tasks_pb2.RasterTextMotionRequest(sketch=raster_to_proto(_read_raster(inputs[0])), prompt=args.prompt or "", model=args.model or "")
        if args.lambda_fidelity is not None:
            request.composition_weight = args.lambda_fidelity
        if args.samples is not None:
            request.samples = args.samples
    elif task == "path":
        _expect_inputs(task, inputs, 2, "DRAWING.svg PATH.svg (the path's first stroke)")
        drawing, path = (_read_drawing(p) for p in inputs)
        request = tasks_pb2.PathMotionRequest(drawing=drawing_to_proto(drawing), path=path.strokes[0].points.tobytes(), model=args.model or "")
    elif task == "video":
        if len(inputs) < 2:
            raise InvalidInput("INPUT", "task video takes SKETCH.svg FRAME.png [FRAME.png ...]")
        request = tasks_pb2.VideoMotionRequest(
            sketch=drawing_to_proto(_read_drawing(inputs[0])),
            reference_frames=[raster_to_proto(_read_raster(p)) for p in inputs[1:]],
            prompt=args.prompt or "",
            model=args.model or "",
        )
    else:  # argparse restricts the choices
        raise InvalidInput("TASK", f"unknown task {task!r}")
    if task != "inbetween":
        for name in ("frames", "steps", "seed"):
            value = getattr(args, name)
            if value is not None and name in type(request).DESCRIPTOR.fields_by_name:
                setattr(request, name, value)
    return request


# -- commands ---------------------------------------------------------------------------------

def cmd_serve(args) -> int:
    # numpy's OpenBLAS threads spin-wait after each call: on a server that runs small-matrix numpy
    # work beside its gRPC threads they take the cores the event loop needs (measured: 2-3x slower
    # jobs and submits on 2 cores). Torch's own thread pool is not affected. Must precede numpy.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import asyncio

    from inkmotion.server import ServerConfig, serve

    config = ServerConfig(
        host=args.host, port=args.port, data_dir=Path(args.data_dir), device=args.device,
        token_file=args.token_file, tls_cert=args.tls_cert, tls_key=args.tls_key,
        max_message_mb=args.max_message_mb, drain_timeout=args.drain_timeout,
        plugins=args.plugin + [m for m in os.environ.get("INKMOTION_PLUGINS", "").split(",") if m],
    )
    if args.cpu_offload:
        os.environ[OFFLOAD_ENV] = "1"  # read by the model loader in the worker threads
    asyncio.run(serve(config))
    return 0


def _client(args):
    from inkmotion.client import Client

    token = args.token or os.environ.get("INKMOTION_TOKEN")
    return Client(args.server, token=token, tls=args.tls or bool(args.tls_ca), root_certificates=args.tls_ca)


def _watch(client, job_id: str, quiet: bool = False):
    from inkmotion.client import event_kind

    bar = ProgressBar()
    job = None
    try:
        for event in client.watch(job_id):
            job, kind = event.job, event_kind(event)
            if quiet:
                continue
            if kind == "queued":
                bar.update(0.0, f"queued, {event.queued.position} ahead")
            elif kind == "started":
                bar.update(0.0, f"started on {event.started.device}")
            elif kind == "progress":
                p = event.progress
                bar.update(p.fraction, f"step {p.step}/{p.total_steps} {p.message}".strip())
            elif kind == "finished":
                bar.update(1.0, "done")
    except KeyboardInterrupt:
        bar.close()
        client.cancel(job_id)
        print(f"cancelled job {job_id}", file=sys.stderr)
        raise SystemExit(130)
    finally:
        bar.close()
    return job


def _write_result(client, job_id: str, out: str) -> None:
    from inkmotion.codec.preview import write_animation
    from inkmotion.codec.proto import animation_from_parts

    result = client.result(job_id)
    paths = write_animation(animation_from_parts(result.info, result.keyframes), out)
    print(f"wrote {len(paths)} file(s) to {out}", file=sys.stderr)


def cmd_animate(args) -> int:
    from inkmotion.codec.preview import check_output

    check_output(args.output)
    request = build_request(args)
    if args.server:
        from inkmotion.client import state_name

        with _client(args) as client:
            job = client.submit(request, priority=args.priority, label=args.label or Path(args.inputs[0]).name)
            print(f"job {job.id} queued on {args.server}", file=sys.stderr)
            job = _watch(client, job.id)
            if state_name(job.state) != "succeeded":
                fail(f"job {job.id} {state_name(job.state)}: {job.error or job.message}")
            _write_result(client, job.id, args.output)
        return 0
    return _animate_in_process(request, args)


def _animate_in_process(request, args) -> int:
    from inkmotion import tasks
    from inkmotion.client import _TASK_FIELDS
    from inkmotion.codec.preview import write_animation
    from inkmotion.devices import resolve_devices
    from inkmotion.limits import Limits
    from inkmotion.v1 import animation_service_pb2 as service_pb2

    submission = service_pb2.SubmitJobRequest(**{_TASK_FIELDS[type(request).DESCRIPTOR.name]: request})
    try:
        checked = tasks.check_submission(submission, Limits(), allow_model_paths=True)
    except tasks.TaskUnavailable as exc:
        fail(str(exc))
    device = resolve_devices(args.device)[0]
    bar = ProgressBar()
    started = time.perf_counter()
    try:
        animation = tasks.run_submission(
            checked, device, lambda p: bar.update(p.step / p.total if p.total else 0.0, f"step {p.step}/{p.total} {p.message}".strip())
        )
    finally:
        bar.close()
    paths = write_animation(animation, args.output)
    print(f"wrote {len(paths)} file(s) to {args.output} in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0


def cmd_jobs(args) -> int:
    from inkmotion.client import state_name
    from inkmotion.v1 import tasks_pb2

    with _client(args) as client:
        if args.action == "list":
            print(f"{'ID':32}  {'STATE':11}  {'TASK':9}  {'DONE':>5}  {'CREATED':19}  LABEL")
            for job in client.jobs():
                task = tasks_pb2.Task.Name(job.task).removeprefix("TASK_").lower()
                created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created_at.seconds))
                print(f"{job.id:32}  {state_name(job.state):11}  {task:9}  {job.progress * 100:4.0f}%  {created:19}  {job.label}")
            return 0
        if not args.job_id:
            fail(f"jobs {args.action} needs a job id", EXIT_USAGE)
        if args.action == "watch":
            job = _watch(client, args.job_id)
            print(f"job {job.id}: {state_name(job.state)} {job.error}".rstrip())
            return 0 if job.state != 4 else 1
        if args.action == "cancel":
            job = client.cancel(args.job_id)
            print(f"job {job.id}: {state_name(job.state)}{' (stopping after this step)' if state_name(job.state) == 'running' else ''}")
            return 0
        if args.action == "result":
            if not args.output:
                fail("jobs result needs -o OUT", EXIT_USAGE)
            _write_result(client, args.job_id, args.output)
            return 0
    return 0


def cmd_models(args) -> int:
    if args.action == "pull":
        from inkmotion import models

        if not args.name:
            fail("models pull needs a model NAME (see `inkmotion models`)", EXIT_USAGE)
        spec = models.resolve(args.name)
        print(f"downloading {spec.name} from {spec.where} ({spec.size or 'size unknown'}) into the hub cache", file=sys.stderr)
        path = models.pull(args.name, revision=args.revision)
        print(f"{spec.name}: ready in {path}")
        return 0
    if args.server:

        with _client(args) as client:
            caps = client.capabilities()
        print(f"server {args.server} (InkMotion {caps.server_version}); devices: {', '.join(d.name for d in caps.devices)}")
        for info in caps.tasks:
            state = f"models: {', '.join(info.models)}" if info.available else f"unavailable: {info.unavailable_reason}"
            print(f"  {info.name:10} {state}")
        return 0
    from inkmotion import tasks

    for spec in tasks.TASKS.values():
        if not spec.available:
            print(f"{spec.name:10} unavailable: {spec.unavailable_reason}")
            continue
        print(f"{spec.name:10}")
        for name in spec.models:
            _, source, present = tasks.model_info(spec, name)
            default = " (default)" if name == spec.default_model else ""
            where = "" if source == "builtin" else f"  {source}  {'present' if present else 'not downloaded: inkmotion models pull ' + name}"
            print(f"    {name}{default}{where}")
    return 0


# -- argument parsing -------------------------------------------------------------------------

def _add_remote(parser, required: bool = False) -> None:
    parser.add_argument("--server", required=required, default=os.environ.get("INKMOTION_SERVER") if required else None,
                        metavar="HOST:PORT", help="InkMotion server address (env INKMOTION_SERVER)")
    parser.add_argument("--token", help="bearer token for a shared server (env INKMOTION_TOKEN)")
    parser.add_argument("--tls", action="store_true", help="connect with TLS using the system's roots")
    parser.add_argument("--tls-ca", type=Path, help="CA certificate (PEM) to trust for TLS")


def make_parser() -> argparse.ArgumentParser:
    from inkmotion.tasks import BY_NAME

    parser = argparse.ArgumentParser(prog="inkmotion", description="Animation models for Grease Pencil and Krita.")
    parser.add_argument("--version", action="version", version=f"inkmotion {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the inference server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --token-file)")
    serve.add_argument("--port", type=int, default=50051, help="port (0: any free port, printed at start)")
    serve.add_argument("--data-dir", default=str(_default_data_dir()), help="job store and results (env INKMOTION_DATA)")
    serve.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    serve.add_argument("--token-file", type=Path, help="one 'NAME TOKEN' per line: turns on authentication")
    serve.add_argument("--tls-cert", type=Path, help="server certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    serve.add_argument("--max-message-mb", type=int, default=64, help="largest gRPC message, both ways")
    serve.add_argument("--drain-timeout", type=float, default=30.0, help="seconds running jobs get to finish on SIGTERM")
    serve.add_argument("--cpu-offload", action="store_true",
                       help="GPU memory saver: keep the text encoder on the CPU, move the UNet and VAE in only while they run")
    serve.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                       help="import MODULE and call its register(tasks) to add models (env INKMOTION_PLUGINS)")
    serve.set_defaults(func=cmd_serve)

    animate = commands.add_parser("animate", help="run a task on files, in-process or on a server")
    animate.add_argument("task", choices=[*BY_NAME, *TASK_ALIASES], metavar="TASK",
                         help=", ".join(BY_NAME) + " (flip: raster, FlipSketch)")
    animate.add_argument("inputs", nargs="+", metavar="INPUT")
    animate.add_argument("-o", "--output", required=True, metavar="OUT",
                         help="DIR/ (one SVG or PNG per frame), or a .gif / .mp4 preview")
    animate.add_argument("--frames", type=int, help="frames to make (inbetween: counting both keys; default 9)")
    animate.add_argument("--prompt", help="what should happen, for text tasks")
    animate.add_argument("--model", help="model name or folder (default: the task's default)")
    animate.add_argument("--steps", type=int, help="optimisation or sampling steps")
    animate.add_argument("--seed", type=int)
    animate.add_argument("--lambda", dest="lambda_fidelity", type=float,
                         help="flip: fidelity to the sketch against motion, 0..1 (default 0.5)")
    animate.add_argument("--samples", type=int, help="flip: candidates generated together; the closest is kept")
    animate.add_argument("--easing", default="ease-in-out", choices=["linear", "ease-in-out", "ease-in", "ease-out"])
    animate.add_argument("--motion-path", default="arc", choices=["arc", "linear"])
    animate.add_argument("--unmatched", default="fade", choices=["fade", "draw-on"])
    animate.add_argument("--start-frame", type=int, default=1)
    animate.add_argument("--priority", type=int, default=0)
    animate.add_argument("--label")
    animate.add_argument("--device", default="auto", help="in-process only: auto, cpu, cuda or cuda:N")
    _add_remote(animate)
    animate.set_defaults(func=cmd_animate)

    jobs = commands.add_parser("jobs", help="list, watch, cancel or fetch jobs on a server")
    jobs.add_argument("action", choices=["list", "watch", "cancel", "result"])
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("-o", "--output", metavar="OUT")
    _add_remote(jobs, required=True)
    jobs.set_defaults(func=cmd_jobs)

    models = commands.add_parser("models", help="list the tasks and models (here or on a server), or pull weights")
    models.add_argument("action", nargs="?", choices=["list", "pull"], default="list")
    models.add_argument("name", nargs="?", help="the model to pull")
    models.add_argument("--revision", help="hub revision to pull (default: the registry's)")
    _add_remote(models)
    models.set_defaults(func=cmd_models)
    return parser


def _default_data_dir() -> Path:
    from inkmotion.server import default_data_dir

    return default_data_dir()


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "task", None) == "inbetween" and args.frames is None:
        args.frames = 9
    from inkmotion.client import InkMotionError

    try:
        return args.func(args) or 0
    except InvalidInput as exc:
        fail(str(exc), EXIT_USAGE)
    except ModelUnavailable as exc:
        fail(str(exc))
    except InkMotionError as exc:
        fail(f"{exc.message} ({exc.code})")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
