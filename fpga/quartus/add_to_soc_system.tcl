# add_to_soc_system.tcl -- Platform Designer script that adds lm_qconv to the
# DE10-Nano GHRD system (soc_system.qsys). NOT RUNNABLE HERE (needs Quartus).
# fpga/quartus/build.sh runs it on a copy of the GHRD; by hand:
#
#   cd <copy of the DE10-Nano GHRD>          # DE10_NANO_SoC_GHRD from the Terasic CD
#   qsys-script --search-path="<repo>/fpga/quartus,$" \
#       --system-file=soc_system.qsys --script=<repo>/fpga/quartus/add_to_soc_system.tcl
#   qsys-generate soc_system.qsys --synthesis=VERILOG --search-path="<repo>/fpga/quartus,$"
#
# Written against the soc_system.qsys of the Terasic GHRD as published for Quartus 19.1
# (instances clk_0 = 50 MHz clock source, hps_0, mm_bridge_0 on the lightweight bridge
# at 0x0, jtag_uart on f2h_irq0[2], f2sdram_only_master on a 256-bit bidirectional
# f2h_sdram0 port). Each of those is detected, not assumed, where the script must adapt:
#
#  * CSR: lm_qconv_0.csr at offset 0 of the lightweight HPS-to-FPGA bridge, i.e. CPU
#    physical 0xFF20_0000 (CSR_BASE_PHYS in fpga/regmap.toml). If the GHRD puts
#    mm_bridge_0 at offset 0 of the bridge, the CSR goes behind mm_bridge_0.m0 at 0x0
#    (its peripherals start at 0x1000), which is the same CPU address.
#  * IRQ: f2h_irq0[2] (GIC SPI 42, the device-tree node in README.md). Whatever the GHRD
#    had on bit 2 (the JTAG UART) is moved to the lowest free bit >= 3, and a message
#    says which.
#  * SDRAM: the F2S ports are re-configured as 64-bit Avalon-MM ports; rd gets a
#    read-only port, wr a write-only port. If f2sdram_only_master exists, port 0 stays
#    bidirectional (narrowed from 256 to 64 bits) for it and ours are ports 1 and 2;
#    otherwise ours are ports 0 and 1.
package require -exact qsys 16.1

set LM_IRQ 2
set instances [get_instances]
proc have {name} {
    global instances
    return [expr {[lsearch -exact $instances $name] >= 0}]
}
foreach need {clk_0 hps_0} {
    if {![have $need]} {
        send_message error "add_to_soc_system.tcl: no instance '$need' in this system (is it the DE10-Nano GHRD's soc_system.qsys?)"
        error "missing instance $need"
    }
}
if {[have lm_qconv_0]} {
    send_message error "add_to_soc_system.tcl: lm_qconv_0 is already in this system (run the script on a fresh copy of the GHRD)"
    error "lm_qconv_0 already present"
}

# ---------------------------------------------------------------- 100 MHz clock
add_instance pll_100 altera_pll
set_instance_parameter_value pll_100 gui_reference_clock_frequency 50.0
set_instance_parameter_value pll_100 gui_number_of_clocks 1
set_instance_parameter_value pll_100 gui_output_clock_frequency0 100.0
set_instance_parameter_value pll_100 gui_use_locked false
add_connection clk_0.clk pll_100.refclk
add_connection clk_0.clk_reset pll_100.reset

# ---------------------------------------------------------------- FPGA-to-SDRAM ports
if {[have f2sdram_only_master]} {
    set_instance_parameter_value hps_0 F2SDRAM_Type {Avalon-MM\ Bidirectional Avalon-MM\ Read-Only Avalon-MM\ Write-Only}
    set_instance_parameter_value hps_0 F2SDRAM_Width {64 64 64}
    set rd_port 1
    set wr_port 2
    send_message info "add_to_soc_system.tcl: f2h_sdram0 kept for f2sdram_only_master (now 64-bit); lm_qconv uses f2h_sdram1 (read) and f2h_sdram2 (write)"
} else {
    set_instance_parameter_value hps_0 F2SDRAM_Type {Avalon-MM\ Read-Only Avalon-MM\ Write-Only}
    set_instance_parameter_value hps_0 F2SDRAM_Width {64 64}
    set rd_port 0
    set wr_port 1
}

# ---------------------------------------------------------------- the core
add_instance lm_qconv_0 lm_qconv
add_connection pll_100.outclk0 lm_qconv_0.clock
add_connection clk_0.clk_reset lm_qconv_0.reset
add_connection pll_100.outclk0 hps_0.f2h_sdram${rd_port}_clock
add_connection pll_100.outclk0 hps_0.f2h_sdram${wr_port}_clock

# CSR -> CPU 0xFF20_0000 (the lightweight bridge base + 0)
if {[have mm_bridge_0]} {
    set csr_master mm_bridge_0.m0
} else {
    set csr_master hps_0.h2f_lw_axi_master
}
add_connection $csr_master lm_qconv_0.csr
set_connection_parameter_value $csr_master/lm_qconv_0.csr baseAddress 0x00000000

# SDRAM masters (the F2H SDRAM ports see the whole 1 GiB DDR3 at address 0)
add_connection lm_qconv_0.rd hps_0.f2h_sdram${rd_port}_data
set_connection_parameter_value lm_qconv_0.rd/hps_0.f2h_sdram${rd_port}_data baseAddress 0x00000000
add_connection lm_qconv_0.wr hps_0.f2h_sdram${wr_port}_data
set_connection_parameter_value lm_qconv_0.wr/hps_0.f2h_sdram${wr_port}_data baseAddress 0x00000000

# ---------------------------------------------------------------- interrupt f2h_irq0[LM_IRQ]
set used {}
set clash {}
foreach c [get_connections] {
    if {[string match "hps_0.f2h_irq0/*" $c]} {
        set n [get_connection_parameter_value $c irqNumber]
        lappend used $n
        if {$n == $LM_IRQ} { lappend clash $c }
    }
}
foreach c $clash {
    set free 3
    while {[lsearch -exact $used $free] >= 0} { incr free }
    set_connection_parameter_value $c irqNumber $free
    lappend used $free
    send_message warning "add_to_soc_system.tcl: $c moved from f2h_irq0\[$LM_IRQ\] to f2h_irq0\[$free\] (f2h_irq0\[$LM_IRQ\] is lm_qconv's); update that device's device-tree interrupt if you use it"
}
add_connection hps_0.f2h_irq0 lm_qconv_0.irq
set_connection_parameter_value hps_0.f2h_irq0/lm_qconv_0.irq irqNumber $LM_IRQ

save_system
