/* SPDX-License-Identifier: MIT */
/*
 * crc32c.h: CRC-32C (Castagnoli), the checksum of the live-update state
 * record trailer (docs/state-format.md).
 *
 * Parameters: reflected polynomial 0x82F63B78 (0x1EDC6F41 normal form),
 * initial value 0xFFFFFFFF, input and output reflected, final xor
 * 0xFFFFFFFF; crc32c(0, "123456789", 9) == 0xE3069283.
 *
 * crc32c() uses the SSE4.2 crc32 instruction when the CPU has it, else a
 * table-driven software version. All functions are thread-safe; the tables
 * are built once, on first use or by crc32c_init().
 */
#ifndef LUVMM_LIVEUPDATE_CRC32C_H
#define LUVMM_LIVEUPDATE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32C of buf[0..len). Pass 0 as crc for a fresh checksum, or the result
 * of a previous call to continue it over more bytes:
 * crc32c(crc32c(0, a, n), b, m) == CRC of a followed by b.
 * buf may be NULL only when len is 0.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* Build the tables now (optional: moves the one-time cost out of a hot path). */
void crc32c_init(void);

/* The two implementations, exposed for tests and measurements. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* Precondition: crc32c_hw_available(). */
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
bool crc32c_hw_available(void);

#endif
