"""The `inkmotion` command: serve, animate, jobs, models.

Commands that only talk to a server (`jobs`, `models --server`, `animate --server`) never import
torch: this module needs only the contract, the client and the limits at the top, and the tasks'
descriptions (inkmotion.tasks, which imports no torch) to build `animate TASK`'s arguments; the
server, the pipelines and the models are imported by the commands that run them.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from inkmotion import __version__
from inkmotion.errors import InvalidInput, ModelUnavailable
from inkmotion.limits import Limits, check_range
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import tasks_pb2

EXIT_OK = 0
EXIT_FAILED = 1  # the job failed or was interrupted, or the server could not do what was asked
EXIT_USAGE = 2  # bad input or usage, refused before any work (here or by the server)
EXIT_CANCELLED = 3  # the job was cancelled
EXIT_INTERRUPTED = 130  # Ctrl-C

EXIT_CODES = """\
exit codes:
  0    success
  1    the job failed or was interrupted, or the server could not do it (unreachable, wrong token, ...)
  2    bad input or usage: refused before any work, here or by the server
  3    the job was cancelled (animate --server, jobs watch)
  130  Ctrl-C: animate cancels its job; jobs watch stops watching and leaves the job be
"""

INT32 = (-(2**31), 2**31 - 1)
PRIORITIES = (-10, 10)  # as SubmitJob checks them

def _task(name: str):
    """The task of this name or of this alias (`path` for path_motion)."""
    from inkmotion import tasks

    specs = tasks.registry()
    return specs.get(name) or next(s for s in specs.values() if name in s.aliases)


def fail(message: str, code: int = EXIT_FAILED) -> "NoReturn":  # noqa: F821
    print(f"inkmotion: error: {message}", file=sys.stderr)
    raise SystemExit(code)


class ProgressBar:
    """Progress on stderr from the first second: one line redrawn in place on a terminal;
    elsewhere a line for each phase (loading the model, encoding the prompt, ...) and each tenth."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream = stream
        self.width = width
        self.tty = stream.isatty()
        self._last_decile = -1
        self._last_phase = None
        self._drawn = False

    def update(self, fraction: float, message: str = "", phase: bool = False) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}% {message}".rstrip()
        if self.tty:
            self.stream.write("\r" + line[:120].ljust(120))
            self._drawn = True
        elif phase and message != self._last_phase:
            self._last_phase = message
            self.stream.write(line + "\n")
        elif not phase and int(fraction * 10) != self._last_decile:
            self._last_decile = int(fraction * 10)
            self.stream.write(line + "\n")
        self.stream.flush()

    def step(self, step: int, total: int, message: str) -> None:
        """One report of a pipeline (inkmotion.pipelines.base.Progress) or of the server: step 0
        is a phase before the steps, said by its message alone."""
        if step == 0:
            self.update(0.0, message, phase=True)
        else:
            self.update(step / total if total else 0.0, f"step {step}/{total} {message}".strip())

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


# -- checking numbers and building requests from files ----------------------------------------

CLIP_FRAMES = 16  # frames a video input is sampled to when its task says nothing
KEYED_FRAMES = 9  # frames a task with key inputs makes here when --frames is not given, both keys counted
ALIASES = {"composition_weight": ("--lambda",)}  # the paper's name, as the CLI has always taken it


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _keyed(spec) -> bool:
    """Whether the task takes keys: the CLI places them at --start-frame and frames - 1 later."""
    from inkmotion.tasks.base import KEYFRAME

    return any(i.kind == KEYFRAME for i in spec.inputs)


def given_params(args, spec) -> dict:
    """{parameter name: value} of the task's parameter options given on the command line."""
    return {p.name: getattr(args, p.name) for p in spec.params if getattr(args, p.name, None) is not None}


