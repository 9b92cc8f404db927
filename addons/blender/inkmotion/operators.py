"""The actions (`inkmotion.animate`, `.inbetween`, `.follow_path`, `.animate_video`, and `.run_task`
for any other task the server lists, a plugin's) and their helpers.

Each action reads the active Grease Pencil layer, sends one task request, and writes what comes
back onto a NEW layer named after the task (its label in the server's capabilities), one keyframe
per output frame, in one undo step. The task's described parameters come from the scene's form
(`form`, built from capabilities); an action's own properties are the host's: where the result
goes, the model, the prompt, the reference video.
Invoked from the UI an action runs as a modal operator polling a `jobs.JobStatus` (Esc or the panel's
Cancel cancels the server job); executed from a script or in background mode it blocks until the
layer is written, so `bpy.ops.inkmotion.inbetween()` returns with the result in place (a script sets
the form's values first, after `bpy.ops.inkmotion.connect()` filled it).
"""

import os
import sys
import time
from dataclasses import dataclass

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from . import form, gp_io, jobs, packing
from ._client import forms
from ._client.v1 import drawing_pb2, tasks_pb2
from .jobs import CAPABILITIES, INPUT, Connection, JobStatus, generic_reason, task_reason

CANVAS_SIZE = 512  # pixels across the square canvas laid over the drawing plane


def preferences(context):
    return context.preferences.addons[__package__].preferences


def connection(context) -> Connection:
    prefs = preferences(context)
    return Connection(prefs.server_address.strip(), prefs.token.strip(), bpy.path.abspath(prefs.tls_cert) if prefs.tls_cert else "")


class Progress:
    """The job the UI shows: at most one runs from the UI at a time."""

    job: JobStatus | None = None
    title = ""

    @classmethod
    def running(cls) -> bool:
        return cls.job is not None and not cls.job.done


def redraw_sidebars() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


@dataclass
class Prepared:
    """A request ready to send, and where its result goes."""

    request: object
    canvas: packing.Canvas
    object_name: str
    layer_name: str
    first_frame: int  # where the first output keyframe lands
    label: str


def sync_forms(response) -> None:
    """Every scene's form from these capabilities (main thread: operators, timers)."""
    for scene in bpy.data.scenes:
        form.sync(scene.inkmotion, response)


# -- the shared operator body ------------------------------------------------------------------

