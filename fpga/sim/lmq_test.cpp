// lmq_test.cpp -- self-checking Verilator test of lm_qconv, driven only through
// the C ABI shim (lm_qconv_shim.h) exactly as the Rust driver will drive it.
//
//   lmq_test [--quick] [--seed N] [--random N] [--latency L] [--wait P] [--frame-only]
//
// Checks: register reset values / ID / CAPS, randomised layers (k 1/3, odd
// channel counts, tiny and odd H/W, thresholds on/off, descending and constant
// channels, odd-word weight base, random SDRAM latency and waitrequest), every
// quantised conv of the default model at 160x160 (bit-exact, cycles, MAC
// utilisation), soft reset mid-job, START while busy, bad geometry / tile / alignment,
// bus error response and bus timeout.
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "lm_qconv_regs.h"
#include "lm_qconv_shim.h"
#include "lmq_ref.h"

namespace {

constexpr size_t kMemSize = 16u << 20;
constexpr double kClockMHz = 100.0;
constexpr int kMacsPerCycle = 32 * 32;

int g_fail = 0;
int g_checks = 0;
uint32_t g_act_depth = 4096;  // from CAPS
uint32_t g_w_depth = 1024;    // from CAPS
uint64_t g_proto_waived = 0;  // protocol violations expected from the timeout test

#define CHECK(cond, ...)                                       \
    do {                                                       \
        g_checks++;                                            \
        if (!(cond)) {                                         \
            g_fail++;                                          \
            std::printf("FAIL %s:%d: ", __FILE__, __LINE__);   \
            std::printf(__VA_ARGS__);                          \
            std::printf("\n");                                 \
        }                                                      \
    } while (0)

struct Layer {
    std::string name;
    int H, W, Cin, Cout, K;
    bool thr_en = true;
    double desc_frac = 0.3;  // fraction of descending channels
    int count = 1;           // occurrences per frame (model table)
};

struct Buffers {
    uint32_t in_addr, w_addr, thr_addr, out_addr;
    size_t out_bytes;
};

struct Result {
    bool ok = false;
    uint32_t status = 0, cycles = 0, mac = 0, load = 0, stall = 0;
};

struct Sim {
    std::vector<uint8_t> mem;
    void* h;
    Sim() : mem(kMemSize, 0) { h = lmq_new(mem.data(), mem.size()); }
    ~Sim() { lmq_free(h); }
    uint32_t rd(uint32_t off) { return lmq_read(h, off); }
    void wr(uint32_t off, uint32_t v) { lmq_write(h, off, v); }
    void put(uint32_t addr, const std::vector<uint32_t>& v) {
        std::memcpy(&mem[addr], v.data(), v.size() * 4);
    }
    // wait for DONE (via the irq line) or !BUSY; returns false on a hang
    bool wait_done(uint64_t max_cycles) {
        uint64_t start = lmq_step(h, 0);
        while (lmq_step(h, 0) - start < max_cycles) {
            lmq_step(h, 64);
            if (lmq_irq(h)) return true;
            if (!(rd(LMQ_STATUS) & LMQ_STATUS_BUSY_MASK)) return true;
        }
        return false;
    }
};

uint32_t align_up(uint32_t a, uint32_t n) { return (a + n - 1) / n * n; }

// random test data following the spec (tail channels/bits zero)
void make_data(const Layer& L, std::mt19937& rng, std::vector<uint32_t>& in, std::vector<uint32_t>& w,
               std::vector<int32_t>& thr) {
    int G = lmq_ref::groups(L.Cin);
    in.assign(static_cast<size_t>(L.H) * L.W * G * 2, 0);
    // level distribution skewed like post-ReLU activations
    std::discrete_distribution<int> lev({40, 25, 20, 15});
    for (int y = 0; y < L.H; y++)
        for (int x = 0; x < L.W; x++)
            for (int c = 0; c < L.Cin; c++) lmq_ref::set_level(in, L.W, G, y, x, c, lev(rng));
    w.assign(static_cast<size_t>(L.Cout) * L.K * L.K * G, 0);
    for (int o = 0; o < L.Cout; o++)
        for (int t = 0; t < L.K * L.K; t++)
            for (int g = 0; g < G; g++) {
                uint32_t v = rng();
                int valid = L.Cin - 32 * g;
                if (valid < 32) v &= (1u << valid) - 1;
                w[(static_cast<size_t>(o) * L.K * L.K + t) * G + g] = v;
            }
    thr.assign(static_cast<size_t>(L.Cout) * 4, 0);
    int sigma = static_cast<int>(std::sqrt(L.K * L.K * L.Cin * 3.5)) + 1;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int o = 0; o < L.Cout; o++) {
        int32_t* t = &thr[4 * o];
        double r = u(rng);
        auto ri = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
        if (r < 0.05) {  // constant channel (scale 0), unclamped and clamped forms
            int kind = ri(0, 3);
            int32_t v = kind == 0 ? INT32_MIN : kind == 1 ? INT32_MAX : kind == 2 ? -32768 : 32767;
            t[0] = v;
            t[1] = ri(0, 1) ? v : INT32_MAX;
            t[2] = INT32_MAX;
            t[3] = 0;
        } else if (r < 0.05 + L.desc_frac) {
            t[0] = ri(-sigma, 2 * sigma);
            t[1] = t[0] - ri(0, sigma);
            t[2] = t[1] - ri(0, sigma);
            t[3] = 1;
        } else {
            t[0] = ri(-2 * sigma, sigma);
            t[1] = t[0] + ri(0, sigma);
            t[2] = t[1] + ri(0, sigma);
            t[3] = 0;
        }
    }
}

