#!/usr/bin/env python3
"""What the server adds to a job: submit + watch + result on loopback, against the same work in-process.

    python scripts/bench_server.py [--server HOST:PORT] [--runs 20] [--clients 8] [--jobs-per-client 5]

The job is an inbetween of two 64-stroke x 64-point drawings into 24 frames, so the result is a
24-frame x 64-stroke x 64-point animation (98,304 points, ~3 MB on the wire). Without --server it
starts `inkmotion serve` on a free loopback port with a fresh data folder.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="bench an already running server instead of starting one")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs-per-client", type=int, default=5)
    args = parser.parse_args()

    req = request()
    size = len(service_pb2.SubmitJobRequest(inbetween=req).SerializeToString())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
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
