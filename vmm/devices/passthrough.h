/* SPDX-License-Identifier: MIT */
/*
 * passthrough.h: the passthrough DMA device, shared by its files:
 * passthrough.c (the device the guest sees: BAR, doorbell, MSI, and its
 * live-update life), pt_iommu.c (the paravirtual IOMMU requests, the map
 * log, and the IOMMU rebuild after a live update with its warm-path gate)
 * and one file per backend behind struct pt_backend: pt_soft.c (the
 * device simulator behind the soft IOMMU) and pt_vfio.c (a VFIO device
 * cdev behind iommufd). Not for use outside vmm/devices/, except by the
 * device's unit tests, which drive it without KVM through pt_alloc() and
 * pt_open().
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
#include "../liveupdate/handoff.h"
#include "../liveupdate/replay.h"

struct vm;
struct mem;
struct iommu;
struct maplog;
struct json_writer;
struct vm_devmem;
struct pt_dev;

/*
 * vfio: the device's doorbell register, a 32-bit write at this offset of
 * BAR0 (the header word guest-fw/abi.h leaves reserved). The guest still
 * rings port LUVMM_PORT_DMA_DOORBELL; for a VFIO device luvmm turns that
 * exit into this write (no ioeventfd: nothing in the host reads one).
 */
#define PT_VFIO_DOORBELL	0x0c
#define PT_VFIO_DOORBELL_VALUE	1u

/* Where the IOMMU state is: the warm-path gate. */
enum pt_state {
	PT_READY = 0,		/* requests are served */
	PT_REBUILDING,		/* after an update: requests wait */
	PT_DEGRADED,		/* the rebuild kept the old tables: refused */
};

/*
 * What differs between the device simulator behind the soft IOMMU and a
 * VFIO device behind iommufd. Everything else (BAR memslot, MSI route,
 * requests, map log, replay, gate, metrics) is shared. Every hook returns
 * 0 or -errno after logging why, unless it says otherwise.
 */
struct pt_backend {
	const char *name;
	/*
	 * The device's host side and its IOMMU context (d->io). Boot (h
	 * NULL): the device bound (d->dev_id), its fds made, ready for
	 * tables. After a live update: only what the rebuild needs, taken
	 * from the handoff, touching nothing the old VMM still uses (it may
	 * yet take the guest back).
	 */
	int (*open)(struct pt_dev *d, struct handoff *h);
	/* Boot: the device is attached to its tables; start it. */
	int (*start)(struct pt_dev *d);
	/*
	 * Rebuild thread, gate closed, before the replay: take over the
	 * live tables the device still uses (p->old_hwpt, p->old_ioas).
	 * -errno with the reason in err (not logged).
	 */
	int (*adopt)(struct pt_dev *d, struct replay_params *p, char *err,
		     size_t errlen);
	/* A doorbell that exited to luvmm (vCPU thread). */
	void (*ring)(struct pt_dev *d);
	/* The backend's entries of the handoff table (not the map log). */
	int (*export)(struct pt_dev *d, struct handoff *h);
	/* Optional: main-thread tick, d->lock held, state PT_READY. */
	void (*tick)(struct pt_dev *d);
	/* The backend's keys of the metrics object, d->lock held. */
	void (*metrics)(struct pt_dev *d, struct json_writer *w);
};

