#!/usr/bin/env python3
"""Parse the yosys `stat` of lm_qconv (synth_intel_alm -family cyclonev) and fail
if the design does not fit the DE10-Nano's Cyclone V 5CSEBA6U23I7.

    python3 fpga/synth/check_fit.py fpga/synth/out/stat.txt [--md out.md]

yosys 0.23 maps to MISTRAL_* cells but does not pack ALMs, so ALMs are
estimated:  typical = ALUT6 + (ALUT2..5 + ALUT_ARITH)/2 + MLAB_cells/2, and at
least FF/4 (4 registers per ALM);  worst = every ALUT in its own ALM.  The check
uses the typical estimate; the worst case is reported. MISTRAL_MLAB cells are
32x1 LUT-RAM slices (20 of them per 10-ALM MLAB). DSP blocks: each MISTRAL_MUL*
cell is counted as one block (conservative). Standard library only.
"""
import argparse
import math
import re
import sys

DEVICE = "5CSEBA6U23I7 (DE10-Nano)"
LIMITS = {"ALM": 41910, "M10K": 553, "DSP": 112, "FF": 41910 * 4}


def parse(text):
    cells = {}
    for m in re.finditer(r"^\s+(MISTRAL_\w+|\$\w+)\s+(\d+)\s*$", text, re.M):
        cells[m.group(1)] = cells.get(m.group(1), 0) + int(m.group(2))
    return cells


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stat")
    ap.add_argument("--md", help="also write a Markdown summary here")
    a = ap.parse_args()
    cells = parse(open(a.stat, encoding="utf-8").read())
    if not cells:
        print(f"check_fit: no MISTRAL_* cells found in {a.stat}", file=sys.stderr)
        return 2
    g = lambda k: cells.get(k, 0)
    small = sum(g(f"MISTRAL_ALUT{i}") for i in range(2, 6)) + g("MISTRAL_NOT")
    lut6 = g("MISTRAL_ALUT6")
    arith = g("MISTRAL_ALUT_ARITH")
    mlab = g("MISTRAL_MLAB")
    ff = g("MISTRAL_FF")
    aluts = small + lut6 + arith
    alm_typ = max(math.ceil(lut6 + (small + arith) / 2 + mlab / 2), math.ceil(ff / 4))
    alm_worst = aluts + mlab
    m10k = g("MISTRAL_M10K")
    dsp = sum(v for k, v in cells.items() if k.startswith("MISTRAL_MUL"))
    other = {k: v for k, v in cells.items() if k.startswith("$")}
    rows = [
        ("ALUTs (LUT + arith)", aluts, None),
        ("ALMs (typical estimate)", alm_typ, LIMITS["ALM"]),
        ("ALMs (worst case, 1 ALUT/ALM)", alm_worst, LIMITS["ALM"]),
        ("FFs", ff, LIMITS["FF"]),
        ("M10K blocks", m10k, LIMITS["M10K"]),
        ("MLAB 32x1 slices", mlab, None),
        ("DSP blocks", dsp, LIMITS["DSP"]),
    ]
    lines = [f"Resource use of lm_qconv_top (yosys synth_intel_alm -family cyclonev) on {DEVICE}:", ""]
    lines.append("| Resource | Used | Available | Use |")
    lines.append("|---|---:|---:|---:|")
    for name, used, lim in rows:
        pct = f"{100.0 * used / lim:.1f}%" if lim else ""
        lines.append(f"| {name} | {used} | {lim if lim else ''} | {pct} |")
    detail = ", ".join(f"{k.replace('MISTRAL_', '')}={v}" for k, v in sorted(cells.items()))
    lines.append("")
    lines.append(f"Cells: {detail}")
    text = "\n".join(lines)
    print(text)
    if a.md:
        with open(a.md, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    fail = []
    if other:
        fail.append(f"unmapped internal cells {other}")
    if alm_typ > LIMITS["ALM"]:
        fail.append(f"ALMs {alm_typ} > {LIMITS['ALM']}")
    if m10k > LIMITS["M10K"]:
        fail.append(f"M10K {m10k} > {LIMITS['M10K']}")
    if dsp > LIMITS["DSP"]:
        fail.append(f"DSP {dsp} > {LIMITS['DSP']}")
    if ff > LIMITS["FF"]:
        fail.append(f"FF {ff} > {LIMITS['FF']}")
    if alm_worst > LIMITS["ALM"]:
        print(f"warning: worst-case ALM count {alm_worst} exceeds {LIMITS['ALM']}", file=sys.stderr)
    if fail:
        print("check_fit: DOES NOT FIT: " + "; ".join(fail), file=sys.stderr)
        return 1
    print(f"\ncheck_fit: fits {DEVICE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
