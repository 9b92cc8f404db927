#!/usr/bin/env python3
"""What the server adds to a job: submit + watch + result on loopback, against the same work in-process;
and what a shared server promises: fair share, memory per stream, health while a check runs.

    python scripts/bench_server.py [--only overhead|fair|streams|health] [--server HOST:PORT]
                                   [--runs 20] [--clients 8] [--jobs-per-client 5] [--queued 500]

The job is an inbetween of two 64-stroke x 64-point drawings into 24 frames, so the result is a
24-frame x 64-stroke x 64-point animation (98,304 points, ~3 MB on the wire). Without --server it
starts `inkmotion serve` on a free loopback port with a fresh data folder.

fair: user Ann queues --queued jobs on the paced test model, then Bob submits one; how many of
Ann's jobs start before Bob's (aim: at most 1) and how long Bob waits. streams: 8 readers of a
large result that stop reading after one keyframe; the server's memory per idle stream. health:
health-check latency (from another process) while a worst-case submission is checked: a 2048-px PNG
traced, a path of 390,000 segments read (aim: under 50 ms).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

# As `inkmotion serve` does: numpy's OpenBLAS threads spin after each call and would take the cores
# the server needs; the in-process baseline runs the pipeline the same way the server does.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness import ServerProcess  # noqa: E402
from inkmotion import tasks  # noqa: E402
from inkmotion.client import Client, event_kind  # noqa: E402
from inkmotion.codec import Drawing, Stroke  # noqa: E402
from inkmotion.codec.proto import animation_from_parts, drawing_to_proto  # noqa: E402
from inkmotion.limits import Limits  # noqa: E402
from inkmotion.pipelines.base import no_progress  # noqa: E402
from inkmotion.v1 import animation_service_pb2 as service_pb2  # noqa: E402
from inkmotion.v1 import drawing_pb2, jobs_pb2, tasks_pb2  # noqa: E402

FRAMES, STROKES, POINTS = 24, 64, 64


def drawing(seed: int) -> Drawing:
    rng = np.random.default_rng(seed)
    strokes = []
    for _ in range(STROKES):
        centre = rng.uniform(32, 224, 2)
        t = np.linspace(0, 1, POINTS)[:, None]
        direction = rng.normal(size=2)
        wiggle = np.stack([np.sin(t[:, 0] * 6), np.cos(t[:, 0] * 4)], 1) * rng.uniform(2, 8)
        points = centre + (t - 0.5) * direction * 40 + wiggle
        strokes.append(Stroke.from_points(points, radius=1.5, color=rng.uniform(0, 1, 4)))
    return Drawing(256, 256, strokes)


def moved(d: Drawing, seed: int) -> Drawing:
    """The same strokes turned by 20 degrees, shifted, and in another order: every stroke matches."""
    rng = np.random.default_rng(seed)
    angle = np.radians(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], np.float32)
    strokes = [s.copy(points=(s.points - 128) @ rot.T + 128 + [10, -6]) for s in d.strokes]
    return Drawing(d.width, d.height, [strokes[i] for i in rng.permutation(len(strokes))])


def request() -> tasks_pb2.InbetweenRequest:
    start = drawing(1)
    return tasks_pb2.InbetweenRequest(
        start=drawing_pb2.Keyframe(frame=1, drawing=drawing_to_proto(start)),
        end=drawing_pb2.Keyframe(frame=FRAMES, drawing=drawing_to_proto(moved(start, 2))),
        frames=FRAMES,
    )


def in_process(req) -> float:
    """The same job without a server: check the request and run the pipeline."""
    t0 = time.perf_counter()
    checked = tasks.check_submission(service_pb2.SubmitJobRequest(inbetween=req), Limits())
    tasks.run_submission(checked, "cpu", no_progress)
    return time.perf_counter() - t0


def round_trip(client: Client, req, decode_times: list[float] | None = None,
               phases: dict[str, list[float]] | None = None) -> float:
    """Submit, watch to the end and fetch every keyframe message: what the server adds to a job.
    Decoding the keyframes into numpy records is the host's own work, timed apart. `phases` gets
    where the time went: submit, queued -> started, started -> finished, result stream."""
    t0 = time.perf_counter()
    job = client.submit(req)
    t_submitted = time.perf_counter()
    t_started = t_submitted
    final = None
    for event in client.watch(job.id):
        kind = event_kind(event)
        if kind == "started":
            t_started = time.perf_counter()
        final = event.job
    assert final is not None and final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final
    t_finished = time.perf_counter()
    result = client.result(job.id)
    elapsed = time.perf_counter() - t0
    if phases is not None:
        for name, value in (("submit", t_submitted - t0), ("queued -> started", t_started - t_submitted),
                            ("started -> finished", t_finished - t_started), ("result stream", t0 + elapsed - t_finished)):
            phases.setdefault(name, []).append(value)
    t1 = time.perf_counter()
    animation = animation_from_parts(result.info, result.keyframes)
    if decode_times is not None:
        decode_times.append(time.perf_counter() - t1)
    assert len(animation.keyframes) == FRAMES and animation.keyframes[5].content.point_count == STROKES * POINTS
    return elapsed


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return f"median {statistics.median(values) * 1e3:7.1f} ms   p95 {p95 * 1e3:7.1f} ms"


def tiny(x: float) -> Drawing:
    return Drawing(64, 64, [Stroke.from_points([[x, 10.0], [x + 20, 30.0], [x + 10, 50.0]], radius=1.0)])


def tiny_request(frames: int = 3, model: str = "test-slow") -> tasks_pb2.InbetweenRequest:
    return tasks_pb2.InbetweenRequest(
        start=drawing_pb2.Keyframe(frame=1, drawing=drawing_to_proto(tiny(5))),
        end=drawing_pb2.Keyframe(frame=frames, drawing=drawing_to_proto(tiny(20))), frames=frames, model=model)


def bench_fair(queued: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="inkmotion-bench-fair-"))
    tokens = {"ann": "ann-token-0123456789abcdef", "bob": "bob-token-0123456789abcdef"}
    (folder / "tokens").write_text("".join(f"{u} {t}\n" for u, t in tokens.items()))
    (folder / "tokens").chmod(0o600)
    with ServerProcess(folder / "data", "--token-file", str(folder / "tokens"),
                       env={"INKMOTION_TEST_STEP_SECONDS": "0.05"}) as server, \
            Client(server.address, token=tokens["ann"]) as ann, Client(server.address, token=tokens["bob"]) as bob:
        t0 = time.perf_counter()
        ann_ids = [ann.submit(tiny_request()).id for _ in range(queued)]
        took = time.perf_counter() - t0
        t0 = time.perf_counter()
        mine = bob.submit(tiny_request())
        while (job := bob.job(mine.id)).state == jobs_pb2.JOB_STATE_QUEUED:
            time.sleep(0.01)
        waited = time.perf_counter() - t0
        created, started = mine.created_at.ToNanoseconds(), job.started_at.ToNanoseconds()
        ahead = sum(1 for i in ann_ids if created < ann.job(i).started_at.ToNanoseconds() < started)
        print(f"fair share: Ann queued {queued} jobs in {took:.1f} s ({queued / took:.0f} submissions/s); "
              f"Bob's job was at position {mine.queue_position}, started after {ahead} of Ann's (aim: <= 1), "
              f"waited {waited * 1e3:.0f} ms (Ann's jobs take ~0.15 s each)")
        for job in ann.jobs(states=[jobs_pb2.JOB_STATE_QUEUED, jobs_pb2.JOB_STATE_RUNNING]):
            ann.cancel(job.id)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def bench_streams(readers: int = 8) -> None:
    import grpc

    from inkmotion.server import channel_options
    from inkmotion.v1 import animation_service_pb2_grpc as service_grpc

    t = np.linspace(0, 1, 400)[:, None]

    def big(seed: int) -> Drawing:
        r = np.random.default_rng(seed)
        return Drawing(512, 512, [Stroke.from_points(r.uniform(64, 448, 2) + (t - 0.5) * r.normal(size=2) * 80
                                                     + np.sin(t * 9) * 6, radius=1.5) for _ in range(64)])

    folder = Path(tempfile.mkdtemp(prefix="inkmotion-bench-streams-"))
    req = tasks_pb2.InbetweenRequest(start=drawing_pb2.Keyframe(frame=1, drawing=drawing_to_proto(big(1))),
                                     end=drawing_pb2.Keyframe(frame=128, drawing=drawing_to_proto(big(2))), frames=128)
    with ServerProcess(folder / "data") as server, Client(server.address, timeout=120) as client:
        job = client.submit(req)
        client.wait(job.id)
        size = (folder / "data" / "results" / f"{job.id}.keyframes").stat().st_size / 2**20
        channel = grpc.insecure_channel(server.address, options=channel_options(256 * 2**20))
        stub = service_grpc.AnimationServiceStub(channel)
        get = service_pb2.GetJobRequest(job_id=job.id, include_result=True)
        t0 = time.perf_counter()
        whole = sum(len(r.keyframe.SerializeToString()) for r in stub.GetJob(get)) / 2**20
        read = time.perf_counter() - t0
        time.sleep(1.0)
        before = rss_mb(server.proc.pid)
        idle = [stub.GetJob(get) for _ in range(readers)]
        for stream in idle:
            next(stream), next(stream)
        time.sleep(3.0)
        grown = rss_mb(server.proc.pid) - before
        print(f"streams: a {size:.0f} MB result (128 frames x 64 strokes x 400 points) read whole in {read:.2f} s "
              f"({whole / read:.0f} MB/s); {readers} readers that stop after one keyframe add {grown:.1f} MB "
              f"to the server, {grown / readers:.1f} MB each ({grown / readers / size:.1%} of the result)")
        for stream in idle:
            stream.cancel()
        channel.close()


POLL = """
import json, sys, threading, time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(sys.argv[1]))
stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
seen, stop = [], threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
print("ready", flush=True)
while not stop.is_set():
    t = time.perf_counter()
    stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    seen.append(time.perf_counter() - t)
    time.sleep(0.01)
