/* SPDX-License-Identifier: MIT */
/*
 * passthrough.h: the passthrough DMA device, shared by its two files:
 * passthrough.c (the device the guest sees: BAR, doorbell, MSI, and its
 * live-update life) and pt_iommu.c (the paravirtual IOMMU requests, the
 * map log, and the IOMMU rebuild after a live update with its warm-path
 * gate). Not for use outside vmm/devices/.
 */
#ifndef LUVMM_DEVICES_PASSTHROUGH_H
#define LUVMM_DEVICES_PASSTHROUGH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../guest-fw/abi.h"
#include "../config.h"
#include "../liveupdate/replay.h"

struct vm;
struct iommu;
struct maplog;
struct json_writer;

/* Where the IOMMU state is: the warm-path gate. */
enum pt_state {
	PT_READY = 0,		/* requests are served */
	PT_REBUILDING,		/* after an update: requests wait */
	PT_DEGRADED,		/* the rebuild kept the old tables: refused */
};

/* Warm-path sleeps of one vCPU (any thread reads, its vCPU writes). */
struct pt_cpu {
	atomic_bool waiting;		/* asleep on the gate right now */
	atomic_uint_least64_t sleeps;
	atomic_uint_least64_t sleep_ns;
	atomic_uint_least64_t max_ns;
};

/* What the state record carries (LU_SEC_DEVICE "passthrough"). */
struct pt_saved {
	uint8_t kind;		/* enum device_kind */
	uint8_t degraded;
	uint32_t msi_vec;
	uint32_t msi_dest;
	uint32_t ioas, hwpt, dev;	/* iommufd: object ids that live on */
	uint64_t maps, unmaps, refused;
};

struct pt_dev {
	struct vm *vm;
	struct device_spec spec;
	bool incoming;		/* built from a live update's handoff */
	bool lazy;		/* exec-mode restore: KVM wiring after resume */
	const char *fault;	/* test-only (docs/iommu.md): "replay-target",
				 * "replay-prot" build wrong tables,
				 * "replay-coalesce" a different layout,
				 * "rebuild-slow" holds the gate until a vCPU
				 * waits on it, then 1 s more */

	/* the device */
	int sim_fd;		/* soft: the simulator connection */
	int bar_fd;
	struct luvmm_dma_bar *bar;	/* host view of BAR0 (guest memslot) */
	int doorbell_fd, irq_fd;	/* eventfds */
	bool ioeventfd_on, irqfd_on;
	pthread_mutex_t msi_lock;	/* msi_* and the KVM route */
	uint32_t msi_vec, msi_dest;

	/* the IOMMU (lock: iommu, log, ids, state) */
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* state left PT_REBUILDING */
	enum pt_state state;
	struct iommu *io;
	uint32_t dev_id, ioas_id, hwpt_id;
	struct maplog *log;
	uint64_t maps, unmaps, refused, bad_requests;
	struct pt_cpu *cpu;		/* [vm->ncpus] */

	/* a live update's leftovers, until the rebuild has used them */
	int old_pool_fd, old_log_fd;
	pthread_t rebuild;
	bool rebuild_started;
	atomic_bool stopping;		/* destroy: the rebuild thread must end */
	struct replay_result replay;	/* the last rebuild (lock) */
	uint64_t replay_entries;
	uint64_t rebuild_ns;		/* resume -> gate open */
	char degraded_reason[192];

	struct pt_saved staged;		/* load() -> commit() */
};

/* After an update: MSI route + irqfd on the new VM (waits while the old VM
 * holds the eventfd), then a make-up MSI if completions are pending. */
int pt_msi_rewire(struct pt_dev *d);

/* Build the IOMMU side: fresh (boot: IOAS, HWPT, attach, empty log) or
 * from the handoff (only what the rebuild needs). -errno, logged. */
int pt_iommu_setup(struct pt_dev *d, struct handoff *h);
void pt_iommu_teardown(struct pt_dev *d);
/* PIO handler of LUVMM_PORT_IOMMU (vCPU threads). */
void pt_iommu_io(void *priv, uint64_t off, uint8_t *data, uint32_t len,
		 bool is_write);
/* After an update: start the rebuild thread (main thread). */
int pt_rebuild_start(struct pt_dev *d);
/* Wait for a rebuild still running (teardown). */
void pt_rebuild_join(struct pt_dev *d);
void pt_iommu_metrics(struct pt_dev *d, struct json_writer *w);
/* The handoff entries of the IOMMU side (pool, log). */
int pt_iommu_export(struct pt_dev *d, struct handoff *h);
/* Drop freed tables the device no longer walks (main thread tick). */
void pt_iommu_tick(struct pt_dev *d);

#endif
