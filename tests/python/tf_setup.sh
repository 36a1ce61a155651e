#!/usr/bin/env bash
# Creates the TensorFlow venv (~/.cache/lm/tf-venv, outside the repository: ~1.5 GB) used
# only to generate and peer-check the Blueoil-style GraphDef fixtures (tests/fixtures/blueoil_*).
# Separate from .venv: TensorFlow pins its own numpy/protobuf. Not needed by `cargo test`.
# Idempotent: re-running only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${LM_TF_VENV:-$HOME/.cache/lm/tf-venv}"
mkdir -p "$(dirname "$venv")"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
stamp="$venv/.requirements.sha"
want=$(sha256sum tests/python/tf_requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/tf_requirements.txt
    echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
