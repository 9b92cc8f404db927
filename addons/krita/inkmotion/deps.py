"""grpcio and protobuf for Krita's own Python, installed into this plugin's folder on first run;
PyAV and numpy (`VIDEO`: what the vendored clip reader needs) the first time a reference video is read.

Krita's Python has the standard library and PyQt5 only, and which Python it is depends on the
platform (Krita 5.2 bundles its own on Windows, macOS and the Linux AppImage; distribution builds use
the system Python). So the wheels are fetched by pip running for *that* Python, into
`_deps/<python tag>-<platform>/` beside this file, and put on `sys.path` from there:

1. find pip: Krita's Python's own, else the pip wheel `ensurepip` bundles (pip runs from its wheel
   without being installed, so nothing is written outside the plugin's folder);
2. run `pip install --target`: as a subprocess where a Python interpreter can be found, in-process
   through `runpy` where `sys.executable` is Krita itself;
3. with an offline bundle (a `wheels/` folder beside this file), from those wheels only.

Standard library only: this module runs before anything else can be imported.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import io
import os
import re
import runpy
import shutil
import subprocess
import sys
import sysconfig
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bundle:
    """Dependencies installed together into a folder of their own (`_deps/<python tag><suffix>`)."""

    words: str  # for the artist: "grpcio and protobuf"
    requirements: tuple[str, ...]
    modules: tuple[str, ...]  # what must import once they are there, one per requirement
    suffix: str = ""


# What the vendored client and its generated code need (gencode 7.35.1 / grpc 1.85.1); the offline
# build bundles these (scripts/build_krita.py reads this line).
REQUIREMENTS = ("grpcio>=1.85.1,<2", "protobuf>=7.35.1,<8")
MODULES = ("grpc", "google.protobuf")  # what must import once they are there
CLIENT = Bundle("grpcio and protobuf", REQUIREMENTS, MODULES)
# What the vendored clip reader needs (Animate from video), from PyPI on first use: PyAV's wheels
# carry FFmpeg (25-35 MB a platform, too many to bundle for every Python the offline build serves).
VIDEO = Bundle("PyAV and numpy (to read reference videos)", ("av>=14,<19", "numpy>=1.24,<3"), ("av", "numpy"), "-video")
WHEELS = HERE / "wheels"  # the offline bundle's wheels, when the plugin was built with them

Progress = Callable[[float, str], None]  # fraction in [0, 1], a line for the artist
_lock = threading.Lock()
last_method = ""  # how the last install ran pip, for the docker and the tests


class DependencyError(Exception):
    """The dependencies could not be installed; the message says why and what to do."""


def python_tag() -> str:
    """`cp311-linux_x86_64`: wheels built for one Python and platform go in a folder of their own,
    so a profile synced between machines never loads the wrong binaries."""
    impl = sys.implementation.name[:2] if sys.implementation.name != "cpython" else "cp"
    platform = re.sub(r"[^A-Za-z0-9_]+", "_", sysconfig.get_platform())
    return f"{impl}{sys.version_info[0]}{sys.version_info[1]}-{platform}"


def target_dir(root: Path | None = None, bundle: Bundle = CLIENT) -> Path:
    return (root or HERE) / "_deps" / (python_tag() + bundle.suffix)


def activate(root: Path | None = None, bundle: Bundle = CLIENT) -> Path:
    """Put this Python's dependency folder first on sys.path (once); returns it."""
    target = str(target_dir(root, bundle))
    if target not in sys.path:
        sys.path.insert(0, target)
    importlib.invalidate_caches()
    return Path(target)


def missing(root: Path | None = None, bundle: Bundle = CLIENT) -> list[str]:
    """The modules that do not import yet (after `activate`)."""
    activate(root, bundle)
    absent = []
    for name in bundle.modules:
        try:
            importlib.import_module(name)
        except ImportError:
            absent.append(name)
    return absent


