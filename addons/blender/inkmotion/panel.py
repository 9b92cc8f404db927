"""The "InkMotion" tab in the 3D viewport's sidebar, and the per-scene settings it edits."""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import gp_io
from .jobs import CAPABILITIES
from .operators import (ACTIONS, ANIMATE_METHODS, EASING_ITEMS, MOTION_PATH_ITEMS, UNMATCHED_ITEMS, Progress, redraw_when_fetched,
                        connection, preferences)
from .preferences import LocalServer, draw_local_server_status, draw_server_settings

TASKS = [
    ("TEXT", "Animate (Text)", "Vector strokes + a text prompt -> motion (Live-Sketch)", "OUTLINER_OB_GREASEPENCIL", 0),
    ("INBETWEEN", "Inbetween", "Two keyframes -> the frames between", "KEYFRAME", 1),
    ("PATH", "Follow Path", "The drawing travels along a selected stroke", "CURVE_PATH", 2),
    ("VIDEO", "Animate from Video", "Vector strokes + a reference video -> motion (SketchAnimator)", "FILE_MOVIE", 3),
]
OPERATOR_OF_TASK = dict(zip(("TEXT", "INBETWEEN", "PATH", "VIDEO"), ACTIONS))


class InkMotionSettings(bpy.types.PropertyGroup):
    task: EnumProperty(name="Task", items=TASKS, default="INBETWEEN")
    prompt: StringProperty(name="Prompt", description="What the drawing does (Animate) or is (Animate from video)")
    method: EnumProperty(name="Method", items=ANIMATE_METHODS, default="VECTOR")
    fidelity: FloatProperty(name="Fidelity", description="Raster method: fidelity to the drawing against motion",
                            default=0.5, min=0.0, max=1.0)
    video: StringProperty(name="Reference", description="Folder of the reference video's frames", subtype="DIR_PATH")
    frames: IntProperty(name="Frames", description="Output frames (0: the task's default; Inbetween: the keys' distance)",
                        default=0, min=0, max=1000)
    use_start_frame: BoolProperty(name="Start Frame", description="Put the first output keyframe on a chosen frame "
                                  "(off: the start key for Inbetween, else the current frame)")
    start_frame: IntProperty(name="Start Frame", default=1)
    steps: IntProperty(name="Steps", description="Optimisation steps (0: the method's default; fewer is faster and rougher)",
                       default=0, min=0, soft_max=2000)
    use_seed: BoolProperty(name="Seed", description="Fix the random seed for repeatable results")
    seed: IntProperty(name="Seed", default=0, min=0)
    model: StringProperty(name="Model", description="Model on the server (empty: its default for the task)")
    easing: EnumProperty(name="Easing", items=EASING_ITEMS)
    motion_path: EnumProperty(name="Motion Path", items=MOTION_PATH_ITEMS)
    unmatched: EnumProperty(name="Unmatched", items=UNMATCHED_ITEMS)


def fill_operator(op, settings: InkMotionSettings, task: str) -> None:
    """Copy the panel's settings into an action's operator properties."""
    op.frames = settings.frames
    op.model = settings.model
    if settings.use_start_frame:
        op.start_frame = settings.start_frame
    if task in ("TEXT", "VIDEO"):
        op.prompt = settings.prompt
        op.steps = settings.steps
    if task == "TEXT":
        op.method, op.fidelity = settings.method, settings.fidelity
    if task in ("TEXT", "VIDEO", "PATH"):
        op.seed = settings.seed if settings.use_seed else -1
    if task == "VIDEO":
        op.video = settings.video
    if task == "INBETWEEN":
        op.easing, op.motion_path, op.unmatched = settings.easing, settings.motion_path, settings.unmatched


class _Panel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "InkMotion"


class INKMOTION_PT_main(_Panel, bpy.types.Panel):
    bl_label = "InkMotion"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.inkmotion
        conn = connection(context)
        if not CAPABILITIES.known_for(conn) and not CAPABILITIES.busy:
            CAPABILITIES.refresh(conn)  # once per address; drawing never waits for it
            redraw_when_fetched()

        reason = gp_io.unsupported_reason(context)
        if reason:
            layout.label(text=reason, icon="INFO")

        layout.prop(settings, "task", text="")
        col = layout.column()
        task = settings.task
        if task in ("TEXT", "VIDEO"):
            col.prop(settings, "prompt")
        if task == "TEXT":
            col.prop(settings, "method")
            if settings.method == "RASTER":
                col.prop(settings, "fidelity", slider=True)
        if task == "VIDEO":
            col.prop(settings, "video")
        col.prop(settings, "frames")
        row = col.row(heading="Start Frame")
        row.prop(settings, "use_start_frame", text="")
        sub = row.row()
        sub.active = settings.use_start_frame
        sub.prop(settings, "start_frame", text="")
        if task in ("TEXT", "VIDEO"):
            col.prop(settings, "steps")
        if task != "INBETWEEN":
            row = col.row(heading="Seed")
            row.prop(settings, "use_seed", text="")
            sub = row.row()
            sub.active = settings.use_seed
            sub.prop(settings, "seed", text="")
        else:
            col.prop(settings, "easing")
            col.prop(settings, "motion_path")
            col.prop(settings, "unmatched")
        col.prop(settings, "model")

        layout.separator()
        actions = layout.column(align=False)
        for key, label, _desc, icon, _n in TASKS:
            op_class = OPERATOR_OF_TASK[key]
            op = actions.operator(op_class.bl_idname, text=label, icon=icon, depress=key == task)
            fill_operator(op, settings, key)
            why = CAPABILITIES.task_reason(op_class.task, conn)
            if why:
                line = actions.row()
                line.active = False
                line.label(text=why, icon="BLANK1")

        if Progress.job is not None:
            job = Progress.job
            box = layout.box()
            text = f"{Progress.title}: {job.message}"
            if job.done:
                box.label(text=text if job.result is not None else f"{Progress.title}: {job.error}",
                          icon="CHECKMARK" if job.result is not None else "ERROR")
            else:
                if hasattr(box, "progress"):
                    box.progress(factor=job.fraction, type="BAR", text=text)
                else:
                    box.label(text=f"{job.fraction:.0%} {text}")
                box.operator("inkmotion.cancel", icon="CANCEL")


class INKMOTION_PT_server(_Panel, bpy.types.Panel):
    bl_label = "Server"
    bl_parent_id = "INKMOTION_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        prefs = preferences(context)
        draw_server_settings(layout, prefs)
        conn = connection(context)
        row = layout.row()
        row.operator("inkmotion.connect", icon="FILE_REFRESH", text="Refresh" if CAPABILITIES.known_for(conn) else "Connect")
        if CAPABILITIES.busy:
            layout.label(text="Asking the server...", icon="TIME")
        elif CAPABILITIES.known_for(conn):
            caps = CAPABILITIES.response
            if caps is None:
                layout.label(text=CAPABILITIES.error, icon="ERROR")
            else:
                devices = ", ".join(d.name for d in caps.devices) or "?"
                layout.label(text=f"InkMotion {caps.server_version} on {devices}", icon="CHECKMARK")
        layout.prop(prefs, "start_local_server")
        if prefs.start_local_server or LocalServer.proc is not None:
            draw_local_server_status(layout)


classes = (InkMotionSettings, INKMOTION_PT_main, INKMOTION_PT_server)
