"""The plugin inside real Krita under Xvfb, with a private profile (marker `krita`).

One Krita run does it all (a fresh profile starts in ~15-30 s): the first-run dependency installer
against Krita's own Python, a sketch layer with two keys (two sketches at frames 0 and 8), Inbetween
against a real `inkmotion serve` on loopback, save as .kra, reopen, look at the new layer.
Krita's exit status says little (kritarunner always exits 0), so the driver plugin inside it writes
a JSON report, which is the verdict; the exit must still be clean.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, RASTER_SKETCHES
from harness import ServerProcess

pytestmark = pytest.mark.krita

DRIVER = Path(__file__).parent / "driver"
KEYS = ((0, "sketch2.png"), (8, "sketch13.png"))
KRITA_SECONDS = 200
# Wheels fetched by the installer are cached across runs (the profile itself is fresh each time).
PIP_CACHE = Path(os.environ.get("INKMOTION_TEST_PIP_CACHE", Path.home() / ".cache" / "inkmotion-tests" / "pip"))


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed: run scripts/setup_krita.sh"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)  # CI must run these, not skip them
        pytest.skip(message)
    return path


def _build(out: Path) -> Path:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from build_krita import build_krita
    finally:
        sys.path.pop(0)
    return build_krita(out)


def _profile(tmp: Path, plugin_zip: Path) -> dict:
    """A private HOME / XDG tree with the plugin (from the zip) and the driver installed and enabled."""
    import zipfile

    env = dict(os.environ)
    for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
        path = tmp / name.lower()
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        env[name] = str(path)
    env.pop("PYTHONPATH", None)  # Krita's Python must not see this checkout's `inkmotion` package
    env.pop("PYTHONHOME", None)
    env.pop("VIRTUAL_ENV", None)
    # Embedded Python finds its prefix through the first `python3` on PATH: pyenv's or a venv's would
    # hide Krita's own (and its PyQt5). The system's comes first.
    kept = [p for p in env.get("PATH", "").split(os.pathsep) if p and ".pyenv" not in p and p != os.path.dirname(sys.executable)]
    env["PATH"] = os.pathsep.join(["/usr/bin", "/bin", *kept])
    env["PIP_CACHE_DIR"] = str(PIP_CACHE)
    env["QT_QPA_PLATFORM"] = "xcb"
    pykrita = Path(env["XDG_DATA_HOME"]) / "krita" / "pykrita"
    pykrita.mkdir(parents=True)
    with zipfile.ZipFile(plugin_zip) as archive:  # what "Import Python Plugin from File" does
        archive.extractall(pykrita)
    shutil.copy2(DRIVER / "inkmotion_test_driver.desktop", pykrita)
    shutil.copytree(DRIVER / "inkmotion_test_driver", pykrita / "inkmotion_test_driver")
    (Path(env["XDG_CONFIG_HOME"]) / "kritarc").write_text(
        "[python]\nenable_inkmotion=true\nenable_inkmotion_test_driver=true\n\n"
        "[General]\nshowSplashScreen=false\n", encoding="utf-8")
    return env


def test_inbetween_inside_krita(tmp_path):
    krita = _need("krita")
    xvfb_run = _need("xvfb-run")
    plugin_zip = _build(tmp_path / "dist")
    env = _profile(tmp_path / "profile", plugin_zip)
    by_name = {p.name: p for p in RASTER_SKETCHES}
    report_path = tmp_path / "report.json"
    kra = tmp_path / "inbetween.kra"

    with ServerProcess(tmp_path / "server") as server:
        config = {
            "server": server.address,
            "size": [256, 256],
            "keys": [[frame, str(by_name[name])] for frame, name in KEYS],
            "current_time": 4,
            "kra": str(kra),
            "report": str(report_path),
            "install_deps": True,
        }
        (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
        env["INKMOTION_TEST_CONFIG"] = str(tmp_path / "config.json")
        command = [xvfb_run, "-a", "-s", "-screen 0 1280x1024x24", krita, "--nosplash"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
        try:
            output, _ = process.communicate(timeout=KRITA_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # xvfb-run, Xvfb and Krita together
            output, _ = process.communicate()
            report = report_path.read_text() if report_path.exists() else "(no report)"
            pytest.fail(f"Krita did not finish in {KRITA_SECONDS} s; report so far:\n{report}\n{output[-4000:]}")
        returncode = process.returncode

    assert report_path.exists(), f"the driver wrote no report (exit {returncode}):\n{output[-3000:]}"
    report = json.loads(report_path.read_text())
    print(json.dumps(report, indent=1))
    assert report["ok"], report.get("error")
    assert returncode == 0, f"Krita exited with {returncode}:\n{output[-3000:]}"

    # The installer ran for Krita's own Python and grpc now loads from the plugin's folder.
    assert report["deps_ready_after"]
    assert report["grpc_file"].startswith(str(Path(env["XDG_DATA_HOME"]) / "krita" / "pykrita" / "inkmotion" / "_deps"))
    # The source layer kept its two keys; the new layer has one keyframe per frame, 0..8, with ink.
    assert report["source_keys"] == report["source_keys_after"] == report["reopened_source_keys"] == [0, 8]
    assert report["reopened_layer"] and report["result_animated"]
    assert report["result_keys"] == list(range(0, 9))
    ink = {int(t): n for t, n in report["result_ink"].items()}
    assert all(ink[t] > 300 for t in range(9)), ink
    assert report["top_level"].index(report["result_layer"]) == report["top_level"].index("Sketch") + 1
