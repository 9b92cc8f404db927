"""Build the installable add-ons: `python scripts/build_addons.py --out dist/`.

Blender: `inkmotion-blender-VERSION.zip`, a Blender 4.2+ extension. It holds the add-on from
addons/blender/inkmotion, the project's client (server/inkmotion/client.py, forms.py and the generated
inkmotion.v1 modules) vendored as the add-on's private package `_client` (by scripts/vendoring.py,
which the Krita build shares), and the wheels of every
runtime dependency of that client (grpcio, protobuf and what they pull in) for Blender's Python
(CPython 3.11 on 4.2-5.0) on Linux x86_64, Windows amd64 and macOS arm64 and x86_64, listed under
`wheels` in its manifest. Downloaded wheels are cached in .whl/ at the repository root.

Krita: when scripts/build_krita.py exists, its `build_krita(out_dir)` runs too.

`--dev` vendors the client into the source folder instead (git-ignored), so the add-on folder can
be linked into Blender's add-ons while working on it.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:  # scripts/ is not a package
    sys.path.append(str(Path(__file__).resolve().parent))
import vendoring  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ADDON = REPO / "addons" / "blender" / "inkmotion"
WHEEL_CACHE = REPO / ".whl"
VENDOR_NAME = "_client"

# Pinned: the wheels an artist gets are the ones tested. protobuf must be at least the version the
# checked-in *_pb2.py were generated with (their header says which).
# PyAV reads reference clips (Animate from video); its wheels carry FFmpeg (~25-35 MB a platform).
REQUIREMENTS = ["grpcio==1.85.3", "protobuf==7.36.2", "av==18.1.0"]
PYTHON_VERSION = "3.11"  # Blender 4.2 LTS to 5.0 ship CPython 3.11
# Blender's platform name -> the pip platform tags whose wheels run there (newest first).
PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    # Blender needs macOS 11+; pip counts universal2 wheels in for both of these. PyAV's arm64 wheel
    # is for macOS 14+, so on older Apple-silicon Macs Animate from video says it cannot read clips.
    "macos-arm64": ["macosx_14_0_arm64", "macosx_11_0_arm64"],
    "macos-x64": ["macosx_11_0_x86_64"],
}


# -- the vendored client -------------------------------------------------------------------------

def vendor_client(dest: Path) -> list[Path]:
    """The client, the task forms and inkmotion.v1 as the add-on's private package `dest` (scripts/vendoring.py)."""
    return vendoring.vendor(dest, ("client.py", "forms.py", "codec/clips.py"), by="build_addons.py")


# -- wheels --------------------------------------------------------------------------------------

def download_wheels(platform: str, requirements: list[str] = REQUIREMENTS) -> list[Path]:
    """The wheels of `requirements` and their dependencies for one Blender platform, from the cache
    or PyPI (`pip download --only-binary=:all:`)."""
    folder = WHEEL_CACHE / f"cp{PYTHON_VERSION.replace('.', '')}-{platform}"
    stamp = folder / ".requirements"
    wanted = "\n".join(requirements)
    if not (stamp.exists() and stamp.read_text() == wanted):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
               "--abi", f"cp{PYTHON_VERSION.replace('.', '')}", "--abi", "abi3", "--abi", "none",
               "--dest", str(folder)]
        for tag in PLATFORMS[platform]:
            cmd += ["--platform", tag]
        print(f"build_addons: downloading wheels for {platform}: {' '.join(requirements)}", file=sys.stderr)
        run = subprocess.run([*cmd, *requirements], capture_output=True, text=True)
        if run.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise SystemExit(f"build_addons: pip download for {platform} failed:\n{run.stderr.strip()}")
        stamp.write_text(wanted)
    wheels = sorted(folder.glob("*.whl"))
    names = {w.name.split("-")[0].lower().replace("_", "-") for w in wheels}
    missing = [r.split("==")[0] for r in requirements if r.split("==")[0] not in names]
    if missing:
        raise SystemExit(f"build_addons: no {', '.join(missing)} wheel for {platform} in {folder}")
    return wheels


# -- the extension -------------------------------------------------------------------------------

def _manifest(text: str, wheels: list[str], platforms: list[str]) -> str:
    def toml_list(values):
        return "[\n" + "".join(f'  "{v}",\n' for v in values) + "]"

    out, n = re.subn(r"^wheels = \[.*?\]", lambda m: f"wheels = {toml_list(wheels)}", text, count=1, flags=re.M | re.S)
    out, k = re.subn(r"^platforms = \[.*?\]", lambda m: f"platforms = {toml_list(platforms)}", out, count=1, flags=re.M | re.S)
    if not (n and k):
        raise SystemExit("build_addons: blender_manifest.toml needs top-level `wheels = []` and `platforms = [...]` lines")
    tomllib.loads(out)  # still valid
    return out


def build_blender(out_dir: Path, platforms: list[str] | None = None) -> Path:
    """Build the Blender extension zip into `out_dir`; returns its path."""
    platforms = platforms or list(PLATFORMS)
    manifest = tomllib.loads((ADDON / "blender_manifest.toml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "inkmotion"
        shutil.copytree(ADDON, stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", VENDOR_NAME, "wheels", ".gitignore"))
        vendor_client(stage / VENDOR_NAME)
        (stage / "wheels").mkdir()
        wheel_names: list[str] = []
        for platform in platforms:
            for wheel in download_wheels(platform):
                if wheel.name not in wheel_names:
                    shutil.copy2(wheel, stage / "wheels" / wheel.name)
                    wheel_names.append(wheel.name)
        manifest_text = _manifest((ADDON / "blender_manifest.toml").read_text(),
                                  [f"./wheels/{n}" for n in sorted(wheel_names)], platforms)
        (stage / "blender_manifest.toml").write_text(manifest_text)

        out_dir.mkdir(parents=True, exist_ok=True)
        suffix = "" if platforms == list(PLATFORMS) else "-" + "-".join(platforms)
        zip_path = out_dir / f"inkmotion-blender-{manifest['version']}{suffix}.zip"
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(stage.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(stage).as_posix())
    print(f"build_addons: wrote {zip_path} ({len(wheel_names)} wheels for {', '.join(platforms)})", file=sys.stderr)
    return zip_path


def build_all(out_dir: Path, platforms: list[str] | None = None) -> list[Path]:
    built = [build_blender(out_dir, platforms)]
    krita = Path(__file__).with_name("build_krita.py")
    if krita.exists():
        spec = importlib.util.spec_from_file_location("build_krita", krita)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        result = module.build_krita(out_dir)
        if result:
            built.append(Path(result))
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="folder for the built zips")
    parser.add_argument("--platform", action="append", choices=list(PLATFORMS),
                        help="bundle wheels for this Blender platform only (repeatable; default: all)")
    parser.add_argument("--dev", action="store_true", help="vendor the client into addons/blender/inkmotion/ instead")
    args = parser.parse_args(argv)
    try:
        if args.dev:
            vendor_client(ADDON / VENDOR_NAME)
            print(f"build_addons: vendored the client into {ADDON / VENDOR_NAME}", file=sys.stderr)
            return 0
        if args.out is None:
            parser.error("--out is required (or --dev)")
        for path in build_all(args.out, args.platform):
            print(path)
    except vendoring.VendoringError as error:
        raise SystemExit(f"build_addons: {error}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
