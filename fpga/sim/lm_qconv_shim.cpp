// lm_qconv_shim.cpp -- C ABI around the Verilator model (see lm_qconv_shim.h).
#include "lm_qconv_shim.h"

#include <cstring>
#include <deque>
#include <new>

#include "Vlm_qconv_top.h"
#include "verilated.h"

namespace {

struct ReadResp {
    uint64_t due;
    uint64_t data;
    uint8_t resp;
};

struct Lmq {
    VerilatedContext ctx;
    Vlm_qconv_top* top = nullptr;
    uint8_t* mem = nullptr;
    size_t len = 0;
    uint32_t base = 0;
    uint64_t cycle = 0;
    uint32_t latency = 8;
    uint32_t wait_permille = 0;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    uint32_t fault_kind = 0, fault_lo = 0, fault_hi = 0;
    std::deque<ReadResp> rdq;
    uint64_t st_rd = 0, st_wr = 0, st_drop = 0, st_wait = 0, st_proto = 0;
    // Avalon-MM protocol check: a request held off by waitrequest must be repeated unchanged
    bool rd_held = false, wr_held = false;
    uint32_t held_rd_addr = 0, held_rd_bc = 0, held_wr_addr = 0;
    uint64_t held_wr_data = 0;
    uint8_t held_wr_be = 0;

    uint32_t rand32() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return static_cast<uint32_t>(rng >> 11);
    }
    bool in_buf(uint32_t addr, uint32_t n) const {
        uint64_t off = static_cast<uint64_t>(addr) - base;
        return addr >= base && off + n <= len;
    }
    bool in_fault(uint32_t addr) const { return addr >= fault_lo && addr < fault_hi; }

    void tick() {
        // 1. slave-side inputs for this cycle
        bool rd_wait = wait_permille && (rand32() % 1000) < wait_permille;
        bool wr_wait = wait_permille && (rand32() % 1000) < wait_permille;
        if (fault_kind == 2 && top->avm_rd_read) {
            uint32_t a0 = top->avm_rd_address, n = top->avm_rd_burstcount ? top->avm_rd_burstcount : 1;
            for (uint32_t i = 0; i < n; i++)
                if (in_fault(a0 + 8 * i)) rd_wait = true;
        }
        top->avm_rd_waitrequest = rd_wait;
        top->avm_wr_waitrequest = wr_wait;
        if (!rdq.empty() && rdq.front().due <= cycle) {
            top->avm_rd_readdatavalid = 1;
            top->avm_rd_readdata = rdq.front().data;
            top->avm_rd_response = rdq.front().resp;
            rdq.pop_front();
        } else {
            top->avm_rd_readdatavalid = 0;
            top->avm_rd_response = 0;
        }
        top->clk = 0;
        top->eval();
        // 2. sample the masters' requests (what the posedge will see)
        if (!top->reset) {
            if (rd_held && (!top->avm_rd_read || top->avm_rd_address != held_rd_addr ||
                            top->avm_rd_burstcount != held_rd_bc))
                st_proto++;
            if (wr_held && (!top->avm_wr_write || top->avm_wr_address != held_wr_addr ||
                            top->avm_wr_writedata != held_wr_data || top->avm_wr_byteenable != held_wr_be))
                st_proto++;
        }
        rd_held = top->avm_rd_read && rd_wait;
        held_rd_addr = top->avm_rd_address;
        held_rd_bc = top->avm_rd_burstcount;
        wr_held = top->avm_wr_write && wr_wait;
        held_wr_addr = top->avm_wr_address;
        held_wr_data = top->avm_wr_writedata;
        held_wr_be = top->avm_wr_byteenable;
        if (top->avm_rd_read) {
            if (rd_wait) {
                st_wait++;
            } else {
                uint32_t a0 = top->avm_rd_address & ~7u;
                uint32_t bc = top->avm_rd_burstcount ? top->avm_rd_burstcount : 1;
                for (uint32_t i = 0; i < bc; i++) {  // burst: bc beats, in order
                    uint32_t a = a0 + 8 * i;
                    ReadResp r{cycle + latency, 0xDEADBEEFDEADBEEFull, 2};
                    if (in_buf(a, 8) && !(fault_kind == 1 && in_fault(a))) {
                        std::memcpy(&r.data, mem + (a - base), 8);  // little-endian host
                        r.resp = 0;
                    }
                    rdq.push_back(r);
                    st_rd++;
                }
            }
        }
        if (top->avm_wr_write) {
            if (wr_wait) {
                st_wait++;
            } else {
                uint32_t a = top->avm_wr_address & ~7u;
                uint64_t d = top->avm_wr_writedata;
                uint8_t be = top->avm_wr_byteenable;
                if (in_buf(a, 8)) {
                    for (int i = 0; i < 8; i++)
                        if (be & (1u << i)) mem[a - base + i] = static_cast<uint8_t>(d >> (8 * i));
                } else {
                    st_drop++;
                }
                st_wr++;
            }
        }
        // 3. clock edge
        top->clk = 1;
        top->eval();
        cycle++;
    }
};

