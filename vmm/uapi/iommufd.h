/* SPDX-License-Identifier: MIT */
/*
 * uapi/iommufd.h: luvmm's own definitions of the iommufd uAPI it uses.
 *
 * Debian 12 ships Linux 6.1 headers, which have no <linux/iommufd.h>. This
 * file defines just the ioctls and structs luvmm issues on /dev/iommu,
 * written from the ABI (torvalds/linux include/uapi/linux/iommufd.h) and
 * checked below with _Static_assert on every struct size, the offsets
 * that matter and every ioctl number.
 *
 * Every name carries a LUVMM_ / luvmm_ prefix, so a newer system header
 * that defines IOMMU_IOAS_MAP_FILE or struct iommu_option never clashes
 * with ours. Where such a header is present we compare its numbers with
 * ours at compile time (bottom of this file).
 *
 * The iommufd convention: every struct starts with a u32 size the caller
 * sets to sizeof(struct); the kernel accepts a larger struct if the bytes
 * it does not know are zero (else E2BIG), so these layouts are the newest
 * ones and work on older kernels too.
 */
#ifndef LUVMM_UAPI_IOMMUFD_H
#define LUVMM_UAPI_IOMMUFD_H

#include <stddef.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define LUVMM_IOMMUFD_TYPE	';'	/* 0x3b, shared with VFIO */

/* Command numbers (the nr of _IO(type, nr)). */
enum {
	LUVMM_IOMMUFD_CMD_DESTROY		= 0x80,
	LUVMM_IOMMUFD_CMD_IOAS_ALLOC		= 0x81,
	LUVMM_IOMMUFD_CMD_IOAS_IOVA_RANGES	= 0x84,
	LUVMM_IOMMUFD_CMD_IOAS_UNMAP		= 0x86,
	LUVMM_IOMMUFD_CMD_OPTION		= 0x87,
	LUVMM_IOMMUFD_CMD_HWPT_ALLOC		= 0x89,
	LUVMM_IOMMUFD_CMD_IOAS_MAP_FILE		= 0x8f,
	LUVMM_IOMMUFD_CMD_IOAS_CHANGE_PROCESS	= 0x92,
};

/* IOMMU_DESTROY: destroy any object (IOAS, HWPT, ...) by id. */
struct luvmm_iommu_destroy {
	__u32 size;
	__u32 id;
};
#define LUVMM_IOMMU_DESTROY \
	_IO(LUVMM_IOMMUFD_TYPE, LUVMM_IOMMUFD_CMD_DESTROY)

/* IOMMU_IOAS_ALLOC: a new, empty I/O address space. */
struct luvmm_iommu_ioas_alloc {
	__u32 size;
	__u32 flags;		/* must be 0 */
	__u32 out_ioas_id;
};
#define LUVMM_IOMMU_IOAS_ALLOC \
	_IO(LUVMM_IOMMUFD_TYPE, LUVMM_IOMMUFD_CMD_IOAS_ALLOC)

/* One allowed IOVA interval, last inclusive. */
struct luvmm_iommu_iova_range {
	__aligned_u64 start;
	__aligned_u64 last;
};

/*
 * IOMMU_IOAS_IOVA_RANGES: the IOVA intervals mappings may use (narrowed by
 * every attached device). In: num_iovas = array length; out: the total;
 * EMSGSIZE when the array was too small.
 */
struct luvmm_iommu_ioas_iova_ranges {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;		/* must be 0 */
	__aligned_u64 allowed_iovas;	/* user pointer to the array */
	__aligned_u64 out_iova_alignment;
};
#define LUVMM_IOMMU_IOAS_IOVA_RANGES \
	_IO(LUVMM_IOMMUFD_TYPE, LUVMM_IOMMUFD_CMD_IOAS_IOVA_RANGES)

/* Map flags (IOAS_MAP, IOAS_MAP_FILE, IOAS_COPY). */
#define LUVMM_IOMMU_IOAS_MAP_FIXED_IOVA	(1u << 0)
#define LUVMM_IOMMU_IOAS_MAP_WRITEABLE	(1u << 1)
#define LUVMM_IOMMU_IOAS_MAP_READABLE	(1u << 2)

/*
 * IOMMU_IOAS_MAP_FILE (Linux 6.13): map [start, start + length) of a memfd
 * at iova. Pins by file, so IOAS_CHANGE_PROCESS can move the accounting.
 */
struct luvmm_iommu_ioas_map_file {
	__u32 size;
	__u32 flags;		/* LUVMM_IOMMU_IOAS_MAP_* */
	__u32 ioas_id;
	__s32 fd;		/* the memfd */
	__aligned_u64 start;	/* byte offset in the file */
	__aligned_u64 length;
	__aligned_u64 iova;	/* in with FIXED_IOVA, else out */
};
#define LUVMM_IOMMU_IOAS_MAP_FILE \
	_IO(LUVMM_IOMMUFD_TYPE, LUVMM_IOMMUFD_CMD_IOAS_MAP_FILE)

