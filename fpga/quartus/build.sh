#!/bin/sh
# Build lm_qconv.rbf: the Terasic DE10-Nano GHRD with lm_qconv added. NOT RUN IN THIS
# REPOSITORY (no Quartus here); see fpga/quartus/README.md.
#
#   fpga/quartus/build.sh <DE10_NANO_SoC_GHRD dir> [build dir]
#
# <GHRD dir>: the GHRD from the DE10-Nano CD (DE10_NANO_SoC_GHRD.v, soc_system.qsys,
# DE10_NANO_SoC_GHRD.qsf, ip/). It is copied, never modified. [build dir] defaults to
# fpga/quartus/build (git-ignored). Steps, all in the build dir:
#   1. copy the GHRD; add lm_qconv_de10nano.{qpf,qsf,sdc}; append the GHRD .qsf's pin and
#      I/O assignments to the .qsf; copy the component to ip/lm_qconv/ (IP search path)
#   2. qsys-script   add_to_soc_system.tcl  (PLL, lm_qconv_0, F2S ports, IRQ) -> soc_system.qsys
#   3. qsys-generate soc_system.qsys --synthesis=VERILOG
#   4. quartus_sh --flow compile lm_qconv_de10nano
#   5. quartus_cpf -c -o bitstream_compression=on  .sof -> lm_qconv.rbf
# Needs on PATH: qsys-script, qsys-generate (<quartus>/sopc_builder/bin), quartus_sh,
# quartus_cpf (<quartus>/bin) -- Quartus Prime Lite or Standard with Cyclone V support.
set -eu
Q=$(cd "$(dirname "$0")" && pwd)          # fpga/quartus
FPGA=$(dirname "$Q")                      # fpga
PROJECT=lm_qconv_de10nano
GHRD_QSF=DE10_NANO_SoC_GHRD.qsf

die() { echo "fpga/quartus/build.sh: $*" >&2; exit 2; }

missing=""
for t in qsys-script qsys-generate quartus_sh quartus_cpf; do
    command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
    die "Quartus tools not on PATH:$missing
  Install Intel Quartus Prime Lite/Standard (with Cyclone V device support) and put
  <quartus>/quartus/bin and <quartus>/quartus/sopc_builder/bin on PATH, e.g.
    export PATH=\$HOME/intelFPGA_lite/19.1/quartus/bin:\$HOME/intelFPGA_lite/19.1/quartus/sopc_builder/bin:\$PATH
  (or run this from the SoC EDS embedded_command_shell.sh). Nothing was built."
fi

[ $# -ge 1 ] || die "usage: fpga/quartus/build.sh <DE10_NANO_SoC_GHRD dir> [build dir]"
GHRD=$(cd "$1" 2>/dev/null && pwd) || die "GHRD directory '$1' not found"
BUILD=${2:-$Q/build}
for f in soc_system.qsys DE10_NANO_SoC_GHRD.v "$GHRD_QSF"; do
    [ -f "$GHRD/$f" ] || die "$GHRD/$f missing: <GHRD dir> must be the Terasic DE10_NANO_SoC_GHRD project"
done

echo "== [1/5] build directory $BUILD"
rm -rf "$BUILD"
mkdir -p "$BUILD"
# the GHRD without its previous outputs
( cd "$GHRD" && tar cf - --exclude=./db --exclude=./incremental_db --exclude=./output_files \
    --exclude=./soc_system --exclude=./hps_isw_handoff --exclude=./.qsys_edit . ) | ( cd "$BUILD" && tar xf - )
cp "$Q/$PROJECT.qpf" "$Q/$PROJECT.sdc" "$BUILD/"
{
    cat "$Q/$PROJECT.qsf"
    echo
    echo "#------------------------------------------------------------ imported by build.sh"
    echo "# pin and I/O assignments of $GHRD/$GHRD_QSF (FPGA_CLK1_50 is set above)"
    grep -E '^[[:space:]]*set_(location|instance)_assignment' "$GHRD/$GHRD_QSF" \
        | grep -v 'PARTITION_HIERARCHY' | grep -v -E -- '-to[[:space:]]+FPGA_CLK1_50[[:space:]]*$' || true
} > "$BUILD/$PROJECT.qsf"
# Platform Designer component in the project's ip/ folder, keeping its ../rtl/ paths
mkdir -p "$BUILD/ip/lm_qconv/quartus" "$BUILD/ip/lm_qconv/rtl"
cp "$Q/lm_qconv_hw.tcl" "$BUILD/ip/lm_qconv/quartus/"
cp "$FPGA"/rtl/*.v "$FPGA"/rtl/*.vh "$BUILD/ip/lm_qconv/rtl/"
# every file the .qsf names must now be in the build dir
for f in $(sed -n -E 's/^set_global_assignment -name (QSYS_FILE|VERILOG_FILE|SYSTEMVERILOG_FILE|QIP_FILE|SDC_FILE) +//p' "$Q/$PROJECT.qsf"); do
    [ -f "$BUILD/$f" ] || die "$f (named by $PROJECT.qsf) is not in the GHRD copy: adjust the .qsf's GHRD-provided files to your GHRD version"
done

cd "$BUILD"
SEARCH="$BUILD/ip/lm_qconv/quartus,\$"

echo "== [2/5] qsys-script add_to_soc_system.tcl"
qsys-script --search-path="$SEARCH" --system-file=soc_system.qsys --script="$Q/add_to_soc_system.tcl"

echo "== [3/5] qsys-generate soc_system.qsys"
qsys-generate soc_system.qsys --synthesis=VERILOG --search-path="$SEARCH" --output-directory=soc_system

echo "== [4/5] quartus_sh --flow compile $PROJECT"
quartus_sh --flow compile "$PROJECT" -c "$PROJECT"

echo "== [5/5] quartus_cpf -> lm_qconv.rbf"
quartus_cpf -c -o bitstream_compression=on "output_files/$PROJECT.sof" "output_files/lm_qconv.rbf"

sta="output_files/$PROJECT.sta.summary"
if [ -f "$sta" ] && grep -q -E '^Slack[[:space:]]*:[[:space:]]*-' "$sta"; then
    echo "fpga/quartus/build.sh: WARNING: timing NOT met (negative slack in $sta); do not trust this bitstream at 100 MHz" >&2
fi
echo "fpga/quartus/build.sh: done: $BUILD/output_files/lm_qconv.rbf (copy it to the SD card's FAT partition; see fpga/quartus/README.md)"
