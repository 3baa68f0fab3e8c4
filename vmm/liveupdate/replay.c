// SPDX-License-Identifier: MIT
/*
 * replay.c: replay the map log into new IOMMU objects, validate them
 * against the live tables, swap, free the old ones (replay.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../iommu/soft.h"
#include "../log.h"
#include "../util.h"
#include "replay.h"

const char *replay_diff_name(enum iopt_diff kind)
{
	static const char *const names[] = {
		[IOPT_DIFF_NONE] = "none", [IOPT_DIFF_PRESENT] = "present",
		[IOPT_DIFF_SIZE] = "size", [IOPT_DIFF_TARGET] = "target",
		[IOPT_DIFF_PROT] = "prot",
	};

	return (unsigned)kind < ARRAY_SIZE(names) ? names[kind] : "?";
}

static const char *layout_name(uint32_t flags)
{
	return flags & IOMMU_HWPT_MAX_4K ? "4k" : flags & IOMMU_HWPT_MAX_2M ? "2m" : "max";
}

/* Test-only: which entry p->corrupt changes (a one-page read-write one, so
 * the difference is in target or permission, not in page size). */
static uint64_t corrupt_index(const struct replay_params *p)
{
	uint64_t i;

	for (i = 0; p->corrupt && i < p->n; i++)
		if (p->entries[i].length == IOPT_PAGE_SIZE &&
		    p->entries[i].prot == (IOMMU_PROT_READ | IOMMU_PROT_WRITE))
			return i;
	return UINT64_MAX;
}

/* The same calls as at boot: an IOAS, an HWPT on it, then every mapping. */
static int build(const struct replay_params *p, uint32_t flags,
		 struct replay_result *r)
{
	struct iommu *io = p->io;
	uint64_t i, bad = corrupt_index(p);
	int ret;

	ret = iommu_ioas_alloc(io, &r->ioas);
	if (ret) {
		snprintf(r->reason, sizeof(r->reason), "replay: IOAS: %s", strerror(-ret));
		return ret;
	}
	ret = iommu_hwpt_alloc(io, p->dev_id, r->ioas, flags, &r->hwpt);
	if (ret) {
		snprintf(r->reason, sizeof(r->reason), "replay: HWPT (layout %s): %s",
			 layout_name(flags), strerror(-ret));
		return ret;
	}
	/* commit the table pages the old tables needed: no faults below */
	if (io->kind == IOMMU_SOFT)
		(void)soft_iommu_hwpt_reserve(io, r->hwpt,
					      soft_iommu_hwpt_tables(io, p->old_hwpt));
	for (i = 0; i < p->n; i++) {
		struct maplog_entry e = p->entries[i];

		if (i == bad && !strcmp(p->corrupt, "target"))
			e.offset ^= IOPT_PAGE_SIZE;
		if (i == bad && !strcmp(p->corrupt, "prot"))
			e.prot = IOMMU_PROT_READ;
		ret = iommu_ioas_map_file(io, r->ioas, p->ram_fd, e.offset,
					  e.length, e.iova, e.prot);
		if (ret) {
			snprintf(r->reason, sizeof(r->reason), "replay: mapping %llu "
				 "(iova %#llx length %#llx): %s", (unsigned long long)i,
				 (unsigned long long)e.iova,
				 (unsigned long long)e.length, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void drop(struct iommu *io, struct replay_result *r)
{
	int ret;

	if (r->hwpt) {
		ret = iommu_destroy(io, r->hwpt);
		if (ret)
			log_warn("replay: destroying HWPT %u: %s", r->hwpt, strerror(-ret));
	}
	if (r->ioas) {
		ret = iommu_destroy(io, r->ioas);
		if (ret)
			log_warn("replay: destroying IOAS %u: %s", r->ioas, strerror(-ret));
	}
	r->hwpt = r->ioas = 0;
}

/* Compare the built tables with the live ones. 0 same, 1 differ, <0. */
static int validate(const struct replay_params *p, struct replay_result *r)
{
	struct iopt_mismatch mm;
	int ret;

	ret = iommu_hwpt_compare(p->io, p->old_hwpt, r->hwpt, 0, IOPT_IOVA_END, &mm);
	if (ret == -EOPNOTSUPP) {
		r->validated = false;
		return 0;
	}
	if (ret < 0) {
		snprintf(r->reason, sizeof(r->reason), "validation: tables unreadable "
			 "near iova %#llx: %s", (unsigned long long)mm.iova,
			 strerror(-ret));
		return ret;
	}
	r->validated = true;
	if (ret == 1) {
		r->mismatched = true;
		r->mismatch = mm;
		snprintf(r->reason, sizeof(r->reason), "validation: layout %s differs "
			 "from the live tables at iova %#llx (%s: live %#llx/%#llx "
			 "prot %u, replayed %#llx/%#llx prot %u)", layout_name(r->flags),
			 (unsigned long long)mm.iova, replay_diff_name(mm.kind),
			 (unsigned long long)mm.a.pa, (unsigned long long)mm.a.size,
			 mm.a.prot, (unsigned long long)mm.b.pa,
			 (unsigned long long)mm.b.size, mm.b.prot);
	}
	return ret;
}

/* Move the device, then free the old objects once it has let go. */
static int swap(const struct replay_params *p, struct replay_result *r)
{
	uint64_t t0 = util_now_ns(), t1;
	int ret;

	ret = iommu_attach(p->io, p->dev_id, r->hwpt);
	t1 = util_now_ns();
	r->swap_ns = t1 - t0;
	if (ret) {
		snprintf(r->reason, sizeof(r->reason), "replace: %s", strerror(-ret));
		return ret;
	}
	ret = iommu_destroy(p->io, p->old_hwpt);
	if (!ret && p->old_ioas)
		ret = iommu_destroy(p->io, p->old_ioas);
	if (ret)	/* the device runs on the new tables: only a leak */
		log_warn("replay: freeing the old tables: %s", strerror(-ret));
	r->free_ns = util_now_ns() - t1;
	return 0;
}

int replay_run(const struct replay_params *p, struct replay_result *r)
{
	static const uint32_t layouts[] = { 0, IOMMU_HWPT_MAX_2M, IOMMU_HWPT_MAX_4K };
	uint32_t order[4] = { p->flags };
	unsigned int i, n = 1;
	uint64_t t0, t1;
	int ret = -EINVAL;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < ARRAY_SIZE(layouts); i++)
		if (layouts[i] != p->flags)
			order[n++] = layouts[i];
	for (i = 0; i < n; i++) {
		r->flags = order[i];
		r->attempts++;
		t0 = util_now_ns();
		ret = build(p, order[i], r);
		t1 = util_now_ns();
		r->replay_ns += t1 - t0;
		if (ret == -EOPNOTSUPP && r->ioas && !r->hwpt) {
			drop(p->io, r);	/* the backend has no such layout */
			continue;
		}
		if (!ret)
			ret = validate(p, r);
		r->validate_ns += util_now_ns() - t1;
		if (!ret)
			break;
		drop(p->io, r);
		/* only a page-size difference can be a layout difference */
		if (ret != 1 || r->mismatch.kind != IOPT_DIFF_SIZE)
			break;
	}
	if (!ret)
		ret = swap(p, r);
	if (ret) {
		if (ret == 1)
			ret = -EBADMSG;
		if (r->hwpt || r->ioas)
			drop(p->io, r);
		r->ioas = p->old_ioas;
		r->hwpt = p->old_hwpt;
	}
	r->status = ret;
	return ret;
}
