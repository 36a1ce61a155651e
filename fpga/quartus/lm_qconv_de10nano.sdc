# Timing constraints for lm_qconv_de10nano (DE10-Nano GHRD + lm_qconv). NOT RUN HERE.
#
# Board clocks: three 50 MHz oscillators on FPGA pins (see the .qsf). FPGA_CLK1_50 feeds
# the Platform Designer clock source clk_0 and, through it, the 100 MHz PLL (pll_100) that
# clocks lm_qconv and the two FPGA-to-SDRAM ports.
create_clock -name FPGA_CLK1_50 -period 20.000 [get_ports {FPGA_CLK1_50}]
create_clock -name FPGA_CLK2_50 -period 20.000 [get_ports {FPGA_CLK2_50}]
create_clock -name FPGA_CLK3_50 -period 20.000 [get_ports {FPGA_CLK3_50}]

# JTAG (the GHRD's JTAG-to-Avalon masters and JTAG UART): USB-Blaster II at up to 33 MHz.
create_clock -name altera_reserved_tck -period 30.000 [get_ports {altera_reserved_tck}]
set_clock_groups -asynchronous -group [get_clocks {altera_reserved_tck}]

# pll_100 outclk0 (100 MHz) and the HPS SDRAM PLL outputs are derived from the
# generated PLL settings; the HPS DDR3 interface constraints come from the generated
# soc_system (hps_sdram_p0.sdc via the QSYS_FILE).
derive_pll_clocks
derive_clock_uncertainty

# Asynchronous board I/O of the GHRD (push buttons, switches, LEDs): not timed.
set_false_path -from [get_ports {KEY[*]}]
set_false_path -from [get_ports {SW[*]}]
set_false_path -to   [get_ports {LED[*]}]
