"""Copy parts of the server package into an add-on as its private package: the one vendoring step
both add-on builds share (scripts/build_addons.py for Blender, scripts/build_krita.py for Krita).

What a host gets is the client (server/inkmotion/client.py), the generated `inkmotion.v1` modules
and, where it needs them, other modules of the package that stand alone (the Krita plugin takes
codec/svgpath.py). Imports of `inkmotion.v1` are made relative, so that the copy never meets an
`inkmotion` package the artist may have installed. Any other import of the package, or of anything
beyond the standard library, grpcio and protobuf (and, for the clip reader, numpy and PyAV: see
THIRD_PARTY), stops the build: a host's Python has nothing else.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "server" / "inkmotion"
GRPC = frozenset({"grpc", "google"})  # grpcio and protobuf, which the add-ons install or bundle
# Modules that may use more: the clip reader needs numpy and PyAV, which Blender's extension bundles
# (numpy is Blender's own) and the Krita plugin installs the first time a clip is read.
THIRD_PARTY = {"codec/clips.py": frozenset({"numpy", "av"})}
_V1 = re.compile(r"^(\s*)from inkmotion\.v1 import ", re.M)


class VendoringError(RuntimeError):
    pass


def vendor(dest: Path, modules: tuple[str, ...] = ("client.py",), *, by: str,
           stdlib_only: tuple[str, ...] = ()) -> list[Path]:
    """Write `dest` afresh as a package: each of `modules` (paths under server/inkmotion/) as
    dest/NAME.py and inkmotion/v1/*.py as dest/v1/, imports made relative. `by` names the build
    in the package's docstring; the modules in `stdlib_only` may not even import grpc or protobuf.
    Returns the files written."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "v1").mkdir(parents=True)
    (dest / "__init__.py").write_text(f'"""Vendored from the InkMotion server package by scripts/{by}: do not edit."""\n',
                                      encoding="utf-8")
    files = [(PACKAGE / name, dest / Path(name).name, name in stdlib_only) for name in modules]
    files += [(path, dest / "v1" / path.name, False) for path in sorted((PACKAGE / "v1").glob("*.py"))]
    written = []
    for source, target, plain in files:
        relative = "from ." if target.parent.name == "v1" else "from .v1"
        text = _V1.sub(lambda m: f"{m.group(1)}{relative} import ", source.read_text(encoding="utf-8"))
        name = source.relative_to(PACKAGE).as_posix()
        allowed = (frozenset() if plain else GRPC) | THIRD_PARTY.get(name, frozenset())
        check_imports(source.relative_to(PACKAGE.parent).as_posix(), text, allowed)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def check_imports(name: str, text: str, allowed: frozenset[str] = GRPC) -> None:
    """Refuse an import of the rest of `inkmotion`, or of anything but the standard library and `allowed`."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            imported = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported = [node.module or ""]
        else:
            continue
        for module in imported:
            top = module.split(".")[0]
            if top == "inkmotion":
                raise VendoringError(f"{name} imports {module}, which is not vendored; vendor it or keep {name} free of it")
            if top not in allowed and top not in sys.stdlib_module_names:
                means = "the standard library" + (", grpcio and protobuf" if allowed else "")
                raise VendoringError(f"{name} imports {module}; vendored code may use only {means}")
