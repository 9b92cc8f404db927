#!/usr/bin/env bash
# Install everything the tests need (idempotent), then run the whole suite.
#   bash scripts/test.sh                 # everything
#   bash scripts/test.sh -m "not slow"   # any pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."

# torch is named first and pinned: the CPU wheel here, never an unpinned CUDA download.
python3 -m pip install --quiet --disable-pip-version-check torch==2.13.0 -e '.[dev,ray]'

# buf lints the contract (tests/test_contract.py); it comes from npm as @bufbuild/buf.
if [ ! -x .tools/node_modules/.bin/buf ]; then
    mkdir -p .tools
    npm install --silent --no-save --no-audit --no-fund --prefix .tools @bufbuild/buf@1.75.0
fi

# The real hosts for the add-on tests (markers `blender` and `krita`): Blender as the bpy module in
# its own venvs (.venvs/blender-*), Debian's Krita with Xvfb. Both steps are idempotent.
bash scripts/setup_blender.sh
bash scripts/setup_krita.sh

exec python3 -m pytest "$@"
