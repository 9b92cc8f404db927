"""Runs INSIDE Blender (the bpy wheel's Python), driven by test_blender_addon.py.

    python in_blender.py CONFIG.json

CONFIG names the scenario, the add-on zip, the server address and the sketches (strokes already
parsed from the SVGs by the test, in SVG pixels). The script installs the extension as an artist
would (into the private HOME the test gives it), draws Grease Pencil keyframes, runs the add-on's
operators against the real server, and writes REPORT.json plus an .npz of every layer it read.
It reads Grease Pencil data with its own plain `foreach_get` calls, not the add-on's code, so the
add-on is checked by an independent reader. Any exception exits non-zero with its traceback.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import bpy
import numpy as np

ADDON = "bl_ext.user_default.inkmotion"
UNITS_PER_PIXEL = 0.01  # SVG pixels -> Blender units; the drawing lies in the X-Z (front) plane
MATERIALS = [("Ink", (0.02, 0.02, 0.02, 1.0)), ("Blue", (0.05, 0.2, 0.8, 1.0))]
STEP = "inkmotion-test step: "  # the test reads the last of these lines when Blender runs too long


def step(what: str) -> None:
    """Say on stdout what comes next, so that a run that hangs can say where."""
    print(STEP + what, flush=True)


def wait_until(condition, what: str, seconds: float, state=lambda: "") -> None:
    """Poll `condition` every 50 ms; past `seconds`, fail naming what it waited for and the last state."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds:g} s waiting for {what} (last state: {state()})")
        time.sleep(0.05)


# -- setting the scene up ------------------------------------------------------------------------

def install(config: dict) -> dict:
    step("installing the extension")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    started = time.monotonic()
    result = bpy.ops.extensions.package_install_files(filepath=config["zip"], repo="user_default", enable_on_install=True)
    assert result == {"FINISHED"}, result
    assert ADDON in bpy.context.preferences.addons, sorted(bpy.context.preferences.addons.keys())
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.server_address = config["server"]
    return {"install_seconds": time.monotonic() - started}


def new_grease_pencil(layer_name: str = "Sketch"):
    bpy.ops.object.grease_pencil_add(type="EMPTY")
    obj = bpy.context.active_object
    assert obj.type == "GREASEPENCIL", obj.type
    grease_pencil = obj.data
    layer = grease_pencil.layers.active
    layer.name = layer_name
    for frame in list(layer.frames):  # the new object's empty keyframe
        layer.frames.remove(frame.frame_number)
    for slot, (name, color) in zip(range(len(MATERIALS)), MATERIALS):
        material = bpy.data.materials.new(name)
        bpy.data.materials.create_gpencil_data(material)
        material.grease_pencil.color = color
        if slot < len(obj.material_slots):
            obj.material_slots[slot].material = material
        else:
            grease_pencil.materials.append(material)
    return obj, layer


def srgb_to_linear(c):
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def draw_sketch(layer, frame_number: int, sketch: dict):
    """One keyframe from a parsed SVG: every other stroke has its own vertex colour (full mix),
    materials alternate, radii and opacities vary along each stroke."""
    drawing = layer.frames.new(frame_number).drawing
    strokes = sketch["strokes"]
    drawing.add_strokes([len(s["points"]) for s in strokes])
    positions, radii, opacities, colors, materials = [], [], [], [], []
    for i, stroke in enumerate(strokes):
        pts = np.asarray(stroke["points"], np.float64)
        n = len(pts)
        xyz = np.zeros((n, 3))
        xyz[:, 0] = pts[:, 0] * UNITS_PER_PIXEL
        xyz[:, 2] = -pts[:, 1] * UNITS_PER_PIXEL
        positions.append(xyz)
        radii.append(np.asarray(stroke["radii"]) * UNITS_PER_PIXEL * np.linspace(1.0, 0.5, n))
        opacities.append(np.linspace(1.0, 0.6, n))
        if i % 2 == 0:
            rgb = srgb_to_linear([0.9, 0.1 + 0.8 * (i / max(1, len(strokes))), 0.2])
            colors.append(np.tile([*rgb, 1.0], (n, 1)))
        else:
            colors.append(np.zeros((n, 4)))
        materials.append(i % 2)
    attrs = drawing.attributes

    def put(name, data_type, domain, key, values):
        attribute = attrs.get(name) or attrs.new(name, data_type, domain)
        attribute.data.foreach_set(key, np.ascontiguousarray(values).ravel())

    put("position", "FLOAT_VECTOR", "POINT", "vector", np.concatenate(positions).astype(np.float32))
    put("radius", "FLOAT", "POINT", "value", np.concatenate(radii).astype(np.float32))
    put("opacity", "FLOAT", "POINT", "value", np.concatenate(opacities).astype(np.float32))
    put("vertex_color", "FLOAT_COLOR", "POINT", "color", np.concatenate(colors).astype(np.float32))
    put("material_index", "INT", "CURVE", "value", np.asarray(materials, np.int32))
    drawing.tag_positions_changed()


