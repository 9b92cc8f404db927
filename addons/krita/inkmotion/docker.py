"""The docker and the actions: the active layer's frames out to the server, results in as a new layer.

`CONTROLLER` does the work, one job at a time, with the UI in mind: nothing here blocks. Installing
the dependencies and the job itself run in threads; a QTimer polls them; the result is written a
frame at a time through QTimer.singleShot (Krita only keeps keyframes added that way, a step per
event-loop turn). Every error ends in the docker's status line, never in a traceback dialog.
"""

from __future__ import annotations

import json
import threading
import traceback

from krita import DockWidget, Extension, Krita
from PyQt5.QtCore import QBuffer, QByteArray, QIODevice, Qt, QTimer
from PyQt5.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
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

from . import capabilities, deps
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
    svg_drawing,
    svg_path,
    vector_animate_request,
    video_request,
)

SETTINGS_GROUP = "inkmotion"
POLL_MS = 100
WRITE_STEP_MS = 150  # between the steps that write a keyframe (setCurrentTime, add_blank_frame, pixels)
OLD_TASK_NAMES = {"animate": "text_motion", "path": "path_motion"}  # settings written by earlier versions


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
    s.video = get("video", s.video)
    for name in ("clip_start", "clip_end"):
        try:
            setattr(s, name, max(0.0, float(get(name, getattr(s, name)))))
        except ValueError:
            pass
    s.task = OLD_TASK_NAMES.get(s.task, s.task)
    return s  # the task's parameters are the form's (read_values), not Settings'


def write_settings(s: Settings) -> None:
    app = Krita.instance()
    for name in ("task", "prompt", "model", "server", "token", "video", "clip_start", "clip_end"):
        app.writeSetting(SETTINGS_GROUP, name, str(getattr(s, name)))


def read_values(task: str) -> dict:
    """The form's last values for a task ({parameter name: value}), as the docker saved them."""
    try:
        values = json.loads(Krita.instance().readSetting(SETTINGS_GROUP, f"values_{task}", "{}") or "{}")
    except ValueError:
        return {}
    return values if isinstance(values, dict) else {}


def write_values(task: str, values: dict) -> None:
    Krita.instance().writeSetting(SETTINGS_GROUP, f"values_{task}", json.dumps(values))


# --- pixels ---------------------------------------------------------------------------------


def bgra_to_png(bgra: bytes, width: int, height: int) -> bytes:
    image = QImage(bgra, width, height, 4 * width, QImage.Format_ARGB32)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.WriteOnly)
    image.save(buffer, "PNG", 1)  # quality 1: fast, lossless all the same
    buffer.close()
    return bytes(data)