/*
 * IOMMU_IOAS_UNMAP: [iova, iova + length) must cover whole mapped areas;
 * length comes back as the bytes unmapped.
 */
struct luvmm_iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;	/* in: range; out: bytes unmapped */
};
#define LUVMM_IOMMU_IOAS_UNMAP \
	_IO(LUVMM_IOMMUFD_TYPE, LUVMM_IOMMUFD_CMD_IOAS_UNMAP)

/* IOMMU_OPTION: option ids and operations. */
#define LUVMM_IOMMU_OPTION_RLIMIT_MODE	0	/* global, object_id 0 */
#define LUVMM_IOMMU_OPTION_HUGE_PAGES	1	/* per IOAS; 0: 4 KiB only */
#define LUVMM_IOMMU_OPTION_OP_SET	0
#define LUVMM_IOMMU_OPTION_OP_GET	1

struct luvmm_iommu_option {
	__u32 size;
	__u32 option_id;	/* LUVMM_IOMMU_OPTION_* */
	__u16 op;		/* LUVMM_IOMMU_OPTION_OP_* */
	__u16 __reserved;	/* must be 0 */
	__u32 object_id;	/* the IOAS for HUGE_PAGES, 0 for global */
	__aligned_u64 val64;	/* in for SET, out for GET */
};
#define LUVMM_IOMMU_OPTION \
	_IO(LUVMM_IOMMUFD_TYPE, LUVMM_IOMMUFD_CMD_OPTION)

/* IOMMU_HWPT_ALLOC (Linux 6.6): data types and flags luvmm knows. */
#define LUVMM_IOMMU_HWPT_DATA_NONE	0	/* kernel-managed tables */
#define LUVMM_IOMMU_HWPT_ALLOC_NEST_PARENT	(1u << 0)
#define LUVMM_IOMMU_HWPT_ALLOC_DIRTY_TRACKING	(1u << 1)

/*
 * A hardware page table for dev_id built from (and following) IOAS pt_id.
 * The 6.6 struct ended at __reserved; data_* and then fault_id/__reserved2
 * came later. Sent as zero, older kernels accept them (the size rule).
 */
struct luvmm_iommu_hwpt_alloc {
	__u32 size;
	__u32 flags;		/* LUVMM_IOMMU_HWPT_ALLOC_* */
	__u32 dev_id;		/* from VFIO_DEVICE_BIND_IOMMUFD */
	__u32 pt_id;		/* IOAS (or parent HWPT) */
	__u32 out_hwpt_id;
	__u32 __reserved;	/* must be 0 */
	__u32 data_type;	/* LUVMM_IOMMU_HWPT_DATA_* */
	__u32 data_len;		/* 0 for DATA_NONE */
	__aligned_u64 data_uptr;	/* 0 for DATA_NONE */
	__u32 fault_id;		/* only with FAULT_ID_VALID */
	__u32 __reserved2;	/* must be 0 */
};
#define LUVMM_IOMMU_HWPT_ALLOC \
	_IO(LUVMM_IOMMUFD_TYPE, LUVMM_IOMMUFD_CMD_HWPT_ALLOC)

/*
 * IOMMU_IOAS_CHANGE_PROCESS (Linux 6.13): move the pinned-page accounting
 * of every map in every IOAS of this iommufd to the calling process. Only
 * IOAS_MAP_FILE maps may exist (else EINVAL); on failure nothing changes.
 */
struct luvmm_iommu_ioas_change_process {
	__u32 size;
	__u32 __reserved;	/* must be 0 */
};
#define LUVMM_IOMMU_IOAS_CHANGE_PROCESS \
	_IO(LUVMM_IOMMUFD_TYPE, LUVMM_IOMMUFD_CMD_IOAS_CHANGE_PROCESS)

/* ---- layout checks: sizes, key offsets, ioctl numbers -------------------- */

_Static_assert(sizeof(struct luvmm_iommu_destroy) == 8, "iommu_destroy");
_Static_assert(sizeof(struct luvmm_iommu_ioas_alloc) == 12, "ioas_alloc");
_Static_assert(sizeof(struct luvmm_iommu_iova_range) == 16, "iova_range");
_Static_assert(sizeof(struct luvmm_iommu_ioas_iova_ranges) == 32,
	       "ioas_iova_ranges");
_Static_assert(sizeof(struct luvmm_iommu_ioas_map_file) == 40,
	       "ioas_map_file");