class TaskOperator:
    """Mixin of the actions; subclasses set `task` (its name) and implement `build(context, info)`."""

    # UNDO without REGISTER: one undo step, and no redo panel that would re-run a long job blocking.
    bl_options = {"UNDO"}
    task = ""

    start_frame: IntProperty(name="Start Frame", description="Frame of the first output keyframe (unset: automatic)")
    model: StringProperty(name="Model", description="Model on the server (empty: the server's default for the task)")
    timeout: FloatProperty(name="Timeout", description="Scripts and background mode: cancel the server job after this many seconds (0: wait)",
                           default=0.0, min=0.0, subtype="TIME_ABSOLUTE")

    def sent_task(self) -> str:
        """The task this run sends (the Animate action's raster method sends another)."""
        return self.task

    @property
    def layer_title(self) -> str:
        return CAPABILITIES.label(self.sent_task(), connection(bpy.context))

    @classmethod
    def poll(cls, context):
        reason = gp_io.unsupported_reason(context)
        if reason is None and Progress.running():
            reason = "An InkMotion job is running"
        if reason is None and cls.task:  # what the server last said (nothing until the panel or `inkmotion.connect` asked)
            reason = CAPABILITIES.task_reason(cls.task, connection(context))
        if reason:
            cls.poll_message_set(reason)
            return False
        return True

    # -- input --

    def source(self, context):
        obj = context.active_object
        return obj, obj.data.layers.active

    def output_start(self, default: int) -> int:
        return self.start_frame if self.properties.is_property_set("start_frame") else default

    def canvas_for(self, *drawings: gp_io.LayerStrokes) -> packing.Canvas:
        points = np.concatenate([d.positions for d in drawings]) if drawings else np.zeros((0, 3), np.float32)
        return packing.Canvas.fit(points, CANVAS_SIZE)

    def sketch_at_current_frame(self, context):
        obj, layer = self.source(context)
        frame = gp_io.frame_at(layer, context.scene.frame_current)
        if frame is None:
            raise ValueError(f"Layer '{layer.name}' has no keyframe at or before frame {context.scene.frame_current}")
        strokes = gp_io.read_drawing(frame.drawing)
        if strokes.stroke_count == 0:
            raise ValueError(f"Layer '{layer.name}' has no strokes at frame {context.scene.frame_current}")
        return obj, layer, strokes

    def build(self, context, info) -> Prepared:
        raise NotImplementedError

    def fill(self, context, request, info, **defaults) -> None:
        """Set the form's values of the task's described parameters on the request, each checked
        against its range (`capabilities` synced the form); `defaults`: the host's own, where the
        form leaves a parameter at the server's default."""
        values = form.values(context.scene.inkmotion, info.name, self.layer_title)
        forms.set_parameters(request, info.parameters, {**defaults, **values})

    def capabilities(self, context, fetch: bool):
        """(TaskInfo of the task, None) or (None, why not): fetched afresh when `fetch`."""
        conn = connection(context)
        if fetch or not CAPABILITIES.known_for(conn):
            CAPABILITIES.fetch_now(conn)
        if CAPABILITIES.response is None:
            return None, f"{self.layer_title}: {CAPABILITIES.error}"
        sync_forms(CAPABILITIES.response)
        reason = task_reason(CAPABILITIES.response, self.sent_task())
        return (None, reason) if reason else (jobs.task_info(CAPABILITIES.response, self.sent_task()), None)

    def prepare(self, context, fetch: bool) -> Prepared | None:
        info, why = self.capabilities(context, fetch)
        if info is None:
            self.report({"ERROR"}, why)
            return None
        try:
            return self.build(context, info)
        except ValueError as exc:
            self.report({"ERROR"}, str(exc))
            return None

    def prepared(self, context, request, canvas, obj, layer, first_frame: int) -> Prepared:
        return Prepared(request, canvas, obj.name, layer.name, first_frame,
                        f"{self.layer_title}: {obj.name}/{layer.name} (Blender {bpy.app.version_string})")

    # -- output --

    def finish(self, context, job: JobStatus, prepared: Prepared, timed_out: bool = False):
        if job.result is None:
            if job.cancelled and timed_out:
                self.report({"ERROR"}, f"{self.layer_title}: timed out after {self.timeout:g} s; server job {job.job_id} was cancelled")
            elif job.cancelled:
                self.report({"WARNING"}, f"{self.layer_title}: cancelled (job {job.job_id})")
            else:
                self.report({"ERROR"}, f"{self.layer_title}: {job.error}")
            return {"CANCELLED"}
        try:
            layer, numbers = write_result(prepared, job.result, self.layer_title)
        except ValueError as exc:
            self.report({"ERROR"}, f"{self.layer_title}: {exc}")
            return {"CANCELLED"}
        span = f"frame {numbers[0]}" if len(numbers) == 1 else f"frames {numbers[0]}-{numbers[-1]}"
        self.report({"INFO"}, f"{self.layer_title}: {len(numbers)} keyframes on new layer '{layer.name}' ({span})")
        return {"FINISHED"}

    # -- synchronous: scripts and background mode --

    def execute(self, context):
        prepared = self.prepare(context, fetch=True)
        if prepared is None:
            return {"CANCELLED"}
        conn = connection(context)
        job = JobStatus(conn, prepared.request, prepared.label).start()
        started, last = time.monotonic(), [-1.0]

        def log(j: JobStatus):  # a line per tenth, for render-farm logs
            if j.fraction - last[0] >= 0.1 or (j.done and last[0] < 2):
                last[0] = 2.0 if j.done else j.fraction
                print(f"InkMotion {self.layer_title}: {j.fraction:4.0%} {j.message}", file=sys.stderr, flush=True)

        job.wait(self.timeout, on_update=log if bpy.app.background else None)
        timed_out = bool(self.timeout) and time.monotonic() - started > self.timeout
        return self.finish(context, job, prepared, timed_out)

    # -- asynchronous: the UI --

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        if Progress.running():
            self.report({"ERROR"}, "Another InkMotion job is running; cancel it first")
            return {"CANCELLED"}
        self._prepared = self.prepare(context, fetch=False)
        if self._prepared is None:
            return {"CANCELLED"}
        self._job = JobStatus(connection(context), self._prepared.request, self._prepared.label).start()
        Progress.job, Progress.title = self._job, self.layer_title
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        self._status(context)
        return {"RUNNING_MODAL"}

    def _status(self, context) -> None:
        job = self._job
        text = f"InkMotion {self.layer_title}: {job.fraction:.0%} {job.message}  (Esc to cancel)"
        if context.workspace is not None:
            context.workspace.status_text_set(text)
        context.window_manager.progress_update(int(job.fraction * 100))
        redraw_sidebars()

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self._job.cancel()
            return {"RUNNING_MODAL"}
        if event.type == "TIMER":
            if self._job.poll():
                self._status(context)
            if self._job.done:
                wm = context.window_manager
                wm.event_timer_remove(self._timer)
                wm.progress_end()
                if context.workspace is not None:
                    context.workspace.status_text_set(None)
                redraw_sidebars()
                return self.finish(context, self._job, self._prepared)
        return {"PASS_THROUGH"}


