#!/usr/bin/env python3
"""Consistency checks of the Quartus / Platform Designer files that cannot be run here
(no Quartus). Standard library only; run by fpga/ci.sh:

    python3 fpga/quartus/check_project.py

What it checks (each failure is printed; exit status 1 if any):
  * lm_qconv_de10nano.qsf: FAMILY "Cyclone V", DEVICE equal to the part of
    fpga/synth/check_fit.py (the fit check) and boards/de10_nano/board.toml;
    TOP_LEVEL_ENTITY DE10_NANO_SoC_GHRD; QSYS_FILE soc_system.qsys; every file it names
    outside the "GHRD-provided" block exists in fpga/quartus/; the SDC file is listed.
  * lm_qconv_de10nano.qpf: PROJECT_REVISION names the .qsf.
  * lm_qconv_de10nano.sdc: a 20 ns create_clock on each port that the .qsf gives a pin
    location, derive_pll_clocks present.
  * lm_qconv_hw.tcl: every fileset file exists (paths relative to the .tcl); every
    add_interface_port names a port of module lm_qconv_top with the same direction and
    width (widths evaluated with the module's parameter defaults and the `defines of
    rtl/lm_qconv_regs.vh); every HDL_PARAMETER is a parameter of lm_qconv_top with the
    same default.
  * add_to_soc_system.tcl: uses only interfaces of lm_qconv that the _hw.tcl declares;
    CSR at base 0 of the lightweight bridge = csr_base_phys of fpga/regmap.toml
    (0xFF20_0000); irqNumber = the f2h_irq0 bit of boards/de10_nano/board.toml
    (gic_spi = 40 + bit).
  * build.sh: runs the four tools and writes lm_qconv.rbf.
"""
import re
import sys
from pathlib import Path

Q = Path(__file__).resolve().parent
FPGA = Q.parent
ROOT = FPGA.parent
PROJECT = "lm_qconv_de10nano"
LW_BRIDGE_BASE = 0xFF200000  # Cyclone V HPS lightweight HPS-to-FPGA bridge

errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond


def qsf_globals(text):
    """(name, value) of every set_global_assignment, in order, and the names inside the
    GHRD-provided block."""
    out, ghrd, in_ghrd = [], set(), False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("# BEGIN GHRD-provided"):
            in_ghrd = True
        elif s.startswith("# END GHRD-provided"):
            in_ghrd = False
        m = re.match(r'set_global_assignment\s+-name\s+(\S+)\s+("([^"]*)"|(\S+))', s)
        if m:
            val = m.group(3) if m.group(3) is not None else m.group(4)
            out.append((m.group(1), val))
            if in_ghrd:
                ghrd.add((m.group(1), val))
    return out, ghrd


