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


def png_to_bgra(path, width, height):
    image = QImage(path).convertToFormat(QImage.Format_ARGB32).scaled(width, height)
    bits = image.constBits()
    bits.setsize(image.byteCount())
    return bytes(bits)


class Scenario:
    def __init__(self):
        self.app = Krita.instance()
        self.steps = self.plan()
        self.waited = 0

    def plan(self):
        yield from self.wait_for(lambda: self.app.activeWindow() is not None, "the main window", 60)
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
            yield from self.wait_for(lambda: controller().state != "installing", "the dependency installer", 240)
            REPORT["deps_state"] = [controller().state, controller().message]
            REPORT["deps_method"] = deps.last_method
            REPORT["deps_dir"] = str(deps.target_dir())
            if controller().state == "error":
                raise RuntimeError("dependency install failed: " + controller().message)
        REPORT["deps_ready_after"] = deps.ready()
        import grpc

        REPORT["grpc_file"] = grpc.__file__

        # 2. A document with a sketch layer holding two keys.
        width, height = CONFIG["size"]
        doc = self.app.createDocument(width, height, "inbetween-test", "RGBA", "U8", "", 72.0)
        self.app.activeWindow().addView(doc)
        yield
        sketch = doc.createNode("Sketch", "paintlayer")
        doc.rootNode().addChildNode(sketch, None)
        doc.setActiveNode(sketch)
        yield
        for frame, path in CONFIG["keys"]:
            doc.setCurrentTime(frame)
            yield
            self.app.action("add_blank_frame").trigger()
            yield
            sketch.setPixelData(png_to_bgra(path, width, height), 0, 0, width, height)
            yield
        REPORT["source_keys"] = [t for t in range(0, 30) if sketch.hasKeyframeAtTime(t)]
        log(f"source keys {REPORT['source_keys']}")

        # 3. Inbetween at a time between the keys, against the real server.
        self.app.writeSetting("inkmotion", "server", CONFIG["server"])
        doc.setCurrentTime(CONFIG["current_time"])
        doc.setActiveNode(sketch)
        yield
        controller().run("inbetween")
        yield from self.wait_for(lambda: controller().state in ("done", "error", "cancelled"), "the inbetween job", 120)
        REPORT["job_state"] = [controller().state, controller().message]
        if controller().state != "done":
            raise RuntimeError("inbetween did not finish: " + controller().message)
        layer_name = controller().result_layer
        REPORT["result_layer"] = layer_name
        REPORT["source_keys_after"] = [t for t in range(0, 30) if sketch.hasKeyframeAtTime(t)]
        REPORT["top_level"] = [n.name() for n in doc.topLevelNodes()]

        # 4. Save, close, reopen, look.
        doc.setBatchmode(True)
        REPORT["saved"] = doc.saveAs(CONFIG["kra"])
        doc.waitForDone()
        yield
        doc.close()
        yield
        reopened = self.app.openDocument(CONFIG["kra"])
        yield
        from inkmotion.frames import ink_pixels

        layer = reopened.nodeByName(layer_name)
        REPORT["reopened_layer"] = layer is not None
        if layer is not None:
            REPORT["result_animated"] = layer.animated()
            REPORT["result_keys"] = [t for t in range(0, 30) if layer.hasKeyframeAtTime(t)]
            REPORT["result_ink"] = {
                t: ink_pixels(bytes(layer.pixelDataAtTime(0, 0, width, height, t))) for t in REPORT["result_keys"]
            }
        source = reopened.nodeByName("Sketch")
        REPORT["reopened_source_keys"] = [t for t in range(0, 30) if source.hasKeyframeAtTime(t)]
        reopened.close()
        REPORT["ok"] = True
        log("scenario finished")

    def wait_for(self, condition, what, seconds):
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting for {what} after {seconds} s")
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
