#!/usr/bin/env bash
# Run the training-side tests (export vs qonnx executor, onnxruntime, quantiser ties). Fast, CPU only,
# needs neither ../shared nor the teacher. Uses the venv made by training/setup.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${LM_TRAIN_VENV:-$HERE/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "$HERE/setup.sh"
fi
cd "$HERE"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
