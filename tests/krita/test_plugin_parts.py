"""The Krita plugin's host-independent parts under plain pytest: pixels, keys, requests, the
dependency installer, its jobs (the shared runner) against the FakeServer and a real server, and
the plugin zip."""

from __future__ import annotations

import ast
import importlib.util
import struct
import sys
import threading
import time
import zipfile
from pathlib import Path

import grpc
import pytest

from conftest import REPO
from fakeserver import DropWatches, Fail, FakeServer, Finish, Hold, Progress, Queued, Started
from harness import ServerProcess
from inkmotion.client import Client

sys.path.insert(0, str(REPO / "scripts"))
from build_krita import build_krita  # noqa: E402

sys.path.pop(0)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """The built plugin, imported as `inkmotion_krita` (in Krita it is `inkmotion`, which here is
    the server package)."""
    out = tmp_path_factory.mktemp("krita")
    archive = build_krita(out / "dist")
    with zipfile.ZipFile(archive) as z:
        z.extractall(out / "pykrita")
    folder = out / "pykrita" / "inkmotion"
    spec = importlib.util.spec_from_file_location("inkmotion_krita", folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["inkmotion_krita"] = module
    spec.loader.exec_module(module)
    import inkmotion_krita.deps  # noqa: F401
    import inkmotion_krita.frames  # noqa: F401
    import inkmotion_krita.capabilities  # noqa: F401
    import inkmotion_krita.jobs  # noqa: F401

    yield module
    for name in [n for n in sys.modules if n == "inkmotion_krita" or n.startswith("inkmotion_krita.")]:
        del sys.modules[name]


# --- the zip -------------------------------------------------------------------------------


def test_zip_holds_the_desktop_file_and_a_standalone_client(tmp_path):
    archive = build_krita(tmp_path)
    with zipfile.ZipFile(archive) as z:
        names = set(z.namelist())
        assert {"inkmotion.desktop", "inkmotion/__init__.py", "inkmotion/manual.html", "inkmotion/deps.py",
                "inkmotion/_vendor/client.py", "inkmotion/_vendor/forms.py", "inkmotion/_vendor/v1/tasks_pb2.py",
                "inkmotion/_vendor/v1/animation_service_pb2_grpc.py"} <= names
        assert not any("__pycache__" in n or "/_deps/" in n for n in names)
        for name in names:
            if name.endswith(".py"):
                text = z.read(name).decode()
                assert "from inkmotion" not in text and "import inkmotion" not in text, name
        desktop = z.read("inkmotion.desktop").decode()
        assert "X-KDE-Library=inkmotion" in desktop and "ServiceTypes=Krita/PythonPlugin" in desktop
        # The one SVG path reader, the server codec's own, with nothing Krita's Python lacks.
        reader = z.read("inkmotion/_vendor/svgpath.py").decode()
    assert reader == (REPO / "server" / "inkmotion" / "codec" / "svgpath.py").read_text(encoding="utf-8")
    tree = ast.parse(reader)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m.split(".")[0] for m in imported} <= set(sys.stdlib_module_names), imported


