#!/usr/bin/env bash
# Create (or update) the training venv: training/.venv, or $LM_TRAIN_VENV. Idempotent.
# PyTorch's wheels make it ~5.7 GB, so by default it is built once in the user's cache
# (~/.cache/lm/train-venv, shared by every checkout and CI clone; rebuildable from
# requirements.txt) and training/.venv is a link to it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${LM_TRAIN_VENV:-$HERE/.venv}"
PY="${PYTHON:-python3}"
if [ -z "${LM_TRAIN_VENV:-}" ] && [ ! -e "$VENV" ]; then
  SHARED="${XDG_CACHE_HOME:-$HOME/.cache}/lm/train-venv"
  mkdir -p "$(dirname "$SHARED")"
  ln -sfn "$SHARED" "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  echo "venv up to date: $VENV"
  exit 0
fi
# Installing needs the venv's final size plus room to unpack the wheels: say so up front
# instead of failing half-way with pip's ENOSPC.
REAL="$(readlink -f "$VENV")"
mkdir -p "$REAL"
NEED_KB=$((9 * 1024 * 1024))
FREE_KB="$(df -Pk "$REAL" | awk 'NR==2 {print $4}')"
if [ "$FREE_KB" -lt "$NEED_KB" ]; then
  echo "training/setup.sh: $((FREE_KB / 1024)) MiB free on the disk of $REAL; installing" \
       "requirements.txt (PyTorch) needs about 9 GiB. Free some space, or set LM_TRAIN_VENV" \
       "to a directory on a larger disk." >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$REAL"
"$VENV/bin/python" -m pip install -q --no-cache-dir --upgrade pip
"$VENV/bin/python" -m pip install -q --no-cache-dir -r "$HERE/requirements.txt"
"$VENV/bin/python" -c "import torch, onnx, onnxruntime, qonnx, cv2; print('torch', torch.__version__, 'onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)"
echo "$WANT" > "$STAMP"
echo "venv ready: $VENV -> $REAL"
