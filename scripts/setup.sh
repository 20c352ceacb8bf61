#!/usr/bin/env bash
# Set up datagen on a fresh machine: system libraries (apt, as root or with sudo), then a
# virtual environment in .venv with datagen, its trainer (the train extra) and its test
# tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  libusb-1.0-0   # open3d's shared library links against it
  libosmesa6     # headless OpenGL for the pyrender backend
  libgl1 libegl1
  chromium       # the preview page is tested in a real headless browser
)
missing=()
for package in "${SYSTEM_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: on the development and CI machines pip takes 2.13.0 from the CPU wheel kept on disk
# (about 750 MB installed), where a bare requirement would pull a CUDA build of several GB; the train
# extra's range then installs nothing more. On a GPU machine, set TORCH to the build you want.
.venv/bin/python -m pip install -q "${TORCH:-torch==2.13.0}"
.venv/bin/python -m pip install -q -e '.[dev,train]'