extern const struct pt_backend pt_soft_backend;
extern const struct pt_backend pt_vfio_backend;

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
	struct vm *vm;		/* NULL in unit tests: no KVM wiring */
	const struct mem *mem;	/* guest RAM (the map requests' memfd) */
	unsigned ncpus;
	struct device_spec spec;
	const struct pt_backend *be;	/* NULL without --device */
	bool incoming;		/* built from a live update's handoff */
	bool lazy;		/* exec-mode restore: KVM wiring after resume */
	const char *fault;	/* test-only (docs/iommu.md): "replay-target",
				 * "replay-prot" build wrong tables,
				 * "replay-coalesce" a different layout,
				 * "rebuild-slow" holds the gate until a vCPU
				 * waits on it, then 1 s more */
	const char *iommufd_path;	/* vfio: IOMMUFD_DEV_PATH (tests: a
					 * node their fake kernel answers) */

	/* the device */
	int sim_fd;		/* soft: the simulator connection */
	int bar_fd;		/* soft: the BAR0 memfd */
	int vfio_fd;		/* vfio: the device cdev (BAR0 is its region) */
	struct luvmm_dma_bar *bar;	/* host view of BAR0 (guest memslot) */
	uint64_t bar_size;
	int doorbell_fd;	/* soft: the eventfd the simulator waits on */
	int irq_fd;		/* the device's MSI eventfd */
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
	struct pt_cpu *cpu;		/* [ncpus] */

	/* a live update's leftovers, until the rebuild has used them */
	int old_pool_fd, old_log_fd;	/* soft: the live tables' pool */
	pthread_t rebuild;
	bool rebuild_started;
	atomic_bool stopping;		/* destroy: the rebuild thread must end */
	struct replay_result replay;	/* the last rebuild (lock) */
	uint64_t replay_entries;
	uint64_t rebuild_ns;		/* resume -> gate open */
	char degraded_reason[192];

	struct pt_saved staged;		/* load() -> commit() */
};

/* ---- passthrough.c --------------------------------------------------------- */

/* A device for ncpus vCPUs, inert (no backend) until pt_open(); free it
 * with passthrough_ops.destroy. NULL: out of memory. */
struct pt_dev *pt_alloc(unsigned ncpus);
/*
 * Give d the device spec describes, on guest RAM m: take BAR0 from the
 * regions premap made (dm[0..ndm)), then open the backend and build the
 * IOMMU side (pt_iommu_setup()). h: a live update's handoff, or NULL.
 * Registers nothing with KVM (pt_create does). -errno, logged.
 */
int pt_open(struct pt_dev *d, const struct device_spec *spec,
	    const struct mem *m, struct vm_devmem *dm, unsigned ndm,
	    struct handoff *h);
/* PIO handler of LUVMM_PORT_DMA_DOORBELL when the write exits to us. */
void pt_doorbell_io(void *priv, uint64_t off, uint8_t *data, uint32_t len,
		    bool is_write);
/* After an update: MSI route + irqfd on the new VM (waits while the old VM
 * holds the eventfd), then a make-up MSI if completions are pending. */
int pt_msi_rewire(struct pt_dev *d);
/* Take a handoff entry's fd (the caller owns it), checked against kind;
 * -errno and a log line naming it. */
int pt_take_fd(struct handoff *h, const char *name, enum handoff_kind kind);

/* ---- pt_iommu.c ------------------------------------------------------------ */

/* Open the backend and build the IOMMU side: fresh (boot: IOAS, HWPT,
 * attach, empty log, device started) or from the handoff (only what the
 * rebuild needs; the gate closed). -errno, logged. */
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
/* The handoff entries of the IOMMU side (the backend's, the map log). */
int pt_iommu_export(struct pt_dev *d, struct handoff *h);
/* Backend housekeeping (main thread tick). */
void pt_iommu_tick(struct pt_dev *d);

/* ---- the backends' BAR0 before the VM exists (dev_ops.premap) -------------- */

/* soft: a new BAR0 memfd, or the old VMM's ("pt-bar"). 1 and dm. */
int pt_soft_premap(struct handoff *h, struct vm_devmem *dm);
/*
 * vfio: boot checks that iommufd_path exists (else "needs /dev/iommu and
 * /dev/vfio: not on this host", -ENODEV) and opens the cdev spec->path;
 * after an update takes the old VMM's cdev ("pt-vfio"). dm: a placeholder
 * page at LUVMM_DMA_BAR0, dm->fd the cdev. The cdev refuses region info
 * and mmap until it is bound to an iommufd, so the backend's open() maps
 * the device's BAR0 over the placeholder later (the memslot follows the
 * host mapping). 1 and dm, or -errno logged.
 */
int pt_vfio_premap(const struct device_spec *spec, const char *iommufd_path,
		   struct handoff *h, struct vm_devmem *dm);

#endif
