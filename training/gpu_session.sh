#!/usr/bin/env bash
# One GPU session (e.g. the device tool's H200, 15 minutes in all): train the float and the quantised model
# side by side on the packed data, starting from the shipped ONNX files, and bring the weights back.
# The LR follows a cosine over the MINUTES (--time-schedule), whatever speed the machine turns out to have.
#   training/gpu_session.sh PACK OUT [MINUTES]
# PACK: the file from pack_data.py (carry it: copy it to training/.data/, which git ignores).
# OUT:  where the results go ($OUT on the device machine): each run's weights-only checkpoint (17.8 MB),
#       split into 15 MB parts (the device tool brings back files of <= 16 MiB), and the logs.
# DEVICE=cpu BATCH=2 WORKERS=1 runs the same chain on a CPU (a smoke test of the script).
# Join them here with: cat OUT/quant_gpu.pt.part-* > $LM_TRAIN_CACHE/runs/quant_gpu/last.pt (the same for float).
set -euo pipefail
PACK="$1"; OUT="$2"; MIN="${3:-6}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
CACHE="${LM_TRAIN_CACHE:-/tmp/lm-training}"
NW=$(( $(nproc) / 2 - 1 )); [ "$NW" -ge 1 ] || NW=1
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
common=(--device "${DEVICE:-cuda}" --pack "$PACK" --cache "$CACHE" --batch "${BATCH:-64}" --workers "${WORKERS:-$NW}" --threads 2 --minutes "$MIN"
        --steps "${STEPS:-100000}" --time-schedule --ckpt-every 500)
"$PY" "$HERE/train.py" --run float_gpu --init-from "$ROOT/models/lm_single_pose_v1.onnx" --lr 5e-4 "${common[@]}" \
    > "$OUT/float_gpu.log" 2>&1 &
FPID=$!
"$PY" "$HERE/train.py" --run quant_gpu --quantize --init-from "$ROOT/models/lm_single_pose_v1_quantize.onnx" \
    --lr 3e-4 "${common[@]}" > "$OUT/quant_gpu.log" 2>&1 &
QPID=$!
rc=0
wait "$FPID" || rc=$?
wait "$QPID" || rc=$?
for f in "$OUT/float_gpu.log" "$OUT/quant_gpu.log"; do echo "== $f"; tail -n 3 "$f"; done
for run in float_gpu quant_gpu; do
  if [ -f "$CACHE/runs/$run/last.pt" ]; then
    "$PY" "$HERE/ckpt_tool.py" slim "$CACHE/runs/$run/last.pt" "$CACHE/$run.slim.pt"
    split -b 15M -d "$CACHE/$run.slim.pt" "$OUT/$run.pt.part-"
  fi
done
ls -la "$OUT"
exit $rc
