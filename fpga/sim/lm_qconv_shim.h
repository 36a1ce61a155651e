/* lm_qconv_shim.h -- C ABI around the Verilator model of lm_qconv_top.
 *
 * One handle = one simulated accelerator plus an SDRAM model. The SDRAM is the
 * caller-owned byte buffer passed to lmq_new(): bus (physical) address A maps to
 * sdram[A - phys_base], phys_base = 0 unless changed with lmq_set_phys_base().
 * Reads outside the buffer return an Avalon SLAVEERROR response; writes outside
 * it are dropped (and counted, see lmq_stat()).
 *
 * CSR accesses (lmq_read/lmq_write) take byte offsets into the register map
 * (fpga/REGMAP.md) and advance the clock by one cycle each, as a real bus access
 * would. lmq_step() advances the clock; the job runs only while the clock does.
 * Not thread-safe; one handle per thread.
 */
#ifndef LM_QCONV_SHIM_H
#define LM_QCONV_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Create a model (held in reset for a few cycles, then released). sdram must
 * outlive the handle. Returns NULL on allocation failure. */
void* lmq_new(uint8_t* sdram, size_t sdram_len);
void lmq_free(void* h);

/* 32-bit CSR read/write at a byte offset (multiple of 4). */
uint32_t lmq_read(void* h, uint32_t offset);
void lmq_write(void* h, uint32_t offset, uint32_t value);

/* Advance the clock by `cycles`; returns the total number of cycles simulated
 * since lmq_new(). */
uint64_t lmq_step(void* h, uint64_t cycles);

/* Level of the interrupt output (1 = asserted). */
int lmq_irq(void* h);

/* ---- optional controls (defaults: base 0, latency 8, no waitrequest) ---- */

/* Physical address that maps to sdram[0]. */
void lmq_set_phys_base(void* h, uint32_t phys_base);

/* SDRAM timing: read latency in cycles (>= 1) from accepted request to
 * readdatavalid; waitrequest asserted on each master with probability
 * wait_permille/1000 per cycle (pseudo-random, seeded). */
void lmq_set_timing(void* h, uint32_t read_latency, uint32_t wait_permille, uint32_t seed);

/* Fault injection on [lo, hi) bus addresses: kind 0 = none, 1 = reads return
 * SLAVEERROR, 2 = reads are never accepted (waitrequest stuck high). */
void lmq_set_fault(void* h, uint32_t kind, uint32_t lo, uint32_t hi);

/* Pulse the hardware reset input for a few cycles. */
void lmq_reset(void* h);

/* Counters: 0 = cycles, 1 = read beats, 2 = write beats, 3 = writes dropped
 * (outside the buffer), 4 = waitrequest cycles, 5 = Avalon protocol violations
 * (a request held off by waitrequest was withdrawn or changed). */
uint64_t lmq_stat(void* h, uint32_t which);

#ifdef __cplusplus
}
#endif

#endif /* LM_QCONV_SHIM_H */
