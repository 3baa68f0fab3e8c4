/* SPDX-License-Identifier: MIT */
/*
 * maplog.h: the map log, the list of IOMMU mappings the guest asked for
 * and still holds. It is what a live update replays: the new VMM rebuilds
 * its IOAS and HWPT by making the same map calls again, in IOVA order.
 *
 * The log lives in its own memfd, handed over by name ("iommu-maplog"), so
 * the blackout record stays small whatever the number of mappings: 1 or
 * 100k mappings cost the blackout the same. Layout (little-endian,
 * docs/state-format.md "The map log"):
 *   page 0: struct maplog_header
 *   from MAPLOG_ENTRIES_OFFSET: count entries of struct maplog_entry,
 *     in no particular order (a removal moves the last entry into the hole)
 * The memfd is sized for `capacity` entries up front (sparse). An entry is
 * written before the count that covers it (release), so a reader that
 * acquires the count never sees a half-written entry.
 *
 * The writer is one thread at a time (the caller locks); the old VMM never
 * writes once its vCPUs are parked for an update, so the new VMM reads a
 * quiet log, with maplog_read(), which treats it as hostile input.
 */
#ifndef LUVMM_IOMMU_MAPLOG_H
#define LUVMM_IOMMU_MAPLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../compiler.h"
#include "iova_tree.h"

#define MAPLOG_MAGIC		0x50414d4cU	/* "LMAP" */
#define MAPLOG_VERSION		1
#define MAPLOG_ENTRIES_OFFSET	4096
#define MAPLOG_DEFAULT_CAP	(1u << 20)	/* mappings a VM may hold */
#define MAPLOG_MAX_CAP		(1u << 24)

/* Which file a mapping targets. */
#define MAPLOG_FILE_RAM		0	/* the guest-RAM memfd */

struct maplog_header {
	uint32_t magic;		/* MAPLOG_MAGIC */
	uint16_t version;	/* MAPLOG_VERSION */
	uint16_t entry_size;	/* sizeof(struct maplog_entry) */
	uint64_t capacity;	/* entries the memfd has room for */
	uint64_t count;		/* entries in use (release-stored) */
	uint64_t changes;	/* maps + unmaps ever applied */
	uint8_t reserved[32];	/* 0 */
};
_Static_assert(sizeof(struct maplog_header) == 64, "maplog_header is 64 bytes");

struct maplog_entry {
	uint64_t iova;
	uint64_t length;
	uint64_t offset;	/* into the file */
	uint32_t file;		/* MAPLOG_FILE_* */
	uint32_t prot;		/* IOMMU_PROT_* */
};
_Static_assert(sizeof(struct maplog_entry) == 32, "maplog_entry is 32 bytes");

struct maplog;

/* A new, empty log in a new memfd with room for `capacity` entries
 * (1 .. MAPLOG_MAX_CAP). */
int __must_check maplog_create(uint64_t capacity, struct maplog **out);
/*
 * Read a log another VMM wrote, from its memfd (hostile input): check the
 * memfd (shrink-sealed, large enough), the header, and every entry
 * (page-aligned, inside the 48-bit IOVA space and the ram_bytes of guest
 * RAM, known file and prot), and copy the entries into private memory
 * sorted by IOVA, checking that none overlap. The new VMM replays that copy
 * into a log of its own, so it never trusts the shared pages again.
 * 0 with *entries (free()) and *n; -EBADMSG with a one-line reason in err;
 * -ENOMEM.
 */
int __must_check maplog_read(int fd, uint64_t ram_bytes,
			     struct maplog_entry **entries, uint64_t *n,
			     char *err, size_t errlen);
void maplog_destroy(struct maplog *l);
int maplog_fd(const struct maplog *l);

/* Record a mapping. -EEXIST if it overlaps one, -ENOSPC when full,
 * -EINVAL for an unaligned or empty range. */
int __must_check maplog_add(struct maplog *l, const struct maplog_entry *e);
/*
 * Fill an empty log with e[0..n) at once, in O(n): what n maplog_add()
 * calls would record, for entries in IOVA order without overlaps (what
 * maplog_read() returns). -EBUSY if the log is not empty, -ENOSPC if n
 * exceeds its capacity, -EINVAL for a bad entry or one out of order or
 * overlapping; on error nothing changes.
 */
int __must_check maplog_load(struct maplog *l, const struct maplog_entry *e,
			     uint64_t n);
/*
 * Drop every mapping inside [iova, iova + length). One lying partly
 * inside: -ENOENT and nothing changes (the same rule as the IOMMU's
 * unmap); none inside: -ENOENT. *removed gets the bytes dropped.
 */
int __must_check maplog_remove(struct maplog *l, uint64_t iova, uint64_t length,
			       uint64_t *removed);
uint64_t maplog_count(const struct maplog *l);
/* No room for another entry. */
bool maplog_full(const struct maplog *l);
uint64_t maplog_changes(const struct maplog *l);

/*
 * Call fn for every mapping in IOVA order; stops at the first nonzero
 * value fn returns and returns it.
 */
int maplog_for_each(const struct maplog *l,
		    int (*fn)(void *arg, const struct maplog_entry *e), void *arg);

#endif
