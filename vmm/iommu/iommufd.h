/* SPDX-License-Identifier: MIT */
/*
 * iommufd.h: the iommufd backend of iommu.h: the kernel's /dev/iommu
 * uAPI, with devices bound and attached through their VFIO cdev fds.
 *
 * A context owns its iommufd fd (closed by iommu_close()) and a table of
 * bound devices (dev_id -> VFIO cdev fd); the device fds stay the
 * caller's (the passthrough device model, or the live-update handoff).
 *
 * Live update (docs/iommufd-backend.md): the old VMM hands the iommufd fd,
 * the guest-RAM memfds and the device fds to the new one. Kernel objects
 * live in the open file, not in the process, so they keep their ids. The
 * new VMM wraps the fd with iommufd_adopt(), re-registers each device with
 * iommufd_adopt_device(), calls iommufd_change_process() so pinned-page
 * accounting moves to it, replays IOAS + maps + HWPT under new ids, and
 * swaps each device to the new HWPT with iommu_attach() (a hitless
 * replace). The kernel owns the page tables: hwpt_compare is -EOPNOTSUPP
 * here, and the caller reports the swap as "not validated".
 *
 * Argument building is separate from the ioctls: the iommufd_build_*
 * functions are pure and unit-tested without a kernel.
 *
 * Threads: as iommu.h, one thread at a time per context.
 */
#ifndef LUVMM_IOMMU_IOMMUFD_H
#define LUVMM_IOMMU_IOMMUFD_H

#include <stdbool.h>
#include <stdint.h>

#include "../compiler.h"
#include "../uapi/iommufd.h"
#include "iommu.h"

#define IOMMUFD_DEV_PATH	"/dev/iommu"

/* The operations luvmm performs, for error reasons and iommufd_last_op(). */
enum iommufd_op {
	IOMMUFD_OP_NONE = 0,
	IOMMUFD_OP_OPEN,		/* open("/dev/iommu") */
	IOMMUFD_OP_DESTROY,
	IOMMUFD_OP_IOAS_ALLOC,
	IOMMUFD_OP_IOAS_IOVA_RANGES,
	IOMMUFD_OP_IOAS_MAP_FILE,
	IOMMUFD_OP_IOAS_UNMAP,
	IOMMUFD_OP_OPTION,
	IOMMUFD_OP_HWPT_ALLOC,
	IOMMUFD_OP_IOAS_CHANGE_PROCESS,
	IOMMUFD_OP_BIND,		/* VFIO_DEVICE_BIND_IOMMUFD */
	IOMMUFD_OP_ATTACH,		/* VFIO_DEVICE_ATTACH_IOMMUFD_PT */
	IOMMUFD_OP_DETACH,		/* VFIO_DEVICE_DETACH_IOMMUFD_PT */
	IOMMUFD_OP_COUNT
};

/* "IOMMU_IOAS_MAP_FILE", ...; "?" for an unknown op. */
const char *iommufd_op_name(enum iommufd_op op);

/*
 * The one-line reason luvmm prints for errno err (either sign) returned by
 * op, in the kernel's iommufd vocabulary: ENOTTY names the kernel version
 * the ioctl needs, E2BIG/EOPNOTSUPP/EINVAL/ENOENT/EEXIST/EBUSY/EOVERFLOW/
 * ENOMEM/... say what usually causes them. Never NULL; static storage.
 */
const char *iommufd_strerror(enum iommufd_op op, int err);

/* ---- contexts ------------------------------------------------------------ */

/*
 * Open path (NULL: IOMMUFD_DEV_PATH) and make a context. -ENOENT no such
 * node (this host has no iommufd); -EACCES; -EINVAL out NULL; -ENOMEM.
 * Opening does not probe: a node that is not an iommufd fails at the
 * first operation with -ENOTTY.
 */
int __must_check iommufd_open(const char *path, struct iommu **out);

/*
 * Wrap an iommufd fd handed over by a live update; its objects keep their
 * ids. Probes the fd (IOMMU_OPTION get, harmless): -EBADF not an open fd;
 * -ENOTTY not an iommufd; -ENOMEM. On success the context owns the fd; on
 * failure the caller still does.
 */
int __must_check iommufd_adopt(int iommufd_fd, struct iommu **out);

/* The context's iommufd fd (for the handoff table), -1 if io is not one. */
int iommufd_fd(const struct iommu *io);

/* The operation of the last ioctl this context issued (for the reason). */
enum iommufd_op iommufd_last_op(const struct iommu *io);

/* ---- devices ------------------------------------------------------------- */

