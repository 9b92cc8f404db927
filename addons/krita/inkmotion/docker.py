"""The docker and the actions: the active layer's frames out to the server, results in as a new layer.

`CONTROLLER` does the work, one job at a time, with the UI in mind: nothing here blocks. Installing
the dependencies and the job itself run in threads; a QTimer polls them; the result is written a
frame at a time through QTimer.singleShot (Krita only keeps keyframes added that way, a step per
event-loop turn). Every error ends in the docker's status line, never in a traceback dialog.
"""

from __future__ import annotations

import threading
import traceback

from krita import DockWidget, Extension, Krita
from PyQt5.QtCore import QBuffer, QByteArray, QIODevice, Qt, QTimer
from PyQt5.QtGui import QImage
from PyQt5.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from . import deps
from .frames import (
    Settings,
    animate_request,
    document_svg,
    fit_frame,
    inbetween_request,
    keys_around,
    path_request,
    result_frames,
    result_times,
    svg_path_points,
    vector_animate_request,
)

SETTINGS_GROUP = "inkmotion"
POLL_MS = 100
WRITE_STEP_MS = 150  # between the steps that write a keyframe (setCurrentTime, add_blank_frame, pixels)
TASKS = (("inbetween", "Inbetween"), ("animate", "Animate (text)"), ("path", "Follow path"))


def read_settings() -> Settings:
    app = Krita.instance()
    s = Settings()

    def get(key, default):
        return app.readSetting(SETTINGS_GROUP, key, str(default))

    s.task = get("task", s.task)
    s.prompt = get("prompt", s.prompt)
    s.server = get("server", s.server)
    s.token = get("token", s.token)
    s.model = get("model", s.model)
    for name, cast in (("frames", int), ("steps", int), ("seed", int), ("fidelity", float)):
        try:
            setattr(s, name, cast(get(name, getattr(s, name))))
        except ValueError:
            pass
    return s


def write_settings(s: Settings) -> None:
    app = Krita.instance()
    for name in ("task", "prompt", "frames", "steps", "fidelity", "seed", "model", "server", "token"):
        app.writeSetting(SETTINGS_GROUP, name, str(getattr(s, name)))


# --- pixels ---------------------------------------------------------------------------------


def bgra_to_png(bgra: bytes, width: int, height: int) -> bytes:
    image = QImage(bgra, width, height, 4 * width, QImage.Format_ARGB32)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.WriteOnly)
    image.save(buffer, "PNG", 1)  # quality 1: fast, lossless all the same
    buffer.close()
    return bytes(data)


