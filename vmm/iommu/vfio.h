/* SPDX-License-Identifier: MIT */
/*
 * vfio.h: VFIO device-cdev helpers for the iommufd backend and for a
 * passthrough device model: opening the cdev, binding it to an iommufd
 * and attaching (or replacing) its page tables, region info and BAR mmap,
 * and MSI/MSI-X eventfd wiring through VFIO_DEVICE_SET_IRQS.
 *
 * Each ioctl has a pure argument builder (vfio_build_*), unit-tested
 * without a device, and a thin wrapper doing the ioctl. Wrappers return 0
 * or -errno; they never log (the caller decides, with
 * iommufd_strerror() for the iommufd-related ones).
 *
 * The module owns no state: the device fd belongs to the caller, who
 * closes it (closing a cdev fd also unbinds it from its iommufd).
 */
#ifndef LUVMM_IOMMU_VFIO_H
#define LUVMM_IOMMU_VFIO_H

#include <stddef.h>
#include <stdint.h>

#include "../compiler.h"
#include "../uapi/vfio_cdev.h"

/* Where device cdevs live (Linux >= 6.6, CONFIG_VFIO_DEVICE_CDEV). */
#define VFIO_CDEV_DIR		"/dev/vfio/devices"
/* The most vectors luvmm wires in one SET_IRQS (PCI MSI-X maximum). */
#define VFIO_IRQ_MAX_VECTORS	2048u

/*
 * Open a device cdev (VFIO_CDEV_DIR "/vfioN") read-write, close-on-exec.
 * 0 and *fd; -ENOENT no such node (no /dev/vfio on this host, or the
 * device is not bound to a VFIO driver); -EACCES; other -errno of open.
 */
int __must_check vfio_dev_open(const char *path, int *fd);

/*
 * The cdev path of PCI device bdf ("0000:01:00.0"), found through
 * <sysfs>/bus/pci/devices/<bdf>/vfio-dev/vfioN (sysfs NULL: "/sys").
 * 0 and "VFIO_CDEV_DIR/vfioN" in buf; -ENOENT not bound to vfio-pci or no
 * cdev support; -EINVAL bad bdf (empty, '/' or ".."); -ENAMETOOLONG buf
 * too small.
 */
int __must_check vfio_dev_cdev_path(const char *sysfs, const char *bdf,
				    char *buf, size_t len);

/* ---- iommufd binding (VFIO cdev, Linux >= 6.6) --------------------------- */

void vfio_build_bind(struct luvmm_vfio_device_bind_iommufd *cmd, int iommufd);
/* Bind dev_fd to iommufd: *dev_id names it in iommufd ioctls. */
int __must_check vfio_dev_bind_iommufd(int dev_fd, int iommufd,
				       uint32_t *dev_id);

void vfio_build_attach(struct luvmm_vfio_device_attach_iommufd_pt *cmd,
		       uint32_t pt_id);
/*
 * Attach to IOAS or HWPT pt_id; if attached already, *replace* atomically
 * (the device never sees no translation). *hwpt (may be NULL): the HWPT
 * now attached (for an IOAS, one the kernel made).
 */
int __must_check vfio_dev_attach_pt(int dev_fd, uint32_t pt_id,
				    uint32_t *hwpt);

void vfio_build_detach(struct luvmm_vfio_device_detach_iommufd_pt *cmd);
/* Detach: the device's DMA is blocked afterwards. */
int __must_check vfio_dev_detach_pt(int dev_fd);

/* ---- device, region and irq info ----------------------------------------- */

int __must_check vfio_dev_get_info(int dev_fd, struct vfio_device_info *info);

void vfio_build_region_info(struct vfio_region_info *ri, uint32_t index);
/*
 * Region index (VFIO_PCI_BAR0_REGION_INDEX, ..., CONFIG): its flags, size
 * and offset in the device fd. Capabilities (sparse mmap) are not read.
 */
int __must_check vfio_dev_region_info(int dev_fd, uint32_t index,
				      struct vfio_region_info *ri);

int __must_check vfio_dev_irq_info(int dev_fd, uint32_t index,
				   struct vfio_irq_info *ii);

/*
 * mmap a whole region (a BAR) shared, with prot PROT_READ/PROT_WRITE.
 * -ENOTSUP the region cannot be mmapped (no FLAG_MMAP); -EINVAL empty,
 * unaligned offset, too large, or prot wanting access the region lacks;
 * else mmap's -errno. Undo with vfio_region_munmap().
 */
int __must_check vfio_region_mmap(int dev_fd, const struct vfio_region_info *ri,
				  int prot, void **out);
/*
 * mmap the first len bytes of a region shared, at addr (MAP_FIXED: it
 * replaces whatever is mapped there, e.g. a placeholder a KVM memslot
 * already points at) or, addr NULL, where the kernel likes. The errors of
 * vfio_region_mmap(), and -EINVAL len 0 or beyond the region, or addr or
 * len not page aligned. If a MAP_FIXED mmap fails, what was at addr may be
 * gone. Undo with munmap(*out, len).
 */
int __must_check vfio_region_mmap_at(int dev_fd,
				     const struct vfio_region_info *ri,
				     uint64_t len, int prot, void *addr,
				     void **out);
void vfio_region_munmap(void *p, const struct vfio_region_info *ri);

/* ---- interrupts (VFIO_DEVICE_SET_IRQS) ----------------------------------- */

/* Bytes of a struct vfio_irq_set carrying count eventfds. */
size_t vfio_irq_set_size(uint32_t count);

/*
 * Fill set (a buffer of bufsize bytes) to trigger eventfds fds[0..count)
 * for vectors [start, start + count) of irq index (VFIO_PCI_MSI_IRQ_INDEX,
 * VFIO_PCI_MSIX_IRQ_INDEX, ...). fds[i] == -1 de-assigns that vector.
 * -EINVAL count 0 or > VFIO_IRQ_MAX_VECTORS, start + count overflows, an
 * fd below -1; -ENOSPC bufsize < vfio_irq_set_size(count).
 */
int __must_check vfio_build_irq_eventfds(struct vfio_irq_set *set,
					 size_t bufsize, uint32_t index,
					 uint32_t start, const int *fds,
					 uint32_t count);
/* Fill set to disable every vector of index (DATA_NONE, count 0). */
void vfio_build_irq_disable(struct vfio_irq_set *set, uint32_t index);

/* The ioctls for the two builders above (same argument errors). */
int __must_check vfio_dev_set_irq_eventfds(int dev_fd, uint32_t index,
					   uint32_t start, const int *fds,
					   uint32_t count);
int __must_check vfio_dev_disable_irqs(int dev_fd, uint32_t index);

int __must_check vfio_dev_reset(int dev_fd);

#endif