def test_build_cli(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import build_krita as script
    finally:
        sys.path.pop(0)
    assert script.main(["--out", str(tmp_path)]) == 0
    assert Path(capsys.readouterr().out.strip()).is_file()
    assert script.requirements() == ("grpcio>=1.85.1,<2", "protobuf>=7.35.1,<8")


# --- pixels and keys -----------------------------------------------------------------------


def test_bgra_and_rgba_swap_red_and_blue(plugin):
    f = plugin.frames
    assert f.bgra_to_rgba(bytes([1, 2, 3, 4, 5, 6, 7, 8])) == bytes([3, 2, 1, 4, 7, 6, 5, 8])
    assert f.rgba_to_bgra(f.bgra_to_rgba(bytes(range(64)))) == bytes(range(64))
    assert f.ink_pixels(bytes([0, 0, 0, 255, 0, 0, 0, 127, 0, 0, 0, 128])) == 2
    assert f.is_blank(bytes(8)) and not f.is_blank(bytes([0, 0, 0, 1]))


def test_keys_around_the_current_time(plugin):
    keys = {0, 8, 20}
    around = lambda now: plugin.frames.keys_around(keys.__contains__, now, 0, 30)  # noqa: E731
    assert around(4) == (0, 8)
    assert around(0) == (0, 8)
    assert around(8) == (8, 20)
    assert around(25) == (8, 20)
    with pytest.raises(ValueError, match="one keyframe"):
        plugin.frames.keys_around({3}.__contains__, 3, 0, 30)
    with pytest.raises(ValueError, match="no keyframe"):
        plugin.frames.keys_around(set().__contains__, 3, 0, 30)


def test_the_path_is_the_first_stroke_on_the_documents_pixels(plugin):
    """A path shape as Krita writes it (points, its own transform) comes out in document pixels,
    curves sampled: the Follow path input."""
    f = plugin.frames
    # A 200 x 100 px document at 144 ppi is 100 x 50 pt; the shape is moved by its transform.
    shapes = ('<svg xmlns="http://www.w3.org/2000/svg" width="100pt" height="50pt" viewBox="0 0 100 50">'
              '<path transform="translate(10, 5)" d="M0 0 C 10 0 20 10 30 10 L 40 20" stroke-width="1"/>'
              '<path d="M1 1 L 2 2"/></svg>')
    points = f.svg_path(f.document_svg(shapes, 200, 100, 144))
    assert points[0] == pytest.approx((20, 10)) and points[-1] == pytest.approx((100, 50))
    assert len(points) == 1 + 2 * f.CURVE_SAMPLES, "every segment sampled (a line is a cubic to the reader)"
    assert all(20 <= x <= 100 and 10 <= y <= 50 for x, y in points)
    dot = f.document_svg('<svg xmlns="http://www.w3.org/2000/svg" width="100pt" height="50pt">'
                         '<path d="M1 1"/></svg>', 200, 100, 144)
    with pytest.raises(ValueError, match="at least two points"):
        f.svg_path(dot)


def test_requests_and_results(plugin):
    _, pb = plugin.jobs.vendored()
    f = plugin.frames
    settings = f.Settings(prompt="  a cat stretches ")
    pixels = {"width": 2, "height": 1, "rgba": bytes(8)}
    request = f.inbetween_request(pb, (0, pixels), (8, pixels), settings)
    assert request.end.frame == 8 and request.result_form == pb.tasks_pb2.RESULT_FORM_RASTER
    animate = f.animate_request(pb, pixels, settings)
    assert animate.prompt == "a cat stretches" and animate.sketch.width == 2
    with pytest.raises(ValueError, match="prompt"):
        f.animate_request(pb, pixels, f.Settings())
    path = f.path_request(pb, pixels, [(0, 0), (10, 5)], settings)
    assert struct.unpack("<4f", path.path) == (0, 0, 10, 5)
    keys = [pb.drawing_pb2.Keyframe(frame=3, raster=pb.drawing_pb2.Raster(width=1, height=1, png=b"x")),
            pb.drawing_pb2.Keyframe(frame=1, raster=pb.drawing_pb2.Raster(width=1, height=1, rgba=b"abcd"))]
    frames = f.result_frames(keys)
    assert [(x.frame, x.png, x.rgba) for x in frames] == [(1, None, b"abcd"), (3, b"x", None)]
    with pytest.raises(ValueError, match="drawing"):
        f.result_frames([pb.drawing_pb2.Keyframe(frame=1, drawing=pb.drawing_pb2.Drawing(width=1, height=1))])


KRITA_LAYER_SVG = """<?xml version="1.0" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 20010904//EN" "http://www.w3.org/TR/2001/REC-SVG-20010904/DTD/svg10.dtd">
<!-- Created using Krita: http://krita.org -->
<svg xmlns="http://www.w3.org/2000/svg" 
    xmlns:xlink="http://www.w3.org/1999/xlink"
    xmlns:krita="http://krita.org/namespaces/svg/krita"
    xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
    width="96pt"
    height="48pt"
    viewBox="0 0 96 48">
<defs/>
<path id="shape0" transform="translate(12, 6)" fill="none" stroke="#000000" stroke-width="1.5" stroke-linecap="round" sodipodi:nodetypes="cc" krita:marker-fill-method="auto" d="M0 0L60 30"/>
</svg>
"""


def test_document_svg_puts_a_vector_layer_on_the_document_pixels(plugin):
    """Krita writes shapes in points; at 300 ppi a 400 x 200 px document is 96 x 48 pt. The SVG the
    server reads must put them on the document's pixels: (12, 6) pt -> (50, 25) px."""
    from inkmotion.codec.svg import read_svg

    svg = plugin.frames.document_svg(KRITA_LAYER_SVG, 400, 200, 300)
    assert 'width="400" height="200" viewBox="0 0 96 48"' in svg
    assert "<!DOCTYPE" not in svg and svg.count("<svg") == 1 and svg.count("</svg>") == 1
    assert 'xmlns:krita="http://krita.org/namespaces/svg/krita"' in svg
    drawing = read_svg(svg)
    assert (drawing.width, drawing.height) == (400, 200)
    [stroke] = drawing.strokes
    scale = 300 / 72
    assert stroke.points[0] == pytest.approx((12 * scale, 6 * scale), abs=1e-3)
    assert stroke.points[-1] == pytest.approx((72 * scale, 36 * scale), abs=1e-3)

    # Shape.toSvg() fragments (no root, prefixed attributes) work too; 72 ppi: points are pixels.
    fragment = '<path sodipodi:nodetypes="cc" stroke="#000" fill="none" d="M10 10L20 30"/>'
    svg = plugin.frames.document_svg(fragment, 64, 32, 72)
    assert 'viewBox="0 0 64 32"' in svg
    drawing = read_svg(svg)
    assert (drawing.width, drawing.height) == (64, 32)
    assert drawing.strokes[0].points[-1] == pytest.approx((20, 30), abs=1e-3)

    with pytest.raises(ValueError, match="no shapes"):
        plugin.frames.document_svg(KRITA_LAYER_SVG.replace(KRITA_LAYER_SVG[KRITA_LAYER_SVG.index("<path"):KRITA_LAYER_SVG.index("</svg>")], ""), 64, 32, 72)
    with pytest.raises(ValueError, match="resolution"):
        plugin.frames.document_svg(fragment, 64, 32, 0)


def test_vector_animate_request_and_the_model_field(plugin):
    _, pb = plugin.jobs.vendored()
    f = plugin.frames
    settings = f.Settings(prompt=" a fish swims ", model=" tiny ")
    svg = f.document_svg('<path stroke="#000" d="M0 0L9 9"/>', 16, 16, 72)
    request = f.vector_animate_request(pb, svg, settings)
    assert request.WhichOneof("sketch_form") == "sketch_svg" and request.sketch_svg == svg
    assert request.result_form == pb.tasks_pb2.RESULT_FORM_RASTER
    assert (request.prompt, request.model) == ("a fish swims", "tiny")
    with pytest.raises(ValueError, match="prompt"):
        f.vector_animate_request(pb, svg, f.Settings())
    pixels = {"width": 2, "height": 1, "rgba": bytes(8)}
    assert f.animate_request(pb, pixels, settings).model == "tiny"
    assert f.inbetween_request(pb, (0, pixels), (4, pixels), settings).model == "tiny"
    assert f.path_request(pb, pixels, [(0, 0), (1, 1)], settings).model == "tiny"
    # The builders set no parameter: those are the form's (capabilities.fill), else the server's defaults.
    bare = f.vector_animate_request(pb, svg, f.Settings(prompt="x"))
    assert bare.model == "" and not bare.HasField("frames") and not bare.HasField("steps") and not bare.HasField("seed")
    flip = f.animate_request(pb, pixels, f.Settings(prompt="x"))
    assert not flip.HasField("inversion_steps") and not flip.HasField("composition_weight")


def test_result_frames_fit_the_document_or_are_refused(plugin):
    f = plugin.frames
    frame = lambda w, h: f.Frame(frame=1, width=w, height=h)  # noqa: E731
    assert f.fit_frame(frame(256, 256), 256, 256) is False
    assert f.fit_frame(frame(64, 64), 256, 256) is True
    assert f.fit_frame(frame(200, 100), 400, 200) is True
    with pytest.raises(ValueError, match="64 x 32 pixels for a 256 x 256 document"):
        f.fit_frame(frame(64, 32), 256, 256)
    frames = [f.Frame(frame=n, width=1, height=1) for n in (1, 2, 3)]
    assert f.result_times(frames, 10) == [10, 11, 12]
    assert f.result_times([f.Frame(frame=n, width=1, height=1) for n in (0, 4, 8)], 0) == [0, 4, 8]
    assert f.result_times([], 5) == []


# --- the dependency installer --------------------------------------------------------------


def test_deps_folder_is_per_python_and_platform(plugin, tmp_path):
    d = plugin.deps
    tag = d.python_tag()
    assert tag.startswith(f"cp{sys.version_info[0]}{sys.version_info[1]}-")
    assert d.target_dir(tmp_path) == tmp_path / "_deps" / tag
    args = d.pip_command(tmp_path / "t", wheels=tmp_path / "w")
    assert args[:3] == ["install", "--target", str(tmp_path / "t")]
    assert "--no-index" in args and "--only-binary=:all:" in args and args[-2:] == list(d.REQUIREMENTS)
    assert d.missing(tmp_path) == []  # this Python has grpcio and protobuf already
    # The clip reader's bundle has a folder of its own, installed on first use.
    assert d.target_dir(tmp_path, d.VIDEO) == tmp_path / "_deps" / (tag + "-video")
    assert d.missing(tmp_path, d.VIDEO) == []  # and PyAV and numpy too: nothing to install
    said = []
    assert d.install(lambda fraction, message: said.append(message), root=tmp_path, bundle=d.VIDEO) == d.target_dir(tmp_path, d.VIDEO)
    assert said == ["Dependencies are already installed"] and not d.target_dir(tmp_path, d.VIDEO).exists()


def test_installer_reports_pip_failures_clearly(plugin, tmp_path, monkeypatch):
    d = plugin.deps
    monkeypatch.setattr(d, "missing", lambda root=None, bundle=d.CLIENT: list(bundle.modules))
    interpreter = d._python_executable
    for bundle, words in ((d.CLIENT, "grpcio and protobuf"), (d.VIDEO, "PyAV and numpy")):
        for in_process in (False, True):
            monkeypatch.setattr(d, "_python_executable", (lambda: None) if in_process else interpreter)
            seen = []
            with pytest.raises(d.DependencyError, match=f"Could not install {words}") as error:
                d.install(lambda fraction, message: seen.append((fraction, message)), root=tmp_path,
                          wheels=tmp_path / "no-wheels", bundle=bundle)
            assert "offline build" in str(error.value)
            assert seen and seen[0][0] < 0.1 and words in seen[0][1]
            assert ("in-process" in d.last_method) == in_process  # inside Krita, sys.executable is Krita: runpy
            assert not d.target_dir(tmp_path, bundle).exists()


def test_bundled_pip_wheel_is_found_where_ensurepip_exists(plugin):
    pytest.importorskip("ensurepip")
    wheel = plugin.deps._bundled_pip_wheel()
    assert wheel is None or Path(wheel).name.startswith("pip-")


# --- jobs: the shared runner, started and described as the docker does ---------------------


def _wait(runner, timeout=120.0, what="the job runner to finish"):
    """The runner's events until it has ended; a timeout says what it waited for and the events it had."""
    events = []
    deadline = time.monotonic() + timeout
    while not events or events[-1].kind.value not in ("finished", "failed", "cancelled"):
        events += runner.poll()
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what} (events so far: {events})"
        time.sleep(0.05)
    return events + runner.poll()


