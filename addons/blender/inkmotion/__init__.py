"""InkMotion for Grease Pencil: send a layer's strokes to an InkMotion server, get a new layer of keyframes.

The add-on is thin: Grease Pencil I/O (`gp_io`, `packing`), the sidebar tab and preferences
(`panel`, `preferences`), the task forms built from capabilities (`form`), the actions
(`operators`, a generic one for a plugin's task) and the jobs they watch (`jobs`). Models
live on the server; `_client` is the project's small gRPC client, vendored by
scripts/build_addons.py under this private name so it never meets a user-installed `inkmotion`.
"""

import bpy

from . import form, operators, panel, preferences

classes = (*preferences.classes, *form.classes, *operators.classes, *panel.classes)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.inkmotion = bpy.props.PointerProperty(type=panel.InkMotionSettings)
    bpy.app.timers.register(preferences.start_local_server_if_wanted, first_interval=0.5)


def unregister():
    preferences.LocalServer.stop()
    if bpy.app.timers.is_registered(preferences.start_local_server_if_wanted):
        bpy.app.timers.unregister(preferences.start_local_server_if_wanted)
    del bpy.types.Scene.inkmotion
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
