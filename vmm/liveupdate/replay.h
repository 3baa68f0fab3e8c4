/* SPDX-License-Identifier: MIT */
/*
 * replay.h: rebuilding the IOMMU state after a live update, off the
 * critical path (docs/iommu.md "Replay").
 *
 * The device keeps doing DMA through the tables the old VMM built. The new
 * VMM replays the map log into a new IOAS and HWPT with the same calls it
 * makes at boot, checks that the new tables translate every IOVA exactly
 * like the live ones (same target, permissions and page size: break-
 * before-make forbids anything else), then moves the device over in one
 * atomic replace and frees the old tables only after the device
 * acknowledged the move.
 *
 * A mismatch in page size is a layout difference (another build coalesces
 * differently): the replay retries with the layout flags the old tables
 * may have used (IOMMU_HWPT_MAX_2M, then _MAX_4K). A mismatch in target or
 * permissions, or no layout that matches, keeps the old tables: the
 * device goes on with them and the caller reports the reason.
 */
#ifndef LUVMM_LIVEUPDATE_REPLAY_H
#define LUVMM_LIVEUPDATE_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "../iommu/iommu.h"
#include "../iommu/maplog.h"

struct replay_params {
	struct iommu *io;
	uint32_t dev_id;
	uint32_t old_hwpt;	/* the live tables the device is attached to */
	uint32_t old_ioas;	/* their IOAS, or 0 (soft: adopted tables) */
	int ram_fd;		/* MAPLOG_FILE_RAM */
	const struct maplog_entry *entries;	/* sorted by IOVA */
	uint64_t n;
	uint32_t flags;		/* layout flags to try first (IOMMU_HWPT_*) */
	/* test-only: "target" maps the first one-page read-write entry one
	 * page off, "prot" makes it read-only (a replay that is wrong, not
	 * just laid out differently) */
	const char *corrupt;
};

struct replay_result {
	int status;		/* 0: swapped; <0: kept the old tables */
	bool validated;		/* tables compared (false: backend cannot) */
	uint32_t ioas, hwpt;	/* the objects the device uses now */
	uint32_t flags;		/* layout flags of the tables built */
	unsigned int attempts;	/* layouts tried */
	struct iopt_mismatch mismatch;	/* the last difference found */
	bool mismatched;
	uint64_t replay_ns, validate_ns, swap_ns, free_ns;
	char reason[192];
};

/*
 * Run the replay (one thread; the caller keeps every other user of
 * p->io out, e.g. by making IOMMU requests wait). Returns r->status.
 */
int replay_run(const struct replay_params *p, struct replay_result *r);

/* "none", "present", "size", "target", "prot" */
const char *replay_diff_name(enum iopt_diff kind);

#endif