def _said(plugin, events):
    return [plugin.jobs.describe(e) for e in events]


def test_job_runner_inbetweens_raster_keys(plugin, tmp_path, raster_sketches):
    from PIL import Image

    _, pb = plugin.jobs.vendored()
    by_name = {p.name: p for p in raster_sketches}

    def pixels(name):
        image = Image.open(by_name[name]).convert("RGBA")
        return {"width": image.width, "height": image.height, "rgba": image.tobytes()}

    request = plugin.frames.inbetween_request(pb, (0, pixels("walker-1.png")), (4, pixels("walker-2.png")), plugin.frames.Settings())
    with ServerProcess(tmp_path / "data") as server:
        events = _wait(plugin.jobs.start(server.address, request, label="test"))
        with Client(server.address) as client:
            [job] = list(client.jobs())
    assert events[0].kind.value == "queued" and events[0].job_id == job.id and job.label == "test"
    assert any(e.kind.value == "progress" for e in events)
    assert events[-1].kind.value == "finished", events[-1]
    assert _said(plugin, events[-1:]) == [("Done", 1.0)]
    frames = plugin.frames.result_frames(events[-1].result.keyframes)
    assert [f.frame for f in frames] == [0, 1, 2, 3, 4]
    assert all(f.png and f.width == 256 for f in frames)


