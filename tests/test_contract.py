"""The contract: lint-clean under buf, and the checked-in generated code is current."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import gen_proto  # noqa: E402


def _buf() -> str:
    local = REPO / ".tools" / "node_modules" / ".bin" / "buf"
    found = str(local) if local.exists() else shutil.which("buf")
    if not found:
        pytest.fail("buf is not installed: run scripts/test.sh (npm install --prefix .tools @bufbuild/buf)")
    return found


def test_buf_lint_standard_is_clean():
    result = subprocess.run([_buf(), "lint"], cwd=REPO / "proto", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_config_uses_standard_rules():
    assert "STANDARD" in (REPO / "proto" / "buf.yaml").read_text()


def test_generated_code_is_current(tmp_path):
    generated = gen_proto.generate(tmp_path)
    checked_in = REPO / "server" / "inkmotion" / "v1"
    assert sorted(p.name for p in generated) == sorted(p.name for p in checked_in.iterdir() if p.suffix in (".py", ".pyi"))
    stale = [p.name for p in generated if p.read_bytes() != (checked_in / p.name).read_bytes()]
    assert not stale, f"regenerate with `python scripts/gen_proto.py`: {stale} differ from proto/"


def test_every_task_has_a_request_in_submit():
    from inkmotion.v1 import animation_service_pb2, tasks_pb2

    oneof = animation_service_pb2.SubmitJobRequest.DESCRIPTOR.oneofs_by_name["task"]
    tasks = [v for v in tasks_pb2.Task.values() if v != tasks_pb2.TASK_UNSPECIFIED]
    assert len(oneof.fields) == len(tasks)