def paint_strokes(strokes, width: int, height: int) -> QImage:
    """A drawing result's strokes (frames.drawing_strokes) painted on a transparent image."""
    image = QImage(width, height, QImage.Format_ARGB32)
    image.fill(Qt.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    for points, radius, (r, g, b, a) in strokes:
        if not points:
            continue
        path = QPainterPath()
        path.moveTo(*points[0])
        for x, y in points[1:]:
            path.lineTo(x, y)
        pen = QPen(QColor.fromRgbF(r, g, b, a), max(1.0, 2 * radius))
        pen.setCapStyle(Qt.RoundCap)
        pen.setJoinStyle(Qt.RoundJoin)
        painter.setPen(pen)
        painter.drawPath(path)
    painter.end()
    return image


def frame_to_bgra(frame, width: int, height: int) -> bytes:
    if frame.strokes is not None:
        image = paint_strokes(frame.strokes, frame.width, frame.height)
    elif frame.png is not None:
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


def reference_clip(settings: Settings, frames: int):
    """The reference video sampled to `frames` frames over the chosen seconds, by the vendored
    clip reader (PyAV, installed on first use): a movie file, or a folder of frame images (or
    one image in it)."""
    import os

    from ._vendor import clips

    path = settings.video.strip()
    if not path:
        raise ValueError("Reference video: choose a movie file (MP4, MOV, WebM, GIF) or a folder of frame images")
    if os.path.isfile(path) and path.lower().endswith(clips.IMAGE_SUFFIXES):
        path = os.path.dirname(path)  # one frame of a sequence: the whole folder
    try:
        return clips.read_frames(path, frames, start=settings.clip_start or None, end=settings.clip_end or None,
                                 field="Reference video")
    except clips.ClipError as exc:
        raise ValueError(str(exc)) from None


class Controller:
    """One job at a time: dependencies -> input -> job -> new layer. `state` is idle, installing,
    running, writing, done, error or cancelled; `message` and `progress` say more."""

    def __init__(self):
        self.state = "idle"
        self.message = "Ready"
        self.progress = 0.0
        self.result_layer = ""
        self.job_model, self.job_warnings = "", []
        self.listeners = []
        self.preview = None  # the job's latest preview keyframe, when its task sends them
        self._runner = None
        self._install_thread = None
        self._install_events: list = []
        self._task = ""
        self._values = None  # the form's values for the task to run (None: its saved ones)
        self._first_time = 0
        self._request = None
        self._timer = QTimer()
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._write = None  # the pending steps of the result writer
        # What the server offers (GetCapabilities), asked off the UI thread on connect and refresh.
        self.response = None
        self.response_from = ("", "")  # the (server, token) that answered
        self.capabilities_error = ""
        self._loader = None
        self._pending = ""  # a task to submit once capabilities are in
        self._loader_timer = QTimer()
        self._loader_timer.setInterval(POLL_MS)
        self._loader_timer.timeout.connect(self._poll_capabilities)

    # -- capabilities -------------------------------------------------------------------------

    def choices(self) -> list:
        return capabilities.task_model(self.response, self.capabilities_error)

    def info(self, task: str):
        return next((c.info for c in self.choices() if c.name == task), None)

    def load_capabilities(self, then_run: str = "") -> None:
        """Ask the server what it offers, in a thread; listeners hear the answer. An unreachable
        server is said once, in the status line."""
        if self._loader is not None and not self._loader.done:
            self._pending = then_run or self._pending
            if then_run:
                self._set("connecting", "Waiting for the server's answer...", 0.0)
            return
        if not _deps_ready():
            self.capabilities_error = "grpcio and protobuf are not installed yet: press Install dependencies"
            self._set()
            return
        settings = read_settings()
        self._pending = then_run
        self._loader = capabilities.Loader(settings.server, settings.token).start()
        if then_run:  # a run waits on the answer
            self._set("connecting", f"Asking {settings.server} what it offers...", 0.0)
        elif not self.busy:
            self._set(message=f"Asking {settings.server} what it offers...")
        self._loader_timer.start()

    def _poll_capabilities(self) -> None:
        if self._loader is None or not self._loader.done:
            return
        self._loader_timer.stop()
        loader, self._loader = self._loader, None
        self.response, self.capabilities_error = loader.response, loader.error
        self.response_from = (loader.address, loader.token)
        pending, self._pending = self._pending, ""
        if self.state == "connecting":
            self.state = "idle"
        if loader.response is None:
            if not self.busy:
                self._set("error" if pending else self.state, f"Not connected: {loader.error}", 0.0)
            return
        if not self.busy:
            self._set(message=f"Connected to {loader.address}: {sum(c.enabled for c in self.choices())} tasks")
        if pending:
            self.run(pending, self._values)

    @property
    def busy(self) -> bool:
        return self.state in ("installing", "connecting", "running", "writing")

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

    def run(self, task: str, values: dict | None = None) -> None:
        """Run `task` (its TaskInfo.name) on the active layer, its parameters from `values` (the
        docker's form) or, without them (an action, a shortcut), the form's last saved values."""
        if self.busy:
            self._set(message="A job is already running: cancel it first")
            return
        self._task = task
        self._values = values
        self.result_layer = ""
        self.job_model, self.job_warnings = "", []  # said by the server when it takes the job
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

    def _install_then_run(self, bundle=deps.CLIENT) -> None:
        self._set("installing", f"Installing {bundle.words} (first use)...", 0.0)
        self._install_events = []

        def work():
            try:
                deps.install(lambda fraction, message: self._install_events.append(("progress", fraction, message)),
                             bundle=bundle)
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
                             "Use Animate from text on a vector layer, or draw the keys on an animated paint layer")
        if kind == "paintlayer" and self._task == "text_motion":
            raise ValueError("Animate from text works on a vector layer's shapes: on a paint layer, "
                             "use Animate painted sketch")
        if kind == "vectorlayer" and self._task == "raster_text_motion":
            raise ValueError("Animate painted sketch works on a paint layer: on a vector layer, use Animate from text")
        if kind == "vectorlayer" and self._task == "path_motion":
            raise ValueError("Follow path moves a paint layer: select the paint layer to move "
                             "(the path itself goes on a vector layer named 'path')")
        if kind not in ("paintlayer", "vectorlayer"):
            raise ValueError("select a paint layer or a vector layer: its frames or its shapes are the input")
        if self.response is None or self.response_from != (settings.server, settings.token):
            # not asked yet, the server was away, or another server is named now: ask, then run
            self.load_capabilities(then_run=self._task)
            return
        choice = next((c for c in self.choices() if c.name == self._task), None)
        if choice is None:
            raise ValueError(f"the server does not offer the task {self._task!r}")
        if not choice.enabled:
            raise ValueError(f"{choice.label}: {choice.reason}")
        info = choice.info
        saved = self._values if self._values is not None else read_values(self._task)
        values = capabilities.form_values(capabilities.form_fields(info), saved)
        width, height = doc.width(), doc.height()
        self._source = node
        self._doc = doc

        def pixels(time: int) -> dict:
            # pixelDataAtTime of a layer without animation is not its pixels (Krita 5 hands back
            # uninitialised memory there): such a layer is the same at every time.
            data = node.pixelDataAtTime(0, 0, width, height, time) if node.animated() else node.pixelData(0, 0, width, height)
            bgra = bytes(data)
            return {"width": width, "height": height, "png": bgra_to_png(bgra, width, height)}

        now = doc.currentTime()
        self._first_time = now  # where the first result frame lands (Inbetween: the start key)
        if self._task == "inbetween":
            last = max(doc.fullClipRangeEndTime(), doc.animationLength(), now) + 1
            start, end = keys_around(node.hasKeyframeAtTime, now, first=0, last=last)
            request = inbetween_request(pb, (start, pixels(start)), (end, pixels(end)), settings)
            label = f"{node.name()}: inbetween {start}-{end}"
            self._first_time = start
        elif self._task == "text_motion":  # Live-Sketch on the shapes
            if not node.shapes():
                raise ValueError(f"the vector layer '{node.name()}' has no shapes: draw on it first")
            svg = document_svg(node.toSvg(), width, height, doc.resolution())
            request = vector_animate_request(pb, svg, settings)
            label = f"{node.name()}: {settings.prompt[:40]}"
        elif self._task == "raster_text_motion":  # FlipSketch on the pixels
            request = animate_request(pb, pixels(now), settings)
            label = f"{node.name()}: {settings.prompt[:40]}"
        elif capabilities.is_plugin(info):  # a plugin task: what Krita gives for its inputs
            drawing = raster = None
            if kind == "vectorlayer" and node.shapes():
                svg = document_svg(node.toSvg(), width, height, doc.resolution())
                drawing = svg_drawing(pb, svg, width, height, layer=node.name())
            elif kind == "paintlayer":
                p = pixels(now)
                raster = pb.drawing_pb2.Raster(width=p["width"], height=p["height"], png=p["png"])
            request = capabilities.plugin_request(info, values, drawing=drawing, raster=raster,
                                                  prompt=settings.prompt, model=settings.model)
            label = f"{node.name()}: {choice.label}"
        elif self._task == "video_motion":  # the clip read here (PyAV), sent as frames
            if not deps.ready(bundle=deps.VIDEO):
                self._install_then_run(deps.VIDEO)
                return
            clip = reference_clip(settings, int(values.get("frames") or 16))
            if kind == "vectorlayer":
                if not node.shapes():
                    raise ValueError(f"the vector layer '{node.name()}' has no shapes: draw on it first")
                svg = document_svg(node.toSvg(), width, height, doc.resolution())
                request = video_request(pb, clip, settings, drawing=svg_drawing(pb, svg, width, height, node.name()))
            else:
                request = video_request(pb, clip, settings, pixels=pixels(now))
            label = f"{node.name()}: {choice.label}"
        elif self._task == "path_motion":
            path_node = doc.nodeByName("path")
            if path_node is None or path_node.type() != "vectorlayer" or not path_node.shapes():
                raise ValueError("path: draw the path on a vector layer named 'path'")
            points = svg_path(document_svg(path_node.toSvg(), width, height, doc.resolution()))
            request = path_request(pb, pixels(now), points, settings)
            label = f"{node.name()}: follow path"
        else:
            raise ValueError(f"task: unknown task {self._task!r}")
        if not capabilities.is_plugin(info):  # a plugin task's request is filled already
            capabilities.fill(request, info, values)
        # Strokes may come back (and are painted here) for a plugin task and for a vector layer's video motion.
        self._drawings_ok = capabilities.is_plugin(info) or (self._task == "video_motion" and kind == "vectorlayer")
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
                if self._task:  # straight on to the job it was for (never idle in between)
                    self._set(message="Dependencies installed", progress=0.0)
                    self._submit()
                else:  # the docker can now ask the server what it offers
                    self._set("idle", "Dependencies installed", 1.0)
                    self.load_capabilities()
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
                if kind == "queued" and event.model:  # the first: what runs it, and what to know
                    self.job_model, self.job_warnings = event.model, list(event.warnings)
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
        frames = result_frames(result.keyframes, drawings=getattr(self, "_drawings_ok", False))
        if not frames:
            raise ValueError("the server sent no frames")
        doc, source = self._doc, self._source
        width, height = doc.width(), doc.height()
        for frame in frames:  # a frame the writer cannot fit stops here, before any layer exists
            fit_frame(frame, width, height)
        times = result_times(frames, self._first_time)
        for frame, time in zip(frames, times):
            frame.frame = time
        name = f"InkMotion {result.info.layer or self._task} {frames[0].frame}-{frames[-1].frame}"
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
                notes = "".join(f"\nNote: {w[:1].upper()}{w[1:]}." for w in self.job_warnings)
                self._set("done", f"Done: {self._frame_count} frames on '{self.result_layer}' "
                                  f"({self.job_model}){notes}", 1.0)
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
    """The task choice and each task's form come from the server's capabilities (TaskInfo): a task
    it does not offer, or one needing an input Krita cannot give, is greyed out with the reason as
    tooltip; the form's widgets are the task's described parameters. Host fields (prompt, model,
    server, token) stay the docker's own."""

    def __init__(self):
        super().__init__()
        self.setWindowTitle("InkMotion")
        root = QWidget(self)
        layout = QVBoxLayout(root)
        form = QFormLayout()
        s = read_settings()
        self._task_name = s.task

        self.task = QComboBox()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("ask the server again what it offers")
        self.refresh_button.clicked.connect(lambda: controller().load_capabilities())
        task_row = QHBoxLayout()
        task_row.addWidget(self.task, 1)
        task_row.addWidget(self.refresh_button)
        self.prompt = QLineEdit(s.prompt)
        self.prompt.setPlaceholderText("what moves, e.g. the cat stretches")
        self.model = QComboBox()  # the chosen task's models, from capabilities (_fill_models)
        self.model.setToolTip("which of the task's models runs it; the server's choice suits the layer")
        self._model_name = s.model
        self.server = QLineEdit(s.server)
        self.token = QLineEdit(s.token)
        self.token.setEchoMode(QLineEdit.Password)
        self.token.setPlaceholderText("(none on a local server)")
        self.video = QLineEdit(s.video)
        self.video.setPlaceholderText("a movie file or a folder of frames")
        self.video.setToolTip("Animate from video: the clip whose motion the layer takes (MP4, MOV, WebM, GIF, "
                              "or a folder of frame images)")
        browse = QPushButton("...")
        browse.setToolTip("choose the reference video")
        browse.clicked.connect(self._browse_video)
        video_row = QHBoxLayout()
        video_row.addWidget(self.video, 1)
        video_row.addWidget(browse)
        self.clip_start, self.clip_end = QDoubleSpinBox(), QDoubleSpinBox()
        for box, value, tip in ((self.clip_start, s.clip_start, "where in the clip the motion starts, in seconds"),
                                (self.clip_end, s.clip_end, "where it stops, in seconds (0: the clip's end)")):
            box.setRange(0.0, 600.0)
            box.setDecimals(2)
            box.setSuffix(" s")
            box.setValue(value)
            box.setToolTip(tip)
            box.valueChanged.connect(self.save)
        clip_row = QHBoxLayout()
        clip_row.addWidget(self.clip_start)
        clip_row.addWidget(QLabel("to"))
        clip_row.addWidget(self.clip_end)
        form.addRow("Task", task_row)
        form.addRow("Prompt", self.prompt)
        form.addRow("Reference video", video_row)
        form.addRow("Clip", clip_row)
        form.addRow("Model", self.model)
        form.addRow("Server", self.server)
        form.addRow("Token", self.token)
        layout.addLayout(form)
        # The chosen task's parameters, rebuilt from its TaskInfo whenever the task changes.
        self.parameters = QWidget()
        self.parameters_form = QFormLayout(self.parameters)
        self.parameters_form.setContentsMargins(0, 0, 0, 0)
        self.widgets = {}  # parameter name -> (Field, widget)
        layout.addWidget(self.parameters)

        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(lambda: self.start(self.task.currentData()))
        layout.addWidget(self.run_button)
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
        for widget in (self.prompt, self.token, self.video):
            widget.editingFinished.connect(self.save)
        self.model.currentIndexChanged.connect(self._model_changed)
        self.server.editingFinished.connect(self._server_changed)
        self.task.currentIndexChanged.connect(self._task_changed)
        self._shown = None  # the capabilities the task choice was last built from
        controller().listeners.append(self.refresh)
        self.refresh()
        controller().load_capabilities()  # on connect

    # -- the task choice and its form ---------------------------------------------------------

    def _fill_tasks(self) -> None:
        c = controller()
        self._shown = (c.response, c.capabilities_error)
        self.task.blockSignals(True)
        self.task.clear()
        items = self.task.model()
        for i, choice in enumerate(c.choices()):
            self.task.addItem(choice.label, choice.name)
            if not choice.enabled:
                items.item(i).setEnabled(False)
            self.task.setItemData(i, choice.reason or choice.info.description if choice.info else choice.reason, Qt.ToolTipRole)
        index = self.task.findData(self._task_name)
        self.task.setCurrentIndex(max(0, index))
        self.task.blockSignals(False)
        self._build_form()

    def _choice(self):
        name = self.task.currentData()
        return next((c for c in controller().choices() if c.name == name), None)

    def _fill_models(self, choice) -> None:
        """The model choice for the task: the server's choice first, then its models."""
        self.model.blockSignals(True)
        self.model.clear()
        items = self.model.model()
        for i, m in enumerate(capabilities.model_choices(controller().response, choice.info if choice else None)):
            self.model.addItem(m.label, m.name)
            self.model.setItemData(i, m.tip, Qt.ToolTipRole)
            if not m.enabled:
                items.item(i).setEnabled(False)
        index = self.model.findData(self._model_name)
        if index < 0 and self._model_name:  # a name the server does not list for this task: kept, said
            self.model.addItem(f"{self._model_name} (not listed)", self._model_name)
            index = self.model.count() - 1
        self.model.setCurrentIndex(max(0, index))
        self.model.blockSignals(False)

    def _model_changed(self, *_):
        self._model_name = self.model.currentData() or ""
        self.save()

    def _build_form(self) -> None:
        self._fill_models(self._choice())
        while self.parameters_form.rowCount():
            self.parameters_form.removeRow(0)
        self.widgets = {}
        choice = self._choice()
        if choice is None or choice.info is None:
            return
        fields = capabilities.form_fields(choice.info)
        values = capabilities.form_values(fields, read_values(choice.name))
        for f in fields:
            widget = _widget(f, values[f.name])
            widget.setToolTip(f.help)
            label = QLabel(f.label)
            label.setToolTip(f.help)
            self.parameters_form.addRow(label, widget)
            self.widgets[f.name] = (f, widget)
            for signal in ("valueChanged", "toggled", "currentIndexChanged"):
                if hasattr(widget, signal):
                    getattr(widget, signal).connect(self.save)
                    break

    def values(self) -> dict:
        """The form's {parameter name: value}, as forms.set_parameters takes them."""
        return {name: _value(f, widget) for name, (f, widget) in self.widgets.items()}

    def _task_changed(self, *_):
        self._task_name = self.task.currentData() or self._task_name
        self._build_form()
        self.save()
        self.refresh()

    def _server_changed(self) -> None:
        before = read_settings().server
        self.save()
        if self.server.text().strip() != before:
            controller().load_capabilities()

    def save(self, *_):
        write_settings(Settings(
            task=self._task_name, prompt=self.prompt.text(), model=self._model_name,
            server=self.server.text().strip(), token=self.token.text().strip(), video=self.video.text().strip(),
            clip_start=self.clip_start.value(), clip_end=self.clip_end.value(),
        ))
        if self.widgets and self.task.currentData():
            write_values(self.task.currentData(), self.values())

    def start(self, task: str) -> None:
        """Run `task` with what the form holds now."""
        self.save()
        controller().run(task, self.values() if task == self.task.currentData() else None)

    def _browse_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Reference video", self.video.text(),
                                              "Videos and frames (*.mp4 *.mov *.m4v *.webm *.mkv *.avi *.gif *.png "
                                              "*.jpg *.jpeg *.webp);;All files (*)")
        if path:
            self.video.setText(path)
            self.save()

    def _install(self) -> None:
        controller().install_dependencies()

    def refresh(self) -> None:
        c = controller()
        if self._shown != (c.response, c.capabilities_error):
            self._fill_tasks()
        self.progress.setValue(int(c.progress * 1000))
        choice = self._choice()
        message = c.message
        if c.response is not None and choice is not None and not choice.enabled and not c.busy and c.state != "error":
            message = f"{choice.label}: {choice.reason}"
        colour = "#c0392b" if c.state == "error" else "palette(text)"
        self.status.setStyleSheet(f"color: {colour}")
        self.status.setText(message)
        self.run_button.setEnabled(not c.busy and choice is not None and choice.enabled)
        self.run_button.setToolTip(choice.reason if choice is not None and not choice.enabled else "")
        self.cancel.setEnabled(c.state in ("running", "writing"))
        self.refresh_button.setEnabled(c.state != "connecting")
        self.install.setVisible(c.state != "installing" and not _deps_ready())

    def canvasChanged(self, canvas):
        pass