def test_an_unknown_model_is_refused_in_the_servers_words(plugin, tmp_path, vector_sketches):
    from harness import inbetween_request

    request = inbetween_request(vector_sketches[0], vector_sketches[1], frames=4, model="no-such-model")
    with ServerProcess(tmp_path / "data") as server:
        events = _wait(plugin.jobs.start(server.address, request), what="the unknown model to be refused")
    message, progress = plugin.jobs.describe(events[-1])
    assert events[-1].kind.value == "failed" and "no-such-model" in message and progress == 0.0


def test_the_docker_hears_queue_progress_reconnects_and_the_end(plugin):
    gate = threading.Event()
    with FakeServer() as fake:
        fake.script(Queued(3), Hold(gate), Started("cuda:0"), Progress(0.5, "denoising", 5, 10), DropWatches(),
                    Progress(0.9, "denoising", 9, 10), Finish())
        runner = plugin.jobs.start(fake.address, plugin.frames.inbetween_request(*_keys(plugin)), label="walk")
        fake.wait_for(lambda: fake.watches, "the watch")
        gate.set()
        said = _said(plugin, _wait(runner))
        assert len(fake.jobs) == 1 and fake.called("SubmitJob") == [runner.request_id]
    assert said[0] == ("Queued, next in line", 0.0) and ("Queued (3 ahead)", 0.0) in said
    assert ("Started on cuda:0", 0.0) in said and ("Step 5/10 denoising", 0.5) in said
    assert any(m.startswith("Connection lost, reconnecting to 127.0.0.1:") for m, _ in said)
    assert said[-2:] == [("Fetching the frames", 1.0), ("Done", 1.0)]