Buffers place(const Layer& L, std::mt19937& rng) {
    int G = lmq_ref::groups(L.Cin);
    Buffers b;
    uint32_t a = 0x10000 + 8 * (rng() % 64);
    b.in_addr = a;
    a = align_up(a + static_cast<uint32_t>(L.H * L.W * G * 8), 8) + 8 * (rng() % 8);
    b.w_addr = a + 4 * (rng() % 2);  // odd-word base half of the time
    a = align_up(b.w_addr + static_cast<uint32_t>(L.Cout * L.K * L.K * G * 4), 8) + 8 * (rng() % 8);
    b.thr_addr = a;
    a = align_up(a + static_cast<uint32_t>(L.Cout * 16), 8) + 256;
    b.out_addr = a;
    b.out_bytes = L.thr_en ? static_cast<size_t>(L.H) * L.W * lmq_ref::groups(L.Cout) * 8
                           : static_cast<size_t>(L.H) * L.W * L.Cout * 4;
    return b;
}

void program(Sim& s, const Layer& L, const Buffers& b, bool irq) {
    s.wr(LMQ_IN_ADDR, b.in_addr);
    s.wr(LMQ_W_ADDR, b.w_addr);
    s.wr(LMQ_THR_ADDR, b.thr_addr);
    s.wr(LMQ_OUT_ADDR, b.out_addr);
    s.wr(LMQ_DIM, (static_cast<uint32_t>(L.H) << LMQ_DIM_HEIGHT_SHIFT) |
                      (static_cast<uint32_t>(L.W) << LMQ_DIM_WIDTH_SHIFT));
    s.wr(LMQ_CHAN, (static_cast<uint32_t>(L.Cout) << LMQ_CHAN_OUT_CH_SHIFT) |
                       (static_cast<uint32_t>(lmq_ref::groups(L.Cin)) << LMQ_CHAN_IN_GROUPS_SHIFT));
    s.wr(LMQ_CONV, (static_cast<uint32_t>(L.K) << LMQ_CONV_KSIZE_SHIFT) |
                       (static_cast<uint32_t>(L.K / 2) << LMQ_CONV_PAD_SHIFT) |
                       (L.thr_en ? LMQ_CONV_THR_EN_MASK : 0));
    s.wr(LMQ_CTRL, LMQ_CTRL_START_MASK | (irq ? LMQ_CTRL_IRQ_EN_MASK : 0));
}

// does the layer fit the on-chip buffers (the rule of STATUS.ERR_TILE)?
bool fits(const Layer& L) {
    uint64_t G = static_cast<uint64_t>(lmq_ref::groups(L.Cin));
    uint64_t rows = std::min<uint64_t>(static_cast<uint64_t>(L.K), static_cast<uint64_t>(L.H));
    return L.K * L.K * G <= g_w_depth && rows * static_cast<uint64_t>(L.W) * G <= g_act_depth;
}

Result run_layer(Sim& s, const Layer& L, std::mt19937& rng, bool verbose_fail = true) {
    std::vector<uint32_t> in, w;
    std::vector<int32_t> thr;
    make_data(L, rng, in, w, thr);
    Buffers b = place(L, rng);
    s.put(b.in_addr, in);
    s.put(b.w_addr, w);
    s.put(b.thr_addr, std::vector<uint32_t>(thr.begin(), thr.end()));
    // sentinel around and in the output region
    std::memset(&s.mem[b.out_addr - 64], 0xA5, b.out_bytes + 128);
    program(s, L, b, true);
    Result r;
    bool finished = s.wait_done(200ull * 1000 * 1000);
    if (!fits(L)) {  // must be rejected with ERR_TILE
        r.status = s.rd(LMQ_STATUS);
        CHECK(r.status == (LMQ_STATUS_DONE_MASK | LMQ_STATUS_ERR_TILE_MASK), "%s: too big, STATUS=0x%08x",
              L.name.c_str(), r.status);
        s.wr(LMQ_STATUS, 0xFFFFFFFFu);
        r.ok = r.status == (LMQ_STATUS_DONE_MASK | LMQ_STATUS_ERR_TILE_MASK);
        return r;
    }
    r.status = s.rd(LMQ_STATUS);
    r.cycles = s.rd(LMQ_CYCLES);
    r.mac = s.rd(LMQ_PERF_MAC);
    r.load = s.rd(LMQ_PERF_LOAD);
    r.stall = s.rd(LMQ_PERF_STALL);
    CHECK(finished, "%s: job did not finish", L.name.c_str());
    CHECK(r.status == LMQ_STATUS_DONE_MASK, "%s: STATUS=0x%08x", L.name.c_str(), r.status);
    CHECK(lmq_irq(s.h) == 1, "%s: irq not asserted", L.name.c_str());
    s.wr(LMQ_STATUS, LMQ_STATUS_DONE_MASK);  // W1C
    CHECK(lmq_irq(s.h) == 0, "%s: irq not cleared", L.name.c_str());
    CHECK((s.rd(LMQ_STATUS) & LMQ_STATUS_DONE_MASK) == 0, "%s: DONE not cleared", L.name.c_str());

    std::vector<uint32_t> ref = lmq_ref::conv(in, L.H, L.W, L.Cin, w, L.Cout, L.K, thr, L.thr_en);
    const uint32_t* got = reinterpret_cast<const uint32_t*>(&s.mem[b.out_addr]);
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < ref.size(); i++)
        if (got[i] != ref[i]) {
            if (!bad) first_bad = i;
            bad++;
        }
    bool sentinel_ok = true;
    for (int i = 0; i < 64; i++)
        sentinel_ok &= s.mem[b.out_addr - 64 + i] == 0xA5 && s.mem[b.out_addr + b.out_bytes + i] == 0xA5;
    CHECK(bad == 0, "%s: %zu of %zu output words differ, first at word %zu: got 0x%08x want 0x%08x",
          L.name.c_str(), bad, ref.size(), first_bad, bad ? got[first_bad] : 0, bad ? ref[first_bad] : 0);
    CHECK(sentinel_ok, "%s: write outside the output buffer", L.name.c_str());
    r.ok = finished && bad == 0 && sentinel_ok && r.status == LMQ_STATUS_DONE_MASK;
    if (!r.ok && verbose_fail)
        std::printf("  layer %s: H=%d W=%d Cin=%d Cout=%d K=%d thr=%d in=0x%x w=0x%x thr=0x%x out=0x%x\n",
                    L.name.c_str(), L.H, L.W, L.Cin, L.Cout, L.K, L.thr_en, b.in_addr, b.w_addr,
                    b.thr_addr, b.out_addr);
    return r;
}

