/* SPDX-License-Identifier: MIT */
/*
 * iommu.h: the IOMMU object model luvmm programs, with two backends.
 *
 * The model is iommufd's (docs/iommu.md): a context (an open /dev/iommu)
 * holds objects named by 32-bit ids.
 *  - IOAS: an I/O address space, a set of non-overlapping *areas*, each
 *    mapping [iova, iova + length) to a range of a file (memfd + offset)
 *    with read and/or write permission.
 *  - HWPT: hardware page tables built from an IOAS; they follow every later
 *    map and unmap of that IOAS.
 *  - device: bound to the context once; attached to one HWPT (or to an
 *    IOAS, which makes an HWPT for it). Attaching an attached device again
 *    *replaces* its tables atomically: every DMA translates through either
 *    the old or the new tables, never through neither.
 *
 * Rules both backends keep (the kernel's):
 *  - map: iova, start and length page aligned, length > 0, no overflow
 *    (-EINVAL); any page of the range already mapped: -EEXIST, nothing
 *    changes;
 *  - unmap: [iova, iova + length) must cover whole areas: an area that lies
 *    partly inside is never split (-ENOENT, nothing changes); nothing
 *    mapped in the range: -ENOENT; else 0 and the bytes unmapped;
 *  - an object still in use (an IOAS with HWPTs, an attached HWPT): -EBUSY
 *    on destroy; an unknown id: -ENOENT.
 *
 * Backends:
 *  - soft (soft.c): the model in userspace. HWPTs are real radix
 *    tables (iopt.h) in a memfd, read by the device simulator
 *    (softhw.h) through a device-table entry in a shared context page.
 *  - iommufd (iommufd.c): the kernel's uAPI, /dev/iommu and the VFIO
 *    cdev. Only where the host has them.
 *
 * Threads: one struct iommu is used by one thread at a time; callers lock.
 */
#ifndef LUVMM_IOMMU_IOMMU_H
#define LUVMM_IOMMU_IOMMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../compiler.h"
#include "iopt.h"

/* Map permissions (the device's point of view). */
#define IOMMU_PROT_READ		(1u << 0)
#define IOMMU_PROT_WRITE	(1u << 1)

/*
 * HWPT layout flags: the page sizes the tables may use. The default is the
 * largest leaf that fits. A replay whose tables do not match the live ones
 * retries with these to build the layout the old tables have (iommufd:
 * MAX_4K becomes IOMMU_OPTION_HUGE_PAGES = 0 on the IOAS; MAX_2M has no
 * iommufd equivalent, -EOPNOTSUPP).
 */
#define IOMMU_HWPT_MAX_2M	(1u << 0)
#define IOMMU_HWPT_MAX_4K	(1u << 1)

enum iommu_kind {
	IOMMU_SOFT = 1,
	IOMMU_IOMMUFD = 2,
};

struct iommu;

struct iommu_ops {
	const char *name;
	/* Release everything of the context (objects, fds). */
	void (*close)(struct iommu *io);
	int (*ioas_alloc)(struct iommu *io, uint32_t *ioas_id);
	/* Map [start, start + length) of the file fd at iova. prot:
	 * IOMMU_PROT_*, at least one. */
	int (*ioas_map_file)(struct iommu *io, uint32_t ioas_id, int fd,
			     uint64_t start, uint64_t length, uint64_t iova,
			     unsigned int prot);
	int (*ioas_unmap)(struct iommu *io, uint32_t ioas_id, uint64_t iova,
			  uint64_t length, uint64_t *unmapped);
	/* An HWPT for dev_id built from IOAS pt_id with IOMMU_HWPT_* flags. */
	int (*hwpt_alloc)(struct iommu *io, uint32_t dev_id, uint32_t pt_id,
			  uint32_t flags, uint32_t *hwpt_id);
	/* Attach dev_id to HWPT (or IOAS) pt_id, replacing atomically what
	 * it was attached to. */
	int (*attach)(struct iommu *io, uint32_t dev_id, uint32_t pt_id);
	int (*destroy)(struct iommu *io, uint32_t id);
	/*
	 * Do HWPTs a and b translate [iova, iova + length) identically (page
	 * size, target, permissions)? 0 yes, 1 no (*out: the first
	 * difference), -errno. -EOPNOTSUPP where the tables cannot be read
	 * (iommufd: the kernel owns them).
	 */
	int (*hwpt_compare)(struct iommu *io, uint32_t a, uint32_t b, uint64_t iova,
			    uint64_t length, struct iopt_mismatch *out);
};

struct iommu {
	const struct iommu_ops *ops;
	enum iommu_kind kind;
};

/* Call-through helpers, so callers read like the uAPI. */
static inline int iommu_ioas_alloc(struct iommu *io, uint32_t *id)
{
	return io->ops->ioas_alloc(io, id);
}

static inline int iommu_ioas_map_file(struct iommu *io, uint32_t ioas, int fd,
				      uint64_t start, uint64_t length,
				      uint64_t iova, unsigned int prot)
{
	return io->ops->ioas_map_file(io, ioas, fd, start, length, iova, prot);
}

static inline int iommu_ioas_unmap(struct iommu *io, uint32_t ioas, uint64_t iova,
				   uint64_t length, uint64_t *unmapped)
{
	return io->ops->ioas_unmap(io, ioas, iova, length, unmapped);
}

static inline int iommu_hwpt_alloc(struct iommu *io, uint32_t dev, uint32_t pt,
				   uint32_t flags, uint32_t *hwpt)
{
	return io->ops->hwpt_alloc(io, dev, pt, flags, hwpt);
}

static inline int iommu_attach(struct iommu *io, uint32_t dev, uint32_t pt)
{
	return io->ops->attach(io, dev, pt);
}

static inline int iommu_destroy(struct iommu *io, uint32_t id)
{
	return io->ops->destroy(io, id);
}

static inline int iommu_hwpt_compare(struct iommu *io, uint32_t a, uint32_t b,
				     uint64_t iova, uint64_t length,
				     struct iopt_mismatch *out)
{
	return io->ops->hwpt_compare(io, a, b, iova, length, out);
}

static inline void iommu_close(struct iommu *io)
{
	if (io)
		io->ops->close(io);
}

/* Common argument checks of map and unmap (-EINVAL), shared by backends. */
int iommu_check_map(uint64_t start, uint64_t length, uint64_t iova,
		    unsigned int prot);
int iommu_check_unmap(uint64_t iova, uint64_t length);

#endif