def test_the_docker_cancels_and_says_why_jobs_fail(plugin):
    request = plugin.frames.inbetween_request(*_keys(plugin))
    with FakeServer() as fake:
        fake.script(Started(), Hold(threading.Event()))
        runner = plugin.jobs.start(fake.address, request)
        fake.wait_for(lambda: runner.job_id, "the job id")
        runner.cancel()
        assert _said(plugin, _wait(runner))[-1] == ("Cancelled", 0.0)
        assert fake.called("CancelJob") == [runner.job_id]

        fake.script(Started(), Fail("model 'tiny' has no weights here"))
        assert _said(plugin, _wait(plugin.jobs.start(fake.address, request)))[-1] == (
            "The job failed: model 'tiny' has no weights here", 0.0)
        fake.script(refuse=(grpc.StatusCode.INVALID_ARGUMENT, "inbetween.frames: 500 is over the limit of 128"))
        assert _said(plugin, _wait(plugin.jobs.start(fake.address, request)))[-1] == (
            "inbetween.frames: 500 is over the limit of 128", 0.0)
    with FakeServer(token="0123456789abcdef") as fake:
        assert _said(plugin, _wait(plugin.jobs.start(fake.address, request, token="0123456789abcdef")))[-1] == ("Done", 1.0)
    events = _wait(plugin.jobs.start("127.0.0.1:9", request), what="the dead address to be reported")
    assert _said(plugin, events) == [("no InkMotion server answers at 127.0.0.1:9", 0.0)]


def _keys(plugin):
    _, pb = plugin.jobs.vendored()
    pixels = {"width": 2, "height": 2, "rgba": bytes(16)}
    return pb, (0, pixels), (4, pixels), plugin.frames.Settings()


# --- capabilities: the task choice and each task's form ------------------------------------


