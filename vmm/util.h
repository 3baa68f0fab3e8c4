/* SPDX-License-Identifier: MIT */
/*
 * util.h: small helpers with no owner of their own: number and size
 * parsing for the command line, monotonic time, and fd I/O that retries.
 */
#ifndef LUVMM_UTIL_H
#define LUVMM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "compiler.h"

/*
 * Parse a size: decimal or 0x-hex digits with an optional K, M, G or T
 * suffix (binary units; "KiB"-style and trailing "B" accepted). Rejects
 * empty strings, signs, trailing junk and overflow with -EINVAL/-ERANGE.
 */
int __must_check util_parse_size(const char *s, uint64_t *out);
/* Parse an unsigned integer (decimal or 0x-hex) in [min, max]. */
int __must_check util_parse_u64(const char *s, uint64_t min, uint64_t max,
				uint64_t *out);

/* CLOCK_MONOTONIC in nanoseconds / microseconds. */
uint64_t util_now_ns(void);
static inline uint64_t util_now_us(void)
{
	return util_now_ns() / 1000;
}

/* write()/read() the whole buffer, retrying on EINTR and short counts.
 * Return 0 or -errno; read_all returns -EPIPE on early EOF. */
int __must_check util_write_all(int fd, const void *buf, size_t len);
int __must_check util_read_all(int fd, void *buf, size_t len);

/* Close fd if it is >= 0 and set it to -1. */
void util_close(int *fd);

/* Format a byte count as "256M", "16G", "4096" into buf. */
const char *util_fmt_size(uint64_t bytes, char *buf, size_t cap);

#endif
