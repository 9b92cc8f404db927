#!/usr/bin/env bash
# Blender as a Python module, one venv per tested release, for the tests marked `blender`.
#   bash scripts/setup_blender.sh            # .venvs/blender-5.0, -4.5 and -4.2
#   PYTHON=python3.11 bash scripts/setup_blender.sh
#
# Idempotent: a venv whose `import bpy` already reports the wanted version is left alone.
# Blender's Python is not the server's: bpy wheels exist for CPython 3.11 only (for these
# releases) and pin numpy<2, so each lives in its own venv under .venvs/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

# The releases tested: the newest 5.0 and 4.5 LTS built for CPython 3.11 (Grease Pencil v3), and
# 4.2 LTS (legacy Grease Pencil), where the add-on installs and says why it cannot run.
RELEASES=("5.0:5.0.1" "4.5:4.5.15" "4.2:4.2.23")

find_python() {
    for candidate in "${PYTHON:-}" python3.11 "$HOME"/.pyenv/versions/3.11.*/bin/python3.11; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if ! PY311=$(find_python); then
    echo "setup_blender: no python3.11 found (bpy wheels are built for CPython 3.11); set PYTHON=..." >&2
    exit 1
fi

for release in "${RELEASES[@]}"; do
    series=${release%%:*}
    version=${release#*:}
    venv=.venvs/blender-$series
    if [ -x "$venv/bin/python" ] &&
       [ "$("$venv/bin/python" -c 'import bpy; print(bpy.app.version_string.split()[0])' 2>/dev/null | tail -1)" = "$version" ]; then
        echo "setup_blender: $venv already has bpy $version"
        continue
    fi
    echo "setup_blender: creating $venv with bpy==$version (from $PY311)"
    "$PY311" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "bpy==$version"
    echo "setup_blender: $venv ready: $("$venv/bin/python" -c 'import bpy; print("bpy", bpy.app.version_string)' 2>/dev/null | tail -1)"
done