def write_result(prepared: Prepared, result, title: str):
    """The result's vector keyframes onto a new layer beside the source; returns (layer, frame numbers)."""
    obj = bpy.data.objects.get(prepared.object_name)
    if obj is None or obj.type != "GREASEPENCIL":
        raise ValueError(f"the object '{prepared.object_name}' is gone; the result was not written")
    source = next((layer for layer in obj.data.layers if layer.name == prepared.layer_name), None)
    if source is None:
        raise ValueError(f"the layer '{prepared.layer_name}' is gone; the result was not written")
    keys = [k for k in result.keyframes if k.WhichOneof("content") == "drawing"]
    if not keys:
        raise ValueError("the server sent no vector keyframes")
    first = min(k.frame for k in keys)
    frames = [(prepared.first_frame + k.frame - first,
               gp_io.from_canvas(obj, packing.from_proto(k.drawing), prepared.canvas)) for k in keys]
    layer = gp_io.new_layer_with_keyframes(obj, source, title, frames)
    return layer, [n for n, _ in frames]


def _drawing(obj, strokes: packing.Strokes, canvas: packing.Canvas, layer: str):
    """The layer's strokes (object space) as an `inkmotion.v1.Drawing` on the square canvas."""
    return packing.to_proto(drawing_pb2, gp_io.to_canvas(obj, strokes, canvas), canvas.size, canvas.size, layer)


def _keyframe(frame_number: int, obj, strokes: packing.Strokes, canvas: packing.Canvas, layer: str):
    return drawing_pb2.Keyframe(frame=frame_number, drawing=_drawing(obj, strokes, canvas, layer))


# -- the actions ---------------------------------------------------------------------------------

ANIMATE_METHODS = [
    ("VECTOR", "Vector (Live-Sketch)", "Moves your strokes: every stroke keeps its points, radii and colours"),
    ("RASTER", "Raster (FlipSketch)", "Redraws every frame (freer motion), traced back into new strokes"),
]

class INKMOTION_OT_animate(TaskOperator, bpy.types.Operator):
    """Animate the active layer's drawing from a text prompt (Live-Sketch)"""

    bl_idname = "inkmotion.animate"
    bl_label = "Animate (Text)"
    task = jobs.TEXT_MOTION

    prompt: StringProperty(name="Prompt", description="What the drawing does, e.g. 'the dolphin jumps out of the water'")
    method: EnumProperty(name="Method", items=ANIMATE_METHODS, default="VECTOR")

    def sent_task(self) -> str:
        return jobs.RASTER_TEXT_MOTION if self.method == "RASTER" else jobs.TEXT_MOTION

    def build(self, context, info) -> Prepared:
        if not self.prompt.strip():
            raise ValueError(f"{self.layer_title}: the prompt is empty; say what the drawing does")
        obj, layer, strokes = self.sketch_at_current_frame(context)
        canvas = self.canvas_for(strokes)
        sketch = _drawing(obj, strokes, canvas, layer.name)
        if self.method == "RASTER":
            # FlipSketch: the server paints the drawing, animates it as raster frames and traces them
            # back into strokes (new strokes every frame, in the first material).
            request = tasks_pb2.RasterTextMotionRequest(sketch_drawing=sketch, prompt=self.prompt, model=self.model,
                                                        result_form=tasks_pb2.RESULT_FORM_DRAWING)
        else:
            request = tasks_pb2.TextMotionRequest(sketch=sketch, prompt=self.prompt, model=self.model)
        self.fill(context, request, info)
        return self.prepared(context, request, canvas, obj, layer, self.output_start(context.scene.frame_current))


