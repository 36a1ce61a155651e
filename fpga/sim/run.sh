#!/bin/sh
# Build (incrementally) and run the lm_qconv Verilator test; extra arguments are
# passed to the test program (e.g. --quick, --seed 5, --latency 20 --wait 100).
set -eu
cd "$(dirname "$0")"
make build
mkdir -p out
exec nice -n 10 ./obj_dir/lmq_test --csv out/model_layers.csv "$@"