def main():
    qsf_text = (Q / f"{PROJECT}.qsf").read_text()
    globs, ghrd = qsf_globals(qsf_text)
    g = {}
    for k, v in globs:
        g.setdefault(k, []).append(v)

    # ---- device / project
    device = g.get("DEVICE", [None])[0]
    check(g.get("FAMILY") == ["Cyclone V"], f"qsf FAMILY {g.get('FAMILY')} != ['Cyclone V']")
    fit = re.search(r'^DEVICE = "(\S+)', (FPGA / "synth/check_fit.py").read_text(), re.M)
    check(fit and fit.group(1) == device,
          f"qsf DEVICE {device} != fpga/synth/check_fit.py DEVICE {fit and fit.group(1)}")
    board = (ROOT / "boards/de10_nano/board.toml").read_text()
    check(device is not None and device in board,
          f"qsf DEVICE {device} not named in boards/de10_nano/board.toml")
    check(g.get("TOP_LEVEL_ENTITY") == ["DE10_NANO_SoC_GHRD"],
          f"qsf TOP_LEVEL_ENTITY {g.get('TOP_LEVEL_ENTITY')} != DE10_NANO_SoC_GHRD (the GHRD top)")
    check(("QSYS_FILE", "soc_system.qsys") in ghrd, "qsf: QSYS_FILE soc_system.qsys missing from the GHRD block")
    check(g.get("SDC_FILE") == [f"{PROJECT}.sdc"], f"qsf SDC_FILE {g.get('SDC_FILE')} != {PROJECT}.sdc")
    file_kinds = {"QSYS_FILE", "VERILOG_FILE", "SYSTEMVERILOG_FILE", "QIP_FILE", "SDC_FILE", "VHDL_FILE"}
    ours = [(k, v) for k, v in globs if k in file_kinds and (k, v) not in ghrd]
    for k, v in ours:
        check((Q / v).is_file(), f"qsf {k} {v}: no such file in fpga/quartus/")
    qpf = (Q / f"{PROJECT}.qpf").read_text()
    check(re.search(rf'^PROJECT_REVISION = "{PROJECT}"$', qpf, re.M) is not None,
          f"qpf PROJECT_REVISION is not \"{PROJECT}\"")

    # ---- SDC: board clock pins
    sdc = (Q / f"{PROJECT}.sdc").read_text()
    pins = re.findall(r"^set_location_assignment\s+(PIN_\w+)\s+-to\s+(\S+)", qsf_text, re.M)
    check(("PIN_V11", "FPGA_CLK1_50") in pins, "qsf: FPGA_CLK1_50 not on PIN_V11 (DE10-Nano 50 MHz clock)")
    for _, port in pins:
        if "CLK" in port:
            check(re.search(rf"create_clock\s.*-period\s+20(\.0+)?\s.*get_ports\s+\{{{re.escape(port)}\}}", sdc),
                  f"sdc: no 20 ns create_clock on {port}")
    check(re.search(r"^derive_pll_clocks\b", sdc, re.M), "sdc: derive_pll_clocks missing")

    # ---- _hw.tcl against the RTL
    hw = (Q / "lm_qconv_hw.tcl").read_text()
    for path in re.findall(r"^add_fileset_file\s+\S+\s+\S+\s+PATH\s+(\S+)", hw, re.M):
        check((Q / path).resolve().is_file(), f"lm_qconv_hw.tcl: fileset file {path} does not exist")
    top = (FPGA / "rtl/lm_qconv_top.v").read_text()
    defines = {m.group(1): m.group(2) for m in re.finditer(
        r"^`define\s+(\w+)\s+(\d+)\s*$", (FPGA / "rtl/lm_qconv_regs.vh").read_text(), re.M)}
    params = {m.group(1): int(m.group(2)) for m in re.finditer(
        r"parameter\s+integer\s+(\w+)\s*=\s*(\d+)", top)}

    def ev(expr):
        expr = re.sub(r"`(\w+)", lambda m: defines.get(m.group(1), m.group(0)), expr)
        expr = re.sub(r"[A-Za-z_]\w*", lambda m: str(params.get(m.group(0), m.group(0))), expr)
        if not re.fullmatch(r"[\d+\-* ()]+", expr):
            raise ValueError(expr)
        return eval(expr)  # digits and + - * ( ) only

    start = top.index("module lm_qconv_top")
    header = top[start:top.index(");", start) + 2]  # parameter and port lists
    ports = {}
    for m in re.finditer(r"\b(input|output)\s+(?:wire|reg)?\s*(\[([^\]:]+):([^\]]+)\])?\s*(\w+)\s*[,)]", header):
        width = ev(m.group(3)) - ev(m.group(4)) + 1 if m.group(2) else 1
        ports[m.group(5)] = ("Input" if m.group(1) == "input" else "Output", width)
    check(len(ports) >= 20, f"parsed only {len(ports)} ports of lm_qconv_top")
    declared = set()
    for m in re.finditer(r"^add_interface_port\s+(\w+)\s+(\w+)\s+(\w+)\s+(Input|Output)\s+(\S+)", hw, re.M):
        iface, port, _, direction, width = m.groups()
        declared.add(port)
        if check(port in ports, f"lm_qconv_hw.tcl: port {port} ({iface}) is not a port of lm_qconv_top"):
            want = ports[port]
            got = (direction, ev(width))
            check(got == want, f"lm_qconv_hw.tcl: port {port} is {got}, lm_qconv_top has {want}")
    check(set(ports) == declared, f"ports of lm_qconv_top not in lm_qconv_hw.tcl: {sorted(set(ports) - declared)}")
    hdl_params = re.findall(r"^set_parameter_property\s+(\w+)\s+HDL_PARAMETER\s+true", hw, re.M)
    for p in hdl_params:
        d = re.search(rf"^add_parameter\s+{p}\s+INTEGER\s+(\d+)", hw, re.M)
        check(p in params and d and int(d.group(1)) == params[p],
              f"lm_qconv_hw.tcl: HDL parameter {p} default {d and d.group(1)} != lm_qconv_top {params.get(p)}")
    interfaces = set(re.findall(r"^add_interface\s+(\w+)\s", hw, re.M))

    # ---- add_to_soc_system.tcl
    add = (Q / "add_to_soc_system.tcl").read_text()
    used = set(re.findall(r"\blm_qconv_0\.(\w+)", add))
    check(used and used <= interfaces,
          f"add_to_soc_system.tcl uses lm_qconv_0 interfaces {sorted(used - interfaces)} not in lm_qconv_hw.tcl")
    check(re.search(r"^add_instance\s+lm_qconv_0\s+lm_qconv\b", add, re.M)
          and re.search(r"^set_module_property\s+NAME\s+lm_qconv\s*$", hw, re.M),
          "add_to_soc_system.tcl instantiates a component name that lm_qconv_hw.tcl does not define")
    base = re.search(r"lm_qconv_0\.csr\s+baseAddress\s+(0x[0-9A-Fa-f]+)", add)
    regmap = re.search(r"^csr_base_phys\s*=\s*(0x[0-9A-Fa-f]+)", (FPGA / "regmap.toml").read_text(), re.M)
    check(base and regmap and LW_BRIDGE_BASE + int(base.group(1), 16) == int(regmap.group(1), 16),
          f"CSR: lightweight bridge 0x{LW_BRIDGE_BASE:08X} + baseAddress {base and base.group(1)} "
          f"!= regmap.toml csr_base_phys {regmap and regmap.group(1)}")
    irq = re.search(r"^set\s+LM_IRQ\s+(\d+)", add, re.M)
    spi = re.search(r"gic_spi\s*=\s*(\d+)", board)
    check(irq and spi and 40 + int(irq.group(1)) == int(spi.group(1)),
          f"IRQ: f2h_irq0[{irq and irq.group(1)}] != board.toml gic_spi {spi and spi.group(1)} - 40")
    readme = (Q / "README.md").read_text()
    check(spi and f"interrupts = <0 {spi.group(1)} 4>" in readme,
          "quartus/README.md device-tree interrupt does not match board.toml gic_spi")

    # ---- build.sh
    build = (Q / "build.sh").read_text()
    for tool in ("qsys-script", "qsys-generate", "quartus_sh --flow compile", "quartus_cpf"):
        check(tool in build, f"build.sh does not run {tool}")
    check("lm_qconv.rbf" in build and "add_to_soc_system.tcl" in build, "build.sh: no lm_qconv.rbf / add_to_soc_system.tcl")

    if errors:
        for e in errors:
            print(f"check_project: FAIL: {e}", file=sys.stderr)
        return 1
    print(f"check_project: ok: {PROJECT}.qsf/.qpf/.sdc, lm_qconv_hw.tcl ({len(declared)} ports, "
          f"{len(hdl_params)} HDL parameters) vs rtl/lm_qconv_top.v, add_to_soc_system.tcl "
          f"(CSR 0x{int(regmap.group(1), 16):08X}, f2h_irq0[{irq.group(1)}] = SPI {spi.group(1)}), "
          f"device {device}, {len(ours)} own file(s) present, {len(ghrd)} GHRD-provided")
    return 0


if __name__ == "__main__":
    sys.exit(main())
