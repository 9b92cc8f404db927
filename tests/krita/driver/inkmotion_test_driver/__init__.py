"""Runs inside real Krita (tests/krita): drives the InkMotion plugin like an artist would and
writes what it saw to a JSON report (Krita's exit status says nothing, so the report is the verdict).

Steps run one per event-loop turn through QTimer.singleShot: Krita only records keyframes that way.
The scenario comes from the JSON file named by $INKMOTION_TEST_CONFIG.
"""

import json
import os
import sys
import threading
import time
import traceback

from krita import Extension, Krita
from PyQt5.QtCore import QTimer
from PyQt5.QtGui import QImage

STEP_MS = 200
CONFIG = json.loads(open(os.environ["INKMOTION_TEST_CONFIG"], encoding="utf-8").read())
REPORT = {"steps": [], "ok": False}
STARTED = time.monotonic()


def log(message):
    REPORT["steps"].append(f"{time.monotonic() - STARTED:6.1f}s {message}")
    write_report()


def write_report():
    tmp = CONFIG["report"] + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(REPORT, f, indent=1)
    os.replace(tmp, CONFIG["report"])


def ink_pixels_of(bgra):
    from inkmotion.frames import ink_pixels

    return ink_pixels(bgra)


def png_to_bgra(path, width, height):
    image = QImage(path).convertToFormat(QImage.Format_ARGB32).scaled(width, height)
    bits = image.constBits()
    bits.setsize(image.byteCount())
    return bytes(bits)


INK = bytes(0 if value < 128 else 1 for value in range(256))  # alpha -> drawn or not


def ink_box(bgra, width, height):
    """[left, top, right, bottom] of the pixels with alpha >= 128, or None."""
    alpha = bytes(bgra[3::4]).translate(INK)
    rows = [y for y in range(height) if b"\x01" in alpha[y * width:(y + 1) * width]]
    if not rows:
        return None
    left, right = width, -1
    for y in rows:
        row = alpha[y * width:(y + 1) * width]
        left, right = min(left, row.find(b"\x01")), max(right, row.rfind(b"\x01"))
    return [left, rows[0], right, rows[-1]]


def keys_of(node, last=40):
    return [t for t in range(0, last) if node.hasKeyframeAtTime(t)]


