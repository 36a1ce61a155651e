# lm_qconv_hw.tcl -- Platform Designer (Qsys) component description of lm_qconv.
#
# NOT RUNNABLE IN THIS REPOSITORY'S CI: it needs Intel Quartus Prime / Platform
# Designer (tested syntax against the Qsys _hw.tcl API, package version 16.1+).
# Put this file next to (or add a search path to) fpga/rtl and the component
# "lm_qconv" appears in the Platform Designer IP catalog. See fpga/quartus/README.md.
package require -exact qsys 16.1

set_module_property NAME lm_qconv
set_module_property DISPLAY_NAME "lm quantised conv accelerator (lm_qconv)"
set_module_property DESCRIPTION "Binary-weight x 2-bit-activation 3x3/1x1 convolution, Avalon-MM CSR + SDRAM masters"
set_module_property VERSION 1.0
set_module_property GROUP "lm"
set_module_property AUTHOR "lm"
set_module_property INTERNAL false
set_module_property EDITABLE false
set_module_property REPORT_TO_TALKBACK false
set_module_property ALLOW_GREYBOX_GENERATION false

# ---------------------------------------------------------------- files
add_fileset QUARTUS_SYNTH QUARTUS_SYNTH "" ""
set_fileset_property QUARTUS_SYNTH TOP_LEVEL lm_qconv_top
add_fileset_file lm_qconv_regs.vh    VERILOG_INCLUDE PATH ../rtl/lm_qconv_regs.vh
add_fileset_file lm_qconv_sdp_ram.v  VERILOG PATH ../rtl/lm_qconv_sdp_ram.v
add_fileset_file lm_qconv_fifo.v     VERILOG PATH ../rtl/lm_qconv_fifo.v
add_fileset_file lm_qconv_core.v     VERILOG PATH ../rtl/lm_qconv_core.v
add_fileset_file lm_qconv_top.v      VERILOG PATH ../rtl/lm_qconv_top.v TOP_LEVEL_FILE

add_fileset SIM_VERILOG SIM_VERILOG "" ""
set_fileset_property SIM_VERILOG TOP_LEVEL lm_qconv_top
add_fileset_file lm_qconv_regs.vh    VERILOG_INCLUDE PATH ../rtl/lm_qconv_regs.vh
add_fileset_file lm_qconv_sdp_ram.v  VERILOG PATH ../rtl/lm_qconv_sdp_ram.v
add_fileset_file lm_qconv_fifo.v     VERILOG PATH ../rtl/lm_qconv_fifo.v
add_fileset_file lm_qconv_core.v     VERILOG PATH ../rtl/lm_qconv_core.v
add_fileset_file lm_qconv_top.v      VERILOG PATH ../rtl/lm_qconv_top.v

# ---------------------------------------------------------------- parameters
# (must match what the driver reads from CAPS; defaults = fpga/regmap.toml)
add_parameter ACT_AW INTEGER 12 "log2 activation buffer depth (64-bit words)"
set_parameter_property ACT_AW ALLOWED_RANGES 9:14
set_parameter_property ACT_AW HDL_PARAMETER true
add_parameter W_AW INTEGER 10 "log2 weight words per output lane"
set_parameter_property W_AW ALLOWED_RANGES 8:12
set_parameter_property W_AW HDL_PARAMETER true
add_parameter ACC_W INTEGER 18 "accumulator width"
set_parameter_property ACC_W HDL_PARAMETER true
add_parameter FIFO_AW INTEGER 4 "log2 output FIFO depth"
set_parameter_property FIFO_AW HDL_PARAMETER true
add_parameter BURST_LOG2 INTEGER 4 "log2 maximum read burst (beats)"
set_parameter_property BURST_LOG2 ALLOWED_RANGES 0:7
set_parameter_property BURST_LOG2 HDL_PARAMETER true

# ---------------------------------------------------------------- clock / reset
add_interface clock clock end
set_interface_property clock clockRate 0
add_interface_port clock clk clk Input 1

add_interface reset reset end
set_interface_property reset associatedClock clock
set_interface_property reset synchronousEdges BOTH
add_interface_port reset reset reset Input 1

# ---------------------------------------------------------------- CSR slave (lightweight H2F bridge)
add_interface csr avalon end
set_interface_property csr addressUnits WORDS
set_interface_property csr associatedClock clock
set_interface_property csr associatedReset reset
set_interface_property csr bitsPerSymbol 8
set_interface_property csr explicitAddressSpan 256
set_interface_property csr readLatency 1
set_interface_property csr readWaitTime 0
set_interface_property csr writeWaitTime 0
set_interface_property csr maximumPendingReadTransactions 0
set_interface_property csr timingUnits Cycles
add_interface_port csr avs_address   address   Input  6
add_interface_port csr avs_read      read      Input  1
add_interface_port csr avs_readdata  readdata  Output 32
add_interface_port csr avs_write     write     Input  1
add_interface_port csr avs_writedata writedata Input  32
set_interface_assignment csr embeddedsw.configuration.isFlash 0
set_interface_assignment csr embeddedsw.configuration.isMemoryDevice 0

# ---------------------------------------------------------------- read master (F2H SDRAM)
add_interface rd avalon start
set_interface_property rd addressUnits SYMBOLS
set_interface_property rd associatedClock clock
set_interface_property rd associatedReset reset
set_interface_property rd bitsPerSymbol 8
set_interface_property rd burstOnBurstBoundariesOnly false
set_interface_property rd linewrapBursts false
set_interface_property rd doStreamReads false
set_interface_property rd doStreamWrites false
add_interface_port rd avm_rd_address       address       Output 32
add_interface_port rd avm_rd_read          read          Output 1
add_interface_port rd avm_rd_burstcount    burstcount    Output BURST_LOG2+1
add_interface_port rd avm_rd_waitrequest   waitrequest   Input  1
add_interface_port rd avm_rd_readdata      readdata      Input  64
add_interface_port rd avm_rd_readdatavalid readdatavalid Input  1
add_interface_port rd avm_rd_response      response      Input  2

# ---------------------------------------------------------------- write master (F2H SDRAM)
add_interface wr avalon start
set_interface_property wr addressUnits SYMBOLS
set_interface_property wr associatedClock clock
set_interface_property wr associatedReset reset
set_interface_property wr bitsPerSymbol 8
set_interface_property wr burstOnBurstBoundariesOnly false
set_interface_property wr linewrapBursts false
add_interface_port wr avm_wr_address     address     Output 32
add_interface_port wr avm_wr_write       write       Output 1
add_interface_port wr avm_wr_writedata   writedata   Output 64
add_interface_port wr avm_wr_byteenable  byteenable  Output 8
add_interface_port wr avm_wr_waitrequest waitrequest Input  1

# ---------------------------------------------------------------- interrupt (level, IRQ_EN & DONE)
add_interface irq interrupt end
set_interface_property irq associatedAddressablePoint csr
set_interface_property irq associatedClock clock
set_interface_property irq associatedReset reset
set_interface_property irq irqScheme NONE
add_interface_port irq irq irq Output 1
