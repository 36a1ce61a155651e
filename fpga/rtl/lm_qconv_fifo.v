// lm_qconv_fifo: small synchronous FIFO (first-word fall-through: dout shows
// the head whenever !empty). Used between the output stage and the write master.
`default_nettype none
module lm_qconv_fifo #(
    parameter integer DW = 8,
    parameter integer AW = 4
) (
    input  wire          clk,
    input  wire          rst,    // synchronous, also used as flush
    input  wire          push,
    input  wire [DW-1:0] din,
    input  wire          pop,
    output wire [DW-1:0] dout,
    output wire          empty,
    output wire          full
);
  reg [DW-1:0] mem[0:(1<<AW)-1];
  reg [AW:0] wptr, rptr;

  assign empty = (wptr == rptr);
  assign full  = (wptr[AW] != rptr[AW]) && (wptr[AW-1:0] == rptr[AW-1:0]);
  assign dout  = mem[rptr[AW-1:0]];

  always @(posedge clk) begin
    if (push && !full) mem[wptr[AW-1:0]] <= din;
  end

  always @(posedge clk) begin
    if (rst) begin
      wptr <= {(AW + 1) {1'b0}};
      rptr <= {(AW + 1) {1'b0}};
    end else begin
      if (push && !full) wptr <= wptr + 1'b1;
      if (pop && !empty) rptr <= rptr + 1'b1;
    end
  end
endmodule
`default_nettype wire
