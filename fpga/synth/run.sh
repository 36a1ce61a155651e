#!/bin/sh
# Synthesise lm_qconv with yosys (synth_intel_alm -family cyclonev) and check that
# it fits the DE10-Nano's 5CSEBA6U23I7. Takes ~2-4 minutes on 2 cores.
# Outputs in fpga/synth/out/: synth.log, stat.txt, resources.md, lm_qconv_top.json
set -eu
cd "$(dirname "$0")/../.."
mkdir -p fpga/synth/out
nice -n 10 yosys -q -l fpga/synth/out/synth.log -s fpga/synth/synth.ys
python3 fpga/synth/check_fit.py fpga/synth/out/stat.txt --md fpga/synth/out/resources.md