def ready(root: Path | None = None, bundle: Bundle = CLIENT) -> bool:
    return not missing(root, bundle)


# --- finding pip ---------------------------------------------------------------------------


def _python_executable() -> str | None:
    """An interpreter that is this Python, or None where there is none to run (Krita embeds it)."""
    exe = Path(sys.executable or "")
    if exe.is_file() and re.match(r"^python(\d(\.\d+)?)?(\.exe)?$", exe.name, re.IGNORECASE):
        return str(exe)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    names = [f"python{version}", f"python{sys.version_info[0]}", "python"]
    folders = [Path(sys.base_prefix) / "bin", Path(sys.base_prefix), Path(sys.exec_prefix) / "bin"]
    for folder in folders:
        for name in names:
            for candidate in (folder / name, folder / f"{name}.exe"):
                if candidate.is_file() and os.access(candidate, os.X_OK):
                    return str(candidate)
    return None


def _bundled_pip_wheel() -> str | None:
    """The pip wheel that `ensurepip` carries (Debian keeps it in /usr/share/python-wheels)."""
    try:
        import ensurepip
    except ImportError:
        return None
    get = getattr(ensurepip, "_get_packages", None)
    if get is not None:  # 3.11+
        with contextlib.suppress(Exception):
            package = get().get("pip")
            if package is not None and getattr(package, "wheel_path", None):
                return package.wheel_path
            if package is not None and getattr(package, "wheel_name", None):
                return str(Path(ensurepip.__file__).parent / "_bundled" / package.wheel_name)
    found = sorted(glob.glob(str(Path(ensurepip.__file__).parent / "_bundled" / "pip-*.whl")))
    found += sorted(glob.glob(str(Path(getattr(ensurepip, "_WHEEL_PKG_DIR", "") or "/nonexistent") / "pip-*.whl")))
    return found[-1] if found else None


def _has_pip() -> bool:
    try:
        import importlib.util

        return importlib.util.find_spec("pip") is not None
    except (ImportError, ValueError):
        return False


def pip_command(target: Path, requirements=REQUIREMENTS, wheels: Path | None = None) -> list[str]:
    """pip's arguments for installing `requirements` into `target` (binary wheels only)."""
    args = ["install", "--target", str(target), "--only-binary=:all:", "--upgrade",
            "--disable-pip-version-check", "--no-input", "--no-warn-script-location", "--progress-bar", "off"]
    if wheels is not None:
        args += ["--no-index", "--find-links", str(wheels)]
    return args + list(requirements)


# --- installing ----------------------------------------------------------------------------

_STAGES = (  # pip's output -> how far along it is
    (re.compile(r"^(Looking in|Processing|Collecting)"), 0.15),
    (re.compile(r"^\s*Downloading"), 0.35),
    (re.compile(r"^\s*Using cached|^Obtaining"), 0.45),
    (re.compile(r"^Installing collected packages"), 0.75),
    (re.compile(r"^Successfully installed"), 0.95),
)


class _Lines(io.TextIOBase):
    """A text stream that hands each complete line to a callback (for pip run in-process)."""

    def __init__(self, on_line: Callable[[str], None]):
        self._buffer = ""
        self._on_line = on_line

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._on_line(line)
        return len(text)


