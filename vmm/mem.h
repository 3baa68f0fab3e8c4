/* SPDX-License-Identifier: MIT */
/*
 * mem.h: guest RAM. Owns the RAM memfd (handed to the new VMM on a live
 * update), its one host mapping, the guest-physical layout and the KVM
 * memslots that expose it.
 *
 * Layout: RAM below 4 GiB stops at MEM_LOW_MAX (the MMIO hole holds the
 * IOAPIC, LAPIC and device BARs); the rest starts at MEM_HIGH_BASE. Both
 * parts live in one memfd, low part first. Memslots are cut at most
 * MEM_SLOT_MAX long, with a small first "boot" slot, so a restored VM can
 * register the slot a vCPU needs first and the others later.
 */
#ifndef LUVMM_MEM_H
#define LUVMM_MEM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

#define MEM_LOW_MAX	(3ULL * GiB)
#define MEM_HIGH_BASE	(4ULL * GiB)
#define MEM_BOOT_SLOT	(4ULL * MiB)
#define MEM_SLOT_MAX	(1ULL * GiB)
#define MEM_MAX_SLOTS	1100	/* 1 TiB in 1 GiB slots plus the cut ones */
#define MEM_MIN_SIZE	(2ULL * MiB)
#define MEM_MAX_SIZE	(1024ULL * GiB)

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t offset;	/* into the memfd */
};

struct mem_slot {
	uint64_t gpa;
	uint64_t size;
	uint64_t offset;	/* into the memfd */
	atomic_bool registered;	/* KVM has it (exec mode registers late) */
};

struct mem {
	int fd;			/* RAM memfd, -1 if none */
	uint64_t size;		/* bytes of guest RAM */
	bool hugetlb;
	uint8_t *host;		/* MAP_SHARED mapping of the whole memfd */
	unsigned nregions;
	struct mem_region regions[2];
	unsigned nslots;
	struct mem_slot *slots;
};

/*
 * Create a RAM memfd of `size` bytes (sparse: nothing is allocated up
 * front) and map it. With hugetlb the memfd uses 2 MiB pages and the
 * mapping reserves them, so a host without enough free huge pages fails
 * here, with -ENOMEM, rather than at a guest access. -EINVAL for a size
 * that is not a multiple of the page size or outside [MEM_MIN_SIZE,
 * MEM_MAX_SIZE]; -E2BIG when it exceeds what this host could ever back.
 * A one-line reason is left in err.
 */
int __must_check mem_init(struct mem *m, uint64_t size, bool hugetlb,
			  char *err, size_t errlen);
/* Adopt an existing RAM memfd (live update): checks its size and type. */
int __must_check mem_init_from_fd(struct mem *m, int fd, uint64_t size,
				  bool hugetlb, char *err, size_t errlen);
/* Unmap and close; accepts a zeroed or half-built mem. */
void mem_fini(struct mem *m);

/* Host address of [gpa, gpa+len) if it lies inside one RAM region, else
 * NULL. Safe against overflow; callable from any thread. */
void *mem_gpa_to_hva(const struct mem *m, uint64_t gpa, uint64_t len);
/* Is [gpa, gpa+len) entirely guest RAM? */
bool mem_is_ram(const struct mem *m, uint64_t gpa, uint64_t len);

/* Register memslot i (KVM slot id i) with KVM. */
int __must_check mem_slot_register(struct mem *m, int vm_fd, unsigned i);
/* Register every slot not yet registered. */
int __must_check mem_register_all(struct mem *m, int vm_fd);
/* Index of the slot holding gpa, or -ENOENT. */
int mem_slot_find(const struct mem *m, uint64_t gpa);
/* Bytes of guest RAM below 4 GiB / above it. */
uint64_t mem_low_size(const struct mem *m);
uint64_t mem_high_size(const struct mem *m);

#endif