double mac_util(const Layer& L, uint32_t cycles) {
    double macs = static_cast<double>(L.H) * L.W * L.K * L.K * L.Cin * L.Cout;
    return cycles ? macs / (static_cast<double>(cycles) * kMacsPerCycle) : 0.0;
}

// ------------------------------------------------------------------ tests

void test_registers(Sim& s) {
    uint32_t id = s.rd(LMQ_ID);
    CHECK(((id & LMQ_ID_MAGIC_MASK) >> LMQ_ID_MAGIC_SHIFT) == LMQ_MAGIC, "ID=0x%08x", id);
    CHECK(((id & LMQ_ID_VERSION_MAJOR_MASK) >> LMQ_ID_VERSION_MAJOR_SHIFT) == LMQ_VERSION_MAJOR, "ID=0x%08x", id);
    CHECK(id == LMQ_ID_RESET, "ID=0x%08x", id);
    const uint32_t rst_regs[][2] = {
        {LMQ_CTRL, LMQ_CTRL_RESET},   {LMQ_STATUS, LMQ_STATUS_RESET},
        {LMQ_CONV, LMQ_CONV_RESET},   {LMQ_TIMEOUT, LMQ_TIMEOUT_RESET}, {LMQ_DIM, LMQ_DIM_RESET},
        {LMQ_CHAN, LMQ_CHAN_RESET},   {LMQ_CYCLES, LMQ_CYCLES_RESET}, {LMQ_SCRATCH, LMQ_SCRATCH_RESET},
        {LMQ_ERR_ADDR, LMQ_ERR_ADDR_RESET},
    };
    for (auto& rr : rst_regs) {
        uint32_t v = s.rd(rr[0]);
        CHECK(v == rr[1], "reset value of reg 0x%02x: 0x%08x, want 0x%08x", rr[0], v, rr[1]);
    }
    s.wr(LMQ_SCRATCH, 0xC0FFEE42u);
    CHECK(s.rd(LMQ_SCRATCH) == 0xC0FFEE42u, "SCRATCH");
    s.wr(LMQ_DIM, 0x00050007u);
    CHECK(s.rd(LMQ_DIM) == 0x00050007u, "DIM readback");
    s.wr(LMQ_CTRL, LMQ_CTRL_IRQ_EN_MASK);
    CHECK(s.rd(LMQ_CTRL) == LMQ_CTRL_IRQ_EN_MASK, "CTRL readback");
    s.wr(LMQ_CTRL, 0);
    CHECK(s.rd(0xFC) == 0, "unmapped register reads 0");
    uint32_t caps = s.rd(LMQ_CAPS);
    g_act_depth = 1u << ((caps & LMQ_CAPS_ACT_DEPTH_LOG2_MASK) >> LMQ_CAPS_ACT_DEPTH_LOG2_SHIFT);
    g_w_depth = 1u << ((caps & LMQ_CAPS_W_DEPTH_LOG2_MASK) >> LMQ_CAPS_W_DEPTH_LOG2_SHIFT);
    CHECK(((caps & LMQ_CAPS_OUT_LANES_MASK) >> LMQ_CAPS_OUT_LANES_SHIFT) == 32, "CAPS lanes");
    CHECK(((caps & LMQ_CAPS_BUS_BYTES_MASK) >> LMQ_CAPS_BUS_BYTES_SHIFT) == 8, "CAPS bus bytes");
    std::printf("CAPS: activation buffer %u words, weight buffer %u words/lane\n", g_act_depth, g_w_depth);
}

