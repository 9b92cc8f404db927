#!/usr/bin/env python3
"""Build the zip that Krita's "Tools > Scripts > Import Python Plugin from File..." takes.

    python scripts/build_krita.py                 # dist/inkmotion-krita-<version>.zip
    python scripts/build_krita.py --offline       # ...-offline.zip, with grpcio/protobuf wheels inside
    python scripts/build_krita.py --out DIR

The zip holds `inkmotion.desktop` and the `inkmotion/` plugin folder. The shared client
(server/inkmotion/client.py, with its job runner), the task forms (forms.py), the generated `inkmotion.v1` modules and the
codec's SVG path reader (codec/svgpath.py, standard library only) are vendored into
`inkmotion/_vendor/` by scripts/vendoring.py, as for Blender, with their imports made relative, so
they cannot meet another `inkmotion` package on Krita's path. `--offline` adds `inkmotion/wheels/`
with the wheels for the Pythons Krita runs on (Krita 5.2's bundled 3.10 on Windows, macOS and the
AppImage; the system Python of Linux distributions); the plugin's first-run installer then installs
from those without a network.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # scripts/ is not a package
    sys.path.append(str(Path(__file__).resolve().parent))
import vendoring  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "addons" / "krita"
SKIP = {"__pycache__", "_deps", "_vendor", "wheels"}

# (Python version, pip platform tags) the offline bundle carries wheels for.
OFFLINE_TARGETS = [
    (version, platforms)
    for version in ("3.10", "3.11", "3.12", "3.13")
    for platforms in (
        ("manylinux2014_x86_64", "manylinux_2_17_x86_64"),
        ("manylinux2014_aarch64", "manylinux_2_17_aarch64"),
        ("win_amd64",),
        ("macosx_11_0_universal2", "macosx_11_0_arm64", "macosx_10_14_x86_64", "macosx_10_9_universal2"),
    )
]


def version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else "0"


def requirements() -> tuple[str, ...]:
    """The plugin's own requirement list (deps.REQUIREMENTS), read without importing it."""
    text = (PLUGIN / "inkmotion" / "deps.py").read_text(encoding="utf-8")
    match = re.search(r"^REQUIREMENTS = \(([^)]*)\)", text, re.MULTILINE)
    return tuple(re.findall(r'"([^"]+)"', match.group(1)))


def vendor(package: Path) -> list[Path]:
    """The client, inkmotion.v1, the task forms (forms.py: capabilities' parameters -> a request;
    protobuf + the contract) and the SVG path reader as `package/_vendor` (scripts/vendoring.py);
    the path reader stays standard library only, as frames.py imports it before grpc is installed.
    The clip reader (codec/clips.py) needs PyAV and numpy, which the plugin installs on first use."""
    return vendoring.vendor(package / "_vendor", ("client.py", "forms.py", "codec/svgpath.py", "codec/clips.py"),
                            by="build_krita.py", stdlib_only=("codec/svgpath.py",))


def download_wheels(dest: Path, targets=OFFLINE_TARGETS) -> list[Path]:
    """Every requirement's wheels (dependencies included) for each target Python and platform."""
    dest.mkdir(parents=True, exist_ok=True)
    for python_version, platforms in targets:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                   "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
                   "--dest", str(dest)]
        for platform in platforms:
            command += ["--platform", platform]
        run = subprocess.run(command + list(requirements()), capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"pip download for Python {python_version} {platforms[0]} failed:\n{run.stderr.strip()}")
    return sorted(dest.glob("*.whl"))


def build_krita(out_dir: Path, offline: bool = False) -> Path:
    """Build the plugin zip into `out_dir`; returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"inkmotion-krita-{version()}{'-offline' if offline else ''}.zip"
    with tempfile.TemporaryDirectory(prefix="inkmotion-krita-") as tmp:
        stage = Path(tmp)
        shutil.copy2(PLUGIN / "inkmotion.desktop", stage / "inkmotion.desktop")
        shutil.copytree(PLUGIN / "inkmotion", stage / "inkmotion", ignore=lambda d, names: [n for n in names if n in SKIP or n.endswith(".pyc")])
        vendor(stage / "inkmotion")
        if offline:
            download_wheels(stage / "inkmotion" / "wheels")
        target = out_dir / name
        partial = target.with_suffix(".zip.partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(stage.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(stage).as_posix())
        partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the InkMotion plugin zip for Krita.")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="folder for the zip (default: dist/)")
    parser.add_argument("--offline", action="store_true", help="bundle grpcio/protobuf wheels for Linux, Windows and macOS")
    args = parser.parse_args(argv)
    try:
        path = build_krita(args.out, offline=args.offline)
    except RuntimeError as error:  # vendoring.VendoringError among them
        print(f"build_krita: error: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
