# add_to_soc_system.tcl -- Platform Designer script that adds lm_qconv to the
# DE10-Nano GHRD system (soc_system.qsys). NOT RUNNABLE HERE (needs Quartus).
#
#   cd <DE10-Nano GHRD>            # e.g. DE10_NANO_SoC_GHRD from the Terasic CD
#   cp -r <repo>/fpga .            # or add <repo>/fpga/quartus to the IP search path
#   qsys-script --system-file=soc_system.qsys --script=fpga/quartus/add_to_soc_system.tcl
#   qsys-generate soc_system.qsys --synthesis=VERILOG
#
# Assumptions (check them in your GHRD version): the HPS instance is hps_0, the
# fabric clock source is clk_0 (50 MHz) -- we add a 100 MHz PLL, and the HPS has
# FPGA-to-SDRAM ports f2h_sdram0 (64-bit Avalon-MM read) and f2h_sdram1
# (64-bit Avalon-MM write) enabled (set below).
package require -exact qsys 16.1

# 100 MHz clock for the accelerator and the two SDRAM ports
add_instance pll_100 altera_pll
set_instance_parameter_value pll_100 gui_reference_clock_frequency 50.0
set_instance_parameter_value pll_100 gui_number_of_clocks 1
set_instance_parameter_value pll_100 gui_output_clock_frequency0 100.0
set_instance_parameter_value pll_100 gui_use_locked false
add_connection clk_0.clk pll_100.refclk
add_connection clk_0.clk_reset pll_100.reset

# FPGA-to-SDRAM: port 0 read-only Avalon-MM 64-bit, port 1 write-only Avalon-MM 64-bit
set_instance_parameter_value hps_0 F2SDRAM_Type {Avalon-MM\ Read-Only Avalon-MM\ Write-Only}
set_instance_parameter_value hps_0 F2SDRAM_Width {64 64}

add_instance lm_qconv_0 lm_qconv
add_connection pll_100.outclk0 lm_qconv_0.clock
add_connection clk_0.clk_reset lm_qconv_0.reset
add_connection pll_100.outclk0 hps_0.f2h_sdram0_clock
add_connection pll_100.outclk0 hps_0.f2h_sdram1_clock

# CSR on the lightweight HPS-to-FPGA bridge at offset 0 -> CPU 0xFF20_0000
add_connection hps_0.h2f_lw_axi_master lm_qconv_0.csr
set_connection_parameter_value hps_0.h2f_lw_axi_master/lm_qconv_0.csr baseAddress 0x00000000

# SDRAM masters (the F2H SDRAM ports see the whole 1 GiB DDR3 at address 0)
add_connection lm_qconv_0.rd hps_0.f2h_sdram0_data
set_connection_parameter_value lm_qconv_0.rd/hps_0.f2h_sdram0_data baseAddress 0x00000000
add_connection lm_qconv_0.wr hps_0.f2h_sdram1_data
set_connection_parameter_value lm_qconv_0.wr/hps_0.f2h_sdram1_data baseAddress 0x00000000

# interrupt: f2h_irq0 bit 2 (bits 0/1 are used by the GHRD's buttons/switches in some versions)
add_connection hps_0.f2h_irq0 lm_qconv_0.irq
set_connection_parameter_value hps_0.f2h_irq0/lm_qconv_0.irq irqNumber 2

save_system
