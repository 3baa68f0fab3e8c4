// SPDX-License-Identifier: MIT
/*
 * crc32c.c: CRC-32C for the state record trailer. Owns the lookup tables
 * and the choice between the SSE4.2 instruction and the software version.
 *
 * Both versions work on the "raw" register (no inversion); the public
 * functions invert on entry and exit, which makes results chainable.
 *
 * x86-64 only for now: an arm64 port would add its own hardware path
 * (the ARMv8 crc32c instructions) in a crc32c_arm64.c picked by the Makefile.
 */
#ifndef __x86_64__
#error "crc32c.c: the hardware path is x86-64 only; add an arch file"
#endif

#include <endian.h>
#include <nmmintrin.h>
#include <pthread.h>
#include <string.h>

#include "../compiler.h"
#include "crc32c.h"

#define CRC32C_POLY	0x82F63B78u	/* reflected 0x1EDC6F41 */

/*
 * The hardware path runs three independent crc32 streams over adjacent
 * LANE-byte blocks (the instruction has a latency of 3 cycles and a
 * throughput of 1 per cycle) and merges them with shift_tab.
 */
#define LANE		256

static pthread_once_t hw_once = PTHREAD_ONCE_INIT;
static pthread_once_t sw_once = PTHREAD_ONCE_INIT;
static bool have_sse42;
/* sw_tab[t][b]: register b advanced over one byte, then t zero bytes. */
static uint32_t sw_tab[8][256];
/* shift_tab[k][b]: register (b << 8k) advanced over LANE zero bytes. */
static uint32_t shift_tab[4][256];

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void build_sw_tables(void)
{
	unsigned int i, t, bit;

	for (i = 0; i < 256; i++) {
		uint32_t c = i;

		for (bit = 0; bit < 8; bit++)
			c = (c >> 1) ^ (CRC32C_POLY & -(c & 1));
		sw_tab[0][i] = c;
	}
	for (t = 1; t < 8; t++)
		for (i = 0; i < 256; i++)
			sw_tab[t][i] = (sw_tab[t - 1][i] >> 8) ^
				       sw_tab[0][sw_tab[t - 1][i] & 0xff];
}

/*
 * The shift over LANE zero bytes is linear over GF(2): advance each of the
 * 32 basis bits with the instruction, then fill each table entry from an
 * entry with one bit fewer.
 */
__attribute__((target("sse4.2")))
static void build_shift_tables(void)
{
	uint32_t basis[32];
	unsigned int i, k, bit;

	for (bit = 0; bit < 32; bit++) {
		uint64_t c = 1u << bit;

		for (i = 0; i < LANE; i += 8)
			c = _mm_crc32_u64(c, 0);
		basis[bit] = (uint32_t)c;
	}
	for (k = 0; k < 4; k++) {
		shift_tab[k][0] = 0;
		for (i = 1; i < 256; i++)
			shift_tab[k][i] = shift_tab[k][i & (i - 1)] ^
					  basis[8 * k + __builtin_ctz(i)];
	}
}

static void hw_setup(void)
{
	__builtin_cpu_init();
	have_sse42 = __builtin_cpu_supports("sse4.2");
	if (have_sse42)
		build_shift_tables();
}

void crc32c_init(void)
{
	pthread_once(&hw_once, hw_setup);
	if (!have_sse42)
		pthread_once(&sw_once, build_sw_tables);
}

bool crc32c_hw_available(void)
{
	pthread_once(&hw_once, hw_setup);
	return have_sse42;
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	pthread_once(&sw_once, build_sw_tables);
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v = load_le64(p) ^ c;

		c = sw_tab[7][v & 0xff] ^ sw_tab[6][(v >> 8) & 0xff] ^
		    sw_tab[5][(v >> 16) & 0xff] ^ sw_tab[4][(v >> 24) & 0xff] ^
		    sw_tab[3][(v >> 32) & 0xff] ^ sw_tab[2][(v >> 40) & 0xff] ^
		    sw_tab[1][(v >> 48) & 0xff] ^ sw_tab[0][v >> 56];
	}
	while (len--)
		c = (c >> 8) ^ sw_tab[0][(c ^ *p++) & 0xff];
	return ~c;
}

static inline uint32_t shift_lane(uint32_t c)
{
	return shift_tab[0][c & 0xff] ^ shift_tab[1][(c >> 8) & 0xff] ^
	       shift_tab[2][(c >> 16) & 0xff] ^ shift_tab[3][c >> 24];
}

__attribute__((target("sse4.2")))
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c0 = (uint32_t)~crc;

	pthread_once(&hw_once, hw_setup);
	for (; len >= 3 * LANE; p += 3 * LANE, len -= 3 * LANE) {
		uint64_t c1 = 0, c2 = 0;
		size_t i;

		for (i = 0; i < LANE; i += 8) {
			c0 = _mm_crc32_u64(c0, load_le64(p + i));
			c1 = _mm_crc32_u64(c1, load_le64(p + LANE + i));
			c2 = _mm_crc32_u64(c2, load_le64(p + 2 * LANE + i));
		}
		/* crc(r, A B C) = shift(shift(crc(r, A)) ^ crc(0, B)) ^ crc(0, C) */
		c0 = shift_lane(shift_lane((uint32_t)c0) ^ (uint32_t)c1) ^
		     (uint32_t)c2;
	}
	for (; len >= 8; p += 8, len -= 8)
		c0 = _mm_crc32_u64(c0, load_le64(p));
	while (len--)
		c0 = _mm_crc32_u8((uint32_t)c0, *p++);
	return ~(uint32_t)c0;
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (likely(crc32c_hw_available()))
		return crc32c_hw(crc, buf, len);
	return crc32c_sw(crc, buf, len);
}
