// lm_qconv_top: Platform Designer component top of the lm_qconv accelerator.
//
//   csr   Avalon-MM slave, 32-bit, word addresses, fixed read latency 1, no
//         waitrequest; sits on the Cyclone V lightweight HPS-to-FPGA bridge.
//         Register map: fpga/regmap.toml -> lm_qconv_regs.vh (generated).
//         Byte enables are not used: registers are written as whole words.
//   rd    Avalon-MM master, 64-bit, pipelined burst reads (burstcount up to
//         2^BURST_LOG2 beats, never crossing a burst-size boundary; readdatavalid,
//         response), for activations, weights and thresholds (FPGA-to-SDRAM port).
//   wr    Avalon-MM master, 64-bit, writes with byte enables, for the output.
//   irq   interrupt sender, level, = CTRL.IRQ_EN & STATUS.DONE.
// Clock: one clock domain (e.g. 100 MHz); reset: synchronous, active high.
`default_nettype none
`include "lm_qconv_regs.vh"
module lm_qconv_top #(
    parameter integer ACT_AW  = 12,
    parameter integer W_AW    = 10,
    parameter integer ACC_W   = 18,
    parameter integer FIFO_AW = 4,
    parameter integer BURST_LOG2 = 4
) (
    input wire clk,
    input wire reset,

    input  wire [`LMQ_CSR_AW-1:0] avs_address,
    input  wire                   avs_read,
    output reg  [           31:0] avs_readdata,
    input  wire                   avs_write,
    input  wire [           31:0] avs_writedata,

    output wire [31:0] avm_rd_address,
    output wire        avm_rd_read,
    output wire [BURST_LOG2:0] avm_rd_burstcount,
    input  wire        avm_rd_waitrequest,
    input  wire [63:0] avm_rd_readdata,
    input  wire        avm_rd_readdatavalid,
    input  wire [ 1:0] avm_rd_response,

    output wire [31:0] avm_wr_address,
    output wire        avm_wr_write,
    output wire [63:0] avm_wr_writedata,
    output wire [ 7:0] avm_wr_byteenable,
    input  wire        avm_wr_waitrequest,

    output wire irq
);
  // ------------------------------------------------------------------ registers
  reg irq_en;
  reg st_done, e_geom, e_tile, e_align, e_bus, e_timeout, e_start_busy;
  reg [31:0] r_in_addr, r_w_addr, r_thr_addr, r_out_addr, r_timeout, r_scratch;
  reg [15:0] r_width, r_height, r_in_groups, r_out_ch;
  reg [3:0] r_ksize, r_pad;
  reg r_thr_en;

  wire busy, done_pulse, c_geom, c_tile, c_align, c_bus, c_timeout;
  wire [31:0] err_addr, cyc_cnt, perf_mac, perf_load, perf_stall;

  wire wr_ctrl = avs_write && (avs_address == `LMQ_CTRL_IDX);
  wire wr_status = avs_write && (avs_address == `LMQ_STATUS_IDX);
  wire start_req = wr_ctrl && avs_writedata[`LMQ_CTRL_START_LSB];
  wire soft_reset = wr_ctrl && avs_writedata[`LMQ_CTRL_SOFT_RESET_LSB];
  wire start = start_req && !busy && !soft_reset;

  // W1C helper: a bit is cleared when written with 1
  function w1c(input cur, input wr, input data_bit);
    w1c = cur && !(wr && data_bit);
  endfunction

  always @(posedge clk) begin
    if (reset) begin
      irq_en <= `LMQ_CTRL_IRQ_EN_RESET;
      st_done <= 1'b0;
      e_geom <= 1'b0;
      e_tile <= 1'b0;
      e_align <= 1'b0;
      e_bus <= 1'b0;
      e_timeout <= 1'b0;
      e_start_busy <= 1'b0;
      r_in_addr <= 32'd0;
      r_w_addr <= 32'd0;
      r_thr_addr <= 32'd0;
      r_out_addr <= 32'd0;
      r_width <= `LMQ_DIM_WIDTH_RESET;
      r_height <= `LMQ_DIM_HEIGHT_RESET;
      r_in_groups <= `LMQ_CHAN_IN_GROUPS_RESET;
      r_out_ch <= `LMQ_CHAN_OUT_CH_RESET;
      r_ksize <= `LMQ_CONV_KSIZE_RESET;
      r_pad <= `LMQ_CONV_PAD_RESET;
      r_thr_en <= `LMQ_CONV_THR_EN_RESET;
      r_timeout <= `LMQ_TIMEOUT_RESET;
      r_scratch <= `LMQ_SCRATCH_RESET;
    end else begin
      // STATUS: W1C, cleared by START and SOFT_RESET, set by the core
      if (start || soft_reset) begin
        st_done <= 1'b0;
        e_geom <= 1'b0;
        e_tile <= 1'b0;
        e_align <= 1'b0;
        e_bus <= 1'b0;
        e_timeout <= 1'b0;
        e_start_busy <= 1'b0;
      end else begin
        st_done <= w1c(st_done, wr_status, avs_writedata[`LMQ_STATUS_DONE_LSB]) || done_pulse;
        e_geom <= w1c(e_geom, wr_status, avs_writedata[`LMQ_STATUS_ERR_GEOM_LSB]) || c_geom;
        e_tile <= w1c(e_tile, wr_status, avs_writedata[`LMQ_STATUS_ERR_TILE_LSB]) || c_tile;
        e_align <= w1c(e_align, wr_status, avs_writedata[`LMQ_STATUS_ERR_ALIGN_LSB]) || c_align;
        e_bus <= w1c(e_bus, wr_status, avs_writedata[`LMQ_STATUS_ERR_BUS_LSB]) || c_bus;
        e_timeout <= w1c(e_timeout, wr_status, avs_writedata[`LMQ_STATUS_ERR_TIMEOUT_LSB])
            || c_timeout;
        e_start_busy <= w1c(e_start_busy, wr_status, avs_writedata[`LMQ_STATUS_ERR_START_BUSY_LSB]) || (start_req && busy && !soft_reset);
      end
      if (wr_ctrl) irq_en <= avs_writedata[`LMQ_CTRL_IRQ_EN_LSB];
      if (avs_write) begin
        case (avs_address)
          `LMQ_IN_ADDR_IDX: r_in_addr <= avs_writedata;
          `LMQ_W_ADDR_IDX: r_w_addr <= avs_writedata;
          `LMQ_THR_ADDR_IDX: r_thr_addr <= avs_writedata;
          `LMQ_OUT_ADDR_IDX: r_out_addr <= avs_writedata;
          `LMQ_DIM_IDX: begin
            r_width  <= avs_writedata[`LMQ_DIM_WIDTH_MSB:`LMQ_DIM_WIDTH_LSB];
            r_height <= avs_writedata[`LMQ_DIM_HEIGHT_MSB:`LMQ_DIM_HEIGHT_LSB];
          end
          `LMQ_CHAN_IDX: begin
            r_in_groups <= avs_writedata[`LMQ_CHAN_IN_GROUPS_MSB:`LMQ_CHAN_IN_GROUPS_LSB];
            r_out_ch <= avs_writedata[`LMQ_CHAN_OUT_CH_MSB:`LMQ_CHAN_OUT_CH_LSB];
          end
          `LMQ_CONV_IDX: begin
            r_ksize  <= avs_writedata[`LMQ_CONV_KSIZE_MSB:`LMQ_CONV_KSIZE_LSB];
            r_pad    <= avs_writedata[`LMQ_CONV_PAD_MSB:`LMQ_CONV_PAD_LSB];
            r_thr_en <= avs_writedata[`LMQ_CONV_THR_EN_LSB];
          end
          `LMQ_TIMEOUT_IDX: r_timeout <= avs_writedata;
          `LMQ_SCRATCH_IDX: r_scratch <= avs_writedata;
          default: ;
        endcase
      end
    end
  end

  // ------------------------------------------------------------------ read back
  localparam [7:0] CAPS_LANES = 8'd32;
  localparam [7:0] CAPS_ACT = ACT_AW[7:0];
  localparam [7:0] CAPS_W = W_AW[7:0];
  localparam [7:0] CAPS_BUS = 8'd8;

  // read-back values assembled from the generated field positions
  reg [31:0] v_id, v_ctrl, v_status, v_caps, v_dim, v_chan, v_conv;
  always @(*) begin
    v_id = 32'd0;
    v_id[`LMQ_ID_MAGIC_MSB:`LMQ_ID_MAGIC_LSB] = `LMQ_MAGIC;
    v_id[`LMQ_ID_VERSION_MAJOR_MSB:`LMQ_ID_VERSION_MAJOR_LSB] = `LMQ_VERSION_MAJOR;
    v_id[`LMQ_ID_VERSION_MINOR_MSB:`LMQ_ID_VERSION_MINOR_LSB] = `LMQ_VERSION_MINOR;
    v_ctrl = 32'd0;
    v_ctrl[`LMQ_CTRL_IRQ_EN_LSB] = irq_en;
    v_status = 32'd0;
    v_status[`LMQ_STATUS_BUSY_LSB] = busy;
    v_status[`LMQ_STATUS_DONE_LSB] = st_done;
    v_status[`LMQ_STATUS_ERR_GEOM_LSB] = e_geom;
    v_status[`LMQ_STATUS_ERR_TILE_LSB] = e_tile;
    v_status[`LMQ_STATUS_ERR_ALIGN_LSB] = e_align;
    v_status[`LMQ_STATUS_ERR_BUS_LSB] = e_bus;
    v_status[`LMQ_STATUS_ERR_TIMEOUT_LSB] = e_timeout;
    v_status[`LMQ_STATUS_ERR_START_BUSY_LSB] = e_start_busy;
    v_caps = 32'd0;
    v_caps[`LMQ_CAPS_OUT_LANES_MSB:`LMQ_CAPS_OUT_LANES_LSB] = CAPS_LANES;
    v_caps[`LMQ_CAPS_ACT_DEPTH_LOG2_MSB:`LMQ_CAPS_ACT_DEPTH_LOG2_LSB] = CAPS_ACT;
    v_caps[`LMQ_CAPS_W_DEPTH_LOG2_MSB:`LMQ_CAPS_W_DEPTH_LOG2_LSB] = CAPS_W;
    v_caps[`LMQ_CAPS_BUS_BYTES_MSB:`LMQ_CAPS_BUS_BYTES_LSB] = CAPS_BUS;
    v_dim = 32'd0;
    v_dim[`LMQ_DIM_WIDTH_MSB:`LMQ_DIM_WIDTH_LSB] = r_width;
    v_dim[`LMQ_DIM_HEIGHT_MSB:`LMQ_DIM_HEIGHT_LSB] = r_height;
    v_chan = 32'd0;
    v_chan[`LMQ_CHAN_IN_GROUPS_MSB:`LMQ_CHAN_IN_GROUPS_LSB] = r_in_groups;
    v_chan[`LMQ_CHAN_OUT_CH_MSB:`LMQ_CHAN_OUT_CH_LSB] = r_out_ch;
    v_conv = 32'd0;
    v_conv[`LMQ_CONV_KSIZE_MSB:`LMQ_CONV_KSIZE_LSB] = r_ksize;
    v_conv[`LMQ_CONV_PAD_MSB:`LMQ_CONV_PAD_LSB] = r_pad;
    v_conv[`LMQ_CONV_THR_EN_LSB] = r_thr_en;
  end

  always @(posedge clk) begin
    if (avs_read) begin
      case (avs_address)
        `LMQ_ID_IDX: avs_readdata <= v_id;
        `LMQ_CTRL_IDX: avs_readdata <= v_ctrl;
        `LMQ_STATUS_IDX: avs_readdata <= v_status;
        `LMQ_CAPS_IDX: avs_readdata <= v_caps;
        `LMQ_IN_ADDR_IDX: avs_readdata <= r_in_addr;
        `LMQ_W_ADDR_IDX: avs_readdata <= r_w_addr;
        `LMQ_THR_ADDR_IDX: avs_readdata <= r_thr_addr;
        `LMQ_OUT_ADDR_IDX: avs_readdata <= r_out_addr;
        `LMQ_DIM_IDX: avs_readdata <= v_dim;
        `LMQ_CHAN_IDX: avs_readdata <= v_chan;
        `LMQ_CONV_IDX: avs_readdata <= v_conv;
        `LMQ_TIMEOUT_IDX: avs_readdata <= r_timeout;
        `LMQ_CYCLES_IDX: avs_readdata <= cyc_cnt;
        `LMQ_PERF_MAC_IDX: avs_readdata <= perf_mac;
        `LMQ_PERF_LOAD_IDX: avs_readdata <= perf_load;
        `LMQ_PERF_STALL_IDX: avs_readdata <= perf_stall;
        `LMQ_SCRATCH_IDX: avs_readdata <= r_scratch;
        `LMQ_ERR_ADDR_IDX: avs_readdata <= err_addr;
        default: avs_readdata <= 32'd0;
      endcase
    end
  end

  assign irq = irq_en && st_done;

  // ------------------------------------------------------------------ engine
  lm_qconv_core #(
      .ACT_AW (ACT_AW),
      .W_AW   (W_AW),
      .ACC_W  (ACC_W),
      .FIFO_AW(FIFO_AW),
      .BURST_LOG2(BURST_LOG2)
  ) u_core (
      .clk(clk),
      .rst(reset),
      .start(start),
      .soft_reset(soft_reset),
      .cfg_in_addr(r_in_addr),
      .cfg_w_addr(r_w_addr),
      .cfg_thr_addr(r_thr_addr),
      .cfg_out_addr(r_out_addr),
      .cfg_width(r_width),
      .cfg_height(r_height),
      .cfg_in_groups(r_in_groups),
      .cfg_out_ch(r_out_ch),
      .cfg_ksize(r_ksize),
      .cfg_pad(r_pad),
      .cfg_thr_en(r_thr_en),
      .cfg_timeout(r_timeout),
      .busy(busy),
      .done_pulse(done_pulse),
      .err_geom(c_geom),
      .err_tile(c_tile),
      .err_align(c_align),
      .err_bus(c_bus),
      .err_timeout(c_timeout),
      .err_addr(err_addr),
      .cyc_cnt(cyc_cnt),
      .perf_mac(perf_mac),
      .perf_load(perf_load),
      .perf_stall(perf_stall),
      .avm_rd_address(avm_rd_address),
      .avm_rd_read(avm_rd_read),
      .avm_rd_burstcount(avm_rd_burstcount),
      .avm_rd_waitrequest(avm_rd_waitrequest),
      .avm_rd_readdata(avm_rd_readdata),
      .avm_rd_readdatavalid(avm_rd_readdatavalid),
      .avm_rd_response(avm_rd_response),
      .avm_wr_address(avm_wr_address),
      .avm_wr_write(avm_wr_write),
      .avm_wr_writedata(avm_wr_writedata),
      .avm_wr_byteenable(avm_wr_byteenable),
      .avm_wr_waitrequest(avm_wr_waitrequest)
  );
endmodule
`default_nettype wire