def install(on_progress: Progress | None = None, root: Path | None = None, wheels: Path | None = None,
            bundle: Bundle = CLIENT) -> Path:
    """Install a bundle (grpcio and protobuf by default) for this Python into the plugin's folder;
    returns that folder. Only the requirements whose modules do not import yet are installed (a
    Python that has numpy keeps its own).

    Raises DependencyError with what went wrong (pip's last lines) and what to try instead.
    """
    report = on_progress or (lambda fraction, message: None)
    if wheels is None and WHEELS.is_dir() and any(WHEELS.glob("*.whl")):
        wheels = WHEELS
    target = target_dir(root, bundle)
    with _lock:
        absent = missing(root, bundle)
        if not absent:
            report(1.0, "Dependencies are already installed")
            return target
        needed = [r for r, m in zip(bundle.requirements, bundle.modules) if m in absent]
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True, exist_ok=True)
        args = pip_command(staging, needed, wheels=wheels)
        source = f"the bundled wheels in {wheels}" if wheels else "PyPI"
        report(0.02, f"Installing {bundle.words} for Python {sys.version.split()[0]} from {source}...")

        tail: list[str] = []
        done = [0.05]

        def on_line(line: str) -> None:
            line = line.rstrip()
            if not line:
                return
            tail.append(line)
            del tail[:-12]
            for pattern, fraction in _STAGES:
                if pattern.search(line) and fraction > done[0]:
                    done[0] = fraction
            report(done[0], line[:120])

        code = _run_pip(args, on_line, report)
        if code != 0:
            shutil.rmtree(staging, ignore_errors=True)
            detail = "\n".join(tail[-6:]) or f"pip exited with {code}"
            raise DependencyError(
                f"Could not install {bundle.words} for Python {sys.version.split()[0]} "
                f"({python_tag()}): {detail}\n"
                "Check the network connection (or use the offline build of the plugin), then try again."
            )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        report(0.97, "Checking that they load...")
        absent = missing(root, bundle)
        if absent:
            raise DependencyError(
                f"pip installed into {target}, but {', '.join(absent)} still does not import in this Python "
                f"({python_tag()}): the wheels do not match it."
            )
        report(1.0, "Dependencies installed")
        return target


def _run_pip(args: list[str], on_line: Callable[[str], None], report: Progress) -> int:
    global last_method
    python = _python_executable()
    wheel = None if _has_pip() else _bundled_pip_wheel()
    if python is not None:
        if not _has_pip() and wheel is None:
            raise DependencyError(_NO_PIP)
        # pip runs from its wheel as a zip on the path: python pip.whl/pip install ...
        command = [python, str(Path(wheel) / "pip")] if wheel else [python, "-m", "pip"]
        last_method = f"subprocess: {' '.join(command)}"
        env = {**os.environ, "PYTHONNOUSERSITE": "1", "PIP_REQUIRE_VIRTUALENV": "0"}
        try:
            process = subprocess.Popen(command + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       env=env, **_no_window())
        except OSError as exc:
            raise DependencyError(f"Could not start {python}: {exc}") from None
        for line in process.stdout:
            on_line(line)
        return process.wait()

    # sys.executable is Krita: run pip inside this process.
    if wheel is not None and wheel not in sys.path:
        sys.path.insert(0, wheel)
    if not _has_pip():
        raise DependencyError(_NO_PIP)
    report(0.05, "Running pip inside Krita...")
    last_method = f"in-process (sys.executable is {sys.executable}){': pip from ' + wheel if wheel else ''}"
    stream = _Lines(on_line)
    saved_argv = sys.argv
    sys.argv = ["pip", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            runpy.run_module("pip", run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except Exception as exc:  # pip failing in-process must not take the docker with it
        on_line(f"{type(exc).__name__}: {exc}")
        code = 1
    finally:
        sys.argv = saved_argv
        stream.write("\n")
    return code


_NO_PIP = (
    "Krita's Python has neither pip nor the ensurepip module to bootstrap it. Install the offline build "
    "of the InkMotion plugin (it carries the wheels), or on Linux the python3-pip / python3-venv package."
)


def _no_window() -> dict:
    if sys.platform == "win32":
        return {"creationflags": 0x08000000}  # CREATE_NO_WINDOW: no console flashing up over Krita
    return {}


if __name__ == "__main__":  # python deps.py: install for this Python, printing progress
    def _print(fraction: float, message: str) -> None:
        print(f"[{fraction:4.0%}] {message}", flush=True)

    try:
        print(install(_print))
    except DependencyError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
