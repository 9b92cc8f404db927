"""InkMotion for Krita: send a layer's frames to an InkMotion server, get a new animated layer back.

Layer and frame I/O and the docker only; nothing model-specific. Outside Krita (plain pytest, the
build script) importing this package registers nothing, so its Krita-free modules (`deps`, `frames`,
`jobs`) can be used on their own.
"""

try:
    from krita import DockWidgetFactory, DockWidgetFactoryBase, Krita
except ImportError:  # not inside Krita
    Krita = None

if Krita is not None:
    from . import deps

    deps.activate()  # grpcio/protobuf from the plugin's folder, when the installer has run

    from .docker import InkMotionDocker, InkMotionExtension

    _app = Krita.instance()
    _app.addDockWidgetFactory(DockWidgetFactory("inkmotion_docker", DockWidgetFactoryBase.DockRight, InkMotionDocker))
    _app.addExtension(InkMotionExtension(_app))
