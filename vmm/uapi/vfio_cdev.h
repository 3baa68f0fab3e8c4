/* SPDX-License-Identifier: MIT */
/*
 * uapi/vfio_cdev.h: the VFIO device-cdev ioctls Linux 6.1's <linux/vfio.h>
 * lacks (BIND_IOMMUFD, ATTACH_IOMMUFD_PT, DETACH_IOMMUFD_PT, Linux 6.6),
 * written from the ABI (torvalds/linux include/uapi/linux/vfio.h).
 *
 * Everything 6.1 already has (VFIO_TYPE, GET_INFO, GET_REGION_INFO,
 * GET_IRQ_INFO, SET_IRQS, RESET and their structs) comes from the system
 * <linux/vfio.h>, whose numbers and sizes are checked here too. Our names
 * carry a LUVMM_ / luvmm_ prefix, so a newer system header that defines
 * struct vfio_device_bind_iommufd never clashes; where it does define the
 * ioctls, their numbers are compared with ours.
 */
#ifndef LUVMM_UAPI_VFIO_CDEV_H
#define LUVMM_UAPI_VFIO_CDEV_H

#include <stddef.h>
#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/vfio.h>

#define LUVMM_VFIO_TYPE		';'
#define LUVMM_VFIO_BASE		100

/*
 * VFIO_DEVICE_BIND_IOMMUFD: bind a device cdev fd to an iommufd; out_devid
 * names the device in iommufd ioctls. Unbind happens when the device fd
 * closes. token_uuid_ptr (with FLAG_TOKEN) is the PF/VF token, added in
 * 2025; kernels before it read only the first 16 bytes (argsz >= minsz).
 */
#define LUVMM_VFIO_DEVICE_BIND_FLAG_TOKEN	(1u << 0)

struct luvmm_vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;		/* LUVMM_VFIO_DEVICE_BIND_FLAG_* */
	__s32 iommufd;
	__u32 out_devid;
	__aligned_u64 token_uuid_ptr;	/* 16-byte UUID, with FLAG_TOKEN */
};
#define LUVMM_VFIO_DEVICE_BIND_IOMMUFD \
	_IO(LUVMM_VFIO_TYPE, LUVMM_VFIO_BASE + 18)

/*
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT: attach to an IOAS or HWPT. A second
 * attach without detach *replaces* the attached HWPT (hitless where the
 * driver supports it). pt_id comes back as the HWPT actually attached
 * (one the kernel made, for an IOAS). pasid arrived after 6.6; kernels
 * before it read 12 bytes.
 */
#define LUVMM_VFIO_DEVICE_ATTACH_PASID	(1u << 0)

struct luvmm_vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;		/* LUVMM_VFIO_DEVICE_ATTACH_* */
	__u32 pt_id;		/* in: IOAS or HWPT; out: HWPT attached */
	__u32 pasid;		/* only with ATTACH_PASID */
};
#define LUVMM_VFIO_DEVICE_ATTACH_IOMMUFD_PT \
	_IO(LUVMM_VFIO_TYPE, LUVMM_VFIO_BASE + 19)

/* VFIO_DEVICE_DETACH_IOMMUFD_PT: back to blocking all DMA. */
#define LUVMM_VFIO_DEVICE_DETACH_PASID	(1u << 0)

struct luvmm_vfio_device_detach_iommufd_pt {
	__u32 argsz;
	__u32 flags;		/* LUVMM_VFIO_DEVICE_DETACH_* */
	__u32 pasid;		/* only with DETACH_PASID */
};
#define LUVMM_VFIO_DEVICE_DETACH_IOMMUFD_PT \
	_IO(LUVMM_VFIO_TYPE, LUVMM_VFIO_BASE + 20)

/* ---- layout checks ------------------------------------------------------- */

_Static_assert(sizeof(struct luvmm_vfio_device_bind_iommufd) == 24,
	       "vfio_device_bind_iommufd");
_Static_assert(offsetof(struct luvmm_vfio_device_bind_iommufd,
			out_devid) == 12, "bind.out_devid");