_Static_assert(sizeof(struct luvmm_iommu_ioas_unmap) == 24, "ioas_unmap");
_Static_assert(sizeof(struct luvmm_iommu_option) == 24, "iommu_option");
_Static_assert(sizeof(struct luvmm_iommu_hwpt_alloc) == 48, "hwpt_alloc");
_Static_assert(sizeof(struct luvmm_iommu_ioas_change_process) == 8,
	       "ioas_change_process");

_Static_assert(offsetof(struct luvmm_iommu_ioas_iova_ranges,
			allowed_iovas) == 16, "iova_ranges.allowed_iovas");
_Static_assert(offsetof(struct luvmm_iommu_ioas_map_file, fd) == 12,
	       "map_file.fd");
_Static_assert(offsetof(struct luvmm_iommu_ioas_map_file, start) == 16,
	       "map_file.start");
_Static_assert(offsetof(struct luvmm_iommu_ioas_map_file, iova) == 32,
	       "map_file.iova");
_Static_assert(offsetof(struct luvmm_iommu_ioas_unmap, iova) == 8,
	       "unmap.iova");
_Static_assert(offsetof(struct luvmm_iommu_option, object_id) == 12,
	       "option.object_id");
_Static_assert(offsetof(struct luvmm_iommu_option, val64) == 16,
	       "option.val64");
_Static_assert(offsetof(struct luvmm_iommu_hwpt_alloc, out_hwpt_id) == 16,
	       "hwpt_alloc.out_hwpt_id");
_Static_assert(offsetof(struct luvmm_iommu_hwpt_alloc, data_uptr) == 32,
	       "hwpt_alloc.data_uptr");

_Static_assert(LUVMM_IOMMU_DESTROY == 0x3b80, "IOMMU_DESTROY");
_Static_assert(LUVMM_IOMMU_IOAS_ALLOC == 0x3b81, "IOMMU_IOAS_ALLOC");
_Static_assert(LUVMM_IOMMU_IOAS_IOVA_RANGES == 0x3b84,
	       "IOMMU_IOAS_IOVA_RANGES");
_Static_assert(LUVMM_IOMMU_IOAS_UNMAP == 0x3b86, "IOMMU_IOAS_UNMAP");
_Static_assert(LUVMM_IOMMU_OPTION == 0x3b87, "IOMMU_OPTION");
_Static_assert(LUVMM_IOMMU_HWPT_ALLOC == 0x3b89, "IOMMU_HWPT_ALLOC");
_Static_assert(LUVMM_IOMMU_IOAS_MAP_FILE == 0x3b8f, "IOMMU_IOAS_MAP_FILE");
_Static_assert(LUVMM_IOMMU_IOAS_CHANGE_PROCESS == 0x3b92,
	       "IOMMU_IOAS_CHANGE_PROCESS");

/*
 * A system header, where one exists, must agree with us. Only macros are
 * compared (each under #ifdef), so an older header that lacks some of them
 * still builds; struct sizes differ between kernel versions by design.
 */
#if defined(__has_include)
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#ifdef IOMMU_DESTROY
_Static_assert(IOMMU_DESTROY == LUVMM_IOMMU_DESTROY, "sys IOMMU_DESTROY");
#endif
#ifdef IOMMU_IOAS_ALLOC
_Static_assert(IOMMU_IOAS_ALLOC == LUVMM_IOMMU_IOAS_ALLOC,
	       "sys IOMMU_IOAS_ALLOC");
#endif
#ifdef IOMMU_IOAS_UNMAP
_Static_assert(IOMMU_IOAS_UNMAP == LUVMM_IOMMU_IOAS_UNMAP,
	       "sys IOMMU_IOAS_UNMAP");
#endif
#ifdef IOMMU_OPTION
_Static_assert(IOMMU_OPTION == LUVMM_IOMMU_OPTION, "sys IOMMU_OPTION");
#endif
#ifdef IOMMU_HWPT_ALLOC
_Static_assert(IOMMU_HWPT_ALLOC == LUVMM_IOMMU_HWPT_ALLOC,
	       "sys IOMMU_HWPT_ALLOC");
#endif
#ifdef IOMMU_IOAS_MAP_FILE
_Static_assert(IOMMU_IOAS_MAP_FILE == LUVMM_IOMMU_IOAS_MAP_FILE,
	       "sys IOMMU_IOAS_MAP_FILE");
#endif
#ifdef IOMMU_IOAS_CHANGE_PROCESS
_Static_assert(IOMMU_IOAS_CHANGE_PROCESS == LUVMM_IOMMU_IOAS_CHANGE_PROCESS,
	       "sys IOMMU_IOAS_CHANGE_PROCESS");
#endif
#endif /* __has_include(<linux/iommufd.h>) */
#endif /* __has_include */

#endif