print(json.dumps(seen))
"""


def bench_health() -> None:
    import io
    import json
    import subprocess

    from PIL import Image, ImageDraw

    from inkmotion.client import InkMotionError

    image = Image.new("RGBA", (2048, 2048), (0, 0, 0, 0))
    pen, rng = ImageDraw.Draw(image), np.random.default_rng(0)
    for _ in range(400):
        pen.line([tuple(rng.uniform(0, 2048, 2)) for _ in range(6)], fill=(0, 0, 0, 255), width=3)
    png = io.BytesIO()
    image.save(png, "PNG")
    path = "M0 0 " + " ".join(f"L{i % 500} {(i * 7) % 497}" for i in range(390_000))
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512"><path stroke="black" fill="none" d="{path}"/></svg>'
    cases = {"a 2048-px PNG traced": tasks_pb2.TextMotionRequest(prompt="x", sketch_raster=drawing_pb2.Raster(png=png.getvalue())),
             "one SVG path of 390,000 segments": tasks_pb2.TextMotionRequest(prompt="x", sketch_svg=svg)}
    with ServerProcess(Path(tempfile.mkdtemp(prefix="inkmotion-bench-health-"))) as server, \
            Client(server.address, timeout=60) as client:
        try:  # the check processes start with the server: wait for them before measuring
            client.submit(tasks_pb2.TextMotionRequest(prompt="x", sketch_svg="not svg"))
        except InkMotionError:
            pass
        for name, req in cases.items():
            poller = subprocess.Popen([sys.executable, "-c", POLL, server.address], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
            poller.stdout.readline()
            time.sleep(0.5)
            t0 = time.perf_counter()
            try:
                client.submit(req)
                outcome = "accepted"
            except InkMotionError as exc:
                outcome = exc.code
            took = time.perf_counter() - t0
            out, _ = poller.communicate("stop\n")
            seen = sorted(json.loads(out))
            p99 = seen[min(len(seen) - 1, int(0.99 * len(seen)))]
            print(f"health while {name} is checked ({took:.1f} s, {outcome}): {len(seen)} checks, median "
                  f"{statistics.median(seen) * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms, max {seen[-1] * 1e3:.1f} ms (aim: < 50 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["overhead", "fair", "streams", "health"], help="one measurement (default: all)")
    parser.add_argument("--server", help="bench an already running server instead of starting one (overhead only)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs-per-client", type=int, default=5)
    parser.add_argument("--queued", type=int, default=500, help="fair: Ann's queued jobs")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.only in (None, "overhead"):
        bench_overhead(args)
    if args.only in (None, "fair"):
        bench_fair(args.queued)
    if args.only in (None, "streams"):
        bench_streams()
    if args.only in (None, "health"):
        bench_health()


def bench_overhead(args) -> None:
    req = request()
    size = len(service_pb2.SubmitJobRequest(inbetween=req).SerializeToString())
    print(f"job: inbetween -> {FRAMES} frames x {STROKES} strokes x {POINTS} points; request {size / 1e3:.0f} kB")

    proc = None
    if not args.server:
        proc = ServerProcess(Path(tempfile.mkdtemp(prefix="inkmotion-bench-"))).start()
    address = args.server or proc.address
    try:
        with Client(address) as client:
            round_trip(client, req)  # warm-up: connection, first job
            local, served, decode, phases = [], [], [], {}
            for _ in range(args.runs):  # interleaved, so both see the same machine
                local.append(in_process(req))
                served.append(round_trip(client, req, decode, phases))
        print(f"in-process (check + pipeline):  {ms(local)}")
        print(f"through the server (loopback):  {ms(served)}   (submit + watch + all keyframes received)")
        overhead = statistics.median(served) - statistics.median(local)
        print(f"server adds (median):           {overhead * 1e3:7.1f} ms per job   (aim: < 20 ms)")
        print(f"host decodes keyframes:         {ms(decode)}   (protobuf -> numpy records, client side)")
        for name, values in phases.items():
            print(f"  {name:28}  {ms(values)}")

        latencies: list[float] = []
        lock = threading.Lock()

        def worker():
            with Client(address) as client:
                for _ in range(args.jobs_per_client):
                    t = round_trip(client, req)
                    with lock:
                        latencies.append(t)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        jobs = args.clients * args.jobs_per_client
        print(f"{args.clients} concurrent clients x {args.jobs_per_client} jobs: {jobs / wall:6.1f} jobs/s, "
              f"{jobs * FRAMES / wall:7.0f} frames/s;  latency {ms(latencies)}")
    finally:
        if proc:
            proc.stop()


if __name__ == "__main__":
    main()
