/* SPDX-License-Identifier: MIT */
/*
 * fake_iommufd.h: a fake kernel for the iommufd and VFIO-cdev uAPI, for
 * unit tests on hosts without /dev/iommu or VFIO.
 *
 * fk_run() runs a scenario on its own thread under a seccomp filter that
 * turns every ioctl of type ';' (iommufd's and VFIO's) that the thread,
 * or any thread it starts, makes into a user notification. The caller's
 * thread answers them as a small model of iommufd + one VFIO device
 * would, reading and writing the argument structs with
 * process_vm_readv/writev (the threads share the address space), and logs
 * every request with the bytes the "kernel" read. The fds can be any open
 * files (/dev/null, a regular file whose mmap then stands in for a BAR);
 * the model tells iommufd's requests from the device's by number.
 *
 * Model: IOAS and HWPT objects with ids from 1 up, areas (FIXED_IOVA maps,
 * whole-area unmaps), HUGE_PAGES per IOAS, one device (bind once; until
 * then every other device ioctl is -EINVAL, as the cdev refuses access),
 * attach with replace semantics, BAR0 region info, MSI irq info and
 * SET_IRQS. Failures can be injected (fk_fail()).
 */
#ifndef LUVMM_TESTS_FAKE_IOMMUFD_H
#define LUVMM_TESTS_FAKE_IOMMUFD_H

#include <stdbool.h>
#include <stdint.h>

#include "../vmm/uapi/iommufd.h"
#include "../vmm/uapi/vfio_cdev.h"

#define FK_OBJS		16
#define FK_AREAS	32
#define FK_LOG		128

enum { FK_IOAS = 1, FK_HWPT = 2 };

struct fk_obj {
	uint32_t id;
	int kind;		/* FK_IOAS, FK_HWPT, 0 free */
	uint32_t ioas;		/* HWPT: its IOAS */
	bool huge;		/* IOAS: HUGE_PAGES; HWPT: built with it */
};

struct fk_area {
	uint32_t ioas;
	uint64_t iova, len;
};

struct fk_log {
	unsigned long req;
	int fd;
	int ret;				/* what the "kernel" answered */
	_Alignas(8) unsigned char b[48];	/* the struct the kernel read */
};

/* Failures fk_fail() injects: the request answers -err instead. */
enum fk_failure {
	FK_FAIL_HWPT_ALLOC,
	FK_FAIL_CHANGE_PROCESS,
	FK_FAIL_BIND,
	FK_FAIL_COUNT
};

struct fake {
	uint32_t next_id;
	struct fk_obj obj[FK_OBJS];
	struct fk_area area[FK_AREAS];
	int ifd, dfd;		/* fds it answers on; -1: any */
	uint32_t dev_id;	/* 0: not bound */
	uint32_t attached;	/* HWPT the device uses, 0: none */
	int fail[FK_FAIL_COUNT];	/* errno to answer, 0: works */
	unsigned int change_process_calls;
	unsigned int set_irqs_calls;
	int32_t irq_fds[4];
	struct vfio_irq_set irq;
	/* VFIO_DEVICE_GET_REGION_INFO of BAR0, GET_IRQ_INFO of MSI */
	uint32_t bar_flags;
	uint64_t bar_size, bar_offset;
	uint32_t msi_count;
	struct fk_log log[FK_LOG];
	unsigned int n_log;
};

/*
 * Reset the model, answering iommufd requests on ifd and device requests
 * on dfd (-1: on any fd; others get -ENOTTY). Defaults: BAR0 of 4 KiB at
 * offset 0, readable, writable, mmappable; one MSI vector. Returns the
 * model to adjust before fk_run() (not during: use fk_fail()).
 */
struct fake *fk_reset(int ifd, int dfd);
/* During a run, from the scenario: make `which` answer -err (0: work). */
void fk_fail(enum fk_failure which, int err);
/* A copy of the model taken under its lock (the scenario's view). */
const struct fake *fk_now(void);
/*
 * Run scenario(arg) on its own thread with the model answering, until it
 * returns; threads it starts are answered too and must have ended. false
 * (reason in *why): this host cannot (no seccomp user notification).
 */
bool fk_run(void (*scenario)(void *arg), void *arg, const char **why);

/* Entry i of a snapshot's log (a zeroed entry past the end). */
const struct fk_log *fk_log_at(const struct fake *f, unsigned int i);
/* The live object id of a snapshot, or NULL. */
const struct fk_obj *fk_obj_at(const struct fake *f, uint32_t id);
/* Index of the first log entry at or after `from` for request req, or -1. */
int fk_log_find(const struct fake *f, unsigned int from, unsigned long req);
/* Name of an ioctl the model knows ("IOMMU_IOAS_ALLOC"), or "?". */
const char *fk_req_name(unsigned long req);

#endif