Lmq* H(void* h) { return static_cast<Lmq*>(h); }

}  // namespace

extern "C" {

void* lmq_new(uint8_t* sdram, size_t sdram_len) {
    Lmq* s = new (std::nothrow) Lmq();
    if (!s) return nullptr;
    s->ctx.randReset(0);
    s->top = new (std::nothrow) Vlm_qconv_top(&s->ctx, "lm_qconv_top");
    if (!s->top) {
        delete s;
        return nullptr;
    }
    s->mem = sdram;
    s->len = sdram_len;
    s->top->avs_read = 0;
    s->top->avs_write = 0;
    lmq_reset(s);
    return s;
}

void lmq_free(void* h) {
    if (!h) return;
    Lmq* s = H(h);
    s->top->final();
    delete s->top;
    delete s;
}

void lmq_reset(void* h) {
    Lmq* s = H(h);
    s->top->reset = 1;
    for (int i = 0; i < 4; i++) s->tick();
    s->top->reset = 0;
    s->rdq.clear();
    s->tick();
}

uint32_t lmq_read(void* h, uint32_t offset) {
    Lmq* s = H(h);
    s->top->avs_address = (offset >> 2) & 0x3f;
    s->top->avs_read = 1;
    s->tick();
    s->top->avs_read = 0;
    return s->top->avs_readdata;  // read latency 1: registered at this edge
}

void lmq_write(void* h, uint32_t offset, uint32_t value) {
    Lmq* s = H(h);
    s->top->avs_address = (offset >> 2) & 0x3f;
    s->top->avs_writedata = value;
    s->top->avs_write = 1;
    s->tick();
    s->top->avs_write = 0;
}

uint64_t lmq_step(void* h, uint64_t cycles) {
    Lmq* s = H(h);
    for (uint64_t i = 0; i < cycles; i++) s->tick();
    return s->cycle;
}

int lmq_irq(void* h) { return H(h)->top->irq ? 1 : 0; }

void lmq_set_phys_base(void* h, uint32_t phys_base) { H(h)->base = phys_base; }

void lmq_set_timing(void* h, uint32_t read_latency, uint32_t wait_permille, uint32_t seed) {
    Lmq* s = H(h);
    s->latency = read_latency ? read_latency : 1;
    s->wait_permille = wait_permille > 1000 ? 1000 : wait_permille;
    s->rng = 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(seed) * 0x100000001B3ull);
    if (!s->rng) s->rng = 1;
}

void lmq_set_fault(void* h, uint32_t kind, uint32_t lo, uint32_t hi) {
    Lmq* s = H(h);
    s->fault_kind = kind;
    s->fault_lo = lo;
    s->fault_hi = hi;
}

uint64_t lmq_stat(void* h, uint32_t which) {
    Lmq* s = H(h);
    switch (which) {
        case 0: return s->cycle;
        case 1: return s->st_rd;
        case 2: return s->st_wr;
        case 3: return s->st_drop;
        case 4: return s->st_wait;
        case 5: return s->st_proto;
        default: return 0;
    }
}

}  // extern "C"