/*
 * VFIO_DEVICE_BIND_IOMMUFD on vfio_dev_fd, then remember dev_id -> fd for
 * attach. The fd must stay open while registered. -EINVAL io not an
 * iommufd context or fd < 0; -EEXIST the kernel returned an id already
 * registered (cannot happen with a sane kernel); kernel -errno.
 */
int __must_check iommufd_bind_device(struct iommu *io, int vfio_dev_fd,
				     uint32_t *dev_id);
/* Register a device already bound to this iommufd (by the old VMM, before
 * a live update) under its dev_id, without any ioctl. -EEXIST dev_id
 * registered; -EINVAL bad io or fd. */
int __must_check iommufd_adopt_device(struct iommu *io, int vfio_dev_fd,
				      uint32_t dev_id);
/* Forget dev_id (the kernel unbinds when the device fd closes). -ENOENT. */
int iommufd_forget_device(struct iommu *io, uint32_t dev_id);
/* VFIO_DEVICE_DETACH_IOMMUFD_PT: DMA blocked. -ENOENT dev_id unknown. */
int __must_check iommufd_detach(struct iommu *io, uint32_t dev_id);

/* ---- live update and queries --------------------------------------------- */

/*
 * IOMMU_IOAS_CHANGE_PROCESS: charge every pinned page of every IOAS of
 * this iommufd to the calling process (the new VMM after a live update).
 * All or nothing. -EINVAL a map not made by IOAS_MAP_FILE exists;
 * -ENOTTY kernel < 6.13; -ENOMEM the new process's RLIMIT_MEMLOCK.
 */
int __must_check iommufd_change_process(struct iommu *io);

/* IOMMU_OPTION HUGE_PAGES of IOAS ioas_id: set (on) or read (*on). */
int __must_check iommufd_set_huge_pages(struct iommu *io, uint32_t ioas_id,
					bool on);
int __must_check iommufd_get_huge_pages(struct iommu *io, uint32_t ioas_id,
					bool *on);

/*
 * IOMMU_IOAS_IOVA_RANGES: up to *n ranges into r; *n becomes the total.
 * -EMSGSIZE r was too small (*n says how many); *align (may be NULL): the
 * IOVA alignment maps need.
 */
int __must_check iommufd_ioas_iova_ranges(struct iommu *io, uint32_t ioas_id,
					  struct luvmm_iommu_iova_range *r,
					  uint32_t *n, uint64_t *align);

/* ---- argument builders (pure; what the ops above send) ------------------- */

void iommufd_build_destroy(struct luvmm_iommu_destroy *cmd, uint32_t id);
void iommufd_build_ioas_alloc(struct luvmm_iommu_ioas_alloc *cmd);
/* IOMMU_PROT_* -> FIXED_IOVA | READABLE/WRITEABLE; 0 for bad prot. */
uint32_t iommufd_map_flags(unsigned int prot);
/* iommu_check_map() rules (-EINVAL), and -EBADF for fd < 0. */
int __must_check
iommufd_build_map_file(struct luvmm_iommu_ioas_map_file *cmd, uint32_t ioas_id,
		       int fd, uint64_t start, uint64_t length, uint64_t iova,
		       unsigned int prot);
/* iommu_check_unmap() rules (-EINVAL). */
int __must_check iommufd_build_unmap(struct luvmm_iommu_ioas_unmap *cmd,
				     uint32_t ioas_id, uint64_t iova,
				     uint64_t length);
void iommufd_build_option(struct luvmm_iommu_option *cmd, uint32_t option_id,
			  uint16_t op, uint32_t object_id, uint64_t val64);
/* A kernel-managed HWPT (DATA_NONE, no flags) for dev_id from pt_id. */
void iommufd_build_hwpt_alloc(struct luvmm_iommu_hwpt_alloc *cmd,
			      uint32_t dev_id, uint32_t pt_id);
/*
 * What IOMMU_HWPT_* layout flags mean here: 0 and *no_huge = false (the
 * default layout) or true (MAX_4K: IOMMU_OPTION_HUGE_PAGES = 0 on the
 * IOAS first); -EOPNOTSUPP MAX_2M (iommufd cannot cap at 2 MiB); -EINVAL
 * unknown bits or both.
 */
int __must_check iommufd_hwpt_plan(uint32_t flags, bool *no_huge);
void iommufd_build_iova_ranges(struct luvmm_iommu_ioas_iova_ranges *cmd,
			       uint32_t ioas_id,
			       struct luvmm_iommu_iova_range *r, uint32_t n);
void iommufd_build_change_process(struct luvmm_iommu_ioas_change_process *cmd);

#endif