def _capabilities_with_wobble():
    """What a server with the test plugin's `wobble` says, where path_motion cannot run (a server
    without its model; this version's runs it)."""
    from fakeserver import default_capabilities
    from inkmotion.limits import Limits

    sys.path.insert(0, str(REPO / "tests" / "plugins"))
    try:
        import inkmotion_test_task
    finally:
        sys.path.pop(0)
    caps = default_capabilities()
    specs = {}
    inkmotion_test_task.register(specs)
    caps.tasks.append(specs["wobble"].describe(Limits()))
    [path] = [t for t in caps.tasks if t.name == "path_motion"]
    path.available, path.unavailable_reason = False, "no motion model installed for path_motion"
    return caps


def test_the_task_choice_follows_the_servers_capabilities(plugin):
    caps = plugin.capabilities
    with FakeServer(capabilities=_capabilities_with_wobble()) as fake:
        loader = caps.Loader(fake.address).start()
        assert loader.wait(30) and loader.error == "", loader.error
        assert fake.called("GetCapabilities")
    model = {c.name: c for c in caps.task_model(loader.response)}
    assert not model["path_motion"].enabled and model["path_motion"].reason == "no motion model installed for path_motion"
    assert model["path_motion"].label == "Follow path"
    assert model["wobble"].enabled and model["wobble"].label == "Wobble" and model["wobble"].info.name == "wobble"
    assert model["inbetween"].enabled and model["text_motion"].label == "Animate from text"
    assert model["raster_text_motion"].enabled and model["raster_text_motion"].label == "Animate painted sketch"
    # Animate from video: the docker reads the clip itself (its vendored clip reader).
    assert model["video_motion"].enabled and model["video_motion"].label == "Animate from video"
    # Where the server runs path_motion (this version's tasks as they describe themselves), Follow
    # path is offered: a paint layer and a vector path are what it takes.
    from fakeserver import default_capabilities

    offered = {c.name: c for c in caps.task_model(default_capabilities())}
    assert offered["path_motion"].enabled and offered["path_motion"].reason == "", offered["path_motion"].reason

    # A task Krita knows that the server does not list is disabled, saying so.
    listed = _capabilities_with_wobble()
    del listed.tasks[[t.name for t in listed.tasks].index("inbetween")]
    inbetween = {c.name: c for c in caps.task_model(listed)}["inbetween"]
    assert not inbetween.enabled and inbetween.reason == "this server does not offer Inbetween"
    # A plugin task asking for an input Krita cannot give is disabled with the input named.
    _, pb = plugin.jobs.vendored()
    odd = listed.tasks.add(name="echo", label="Echo", available=True, task=pb.tasks_pb2.TASK_PLUGIN)
    odd.inputs.add(name="clip", label="Clip", kind=6, required=True)
    odd.inputs.add(name="prompt", label="Words", kind=3, required=False)
    # A task of the contract the docker has no input code for is disabled, whatever its inputs.
    newer = listed.tasks.add(name="sketch_motion", label="Sketch motion", available=True, task=pb.tasks_pb2.TASK_INBETWEEN)
    newer.inputs.add(name="sketch", label="Sketch", kind=1, required=True)
    model = {c.name: c for c in caps.task_model(listed)}
    assert not model["echo"].enabled and model["echo"].reason == "Echo needs a video (Clip), which Krita cannot give"
    assert not model["sketch_motion"].enabled and model["sketch_motion"].reason == "the Krita plugin cannot run Sketch motion yet"
    assert [caps.is_plugin(t) for t in (odd, newer, model["wobble"].info)] == [True, False, True]


def test_the_model_choice_is_the_tasks_with_missing_weights_disabled(plugin):
    """Inbetween's models from the server: its own choice first, then each listed model; one whose
    weights the server lacks is greyed out saying so; no capabilities: the server's choice only."""
    from fakeserver import default_capabilities

    caps = plugin.capabilities
    response = default_capabilities()
    info = next(t for t in response.tasks if t.name == "inbetween")
    del info.models[:]
    info.models.extend(["stroke-match", "sketch-flow"])
    info.default_model = "stroke-match"
    del response.models[:]
    response.models.add(name="stroke-match", task_name="inbetween", available=True, description="the vector engine")
    response.models.add(name="sketch-flow", task_name="inbetween", available=False, description="learned flows")
    response.models.add(name="sketch-flow", task_name="path_motion", available=True)  # another task's: not this one
    choices = caps.model_choices(response, info)
    assert [(c.name, c.label, c.enabled) for c in choices] == [
        ("", "Server's choice", True), ("stroke-match", "stroke-match", True),
        ("sketch-flow", "sketch-flow (no weights)", False)]
    assert "stroke-match" in choices[0].tip and choices[2].tip == "the server does not have its weights: learned flows"
    assert [c.name for c in caps.model_choices(None, None)] == [""]