_Static_assert(offsetof(struct luvmm_vfio_device_bind_iommufd,
			token_uuid_ptr) == 16, "bind.token_uuid_ptr");
_Static_assert(sizeof(struct luvmm_vfio_device_attach_iommufd_pt) == 16,
	       "vfio_device_attach_iommufd_pt");
_Static_assert(offsetof(struct luvmm_vfio_device_attach_iommufd_pt,
			pt_id) == 8, "attach.pt_id");
_Static_assert(sizeof(struct luvmm_vfio_device_detach_iommufd_pt) == 12,
	       "vfio_device_detach_iommufd_pt");

_Static_assert(LUVMM_VFIO_DEVICE_BIND_IOMMUFD == 0x3b76,
	       "VFIO_DEVICE_BIND_IOMMUFD");
_Static_assert(LUVMM_VFIO_DEVICE_ATTACH_IOMMUFD_PT == 0x3b77,
	       "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
_Static_assert(LUVMM_VFIO_DEVICE_DETACH_IOMMUFD_PT == 0x3b78,
	       "VFIO_DEVICE_DETACH_IOMMUFD_PT");

/* What luvmm uses from the system header (present since long before 6.1). */
_Static_assert(VFIO_TYPE == LUVMM_VFIO_TYPE && VFIO_BASE == LUVMM_VFIO_BASE,
	       "VFIO_TYPE/VFIO_BASE");
_Static_assert(VFIO_DEVICE_GET_INFO == 0x3b6b, "VFIO_DEVICE_GET_INFO");
_Static_assert(VFIO_DEVICE_GET_REGION_INFO == 0x3b6c,
	       "VFIO_DEVICE_GET_REGION_INFO");
_Static_assert(VFIO_DEVICE_GET_IRQ_INFO == 0x3b6d, "VFIO_DEVICE_GET_IRQ_INFO");
_Static_assert(VFIO_DEVICE_SET_IRQS == 0x3b6e, "VFIO_DEVICE_SET_IRQS");
_Static_assert(VFIO_DEVICE_RESET == 0x3b6f, "VFIO_DEVICE_RESET");
/* vfio_device_info is 20 bytes in 6.1; later headers append a u32 pad */
_Static_assert(sizeof(struct vfio_device_info) == 20 ||
	       sizeof(struct vfio_device_info) == 24, "vfio_device_info");
_Static_assert(offsetof(struct vfio_device_info, cap_offset) == 16,
	       "device_info.cap_offset");
_Static_assert(sizeof(struct vfio_region_info) == 32, "vfio_region_info");
_Static_assert(sizeof(struct vfio_irq_info) == 16, "vfio_irq_info");
_Static_assert(sizeof(struct vfio_irq_set) == 20, "vfio_irq_set");
_Static_assert(offsetof(struct vfio_irq_set, data) == 20, "irq_set.data");
_Static_assert(VFIO_PCI_MSI_IRQ_INDEX == 1 && VFIO_PCI_MSIX_IRQ_INDEX == 2,
	       "VFIO_PCI_MSI(X)_IRQ_INDEX");

#ifdef VFIO_DEVICE_BIND_IOMMUFD
_Static_assert(VFIO_DEVICE_BIND_IOMMUFD == LUVMM_VFIO_DEVICE_BIND_IOMMUFD,
	       "sys VFIO_DEVICE_BIND_IOMMUFD");
#endif
#ifdef VFIO_DEVICE_ATTACH_IOMMUFD_PT
_Static_assert(VFIO_DEVICE_ATTACH_IOMMUFD_PT ==
	       LUVMM_VFIO_DEVICE_ATTACH_IOMMUFD_PT,
	       "sys VFIO_DEVICE_ATTACH_IOMMUFD_PT");
#endif
#ifdef VFIO_DEVICE_DETACH_IOMMUFD_PT
_Static_assert(VFIO_DEVICE_DETACH_IOMMUFD_PT ==
	       LUVMM_VFIO_DEVICE_DETACH_IOMMUFD_PT,
	       "sys VFIO_DEVICE_DETACH_IOMMUFD_PT");
#endif

#endif