void expect_error(Sim& s, const char* what, const Layer& L, Buffers b, uint32_t err_mask) {
    uint64_t rd_before = lmq_stat(s.h, 1);
    program(s, L, b, false);
    bool fin = s.wait_done(100000);
    uint32_t st = s.rd(LMQ_STATUS);
    CHECK(fin, "%s: hang", what);
    CHECK(st == (LMQ_STATUS_DONE_MASK | err_mask), "%s: STATUS=0x%08x want 0x%08x", what, st,
          LMQ_STATUS_DONE_MASK | err_mask);
    CHECK(lmq_stat(s.h, 1) == rd_before, "%s: bus reads issued before the check", what);
    s.wr(LMQ_STATUS, LMQ_STATUS_DONE_MASK | LMQ_STATUS_ERR_ALL);
    CHECK(s.rd(LMQ_STATUS) == 0, "%s: W1C of error bits", what);
}

void test_bad_geometry(Sim& s) {
    std::mt19937 rng(7);
    Layer ok{"geom", 4, 4, 40, 8, 3};
    Buffers b = place(ok, rng);
    Layer L = ok;
    L.K = 2;
    expect_error(s, "K=2", L, b, LMQ_STATUS_ERR_GEOM_MASK);
    L = ok;
    L.W = 0;
    expect_error(s, "W=0", L, b, LMQ_STATUS_ERR_GEOM_MASK);
    L = ok;
    L.H = 0;
    expect_error(s, "H=0", L, b, LMQ_STATUS_ERR_GEOM_MASK);
    L = ok;
    L.Cout = 0;
    expect_error(s, "Cout=0", L, b, LMQ_STATUS_ERR_GEOM_MASK);
    L = ok;
    L.Cin = 0;
    expect_error(s, "G=0", L, b, LMQ_STATUS_ERR_GEOM_MASK);
    // PAD != K/2
    program(s, ok, b, false);  // run once ok to be sure state is sane
    s.wait_done(1000000);
    s.wr(LMQ_STATUS, LMQ_STATUS_DONE_MASK);
    s.wr(LMQ_CONV, (3u << LMQ_CONV_KSIZE_SHIFT) | (0u << LMQ_CONV_PAD_SHIFT) | LMQ_CONV_THR_EN_MASK);
    s.wr(LMQ_CTRL, LMQ_CTRL_START_MASK);
    s.wait_done(1000);
    CHECK(s.rd(LMQ_STATUS) == (LMQ_STATUS_DONE_MASK | LMQ_STATUS_ERR_GEOM_MASK), "PAD=0 with K=3");
    s.wr(LMQ_STATUS, 0xFFFFFFFFu);
    // weights of one output block do not fit: 9*G > W_DEPTH
    L = ok;
    L.Cin = static_cast<int>((g_w_depth / 9 + 1) * 32);
    expect_error(s, "tile weights", L, b, LMQ_STATUS_ERR_TILE_MASK);
    L.K = 1;
    L.Cin = static_cast<int>((g_w_depth + 1) * 32);  // K=1: G > W_DEPTH
    expect_error(s, "tile weights k1", L, b, LMQ_STATUS_ERR_TILE_MASK);
    // one output row's window does not fit: 3 * W * G > ACT_DEPTH
    L = ok;
    L.H = 10;
    L.Cin = 64;
    L.W = static_cast<int>(g_act_depth / 6 + 1);
    expect_error(s, "tile rows", L, b, LMQ_STATUS_ERR_TILE_MASK);
    // ... but the same width with H = 1 (one input row) fits when W*G <= ACT_DEPTH
    L.H = 1;
    L.W = static_cast<int>(g_act_depth / 2 - 3);
    L.Cin = 64;
    L.Cout = 3;
    L.name = "wide H=1";
    std::mt19937 r2(3);
    run_layer(s, L, r2);
    // alignment
    L = ok;
    Buffers bb = b;
    bb.in_addr += 4;
    expect_error(s, "in_addr unaligned", L, bb, LMQ_STATUS_ERR_ALIGN_MASK);
    bb = b;
    bb.out_addr += 2;
    expect_error(s, "out_addr unaligned", L, bb, LMQ_STATUS_ERR_ALIGN_MASK);
    bb = b;
    bb.w_addr = (bb.w_addr & ~7u) + 2;
    expect_error(s, "w_addr unaligned", L, bb, LMQ_STATUS_ERR_ALIGN_MASK);
    bb = b;
    bb.thr_addr += 4;
    expect_error(s, "thr_addr unaligned", L, bb, LMQ_STATUS_ERR_ALIGN_MASK);
}

