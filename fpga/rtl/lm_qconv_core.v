// lm_qconv_core: the convolution engine of lm_qconv.
//
// Binary weights (+1/-1, one bit) x 2-bit unsigned activations, packed exactly
// as in /work/spec/packed_format.md (spec/packed_format.md in the repository):
// activation word pair ((y*W+x)*G+g)*2+b, weight word ((o*K+ky)*K+kx)*G+g,
// thresholds [T0,T1,T2,flags] per output channel, raw i32 output (y*W+x)*Cout+o.
//
// Dataflow (see fpga/README.md):
//   for each block of 32 output channels (ob):
//     load the 32 channels' thresholds into registers  (if THR_EN)
//     load the 32 channels' weights into 64 lane banks (2 words per bus beat)
//     for each row strip that fits the activation buffer (halo rows re-read):
//       load the strip's input rows (one 64-bit beat = both planes of a group)
//       for each output pixel, tap (ky,kx) and input group g: one MAC cycle
//         computing 32 output channels x 32 input channels x 2 bit planes
//       accumulate, quantise with 3 thresholds, write packed 64-bit words
//   When the input is one resident strip, block ob+1's thresholds and weights are
//   prefetched into the other half of the threshold registers / weight banks while
//   block ob computes (pf_state below); the halves swap between blocks.
// Stride 1, SAME padding (padding taps feed zero activations).
//
// Only the constant 32 output lanes (one packed output group) are supported.
`default_nettype none
module lm_qconv_core #(
    parameter integer ACT_AW  = 12,  // activation buffer: 2^ACT_AW x 64-bit words
    parameter integer W_AW    = 10,  // weight buffer: 2^W_AW x 32-bit words per output lane
    parameter integer ACC_W   = 18,  // accumulator width (|acc| <= 3*32*2^W_AW)
    parameter integer FIFO_AW = 4,   // output FIFO depth 2^FIFO_AW
    parameter integer BURST_LOG2 = 4 // read bursts of up to 2^BURST_LOG2 beats (0: no bursts)
) (
    input wire clk,
    input wire rst,

    // control from the CSR block
    input wire        start,
    input wire        soft_reset,
    input wire [31:0] cfg_in_addr,
    input wire [31:0] cfg_w_addr,
    input wire [31:0] cfg_thr_addr,
    input wire [31:0] cfg_out_addr,
    input wire [15:0] cfg_width,
    input wire [15:0] cfg_height,
    input wire [15:0] cfg_in_groups,
    input wire [15:0] cfg_out_ch,
    input wire [ 3:0] cfg_ksize,
    input wire [ 3:0] cfg_pad,
    input wire        cfg_thr_en,
    input wire [31:0] cfg_timeout,

    // status to the CSR block
    output reg         busy,
    output reg         done_pulse,
    output reg         err_geom,     // pulses, together with done_pulse
    output reg         err_tile,
    output reg         err_align,
    output reg         err_bus,
    output reg         err_timeout,
    output reg  [31:0] err_addr,
    output reg  [31:0] cyc_cnt,
    output reg  [31:0] perf_mac,
    output reg  [31:0] perf_load,
    output reg  [31:0] perf_stall,

    // Avalon-MM read master (SDRAM), 64-bit, pipelined burst reads
    output wire [31:0] avm_rd_address,
    output wire        avm_rd_read,
    output wire [BURST_LOG2:0] avm_rd_burstcount,
    input  wire        avm_rd_waitrequest,
    input  wire [63:0] avm_rd_readdata,
    input  wire        avm_rd_readdatavalid,
    input  wire [ 1:0] avm_rd_response,

    // Avalon-MM write master (SDRAM), 64-bit, single writes with byte enables
    output wire [31:0] avm_wr_address,
    output wire        avm_wr_write,
    output wire [63:0] avm_wr_writedata,
    output wire [ 7:0] avm_wr_byteenable,
    input  wire        avm_wr_waitrequest
);
  localparam integer LANES = 32;
  localparam integer ACT_DEPTH = 1 << ACT_AW;
  localparam integer W_DEPTH = 1 << W_AW;
  localparam integer BK_AW = W_AW - 1;  // weight bank address (even/odd banks)

  // ------------------------------------------------------------------ helpers
  function [3:0] pop6(input [5:0] v);
    pop6 = {3'd0, v[0]} + {3'd0, v[1]} + {3'd0, v[2]} + {3'd0, v[3]} + {3'd0, v[4]} + {3'd0, v[5]};
  endfunction

  function [5:0] pop32(input [31:0] v);
    reg [3:0] a, b, c, d, e, f;
    begin
      a = pop6(v[5:0]);
      b = pop6(v[11:6]);
      c = pop6(v[17:12]);
      d = pop6(v[23:18]);
      e = pop6(v[29:24]);
      f = {2'd0, v[30]} + {2'd0, v[31]};
      pop32 = ({2'd0, a} + {2'd0, b}) + ({2'd0, c} + {2'd0, d}) + ({2'd0, e} + {2'd0, f});
    end
  endfunction

  // saturate an i32 threshold to ACC_W+1 bits (exact: |acc| < 2^(ACC_W-1))
  function [ACC_W:0] sat_thr(input [31:0] t);
    if (!t[31] && (t[30:ACC_W] != {(31 - ACC_W) {1'b0}})) sat_thr = {1'b0, {ACC_W{1'b1}}};
    else if (t[31] && (t[30:ACC_W] != {(31 - ACC_W) {1'b1}})) sat_thr = {1'b1, {ACC_W{1'b0}}};
    else sat_thr = t[ACC_W:0];
  endfunction

  // ------------------------------------------------------------------ state
  localparam [4:0] S_IDLE = 5'd0, S_CHK = 5'd1, S_CHK2 = 5'd2, S_ROWS = 5'd3, S_OB = 5'd4,
                   S_THR = 5'd5, S_WST = 5'd6, S_WLD = 5'd7, S_STRIP = 5'd8, S_STRIP2 = 5'd9,
                   S_ACT = 5'd10, S_CINIT = 5'd11, S_COMP = 5'd12, S_SEND = 5'd13,
                   S_FLUSH = 5'd14, S_DRAIN = 5'd15, S_OBWAIT = 5'd16;
  reg [4:0] state;

  // Weight/threshold prefetch: while block ob computes, block ob+1's thresholds and
  // weights are loaded into the other half of the (double) weight banks and threshold
  // registers. Only for single-strip jobs (the input stays resident, so the read master
  // is idle during compute).
  localparam [2:0] PF_IDLE = 3'd0, PF_THR = 3'd1, PF_WST = 3'd2, PF_WLD = 3'd3, PF_DONE = 3'd4;
  reg [2:0] pf_state;
  reg cp_half;  // half read by compute and the quantiser
  reg ld_half;  // half written by the current load
  reg [31:2] ld_wbyte;  // weight byte address of the current load (4-byte aligned)

  // latched configuration
  reg [31:0] c_in, c_w, c_thr, c_out, c_timeout;
  reg [15:0] c_wd, c_ht, c_g, c_cout;
  reg [3:0] c_k, c_pad;
  reg c_thr_en;

  // derived geometry
  reg k3;  // kernel 3 (pad 1) else kernel 1 (pad 0)
  reg [20:0] kkg_full;  // K*K*G before the range check
  reg [31:0] wg_full;  // W*G before the range check
  reg [W_AW:0] kkg;  // K*K*G (<= W_DEPTH)
  reg [ACT_AW:0] wg;  // W*G (<= ACT_DEPTH)
  reg [31:0] hwg;  // H*W*G
  reg [15:0] rows;  // output rows per strip (R)
  reg [31:0] rwg;  // R*W*G
  reg [15:0] fit_rows;
  reg [31:0] fit_acc;
  reg single_strip;
  reg [15:0] n_ob_m1;  // output-channel blocks - 1
  reg [31:0] pix_stride;  // output bytes per pixel

  // per output block
  reg [15:0] ob, o0;
  reg [5:0] nl;  // lanes used in this block (1..32)
  reg [31:0] thr_cur, wbyte_cur, out_ob_base;
  reg [W_AW+5:0] nwords;

  // per strip
  reg [15:0] y0, y1;
  reg [31:0] y0wg, y1wg;
  /* verilator lint_off UNUSEDSIGNAL */  // only the low bits address the buffer/SDRAM
  reg [31:0] ry0wg, ry1wg;
  /* verilator lint_on UNUSEDSIGNAL */

  // abort bookkeeping
  reg abort_soft, abort_bus;

  // ------------------------------------------------------------------ read master
  localparam [1:0] RK_THR = 2'd0, RK_W = 2'd1, RK_ACT = 2'd2;
  reg [ 1:0] rd_kind;
  reg [31:0] rd_addr;
  reg [19:0] rd_nissue, rd_nrecv;
  reg [31:0] rd_recv_addr;
  wire rd_accept = avm_rd_read && !avm_rd_waitrequest;
  // bursts never cross a 2^BURST_LOG2-beat boundary
  localparam [BURST_LOG2:0] BURST_MAX = 1 << BURST_LOG2;
  wire [BURST_LOG2:0] burst_room;
  generate
    if (BURST_LOG2 == 0) begin : g_nob
      assign burst_room = 1'b1;
    end else begin : g_bur
      assign burst_room = BURST_MAX - {1'b0, rd_addr[BURST_LOG2+2:3]};
    end
  endgenerate
  wire [BURST_LOG2:0] rd_bc = (rd_nissue < {{(19 - BURST_LOG2) {1'b0}}, burst_room})
                            ? rd_nissue[BURST_LOG2:0] : burst_room;
  wire [19:0] rd_bc20 = {{(19 - BURST_LOG2) {1'b0}}, rd_bc};
  wire [19:0] rd_keep = (avm_rd_read && avm_rd_waitrequest) ? rd_bc20 : 20'd0;
  wire rd_beat = avm_rd_readdatavalid && (rd_nrecv != 20'd0);
  wire rd_ok = rd_beat && (avm_rd_response == 2'b00);
  wire rd_err = rd_beat && (avm_rd_response != 2'b00);
  assign avm_rd_read = (rd_nissue != 20'd0);
  assign avm_rd_address = rd_addr;
  assign avm_rd_burstcount = rd_bc;

  // ------------------------------------------------------------------ thresholds
  // two halves: index {half, lane}
  reg [ACC_W:0] thr0[0:2*LANES-1];
  reg [ACC_W:0] thr1[0:2*LANES-1];
  reg [ACC_W:0] thr2[0:2*LANES-1];
  reg [2*LANES-1:0] thr_desc;
  reg [6:0] thr_beat;
  wire thr_start;  // a threshold load is being programmed
  wire w_start;  // a weight load is being programmed
  wire [5:0] thr_wi = {ld_half, thr_beat[5:1]};

  always @(posedge clk) begin
    if (thr_start) thr_beat <= 7'd0;
    else if (rd_ok && rd_kind == RK_THR) begin
      thr_beat <= thr_beat + 7'd1;
      if (!thr_beat[0]) begin
        thr0[thr_wi] <= sat_thr(avm_rd_readdata[31:0]);
        thr1[thr_wi] <= sat_thr(avm_rd_readdata[63:32]);
      end else begin
        thr2[thr_wi] <= sat_thr(avm_rd_readdata[31:0]);
        thr_desc[thr_wi] <= avm_rd_readdata[32];
      end
    end
  end

  // ------------------------------------------------------------------ weight load
  // Word r of the block (r = lane*KKG + addr) goes to lane bank (lane, addr[0]) at
  // address addr>>1; the two words of a beat always hit different banks.
  reg [5:0] wl_lane;
  reg [W_AW-1:0] wl_addr;
  reg wl_skip;
  reg [W_AW+5:0] wl_left;
  reg wa_v, wb_v;
  reg [5:0] wa_lane, wb_lane;
  reg [W_AW-1:0] wa_addr, wb_addr;
  reg [31:0] wa_data, wb_data;

  wire [W_AW:0] wl_addr_p1 = {1'b0, wl_addr} + 1'b1;
  wire wl_wrap0 = (wl_addr_p1 == kkg);
  wire [5:0] pos1_lane = wl_wrap0 ? wl_lane + 6'd1 : wl_lane;
  wire [W_AW-1:0] pos1_addr = wl_wrap0 ? {W_AW{1'b0}} : wl_addr_p1[W_AW-1:0];
  wire [W_AW:0] pos1_addr_p1 = {1'b0, pos1_addr} + 1'b1;
  wire wl_wrap1 = (pos1_addr_p1 == kkg);
  wire [5:0] pos2_lane = wl_wrap1 ? pos1_lane + 6'd1 : pos1_lane;
  wire [W_AW-1:0] pos2_addr = wl_wrap1 ? {W_AW{1'b0}} : pos1_addr_p1[W_AW-1:0];
  wire wl_va = (wl_left != 0);
  wire wl_vb = !wl_skip && (wl_left > 1);

  always @(posedge clk) begin
    wa_v <= 1'b0;
    wb_v <= 1'b0;
    if (w_start) begin
      wl_lane <= 6'd0;
      wl_addr <= {W_AW{1'b0}};
      wl_skip <= ld_wbyte[2];
      wl_left <= nwords;
    end else if (rd_ok && rd_kind == RK_W) begin
      wa_v    <= wl_va;
      wa_lane <= wl_lane;
      wa_addr <= wl_addr;
      wa_data <= wl_skip ? avm_rd_readdata[63:32] : avm_rd_readdata[31:0];
      wb_v    <= wl_vb;
      wb_lane <= pos1_lane;
      wb_addr <= pos1_addr;
      wb_data <= avm_rd_readdata[63:32];
      wl_skip <= 1'b0;
      if (wl_vb) begin
        wl_lane <= pos2_lane;
        wl_addr <= pos2_addr;
        wl_left <= wl_left - {{(W_AW + 4) {1'b0}}, 2'd2};
      end else if (wl_va) begin
        wl_lane <= pos1_lane;
        wl_addr <= pos1_addr;
        wl_left <= wl_left - 1'b1;
      end
    end
    if (rst) begin
      wa_v <= 1'b0;
      wb_v <= 1'b0;
    end
  end

  // ------------------------------------------------------------------ activation load
  reg [ACT_AW-1:0] act_wptr;
  always @(posedge clk) begin
    if (state == S_STRIP2) act_wptr <= {ACT_AW{1'b0}};
    else if (rd_ok && rd_kind == RK_ACT) act_wptr <= act_wptr + 1'b1;
  end
  wire act_we = rd_ok && (rd_kind == RK_ACT);

  // ------------------------------------------------------------------ MAC pipeline
  // I (issue) -> R (RAM read data) -> P (popcounts) -> accumulators -> S (snapshot)
  reg i_valid, i_amask, i_first, i_last;
  reg [ACT_AW-1:0] i_aaddr;
  reg [W_AW-1:0] i_waddr;
  reg [31:0] i_oaddr;
  reg r_valid, r_amask, r_first, r_last, r_wsel;
  reg [31:0] r_oaddr;
  reg p_valid, p_first, p_last;
  reg [31:0] p_oaddr;
  reg [7:0] p_pa;  // popcount(a0) + 2*popcount(a1)
  reg [5:0] p_c0[0:LANES-1];  // popcount(a0 & w)
  reg [5:0] p_c1[0:LANES-1];  // popcount(a1 & w)
  reg [ACC_W-1:0] acc[0:LANES-1];
  reg [ACC_W-1:0] s_acc[0:LANES-1];
  reg s_full;
  reg [31:0] s_addr;
  reg [5:0] s_lane;

  wire fifo_full, fifo_empty;
  wire s_raw_last = (s_lane == nl - 6'd1);
  wire s_pop = s_full && !fifo_full && (c_thr_en || s_raw_last);
  wire stall = p_valid && p_last && s_full && !s_pop;
  wire adv = !stall;
  wire pipe_empty = !i_valid && !r_valid && !p_valid;

  // activation buffer
  wire [63:0] act_q;
  lm_qconv_sdp_ram #(
      .DW(64),
      .AW(ACT_AW)
  ) u_act (
      .clk(clk),
      .we(act_we),
      .waddr(act_wptr),
      .wdata(avm_rd_readdata),
      .re(adv),
      .raddr(i_aaddr),
      .rdata(act_q)
  );

  wire [31:0] a0 = r_amask ? act_q[31:0] : 32'd0;
  wire [31:0] a1 = r_amask ? act_q[63:32] : 32'd0;
  wire [5:0] pa0 = pop32(a0);
  wire [5:0] pa1 = pop32(a1);

  genvar l;
  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_lane
      wire [31:0] q_even, q_odd;
      wire sel_a_e = wa_v && (wa_lane == l) && !wa_addr[0];
      wire sel_b_e = wb_v && (wb_lane == l) && !wb_addr[0];
      wire sel_a_o = wa_v && (wa_lane == l) && wa_addr[0];
      wire sel_b_o = wb_v && (wb_lane == l) && wb_addr[0];
      lm_qconv_sdp_ram #(
          .DW(32),
          .AW(BK_AW + 1)
      ) u_we (
          .clk(clk),
          .we(sel_a_e || sel_b_e),
          .waddr({ld_half, sel_a_e ? wa_addr[W_AW-1:1] : wb_addr[W_AW-1:1]}),
          .wdata(sel_a_e ? wa_data : wb_data),
          .re(adv),
          .raddr({cp_half, i_waddr[W_AW-1:1]}),
          .rdata(q_even)
      );
      lm_qconv_sdp_ram #(
          .DW(32),
          .AW(BK_AW + 1)
      ) u_wo (
          .clk(clk),
          .we(sel_a_o || sel_b_o),
          .waddr({ld_half, sel_a_o ? wa_addr[W_AW-1:1] : wb_addr[W_AW-1:1]}),
          .wdata(sel_a_o ? wa_data : wb_data),
          .re(adv),
          .raddr({cp_half, i_waddr[W_AW-1:1]}),
          .rdata(q_odd)
      );
      wire [31:0] w = r_wsel ? q_odd : q_even;

      always @(posedge clk) begin
        if (adv) begin
          p_c0[l] <= pop32(a0 & w);
          p_c1[l] <= pop32(a1 & w);
        end
      end

      // sum_i q_i * w_i = 2*sum(q_i where w_i=+1) - sum(q_i)
      wire signed [ACC_W-1:0] part = $signed({{(ACC_W - 7) {1'b0}}, p_c0[l], 1'b0})
                                   + $signed({{(ACC_W - 8) {1'b0}}, p_c1[l], 2'b0})
                                   - $signed({{(ACC_W - 8) {1'b0}}, p_pa});
      wire signed [ACC_W-1:0] sum = (p_first ? {ACC_W{1'b0}} : acc[l]) + part;
      always @(posedge clk) begin
        if (adv && p_valid) begin
          acc[l] <= sum;
          if (p_last) s_acc[l] <= sum;
        end
      end
    end
  endgenerate

  // ------------------------------------------------------------------ output stage
  // packed: one 64-bit beat per pixel (plane 0 low word, plane 1 high word)
  wire [31:0] q_lo, q_hi;
  reg [LANES-1:0] nl_mask;  // lanes < nl
  generate
    for (l = 0; l < LANES; l = l + 1) begin : g_quant
      wire signed [ACC_W:0] av = {s_acc[l][ACC_W-1], s_acc[l]};
      wire signed [ACC_W:0] t0 = cp_half ? thr0[LANES+l] : thr0[l];
      wire signed [ACC_W:0] t1 = cp_half ? thr1[LANES+l] : thr1[l];
      wire signed [ACC_W:0] t2 = cp_half ? thr2[LANES+l] : thr2[l];
      wire dsc = cp_half ? thr_desc[LANES+l] : thr_desc[l];
      wire c0 = dsc ? (av <= t0) : (av >= t0);
      wire c1 = dsc ? (av <= t1) : (av >= t1);
      wire c2 = dsc ? (av <= t2) : (av >= t2);
      wire [1:0] q = {1'b0, c0} + {1'b0, c1} + {1'b0, c2};
      assign q_lo[l] = q[0] && nl_mask[l];
      assign q_hi[l] = q[1] && nl_mask[l];
    end
  endgenerate

  // raw: one i32 per output channel, byte address s_addr + 4*lane
  /* verilator lint_off UNUSEDSIGNAL */  // bits 1:0 are always 0
  wire [31:0] raw_addr = s_addr + {24'd0, s_lane, 2'b00};
  /* verilator lint_on UNUSEDSIGNAL */
  wire [ACC_W-1:0] raw_acc = s_acc[s_lane[4:0]];
  wire [31:0] raw_word = {{(32 - ACC_W) {raw_acc[ACC_W-1]}}, raw_acc};

  wire fifo_push = s_full && !fifo_full;
  wire [28:0] f_addr = c_thr_en ? s_addr[31:3] : raw_addr[31:3];
  wire [63:0] f_data = c_thr_en ? {q_hi, q_lo} : {raw_word, raw_word};
  wire [7:0] f_be = c_thr_en ? 8'hFF : (raw_addr[2] ? 8'hF0 : 8'h0F);
  wire [100:0] f_dout;
  wire wr_accept = avm_wr_write && !avm_wr_waitrequest;

  // ------------------------------------------------------------------ watchdog
  reg [31:0] wd_cnt;
  wire bus_wait = (rd_nrecv != 20'd0) || !fifo_empty;
  wire bus_progress = rd_accept || avm_rd_readdatavalid || wr_accept;
  wire wd_fire = busy && (c_timeout != 32'd0) && (wd_cnt >= c_timeout);
  always @(posedge clk) begin
    if (rst || !busy || !bus_wait || bus_progress) wd_cnt <= 32'd0;
    else wd_cnt <= wd_cnt + 32'd1;
  end


  lm_qconv_fifo #(
      .DW(101),
      .AW(FIFO_AW)
  ) u_ofifo (
      .clk(clk),
      .rst(rst || (state == S_IDLE && start) || wd_fire),
      .push(fifo_push),
      .din({f_be, f_data, f_addr}),
      .pop(wr_accept),
      .dout(f_dout),
      .empty(fifo_empty),
      .full(fifo_full)
  );
  assign avm_wr_write = !fifo_empty;
  assign avm_wr_address = {f_dout[28:0], 3'b000};
  assign avm_wr_writedata = f_dout[92:29];
  assign avm_wr_byteenable = f_dout[100:93];

  // ------------------------------------------------------------------ compute counters
  reg [15:0] x, y, g;
  reg [1:0] kx, ky;
  reg [W_AW-1:0] wcnt;
  reg [ACT_AW-1:0] aaddr, row_start, tap0;
  reg [31:0] out_pix;

  wire g_last = (g == c_g - 16'd1);
  wire kx_last = !k3 || (kx == 2'd2);
  wire ky_last = !k3 || (ky == 2'd2);
  wire x_last = (x == c_wd - 16'd1);
  wire y_last = (y == y1 - 16'd1);
  wire w_last = ({1'b0, wcnt} == kkg - 1'b1);
  wire rowv = !k3 || ((ky != 2'd0 || y != 16'd0) && (ky != 2'd2 || y != c_ht - 16'd1));
  wire colv = !k3 || ((kx != 2'd0 || x != 16'd0) && (kx != 2'd2 || !x_last));
  wire issue = (state == S_COMP) && adv;
  wire [ACT_AW-1:0] wg_a = wg[ACT_AW-1:0];  // modulo buffer size
  wire [ACT_AW-1:0] g_a = c_g[ACT_AW-1:0];

  // ------------------------------------------------------------------ combinational helpers
  wire [15:0] cout_rem = c_cout - o0;
  wire [5:0] nl_c = (cout_rem >= 16'd32) ? 6'd32 : cout_rem[5:0];
  wire [16:0] y0_plus_r = {1'b0, y0} + {1'b0, rows};
  wire [17:0] y0_r_pad = {1'b0, y0_plus_r} + {17'd0, k3};
  wire [31:0] pad_wg = k3 ? {{(31 - ACT_AW) {1'b0}}, wg} : 32'd0;
  // rows of one output row's input window (min(K, H)) times W*G; wg_full > ACT_DEPTH fails first
  wire [ACT_AW+2:0] wg_x1 = {2'b00, wg_full[ACT_AW:0]};
  wire [ACT_AW+2:0] minkh_wg = (k3 && c_ht >= 16'd3) ? wg_x1 + (wg_x1 << 1)
                             : (k3 && c_ht == 16'd2) ? (wg_x1 << 1) : wg_x1;
  wire geom_bad = (c_wd == 16'd0) || (c_ht == 16'd0) || (c_g == 16'd0) || (c_cout == 16'd0)
                || !(c_k == 4'd1 || c_k == 4'd3) || (c_pad != {1'b0, c_k[3:1]});
  wire align_bad = (c_in[2:0] != 3'd0) || (c_out[2:0] != 3'd0) || (c_w[1:0] != 2'd0)
                 || (c_thr_en && c_thr[2:0] != 3'd0);
  wire tile_bad = ({11'd0, kkg_full} > W_DEPTH) || (wg_full > ACT_DEPTH)
                || ({{(29 - ACT_AW) {1'b0}}, minkh_wg} > ACT_DEPTH);
  wire [31:0] w_first_byte = {ld_wbyte[31:3], 3'b000};
  wire [W_AW+6:0] w_beats = ({1'b0, nwords} + {{(W_AW + 6) {1'b0}}, ld_wbyte[2]} + 1'b1) >> 1;
  // lanes of the next block (o0 + 32 < C_out whenever ob != n_ob_m1)
  wire [15:0] cout_rem_n = c_cout - o0 - 16'd32;
  wire [5:0] nl_n = (cout_rem_n >= 16'd32) ? 6'd32 : cout_rem_n[5:0];
  wire pf_go = (pf_state == PF_IDLE) && (state == S_CINIT) && single_strip && (ob != n_ob_m1);
  assign thr_start = ((state == S_OB) && (pf_state == PF_IDLE)) || pf_go;
  assign w_start = (state == S_WST) || (pf_state == PF_WST);

  // ------------------------------------------------------------------ main FSM
  always @(posedge clk) begin
    done_pulse  <= 1'b0;
    err_geom    <= 1'b0;
    err_tile    <= 1'b0;
    err_align   <= 1'b0;
    err_bus     <= 1'b0;
    err_timeout <= 1'b0;

    if (busy) cyc_cnt <= cyc_cnt + 32'd1;
    if (issue) perf_mac <= perf_mac + 32'd1;
    if (busy && stall) perf_stall <= perf_stall + 32'd1;
    if (state == S_THR || state == S_WLD || state == S_ACT
        || (state == S_OB && pf_state != PF_IDLE && pf_state != PF_DONE))
      perf_load <= perf_load + 32'd1;

    // read master
    if (rd_accept) begin
      rd_addr   <= rd_addr + {{(28 - BURST_LOG2) {1'b0}}, rd_bc, 3'b000};
      rd_nissue <= rd_nissue - rd_bc20;
    end
    if (rd_beat) begin
      rd_nrecv     <= rd_nrecv - 20'd1;
      rd_recv_addr <= rd_recv_addr + 32'd8;
    end

    // output snapshot register
    if (fifo_push && !c_thr_en) s_lane <= s_raw_last ? 6'd0 : s_lane + 6'd1;
    if (s_pop) s_full <= 1'b0;
    if (adv && p_valid && p_last) begin
      s_full <= 1'b1;
      s_addr <= p_oaddr;
    end

    // pipeline stages
    if (adv) begin
      i_valid <= 1'b0;
      r_valid <= i_valid;
      r_amask <= i_amask;
      r_first <= i_first;
      r_last  <= i_last;
      r_wsel  <= i_waddr[0];
      r_oaddr <= i_oaddr;
      p_valid <= r_valid;
      p_first <= r_first;
      p_last  <= r_last;
      p_oaddr <= r_oaddr;
      p_pa    <= {2'b00, pa0} + {1'b0, pa1, 1'b0};
    end

    case (state)
      S_IDLE: begin
        if (start) begin
          busy <= 1'b1;
          c_in <= cfg_in_addr;
          c_w <= cfg_w_addr;
          c_thr <= cfg_thr_addr;
          c_out <= cfg_out_addr;
          c_timeout <= cfg_timeout;
          c_wd <= cfg_width;
          c_ht <= cfg_height;
          c_g <= cfg_in_groups;
          c_cout <= cfg_out_ch;
          c_k <= cfg_ksize;
          c_pad <= cfg_pad;
          c_thr_en <= cfg_thr_en;
          cyc_cnt <= 32'd1;
          perf_mac <= 32'd0;
          perf_load <= 32'd0;
          perf_stall <= 32'd0;
          err_addr <= 32'd0;
          abort_soft <= 1'b0;
          abort_bus <= 1'b0;
          s_full <= 1'b0;
          s_lane <= 6'd0;
          pf_state <= PF_IDLE;
          cp_half <= 1'b0;
          state <= S_CHK;
        end
      end

      S_CHK: begin
        k3 <= (c_k == 4'd3);
        kkg_full <= (c_k == 4'd3) ? ({2'b0, c_g, 3'b000} + {5'd0, c_g}) : {5'd0, c_g};
        wg_full <= c_wd * c_g;
        n_ob_m1 <= (c_cout - 16'd1) >> 5;
        state <= S_CHK2;
      end

      S_CHK2: begin
        if (geom_bad) begin
          err_geom <= 1'b1;
          done_pulse <= 1'b1;
          busy <= 1'b0;
          state <= S_IDLE;
        end else if (align_bad) begin
          err_align <= 1'b1;
          done_pulse <= 1'b1;
          busy <= 1'b0;
          state <= S_IDLE;
        end else if (tile_bad) begin
          err_tile <= 1'b1;
          done_pulse <= 1'b1;
          busy <= 1'b0;
          state <= S_IDLE;
        end else begin
          kkg <= kkg_full[W_AW:0];
          wg <= wg_full[ACT_AW:0];
          hwg <= {16'd0, c_ht} * {{(31 - ACT_AW) {1'b0}}, wg_full[ACT_AW:0]};
          pix_stride <= c_thr_en ? {13'd0, n_ob_m1 + 16'd1, 3'b000} : {14'd0, c_cout, 2'b00};
          fit_rows <= 16'd0;
          fit_acc <= 32'd0;
          state <= S_ROWS;
        end
      end

      S_ROWS: begin
        if (hwg <= ACT_DEPTH) begin
          rows <= c_ht;
          rwg <= hwg;
          single_strip <= 1'b1;
          state <= S_OBWAIT;
        end else if (fit_acc + wg_full <= ACT_DEPTH) begin
          fit_acc  <= fit_acc + wg_full;
          fit_rows <= fit_rows + 16'd1;
        end else begin
          rows <= k3 ? fit_rows - 16'd2 : fit_rows;
          rwg <= fit_acc - (pad_wg << 1);
          single_strip <= 1'b0;
          state <= S_OBWAIT;
        end
        ob <= 16'd0;
        o0 <= 16'd0;
        thr_cur <= c_thr;
        wbyte_cur <= c_w;
        out_ob_base <= c_out;
      end

      // wait until the pipeline and the snapshot no longer use thresholds/weights
      S_OBWAIT: begin
        if (pipe_empty && !s_full) state <= S_OB;
      end

      S_OB: begin
        nl <= nl_c;
        nl_mask <= (nl_c == 6'd32) ? {LANES{1'b1}} : ~({LANES{1'b1}} << nl_c[4:0]);
        if (pf_state == PF_DONE) begin
          // prefetched during the previous block: switch halves and compute
          cp_half <= ld_half;
          pf_state <= PF_IDLE;
          y0 <= 16'd0;
          y0wg <= 32'd0;
          out_pix <= out_ob_base;
          state <= S_STRIP;
        end else if (pf_state == PF_IDLE) begin
          ld_half <= cp_half;
          ld_wbyte <= wbyte_cur[31:2];
          nwords <= {{W_AW{1'b0}}, nl_c} * {5'd0, kkg};
          if (c_thr_en) begin
            rd_kind <= RK_THR;
            rd_addr <= thr_cur;
            rd_recv_addr <= thr_cur;
            rd_nissue <= {13'd0, nl_c, 1'b0};
            rd_nrecv <= {13'd0, nl_c, 1'b0};
            state <= S_THR;
          end else begin
            state <= S_WST;
          end
        end
        // else: the prefetch of this block is still loading; wait
      end

      S_THR: begin
        if (rd_nrecv == 20'd0 || (rd_nrecv == 20'd1 && rd_beat)) state <= S_WST;
      end

      S_WST: begin
        rd_kind <= RK_W;
        rd_addr <= w_first_byte;
        rd_recv_addr <= w_first_byte;
        rd_nissue <= {{(20 - W_AW - 7) {1'b0}}, w_beats};
        rd_nrecv <= {{(20 - W_AW - 7) {1'b0}}, w_beats};
        state <= S_WLD;
      end

      S_WLD: begin
        if (rd_nrecv == 20'd0 || (rd_nrecv == 20'd1 && rd_beat)) begin
          y0 <= 16'd0;
          y0wg <= 32'd0;
          out_pix <= out_ob_base;
          state <= S_STRIP;
        end
      end

      S_STRIP: begin
        y1 <= (y0_plus_r >= {1'b0, c_ht}) ? c_ht : y0_plus_r[15:0];
        y1wg <= (y0_plus_r >= {1'b0, c_ht}) ? hwg : y0wg + rwg;
        ry0wg <= (y0 == 16'd0) ? 32'd0 : y0wg - pad_wg;
        // y1 + pad >= H  <=>  y0 + R + pad >= H
        ry1wg <= (y0_r_pad >= {2'b0, c_ht}) ? hwg : y0wg + rwg + pad_wg;
        state <= S_STRIP2;
      end

      S_STRIP2: begin
        if (single_strip && ob != 16'd0) state <= S_CINIT;  // input still resident
        else begin
          rd_kind <= RK_ACT;
          rd_addr <= c_in + {ry0wg[28:0], 3'b000};
          rd_recv_addr <= c_in + {ry0wg[28:0], 3'b000};
          rd_nissue <= ry1wg[19:0] - ry0wg[19:0];
          rd_nrecv <= ry1wg[19:0] - ry0wg[19:0];
          state <= S_ACT;
        end
      end

      S_ACT: begin
        if (rd_nrecv == 20'd0 || (rd_nrecv == 20'd1 && rd_beat)) state <= S_CINIT;
      end

      S_CINIT: begin
        x <= 16'd0;
        y <= y0;
        g <= 16'd0;
        kx <= 2'd0;
        ky <= 2'd0;
        wcnt <= {W_AW{1'b0}};
        // centre of pixel (y0,0) in the buffer is (y0wg - ry0wg); tap (0,0) is pad*(WG+G) before
        tap0 <= (y0wg[ACT_AW-1:0] - ry0wg[ACT_AW-1:0]) - (k3 ? wg_a + g_a : {ACT_AW{1'b0}});
        aaddr <= (y0wg[ACT_AW-1:0] - ry0wg[ACT_AW-1:0]) - (k3 ? wg_a + g_a : {ACT_AW{1'b0}});
        row_start <= (y0wg[ACT_AW-1:0] - ry0wg[ACT_AW-1:0]) - (k3 ? wg_a + g_a : {ACT_AW{1'b0}});
        state <= S_COMP;
      end

      S_COMP: begin
        if (adv) begin
          i_valid <= 1'b1;
          i_aaddr <= aaddr;
          i_waddr <= wcnt;
          i_amask <= rowv && colv;
          i_first <= (wcnt == {W_AW{1'b0}});
          i_last  <= w_last;
          i_oaddr <= out_pix;
          wcnt    <= w_last ? {W_AW{1'b0}} : wcnt + 1'b1;
          if (!g_last) begin
            g <= g + 16'd1;
            aaddr <= aaddr + 1'b1;
          end else begin
            g <= 16'd0;
            if (!kx_last) begin
              kx <= kx + 2'd1;
              aaddr <= aaddr + 1'b1;
            end else begin
              kx <= 2'd0;
              if (!ky_last) begin
                ky <= ky + 2'd1;
                aaddr <= row_start + wg_a;
                row_start <= row_start + wg_a;
              end else begin
                ky <= 2'd0;
                tap0 <= tap0 + g_a;
                aaddr <= tap0 + g_a;
                row_start <= tap0 + g_a;
                out_pix <= out_pix + pix_stride;
                if (x_last) begin
                  x <= 16'd0;
                  y <= y + 16'd1;
                  if (y_last) state <= S_SEND;
                end else begin
                  x <= x + 16'd1;
                end
              end
            end
          end
        end
      end

      S_SEND: begin
        // strip done once its last read of the activation buffer has happened
        if (pipe_empty) begin
          if (y1 != c_ht) begin
            y0 <= y1;
            y0wg <= y1wg;
            state <= S_STRIP;
          end else if (ob != n_ob_m1) begin
            ob <= ob + 16'd1;
            o0 <= o0 + 16'd32;
            thr_cur <= thr_cur + 32'd512;
            wbyte_cur <= wbyte_cur + {{(32 - W_AW - 8) {1'b0}}, kkg, 7'd0};
            out_ob_base <= out_ob_base + (c_thr_en ? 32'd8 : 32'd128);
            state <= S_OBWAIT;
          end else begin
            state <= S_FLUSH;
          end
        end
      end

      S_FLUSH: begin
        if (pipe_empty && !s_full && fifo_empty) begin
          busy <= 1'b0;
          done_pulse <= 1'b1;
          state <= S_IDLE;
        end
      end

      S_DRAIN: begin
        if (rd_nrecv == 20'd0 && fifo_empty) begin
          busy <= 1'b0;
          if (abort_bus && !abort_soft) begin
            err_bus <= 1'b1;
            done_pulse <= 1'b1;
          end
          state <= S_IDLE;
        end
      end

      default: state <= S_IDLE;
    endcase

    // prefetch of block ob+1 (read master idle during single-strip compute)
    case (pf_state)
      PF_IDLE: begin
        if (pf_go) begin
          ld_half <= !cp_half;
          ld_wbyte <= wbyte_cur[31:2] + {{(32 - W_AW - 8) {1'b0}}, kkg, 5'd0};
          nwords <= {{W_AW{1'b0}}, nl_n} * {5'd0, kkg};
          if (c_thr_en) begin
            rd_kind <= RK_THR;
            rd_addr <= thr_cur + 32'd512;
            rd_recv_addr <= thr_cur + 32'd512;
            rd_nissue <= {13'd0, nl_n, 1'b0};
            rd_nrecv <= {13'd0, nl_n, 1'b0};
            pf_state <= PF_THR;
          end else begin
            pf_state <= PF_WST;
          end
        end
      end
      PF_THR: begin
        if (rd_nrecv == 20'd0 || (rd_nrecv == 20'd1 && rd_beat)) pf_state <= PF_WST;
      end
      PF_WST: begin
        rd_kind <= RK_W;
        rd_addr <= w_first_byte;
        rd_recv_addr <= w_first_byte;
        rd_nissue <= {{(20 - W_AW - 7) {1'b0}}, w_beats};
        rd_nrecv <= {{(20 - W_AW - 7) {1'b0}}, w_beats};
        pf_state <= PF_WLD;
      end
      PF_WLD: begin
        if (rd_nrecv == 20'd0 || (rd_nrecv == 20'd1 && rd_beat)) pf_state <= PF_DONE;
      end
      default: ;  // PF_DONE: S_OB takes it
    endcase

    // bus error: stop issuing, drain outstanding reads and queued writes, then fail
    if (busy && soft_reset) abort_soft <= 1'b1;
    if (busy && rd_err && state != S_DRAIN) begin
      err_addr  <= rd_recv_addr;
      abort_bus <= 1'b1;
    end
    if (busy && state != S_DRAIN && (rd_err || soft_reset)) begin
      // stop issuing, but a request held by waitrequest must still complete (Avalon
      // forbids withdrawing it); then wait only for the beats already requested
      rd_nissue <= rd_keep;
      rd_nrecv <= rd_nrecv - {19'd0, rd_beat} - (rd_nissue - (rd_accept ? rd_bc20 : 20'd0)) + rd_keep;
      i_valid <= 1'b0;
      r_valid <= 1'b0;
      p_valid <= 1'b0;
      s_full <= 1'b0;
      pf_state <= PF_IDLE;
      state <= S_DRAIN;
    end
    // watchdog: the bus is hung, give up on it
    if (wd_fire) begin
      err_timeout <= 1'b1;
      err_addr <= (rd_nrecv != 20'd0) ? rd_recv_addr : avm_wr_address;
      done_pulse <= !abort_soft;
      busy <= 1'b0;
      rd_nissue <= 20'd0;
      rd_nrecv <= 20'd0;
      i_valid <= 1'b0;
      r_valid <= 1'b0;
      p_valid <= 1'b0;
      s_full <= 1'b0;
      pf_state <= PF_IDLE;
      state <= S_IDLE;
    end

    if (rst) begin
      state <= S_IDLE;
      busy <= 1'b0;
      done_pulse <= 1'b0;
      rd_nissue <= 20'd0;
      rd_nrecv <= 20'd0;
      i_valid <= 1'b0;
      r_valid <= 1'b0;
      p_valid <= 1'b0;
      s_full <= 1'b0;
      s_lane <= 6'd0;
      pf_state <= PF_IDLE;
      cp_half <= 1'b0;
      ld_half <= 1'b0;
      cyc_cnt <= 32'd0;
      perf_mac <= 32'd0;
      perf_load <= 32'd0;
      perf_stall <= 32'd0;
      err_addr <= 32'd0;
      abort_soft <= 1'b0;
      abort_bus <= 1'b0;
    end
  end
endmodule
`default_nettype wire
