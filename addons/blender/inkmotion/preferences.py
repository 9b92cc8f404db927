"""Add-on preferences: where the server is, and a local `inkmotion serve` Blender can start and stop.

The local server runs from a Python the artist names (one with `pip install inkmotion`), never from
Blender's own Python; its output goes to a log file shown here and in a text block. It is stopped
when the add-on is disabled or Blender quits.
"""

import atexit
import os
import shlex
import subprocess
import tempfile

import bpy
from bpy.props import BoolProperty, StringProperty


class LocalServer:
    """The `inkmotion serve` process Blender started, if any."""

    proc: subprocess.Popen | None = None
    log_path = os.path.join(tempfile.gettempdir(), f"inkmotion-blender-server-{os.getpid()}.log")
    error = ""

    @classmethod
    def running(cls) -> bool:
        return cls.proc is not None and cls.proc.poll() is None

    @classmethod
    def start(cls, python: str, address: str, extra_args: str = "") -> None:
        if cls.running():
            return
        host, _, port = address.rpartition(":")
        if not port.isdigit():
            cls.error = f"server_address: '{address}' has no port; expected HOST:PORT such as 127.0.0.1:50051"
            return
        cmd = [python or "python3", "-m", "inkmotion.cli", "serve", "--host", host or "127.0.0.1", "--port", port,
               *shlex.split(extra_args)]
        log = open(cls.log_path, "ab")
        log.write(f"$ {shlex.join(cmd)}\n".encode())
        log.flush()
        try:
            cls.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            cls.error = ""
        except OSError as exc:
            cls.error = f"cannot start the local server with {cmd[0]}: {exc}"
            cls.proc = None
        finally:
            log.close()

    @classmethod
    def stop(cls) -> None:
        proc, cls.proc = cls.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # SIGTERM drains: running jobs are marked interrupted, queued ones kept
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    @classmethod
    def log_tail(cls, lines: int = 8) -> list[str]:
        try:
            with open(cls.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 8192))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        return text.splitlines()[-lines:]


atexit.register(LocalServer.stop)


def _toggle_local_server(prefs, context) -> None:
    if prefs.start_local_server:
        LocalServer.start(bpy.path.abspath(prefs.server_python), prefs.server_address.strip(), prefs.server_args)
    else:
        LocalServer.stop()


class InkMotionPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    server_address: StringProperty(name="Server", description="HOST:PORT of the InkMotion server",
                                   default="127.0.0.1:50051")
    token: StringProperty(name="Token", description="Access token of a shared server (sent as 'Bearer TOKEN')",
                          subtype="PASSWORD")
    tls_cert: StringProperty(name="TLS Certificate", description="PEM file of the server's certificate authority; "
                             "set it to connect with TLS", subtype="FILE_PATH")
    start_local_server: BoolProperty(name="Start a Local Server", description="Run `inkmotion serve` on this machine "
                                     "at the server address while Blender runs", update=_toggle_local_server)
    server_python: StringProperty(name="Python", description="The Python that has InkMotion installed "
                                  "(pip install inkmotion)", default="python3", subtype="FILE_PATH")
    server_args: StringProperty(name="Arguments", description="More `inkmotion serve` arguments, e.g. --device cuda:0")

    def draw(self, context):
        layout = self.layout
        draw_server_settings(layout, self)
        box = layout.box()
        box.prop(self, "start_local_server")
        col = box.column()
        col.active = self.start_local_server
        col.prop(self, "server_python")
        col.prop(self, "server_args")
        draw_local_server_status(box)


def draw_server_settings(layout, prefs) -> None:
    layout.prop(prefs, "server_address")
    layout.prop(prefs, "token")
    layout.prop(prefs, "tls_cert")


def draw_local_server_status(layout) -> None:
    if LocalServer.error:
        layout.label(text=LocalServer.error, icon="ERROR")
    if LocalServer.proc is None:
        return
    state = "running" if LocalServer.running() else f"exited with code {LocalServer.proc.returncode}"
    row = layout.row()
    row.label(text=f"Local server (pid {LocalServer.proc.pid}) {state}", icon="CHECKMARK" if LocalServer.running() else "ERROR")
    row.operator("inkmotion.show_server_log", text="Show Log", icon="TEXT")
    col = layout.column(align=True)
    col.scale_y = 0.7
    for line in LocalServer.log_tail():
        col.label(text=line)


class INKMOTION_OT_show_server_log(bpy.types.Operator):
    """Load the local server's log into the text block 'InkMotion Server Log'"""

    bl_idname = "inkmotion.show_server_log"
    bl_label = "Show Server Log"

    def execute(self, context):
        try:
            with open(LocalServer.log_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            self.report({"WARNING"}, "The local server has written no log yet")
            return {"CANCELLED"}
        block = bpy.data.texts.get("InkMotion Server Log") or bpy.data.texts.new("InkMotion Server Log")
        block.from_string(text)
        self.report({"INFO"}, f"Server log in the text block '{block.name}' ({LocalServer.log_path})")
        return {"FINISHED"}


def start_local_server_if_wanted() -> None:
    """Called once after registration (preferences are readable only then)."""
    addon = bpy.context.preferences.addons.get(__package__)
    if addon is not None and addon.preferences.start_local_server:
        prefs = addon.preferences
        LocalServer.start(bpy.path.abspath(prefs.server_python), prefs.server_address.strip(), prefs.server_args)


classes = (InkMotionPreferences, INKMOTION_OT_show_server_log)