void test_soft_reset(Sim& s) {
    std::mt19937 rng(11);
    Layer big{"soft-reset victim", 40, 40, 128, 64, 3};
    std::vector<uint32_t> in, w;
    std::vector<int32_t> thr;
    make_data(big, rng, in, w, thr);
    Buffers b = place(big, rng);
    s.put(b.in_addr, in);
    s.put(b.w_addr, w);
    s.put(b.thr_addr, std::vector<uint32_t>(thr.begin(), thr.end()));
    const uint64_t when[] = {3, 40, 700, 5000, 30000};  // during load, compute, ...
    for (uint64_t t : when) {
        program(s, big, b, true);
        lmq_step(s.h, t);
        CHECK(s.rd(LMQ_STATUS) & LMQ_STATUS_BUSY_MASK, "busy before soft reset at %" PRIu64, t);
        s.wr(LMQ_CTRL, LMQ_CTRL_SOFT_RESET_MASK | LMQ_CTRL_IRQ_EN_MASK);
        uint64_t c0 = lmq_step(s.h, 0);
        while ((s.rd(LMQ_STATUS) & LMQ_STATUS_BUSY_MASK) && lmq_step(s.h, 0) - c0 < 10000) lmq_step(s.h, 1);
        uint64_t drain = lmq_step(s.h, 0) - c0;
        uint32_t st = s.rd(LMQ_STATUS);
        CHECK(st == 0, "soft reset at cycle %" PRIu64 ": STATUS=0x%08x after %" PRIu64 " cycles", t, st, drain);
        CHECK(lmq_irq(s.h) == 0, "soft reset: no irq");
    }
    // the core is usable afterwards
    Layer L{"after soft reset", 9, 11, 70, 45, 3};
    run_layer(s, L, rng);
}

void test_start_busy(Sim& s) {
    std::mt19937 rng(13);
    Layer L{"start-while-busy", 12, 12, 64, 40, 3};
    std::vector<uint32_t> in, w;
    std::vector<int32_t> thr;
    make_data(L, rng, in, w, thr);
    Buffers b = place(L, rng);
    s.put(b.in_addr, in);
    s.put(b.w_addr, w);
    s.put(b.thr_addr, std::vector<uint32_t>(thr.begin(), thr.end()));
    program(s, L, b, false);
    lmq_step(s.h, 500);
    s.wr(LMQ_CTRL, LMQ_CTRL_START_MASK);
    CHECK(s.rd(LMQ_STATUS) == (LMQ_STATUS_BUSY_MASK | LMQ_STATUS_ERR_START_BUSY_MASK),
          "START while busy: STATUS=0x%08x", s.rd(LMQ_STATUS));
    s.wait_done(10000000);
    CHECK(s.rd(LMQ_STATUS) == (LMQ_STATUS_DONE_MASK | LMQ_STATUS_ERR_START_BUSY_MASK), "after");
    std::vector<uint32_t> ref = lmq_ref::conv(in, L.H, L.W, L.Cin, w, L.Cout, L.K, thr, true);
    CHECK(std::memcmp(ref.data(), &s.mem[b.out_addr], ref.size() * 4) == 0, "running job still correct");
    s.wr(LMQ_STATUS, 0xFFFFFFFFu);
}

void test_bus_faults(Sim& s) {
    std::mt19937 rng(17);
    Layer L{"bus-fault", 10, 10, 96, 40, 3};
    std::vector<uint32_t> in, w;
    std::vector<int32_t> thr;
    make_data(L, rng, in, w, thr);
    Buffers b = place(L, rng);
    s.put(b.in_addr, in);
    s.put(b.w_addr, w);
    s.put(b.thr_addr, std::vector<uint32_t>(thr.begin(), thr.end()));
    // error response on part of the input activations
    uint32_t bad_lo = b.in_addr + 8 * 50, bad_hi = bad_lo + 64;
    lmq_set_fault(s.h, 1, bad_lo, bad_hi);
    program(s, L, b, true);
    bool fin = s.wait_done(1000000);
    uint32_t st = s.rd(LMQ_STATUS);
    uint32_t ea = s.rd(LMQ_ERR_ADDR);
    CHECK(fin && st == (LMQ_STATUS_DONE_MASK | LMQ_STATUS_ERR_BUS_MASK), "bus error: STATUS=0x%08x", st);
    CHECK(ea == bad_lo, "bus error: ERR_ADDR=0x%08x want 0x%08x", ea, bad_lo);
    CHECK(lmq_irq(s.h) == 1, "bus error raises irq (DONE)");
    lmq_set_fault(s.h, 0, 0, 0);
    // reads outside the SDRAM buffer also give an error response
    Buffers bo = b;
    bo.w_addr = static_cast<uint32_t>(kMemSize) - 64;
    program(s, L, bo, false);
    s.wait_done(1000000);
    CHECK(s.rd(LMQ_STATUS) == (LMQ_STATUS_DONE_MASK | LMQ_STATUS_ERR_BUS_MASK), "read past SDRAM");
    // hung read -> watchdog (withdrawing the hung request is the one allowed protocol violation)
    uint64_t proto_before = lmq_stat(s.h, 5);
    s.wr(LMQ_TIMEOUT, 2000);
    lmq_set_fault(s.h, 2, b.w_addr & ~7u, (b.w_addr & ~7u) + 8);
    program(s, L, b, false);
    fin = s.wait_done(1000000);
    st = s.rd(LMQ_STATUS);
    CHECK(fin && st == (LMQ_STATUS_DONE_MASK | LMQ_STATUS_ERR_TIMEOUT_MASK), "timeout: STATUS=0x%08x", st);
    CHECK(s.rd(LMQ_ERR_ADDR) == (b.w_addr & ~7u), "timeout: ERR_ADDR=0x%08x", s.rd(LMQ_ERR_ADDR));
    lmq_set_fault(s.h, 0, 0, 0);
    g_proto_waived += lmq_stat(s.h, 5) - proto_before;
    CHECK(g_proto_waived > 0, "protocol checker saw the withdrawn hung read");
    s.wr(LMQ_TIMEOUT, LMQ_TIMEOUT_RESET);
    s.wr(LMQ_STATUS, 0xFFFFFFFFu);
    // and the core still works
    L.name = "after bus faults";
    run_layer(s, L, rng);
}

