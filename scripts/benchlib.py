"""What the benchmarks share: each case in a fresh process (so its peak memory is its own), and
the resident memory of this one. Imported by scripts/bench_*.py."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timings(work: Callable[[], object], repeats: int, *, warm_up: bool = True) -> list[float]:
    """The wall times of `repeats` calls of `work`, in seconds, after one call to warm up."""
    if warm_up:
        work()
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - began)
    return seconds


def median_seconds(work: Callable[[], object], repeats: int, *, warm_up: bool = True) -> float:
    """The median of `timings`."""
    return statistics.median(timings(work, repeats, warm_up=warm_up))


def spawn(script: str, case: dict, *extra: str) -> dict:
    """Run `script --case JSON [extra]` in a fresh interpreter; the JSON on its last stdout line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "server") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, script, "--case", json.dumps(case), *extra], capture_output=True, text=True,
                         env=env)
    if out.returncode != 0:
        raise SystemExit(f"case {case} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class PeakMemory:
    """The peak memory of a block above what was resident when it began, in MiB, on `device`:
    torch's CUDA allocator there, the process's resident set on the CPU (its high-water mark reset
    at the start, so earlier peaks, such as importing torch, do not count).

        with PeakMemory(device) as memory:
            work()
        memory.peak_mb, memory.base_mb
    """

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")
        self.base_mb = self.peak_mb = 0.0

    def __enter__(self) -> "PeakMemory":
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base_mb = torch.cuda.memory_allocated() / 2**20
        else:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # VmHWM := VmRSS
            self.base_mb = rss_mb()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20 - self.base_mb
        else:
            self.peak_mb = _status_mb("VmHWM") - self.base_mb


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(key + ":"))
    return int(line.split()[1]) / 1024
