"""The "InkMotion" tab in the 3D viewport's sidebar, and the per-scene settings it edits.

The task choice lists the tasks the server offers (by their names, with the server's labels); the
chosen task's parameters are drawn from its form (`form`), which capabilities fill. A task with no
action of its own (a plugin's) runs through `inkmotion.run_task`.
"""

import zlib

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import form, gp_io, jobs
from .jobs import CAPABILITIES, generic_reason
from .operators import (ANIMATE_METHODS, OPERATOR_OF_TASK, INKMOTION_OT_run_task, Progress, connection, preferences,
                        redraw_when_fetched, sync_forms)
from .preferences import LocalServer, draw_local_server_status, draw_server_settings

ICONS = {jobs.TEXT_MOTION: "OUTLINER_OB_GREASEPENCIL", jobs.INBETWEEN: "KEYFRAME", jobs.PATH_MOTION: "CURVE_PATH",
         jobs.VIDEO_MOTION: "FILE_MOVIE"}
_ITEMS: dict[tuple, list] = {}  # Blender needs the strings of dynamic enum items kept alive


def _number(name: str) -> int:
    """A task's enum number, the same for its name whatever else the server lists."""
    if name in jobs.BUILT_IN:
        return jobs.BUILT_IN.index(name)
    return 16 + zlib.crc32(name.encode()) % (2 ** 30)


def offered_tasks(context) -> list[tuple[str, str, str]]:
    """(name, label, description) of every task the task choice offers: the built-in actions' tasks
    (before the server answered: by name), then every other the server lists (raster_text_motion
    is the Animate action's raster method)."""
    infos = {t.name: t for t in CAPABILITIES.tasks(connection(context))}
    out = []
    for name in (*jobs.BUILT_IN, *(n for n in infos if n not in jobs.BUILT_IN and n != jobs.RASTER_TEXT_MOTION)):
        info = infos.get(name)
        out.append((name, info.label if info and info.label else jobs.fallback_label(name), info.description if info else ""))
    return out


def task_items(self, context):
    items = [(name, label, description, ICONS.get(name, "PLUGIN"), _number(name))
             for name, label, description in offered_tasks(context)]
    return _ITEMS.setdefault(tuple(items), items)


def _get_task(self) -> int:
    return _number(self.task_name)


def _set_task(self, value: int) -> None:
    for name, *_ in offered_tasks(bpy.context):
        if _number(name) == value:
            self.task_name = name
            return


class InkMotionSettings(bpy.types.PropertyGroup):
    task_name: StringProperty(name="Task", description="The chosen task's name (TaskInfo.name)", default=jobs.INBETWEEN)
    task: EnumProperty(name="Task", items=task_items, get=_get_task, set=_set_task,
                       description="The task to run; the server describes each")
    form: CollectionProperty(type=form.InkMotionParameter)
    prompt: StringProperty(name="Prompt", description="What the drawing does (Animate) or is (Animate from video)")
    method: EnumProperty(name="Method", items=ANIMATE_METHODS, default="VECTOR")
    video: StringProperty(name="Reference", description="The reference video: a movie file (MP4, MOV, WebM, GIF) or "
                          "a folder of frame images", subtype="FILE_PATH")
    clip_start: FloatProperty(name="Clip Start", description="Where in the reference video the motion starts, in seconds",
                              default=0.0, min=0.0, unit="TIME_ABSOLUTE")
    clip_end: FloatProperty(name="Clip End", description="Where it stops, in seconds (0: the video's end)",
                            default=0.0, min=0.0, unit="TIME_ABSOLUTE")
    use_start_frame: BoolProperty(name="Start Frame", description="Put the first output keyframe on a chosen frame "
                                  "(off: the start key for Inbetween, else the current frame)")
    start_frame: IntProperty(name="Start Frame", default=1)
    model: StringProperty(name="Model", description="Model on the server (empty: its default for the task)")

    @property
    def form_task(self) -> str:
        """The task whose parameters the form shows: Animate's raster method sends raster_text_motion."""
        if self.task_name == jobs.TEXT_MOTION and self.method == "RASTER":
            return jobs.RASTER_TEXT_MOTION
        return self.task_name


def fill_operator(op, settings: InkMotionSettings, task: str) -> None:
    """Copy the panel's host settings into an action's operator properties (the task's parameters
    the action reads from the form)."""
    op.model = settings.model
    if settings.use_start_frame:
        op.start_frame = settings.start_frame
    if task in (jobs.TEXT_MOTION, jobs.VIDEO_MOTION) or task not in jobs.BUILT_IN:
        op.prompt = settings.prompt
    if task == jobs.TEXT_MOTION:
        op.method = settings.method
    if task == jobs.VIDEO_MOTION:
        op.video, op.clip_start, op.clip_end = settings.video, settings.clip_start, settings.clip_end
    if task not in jobs.BUILT_IN:
        op.task_name = task


def _sync() -> None:
    sync_forms(CAPABILITIES.response)


def _sync_soon() -> None:
    """Fill the forms from a timer: a panel's draw may not write to the scene."""
    if not bpy.app.timers.is_registered(_sync):
        bpy.app.timers.register(_sync, first_interval=0.0)


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
        task = settings.task_name
        infos = {t.name: t for t in CAPABILITIES.tasks(conn)}
        info = infos.get(task)
        if task in (jobs.TEXT_MOTION, jobs.VIDEO_MOTION):
            col.prop(settings, "prompt")
        elif info is not None and task not in jobs.BUILT_IN and any(i.kind == form.KIND_TEXT for i in info.inputs):
            col.prop(settings, "prompt")
        if task == jobs.TEXT_MOTION:
            col.prop(settings, "method")
        if task == jobs.VIDEO_MOTION:
            col.prop(settings, "video")
            row = col.row(align=True)
            row.prop(settings, "clip_start")
            row.prop(settings, "clip_end")
        form_info = infos.get(settings.form_task)
        if form_info is not None and len(form.parameters(settings, form_info.name)) != len(form_info.parameters):
            _sync_soon()
        form.draw(col, settings, settings.form_task)
        row = col.row(heading="Start Frame")
        row.prop(settings, "use_start_frame", text="")
        sub = row.row()
        sub.active = settings.use_start_frame
        sub.prop(settings, "start_frame", text="")
        col.prop(settings, "model")

        layout.separator()
        actions = layout.column(align=False)
        for name, label, _description in offered_tasks(context):
            op_class = OPERATOR_OF_TASK.get(name, INKMOTION_OT_run_task)
            why = CAPABILITIES.task_reason(name, conn)
            if why is None and name not in jobs.BUILT_IN and name in infos:
                why = generic_reason(infos[name])
            line = actions.row()
            line.enabled = why is None
            op = line.operator(op_class.bl_idname, text=label, icon=ICONS.get(name, "PLUGIN"), depress=name == task)
            fill_operator(op, settings, name)
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