// Weight/threshold prefetch (single-strip layers with several output blocks load block
// ob+1 while block ob computes): loads are really hidden, bit-exact in packed and raw mode,
// and soft reset / bus error / hung bus during a prefetch end cleanly.
void test_prefetch(Sim& s) {
    std::mt19937 rng(23);
    lmq_set_timing(s.h, 10, 0, 1);
    Layer L{"prefetch 5x5x256->128 k3", 5, 5, 256, 128, 3};  // 4 blocks, single strip
    const uint32_t G = 8, kkg = 9 * G;
    const uint32_t blk_beats = 32 * kkg / 2 + 64;  // weights + thresholds of one block
    const uint32_t all_beats = 5 * 5 * G + 4 * blk_beats;
    Result r = run_layer(s, L, rng);
    CHECK(r.ok, "%s", L.name.c_str());
    CHECK(2 * r.load < all_beats, "%s: PERF_LOAD %u not < half of the %u load beats (prefetch not overlapping)",
          L.name.c_str(), r.load, all_beats);
    CHECK(r.mac == 25 * kkg * 4, "%s: PERF_MAC %u", L.name.c_str(), r.mac);
    Layer raw{"prefetch raw 4x3x100->70 k3", 4, 3, 100, 70, 3};  // 3 blocks, last one partial
    raw.thr_en = false;
    CHECK(run_layer(s, raw, rng).ok, "%s", raw.name.c_str());
    Layer k1{"prefetch 6x6x64->100 k1", 6, 6, 64, 100, 1};  // 4 blocks, last 4 lanes
    CHECK(run_layer(s, k1, rng).ok, "%s", k1.name.c_str());

    std::vector<uint32_t> in, w;
    std::vector<int32_t> thr;
    make_data(L, rng, in, w, thr);
    Buffers b = place(L, rng);
    s.put(b.in_addr, in);
    s.put(b.w_addr, w);
    s.put(b.thr_addr, std::vector<uint32_t>(thr.begin(), thr.end()));
    // soft reset at many points: block 0 load, block 0 compute with block 1 prefetching,
    // waiting for a prefetch, later blocks
    int resets = 0;
    for (uint64_t t = 1500; t < 9000; t += 113) {
        program(s, L, b, true);
        lmq_step(s.h, t);
        if (!(s.rd(LMQ_STATUS) & LMQ_STATUS_BUSY_MASK)) break;
        s.wr(LMQ_CTRL, LMQ_CTRL_SOFT_RESET_MASK | LMQ_CTRL_IRQ_EN_MASK);
        uint64_t c0 = lmq_step(s.h, 0);
        while ((s.rd(LMQ_STATUS) & LMQ_STATUS_BUSY_MASK) && lmq_step(s.h, 0) - c0 < 10000) lmq_step(s.h, 1);
        uint32_t st = s.rd(LMQ_STATUS);
        CHECK(st == 0, "prefetch soft reset at cycle %" PRIu64 ": STATUS=0x%08x", t, st);
        CHECK(lmq_irq(s.h) == 0, "prefetch soft reset: no irq");
        resets++;
    }
    CHECK(resets >= 40, "prefetch soft reset: only %d points while busy", resets);
    std::printf("prefetch: soft reset at %d points while busy, each left the core idle and clean\n", resets);
    // error response on the thresholds of block 1 and on the weights of block 2 (both
    // read by prefetches): ERR_BUS with the exact address
    const uint32_t w_blk2 = ((b.w_addr + 2 * 32 * kkg * 4) & ~7u) + 8 * 40;
    const uint32_t bad[2] = {b.thr_addr + 512 + 8 * 5, w_blk2};
    for (uint32_t lo : bad) {
        lmq_set_fault(s.h, 1, lo, lo + 8);
        program(s, L, b, true);
        bool fin = s.wait_done(1000000);
        uint32_t st = s.rd(LMQ_STATUS), ea = s.rd(LMQ_ERR_ADDR);
        CHECK(fin && st == (LMQ_STATUS_DONE_MASK | LMQ_STATUS_ERR_BUS_MASK), "prefetch bus error: STATUS=0x%08x", st);
        CHECK(ea == lo, "prefetch bus error: ERR_ADDR=0x%08x want 0x%08x", ea, lo);
        lmq_set_fault(s.h, 0, 0, 0);
        s.wr(LMQ_STATUS, 0xFFFFFFFFu);
    }
    // hung read in a prefetch -> watchdog
    uint64_t proto_before = lmq_stat(s.h, 5);
    s.wr(LMQ_TIMEOUT, 2000);
    lmq_set_fault(s.h, 2, w_blk2, w_blk2 + 8);
    program(s, L, b, true);
    bool fin = s.wait_done(1000000);
    uint32_t st = s.rd(LMQ_STATUS);
    CHECK(fin && st == (LMQ_STATUS_DONE_MASK | LMQ_STATUS_ERR_TIMEOUT_MASK), "prefetch timeout: STATUS=0x%08x", st);
    // ERR_ADDR = start of the hung request: the burst (<= 16 beats, within 128 bytes) holding w_blk2
    const uint32_t ea = s.rd(LMQ_ERR_ADDR);
    CHECK(ea <= w_blk2 && ea / 128 == w_blk2 / 128 && ea % 8 == 0,
          "prefetch timeout: ERR_ADDR=0x%08x, want the request holding 0x%08x", ea, w_blk2);
    lmq_set_fault(s.h, 0, 0, 0);
    g_proto_waived += lmq_stat(s.h, 5) - proto_before;
    s.wr(LMQ_TIMEOUT, LMQ_TIMEOUT_RESET);
    s.wr(LMQ_STATUS, 0xFFFFFFFFu);
    // and a correct job afterwards
    L.name = "after prefetch faults";
    CHECK(run_layer(s, L, rng).ok, "%s", L.name.c_str());
}

