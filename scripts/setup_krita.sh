#!/usr/bin/env bash
# Install what the Krita tests (tests/krita, marker `krita`) need, idempotently: Debian's Krita with
# its Python (PyQt5), and a virtual X server to run it in. Run as root (CI does); uses sudo otherwise.
#   bash scripts/setup_krita.sh
set -euo pipefail

PACKAGES=(krita python3-pyqt5 python3-sip python3-venv xvfb xauth)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup_krita: already installed: ${PACKAGES[*]}"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "setup_krita: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
