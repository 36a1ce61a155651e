#!/usr/bin/env bash
# The project's test suite: sets up what it needs (Python venv for the peer
# checks), then runs every check. Usage: bash tests/run.sh
# Needs: a Rust toolchain, python3 with venv (Debian: python3-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

section() { printf '\n=== %s\n' "$*"; }

section "format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings

section "rust tests"
cargo test --quiet 2>&1 | tee /tmp/lm-cargo-test.log
grep -q "test result: ok" /tmp/lm-cargo-test.log

section "python peers (fixtures reproducible with onnxruntime / qonnx)"
bash tests/python/setup.sh
.venv/bin/python tests/python/check_fixtures.py

if [ -x training/run_tests.sh ] || [ -f training/run_tests.sh ]; then
    section "training export checks (PyTorch vs qonnx executor)"
    bash training/run_tests.sh
fi