def check_numbers(args, spec, limits: Limits) -> None:
    """Every number of `animate`, checked before a protobuf setter sees it, by the task's own
    parameter descriptions (TaskSpec.params), upper limits from `limits`."""
    from inkmotion.tasks.base import check_values

    given = given_params(args, spec)
    check_range("priority", args.priority, *PRIORITIES)
    if _keyed(spec):  # here frames is always given and counts both keys: 0 is no shorthand
        check_range(f"{spec.field}.frames", given["frames"], 2, limits.max_frames)
        check_range(f"{spec.field}.start.frame", args.start_frame, *INT32)
        check_range(f"{spec.field}.end.frame", args.start_frame + given["frames"] - 1, *INT32)
        given.pop("frames")
    check_values(given, spec.params, limits, spec.field, plugin=bool(spec.plugin_name))


def check_serve_numbers(args) -> None:
    check_range("--port", args.port, 0, 65535)
    check_range("--max-message-mb", args.max_message_mb, 1, 2047)  # gRPC takes message sizes as int32 bytes
    if not math.isfinite(args.drain_timeout):
        raise InvalidInput("--drain-timeout", f"{args.drain_timeout} is not a number of seconds")
    check_range("--drain-timeout", args.drain_timeout, 0, math.inf)
    check_range("--max-queued-per-user", args.max_queued_per_user, 1, 1_000_000)
    if not math.isfinite(args.check_timeout):
        raise InvalidInput("--check-timeout", f"{args.check_timeout} is not a number of seconds")
    check_range("--check-timeout", args.check_timeout, 0.1, 3600)
    if args.ray_workers is not None:
        check_range("--ray-workers", args.ray_workers, 1, 100_000)
    if args.backend != "ray" and (args.ray_address or args.ray_workers):
        raise InvalidInput("--ray-address" if args.ray_address else "--ray-workers", "is for --backend ray")


def server_limits(caps: service_pb2.GetCapabilitiesResponse) -> Limits:
    """The limits a server says it has (the defaults for any it leaves out)."""
    known = Limits.__dataclass_fields__
    return Limits(**{f.name: value for f, value in caps.limits.ListFields() if f.name in known})


def _read_drawing(path: str):
    from inkmotion.codec.svg import read_svg

    return read_svg(_file(path))


def _read_raster(path: str):
    from inkmotion.codec.preview import read_raster

    return read_raster(_file(path))


def _file(path: str) -> Path:
    if not Path(path).is_file():
        raise InvalidInput(path, "no such file")
    return Path(path)


def _read_clip(paths: list[str], clip: dict):
    """A reference clip: one video file or frame folder (or frame images, in order), sampled by
    inkmotion.codec.video to clip["frames"] frames over [clip["start"], clip["end"]] seconds."""
    from inkmotion.codec.video import read_clip

    def read(source):
        try:
            return read_clip(source, clip["frames"], start=clip["start"], end=clip["end"], field="reference_frames")
        except InvalidInput as exc:  # the sampling's own fields are this command's options
            option = {"reference_frames.start": "--start", "reference_frames.end": "--end",
                      "reference_frames.frames": "--frames"}.get(exc.field, exc.field)
            raise InvalidInput(option, exc.problem) from None

    if len(paths) == 1:
        return read(paths[0])
    with tempfile.TemporaryDirectory() as folder:  # frame images given one by one: a folder of them, in order
        for i, path in enumerate(paths):
            source = _file(path)
            (Path(folder) / f"{i:06d}{source.suffix.lower()}").symlink_to(source.resolve())
        return read(folder)


def _input_value(kind: int, paths: list[str], frame: int, clip: dict | None = None):
    """One input of a task from its file(s), as its request field takes it (`clip`: how a video
    input is sampled)."""
    from inkmotion.codec.drawing import Keyframe
    from inkmotion.codec.proto import drawing_to_proto, keyframe_to_proto, raster_to_proto
    from inkmotion.tasks import base

    # A drawing or a raster input takes the other form's file too: the request has a field for it
    # beside the input's own, in the same oneof (see _field_for).
    if kind in (base.DRAWING, base.RASTER):
        is_png = _file(paths[0]).suffix.lower() == ".png"
        return raster_to_proto(_read_raster(paths[0])) if is_png else drawing_to_proto(_read_drawing(paths[0]))
    if kind == base.KEYFRAME:  # a key is drawn (SVG) or painted (PNG)
        is_png = _file(paths[0]).suffix.lower() == ".png"
        return keyframe_to_proto(Keyframe(frame, _read_raster(paths[0]) if is_png else _read_drawing(paths[0])))
    if kind == base.PATH:  # the path is the file's first stroke
        drawing = _read_drawing(paths[0])
        if not drawing.strokes:
            raise InvalidInput(paths[0], "has no stroke to take as the path")
        return drawing.strokes[0].points.tobytes()
    if kind == base.VIDEO:
        return _read_clip(paths, clip)
    raise InvalidInput("INPUT", f"inputs of kind {kind} cannot be read from files")