void test_random(Sim& s, int n, uint32_t seed) {
    std::mt19937 rng(seed);
    const int hw[] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 31};
    int fails = 0;
    for (int i = 0; i < n; i++) {
        Layer L;
        L.K = (rng() % 3) ? 3 : 1;
        L.H = hw[rng() % 10];
        L.W = hw[rng() % 10];
        L.Cin = 1 + static_cast<int>(rng() % 200);
        if (rng() % 4 == 0) L.Cin = 32 * (1 + static_cast<int>(rng() % 4));
        L.Cout = 1 + static_cast<int>(rng() % 90);
        L.thr_en = rng() % 4 != 0;
        L.desc_frac = (rng() % 3) * 0.4;
        uint32_t lat = 1 + rng() % 24, wt = (rng() % 3) ? 0 : rng() % 400;
        lmq_set_timing(s.h, lat, wt, rng());
        char nm[128];
        std::snprintf(nm, sizeof nm, "rand%02d %dx%dx%d->%d k%d thr%d lat%u wait%u", i, L.H, L.W, L.Cin,
                      L.Cout, L.K, L.thr_en, lat, wt);
        L.name = nm;
        Result r = run_layer(s, L, rng);
        if (!r.ok) fails++;
    }
    // strips: several row strips with halo re-reads, raw and packed
    Layer st1{"strips 70x33x150->40 k3", 70, 33, 150, 40, 3};
    Layer st2{"strips 50x41x100->33 k1 raw", 50, 41, 100, 33, 1};
    st2.thr_en = false;
    Layer st3{"strips 29x66x190->70 k3 raw", 29, 66, 190, 70, 3};
    st3.thr_en = false;
    lmq_set_timing(s.h, 12, 150, seed);
    for (const Layer& L : {st1, st2, st3})
        if (!run_layer(s, L, rng).ok) fails++;
    lmq_set_timing(s.h, 8, 0, 1);
    std::printf("random layers: %d run, %d failed\n", n + 3, fails);
}

std::vector<Layer> model_layers() {
    // LmSinglePoseV1Quantize at 160x160 input: quantised convs (see fpga/README.md)
    return {
        {"80x80 128->32 3x3", 80, 80, 128, 32, 3},
        {"80x80 32->32 3x3", 80, 80, 32, 32, 3},
        {"40x40 128->32 3x3", 40, 40, 128, 32, 3},
        {"40x40 32->32 3x3", 40, 40, 32, 32, 3},
        {"20x20 128->64 3x3", 20, 20, 128, 64, 3},
        {"20x20 64->64 3x3", 20, 20, 64, 64, 3},
        {"10x10 256->128 3x3", 10, 10, 256, 128, 3},
        {"10x10 128->128 3x3", 10, 10, 128, 128, 3},
        {"5x5 512->256 3x3", 5, 5, 512, 256, 3},
        {"5x5 256->256 3x3", 5, 5, 256, 256, 3},
        {"lat 40x40 32->32 1x1", 40, 40, 32, 32, 1},
        {"lat 20x20 64->32 1x1", 20, 20, 64, 32, 1},
        {"lat 10x10 128->32 1x1", 10, 10, 128, 32, 1},
        {"lat 5x5 256->32 1x1", 5, 5, 256, 32, 1},
        {"td 40x40 64->32 3x3", 40, 40, 64, 32, 3},
        {"td 20x20 64->32 3x3", 20, 20, 64, 32, 3},
        {"td 10x10 64->32 3x3", 10, 10, 64, 32, 3},
    };
}