# -- reading, independently of the add-on -----------------------------------------------------------

def read_layer(layer) -> dict:
    """{frame number: {attribute: array}} of every keyframe of a layer."""
    out = {}
    for frame in layer.frames:
        drawing = frame.drawing
        offsets = np.zeros(1, np.int32)
        if len(drawing.strokes):  # an empty drawing lists one offset but reads none
            offsets = np.empty(len(drawing.curve_offsets), np.int32)
            drawing.curve_offsets.foreach_get("value", offsets)
        n_points, n_strokes = int(offsets[-1]), len(offsets) - 1
        data = {"counts": np.diff(offsets)}
        for name, width, key, dtype, count in (("position", 3, "vector", np.float32, n_points),
                                                ("radius", 1, "value", np.float32, n_points),
                                                ("opacity", 1, "value", np.float32, n_points),
                                                ("vertex_color", 4, "color", np.float32, n_points),
                                                ("material_index", 1, "value", np.int32, n_strokes)):
            attribute = drawing.attributes.get(name)
            if attribute is None or count == 0:
                data[name] = np.full((count, width) if width > 1 else count, np.nan if dtype == np.float32 else -1)
                continue
            buf = np.empty(count * width, dtype)
            attribute.data.foreach_get(key, buf)
            data[name] = buf.reshape(-1, width) if width > 1 else buf
        out[frame.frame_number] = data
    return out


def snapshot(obj, arrays: dict, tag: str) -> dict:
    """Layer names and keyframe numbers into the report; the attribute arrays into `arrays`."""
    layers = {}
    for layer in obj.data.layers:
        content = read_layer(layer)
        layers[layer.name] = {
            "frames": sorted(content),
            "transform": [list(layer.translation), list(layer.rotation), list(layer.scale)],
        }
        for number, data in content.items():
            for name, values in data.items():
                arrays[f"{tag}|{layer.name}|{number}|{name}"] = values
    return {"layers": layers, "active_layer": obj.data.layers.active.name,
            "materials": [s.material.name if s.material else "" for s in obj.material_slots]}


def error_of(operator, **properties) -> str | None:
    """What an operator that should fail said (its report of an ERROR), or None when it did not fail."""
    try:
        operator(**properties)
    except RuntimeError as exc:
        return str(exc)
    return None


# -- the add-on's task forms ------------------------------------------------------------------------

def set_form(task: str, **values) -> None:
    """Set parameters in the scene's form of a task, as an artist does in the panel (the form is
    filled from the server's capabilities: `inkmotion.connect` first)."""
    form = sys.modules[f"{ADDON}.form"]
    settings = bpy.context.scene.inkmotion
    for name, value in values.items():
        form.find(settings, task, name).value = value


def form_report(task: str) -> list[dict]:
    """What the scene's form of a task holds, read off the form's items."""
    form = sys.modules[f"{ADDON}.form"]
    kinds = {1: "int", 2: "float", 3: "bool", 4: "choice"}
    out = []
    for item in form.parameters(bpy.context.scene.inkmotion, task):
        prop = item.bl_rna.properties[item.slot]
        out.append({"name": item.name, "label": item.label, "help": item.help, "kind": kinds[item.kind],
                    "slot_type": prop.type, "value": getattr(item, item.slot),
                    "minimum": item.minimum if item.has_minimum else None,
                    "maximum": item.maximum if item.has_maximum else None, "choices": form.choices_of(item)})
    return out


# -- scenarios ---------------------------------------------------------------------------------------

