/* SPDX-License-Identifier: MIT */
/*
 * slots.h: the device simulator's physical memory: the phys slots
 * (softhw.h, iopt.h) the VMM registered, guest RAM mapped read-write and
 * I/O page-table pools mapped read-only, and the two resolvers the DMA
 * engine uses on them: one that reaches only pool slots (for the table
 * walker, so a bad table can never make it read RAM) and one that reaches
 * only RAM slots (for the data).
 *
 * Locking: the main thread adds and removes slots under the write lock;
 * the engine holds the read lock while it translates and moves the data
 * of one job, so a slot is never unmapped under a running job.
 */
#ifndef LUVMM_DEVSIM_SLOTS_H
#define LUVMM_DEVSIM_SLOTS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../vmm/compiler.h"
#include "../vmm/iommu/iopt.h"

#define SLOTS_MAX	64	/* slots mapped at once (a pool reserves
				   IOPT_SLOT_SIZE of address space) */

struct slot;

struct slots {
	pthread_rwlock_t lock;
	unsigned int count;			/* slots mapped */
	struct slot *tab[IOPT_SLOT_MAX + 1];	/* by slot number */
};

/* Empty table: 0 or -errno (the lock's). */
int __must_check slots_init(struct slots *s);
/* Unmap every slot. Nobody may use s any more. Accepts a half-built s. */
void slots_fini(struct slots *s);

/*
 * Map memfd fd (the caller keeps it) as slot number `slot` of `kind`
 * (enum softhw_slot_kind). -EINVAL: slot > IOPT_SLOT_MAX, unknown kind, fd
 * not a memfd, RAM of size 0, not a 4 KiB multiple or above IOPT_SLOT_SIZE,
 * a pool that is not shrink-sealed; -EEXIST slot taken; -ENOSPC SLOTS_MAX
 * reached; else mmap's error. Main thread only.
 */
int __must_check slots_add(struct slots *s, uint32_t slot, uint32_t kind,
			   int fd);
/* Unmap slot `slot`: 0, -ENOENT not mapped, -EINVAL out of range. */
int __must_check slots_del(struct slots *s, uint32_t slot);
unsigned int slots_count(struct slots *s);

/* The engine's read side: hold it across translate + data access. */
void slots_read_lock(struct slots *s);
void slots_read_unlock(struct slots *s);

/* Resolves table PAs in pool slots only (ctx: the struct slots). */
extern const struct iopt_mem_ops slots_pool_ops;

/*
 * Host pointer to [pa, pa + len) in a RAM slot, or NULL if any of it lies
 * outside one (unknown slot, a pool, beyond the size mapped). Read lock
 * held. The memory may still vanish if the VMM shrinks the memfd: access
 * it under the engine's SIGBUS guard.
 */
void *slots_ram_ptr(struct slots *s, uint64_t pa, size_t len);

#endif
