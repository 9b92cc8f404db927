"""The plugin inside real Krita under Xvfb, with a private profile (marker `krita`).

One Krita run does it all (a fresh profile starts in ~15-30 s), against one real `inkmotion serve` on
loopback with the tiny random model registered: the first-run dependency installer against Krita's
own Python; then three scenarios, each in its own document, saved as .kra and reopened: Inbetween on
a sketch layer with two keys (frames 0 and 8), Animate on a paint layer (FlipSketch, model
"tiny-flip") and Animate on a vector layer filled from an SVG file (Live-Sketch, model "tiny"), and the test plugin's
`wobble` task (the server runs with --plugin inkmotion_test_task) through the docker's own widgets,
its task choice and form built from the server's capabilities.
Each test looks at its part of the report.
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
import time
from pathlib import Path

import pytest

from conftest import REPO
from harness import SQUARE, ServerProcess, models_config, square_clip

pytestmark = pytest.mark.krita

DRIVER = Path(__file__).parent / "driver"
KEYS = ((0, "walker-1.png"), (8, "walker-2.png"))  # two poses, 256 x 256
PAINT_SKETCH = "fish-1.png"  # ink on a transparent layer
VECTOR_SKETCH = "fish-1.svg"  # 16 single cubics, 256 x 256 px
# Not 72 ppi, so that points and pixels differ: the shapes must still land on the document's pixels.
VECTOR_SIZE, VECTOR_PPI = (256, 256), 144
# Follow path: a little house painted at the top left travels a path drawn on a vector layer
# named 'path', starting on the house (so the house's corner stays on the path).
PATH_SIZE = (256, 256)
HOUSE = [[(40, 60), (60, 60), (60, 40), (40, 40), (40, 60)], [(40, 40), (50, 28), (60, 40)]]
PATH = [(40, 60), (90, 40), (140, 90), (180, 170), (220, 200)]
PATH_FRAMES = 6
VIDEO_SIZE = (256, 192)  # room for the square to travel 1.5 widths
VIDEO_FRAMES = 6
VIDEO_SQUARE = [(2 * x, 2 * y) for x, y in SQUARE]  # 48 px across; the clip's square moves 1.5 widths
KRITA_SECONDS = 900  # generous: a busy machine; each step inside has its own limit and says so
# Wheels fetched by the installer are cached across runs (the profile itself is fresh each time).
PIP_CACHE = Path(os.environ.get("INKMOTION_TEST_PIP_CACHE", Path.home() / ".cache" / "inkmotion-tests" / "pip"))


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        # scripts/test.sh installs it; leave these out with -m "not krita", never as skips
        pytest.fail(f"{tool} is not installed: run scripts/setup_krita.sh")
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


@pytest.fixture(scope="module")
def krita_run(tmp_path_factory, request):
    """Krita started once for the whole file: the installer, then every scenario in its own
    document against one real server (the tiny model registered as "tiny" for text motion and as
    "tiny-flip" for raster text motion). A missing tool or a failed run is kept and raised again in
    each test, so that each test fails on its own."""
    try:
        return _run_krita(tmp_path_factory.mktemp("krita"), request)
    except (pytest.fail.Exception, AssertionError) as exc:
        return exc


def _path_subject(folder: Path) -> Path:
    """The house as line art on transparency, as a paint layer holds it."""
    import numpy as np

    from inkmotion.codec.drawing import Drawing, Stroke
    from inkmotion.codec.preview import write_png
    from inkmotion.strokes.lineart import paint_lineart

    strokes = [Stroke(points=np.array(s, np.float32), radii=np.full(len(s), 1.5, np.float32),
                      opacities=np.ones(len(s), np.float32)) for s in HOUSE]
    return write_png(paint_lineart(Drawing(*PATH_SIZE, strokes)), folder / "house.png")


def _video_sketch(folder: Path) -> tuple[Path, Path]:
    """The square to animate, as an SVG for a vector layer and as line art for a paint layer."""
    import numpy as np

    from inkmotion.codec.drawing import Drawing, Stroke
    from inkmotion.codec.preview import write_png
    from inkmotion.strokes.lineart import paint_lineart

    width, height = VIDEO_SIZE
    svg = _svg_file(folder / "square.svg", VIDEO_SIZE, VIDEO_SQUARE, stroke_width=3)
    stroke = Stroke(points=np.array(VIDEO_SQUARE, np.float32), radii=np.full(len(VIDEO_SQUARE), 1.5, np.float32),
                    opacities=np.ones(len(VIDEO_SQUARE), np.float32))
    return svg, write_png(paint_lineart(Drawing(width, height, [stroke])), folder / "square.png")


def _path_svg(folder: Path) -> Path:
    return _svg_file(folder / "path.svg", PATH_SIZE, PATH, stroke_width=2)


def _svg_file(path: Path, size, points, stroke_width: float) -> Path:
    """An SVG of one black polyline through `points` on a `size` (width, height) px page."""
    width, height = size
    d = "M" + " L".join(f"{x} {y}" for x, y in points)
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                    f'viewBox="0 0 {width} {height}"><path d="{d}" fill="none" stroke="#000000" '
                    f'stroke-width="{stroke_width}"/></svg>\n', encoding="utf-8")
    return path


def _run(krita_run) -> dict:
    if isinstance(krita_run, BaseException):
        raise krita_run
    return krita_run


def _run_krita(tmp_path: Path, request) -> dict:
    krita = _need("krita")
    xvfb_run = _need("xvfb-run")
    tiny_dir = request.getfixturevalue("tiny_dir")  # built only when Krita is here to use it
    plugin_zip = _build(tmp_path / "dist")
    env = _profile(tmp_path / "profile", plugin_zip)
    by_name = {p.name: p for p in request.getfixturevalue("raster_sketches")}
    svg_by_name = {p.name: p for p in request.getfixturevalue("vector_sketches")}
    report_path = tmp_path / "report.json"
    models = models_config(tmp_path / "models.toml", tiny_dir, {"tiny": "text_motion", "tiny-flip": "raster_text_motion"})
    server_env = {"INKMOTION_MODELS": str(models), "HF_HUB_CACHE": str(tmp_path / "hub")}

    video_svg, video_png = _video_sketch(tmp_path)
    started = time.monotonic()
    with ServerProcess(tmp_path / "server", "--plugin", "inkmotion_test_task", env=server_env) as server:
        config = {
            "server": server.address,
            "report": str(report_path),
            "install_deps": True,
            "scenarios": [
                {"name": "inbetween", "kind": "inbetween", "size": [256, 256],
                 "keys": [[frame, str(by_name[name])] for frame, name in KEYS], "current_time": 4,
                 "kra": str(tmp_path / "inbetween.kra")},
                {"name": "animate_paint", "kind": "animate_paint", "size": [256, 256],
                 "sketch": str(by_name[PAINT_SKETCH]), "current_time": 2,
                 "settings": {"model": "tiny-flip", "prompt": "a cat walks"},
                 "values": {"raster_text_motion": {"frames": 3, "steps": 2, "inversion_steps": 2, "seed": 1,
                                                   "composition_weight": 0.8}},
                 "kra": str(tmp_path / "animate-paint.kra")},
                {"name": "animate_vector", "kind": "animate_vector", "size": list(VECTOR_SIZE), "ppi": VECTOR_PPI,
                 "svg": str(svg_by_name[VECTOR_SKETCH]), "current_time": 0,
                 "settings": {"model": "tiny", "prompt": "the fish swims"},
                 "values": {"text_motion": {"frames": 3, "steps": 1, "seed": 1}},
                 "kra": str(tmp_path / "animate-vector.kra")},
                {"name": "path_motion", "kind": "path_motion", "size": list(PATH_SIZE), "ppi": VECTOR_PPI,
                 "sketch": str(_path_subject(tmp_path)), "path_svg": str(_path_svg(tmp_path)), "current_time": 3,
                 "settings": {"model": "", "prompt": ""},
                 "values": {"path_motion": {"frames": PATH_FRAMES, "timing": "as-drawn"}},
                 "kra": str(tmp_path / "path-motion.kra")},
                {"name": "video", "kind": "video", "size": list(VIDEO_SIZE), "ppi": 72,
                 "svg": str(video_svg), "sketch": str(video_png), "current_time": 2,
                 "settings": {"model": "", "prompt": "", "video": str(square_clip(tmp_path / "square.mp4")),
                              "clip_start": 0.0, "clip_end": 0.0},
                 "values": {"video_motion": {"frames": VIDEO_FRAMES}},
                 "kra": str(tmp_path / "video.kra")},
                {"name": "plugin_task", "kind": "plugin_task", "size": list(VECTOR_SIZE), "ppi": VECTOR_PPI,
                 "svg": str(svg_by_name[VECTOR_SKETCH]), "current_time": 0, "frames": 4,
                 "settings": {"model": "", "prompt": ""},
                 "kra": str(tmp_path / "plugin-task.kra")},
            ],
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
            report = json.loads(report_path.read_text()) if report_path.exists() else {"steps": []}
            last = report["steps"][-1] if report["steps"] else "(the driver logged nothing: Krita did not start it)"
            pytest.fail(f"timed out after {KRITA_SECONDS} s waiting for Krita to finish; its last step: {last}\n"
                        f"report so far:\n{json.dumps(report, indent=1)}\n{output[-4000:]}")
        returncode = process.returncode
        server_log = server.log

    assert report_path.exists(), f"the driver wrote no report (exit {returncode}):\n{output[-3000:]}"
    report = json.loads(report_path.read_text())
    print(json.dumps(report, indent=1))
    print(f"Krita run: {time.monotonic() - started:.1f} s")
    assert report["ok"], report.get("error")
    assert returncode == 0, f"Krita exited with {returncode}:\n{output[-3000:]}"
    report["env"] = {"XDG_DATA_HOME": env["XDG_DATA_HOME"]}
    report["server_log"] = server_log[-3000:]
    return report


def _scenario(krita_run, name: str) -> dict:
    report = _run(krita_run)
    scenario = report["scenarios"][name]
    print(json.dumps(scenario, indent=1))
    assert scenario["ok"], scenario.get("error", "") + "\n" + report["server_log"]
    return scenario


def _inked(scenario: dict, keys: list[int], at_least: int) -> None:
    assert scenario["reopened_layer"] and scenario["result_animated"], scenario
    assert scenario["result_type"] == "paintlayer"
    ink = {int(t): n for t, n in scenario["result_ink"].items()}
    if keys[0] > 0 and scenario["result_keys"][:1] == [0]:
        # Krita gives a layer's first keyframe after 0 a key at 0 too (the layer's former content):
        # blank here, so the layer is empty until the animation starts.
        assert ink[0] == 0, ink
        scenario["result_keys"] = scenario["result_keys"][1:]
    assert scenario["result_keys"] == keys
    assert all(ink[t] >= at_least for t in keys), ink
    top = scenario["top_level"]
    assert top.index(scenario["result_layer"]) == top.index(scenario["source_layer"]) + 1, top  # just above


def test_installer_and_frame_writer_inside_krita(krita_run):
    report = _run(krita_run)
    # The installer ran for Krita's own Python and grpc now loads from the plugin's folder.
    assert report["deps_ready_after"]
    assert report["grpc_file"].startswith(str(Path(report["env"]["XDG_DATA_HOME"]) / "krita" / "pykrita" / "inkmotion" / "_deps"))
    # A frame of another size is scaled to the document; one of another shape is refused, saying why.
    writer = report["frame_writer"]
    assert writer["scaled_bytes"] == 8 * 8 * 4
    assert "2 x 2 pixels for a 8 x 4 document" in writer["other_shape"]


def test_inbetween_inside_krita(krita_run):
    scenario = _scenario(krita_run, "inbetween")
    scenario["source_layer"] = "Sketch"
    # The source layer kept its two keys; the new layer has one keyframe per frame, 0..8, with ink.
    assert scenario["source_keys"] == scenario["source_keys_after"] == scenario["reopened_source_keys"] == [0, 8]
    _inked(scenario, list(range(0, 9)), 300)
    # Painted keys with no model asked for: the server's choice is sketch-flow, and the status says so.
    assert scenario["request"]["model"] == "" and "(sketch-flow)" in scenario["job_state"][1], scenario["job_state"]


def test_animate_a_paint_layer_runs_flipsketch(krita_run):
    scenario = _scenario(krita_run, "animate_paint")
    scenario["source_layer"] = "Sketch"
    assert scenario["request"] == {"type": "RasterTextMotionRequest", "model": "tiny-flip", "frames": 3, "steps": 2,
                                   "inversion_steps": 2, "seed": 1}
    # Three frames from the current time (2) on; the sketch layer is as it was.
    _inked(scenario, [2, 3, 4], 50)
    assert scenario["source_untouched"] and scenario["reopened_source_untouched"]
    assert not scenario["source_animated_after"]


def test_animate_a_vector_layer_runs_live_sketch(krita_run, vector_sketches):
    scenario = _scenario(krita_run, "animate_vector")
    scenario["source_layer"] = "Shapes"
    assert scenario["resolution"] == VECTOR_PPI and scenario["shapes_added"] > 0
    request = scenario["request"]
    assert {k: request[k] for k in ("type", "model", "frames", "steps", "seed", "sketch_form")} == {
        "type": "TextMotionRequest", "model": "tiny", "frames": 3, "steps": 1, "seed": 1, "sketch_form": "sketch_svg"}
    width, height = VECTOR_SIZE
    scale = 72 / VECTOR_PPI
    assert f'width="{width}" height="{height}" viewBox="0 0 {width * scale:g} {height * scale:g}"' in request["svg_head"]
    # Inbetween on a vector layer says why not, without a traceback.
    state, message = scenario["inbetween_on_vector"]
    assert state == "error" and "vector layers have no keyframes" in message
    # Three rasters on a new paint layer, from frame 0, where the shapes are on the canvas.
    _inked(scenario, [0, 1, 2], 50)
    assert scenario["source_untouched"] and scenario["reopened_source"] == ["vectorlayer", scenario["shapes_added"]]
    # The strokes where the SVG file puts them in pixels (the document is the file's 256 x 256 px, at
    # 144 ppi): the server got them on the document's pixels, not in points.
    from inkmotion.codec.svg import read_svg

    drawing = read_svg(next(p for p in vector_sketches if p.name == VECTOR_SKETCH))
    points = [point for stroke in drawing.strokes for point in stroke.points]
    expected = [min(p[0] for p in points), min(p[1] for p in points), max(p[0] for p in points), max(p[1] for p in points)]
    boxes = [expected] + ([scenario["source_box"]] if scenario["source_box"] else [])  # Krita's own rendering too
    for t, box in scenario["result_box"].items():
        for want in boxes:
            assert _overlap(want, box) > 0.6, (t, want, box)


def _overlap(a: list[int], b: list[int]) -> float:
    """Intersection over union of two [left, top, right, bottom] boxes (inclusive)."""
    if a is None or b is None:
        return 0.0
    left, top, right, bottom = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, right - left + 1) * max(0, bottom - top + 1)
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_a_plugin_task_through_the_docker_built_from_capabilities(krita_run):
    scenario = _scenario(krita_run, "plugin_task")
    scenario["source_layer"] = "Shapes"
    tasks = scenario["tasks"]
    # The task choice is the server's: labels from capabilities, the plugin task among them (what a
    # server cannot run is greyed out with its reason: test_plugin_parts, against a fake server).
    assert tasks["wobble"][:2] == ["Wobble", True] and tasks["inbetween"][:2] == ["Inbetween", True]
    assert tasks["text_motion"][0] == "Animate from text" and tasks["raster_text_motion"][0] == "Animate painted sketch"
    assert tasks["path_motion"][:2] == ["Follow path", True], tasks["path_motion"]
    assert tasks["video_motion"][:2] == ["Animate from video", True], tasks["video_motion"]
    # The model choice is the task's: Inbetween offers the server's choice, then its two models
    # (sketch-flow's shipped weights present); another task lists its own.
    assert scenario["inbetween_models"][:3] == [["", "Server's choice", True], ["stroke-match", "stroke-match", True],
                                                ["sketch-flow", "sketch-flow", True]], scenario["inbetween_models"]
    assert "sketch-flow" not in scenario["wobble_models"] and scenario["wobble_models"][0] == ""
    # Its form: one widget per described parameter, with the described defaults, ranges and choices.
    form = scenario["form"]
    assert {n: e["widget"] for n, e in form.items()} == {
        "frames": "QSpinBox", "amplitude": "QDoubleSpinBox", "loop": "QCheckBox", "wave": "QComboBox"}
    assert (form["frames"]["value"], form["frames"]["minimum"], form["frames"]["maximum"]) == (12, 2, 128)
    assert (form["amplitude"]["value"], form["amplitude"]["minimum"], form["amplitude"]["maximum"]) == (4.0, 0, 50)
    assert form["loop"]["value"] is True and form["wave"] == {**form["wave"], "value": "sine", "items": ["sine", "square"]}
    assert form["amplitude"]["tooltip"] == "How far points swing, in pixels"
    # What was set in the form is what the request carried; the layer's strokes were its drawing.
    assert scenario["request"] == {"type": "PluginTaskRequest", "task": "wobble", "strokes": scenario["request"]["strokes"],
                                   "parameters": {"frames": "4", "amplitude": "3.0", "loop": "true", "wave": "square"}}
    assert scenario["request"]["strokes"] >= scenario["shapes_added"] > 0
    assert scenario["job_state"][0] == "done" and scenario["result_layer"].startswith("InkMotion Wobble ")
    # Four painted frames on a new paint layer just above the shapes, from the current time (0).
    _inked(scenario, [0, 1, 2, 3], 50)


def test_follow_path_moves_a_paint_layer_along_a_vector_path(krita_run):
    scenario = _scenario(krita_run, "path_motion")
    scenario["source_layer"] = "Sketch"
    request = scenario["request"]
    assert (request["type"], request["subject"], request["frames"]) == ("PathMotionRequest", "raster", PATH_FRAMES)
    assert request["timing"] == 2, "as-drawn, from the form"
    # The path as the server got it: the vector layer's path on the document's pixels (the document
    # is 144 ppi, so Krita's points are not pixels).
    assert len(request["path"]) >= 2
    assert request["path"][0] == pytest.approx(PATH[0], abs=1.0) and request["path"][-1] == pytest.approx(PATH[-1], abs=1.0)
    # A new animated paint layer just above the sketch: one keyframe per frame from the current time.
    _inked(scenario, list(range(3, 3 + PATH_FRAMES)), 50)
    assert scenario["source_untouched"] and scenario["path_untouched"] and not scenario["source_animated_after"]
    frames = range(3, 3 + PATH_FRAMES)
    boxes = {int(t): box for t, box in scenario["result_box"].items() if int(t) in frames}  # not Krita's blank key at 0
    # The first frame is the house where it was; the house then travels toward the path's end.
    assert _overlap(boxes[3], scenario["source_box"]) > 0.8, (boxes[3], scenario["source_box"])
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in (boxes[t] for t in sorted(boxes))]
    gone = [((x - PATH[0][0]) ** 2 + (y - PATH[0][1]) ** 2) ** 0.5 for x, y in centres]
    assert gone[-1] > 150 and all(b > a for a, b in zip(gone[1:], gone[2:])), centres
    left, top, right, bottom = boxes[3 + PATH_FRAMES - 1]
    assert left - 5 <= PATH[-1][0] <= right + 5 and top - 5 <= PATH[-1][1] <= bottom + 5, "it ends on the path's end"


def test_animate_from_video_on_a_vector_and_a_paint_layer(krita_run):
    """The movie file is read in Krita (PyAV installed on first use), sent as frames; a vector
    layer's strokes and a paint layer's line art each move as the clip's square does."""
    scenario = _scenario(krita_run, "video")
    assert scenario["video_deps_after"], "PyAV and numpy installed for Krita's Python"
    assert scenario["vector_request"]["sketch_form"] == "sketch" and scenario["paint_request"]["sketch_form"] == "sketch_raster"
    for name in ("vector", "paint"):
        frames, width, height, fps = scenario[f"{name}_request"]["reference_frames"]
        assert (frames, width, height) == (VIDEO_FRAMES, 96, 96), scenario[f"{name}_request"]
        assert fps == pytest.approx(5 / 0.75, rel=0.01), "6 frames over the clip's 0.75 s: it plays at its own speed"
    assert scenario["source_untouched"] and scenario["shapes_untouched"]
    side = VIDEO_SQUARE[1][0] - VIDEO_SQUARE[0][0]
    for name in ("vector", "paint"):
        result = scenario[name]
        result["source_layer"] = "Shapes" if name == "vector" else "Sketch"
        assert result["reopened_layer"] and result["result_animated"] and result["result_type"] == "paintlayer", result
        times = list(range(2, 2 + VIDEO_FRAMES))
        boxes = {int(t): b for t, b in result["result_box"].items() if int(t) in times}
        assert sorted(boxes) == times, result["result_keys"]
        assert _overlap(boxes[2], scenario["source_box"]) > 0.7, (name, boxes[2], scenario["source_box"])
        centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in (boxes[t] for t in times)]
        xs, ys = [c[0] - centres[0][0] for c in centres], [c[1] - centres[0][1] for c in centres]
        assert all(b > a for a, b in zip(xs, xs[1:])), (name, centres)
        assert xs[-1] == pytest.approx(1.5 * side, rel=0.1), (name, centres)
        assert max(abs(y) for y in ys) < 3, (name, centres)
        widths = [b[2] - b[0] for b in boxes.values()]
        assert max(widths) - min(widths) < 0.1 * side, (name, widths)