class INKMOTION_OT_inbetween(TaskOperator, bpy.types.Operator):
    """Draw the frames between two keyframes of the active layer (the keyframes around the current frame, or the two selected ones)"""

    bl_idname = "inkmotion.inbetween"
    bl_label = "Inbetween"
    task = jobs.INBETWEEN

    def build(self, context, info) -> Prepared:
        obj, layer = self.source(context)
        start_key, end_key = gp_io.keys_around(layer, context.scene.frame_current)
        start, end = gp_io.read_drawing(start_key.drawing), gp_io.read_drawing(end_key.drawing)
        canvas = self.canvas_for(start, end)
        request = tasks_pb2.InbetweenRequest(
            start=_keyframe(start_key.frame_number, obj, start, canvas, layer.name),
            end=_keyframe(end_key.frame_number, obj, end, canvas, layer.name), model=self.model)
        # Frames unset in the form: one a frame from key to key.
        self.fill(context, request, info, frames=end_key.frame_number - start_key.frame_number + 1)
        return self.prepared(context, request, canvas, obj, layer, self.output_start(start_key.frame_number))


class INKMOTION_OT_follow_path(TaskOperator, bpy.types.Operator):
    """Make the active layer's drawing travel along the selected stroke (motion strokes)"""

    bl_idname = "inkmotion.follow_path"
    bl_label = "Follow Path"
    task = jobs.PATH_MOTION

    def build(self, context, info) -> Prepared:
        obj, layer, strokes = self.sketch_at_current_frame(context)
        if not strokes.selected.any():
            raise ValueError(f"{self.layer_title}: select the stroke to follow (in Edit Mode) on the active layer")
        path_index = int(np.argmax(strokes.selected))
        keep = np.ones(strokes.stroke_count, bool)
        keep[path_index] = False
        subject = strokes.subset(keep)
        if subject.stroke_count == 0:
            raise ValueError(f"{self.layer_title}: the layer holds only the path; draw the subject on the same layer")
        canvas = self.canvas_for(strokes)
        path = strokes.subset(~keep)
        request = tasks_pb2.PathMotionRequest(
            drawing=_drawing(obj, subject, canvas, layer.name),
            path=canvas.to_pixels(path.positions).astype("<f4").tobytes(), model=self.model)
        self.fill(context, request, info)
        return self.prepared(context, request, canvas, obj, layer, self.output_start(context.scene.frame_current))


class INKMOTION_OT_animate_video(TaskOperator, bpy.types.Operator):
    """Make the active layer's drawing move like a reference video (motion transfer or SketchAnimator)"""

    bl_idname = "inkmotion.animate_video"
    bl_label = "Animate from Video"
    task = jobs.VIDEO_MOTION

    video: StringProperty(name="Reference", description="A movie file (MP4, MOV, WebM, GIF) or a folder of frame "
                          "images", subtype="FILE_PATH")
    prompt: StringProperty(name="Subject", description="What the drawing is, in a word (\"horse\"): SketchAnimator's prompt")
    clip_start: FloatProperty(name="Clip Start", description="Where in the clip to begin, in seconds", default=0.0, min=0.0)
    clip_end: FloatProperty(name="Clip End", description="Where in the clip to stop, in seconds (0: its end)",
                            default=0.0, min=0.0)

    def build(self, context, info) -> Prepared:
        obj, layer, strokes = self.sketch_at_current_frame(context)
        values = form.values(context.scene.inkmotion, info.name, self.layer_title)
        frames = int(values.get("frames") or next((int(p.default_value) for p in info.parameters if p.name == "frames"), 16))
        clip = reference_clip(bpy.path.abspath(self.video), frames, self.clip_start, self.clip_end or None,
                              self.layer_title)
        canvas = self.canvas_for(strokes)
        request = tasks_pb2.VideoMotionRequest(
            sketch=_drawing(obj, strokes, canvas, layer.name), prompt=self.prompt, model=self.model)
        request.reference_frames.extend(drawing_pb2.Raster(width=a.shape[1], height=a.shape[0], rgba=a.tobytes())
                                        for a in clip.images)
        request.fps = clip.sampled_fps
        self.fill(context, request, info)
        return self.prepared(context, request, canvas, obj, layer, self.output_start(context.scene.frame_current))