def frame_to_bgra(frame, width: int, height: int) -> bytes:
    if frame.png is not None:
        image = QImage.fromData(frame.png, "PNG")
    else:
        image = QImage(frame.rgba, frame.width, frame.height, 4 * frame.width, QImage.Format_RGBA8888)
    if image.isNull():
        raise ValueError(f"frame {frame.frame}: the server sent an image Qt cannot read")
    image = image.convertToFormat(QImage.Format_ARGB32)
    if (image.width(), image.height()) != (frame.width, frame.height):
        raise ValueError(f"frame {frame.frame}: the image is {image.width()} x {image.height()}, "
                         f"the server said {frame.width} x {frame.height}")
    if fit_frame(frame, width, height):  # same shape, another size (else fit_frame refuses)
        image = image.scaled(width, height, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
    bits = image.constBits()
    bits.setsize(image.byteCount())
    return bytes(bits)


# --- the controller -------------------------------------------------------------------------


class Controller:
    """One job at a time: dependencies -> input -> job -> new layer. `state` is idle, installing,
    running, writing, done, error or cancelled; `message` and `progress` say more."""

    def __init__(self):
        self.state = "idle"
        self.message = "Ready"
        self.progress = 0.0
        self.result_layer = ""
        self.listeners = []
        self.preview = None  # the job's latest preview keyframe, when its task sends them
        self._runner = None
        self._install_thread = None
        self._install_events: list = []
        self._task = ""
        self._first_time = 0
        self._request = None
        self._timer = QTimer()
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._write = None  # the pending steps of the result writer

    @property
    def busy(self) -> bool:
        return self.state in ("installing", "running", "writing")

    def _set(self, state: str | None = None, message: str | None = None, progress: float | None = None) -> None:
        if state is not None:
            self.state = state
        if message is not None:
            self.message = message
        if progress is not None:
            self.progress = progress
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:
                pass

    def fail(self, message: str) -> None:
        self._timer.stop()
        self._set("error", message, 0.0)

    # -- starting -----------------------------------------------------------------------------

    def run(self, task: str) -> None:
        if self.busy:
            self._set(message="A job is already running: cancel it first")
            return
        self._task = task
        self.result_layer = ""
        try:
            if not deps.ready():
                self._install_then_run()
                return
            self._submit()
        except Exception as exc:
            self.fail(_describe(exc))

    def install_dependencies(self) -> None:
        if self.busy:
            return
        self._task = ""
        self._install_then_run()

    def _install_then_run(self) -> None:
        self._set("installing", "Installing grpcio and protobuf (first run)...", 0.0)
        self._install_events = []

        def work():
            try:
                deps.install(lambda fraction, message: self._install_events.append(("progress", fraction, message)))
                self._install_events.append(("installed",))
            except Exception as exc:
                self._install_events.append(("error", _describe(exc)))

        self._install_thread = threading.Thread(target=work, name="inkmotion-deps", daemon=True)
        self._install_thread.start()
        self._timer.start()

    def _submit(self) -> None:
        from . import jobs

        settings = read_settings()
        _, pb = jobs.vendored()
        app = Krita.instance()
        doc = app.activeDocument()
        if doc is None:
            raise ValueError("open a document first")
        node = doc.activeNode()
        kind = node.type() if node is not None else ""
        if kind == "vectorlayer" and self._task == "inbetween":
            raise ValueError("Inbetween works on a paint layer's keyframes: vector layers have no keyframes in Krita. "
                             "Use Animate on a vector layer, or draw the keys on an animated paint layer")
        if kind == "vectorlayer" and self._task == "path":
            raise ValueError("Follow path moves a paint layer: select the paint layer to move "
                             "(the path itself goes on a vector layer named 'path')")
        if kind not in ("paintlayer", "vectorlayer"):
            raise ValueError("select a paint layer (or a vector layer, for Animate): its frames are the input")
        width, height = doc.width(), doc.height()
        self._source = node
        self._doc = doc

        def pixels(time: int) -> dict:
            bgra = bytes(node.pixelDataAtTime(0, 0, width, height, time))
            return {"width": width, "height": height, "png": bgra_to_png(bgra, width, height)}

        now = doc.currentTime()
        self._first_time = now  # where the first result frame lands (Inbetween: the start key)
        if self._task == "inbetween":
            last = max(doc.fullClipRangeEndTime(), doc.animationLength(), now) + 1
            start, end = keys_around(node.hasKeyframeAtTime, now, first=0, last=last)
            request = inbetween_request(pb, (start, pixels(start)), (end, pixels(end)), settings)
            label = f"{node.name()}: inbetween {start}-{end}"
            self._first_time = start
        elif self._task == "animate" and kind == "vectorlayer":  # Live-Sketch on the shapes
            if not node.shapes():
                raise ValueError(f"the vector layer '{node.name()}' has no shapes: draw on it first")
            svg = document_svg(node.toSvg(), width, height, doc.resolution())
            request = vector_animate_request(pb, svg, settings)
            label = f"{node.name()}: {settings.prompt[:40]}"
        elif self._task == "animate":  # FlipSketch on the pixels
            request = animate_request(pb, pixels(now), settings)
            label = f"{node.name()}: {settings.prompt[:40]}"
        elif self._task == "path":
            path_node = doc.nodeByName("path")
            if path_node is None or path_node.type() != "vectorlayer" or not path_node.shapes():
                raise ValueError("path: draw the path on a vector layer named 'path'")
            points = svg_path_points(_svg_d(path_node.shapes()[0].toSvg()))
            request = path_request(pb, pixels(now), points, settings)
            label = f"{node.name()}: follow path"
        else:
            raise ValueError(f"task: unknown task {self._task!r}")
        self._label = label
        self._request = request  # kept for a look afterwards (the tests)
        self.preview = None
        self._runner = jobs.start(settings.server, request, token=settings.token, label=label)
        self._set("running", f"Sending to {settings.server}...", 0.0)
        self._timer.start()

    def cancel(self) -> None:
        if self._runner is not None and self.state == "running":
            self._runner.cancel()
            self._set(message="Cancelling...")
        elif self.state == "writing":
            self._write = None
            self._set("cancelled", "Stopped writing the layer", 0.0)

    # -- polling ------------------------------------------------------------------------------

    def _poll(self) -> None:
        try:
            if self.state == "installing":
                self._poll_install()
            elif self.state == "running":
                self._poll_job()
            else:
                self._timer.stop()
        except Exception as exc:
            self.fail(_describe(exc))

    def _poll_install(self) -> None:
        events, self._install_events = self._install_events, []
        for event in events:
            if event[0] == "progress":
                self._set(message=event[2], progress=event[1])
            elif event[0] == "installed":
                self._timer.stop()
                self._set("idle", "Dependencies installed", 1.0)
                if self._task:
                    self._submit()
            elif event[0] == "error":
                self.fail(event[1])

    def _poll_job(self) -> None:
        from .jobs import describe

        for event in self._runner.poll():
            kind = event.kind.value
            message, progress = describe(event)
            if kind == "preview":
                self.preview = event.preview  # the latest look at the work, for a listener to show
                self._set()
            elif kind in ("queued", "progress"):
                self._set(message=message, progress=progress)
            elif kind == "finished":
                self._timer.stop()
                self._start_writing(event.result)
                return
            elif kind == "cancelled":
                self._timer.stop()
                self._set("cancelled", message, 0.0)
                return
            elif kind == "failed":
                self.fail(message)
                return

    # -- writing the result -------------------------------------------------------------------

    def _start_writing(self, result) -> None:
        frames = result_frames(result.keyframes)
        if not frames:
            raise ValueError("the server sent no frames")
        doc, source = self._doc, self._source
        width, height = doc.width(), doc.height()
        for frame in frames:  # a frame the writer cannot fit stops here, before any layer exists
            fit_frame(frame, width, height)
        times = result_times(frames, self._first_time)
        for frame, time in zip(frames, times):
            frame.frame = time
        name = f"InkMotion {self._task} {frames[0].frame}-{frames[-1].frame}"
        layer = doc.createNode(name, "paintlayer")
        parent = source.parentNode() or doc.rootNode()
        parent.addChildNode(layer, source)  # just above the source, never over it
        doc.setActiveNode(layer)
        if frames[-1].frame > doc.fullClipRangeEndTime():
            doc.setFullClipRangeEndTime(frames[-1].frame)
        self._layer, self._size, self._restore_time = layer, (width, height), doc.currentTime()
        self.result_layer = name
        steps = []
        for frame in frames:
            steps += [("time", frame), ("blank", frame), ("pixels", frame)]
        self._write = steps
        self._written = 0
        self._frame_count = len(frames)
        self._set("writing", f"Writing {len(frames)} frames to '{name}'...", 0.0)
        QTimer.singleShot(WRITE_STEP_MS, self._write_step)

    def _write_step(self) -> None:
        if self._write is None:
            return
        try:
            app, doc, layer = Krita.instance(), self._doc, self._layer
            if not self._write:
                doc.setCurrentTime(self._restore_time)
                doc.refreshProjection()
                self._write = None
                self._set("done", f"Done: {self._frame_count} frames on '{self.result_layer}'", 1.0)
                return
            kind, frame = self._write.pop(0)
            if kind == "time":
                doc.setActiveNode(layer)
                doc.setCurrentTime(frame.frame)
            elif kind == "blank":
                if not layer.hasKeyframeAtTime(frame.frame):
                    app.action("add_blank_frame").trigger()
            else:
                width, height = self._size
                layer.setPixelData(frame_to_bgra(frame, width, height), 0, 0, width, height)
                self._written += 1
                self._set(progress=self._written / self._frame_count)
            QTimer.singleShot(WRITE_STEP_MS, self._write_step)
        except Exception as exc:
            self._write = None
            self.fail(_describe(exc))


def _svg_d(svg: str) -> str:
    import re

    match = re.search(r'\sd="([^"]*)"', svg)
    return match.group(1) if match else ""


def _describe(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, (AttributeError, TypeError, NameError)):  # a bug, not the artist's doing
        text += " (" + traceback.format_exc(limit=-1).strip().splitlines()[-2].strip() + ")"
    return text


CONTROLLER: Controller | None = None


def controller() -> Controller:
    global CONTROLLER
    if CONTROLLER is None:
        CONTROLLER = Controller()
    return CONTROLLER


# --- the docker -----------------------------------------------------------------------------


class InkMotionDocker(DockWidget):
    def __init__(self):
        super().__init__()
        self.setWindowTitle("InkMotion")
        root = QWidget(self)
        layout = QVBoxLayout(root)
        form = QFormLayout()
        s = read_settings()

        self.task = QComboBox()
        for key, label in TASKS:
            self.task.addItem(label, key)
        self.task.setCurrentIndex(max(0, [k for k, _ in TASKS].index(s.task) if s.task in dict(TASKS) else 0))
        self.prompt = QLineEdit(s.prompt)
        self.prompt.setPlaceholderText("what moves, e.g. the cat stretches")
        self.frames = QSpinBox()
        self.frames.setRange(0, 128)
        self.frames.setSpecialValueText("auto")
        self.frames.setValue(s.frames)
        self.fidelity = QDoubleSpinBox()
        self.fidelity.setRange(0.0, 1.0)
        self.fidelity.setSingleStep(0.05)
        self.fidelity.setValue(s.fidelity)
        self.fidelity.setToolTip("lambda: 1 keeps the drawing as it is, 0 lets it move freely")
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2_000_000_000)
        self.seed.setSpecialValueText("random")
        self.seed.setValue(s.seed)
        self.steps = QSpinBox()
        self.steps.setRange(0, 10_000)
        self.steps.setSpecialValueText("auto")
        self.steps.setValue(s.steps)
        self.steps.setToolTip("diffusion / optimisation steps: fewer is faster and rougher; auto is the method's default")
        self.model = QLineEdit(s.model)
        self.model.setPlaceholderText("(the server's default)")
        self.model.setToolTip("a model name the server knows (inkmotion models lists them); empty: the task's default")
        self.server = QLineEdit(s.server)
        self.token = QLineEdit(s.token)
        self.token.setEchoMode(QLineEdit.Password)
        self.token.setPlaceholderText("(none on a local server)")
        form.addRow("Task", self.task)
        form.addRow("Prompt", self.prompt)
        form.addRow("Frames", self.frames)
        form.addRow("Fidelity vs motion (λ)", self.fidelity)
        form.addRow("Seed", self.seed)
        form.addRow("Steps", self.steps)
        form.addRow("Model", self.model)
        form.addRow("Server", self.server)
        form.addRow("Token", self.token)
        layout.addLayout(form)

        buttons = QHBoxLayout()
        self.buttons = {}
        for key, label in TASKS:
            button = QPushButton(label.split(" (")[0])
            button.clicked.connect(lambda _=False, key=key: self.start(key))
            buttons.addWidget(button)
            self.buttons[key] = button
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        layout.addWidget(self.progress)
        row = QHBoxLayout()
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(lambda: controller().cancel())
        self.install = QPushButton("Install dependencies")
        self.install.clicked.connect(self._install)
        row.addWidget(self.cancel)
        row.addWidget(self.install)
        layout.addLayout(row)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.setWidget(root)
        for widget in (self.prompt, self.model, self.server, self.token):
            widget.editingFinished.connect(self.save)
        for widget in (self.frames, self.steps, self.seed, self.fidelity):
            widget.valueChanged.connect(self.save)
        self.task.currentIndexChanged.connect(self.save)
        controller().listeners.append(self.refresh)
        self.refresh()

    def save(self, *_):
        write_settings(Settings(
            task=self.task.currentData(), prompt=self.prompt.text(), frames=self.frames.value(),
            fidelity=self.fidelity.value(), seed=self.seed.value(), steps=self.steps.value(),
            model=self.model.text().strip(), server=self.server.text().strip(),
            token=self.token.text().strip(),
        ))

    def start(self, task: str) -> None:
        self.save()
        controller().run(task)

    def _install(self) -> None:
        controller().install_dependencies()

    def refresh(self) -> None:
        c = controller()
        self.progress.setValue(int(c.progress * 1000))
        colour = "#c0392b" if c.state == "error" else "palette(text)"
        self.status.setStyleSheet(f"color: {colour}")
        self.status.setText(c.message)
        for button in self.buttons.values():
            button.setEnabled(not c.busy)
        self.cancel.setEnabled(c.state in ("running", "writing"))
        self.install.setVisible(c.state != "installing" and not _deps_ready())

    def canvasChanged(self, canvas):
        pass


def _deps_ready() -> bool:
    try:
        return deps.ready()
    except Exception:
        return False


class InkMotionExtension(Extension):
    """The actions (Tools > Scripts, and bindable to shortcuts)."""

    def __init__(self, parent):
        super().__init__(parent)

    def setup(self):
        pass

    def createActions(self, window):
        for key, label in TASKS:
            action = window.createAction(f"inkmotion_{key}", f"InkMotion: {label}", "tools/scripts")
            action.triggered.connect(lambda _=False, key=key: controller().run(key))