def _field_for(request, name: str, value, path: str) -> str:
    """The request field that takes `value` for the input `name`: the input's own field, or the
    field of the value's message type in the same oneof (path_motion's `drawing` input takes a PNG
    in `raster`, text_motion's `sketch` in `sketch_raster`)."""
    own = request.DESCRIPTOR.fields_by_name[name]
    if not hasattr(value, "DESCRIPTOR") or own.message_type is value.DESCRIPTOR:
        return name
    oneof = own.containing_oneof
    for other in oneof.fields if oneof is not None else ():
        if other.message_type is value.DESCRIPTOR:
            return other.name
    wanted = "a PNG file" if own.message_type.name == "Raster" else "an SVG file"
    raise InvalidInput(path, f"is not {wanted}: {name} takes {wanted} here")


def build_request(args, spec):
    """The task's request message for `inkmotion animate`, every input read from its file and
    every parameter given set (numbers checked by `check_numbers` first)."""
    from inkmotion.tasks import base

    request = spec.request_class(model=args.model or "")
    if spec.plugin_name:
        request.task = spec.name
    frames = args.frames if _keyed(spec) else None
    keys = 0
    for item in spec.inputs:
        given = getattr(args, item.name)
        if item.kind == base.TEXT:
            if given is not None:
                setattr(request, item.name, given)
            continue
        if given is None:  # an optional input not given
            continue
        paths = given if isinstance(given, list) else [given]
        frame = args.start_frame + keys * (frames - 1) if item.kind == base.KEYFRAME else 0
        keys += item.kind == base.KEYFRAME
        clip = None
        if item.kind == base.VIDEO:  # sampled here to the frames asked for (the task's default if none)
            frames_param = next((p for p in spec.params if p.name == "frames"), None)
            clip = {"frames": given_params(args, spec).get("frames") or (frames_param.default if frames_param else
                                                                         CLIP_FRAMES),
                    "start": args.start, "end": args.end}
        value = _input_value(item.kind, paths, frame, clip)
        if item.kind == base.VIDEO:
            from inkmotion.codec.proto import raster_to_proto

            getattr(request, item.name).extend(raster_to_proto(f) for f in value.frames)
            if "fps" in request.DESCRIPTOR.fields_by_name:
                request.fps = value.sampled_fps
            continue
        name = _field_for(request, item.name, value, paths[0])
        target = getattr(request, name)
        if isinstance(value, bytes):
            setattr(request, name, value)
        elif isinstance(value, list):
            target.extend(value)
        else:
            target.CopyFrom(value)
    base.put_params(request, given_params(args, spec), spec.params)
    return request


# -- commands ---------------------------------------------------------------------------------

def cmd_serve(args) -> int:
    check_serve_numbers(args)
    # numpy's OpenBLAS threads spin-wait after each call: on a server that runs small-matrix numpy
    # work beside its gRPC threads they take the cores the event loop needs (measured: 2-3x slower
    # jobs and submits on 2 cores). Torch's own thread pool is not affected. Must precede numpy.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import asyncio

    from inkmotion.models import OFFLOAD_ENV
    from inkmotion.server import ServerConfig, default_data_dir, serve

    config = ServerConfig(
        host=args.host, port=args.port, data_dir=Path(args.data_dir) if args.data_dir else default_data_dir(),
        device=args.device, backend=args.backend, token_file=args.token_file, tls_cert=args.tls_cert, tls_key=args.tls_key,
        max_message_mb=args.max_message_mb, drain_timeout=args.drain_timeout,
        plugins=args.plugin + [m for m in os.environ.get("INKMOTION_PLUGINS", "").split(",") if m],
        max_queued_per_user=args.max_queued_per_user, check_timeout=args.check_timeout,
        ray_address=args.ray_address, ray_workers=args.ray_workers,
    )
    if args.cpu_offload:
        os.environ[OFFLOAD_ENV] = "1"  # read by the model loader in the worker threads
    from inkmotion.jobs import DataDirError

    try:
        asyncio.run(serve(config))
    except DataDirError as exc:  # one line, no traceback, no silent fresh start
        print(f"inkmotion serve: {exc}", file=sys.stderr)
        return EXIT_FAILED
    # A job step that never ended lives on in a daemon thread; do not wait for the interpreter's
    # own teardown to notice (it joins non-daemon threads and runs finalisers under that thread).
    logging.shutdown()
    sys.stderr.flush()
    os._exit(EXIT_OK)


