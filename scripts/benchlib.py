"""What the benchmarks share: each case in a fresh process (so its peak memory is its own), and
the resident memory of this one. Imported by scripts/bench_*.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def spawn(script: str, case: dict, *extra: str) -> dict:
    """Run `script --case JSON [extra]` in a fresh interpreter; the JSON on its last stdout line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "server") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, script, "--case", json.dumps(case), *extra], capture_output=True, text=True,
                         env=env)
    if out.returncode != 0:
        raise SystemExit(f"case {case} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