def scenario_inbetween(config: dict, report: dict, arrays: dict) -> None:
    obj, layer = new_grease_pencil()
    start, end = config["sketches"]
    draw_sketch(layer, 10, start)
    draw_sketch(layer, 30, end)
    bpy.context.scene.frame_set(17)  # between the keys: the operator finds them itself
    report["before"] = snapshot(obj, arrays, "before")
    assert bpy.ops.inkmotion.connect() == {"FINISHED"}
    set_form("inbetween", frames=9)

    step("the Inbetween operator")
    started = time.monotonic()
    result = bpy.ops.inkmotion.inbetween()
    report["operator_seconds"] = time.monotonic() - started
    report["result"] = sorted(result)
    report["after"] = snapshot(obj, arrays, "after")

    # A second run lands on a new layer too, never over the first.
    step("a second Inbetween")
    set_form("inbetween", frames=3, easing="linear", motion_path="linear")
    bpy.ops.inkmotion.inbetween(start_frame=40)
    report["second"] = snapshot(obj, arrays, "second")

    step("saving and reloading the .blend")
    name, path = obj.name, str(Path(config["workdir"]) / "inbetween.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    reloaded = bpy.data.objects[name]
    report["reloaded"] = snapshot(reloaded, arrays, "reloaded")


def scenario_cancel(config: dict, report: dict, arrays: dict) -> None:
    obj, layer = new_grease_pencil()
    start, end = config["sketches"]
    draw_sketch(layer, 1, start)
    draw_sketch(layer, 40, end)
    bpy.context.scene.frame_set(1)

    # 1. Background mode: a timeout cancels the server job and the operator fails loudly.
    step("the Inbetween operator with a 1 s timeout")
    started = time.monotonic()
    assert bpy.ops.inkmotion.connect() == {"FINISHED"}
    set_form("inbetween", frames=40)
    try:
        bpy.ops.inkmotion.inbetween(model="test-slow", timeout=1.0)
        report["timeout_error"] = None
    except RuntimeError as exc:
        report["timeout_error"] = str(exc)
    report["timeout_seconds"] = time.monotonic() - started
    report["layers_after_timeout"] = [l.name for l in obj.data.layers]

    # 2. The UI's path: a JobStatus polled as the modal operator polls it, cancelled midway.
    addon = sys.modules[ADDON]
    jobs, packing, gp_io = (sys.modules[f"{ADDON}.{m}"] for m in ("jobs", "packing", "gp_io"))
    client_v1 = sys.modules[f"{ADDON}._client.v1.tasks_pb2"], sys.modules[f"{ADDON}._client.v1.drawing_pb2"]
    tasks_pb2, drawing_pb2 = client_v1
    keys = sorted(layer.frames, key=lambda f: f.frame_number)
    a, b = gp_io.read_drawing(keys[0].drawing), gp_io.read_drawing(keys[-1].drawing)
    canvas = packing.Canvas.fit(np.concatenate([a.positions, b.positions]))
    request = tasks_pb2.InbetweenRequest(
        start=drawing_pb2.Keyframe(frame=1, drawing=packing.to_proto(drawing_pb2, gp_io.to_canvas(obj, a, canvas), 512, 512)),
        end=drawing_pb2.Keyframe(frame=40, drawing=packing.to_proto(drawing_pb2, gp_io.to_canvas(obj, b, canvas), 512, 512)),
        frames=40, model="test-slow")
    step("a JobStatus cancelled midway")
    job = jobs.JobStatus(jobs.Connection(config["server"]), request, label="cancel me").start()
    seen = []

    def polled() -> bool:
        if job.poll():
            seen.append((job.state, round(job.fraction, 3), job.message))
        if job.fraction > 0.1:
            job.cancel()
        return job.done

    wait_until(polled, "the remote Inbetween job to be cancelled", 180,
               lambda: f"{job.state}, {job.fraction:.0%}, {job.message!r}")
    report["remote_job"] = {"id": job.job_id, "done": job.done, "cancelled": job.cancelled, "state": job.state,
                            "error": job.error, "fraction": job.fraction, "seen": seen[:5] + seen[-3:]}
    report["layers_after_cancel"] = [l.name for l in obj.data.layers]
    report["addon_file"] = addon.__file__


def scenario_text(config: dict, report: dict, arrays: dict) -> None:
    obj, layer = new_grease_pencil()
    draw_sketch(layer, 1, config["sketches"][0])
    bpy.context.scene.frame_set(3)
    report["before"] = snapshot(obj, arrays, "before")

    # The server's capabilities grey out what it lacks, with the reason.
    assert bpy.ops.inkmotion.connect() == {"FINISHED"}
    report["poll"] = {name: getattr(bpy.ops.inkmotion, name).poll()
                      for name in ("animate", "inbetween", "follow_path", "animate_video")}
    try:
        bpy.ops.inkmotion.animate_video(prompt="a cat", video=config["workdir"])  # a folder with no frames
        report["video_error"] = None
    except RuntimeError as exc:
        report["video_error"] = str(exc)
    try:
        bpy.ops.inkmotion.animate(prompt="")
        report["empty_prompt_error"] = None
    except RuntimeError as exc:
        report["empty_prompt_error"] = str(exc)
    panel = bpy.types.INKMOTION_PT_main
    report["panel"] = {"category": panel.bl_category, "space": panel.bl_space_type, "region": panel.bl_region_type}
    report["panel_draw"] = draw_panels()

    step("the Animate operator (text motion)")
    started = time.monotonic()
    set_form("text_motion", frames=3, steps=2, seed=7)
    result = bpy.ops.inkmotion.animate(prompt="the dolphin jumps", model=config["model"], start_frame=5)
    report["operator_seconds"] = time.monotonic() - started
    report["result"] = sorted(result)
    # The raster method: FlipSketch on the painted drawing, its frames traced back into strokes.
    step("the Animate operator (FlipSketch)")
    set_form("raster_text_motion", composition_weight=0.7, frames=2, steps=1)
    report["flip_result"] = sorted(bpy.ops.inkmotion.animate(
        prompt="the dolphin jumps", method="RASTER", model=config["flip_model"], start_frame=20))
    report["after"] = snapshot(obj, arrays, "after")

    # A server that is not there: one clear error, nothing written.
    bpy.context.preferences.addons[ADDON].preferences.server_address = config["dead_server"]
    report["dead_server_error"] = error_of(bpy.ops.inkmotion.animate, prompt="x")
    report["layers_at_end"] = [l.name for l in obj.data.layers]


class FakeLayout:
    """Stands in for `UILayout` (there is none in background mode) to run the panels' `draw` against
    real data: every `prop` and operator property it is given must exist."""

    def __init__(self, log: list):
        object.__setattr__(self, "log", log)

    def __setattr__(self, name, value):  # enabled, active, scale_y, ...
        assert name in ("enabled", "active", "scale_y", "alignment", "use_property_split"), name

    def _sub(self, *args, **kwargs):
        return FakeLayout(self.log)

    row = column = box = split = _sub

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties.keys(), f"{type(data).__name__} has no property {name}"
        self.log.append(["prop", name])

    def label(self, text="", **kwargs):
        self.log.append(["label", text])

    def separator(self, **kwargs):
        pass

    def progress(self, **kwargs):
        self.log.append(["progress", kwargs.get("text", "")])

    def operator(self, idname, text="", **kwargs):
        self.log.append(["operator", idname, text])
        valid = set(getattr(bpy.ops.inkmotion, idname.split(".")[1]).get_rna_type().properties.keys())

        class Properties:
            def __setattr__(self, name, value):
                assert name in valid, f"{idname} has no property {name}"

        return Properties()


def draw_panels(tasks=("text_motion", "inbetween", "path_motion", "video_motion")) -> list:
    log: list = []
    context = bpy.context
    for task in tasks:
        context.scene.inkmotion.task = task
        bpy.types.INKMOTION_PT_main.draw(type("Panel", (), {"layout": FakeLayout(log)})(), context)
    bpy.types.INKMOTION_PT_server.draw(type("Panel", (), {"layout": FakeLayout(log)})(), context)
    prefs = context.preferences.addons[ADDON].preferences

    class Prefs:  # the real preferences, with our layout
        layout = FakeLayout(log)

        def __getattr__(self, name):
            return getattr(prefs, name)

    type(prefs).draw(Prefs(), context)
    return log


def scenario_plugin(config: dict, report: dict, arrays: dict) -> None:
    """A server with a plugin's task (wobble): the task choice offers it, its form is what the server
    describes, a value out of range is refused before anything is sent, and it runs."""
    obj, layer = new_grease_pencil()
    draw_sketch(layer, 1, config["sketches"][0])
    bpy.context.scene.frame_set(4)
    report["before"] = snapshot(obj, arrays, "before")
    assert bpy.ops.inkmotion.connect() == {"FINISHED"}
    panel, form = sys.modules[f"{ADDON}.panel"], sys.modules[f"{ADDON}.form"]
    settings = bpy.context.scene.inkmotion
    report["task_items"] = [[item[0], item[1]] for item in panel.task_items(settings, bpy.context)]
    settings.task = "wobble"
    report["task_name"], report["task"] = settings.task_name, settings.task
    report["wobble_form"] = form_report("wobble")
    report["inbetween_form"] = form_report("inbetween")
    easing = form.find(settings, "inbetween", "easing")
    accepted = []
    for choice in form.choices_of(easing):
        easing.choice_value = choice
        accepted.append(easing.choice_value)
    report["easing_accepted"] = accepted
    try:
        easing.choice_value = "wobbly"
        report["easing_refused"] = None
    except TypeError as exc:
        report["easing_refused"] = str(exc)
    report["panel_draw"] = draw_panels(("inbetween", "wobble"))

    step("wobble with an amplitude out of range")
    set_form("wobble", amplitude=80.0)
    report["range_error"] = error_of(bpy.ops.inkmotion.run_task, task_name="wobble")
    report["layers_after_refusal"] = [l.name for l in obj.data.layers]

    step("wobble through the generic action")
    set_form("wobble", amplitude=3.0, frames=5)
    report["result"] = sorted(bpy.ops.inkmotion.run_task(task_name="wobble"))
    report["after"] = snapshot(obj, arrays, "after")


def select_stroke(drawing, index: int | None) -> None:
    """Select one stroke of a drawing (every point of it), as Edit Mode does; None: select none."""
    offsets = np.empty(len(drawing.curve_offsets), np.int32)
    drawing.curve_offsets.foreach_get("value", offsets)
    attrs = drawing.attributes
    selection = attrs.get(".selection")
    if selection is None:
        selection = attrs.new(".selection", "BOOLEAN", "POINT")
    if selection.domain == "POINT":
        values = np.zeros(int(offsets[-1]), bool)
        if index is not None:
            values[offsets[index]:offsets[index + 1]] = True
    else:
        values = np.zeros(len(offsets) - 1, bool)
        if index is not None:
            values[index] = True
    selection.data.foreach_set("value", values)


def scenario_follow_path(config: dict, report: dict, arrays: dict) -> None:
    """Follow path: on the active layer, the selected stroke is the path and the others the subject;
    the subject's keyframes land on a new layer."""
    obj, layer = new_grease_pencil()
    draw_sketch(layer, 1, config["sketches"][0])
    drawing = gp_frame(layer, 1).drawing
    bpy.context.scene.frame_set(3)
    assert bpy.ops.inkmotion.connect() == {"FINISHED"}
    report["poll"] = bpy.ops.inkmotion.follow_path.poll()
    report["panel_draw"] = draw_panels(("path_motion",))
    report["form"] = form_report("path_motion")
    select_stroke(drawing, None)
    report["no_selection_error"] = error_of(bpy.ops.inkmotion.follow_path)
    select_stroke(drawing, config["path_index"])
    report["before"] = snapshot(obj, arrays, "before")

    step("the Follow Path operator")
    set_form("path_motion", **config["form"])
    started = time.monotonic()
    report["result"] = sorted(bpy.ops.inkmotion.follow_path(start_frame=config["start_frame"]))
    report["operator_seconds"] = time.monotonic() - started
    report["after"] = snapshot(obj, arrays, "after")

    step("saving and reloading the .blend")
    name, path = obj.name, str(Path(config["workdir"]) / "follow-path.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path)
    bpy.ops.wm.open_mainfile(filepath=path)
    report["reloaded"] = snapshot(bpy.data.objects[name], arrays, "reloaded")


def scenario_video(config: dict, report: dict, arrays: dict) -> None:
    """Animate from video with a movie file: the add-on reads it (its bundled PyAV), sends frames,
    and the drawing's keyframes land on a new layer."""
    obj, layer = new_grease_pencil()
    draw_sketch(layer, 1, config["sketches"][0])
    bpy.context.scene.frame_set(1)
    assert bpy.ops.inkmotion.connect() == {"FINISHED"}
    report["poll"] = bpy.ops.inkmotion.animate_video.poll()
    report["panel_draw"] = draw_panels(("video_motion",))
    report["form"] = form_report("video_motion")
    report["not_a_video_error"] = error_of(bpy.ops.inkmotion.animate_video, video=config["not_a_video"])
    report["no_video_error"] = error_of(bpy.ops.inkmotion.animate_video, video="")
    report["before"] = snapshot(obj, arrays, "before")

    step("the Animate from Video operator")
    set_form("video_motion", frames=config["frames"])
    report["result"] = sorted(bpy.ops.inkmotion.animate_video(video=config["video"], start_frame=config["start_frame"],
                                                              clip_start=config["clip_start"]))
    report["after"] = snapshot(obj, arrays, "after")


def gp_frame(layer, number: int):
    return next(f for f in layer.frames if f.frame_number == number)


def scenario_local_server(config: dict, report: dict, arrays: dict) -> None:
    """The preferences' "Start a Local Server": launched from the configured Python, logged, stopped."""
    prefs = bpy.context.preferences.addons[ADDON].preferences
    preferences = sys.modules[f"{ADDON}.preferences"]
    prefs.server_address = config["local_address"]
    prefs.server_python = config["server_python"]
    prefs.server_args = "--device cpu"
    prefs.start_local_server = True  # the update callback starts it
    local = preferences.LocalServer
    report["pid"] = local.proc.pid if local.proc else None
    step("the local server to say it is serving")

    def serving() -> bool:
        assert local.running(), "the local server exited:\n" + "\n".join(local.log_tail(50))
        return any("serving on" in line for line in local.log_tail(50))

    wait_until(serving, "the local server to say 'serving on'", 180, lambda: " | ".join(local.log_tail(3)))
    assert bpy.ops.inkmotion.connect() == {"FINISHED"}
    caps = sys.modules[f"{ADDON}.jobs"].CAPABILITIES
    report["server_version"] = caps.response.server_version if caps.response else caps.error
    assert bpy.ops.inkmotion.show_server_log() == {"FINISHED"}
    report["log_text"] = bpy.data.texts["InkMotion Server Log"].as_string()[-2000:]
    report["panel_draw"] = draw_panels()
    proc = local.proc
    prefs.start_local_server = False  # ... and stops it
    report["exit_code"] = proc.poll()


def scenario_reconnect(config: dict, report: dict, arrays: dict) -> None:
    """A slow job whose server the test kills and restarts midway: the operator keeps watching."""
    obj, layer = new_grease_pencil()
    start, end = config["sketches"]
    draw_sketch(layer, 1, start)
    draw_sketch(layer, 30, end)
    bpy.context.scene.frame_set(5)
    step("the Inbetween operator, watching through a server restart")
    started = time.monotonic()
    report["result"] = sorted(bpy.ops.inkmotion.inbetween(model="test-slow"))
    report["operator_seconds"] = time.monotonic() - started
    report["after"] = snapshot(obj, arrays, "after")


def scenario_legacy(config: dict, report: dict, arrays: dict) -> None:
    """Blender 4.2 LTS: legacy Grease Pencil (v2). The add-on installs and refuses with why."""
    bpy.ops.object.gpencil_add(type="STROKE")
    report["object_type"] = bpy.context.active_object.type
    report["poll"] = bpy.ops.inkmotion.inbetween.poll()
    try:
        bpy.ops.inkmotion.inbetween()
        report["error"] = None
    except RuntimeError as exc:
        report["error"] = str(exc)
    report["panel_draw"] = draw_panels()
    report["layers"] = [layer.info for layer in bpy.context.active_object.data.layers]


SCENARIOS = {"inbetween": scenario_inbetween, "cancel": scenario_cancel, "text": scenario_text,
             "local_server": scenario_local_server, "legacy": scenario_legacy,
             "reconnect": scenario_reconnect, "plugin": scenario_plugin, "follow_path": scenario_follow_path,
             "video": scenario_video}


def main() -> int:
    config = json.loads(Path(sys.argv[-1]).read_text())
    report: dict = {"blender": bpy.app.version_string, "scenario": config["scenario"]}
    arrays: dict = {}
    try:
        report.update(install(config))
        step(f"scenario {config['scenario']}")
        SCENARIOS[config["scenario"]](config, report, arrays)
        step("writing the report")
        report["ok"] = True
    except Exception:
        report["ok"] = False
        report["traceback"] = traceback.format_exc()
    np.savez(config["arrays"], **arrays)
    Path(config["report"]).write_text(json.dumps(report, indent=1, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    code = main()
    # bpy 4.5 as a module hangs in exit() once a .blend has been read: a static destructor waits on
    # its delayed-file-close thread. Everything is written by now; leave without the destructors.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
