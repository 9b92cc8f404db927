#!/usr/bin/env python3
"""What the ray backend costs and gives: the latency it adds to a job against the local backend,
and jobs per second with 1, 2 and 4 CPU workers.

    python scripts/bench_cluster.py [--runs 10] [--burst 16] [--workers 1 2 4]

Two kinds of job: bench_server's inbetween (two 64-stroke x 64-point drawings into 24 frames: the
stroke-match engine, ~3 MB of result) and a text-to-motion job on a tiny random model in
ModelScope's layout (2 frames, 2 steps: the model loaded once per worker, then resident).

- latency: the median, over --runs jobs one after another, of submit -> finished -> result read,
  on a server with the local backend and on one with the ray backend (one CPU worker, a local
  cluster of one node started here): the difference is what Ray adds per job (placing the job on
  an actor, polling its progress, the result through the object store);
- throughput: --burst jobs submitted at once to a ray server with W CPU workers (`--device cpu
  --ray-workers W`, a one-node cluster with W CPUs, however many cores this machine has): jobs/s
  from the first submit to the last result.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_server import request as inbetween_request  # noqa: E402
from harness import ServerProcess, models_config  # noqa: E402
from inkmotion.backends.ray import LocalCluster  # noqa: E402
from inkmotion.client import Client  # noqa: E402
from inkmotion.codec import Drawing, Stroke  # noqa: E402
from inkmotion.codec.proto import drawing_to_proto  # noqa: E402
from inkmotion.v1 import jobs_pb2, tasks_pb2  # noqa: E402


def text_request() -> tasks_pb2.TextMotionRequest:
    import numpy as np

    points = np.array([[40, 40], [120, 40], [120, 120], [40, 120]], np.float32)
    sketch = Drawing(256, 256, [Stroke(points=points, radii=np.ones(4, np.float32), opacities=np.ones(4, np.float32))])
    return tasks_pb2.TextMotionRequest(sketch=drawing_to_proto(sketch), prompt="it moves", model="tiny", frames=2, steps=2)


JOBS = {"inbetween": inbetween_request, "tiny model": text_request}


def one(client: Client, make) -> float:
    began = time.perf_counter()
    job = client.submit(make())
    final = client.wait(job.id)
    assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
    client.result(job.id)
    return time.perf_counter() - began


def burst(client: Client, make, count: int) -> float:
    """Jobs per second for `count` jobs submitted together, the last result read."""
    began = time.perf_counter()
    jobs = [client.submit(make()) for _ in range(count)]
    for job in jobs:
        final = client.wait(job.id)
        assert final.state == jobs_pb2.JOB_STATE_SUCCEEDED, final.error
        client.result(job.id)
    return count / (time.perf_counter() - began)


def ready(proc: ServerProcess, workers: int) -> None:
    from inkmotion.v1 import animation_service_pb2 as service_pb2

    deadline = time.monotonic() + 120
    with Client(proc.address) as client:
        while sum(w.state == service_pb2.WORKER_STATE_IDLE for w in client.capabilities().workers) < workers:
            if time.monotonic() > deadline:
                raise SystemExit(f"the ray server's {workers} worker(s) did not start")
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--burst", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)
    import ray

    import make_tiny_models

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
          f"Python {platform.python_version()}, Ray {ray.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = models_config(tmp / "models.toml", make_tiny_models.make_tiny_models(tmp / "tiny", seed=0),
                               {"tiny": "text_motion"})
        env = {"INKMOTION_MODELS": str(config), "HF_HUB_CACHE": str(tmp / "hub")}

        latency: dict[str, dict[str, float]] = {}
        with ServerProcess(tmp / "local", env=env) as proc, Client(proc.address) as client:
            for name, make in JOBS.items():
                one(client, make)  # warm: the model loaded, the code imported
                latency[name] = {"local": statistics.median(one(client, make) for _ in range(args.runs))}
        with LocalCluster([{"num_cpus": 1}]) as cluster, ServerProcess(
                tmp / "ray-1", "--backend", "ray", "--ray-address", cluster.address, "--ray-workers", "1",
                env=env) as proc, Client(proc.address) as client:
            ready(proc, 1)
            for name, make in JOBS.items():
                one(client, make)
                latency[name]["ray"] = statistics.median(one(client, make) for _ in range(args.runs))
        print(f"\nlatency per job, median of {args.runs} one after another (s):")
        print("| job | local backend | ray backend (1 CPU worker) | added by Ray |")
        print("|---|---|---|---|")
        for name, row in latency.items():
            print(f"| {name} | {row['local']:.3f} | {row['ray']:.3f} | {row['ray'] - row['local']:+.3f} |")

        rates: dict[int, dict[str, float]] = {}
        for workers in args.workers:
            with LocalCluster([{"num_cpus": workers}]) as cluster, ServerProcess(
                    tmp / f"ray-{workers}w", "--backend", "ray", "--ray-address", cluster.address,
                    "--ray-workers", str(workers), env=env) as proc, Client(proc.address) as client:
                ready(proc, workers)
                rates[workers] = {}
                for name, make in JOBS.items():
                    burst(client, make, workers)  # every worker warm (its model loaded)
                    rates[workers][name] = burst(client, make, args.burst)
        print(f"\njobs/s, {args.burst} submitted at once (ray backend, --device cpu, one node):")
        print("| workers | " + " | ".join(JOBS) + " |")
        print("|---" * (len(JOBS) + 1) + "|")
        for workers, row in rates.items():
            print(f"| {workers} | " + " | ".join(f"{row[name]:.2f}" for name in JOBS) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
