/* SPDX-License-Identifier: MIT */
/*
 * soft.h: the soft IOMMU backend (iommu.h) and what is particular to it.
 *
 * The soft backend is an iommufd context in userspace: IOASes with their
 * areas, HWPTs that are real radix tables (iopt.h) each in its own pool
 * memfd, and one device: the device simulator (softhw.h), reached over its
 * SEQPACKET connection. "Hardware" state is shared memory: the context
 * page holds the device-table entry the simulator translates through.
 *
 * Rules beyond iommu.h:
 *  - A file must be registered (soft_iommu_add_file) before it is mapped:
 *    that gives the simulator access to it, as pinning would.
 *  - Unmap does not wait for the device (lazy invalidation, like
 *    iommu.strict=0): it bumps the context generation, and table pages it
 *    unlinked are freed only once the device has acknowledged it. The same
 *    holds for an HWPT the device was moved off: destroy waits (bounded)
 *    for the acknowledgement before the pool goes away.
 *  - After a live update the new VMM adopts the live tables read-only
 *    (soft_iommu_adopt_hwpt): the device stays attached to them; they can
 *    be compared against and replaced, never changed.
 */
#ifndef LUVMM_IOMMU_SOFT_H
#define LUVMM_IOMMU_SOFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../compiler.h"
#include "iommu.h"

/* How long destroy waits for the device to acknowledge (it polls every
 * SOFTHW_IDLE_POLL_MS when idle, after each job otherwise). */
#define SOFT_ACK_TIMEOUT_MS	1000

/*
 * A soft IOMMU context talking to the simulator on sim_fd (a connected
 * SEQPACKET socket; not owned), or headless with sim_fd = -1: tables are
 * built and compared but no device walks them (unit tests, benchmarks:
 * nothing is sent, every generation counts as acknowledged). ctx_fd: the context page of a live update
 * (adopted), or -1 for a new one. -errno with a reason in err.
 */
int __must_check soft_iommu_create(int sim_fd, int ctx_fd, struct iommu **out,
				   char *err, size_t errlen);
/* The context page memfd (the caller hands it to the simulator and to a
 * live update). */
int soft_iommu_ctx_fd(struct iommu *io);
/*
 * Make file fd (size bytes) mappable, as phys slot `slot` of the
 * simulator. present: the simulator has it already (a live update);
 * else it is sent ADD_SLOT now.
 */
int __must_check soft_iommu_add_file(struct iommu *io, int fd, uint32_t slot,
				     uint64_t size, bool present);
/* Bind the simulator's device; the id is what attach and hwpt_alloc take.
 * One device per context (-EBUSY for a second). */
int __must_check soft_iommu_bind(struct iommu *io, uint32_t *dev_id);
/* Start the simulator's device: its context page (ours), BAR memfd,
 * doorbell and interrupt eventfds (softhw.h SOFTHW_ATTACH). */
int __must_check soft_iommu_attach_sim(struct iommu *io, int bar_fd,
				       int doorbell_fd, int irq_fd);
/*
 * Live update: the device runs on tables the old VMM built, in pool
 * pool_fd, found through the context page's DTE. Wrap them as a
 * read-only HWPT the device is attached to. -EBADMSG (reason in err) if
 * the DTE does not point into that pool.
 */
int __must_check soft_iommu_adopt_hwpt(struct iommu *io, uint32_t dev_id,
				       int pool_fd, uint32_t *hwpt_id,
				       char *err, size_t errlen);
/* The pool memfd and phys slot of an HWPT (handed to a live update). */
int soft_iommu_hwpt_pool(struct iommu *io, uint32_t hwpt_id, int *fd,
			 uint32_t *slot);
/* The HWPT dev_id is attached to, or 0. */
uint32_t soft_iommu_dev_hwpt(struct iommu *io, uint32_t dev_id);
/* Commit room for `tables` table pages in the pool of HWPT id before a
 * build (a replay), so it takes no page faults. */
int soft_iommu_hwpt_reserve(struct iommu *io, uint32_t hwpt_id, uint64_t tables);
/* Table pages of an HWPT in use. */
uint64_t soft_iommu_hwpt_tables(struct iommu *io, uint32_t hwpt_id);
/* Free table pages the device no longer walks (cheap; call now and then). */
void soft_iommu_reclaim(struct iommu *io);

/* Device-side counters (the context page). */
struct soft_iommu_dev_stats {
	uint64_t jobs, faults, xlates, bytes, msis, last_fault;
	int64_t last_err;
	uint64_t gen, ack;
};
void soft_iommu_dev_stats(struct iommu *io, struct soft_iommu_dev_stats *out);

#endif