def _client(args):
    from inkmotion.client import Client

    token = args.token or os.environ.get("INKMOTION_TOKEN")
    return Client(args.server, token=token, tls=args.tls or bool(args.tls_ca), root_certificates=args.tls_ca)


def _watch(client, job_id: str, bar: ProgressBar):
    """Follow a job to its end, drawing its progress; returns its final state. Says nothing about
    how it ended: the caller says that, once."""
    from inkmotion.client import event_kind

    job = None
    for event in client.watch(job_id):
        job, kind = event.job, event_kind(event)
        if kind == "queued":
            position = event.queued.position
            bar.update(0.0, f"queued, {position} ahead" if position else "queued", phase=True)
        elif kind == "started":
            bar.update(0.0, f"started on {event.started.device}", phase=True)
        elif kind == "progress":
            bar.step(event.progress.step, event.progress.total_steps, event.progress.message)
        elif kind == "finished":
            bar.update(1.0, "done")
    return job


def _ending(job) -> tuple[str, int]:
    """How a finished job is said, and the exit code it gives."""
    from inkmotion.client import state_name

    state = state_name(job.state)
    code = {"succeeded": EXIT_OK, "cancelled": EXIT_CANCELLED}.get(state, EXIT_FAILED)
    reason = job.error or (job.message if code == EXIT_FAILED else "")
    return f"job {job.id} {state}{': ' + reason if reason else ''}", code


def _write_result(client, job_id: str, out: str) -> None:
    from inkmotion.codec.preview import write_animation
    from inkmotion.codec.proto import animation_from_parts

    result = client.result(job_id)
    paths = write_animation(animation_from_parts(result.info, result.keyframes), out)
    print(f"wrote {len(paths)} file(s) to {out}", file=sys.stderr)