def _widget(f, value):
    """The widget for one described parameter, holding `value`."""
    if f.kind == "integer":
        widget = QSpinBox()
        widget.setRange(int(f.minimum), int(f.maximum))
        widget.setValue(int(value))
    elif f.kind == "number":
        widget = QDoubleSpinBox()
        widget.setDecimals(3)
        widget.setRange(float(f.minimum), float(f.maximum))
        widget.setSingleStep(max(0.001, min(1.0, (f.maximum - f.minimum) / 100)))
        widget.setValue(float(value))
    elif f.kind == "boolean":
        widget = QCheckBox()
        widget.setChecked(bool(value))
    else:
        widget = QComboBox()
        widget.addItems(list(f.choices))
        widget.setCurrentIndex(max(0, widget.findText(str(value))))
    return widget


def _value(f, widget):
    if f.kind in ("integer", "number"):
        return widget.value()
    if f.kind == "boolean":
        return widget.isChecked()
    return widget.currentText()


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
        # The contract's tasks the docker has input code for; any task (plugins too) runs from the docker.
        for key, label in capabilities.HOST_TASKS.items():
            action = window.createAction(f"inkmotion_{key}", f"InkMotion: {label}", "tools/scripts")
            action.triggered.connect(lambda _=False, key=key: controller().run(key))