def test_an_unreachable_server_disables_every_task_with_its_words(plugin):
    loader = plugin.capabilities.Loader("127.0.0.1:9").start()
    assert loader.wait(30)
    assert loader.response is None and loader.error == "no InkMotion server answers at 127.0.0.1:9"
    model = plugin.capabilities.task_model(None, loader.error)
    assert [c.name for c in model] == ["inbetween", "text_motion", "raster_text_motion", "path_motion", "video_motion"]
    assert all(not c.enabled and c.reason == loader.error for c in model)


def test_the_wobble_form_and_the_request_it_fills(plugin):
    caps = plugin.capabilities
    [wobble] = [t for t in _capabilities_with_wobble().tasks if t.name == "wobble"]
    fields = {f.name: f for f in caps.form_fields(wobble)}
    assert list(fields) == ["frames", "amplitude", "loop", "wave"]
    frames, amplitude, loop, wave = fields.values()
    assert (frames.kind, frames.default, frames.minimum, frames.maximum) == ("integer", 12, 2, 128)
    assert (amplitude.kind, amplitude.default, amplitude.minimum, amplitude.maximum) == ("number", 4.0, 0, 50)
    assert (loop.kind, loop.default) == ("boolean", True)
    assert (wave.kind, wave.default, wave.choices) == ("choice", "sine", ("sine", "square"))
    assert (amplitude.label, amplitude.help) == ("Amplitude", "How far points swing, in pixels")
    # What the form shows: saved values where the form still takes them, else the defaults.
    assert caps.form_values(list(fields.values()), {}) == {"frames": 12, "amplitude": 4.0, "loop": True, "wave": "sine"}
    saved = {"frames": 1000, "amplitude": 7, "loop": "yes", "wave": "triangle", "gone": 1}
    assert caps.form_values(list(fields.values()), saved) == {"frames": 128, "amplitude": 7.0, "loop": True, "wave": "sine"}
    saved = {"frames": 5.0, "amplitude": -1, "loop": False, "wave": "square"}
    assert caps.form_values(list(fields.values()), saved) == {"frames": 5, "amplitude": 0.0, "loop": False, "wave": "square"}

    _, pb = plugin.jobs.vendored()
    svg = plugin.frames.document_svg(KRITA_LAYER_SVG, 400, 200, 300)
    drawing = plugin.frames.svg_drawing(pb, svg, 400, 200)
    values = {"frames": 6, "amplitude": 3.0, "loop": False, "wave": "square"}
    request = caps.plugin_request(wobble, values, drawing=drawing, model=" wobble-cpu ")
    assert type(request).__name__ == "PluginTaskRequest" and request.task == "wobble" and request.model == "wobble-cpu"
    assert dict(request.parameters) == {"frames": "6", "amplitude": "3.0", "loop": "false", "wave": "square"}
    assert request.drawing.point_counts == drawing.point_counts and request.drawing.width == 400
    with pytest.raises(KeyError):
        caps.plugin_request(wobble, {"speed": 2}, drawing=drawing)
    with pytest.raises(ValueError, match="Wobble needs Drawing: select a vector layer"):
        caps.plugin_request(wobble, values)

    # A contract task's form fills its own message, a choice by its word.
    [inbetween] = [t for t in _capabilities_with_wobble().tasks if t.name == "inbetween"]
    assert {f.name: f.kind for f in caps.form_fields(inbetween)}["easing"] == "choice"
    request = caps.fill(pb.tasks_pb2.InbetweenRequest(), inbetween, {"frames": 5, "easing": "ease-in"})
    assert request.frames == 5 and request.easing == pb.tasks_pb2.EASING_EASE_IN