def cmd_animate(args) -> int:
    spec = _task(args.task)
    if args.detach and not args.server:
        raise InvalidInput("--detach", "needs --server: an in-process run ends with the command")
    if args.detach and args.output:
        raise InvalidInput("-o", "a detached job writes nothing here; fetch its result with `inkmotion jobs result JOB_ID -o OUT`")
    if not args.detach:
        if not args.output:
            raise InvalidInput("-o", "is required: DIR/ for one file per frame, or a .gif / .mp4 preview")
        from inkmotion.codec.preview import check_output

        check_output(args.output)
    if not args.server:
        check_numbers(args, spec, Limits())
        return _animate_in_process(build_request(args, spec), spec, args)
    with _client(args) as client:
        check_numbers(args, spec, server_limits(client.capabilities()))
        request = build_request(args, spec)
        job = client.submit(request, priority=args.priority, label=args.label or _first_file(args, spec))
        print(f"job {job.id} queued on {args.server}", file=sys.stderr)
        for warning in job.warnings:
            print(f"inkmotion: note: {warning}", file=sys.stderr)
        if args.detach:
            print(job.id)
            return EXIT_OK
        bar = ProgressBar()
        try:
            job = _watch(client, job.id, bar)
        except KeyboardInterrupt:
            bar.close()
            client.cancel(job.id)
            print(f"inkmotion: cancelled job {job.id} (Ctrl-C)", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            bar.close()
        said, code = _ending(job)
        if code != EXIT_OK:
            fail(said, code)
        _write_result(client, job.id, args.output)
    return EXIT_OK


def _first_file(args, spec) -> str:
    from inkmotion.tasks.base import TEXT

    given = next(getattr(args, i.name) for i in spec.inputs if i.kind != TEXT)
    return Path(given[0] if isinstance(given, list) else given).name


def _animate_in_process(request, spec, args) -> int:
    from inkmotion import tasks
    from inkmotion.codec.preview import write_animation
    from inkmotion.devices import resolve_devices

    submission = service_pb2.SubmitJobRequest(priority=args.priority, **{spec.field: request})
    try:
        checked = tasks.check_submission(submission, Limits(), allow_model_paths=True)
    except tasks.TaskUnavailable as exc:
        fail(str(exc))
    for warning in checked.warnings:
        print(f"inkmotion: note: {warning}", file=sys.stderr)
    bar = ProgressBar()
    bar.update(0.0, "starting", phase=True)  # importing torch and finding the device take seconds
    device = resolve_devices(args.device)[0]
    started = time.perf_counter()
    try:
        bar.update(0.0, f"running on {device}", phase=True)
        animation = tasks.run_submission(checked, device, lambda p: bar.step(p.step, p.total, p.message))
    finally:
        bar.close()
    paths = write_animation(animation, args.output)
    print(f"wrote {len(paths)} file(s) to {args.output} in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return EXIT_OK


def cmd_cluster(args) -> int:
    """Where a server runs its jobs: its backend and each worker's node, device, state, job, jobs
    done and loaded models (from GetCapabilities, not Ray's dashboard)."""
    with _client(args) as client:
        caps = client.capabilities()
    states = {service_pb2.WORKER_STATE_STARTING: "starting", service_pb2.WORKER_STATE_IDLE: "idle",
              service_pb2.WORKER_STATE_BUSY: "busy", service_pb2.WORKER_STATE_LOST: "lost"}
    print(f"server {args.server} (InkMotion {caps.server_version}), {caps.backend or 'local'} backend, "
          f"{len(caps.workers)} worker(s)")
    rows = [("WORKER", "NODE", "DEVICE", "STATE", "JOB", "DONE", "MODELS")]
    for w in caps.workers:
        rows.append((w.name, w.node[:12], w.device.name, states.get(w.state, "?"), w.job_id[:12] or "-",
                     str(w.jobs_done), ", ".join(w.models) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    for w in caps.workers:
        if w.detail and w.state in (service_pb2.WORKER_STATE_LOST, service_pb2.WORKER_STATE_STARTING):
            print(f"{w.name}: {w.detail}")
    return EXIT_OK


def cmd_jobs(args) -> int:
    from inkmotion.client import state_name

    with _client(args) as client:
        if args.action == "list":
            listing = client.jobs()
            first = next(listing, None)  # a server that does not answer says so before the heading
            print(f"{'ID':32}  {'STATE':11}  {'TASK':18}  {'DONE':>5}  {'CREATED':19}  LABEL")
            for job in [first, *listing] if first else ():
                task = job.task_name or tasks_pb2.Task.Name(job.task).removeprefix("TASK_").lower()  # an older server
                created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.created_at.seconds))
                print(f"{job.id:32}  {state_name(job.state):11}  {task:18}  {job.progress * 100:4.0f}%  {created:19}  {job.label}")
            return EXIT_OK
        if not args.job_id:
            raise InvalidInput("JOB_ID", f"jobs {args.action} needs a job id (see `inkmotion jobs list`)")
        if args.action == "watch":
            client.job(args.job_id)  # an unknown job or a server that is not there fails now, not after retries
            bar = ProgressBar()
            try:
                job = _watch(client, args.job_id, bar)
            except KeyboardInterrupt:
                bar.close()
                print(f"inkmotion: stopped watching job {args.job_id}; it goes on "
                      f"(`inkmotion jobs cancel {args.job_id}` stops it)", file=sys.stderr)
                return EXIT_INTERRUPTED
            finally:
                bar.close()
            said, code = _ending(job)
            print(said)
            return code
        if args.action == "cancel":
            job = client.cancel(args.job_id)
            print(f"job {job.id} {state_name(job.state)}{' (stopping after this step)' if state_name(job.state) == 'running' else ''}")
            return EXIT_OK
        if args.action == "result":
            if not args.output:
                raise InvalidInput("-o", "jobs result needs -o OUT: DIR/ for one file per frame, or a .gif / .mp4 preview")
            _write_result(client, args.job_id, args.output)
            return EXIT_OK
    return EXIT_OK


def cmd_models(args) -> int:
    if args.action == "loras":  # SketchAnimator's learned LoRAs, cached by content
        from inkmotion.models.lora_cache import LoraCache, clear_cache

        cache = LoraCache()
        if args.clear:
            print(f"removed {clear_cache(cache.folder)} cached LoRA(s) from {cache.folder}")
            return EXIT_OK
        entries = cache.entries()
        size = sum(f.stat().st_size for e in entries for f in e.rglob("*") if f.is_file())
        print(f"{cache.folder}: {len(entries)} cached LoRA(s), {size / 2**20:.1f} MB "
              "(INKMOTION_LORA_CACHE moves it; `inkmotion models loras --clear` empties it)")
        for entry in entries:
            print(f"  {entry.name}")
        return EXIT_OK
    if args.clear:
        raise InvalidInput("--clear", "empties the LoRA cache: `inkmotion models loras --clear`")
    if args.action == "pull":
        from inkmotion import models

        if not args.name:
            raise InvalidInput("NAME", "models pull needs a model name (see `inkmotion models`)")
        spec = models.resolve(args.name)
        print(f"downloading {spec.name} from {spec.where} ({spec.size or 'size unknown'}) into the hub cache", file=sys.stderr)
        path = models.pull(args.name, revision=args.revision)
        print(f"{spec.name}: ready in {path}")
        return EXIT_OK
    if args.server:
        with _client(args) as client:
            caps = client.capabilities()
        print(f"server {args.server} (InkMotion {caps.server_version}); devices: {', '.join(d.name for d in caps.devices)}")
        for info in caps.tasks:
            state = f"models: {', '.join(info.models)}" if info.available else f"unavailable: {info.unavailable_reason}"
            print(f"  {info.name:18} {info.label:24} {state}")
        return EXIT_OK
    from inkmotion import tasks

    for spec in tasks.registry().values():
        if not spec.available:
            print(f"{spec.name:18} {spec.label:24} unavailable: {spec.unavailable_reason}")
            continue
        print(f"{spec.name:18} {spec.label}")
        for name in spec.models:
            _, source, present = tasks.model_info(spec, name)
            default = " (default)" if name == spec.default_model else ""
            where = "" if source == "builtin" else f"  {source}  {'present' if present else 'not downloaded: inkmotion models pull ' + name}"
            print(f"    {name}{default}{where}")
    return EXIT_OK


# -- argument parsing -------------------------------------------------------------------------

def _add_remote(parser, required: bool = False) -> None:
    parser.add_argument("--server", required=required, default=os.environ.get("INKMOTION_SERVER") if required else None,
                        metavar="HOST:PORT", help="InkMotion server address (env INKMOTION_SERVER)")
    parser.add_argument("--token", help="bearer token for a shared server (env INKMOTION_TOKEN)")
    parser.add_argument("--tls", action="store_true", help="connect with TLS using the system's roots")
    parser.add_argument("--tls-ca", type=Path, help="CA certificate (PEM) to trust for TLS")


class _TaskParser(argparse.ArgumentParser):
    """`animate TASK`'s parser: a usage error is one line that says where the task's help is."""

    def error(self, message: str) -> "NoReturn":  # noqa: F821
        task = self.prog.rsplit(" ", 1)[-1]
        fail(f"{message} (see `inkmotion animate {task} --help`)", EXIT_USAGE)


def _add_task_parser(commands, spec, common) -> None:
    """`animate TASK`: the task's inputs as arguments and its parameters as options, each with its
    help, default and range, all from the task's own descriptions (what capabilities carry)."""
    from inkmotion.tasks import base

    limits = Limits()
    unavailable = "" if spec.available else f" (not on this server version: {spec.unavailable_reason})"
    parser = commands.add_parser(
        spec.name, aliases=list(spec.aliases), parents=[common], help=f"{spec.label}: {spec.description}{unavailable}",
        description=f"{spec.label}: {spec.description}{unavailable}",
        epilog=(f"models: {', '.join(spec.models)} (default {spec.default_model})\n\n" if spec.models else "") + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    inputs = parser.add_argument_group("inputs")
    for item in spec.inputs:
        if item.kind == base.TEXT or not item.required:
            inputs.add_argument(_flag(item.name), dest=item.name, required=False, metavar=None if item.kind == base.TEXT
                                else "FILE", help=item.help)
        else:
            inputs.add_argument(item.name, metavar=item.name.upper(), nargs="+" if item.kind == base.VIDEO else None,
                                help=item.help)
    if any(i.kind == base.VIDEO for i in spec.inputs):
        inputs.add_argument("--start", type=float, metavar="S", help="where in the clip to begin, in seconds (default: "
                                                                      "its start)")
        inputs.add_argument("--end", type=float, metavar="S", help="where in the clip to stop, in seconds (default: its "
                                                                    "end)")
    params = parser.add_argument_group("parameters (unset: the method's reference default)")
    for param in spec.params:
        low, high = param.bounds(limits)
        allowed = (f"; {_number(low)}..{_number(high)}" if math.isfinite(low) and math.isfinite(high)
                   else f"; at least {_number(low)}" if math.isfinite(low) else "")
        default = param.text(param.default)
        if _keyed(spec) and param.name == "frames":
            allowed = f"; 2..{_number(high)}"
        text = f"{param.help} (default {default}{allowed})"
        if _keyed(spec) and param.name == "frames":  # the keys' frame numbers are this command's to set
            text = f"Output frames, both keys included (default {KEYED_FRAMES}{allowed})"
        flags = (_flag(param.name), *ALIASES.get(param.name, ()))
        if param.kind == service_pb2.TaskParameter.KIND_BOOLEAN:
            params.add_argument(*flags, dest=param.name, action=argparse.BooleanOptionalAction, help=text)
        elif param.kind == service_pb2.TaskParameter.KIND_CHOICE:
            params.add_argument(*flags, dest=param.name, choices=param.choices, help=text)
        else:
            kind = int if param.kind == service_pb2.TaskParameter.KIND_INTEGER else float
            params.add_argument(*flags, dest=param.name, type=kind, metavar="N", help=text)
    if _keyed(spec):
        params.add_argument("--start-frame", type=int, default=1,
                            help="the frame number of the first key; the last is frames - 1 later (default 1)")
        parser.set_defaults(frames=None)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def make_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The command line. The tasks' descriptions are read only for `animate` (the other commands
    talk to a server and import neither the tasks nor numpy); plugins from INKMOTION_PLUGINS too."""
    from inkmotion.backends import BACKENDS  # names only: a backend's module is imported when chosen

    argv = sys.argv[1:] if argv is None else argv

    parser = argparse.ArgumentParser(prog="inkmotion", description="Animation models for Grease Pencil and Krita.",
                                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"inkmotion {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the inference server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --token-file)")
    serve.add_argument("--port", type=int, default=50051, help="port (0: any free port, printed at start)")
    serve.add_argument("--data-dir", help="job store and results (default: env INKMOTION_DATA, else ~/.local/share/inkmotion)")
    serve.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    serve.add_argument("--backend", default="local", choices=list(BACKENDS),
                       help="where jobs run: local (in this process, one worker per device; the default), or "
                            "ray (actors on a Ray cluster: pip install -e '.[ray]')")
    serve.add_argument("--ray-address", help="ray: the cluster, 'auto' or HEAD:PORT (default: start a local one)")
    serve.add_argument("--ray-workers", type=int, help="ray: at most this many workers (default: one per GPU, or "
                                                       "per CPU with --device cpu)")
    serve.add_argument("--token-file", type=Path,
                       help="one 'NAME TOKEN [max-priority=N] [max-queued=N]' per line: turns on authentication")
    serve.add_argument("--tls-cert", type=Path, help="server certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, help="server private key (PEM)")
    serve.add_argument("--max-message-mb", type=int, default=64, help="largest gRPC message, both ways (1..2047)")
    serve.add_argument("--drain-timeout", type=float, default=30.0, help="seconds running jobs get to finish on SIGTERM")
    serve.add_argument("--max-queued-per-user", type=int, default=1000,
                       help="jobs one user may have waiting (the token file's max-queued=N grants more)")
    serve.add_argument("--check-timeout", type=float, default=10.0,
                       help="seconds a submission's checks may take (parsing, decoding, tracing) before it is refused")
    serve.add_argument("--cpu-offload", action="store_true",
                       help="GPU memory saver: keep the text encoder on the CPU, move the UNet and VAE in only while they run")
    serve.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                       help="import MODULE and call its register(tasks) to add models (env INKMOTION_PLUGINS)")
    serve.set_defaults(func=cmd_serve)

    animate = commands.add_parser(
        "animate", help="run a task on files, in-process or on a server",
        description="Run a task on files. `inkmotion animate TASK --help` lists that task's inputs and parameters.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", metavar="OUT",
                        help="DIR/ (one SVG or PNG per frame), or a .gif / .mp4 preview; required unless --detach")
    common.add_argument("--model", help="model name or folder (default: the task's default)")
    common.add_argument("--priority", type=int, default=0, help="-10..10, higher runs sooner (default 0)")
    common.add_argument("--label", help="a label for the job in job lists (default: the first file's name)")
    common.add_argument("--device", default="auto", help="in-process only: auto, cpu, cuda or cuda:N")
    common.add_argument("--detach", action="store_true",
                        help="with --server: submit, print the job id on stdout and return (see `inkmotion jobs`)")
    _add_remote(common)
    by_task = animate.add_subparsers(dest="task", metavar="TASK", required=True, parser_class=_TaskParser)
    if "animate" in argv:
        from inkmotion import tasks

        tasks.load_plugins([m for m in os.environ.get("INKMOTION_PLUGINS", "").split(",") if m])
        for spec in tasks.registry().values():
            _add_task_parser(by_task, spec, common)
    animate.set_defaults(func=cmd_animate)

    jobs = commands.add_parser("jobs", help="list, watch, cancel or fetch jobs on a server",
                               epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs.add_argument("action", choices=["list", "watch", "cancel", "result"])
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("-o", "--output", metavar="OUT")
    _add_remote(jobs, required=True)
    jobs.set_defaults(func=cmd_jobs)

    cluster = commands.add_parser("cluster", help="a server's workers: nodes, devices, loaded models, current jobs",
                                  epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_remote(cluster, required=True)
    cluster.set_defaults(func=cmd_cluster)

    models = commands.add_parser("models", help="list the tasks and models (here or on a server), or pull weights")
    models.add_argument("action", nargs="?", choices=["list", "pull", "loras"], default="list",
                        help="list the tasks and models; pull a model's weights; loras: SketchAnimator's LoRA cache")
    models.add_argument("--clear", action="store_true", help="with loras: remove every cached LoRA")
    models.add_argument("name", nargs="?", help="the model to pull")
    models.add_argument("--revision", help="hub revision to pull (default: the registry's)")
    _add_remote(models)
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    from inkmotion.client import InkMotionError

    try:
        parser = make_parser(argv)
    except InvalidInput as exc:  # a plugin that does not load
        fail(str(exc), EXIT_USAGE)
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "task", None):  # one line that says which task, rather than argparse's usage
        fail(f"{extra[0]}: task {args.task} has no such option or input (see `inkmotion animate {args.task} --help`)",
             EXIT_USAGE)
    if extra:
        parser.parse_args(argv)  # argparse's own error
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "task", None) and args.frames is None and _keyed(_task(args.task)):
        args.frames = KEYED_FRAMES

    try:
        return args.func(args) or EXIT_OK
    except InvalidInput as exc:
        fail(str(exc), EXIT_USAGE)
    except ModelUnavailable as exc:
        fail(str(exc))
    except InkMotionError as exc:
        if exc.code == "INVALID_ARGUMENT":  # the server's own one line about the input
            fail(exc.message, EXIT_USAGE)
        fail(f"{exc.message} ({exc.code})")
    except KeyboardInterrupt:
        print("inkmotion: interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
