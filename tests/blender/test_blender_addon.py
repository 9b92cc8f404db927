"""The Blender add-on inside real Blender (the bpy wheels in .venvs/blender-*), against a real server.

The session builds the extension zip once with scripts/build_addons.py and starts one
`inkmotion serve` (with the slow test model and a tiny text model); every test runs
tests/blender/in_blender.py in a Blender venv: install the zip as an artist would, draw keyframes
from the test sketches, run the add-on's operators, report back. Grease Pencil v3 tests run on
bpy 5.0 and 4.5 LTS; 4.2 LTS (legacy Grease Pencil) checks the add-on says why it cannot run.
Not covered here: the modal (UI) path, panels drawn by a real window and undo, which need a
window that module Blender has not; the job polling the modal operator runs on is covered.

Set up the venvs with `bash scripts/setup_blender.sh` (scripts/test.sh does). Without them these
tests fail; `-m "not blender"` leaves them out.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from harness import SQUARE, ServerProcess, models_config, square_clip
from inkmotion.client import Client
from inkmotion.codec.svg import read_svg
from inkmotion.v1 import drawing_pb2, jobs_pb2, tasks_pb2

pytestmark = pytest.mark.blender

VERSIONS = ["5.0", "4.5"]  # Grease Pencil v3 releases scripts/setup_blender.sh installs (and 4.2 LTS, legacy)
IN_BLENDER = Path(__file__).with_name("in_blender.py")
ADDON_SOURCE = REPO / "addons" / "blender" / "inkmotion"
UNITS_PER_PIXEL = 0.01  # as in_blender.py draws the sketches


def blender_python(version: str) -> Path:
    venv = REPO / ".venvs" / f"blender-{version}"
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def installed_blender(version: str) -> Path:
    python = blender_python(version)
    if not python.exists():
        # scripts/test.sh installs it; leave these out with -m "not blender", never as skips
        pytest.fail(f"Blender {version} is not installed ({python} missing): run bash scripts/setup_blender.sh")
    return python


@pytest.fixture(params=VERSIONS, ids=[f"bpy-{v}" for v in VERSIONS])
def blender(request) -> Path:
    return installed_blender(request.param)


@pytest.fixture(scope="session")
def inbetween_keys(vector_sketches) -> list[dict]:
    """Two keys of different canvases (224 and 256 px): cat-1.svg and cat-2.svg."""
    return [sketch(p) for p in vector_sketches[13:15]]


@pytest.fixture(scope="session")
def text_sketch(vector_sketches) -> dict:
    return sketch(vector_sketches[5])


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("build_addons", REPO / "scripts" / "build_addons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_blender(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def server(tiny_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("blender-server")
    config = models_config(folder / "models.toml", tiny_dir, {"tiny": "text_motion", "tiny-flip": "raster_text_motion"})
    with ServerProcess(folder / "data", env={"INKMOTION_MODELS": str(config)}) as proc:
        yield proc


@pytest.fixture(scope="session")
def packing():
    """The add-on's own pure-numpy packing module, to build the requests the add-on should send."""
    spec = importlib.util.spec_from_file_location("inkmotion_addon_packing", ADDON_SOURCE / "packing.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def sketch(path: Path) -> dict:
    drawing = read_svg(path)
    return {"name": path.name, "strokes": [{"points": s.points.tolist(), "radii": s.radii.tolist()} for s in drawing.strokes]}


def start_blender(python: Path, scenario: str, tmp_path: Path, **config) -> subprocess.Popen:
    config = {"scenario": scenario, "workdir": str(tmp_path), "report": str(tmp_path / "report.json"),
              "arrays": str(tmp_path / "arrays.npz"), **config}
    (tmp_path / "config.json").write_text(json.dumps(config))
    home = tmp_path / "home"  # the extension installs into this HOME's Blender config, not the user's
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    env.pop("PYTHONPATH", None)  # Blender's Python must find the add-on's own client, not ours
    return subprocess.Popen([str(python), str(IN_BLENDER), str(tmp_path / "config.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def run_blender(python: Path, scenario: str, tmp_path: Path, **config) -> tuple[dict, dict]:
    return blender_report(start_blender(python, scenario, tmp_path, **config), tmp_path)


BLENDER_SECONDS = 600  # generous: a busy machine; the steps inside have their own limits and say so
STEP = "inkmotion-test step: "  # what in_blender.py prints before each step


def blender_report(proc: subprocess.Popen, tmp_path: Path, timeout: float = BLENDER_SECONDS) -> tuple[dict, dict]:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        steps = [line.removeprefix(STEP) for line in stdout.splitlines() if line.startswith(STEP)]
        last = steps[-1] if steps else "Blender to start the script (it printed no step)"
        pytest.fail(f"timed out after {timeout:g} s waiting for Blender: its last step was {last}\n"
                    f"--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}")
    report_path = tmp_path / "report.json"
    assert report_path.exists(), f"Blender exited {proc.returncode} without a report:\n{stdout[-4000:]}\n{stderr[-4000:]}"
    report = json.loads(report_path.read_text())
    assert report["ok"], f"{report.get('traceback')}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}"
    with np.load(tmp_path / "arrays.npz") as npz:
        flat = {k: npz[k] for k in npz.files}
    arrays: dict = {}
    for key, value in flat.items():  # "tag|layer|frame|attribute" -> arrays[tag][layer][frame][attribute]
        tag, layer, frame, name = key.split("|")
        arrays.setdefault(tag, {}).setdefault(layer, {}).setdefault(int(frame), {})[name] = value
    return report, arrays


def assert_same_drawing(got: dict, want: dict, atol: float = 1e-5) -> None:
    np.testing.assert_array_equal(got["counts"], want["counts"])
    np.testing.assert_allclose(got["position"], want["position"], atol=atol)
    np.testing.assert_allclose(got["radius"], want["radius"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(got["opacity"], want["opacity"], atol=1e-5)
    np.testing.assert_allclose(got["vertex_color"], want["vertex_color"], atol=1e-4)
    np.testing.assert_array_equal(got["material_index"], want["material_index"])


def assert_same_layer(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for frame in want:
        for name in want[frame]:
            np.testing.assert_array_equal(got[frame][name], want[frame][name], err_msg=f"frame {frame} {name}")


# -- the package ----------------------------------------------------------------------------------

def test_the_zip_is_one_installable_file(addon_zip):
    with zipfile.ZipFile(addon_zip) as zf:
        names = zf.namelist()
        manifest = tomllib.loads(zf.read("blender_manifest.toml").decode())
        vendored = {n: zf.read(n).decode() for n in names if n.startswith("_client/") and n.endswith(".py")}
    assert manifest["id"] == "inkmotion" and manifest["type"] == "add-on"
    assert manifest["blender_version_min"] == "4.2.0"
    wheels = manifest["wheels"]
    assert all(w.removeprefix("./") in names for w in wheels), "every listed wheel is in the zip"
    for package in ("grpcio", "protobuf", "typing_extensions"):
        assert any(Path(w).name.startswith(package + "-") for w in wheels), package
    for platform_tag in ("manylinux", "win_amd64", "macosx"):
        for package in ("grpcio", "protobuf"):
            assert any(Path(w).name.startswith(package + "-") and platform_tag in w for w in wheels), (package, platform_tag)
    assert all("cp311" in w or "abi3" in w or "py3-none-any" in w for w in wheels)
    assert set(manifest["platforms"]) == {"linux-x64", "windows-x64", "macos-arm64", "macos-x64"}
    assert {"_client/client.py", "_client/forms.py", "_client/v1/tasks_pb2.py",
            "_client/v1/animation_service_pb2_grpc.py"} <= set(vendored)
    for name, text in vendored.items():  # the private copy never reaches for a user-installed `inkmotion`
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("inkmotion"), f"{name}: from {node.module} import"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("inkmotion") for a in node.names), name
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


# -- inside Blender -----------------------------------------------------------------------------------

def test_inbetween_writes_a_new_layer_and_survives_save_and_reload(blender, addon_zip, server, tmp_path, packing,
                                                                     inbetween_keys):
    report, arrays = run_blender(blender, "inbetween", tmp_path, zip=str(addon_zip), server=server.address,
                                 sketches=inbetween_keys)
    assert report["result"] == ["FINISHED"]
    layers = report["after"]["layers"]
    assert sorted(layers) == ["Inbetween", "Sketch"]
    assert layers["Sketch"]["frames"] == [10, 30]
    assert layers["Inbetween"]["frames"] == list(range(10, 19)), "one keyframe per output frame from the start key"
    assert report["after"]["active_layer"] == "Sketch"
    assert report["second"]["layers"]["Inbetween.001"]["frames"] == [40, 41, 42]

    # The source layer is untouched, by the add-on and by save + reload.
    source = arrays["before"]["Sketch"]
    assert_same_layer(arrays["after"]["Sketch"], source)
    assert_same_layer(arrays["reloaded"]["Sketch"], source)
    assert report["reloaded"]["layers"] == report["second"]["layers"]
    for name in ("Inbetween", "Inbetween.001"):
        assert_same_layer(arrays["reloaded"][name], arrays["second"][name])

    # The keys come out as they went in: points, radii, opacities, vertex colours, materials.
    result = arrays["after"]["Inbetween"]
    assert_same_drawing(result[10], source[10])
    assert_same_drawing(result[18], source[30])
    lo = min(source[f]["radius"].min() for f in source)
    hi = max(source[f]["radius"].max() for f in source)
    for frame, drawing in result.items():
        assert len(drawing["counts"]) > 0, frame
        assert np.isfinite(drawing["position"]).all() and (drawing["position"][:, 1] == 0).all(), "in the drawing plane"
        assert ((drawing["radius"] >= lo - 1e-6) & (drawing["radius"] <= hi + 1e-6)).all(), frame
        assert ((drawing["opacity"] >= 0) & (drawing["opacity"] <= 1)).all()
        colors = drawing["vertex_color"]
        assert np.isin(colors[:, 3], [0.0, 1.0]).all(), "a colour either is the material's or its own"
        assert set(np.unique(drawing["material_index"])) <= {0, 1}
        assert report["after"]["materials"] == ["Ink", "Blue"]

    # The frames between are what the server makes of the same keys sent straight from here.
    points = np.concatenate([source[10]["position"], source[30]["position"]])
    canvas = packing.Canvas.fit(points, 512)

    def key(frame):
        strokes = source[frame]
        return drawing_pb2.Keyframe(frame=frame, drawing=drawing_pb2.Drawing(
            width=512, height=512, point_counts=strokes["counts"].tolist(),
            positions=canvas.to_pixels(strokes["position"]).astype("<f4").tobytes(),
            radii=(strokes["radius"] * canvas.scale).astype("<f4").tobytes()))

    with Client(server.address) as client:
        job = client.submit(tasks_pb2.InbetweenRequest(start=key(10), end=key(30), frames=9))
        assert client.wait(job.id).state == jobs_pb2.JOB_STATE_SUCCEEDED
        expected = client.result(job.id).keyframes
    assert [k.frame for k in expected] == list(range(10, 19))
    for k in expected:
        got = result[k.frame]
        np.testing.assert_array_equal(got["counts"], list(k.drawing.point_counts), err_msg=f"frame {k.frame}")
        want = canvas.from_pixels(np.frombuffer(k.drawing.positions, "<f4").reshape(-1, 2))
        np.testing.assert_allclose(got["position"], want, atol=1e-4, err_msg=f"frame {k.frame}")


def test_a_job_is_cancelled_midway(blender, addon_zip, server, tmp_path, inbetween_keys):
    report, _ = run_blender(blender, "cancel", tmp_path, zip=str(addon_zip), server=server.address,
                            sketches=inbetween_keys)
    # Background mode: the timeout cancels the server job, the operator fails with why, nothing is written.
    error = report["timeout_error"]
    assert error and "timed out after 1 s" in error and "was cancelled" in error, error
    # The error and the job's CANCELLED state below show the timeout worked; this only says the
    # operator did not hang after it (generous: a busy machine).
    assert report["timeout_seconds"] < 60
    assert report["layers_after_timeout"] == ["Sketch"]
    timed_out_job = re.search(r"server job (\w+)", error).group(1)

    # The UI's path: the job the modal operator polls, cancelled after it started making progress.
    job = report["remote_job"]
    assert job["done"] and job["cancelled"] and job["state"] == "cancelled", job
    assert 0.1 <= job["fraction"] < 1.0, "cancelled midway"
    assert report["layers_after_cancel"] == ["Sketch"]
    assert "/extensions/user_default/inkmotion/" in report["addon_file"].replace(os.sep, "/"), "the installed copy ran"

    with Client(server.address) as client:
        for job_id in (timed_out_job, job["id"]):
            assert client.job(job_id).state == jobs_pb2.JOB_STATE_CANCELLED, job_id


def test_a_dropped_connection_reconnects_and_the_job_finishes(blender, addon_zip, tmp_path, inbetween_keys):
    data = tmp_path / "server-data"
    server = ServerProcess(data).start()
    port = server.port
    proc = start_blender(blender, "reconnect", tmp_path, zip=str(addon_zip), server=server.address,
                         sketches=inbetween_keys)
    try:
        # 1. The operator's job runs; the server dies under it and comes back on the same port.
        with Client(server.address) as client:
            deadline = time.monotonic() + 180
            while not any(j.state == jobs_pb2.JOB_STATE_RUNNING and j.step >= 3 for j in client.jobs()):
                assert proc.poll() is None, f"Blender exited ({proc.returncode}) before its Inbetween job got going"
                assert time.monotonic() < deadline, (
                    "timed out after 180 s waiting for Blender's Inbetween job to reach step 3 (jobs: "
                    + ", ".join(f"{j.id} {jobs_pb2.JobState.Name(j.state)} step {j.step}" for j in client.jobs()) + ")")
                time.sleep(0.05)
        server.kill()
        time.sleep(1.0)
        server = ServerProcess(data, "--port", str(port)).start()
        # 2. Blender keeps watching the same job, which is re-queued and finishes.
        report, arrays = blender_report(proc, tmp_path)
        with Client(server.address) as client:
            jobs = list(client.jobs())
    finally:
        server.stop()
        if proc.poll() is None:
            proc.kill()
    assert len(jobs) == 1 and jobs[0].state == jobs_pb2.JOB_STATE_SUCCEEDED, "one job, watched to the end"
    assert report["result"] == ["FINISHED"]
    assert report["after"]["layers"]["Inbetween"]["frames"] == list(range(1, 31))
    assert_same_drawing(arrays["after"]["Inbetween"][30], arrays["after"]["Sketch"][30])


def test_animate_text_with_the_tiny_model(blender, addon_zip, server, tmp_path, text_sketch):
    report, arrays = run_blender(blender, "text", tmp_path, zip=str(addon_zip), server=server.address,
                                 sketches=[text_sketch], model="tiny", flip_model="tiny-flip",
                                 dead_server="127.0.0.1:9")
    with Client(server.address) as client:
        offered = {t.task: t for t in client.capabilities().tasks}
    label = {t.name: t.label for t in offered.values()}  # the layers and messages say the server's words

    def available(task):
        return task in offered and offered[task].available

    # Greyed out exactly where the server lacks the task, with the reason.
    assert report["poll"] == {
        "animate": available(tasks_pb2.TASK_TEXT_MOTION),
        "inbetween": available(tasks_pb2.TASK_INBETWEEN),
        "follow_path": available(tasks_pb2.TASK_PATH_MOTION),
        "animate_video": available(tasks_pb2.TASK_VIDEO_MOTION),
    }
    assert all(report["poll"].values()), "this server runs all four"
    assert label["video_motion"] in report["video_error"] and "no frame images" in report["video_error"], report["video_error"]
    assert "prompt is empty" in report["empty_prompt_error"]
    assert report["panel"] == {"category": "InkMotion", "space": "VIEW_3D", "region": "UI"}

    assert report["result"] == ["FINISHED"]
    layers = report["after"]["layers"]
    assert layers[label["text_motion"]]["frames"] == [5, 6, 7]
    source = arrays["before"]["Sketch"][1]
    assert_same_layer(arrays["after"]["Sketch"], arrays["before"]["Sketch"])
    for frame, drawing in arrays["after"][label["text_motion"]].items():
        np.testing.assert_array_equal(drawing["counts"], source["counts"], err_msg=f"frame {frame}")
        np.testing.assert_allclose(drawing["radius"], source["radius"], rtol=1e-4, err_msg=f"frame {frame}")
        np.testing.assert_allclose(drawing["vertex_color"], source["vertex_color"], atol=1e-4)
        np.testing.assert_array_equal(drawing["material_index"], source["material_index"])
        assert np.isfinite(drawing["position"]).all()

    # FlipSketch from Blender: new strokes traced from its raster frames, on a layer of its own.
    assert report["flip_result"] == ["FINISHED"]
    assert layers[label["raster_text_motion"]]["frames"] == [20, 21]
    for frame, drawing in arrays["after"][label["raster_text_motion"]].items():
        assert len(drawing["counts"]) > 0 and np.isfinite(drawing["position"]).all(), f"frame {frame}"

    drawn = report["panel_draw"]
    for idname in ("inkmotion.animate", "inkmotion.inbetween", "inkmotion.follow_path", "inkmotion.animate_video"):
        assert ["operator", idname] in [entry[:2] for entry in drawn], idname
    assert not any(entry[0] == "label" and entry[1].startswith(label["video_motion"] + ": ") for entry in drawn), \
        "no reason shown for a task the server runs (reasons: test_job_status)"
    assert ["prop", "prompt"] in drawn and ["prop", "server_address"] in drawn and ["prop", "token"] in drawn

    assert "127.0.0.1:9" in report["dead_server_error"], report["dead_server_error"]
    assert sorted(report["layers_at_end"]) == sorted([label["raster_text_motion"], "Sketch", label["text_motion"]]), \
        "nothing written when the server is gone"


# The Follow path scene, in SVG pixels: a little house whose first point is where the path starts
# (so that point is the subject's anchor and stays on the path), and the path, drawn last.
HOUSE = [[[40, 60], [60, 60], [60, 40], [40, 40], [40, 60]], [[40, 40], [50, 28], [60, 40]]]
PATH = [[40, 60], [90, 40], [140, 90], [180, 170], [220, 200]]


def _blender_xz(points) -> np.ndarray:
    """SVG pixels -> the X-Z plane in_blender.py draws in (Blender units)."""
    points = np.asarray(points, np.float64)
    return np.stack([points[:, 0] * UNITS_PER_PIXEL, -points[:, 1] * UNITS_PER_PIXEL], axis=1)


def _distance_to_polyline(point, path) -> float:
    a, b = path[:-1], path[1:]
    ab = b - a
    w = np.clip(((point - a) * ab).sum(axis=1) / (ab * ab).sum(axis=1), 0.0, 1.0)
    return float(np.linalg.norm(point - (a + w[:, None] * ab), axis=1).min())


def test_follow_path_moves_the_subject_along_the_selected_stroke(blender, addon_zip, server, tmp_path):
    strokes = [{"points": s, "radii": [1.5] * len(s)} for s in [*HOUSE, PATH]]
    report, arrays = run_blender(blender, "follow_path", tmp_path, zip=str(addon_zip), server=server.address,
                                 sketches=[{"name": "house", "strokes": strokes}], path_index=len(HOUSE),
                                 form={"frames": 8, "timing": "as-drawn"}, start_frame=10)
    with Client(server.address) as client:
        info = next(t for t in client.capabilities().tasks if t.name == "path_motion")
    # Offered now, with the server's form; without a selected stroke it says what to do.
    assert report["poll"] is True
    assert [p["name"] for p in report["form"]] == [p.name for p in info.parameters]
    timing = next(p for p in report["form"] if p["name"] == "timing")
    assert timing["choices"] == ["even", "as-drawn"] and timing["value"] == "even"
    assert ["operator", "inkmotion.follow_path"] in [e[:2] for e in report["panel_draw"]]
    assert "select the stroke to follow" in (report["no_selection_error"] or ""), report["no_selection_error"]

    assert report["result"] == ["FINISHED"]
    layers = report["after"]["layers"]
    assert sorted(layers) == sorted(["Sketch", info.label]), layers
    assert layers[info.label]["frames"] == list(range(10, 18)), "8 keyframes from the start frame"
    assert_same_layer(arrays["after"]["Sketch"], arrays["before"]["Sketch"])
    assert report["reloaded"]["layers"] == report["after"]["layers"]
    assert_same_layer(arrays["reloaded"][info.label], arrays["after"][info.label])

    # The first keyframe is the subject as drawn (the path stroke left out).
    source = arrays["before"]["Sketch"][1]
    sizes = [len(s) for s in HOUSE]
    subject = {"counts": np.array(sizes), "position": source["position"][:sum(sizes)],
               "radius": source["radius"][:sum(sizes)], "opacity": source["opacity"][:sum(sizes)],
               "vertex_color": source["vertex_color"][:sum(sizes)],
               "material_index": source["material_index"][:len(HOUSE)]}
    result = arrays["after"][info.label]
    assert_same_drawing(result[10], subject, atol=1e-4)
    # Its anchor (the house's first point, the path's start) travels on the path to its end; every
    # frame is the house moved (same strokes, points, radii), in the drawing plane.
    path = _blender_xz(PATH)
    anchors = np.array([result[f]["position"][0, [0, 2]] for f in range(10, 18)], np.float64)
    assert max(_distance_to_polyline(a, path) for a in anchors) < 0.002, anchors
    np.testing.assert_allclose(anchors[0], path[0], atol=1e-4)
    np.testing.assert_allclose(anchors[-1], path[-1], atol=1e-3)
    travelled = np.linalg.norm(anchors - path[0], axis=1)
    assert (np.diff(travelled[:4]) > 0).all() and travelled[-1] > 1.5, travelled
    for frame, drawing in result.items():
        np.testing.assert_array_equal(drawing["counts"], sizes, err_msg=f"frame {frame}")
        np.testing.assert_allclose(drawing["radius"], subject["radius"], rtol=1e-4, err_msg=f"frame {frame}")
        assert np.isfinite(drawing["position"]).all() and (drawing["position"][:, 1] == 0).all(), frame
        # A rigid move (turning with the path): the house keeps its size.
        span = np.linalg.norm(drawing["position"][0] - drawing["position"][2])
        np.testing.assert_allclose(span, np.linalg.norm(subject["position"][0] - subject["position"][2]), rtol=1e-3)


def test_animate_from_video_moves_the_drawing_like_a_movie_file(blender, addon_zip, server, tmp_path):
    clip = square_clip(tmp_path / "square.mp4")  # 4 px a frame at 12 fps, 36 px in all: 1.5 times the square's width
    (tmp_path / "notes.txt").write_text("not a video")
    strokes = [{"points": SQUARE, "radii": [1.5] * len(SQUARE)}]
    report, arrays = run_blender(blender, "video", tmp_path, zip=str(addon_zip), server=server.address,
                                 sketches=[{"name": "square", "strokes": strokes}], video=str(clip),
                                 not_a_video=str(tmp_path / "notes.txt"), frames=8, start_frame=10, clip_start=0.25)
    with Client(server.address) as client:
        info = next(t for t in client.capabilities().tasks if t.name == "video_motion")
    assert report["poll"] is True and info.available
    assert [p["name"] for p in report["form"]] == [p.name for p in info.parameters]
    drawn = [e[:2] for e in report["panel_draw"]]
    assert ["operator", "inkmotion.animate_video"] in drawn
    assert all(["prop", name] in drawn for name in ("video", "clip_start", "clip_end")), drawn
    assert "notes.txt: not a video that can be read" in (report["not_a_video_error"] or ""), report["not_a_video_error"]
    assert "choose the reference video" in (report["no_video_error"] or ""), report["no_video_error"]

    assert report["result"] == ["FINISHED"]
    layers = report["after"]["layers"]
    assert sorted(layers) == sorted(["Sketch", info.label]), layers
    assert layers[info.label]["frames"] == list(range(10, 18)), "8 keyframes from the start frame"
    assert_same_layer(arrays["after"]["Sketch"], arrays["before"]["Sketch"])
    source = arrays["before"]["Sketch"][1]
    result = arrays["after"][info.label]
    assert_same_drawing(result[10], source, atol=1e-4)  # frame 0 is the drawing as it is
    # The square slides right as the clip's does from 0.25 s (frame 3, 12 px in) to the end (36 px):
    # by the same share of its width (24 px: 1 width), staying level, keeping its size and attributes.
    width = np.ptp(source["position"][:, 0])
    shifts = np.array([(result[f]["position"][:, [0, 2]] - source["position"][:, [0, 2]]).mean(0) for f in range(10, 18)])
    assert (np.diff(shifts[:, 0]) > 0).all(), shifts
    np.testing.assert_allclose(shifts[-1, 0] / width, 1.0, atol=0.05)
    assert np.abs(shifts[:, 1]).max() < 0.02 * width, shifts
    for frame, drawing in result.items():
        np.testing.assert_array_equal(drawing["counts"], source["counts"], err_msg=f"frame {frame}")
        np.testing.assert_allclose(drawing["radius"], source["radius"], rtol=1e-4, err_msg=f"frame {frame}")
        np.testing.assert_allclose(drawing["vertex_color"], source["vertex_color"], atol=1e-4)
        np.testing.assert_allclose(np.ptp(drawing["position"][:, 0]), width, rtol=0.02)


def test_a_plugin_task_gets_a_form_from_capabilities_and_runs(blender, addon_zip, tmp_path, packing, text_sketch):
    """A task the add-on has never heard of (tests/plugins/inkmotion_test_task.py's wobble): offered
    by its label, its form is what the server describes, a value out of range never leaves Blender,
    and the generic action writes its keyframes onto a new layer."""
    with ServerProcess(tmp_path / "server-data", "--plugin", "inkmotion_test_task") as server:
        report, arrays = run_blender(blender, "plugin", tmp_path, zip=str(addon_zip), server=server.address,
                                     sketches=[text_sketch])
        with Client(server.address) as client:
            described = {t.name: t for t in client.capabilities().tasks}
            submitted = list(client.jobs())

    assert ["wobble", "Wobble"] in report["task_items"], report["task_items"]
    names = [name for name, _ in report["task_items"]]
    assert names[:4] == ["text_motion", "inbetween", "path_motion", "video_motion"], names
    assert {name: label for name, label in report["task_items"]} == {n: described[n].label for n in names}
    assert report["task_name"] == report["task"] == "wobble"

    wobble = {p["name"]: p for p in report["wobble_form"]}
    assert list(wobble) == ["frames", "amplitude", "loop", "wave"]
    assert (wobble["frames"]["kind"], wobble["frames"]["slot_type"], wobble["frames"]["value"]) == ("int", "INT", 12)
    assert (wobble["amplitude"]["kind"], wobble["amplitude"]["slot_type"]) == ("float", "FLOAT")
    assert wobble["amplitude"]["value"] == pytest.approx(4.0)
    assert (wobble["loop"]["slot_type"], wobble["loop"]["value"]) == ("BOOLEAN", True)
    assert (wobble["wave"]["slot_type"], wobble["wave"]["value"], wobble["wave"]["choices"]) == ("ENUM", "sine", ["sine", "square"])
    assert (wobble["amplitude"]["minimum"], wobble["amplitude"]["maximum"]) == (0.0, 50.0)
    max_frames = described["wobble"].parameters[0].maximum
    assert (wobble["frames"]["minimum"], wobble["frames"]["maximum"]) == (2.0, max_frames)
    assert wobble["loop"]["minimum"] is None and wobble["wave"]["maximum"] is None
    for parameter in described["wobble"].parameters:
        assert (wobble[parameter.name]["label"], wobble[parameter.name]["help"]) == (parameter.label, parameter.help)

    easing = next(p for p in described["inbetween"].parameters if p.name == "easing")
    form_easing = next(p for p in report["inbetween_form"] if p["name"] == "easing")
    assert form_easing["choices"] == list(easing.choices) and form_easing["value"] == easing.default_value
    assert report["easing_accepted"] == list(easing.choices)
    assert report["easing_refused"] and "wobbly" in report["easing_refused"]

    drawn = report["panel_draw"]
    assert ["operator", "inkmotion.run_task", "Wobble"] in drawn
    for slot in ("int_value", "float_value", "bool_value", "choice_value"):
        assert ["prop", slot] in drawn, slot

    error = report["range_error"]
    assert error and "amplitude" in error.lower() and "0..50" in error and "80" in error, error
    assert report["layers_after_refusal"] == ["Sketch"]
    assert [j.task_name for j in submitted] == ["wobble"], "the refused run sent nothing; the next one job"

    assert report["result"] == ["FINISHED"]
    layers = report["after"]["layers"]
    assert sorted(layers) == ["Sketch", "Wobble"]
    assert layers["Wobble"]["frames"] == [4, 5, 6, 7, 8], "5 keyframes from the current frame"
    source = arrays["before"]["Sketch"][1]
    result = arrays["after"]["Wobble"]
    assert_same_drawing(result[4], source)
    # The amplitude sent was 3 (not the default 4): points swing at most 3 canvas pixels, up to sin(72 deg) of it.
    canvas = packing.Canvas.fit(source["position"], 512)
    swing = max(np.abs(canvas.to_pixels(result[f]["position"]) - canvas.to_pixels(source["position"]))[:, 1].max()
                for f in range(5, 9))
    assert 3.0 * 0.9 < swing < 3.0 + 1e-3, swing


def test_preferences_start_and_stop_a_local_server(blender, addon_zip, tmp_path):
    import socket

    with socket.socket() as probe:  # a free port for the server Blender starts
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report, _ = run_blender(blender, "local_server", tmp_path, zip=str(addon_zip), server="127.0.0.1:9",
                            local_address=f"127.0.0.1:{port}", server_python=sys.executable)
    assert report["pid"], report
    assert f"serving on 127.0.0.1:{port}" in report["log_text"], report["log_text"]
    assert report["server_version"] and "no InkMotion server" not in report["server_version"]
    assert report["exit_code"] is not None, "stopped with the preference"
    assert any(entry[0] == "label" and "Local server (pid" in entry[1] for entry in report["panel_draw"])


def test_blender_4_2_installs_it_and_says_why_it_cannot_run(addon_zip, tmp_path):
    report, _ = run_blender(installed_blender("4.2"), "legacy", tmp_path, zip=str(addon_zip), server="127.0.0.1:9")
    assert report["blender"].startswith("4.2")
    assert report["object_type"] == "GPENCIL"
    assert report["poll"] is False
    assert "InkMotion needs Grease Pencil v3 (Blender 4.3 or newer)" in report["error"], report["error"]
    assert any(e[0] == "label" and "Grease Pencil v3" in e[1] for e in report["panel_draw"]), "the panel says it too"