def test_a_vector_layer_becomes_the_strokes_the_server_reads(plugin):
    """The DRAWING input Krita gives: the same strokes, on the same pixels, as the server's own
    SVG reader finds in the layer's SVG."""
    from inkmotion.codec.svg import read_svg

    _, pb = plugin.jobs.vendored()
    svg = plugin.frames.document_svg(KRITA_LAYER_SVG, 400, 200, 300)
    [(points, radius)] = plugin.frames.svg_strokes(svg)
    [stroke] = read_svg(svg).strokes
    assert points[0] == pytest.approx(tuple(stroke.points[0]), abs=1e-3)
    assert points[-1] == pytest.approx(tuple(stroke.points[-1]), abs=1e-3)
    assert radius == pytest.approx(1.5 * 300 / 72 / 2)
    drawing = plugin.frames.svg_drawing(pb, svg, 400, 200)
    [(back, _, colour)] = plugin.frames.drawing_strokes(drawing)
    assert [c for p in back for c in p] == pytest.approx([c for p in points for c in p], abs=1e-3) and colour == (0.0, 0.0, 0.0, 1.0)


def test_wobble_runs_on_a_real_server_and_its_drawings_become_frames(plugin, tmp_path):
    caps = plugin.capabilities
    _, pb = plugin.jobs.vendored()
    with ServerProcess(tmp_path / "data", "--plugin", "inkmotion_test_task") as server:
        response, error = caps.fetch(server.address)
        assert error == ""
        [wobble] = [c for c in caps.task_model(response) if c.name == "wobble"]
        assert wobble.enabled and wobble.label == "Wobble"
        values = {f.name: f.default for f in caps.form_fields(wobble.info)}
        values["frames"] = 4
        svg = plugin.frames.document_svg(KRITA_LAYER_SVG, 400, 200, 300)
        request = caps.plugin_request(wobble.info, values, drawing=plugin.frames.svg_drawing(pb, svg, 400, 200))
        events = _wait(plugin.jobs.start(server.address, request, label="wobble"))
    assert events[-1].kind.value == "finished", events[-1]
    with pytest.raises(ValueError, match="drawing"):
        plugin.frames.result_frames(events[-1].result.keyframes)
    frames = plugin.frames.result_frames(events[-1].result.keyframes, drawings=True)
    assert [f.frame for f in frames] == [1, 2, 3, 4]
    assert [(f.width, f.height, len(f.strokes)) for f in frames] == [(400, 200, 1)] * 4
    assert events[-1].result.info.layer == "Wobble"  # the name the docker gives the new layer
    assert frames[1].strokes[0][0][0] != frames[0].strokes[0][0][0]  # it wobbles


def test_a_movie_becomes_a_video_motion_request(plugin, tmp_path):
    """The plugin's own clip reader (vendored, PyAV) samples a movie made here; frames.video_request
    sends its frames at the clip's speed, with a vector layer's strokes or a paint layer's pixels."""
    from harness import square_clip

    from inkmotion_krita._vendor import clips

    _, pb = plugin.jobs.vendored()
    clip = clips.read_frames(square_clip(tmp_path / "square.mp4"), 4, start=0.25)
    assert [image.shape for image in clip.images] == [(96, 96, 4)] * 4
    assert clip.times[0] == pytest.approx(0.25) and clip.sampled_fps == pytest.approx(3 / 0.5)
    settings = plugin.frames.Settings(prompt=" horse ", model="motion-transfer")
    drawing = pb.drawing_pb2.Drawing(width=192, height=192, point_counts=[2], positions=bytes(16))
    request = plugin.frames.video_request(pb, clip, settings, drawing=drawing)
    assert (request.WhichOneof("sketch_form"), request.prompt, request.model) == ("sketch", "horse", "motion-transfer")
    assert len(request.reference_frames) == 4 and request.fps == pytest.approx(6.0)
    first = request.reference_frames[0]
    assert (first.width, first.height, first.rgba) == (96, 96, clip.images[0].tobytes())
    painted = plugin.frames.video_request(pb, clip, settings, pixels={"width": 8, "height": 8, "png": b"png"})
    assert painted.WhichOneof("sketch_form") == "sketch_raster" and painted.sketch_raster.png == b"png"
    with pytest.raises(clips.ClipError, match="notes.txt: not a video that can be read"):
        (tmp_path / "notes.txt").write_text("no")
        clips.read_frames(tmp_path / "notes.txt", 4)