class INKMOTION_OT_run_task(TaskOperator, bpy.types.Operator):
    """Run a task the server lists that has no action of its own (a plugin's) on the active layer's drawing"""

    bl_idname = "inkmotion.run_task"
    bl_label = "Run Task"

    task_name: StringProperty(name="Task", description="The task's name, as the server lists it")
    prompt: StringProperty(name="Prompt", description="The task's text input, when it takes one")

    def sent_task(self) -> str:
        return self.task_name

    def build(self, context, info) -> Prepared:
        why = generic_reason(info)
        if why:
            raise ValueError(why)
        request = forms.new_request(info.name)
        fields = request.DESCRIPTOR.fields_by_name
        obj, layer, canvas = context.active_object, context.active_object.data.layers.active, None
        for given in info.inputs:
            if given.kind == INPUT.KIND_TEXT:
                field = given.name if given.name in fields else "prompt"
                if not self.prompt.strip() and given.required:
                    raise ValueError(f"{self.layer_title}: {given.label or given.name} is empty")
                setattr(request, field, self.prompt)
            elif given.kind == INPUT.KIND_DRAWING:
                obj, layer, strokes = self.sketch_at_current_frame(context)
                canvas = self.canvas_for(strokes)
                field = given.name if given.name in fields else "drawing"
                getattr(request, field).CopyFrom(_drawing(obj, strokes, canvas, layer.name))
        if self.model and "model" in fields:
            request.model = self.model
        self.fill(context, request, info)
        return self.prepared(context, request, canvas or self.canvas_for(), obj, layer,
                             self.output_start(context.scene.frame_current))


def reference_clip(path: str, frames: int, start: float = 0.0, end: float | None = None,
                   title: str = "Animate from video"):
    """The reference video (a movie file, or a folder of frame images or one image in it) sampled
    to `frames` frames over [start, end] seconds by the client's clip reader (PyAV)."""
    from ._client import clips

    if not path:
        raise ValueError(f"{title}: choose the reference video (a movie file or a folder of frames)")
    if os.path.isfile(path) and path.lower().endswith(clips.IMAGE_SUFFIXES):
        path = os.path.dirname(path)  # one frame of a sequence: the whole folder
    try:
        return clips.read_frames(path, frames, start=start or None, end=end, field="Reference")
    except clips.ClipError as exc:
        raise ValueError(f"{title}: {exc}") from None


# -- helpers for the panel -----------------------------------------------------------------------

class INKMOTION_OT_cancel(bpy.types.Operator):
    """Cancel the running InkMotion job on the server"""

    bl_idname = "inkmotion.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return Progress.running()

    def execute(self, context):
        Progress.job.cancel()
        return {"FINISHED"}


class INKMOTION_OT_connect(bpy.types.Operator):
    """Ask the server which tasks it offers"""

    bl_idname = "inkmotion.connect"
    bl_label = "Connect"

    def execute(self, context):
        if not bpy.app.background:
            CAPABILITIES.refresh(connection(context))
            redraw_when_fetched()
            return {"FINISHED"}
        CAPABILITIES.fetch_now(connection(context), timeout=5.0)
        if CAPABILITIES.error:
            self.report({"ERROR"}, CAPABILITIES.error)
            return {"CANCELLED"}
        sync_forms(CAPABILITIES.response)
        return {"FINISHED"}


def redraw_when_fetched() -> None:
    def check():
        if CAPABILITIES.busy:
            return 0.2
        sync_forms(CAPABILITIES.response)
        redraw_sidebars()
        return None

    bpy.app.timers.register(check, first_interval=0.2)


ACTIONS = (INKMOTION_OT_animate, INKMOTION_OT_inbetween, INKMOTION_OT_follow_path, INKMOTION_OT_animate_video)
OPERATOR_OF_TASK = {op.task: op for op in ACTIONS}  # the built-in tasks' actions, by task name
classes = (*ACTIONS, INKMOTION_OT_run_task, INKMOTION_OT_cancel, INKMOTION_OT_connect)
