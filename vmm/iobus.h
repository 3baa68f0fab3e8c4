/* SPDX-License-Identifier: MIT */
/*
 * iobus.h: guest port-I/O and MMIO dispatch.
 *
 * A bus is a sorted table of non-overlapping ranges, each with a handler.
 * Devices register their ranges in their create op; vCPU threads look a
 * range up on every PIO/MMIO exit. Registration takes the bus lock for
 * writing, lookups for reading (lock order: vm -> device -> iobus; handlers
 * are called after the bus lock is dropped).
 */
#ifndef LUVMM_IOBUS_H
#define LUVMM_IOBUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

/*
 * Handle an access of len bytes (1, 2, 4 or 8) at offset `off` from the
 * range's base. For a read the handler fills data[0..len); for a write it
 * consumes it. Called on a vCPU thread; must not block for long.
 */
typedef void (*iobus_fn)(void *priv, uint64_t off, uint8_t *data,
			 uint32_t len, bool is_write);

struct iobus_range {
	uint64_t base;
	uint64_t len;
	iobus_fn fn;
	void *priv;
	const char *name;
};

struct iobus {
	const char *name;	/* "pio" or "mmio", for messages */
	pthread_rwlock_t lock;
	unsigned n, cap;
	struct iobus_range *r;	/* sorted by base */
	uint64_t unhandled;	/* accesses that hit no range */
};

int __must_check iobus_init(struct iobus *bus, const char *name);
void iobus_fini(struct iobus *bus);
/* Add [base, base+len). -EEXIST if it overlaps a registered range,
 * -EINVAL for len 0 or wrap-around. */
int __must_check iobus_register(struct iobus *bus, uint64_t base, uint64_t len,
				iobus_fn fn, void *priv, const char *name);
/* Remove the range starting at base registered with priv; -ENOENT. */
int iobus_unregister(struct iobus *bus, uint64_t base, void *priv);
/*
 * Dispatch one access. Returns true if a range handled it; an unhandled
 * read returns all-ones bytes (like an empty ISA bus) and an unhandled
 * write is dropped.
 */
bool iobus_access(struct iobus *bus, uint64_t addr, uint8_t *data,
		  uint32_t len, bool is_write);

#endif
