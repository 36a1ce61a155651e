// lm_qconv_sdp_ram: simple dual-port RAM (one write port, one registered read
// port with read enable), written so that yosys (synth_intel_alm) maps it to
// M10K blocks and Verilator simulates it cycle-accurately.
// Read-during-write to the same address returns the old data (never relied on).
`default_nettype none
module lm_qconv_sdp_ram #(
    parameter integer DW = 32,
    parameter integer AW = 9
) (
    input  wire          clk,
    input  wire          we,
    input  wire [AW-1:0] waddr,
    input  wire [DW-1:0] wdata,
    input  wire          re,
    input  wire [AW-1:0] raddr,
    output reg  [DW-1:0] rdata
);
  reg [DW-1:0] mem[0:(1<<AW)-1];

  always @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
  end

  always @(posedge clk) begin
    if (re) rdata <= mem[raddr];
  end
endmodule
`default_nettype wire