class Scenario:
    """The common part (main window, the dependency installer, a look at the frame writer), then
    each scenario of CONFIG["scenarios"] in its own document; a failed scenario is reported and the
    next one still runs."""

    def __init__(self):
        self.app = Krita.instance()
        self.steps = self.plan()
        self.waited = 0

    def plan(self):
        yield from self.wait_for(lambda: self.app.activeWindow() is not None, "the main window", 180)
        import inkmotion
        from inkmotion import deps
        from inkmotion.docker import controller

        REPORT["plugin_module"] = inkmotion.__file__
        REPORT["python"] = sys.version
        REPORT["sys_executable"] = sys.executable
        REPORT["deps_tag"] = deps.python_tag()
        REPORT["deps_ready_before"] = deps.ready()

        # 1. The first-run installer, through the docker's controller, against Krita's own Python.
        if CONFIG.get("install_deps", True):
            controller().install_dependencies()
            yield from self.wait_for(lambda: controller().state != "installing", "the dependency installer", 300,
                                     lambda: controller().message)
            REPORT["deps_state"] = [controller().state, controller().message]
            REPORT["deps_method"] = deps.last_method
            REPORT["deps_dir"] = str(deps.target_dir())
            if controller().state == "error":
                raise RuntimeError("dependency install failed: " + controller().message)
        REPORT["deps_ready_after"] = deps.ready()
        import grpc

        REPORT["grpc_file"] = grpc.__file__
        self.app.writeSetting("inkmotion", "server", CONFIG["server"])
        REPORT["frame_writer"] = self.frame_writer()

        REPORT["scenarios"] = {}
        for config in CONFIG["scenarios"]:
            report = REPORT["scenarios"][config["name"]] = {"ok": False}
            log(f"scenario {config['name']}")
            try:
                yield from getattr(self, "scenario_" + config["kind"])(config, report)
                report["ok"] = True
            except Exception:
                report["error"] = traceback.format_exc()
                log(f"scenario {config['name']} failed")
            for doc in self.app.documents():  # what a failed scenario left open
                doc.setModified(False)
                doc.close()
            yield
        REPORT["ok"] = True
        log("scenarios finished")

    # -- pieces -------------------------------------------------------------------------------

    def frame_writer(self):
        """The writer fits a frame of another size to the document and refuses another shape."""
        from inkmotion.docker import bgra_to_png, frame_to_bgra
        from inkmotion.frames import Frame

        small = bgra_to_png(bytes([0, 0, 0, 255]) * 4, 2, 2)
        seen = {"scaled_bytes": len(frame_to_bgra(Frame(1, 2, 2, png=small), 8, 8))}
        try:
            frame_to_bgra(Frame(1, 2, 2, png=small), 8, 4)
            seen["other_shape"] = "accepted"
        except ValueError as exc:
            seen["other_shape"] = str(exc)
        return seen

    def new_document(self, config, name):
        width, height = config["size"]
        doc = self.app.createDocument(width, height, name, "RGBA", "U8", "", float(config.get("ppi", 72)))
        self.app.activeWindow().addView(doc)
        yield
        return doc

    def settings(self, config):
        """The docker's own fields, and the task form's values (as the docker saves them)."""
        for key, value in config.get("settings", {}).items():
            self.app.writeSetting("inkmotion", key, str(value))
        for task, values in config.get("values", {}).items():
            self.app.writeSetting("inkmotion", f"values_{task}", json.dumps(values))

    def run_task(self, task, report, seconds=300):
        from inkmotion.docker import controller

        started = time.monotonic()
        controller().run(task)
        yield from self.wait_for(lambda: controller().state in ("done", "error", "cancelled", "idle"),
                                 f"the {task.capitalize()} job to finish", seconds,
                                 lambda: f"{controller().state}: {controller().message}")
        report["job_state"] = [controller().state, controller().message]
        report["job_seconds"] = round(time.monotonic() - started, 1)
        request = controller()._request
        if request is not None:
            report["request"] = {"type": type(request).__name__, "model": request.model}
            for name in ("frames", "steps", "inversion_steps", "seed"):
                if name in request.DESCRIPTOR.fields_by_name and request.HasField(name):
                    report["request"][name] = getattr(request, name)
            if type(request).__name__ == "PathMotionRequest":
                import struct

                flat = struct.unpack(f"<{len(request.path) // 4}f", request.path)
                report["request"]["subject"] = request.WhichOneof("subject")
                report["request"]["path"] = [list(flat[i:i + 2]) for i in range(0, len(flat), 2)]
                report["request"]["timing"] = request.timing
            if type(request).__name__ == "TextMotionRequest":
                report["request"]["sketch_form"] = request.WhichOneof("sketch_form")
                report["request"]["result_form"] = request.result_form
                report["request"]["svg_head"] = request.sketch_svg[:400]
        if controller().state != "done":
            raise RuntimeError(f"{task} did not finish: {controller().message}")
        return controller().result_layer

    def save_and_reopen(self, doc, config):
        doc.setBatchmode(True)
        saved = doc.saveAs(config["kra"])
        doc.waitForDone()
        yield
        doc.close()
        yield
        reopened = self.app.openDocument(config["kra"])
        yield
        return saved, reopened

    def look_at_result(self, doc, layer_name, report):
        width, height = doc.width(), doc.height()
        layer = doc.nodeByName(layer_name)
        report["reopened_layer"] = layer is not None
        if layer is None:
            return
        from inkmotion.frames import ink_pixels

        report["result_type"] = layer.type()
        report["result_animated"] = layer.animated()
        report["result_keys"] = keys_of(layer)
        report["result_ink"] = {}
        report["result_box"] = {}
        for t in report["result_keys"]:
            bgra = bytes(layer.pixelDataAtTime(0, 0, width, height, t))
            report["result_ink"][t] = ink_pixels(bgra)
            report["result_box"][t] = ink_box(bgra, width, height)

    # -- scenarios ----------------------------------------------------------------------------

    def scenario_inbetween(self, config, report):
        """A sketch layer with two keys; Inbetween at a time between them."""
        width, height = config["size"]
        doc = yield from self.new_document(config, "inbetween-test")
        sketch = doc.createNode("Sketch", "paintlayer")
        doc.rootNode().addChildNode(sketch, None)
        doc.setActiveNode(sketch)
        yield
        for frame, path in config["keys"]:
            doc.setCurrentTime(frame)
            yield
            self.app.action("add_blank_frame").trigger()
            yield
            sketch.setPixelData(png_to_bgra(path, width, height), 0, 0, width, height)
            yield
        report["source_keys"] = keys_of(sketch)
        log(f"source keys {report['source_keys']}")
        self.settings(config)
        doc.setCurrentTime(config["current_time"])
        doc.setActiveNode(sketch)
        yield
        layer_name = report["result_layer"] = yield from self.run_task("inbetween", report)
        report["source_keys_after"] = keys_of(sketch)
        report["top_level"] = [n.name() for n in doc.topLevelNodes()]
        report["saved"], reopened = yield from self.save_and_reopen(doc, config)
        self.look_at_result(reopened, layer_name, report)
        report["reopened_source_keys"] = keys_of(reopened.nodeByName("Sketch"))
        reopened.close()

    def scenario_animate_paint(self, config, report):
        """FlipSketch: Animate on a paint layer holding a sketch (no keyframes)."""
        width, height = config["size"]
        doc = yield from self.new_document(config, "animate-paint-test")
        sketch = doc.createNode("Sketch", "paintlayer")
        doc.rootNode().addChildNode(sketch, None)
        doc.setActiveNode(sketch)
        yield
        sketch.setPixelData(png_to_bgra(config["sketch"], width, height), 0, 0, width, height)
        yield
        before = bytes(sketch.pixelData(0, 0, width, height))
        report["source_ink"] = ink_pixels_of(before)
        self.settings(config)
        doc.setCurrentTime(config["current_time"])
        doc.setActiveNode(sketch)
        yield
        layer_name = report["result_layer"] = yield from self.run_task("raster_text_motion", report)
        report["source_untouched"] = bytes(sketch.pixelData(0, 0, width, height)) == before
        report["source_animated_after"] = sketch.animated()
        report["top_level"] = [n.name() for n in doc.topLevelNodes()]
        report["saved"], reopened = yield from self.save_and_reopen(doc, config)
        self.look_at_result(reopened, layer_name, report)
        source = reopened.nodeByName("Sketch")
        report["reopened_source_untouched"] = bytes(source.pixelData(0, 0, width, height)) == before
        reopened.close()

    def scenario_animate_vector(self, config, report):
        """Live-Sketch: Animate on a vector layer filled from an SVG file."""
        from inkmotion.docker import controller

        width, height = config["size"]
        doc = yield from self.new_document(config, "animate-vector-test")
        report["resolution"] = doc.resolution()
        shapes = doc.createVectorLayer("Shapes")
        doc.rootNode().addChildNode(shapes, None)
        doc.setActiveNode(shapes)
        yield
        with open(config["svg"], encoding="utf-8") as f:
            added = shapes.addShapesFromSvg(f.read())
        report["shapes_added"] = len(added)
        doc.refreshProjection()
        deadline = time.monotonic() + 30  # the shapes are rendered in the background (pixelData stays empty)
        while True:
            yield
            doc.waitForDone()
            rendered = bytes(shapes.projectionPixelData(0, 0, width, height))
            if ink_pixels_of(rendered):
                break
            if time.monotonic() > deadline:  # the test still checks the request; the box is left out
                log("no ink rendered on the vector layer after 30 s: its own box is not compared")
                break
        before_svg = shapes.toSvg()
        report["source_ink"] = ink_pixels_of(rendered)
        report["source_box"] = ink_box(rendered, width, height)
        self.settings(config)
        doc.setCurrentTime(config["current_time"])
        doc.setActiveNode(shapes)
        yield
        # Inbetween has no keys to work on here: it says so, and nothing else happens.
        controller().run("inbetween")
        report["inbetween_on_vector"] = [controller().state, controller().message]
        yield
        layer_name = report["result_layer"] = yield from self.run_task("text_motion", report)
        report["source_untouched"] = shapes.toSvg() == before_svg and len(shapes.shapes()) == len(added)
        report["top_level"] = [n.name() for n in doc.topLevelNodes()]
        report["saved"], reopened = yield from self.save_and_reopen(doc, config)
        self.look_at_result(reopened, layer_name, report)
        source = reopened.nodeByName("Shapes")
        report["reopened_source"] = [source.type(), len(source.shapes())] if source is not None else None
        reopened.close()

    def scenario_path_motion(self, config, report):
        """Follow path: the active paint layer travels the path drawn on a vector layer named 'path'."""
        width, height = config["size"]
        doc = yield from self.new_document(config, "path-motion-test")
        sketch = doc.createNode("Sketch", "paintlayer")
        doc.rootNode().addChildNode(sketch, None)
        path = doc.createVectorLayer("path")
        doc.rootNode().addChildNode(path, None)
        yield
        sketch.setPixelData(png_to_bgra(config["sketch"], width, height), 0, 0, width, height)
        with open(config["path_svg"], encoding="utf-8") as f:
            report["path_shapes"] = len(path.addShapesFromSvg(f.read()))
        yield
        before = bytes(sketch.pixelData(0, 0, width, height))
        report["source_ink"] = ink_pixels_of(before)
        report["source_box"] = ink_box(before, width, height)
        before_svg = path.toSvg()
        self.settings(config)
        doc.setCurrentTime(config["current_time"])
        doc.setActiveNode(sketch)
        yield
        layer_name = report["result_layer"] = yield from self.run_task("path_motion", report)
        report["source_untouched"] = bytes(sketch.pixelData(0, 0, width, height)) == before
        report["path_untouched"] = path.toSvg() == before_svg
        report["source_animated_after"] = sketch.animated()
        report["top_level"] = [n.name() for n in doc.topLevelNodes()]
        report["saved"], reopened = yield from self.save_and_reopen(doc, config)
        self.look_at_result(reopened, layer_name, report)
        reopened.close()

    def scenario_video(self, config, report):
        """Animate from video on a vector layer (strokes sent, strokes painted back) and on a paint
        layer (pixels sent, traced by the server): the movie file is read here with the plugin's
        clip reader, PyAV installed on first use; each result lands on a new layer."""
        from inkmotion import deps

        width, height = config["size"]
        doc = yield from self.new_document(config, "video-test")
        shapes = doc.createVectorLayer("Shapes")
        doc.rootNode().addChildNode(shapes, None)
        sketch = doc.createNode("Sketch", "paintlayer")
        doc.rootNode().addChildNode(sketch, None)
        yield
        with open(config["svg"], encoding="utf-8") as f:
            report["shapes_added"] = len(shapes.addShapesFromSvg(f.read()))
        sketch.setPixelData(png_to_bgra(config["sketch"], width, height), 0, 0, width, height)
        yield
        before = bytes(sketch.pixelData(0, 0, width, height))
        report["source_box"] = ink_box(before, width, height)
        before_svg = shapes.toSvg()
        self.settings(config)
        report["video_deps_before"] = deps.ready(bundle=deps.VIDEO)
        doc.setCurrentTime(config["current_time"])
        layers = {}
        for name, node in (("vector", shapes), ("paint", sketch)):
            doc.setActiveNode(node)
            yield
            layers[name] = yield from self.run_task("video_motion", report, seconds=600)
            request = report["request"]
            report[f"{name}_request"] = {**request, "sketch_form": self.request_form(),
                                         "reference_frames": self.reference_frames()}
        report["video_deps_after"] = deps.ready(bundle=deps.VIDEO)
        report["source_untouched"] = bytes(sketch.pixelData(0, 0, width, height)) == before
        report["shapes_untouched"] = shapes.toSvg() == before_svg
        report["top_level"] = [n.name() for n in doc.topLevelNodes()]
        report["saved"], reopened = yield from self.save_and_reopen(doc, config)
        for name, layer_name in layers.items():
            report[name] = {"result_layer": layer_name}
            self.look_at_result(reopened, layer_name, report[name])
        reopened.close()

    def request_form(self):
        from inkmotion.docker import controller

        return controller()._request.WhichOneof("sketch_form")

    def reference_frames(self):
        from inkmotion.docker import controller

        frames = controller()._request.reference_frames
        return [len(frames), frames[0].width, frames[0].height, round(controller()._request.fps, 3)]

    def scenario_plugin_task(self, config, report):
        """A plugin task (the test plugin's `wobble`) through the docker: its task choice and form
        come from the server's capabilities; it runs on a vector layer; a new layer gets its frames."""
        from inkmotion.docker import InkMotionDocker, controller

        width, height = config["size"]
        doc = yield from self.new_document(config, "plugin-task-test")
        shapes = doc.createVectorLayer("Shapes")
        doc.rootNode().addChildNode(shapes, None)
        doc.setActiveNode(shapes)
        yield
        with open(config["svg"], encoding="utf-8") as f:
            report["shapes_added"] = len(shapes.addShapesFromSvg(f.read()))
        yield
        self.settings(config)  # the docker's own fields (no model: the task's default)
        docker = InkMotionDocker()  # as Krita makes it (its factory calls the class)
        yield from self.wait_for(lambda: controller().response is not None or controller().capabilities_error,
                                 "the server's capabilities", 60)
        report["capabilities_error"] = controller().capabilities_error
        yield
        from PyQt5.QtCore import Qt

        items = docker.task.model()
        report["tasks"] = {docker.task.itemData(i): [docker.task.itemText(i), items.item(i).isEnabled(),
                                                      docker.task.itemData(i, Qt.ToolTipRole) or ""]
                           for i in range(docker.task.count())}
        docker.task.setCurrentIndex(docker.task.findData("inbetween"))
        yield
        report["inbetween_models"] = [[docker.model.itemData(i), docker.model.itemText(i),
                                       docker.model.model().item(i).isEnabled()] for i in range(docker.model.count())]
        docker.task.setCurrentIndex(docker.task.findData("wobble"))
        yield
        report["wobble_models"] = [docker.model.itemData(i) for i in range(docker.model.count())]
        form = {}
        for name, (field, widget) in docker.widgets.items():
            entry = {"widget": type(widget).__name__, "tooltip": widget.toolTip()}
            if hasattr(widget, "minimum"):
                entry.update(value=widget.value(), minimum=widget.minimum(), maximum=widget.maximum())
            elif hasattr(widget, "isChecked"):
                entry["value"] = widget.isChecked()
            else:
                entry.update(value=widget.currentText(), items=[widget.itemText(i) for i in range(widget.count())])
            form[name] = entry
        report["form"] = form
        docker.widgets["frames"][1].setValue(config["frames"])
        docker.widgets["amplitude"][1].setValue(3.0)
        docker.widgets["wave"][1].setCurrentIndex(docker.widgets["wave"][1].findText("square"))
        report["form_values"] = docker.values()
        doc.setCurrentTime(config["current_time"])
        doc.setActiveNode(shapes)
        yield
        started = time.monotonic()
        docker.start("wobble")
        yield from self.wait_for(lambda: controller().state in ("done", "error", "cancelled"),
                                 "the Wobble job to finish", 120, lambda: f"{controller().state}: {controller().message}")
        report["job_state"] = [controller().state, controller().message]
        report["job_seconds"] = round(time.monotonic() - started, 1)
        request = controller()._request
        report["request"] = {"type": type(request).__name__, "task": request.task,
                             "parameters": dict(request.parameters), "strokes": len(request.drawing.point_counts)}
        if controller().state != "done":
            raise RuntimeError(f"wobble did not finish: {controller().message}")
        layer_name = report["result_layer"] = controller().result_layer
        report["top_level"] = [n.name() for n in doc.topLevelNodes()]
        report["saved"], reopened = yield from self.save_and_reopen(doc, config)
        self.look_at_result(reopened, layer_name, report)
        reopened.close()
        docker.deleteLater()

    def wait_for(self, condition, what, seconds, state=None):
        """Yield until `condition()`; past `seconds`, fail saying what it waited for and, with
        `state`, the last state it saw."""
        log(f"waiting for {what} (up to {seconds} s)")
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                last = f" (last state: {state()})" if state is not None else ""
                raise TimeoutError(f"timed out after {seconds} s waiting for {what}{last}")
            yield
        log(f"got {what}")

    def tick(self):
        try:
            next(self.steps)
        except StopIteration:
            self.quit()
            return
        except Exception:
            REPORT["error"] = traceback.format_exc()
            log("scenario failed")
            self.quit()
            return
        QTimer.singleShot(STEP_MS, self.tick)

    def quit(self):
        write_report()
        for doc in self.app.documents():
            doc.setModified(False)
        # A last resort if Krita does not go: the report is written, the test sees the exit status.
        threading.Timer(30, lambda: os._exit(3)).start()
        self.app.action("file_quit").trigger()


class Driver(Extension):
    def setup(self):
        pass

    def createActions(self, window):
        pass


log("driver loaded")
DRIVER = Driver(Krita.instance())
Krita.instance().addExtension(DRIVER)
SCENARIO = Scenario()  # held here: Qt keeps no reference to a Python slot
QTimer.singleShot(1000, SCENARIO.tick)