void test_model(Sim& s, uint32_t latency, uint32_t wait, uint32_t seed, const char* csv) {
    std::mt19937 rng(seed);
    lmq_set_timing(s.h, latency, wait, seed);
    FILE* f = csv ? std::fopen(csv, "w") : nullptr;
    if (f) std::fprintf(f, "layer,H,W,Cin,Cout,K,cycles,ms_at_100MHz,mac_cycles,load_cycles,stall_cycles,mac_util,ok\n");
    std::printf("\nDefault model, 160x160 input, SDRAM read latency %u, waitrequest %u/1000:\n", latency, wait);
    std::printf("%-24s %9s %9s %9s %8s %8s %7s %s\n", "layer", "cycles", "ms@100M", "MACcyc", "load", "stall",
                "util", "bit-exact");
    uint64_t tot = 0, tot_mac = 0, tot_load = 0;
    double tot_macs = 0;
    for (const Layer& L : model_layers()) {
        Result r = run_layer(s, L, rng);
        if (!fits(L)) {
            std::printf("%-24s does not fit this configuration: ERR_TILE %s\n", L.name.c_str(),
                        r.ok ? "as expected" : "MISSING");
            continue;
        }
        double ms = r.cycles / (kClockMHz * 1000.0);
        std::printf("%-24s %9u %9.3f %9u %8u %8u %6.1f%% %s\n", L.name.c_str(), r.cycles, ms, r.mac, r.load,
                    r.stall, 100.0 * mac_util(L, r.cycles), r.ok ? "yes" : "NO");
        if (f)
            std::fprintf(f, "%s,%d,%d,%d,%d,%d,%u,%.4f,%u,%u,%u,%.4f,%d\n", L.name.c_str(), L.H, L.W, L.Cin,
                         L.Cout, L.K, r.cycles, ms, r.mac, r.load, r.stall, mac_util(L, r.cycles), r.ok);
        tot += r.cycles;
        tot_mac += r.mac;
        tot_load += r.load;
        tot_macs += static_cast<double>(L.H) * L.W * L.K * L.K * L.Cin * L.Cout;
    }
    std::printf("%-24s %9" PRIu64 " %9.3f %9" PRIu64 " %8" PRIu64 " %8s %6.1f%%\n", "FRAME (sum)", tot,
                tot / (kClockMHz * 1000.0), tot_mac, tot_load, "", 100.0 * tot_macs / (tot * double(kMacsPerCycle)));
    std::printf("frame MACs %.1f M; target <= 8 ms: %s\n", tot_macs / 1e6, tot <= 800000 ? "met" : "MISSED");
    // published anchor shape (ikwzm QCONV-STRIP: 160x160x32 -> 8, 3x3), not part of the frame
    Layer anchor{"anchor 160x160 32->8 3x3", 160, 160, 32, 8, 3};
    if (fits(anchor)) {
        Result r = run_layer(s, anchor, rng);
        std::printf("%-24s %9u %9.3f %9u %8u %8u %6.1f%% %s\n", anchor.name.c_str(), r.cycles,
                    r.cycles / (kClockMHz * 1000.0), r.mac, r.load, r.stall, 100.0 * mac_util(anchor, r.cycles),
                    r.ok ? "yes" : "NO");
        if (f)
            std::fprintf(f, "%s,%d,%d,%d,%d,%d,%u,%.4f,%u,%u,%u,%.4f,%d\n", anchor.name.c_str(), anchor.H, anchor.W,
                         anchor.Cin, anchor.Cout, anchor.K, r.cycles, r.cycles / (kClockMHz * 1000.0), r.mac, r.load,
                         r.stall, mac_util(anchor, r.cycles), r.ok);
    }
    if (f) std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
    bool quick = false, frame_only = false;
    uint32_t seed = 1, latency = 10, wait = 0;
    int nrand = 60;
    const char* csv = nullptr;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto next = [&]() { return i + 1 < argc ? argv[++i] : "0"; };
        if (a == "--quick") quick = true;
        else if (a == "--frame-only") frame_only = true;
        else if (a == "--seed") seed = static_cast<uint32_t>(std::strtoul(next(), nullptr, 0));
        else if (a == "--random") nrand = std::atoi(next());
        else if (a == "--latency") latency = static_cast<uint32_t>(std::atoi(next()));
        else if (a == "--wait") wait = static_cast<uint32_t>(std::atoi(next()));
        else if (a == "--csv") csv = next();
        else {
            std::fprintf(stderr, "usage: %s [--quick] [--frame-only] [--seed N] [--random N] [--latency L] "
                                 "[--wait P] [--csv FILE]\n", argv[0]);
            return 2;
        }
    }
    Sim s;
    if (!s.h) {
        std::fprintf(stderr, "lmq_new failed\n");
        return 1;
    }
    if (!frame_only) {
        test_registers(s);
        std::printf("registers: ok so far (%d failures)\n", g_fail);
        test_bad_geometry(s);
        std::printf("bad geometry/tile/alignment: done (%d failures)\n", g_fail);
        test_start_busy(s);
        test_soft_reset(s);
        std::printf("soft reset / start-while-busy: done (%d failures)\n", g_fail);
        test_bus_faults(s);
        std::printf("bus error / timeout: done (%d failures)\n", g_fail);
        test_prefetch(s);
        std::printf("prefetch (load/compute overlap): done (%d failures)\n", g_fail);
        test_random(s, quick ? 15 : nrand, seed);
    }
    test_model(s, latency, wait, seed, csv);
    uint64_t proto = lmq_stat(s.h, 5) - g_proto_waived;
    CHECK(proto == 0, "%" PRIu64 " Avalon protocol violations (request withdrawn/changed under waitrequest)", proto);
    std::printf("\n%d checks, %d failures, %" PRIu64 " cycles simulated\n", g_checks, g_fail, lmq_step(s.h, 0));
    return g_fail ? 1 : 0;
}
