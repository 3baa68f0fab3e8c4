// SPDX-License-Identifier: MIT
/*
 * pt_vfio.c: the passthrough device's vfio backend (struct pt_backend): a
 * VFIO device cdev (/dev/vfio/devices/vfioN) behind iommufd. Owns opening
 * the cdev and /dev/iommu and binding the one to the other, mapping the
 * device's BAR0 where the guest's BAR0 memslot points, wiring the
 * device's MSI to the interrupt eventfd (VFIO_DEVICE_SET_IRQS), its
 * doorbell register, and after a live update adopting the iommufd, the
 * bound device and its live objects so that the replay can build new
 * ones and replace.
 *
 * The kernel owns the I/O page tables: nothing here can read them, and
 * the replay reports the swap as not validated (hwpt_compare is
 * -EOPNOTSUPP on iommufd). docs/iommu.md says what runs where.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../iommu/iommu.h"
#include "../iommu/iommufd.h"
#include "../iommu/vfio.h"
#include "../json.h"
#include "../liveupdate/handoff.h"
#include "../log.h"
#include "../util.h"
#include "../vm.h"
#include "passthrough.h"

/* ---- BAR0 --------------------------------------------------------------------- */

/* The cdev did not open: say the likely reason. */
static void log_open_error(const char *path, int err)
{
	bool no_cdevs = err == -ENOENT && access(VFIO_CDEV_DIR, F_OK);

	log_err("passthrough: vfio device %s: %s%s", path, strerror(-err),
		no_cdevs ? " (no " VFIO_CDEV_DIR ": kernel without "
		"CONFIG_VFIO_DEVICE_CDEV, or no device bound to vfio-pci)" : "");
}

int pt_vfio_premap(const struct device_spec *spec, const char *iommufd_path,
		   struct handoff *h, struct vm_devmem *dm)
{
	void *p;
	int fd, ret;

	if (h) {
		fd = pt_take_fd(h, "pt-vfio", HK_ANY);
		if (fd < 0)
			return fd;
	} else {
		if (access(iommufd_path, F_OK)) {
			ret = -errno;
			if (ret != -ENOENT) {
				log_err("passthrough: %s: %s", iommufd_path,
					strerror(-ret));
				return ret;
			}
			log_err("passthrough: vfio device %s: needs /dev/iommu and "
				"/dev/vfio: not on this host (no %s)", spec->path,
				iommufd_path);
			return -ENODEV;
		}
		ret = vfio_dev_open(spec->path, &fd);
		if (ret) {
			log_open_error(spec->path, ret);
			return ret;
		}
	}
	/*
	 * The memslot goes in with RAM's, but the cdev refuses region info
	 * and mmap until it is bound to an iommufd (create, later). So the
	 * slot points at a placeholder page, and open() maps the device's
	 * BAR0 over it: KVM follows the host mapping. No vCPU runs before.
	 */
	p = mmap(NULL, LUVMM_DMA_BAR0_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		ret = -errno;
		log_err("passthrough: BAR0 placeholder: %s", strerror(-ret));
		close(fd);
		return ret;
	}
	*dm = (struct vm_devmem){ LUVMM_DMA_BAR0, LUVMM_DMA_BAR0_SIZE, p, fd };
	return 1;
}

/* The first d->bar_size bytes of the device's BAR0, over the placeholder. */
static int bar_map(struct pt_dev *d)
{
	struct vfio_region_info ri;
	void *p = NULL;
	int ret;

	ret = vfio_dev_region_info(d->vfio_fd, VFIO_PCI_BAR0_REGION_INDEX, &ri);
	if (ret) {
		log_err("passthrough: vfio device %s: BAR0 region info: %s",
			d->spec.path, strerror(-ret));
		return ret;
	}
	if (ri.size < d->bar_size) {
		log_err("passthrough: vfio device %s: BAR0 is %llu bytes, the "
			"guest's BAR0 is %llu", d->spec.path,
			(unsigned long long)ri.size,
			(unsigned long long)d->bar_size);
		return -ERANGE;
	}
	ret = vfio_region_mmap_at(d->vfio_fd, &ri, d->bar_size,
				  PROT_READ | PROT_WRITE, d->bar, &p);
	if (ret) {
		log_err("passthrough: vfio device %s: BAR0 mmap: %s", d->spec.path,
			ret == -ENOTSUP ? "the region cannot be mmapped" :
			strerror(-ret));
		return ret;
	}
	return 0;
}

/* ---- the backend ---------------------------------------------------------------- */

/* After an update: the old VMM's iommufd, bound device and MSI eventfd.
 * Only read-only ioctls: the old VMM may still take the guest back. */
static int open_incoming(struct pt_dev *d, struct handoff *h)
{
	int ifd, ret;

	ifd = pt_take_fd(h, "pt-iommufd", HK_ANY);
	d->irq_fd = pt_take_fd(h, "pt-irq", HK_EVENTFD);
	if (ifd < 0 || d->irq_fd < 0) {
		util_close(&ifd);
		return -EBADF;
	}
	ret = iommufd_adopt(ifd, &d->io);
	if (ret) {
		log_err("passthrough: the handed-over iommufd: %s",
			iommufd_strerror(IOMMUFD_OP_OPTION, ret));
		close(ifd);
		return ret;
	}
	return bar_map(d);
}

static int vfio_open(struct pt_dev *d, struct handoff *h)
{
	int ret;

	if (h)
		return open_incoming(d, h);
	ret = iommufd_open(d->iommufd_path, &d->io);
	if (ret) {
		log_err("passthrough: vfio: %s: %s", d->iommufd_path,
			iommufd_strerror(IOMMUFD_OP_OPEN, ret));
		return ret;
	}
	ret = iommufd_bind_device(d->io, d->vfio_fd, &d->dev_id);
	if (ret) {
		log_err("passthrough: vfio device %s: %s: %s", d->spec.path,
			iommufd_op_name(IOMMUFD_OP_BIND),
			iommufd_strerror(IOMMUFD_OP_BIND, ret));
		return ret;
	}
	ret = bar_map(d);
	if (ret)
		return ret;
	d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return d->irq_fd < 0 ? -errno : 0;
}

/* Boot, attached: the device's MSI (one vector) signals the eventfd our
 * irqfd listens to. It stays wired across updates: the eventfd is
 * handed over, not the wiring. */
static int vfio_start(struct pt_dev *d)
{
	struct vfio_irq_info ii;
	int ret;

	ret = vfio_dev_irq_info(d->vfio_fd, VFIO_PCI_MSI_IRQ_INDEX, &ii);
	if (!ret && (!ii.count || !(ii.flags & VFIO_IRQ_INFO_EVENTFD)))
		ret = -ENOTSUP;
	if (!ret)
		ret = vfio_dev_set_irq_eventfds(d->vfio_fd, VFIO_PCI_MSI_IRQ_INDEX,
						0, &d->irq_fd, 1);
	if (ret)
		log_err("passthrough: vfio device %s: MSI: %s", d->spec.path,
			ret == -ENOTSUP ? "the device has no MSI vector" :
			strerror(-ret));
	return ret;
}

/*
 * Rebuild thread, before the replay: the device the old VMM bound, under
 * the id the record carries (no ioctl), then the pinned-page accounting
 * of every mapping moves to this process (all or nothing). The objects
 * the device is attached to now are the replay's old ones.
 */
static int vfio_adopt(struct pt_dev *d, struct replay_params *p, char *err,
		      size_t errlen)
{
	bool huge;
	int ret;

	/*
	 * The record's IOAS id must name an IOAS of this iommufd before any
	 * accounting moves: a read-only IOMMU_OPTION get, which the kernel
	 * answers only for an IOAS. (A wrong HWPT or device id fails the
	 * replay's own calls, and nothing is swapped.)
	 */
	ret = iommufd_get_huge_pages(d->io, d->ioas_id, &huge);
	if (ret) {
		snprintf(err, errlen, "the record's IOAS %u is not an IOAS of the "
			 "handed-over iommufd: %s", d->ioas_id, strerror(-ret));
		return ret;
	}
	ret = iommufd_adopt_device(d->io, d->vfio_fd, d->dev_id);
	if (ret) {
		snprintf(err, errlen, "the old VMM's device %u: %s", d->dev_id,
			 strerror(-ret));
		return ret;
	}
	ret = iommufd_change_process(d->io);
	if (ret) {
		snprintf(err, errlen, "%s: %s",
			 iommufd_op_name(IOMMUFD_OP_IOAS_CHANGE_PROCESS),
			 iommufd_strerror(IOMMUFD_OP_IOAS_CHANGE_PROCESS, ret));
		return ret;
	}
	p->old_hwpt = d->hwpt_id;
	p->old_ioas = d->ioas_id;
	return 0;
}

/* The guest rang port LUVMM_PORT_DMA_DOORBELL: write the device's
 * doorbell register (a posted MMIO write through the BAR mapping). */
static void vfio_ring(struct pt_dev *d)
{
	volatile uint32_t *reg = (volatile uint32_t *)((uint8_t *)d->bar +
						       PT_VFIO_DOORBELL);

	*reg = PT_VFIO_DOORBELL_VALUE;
}

/* The kernel objects live in the iommufd file and the binding in the
 * cdev's: handing both over keeps them (and their ids). */
static int vfio_export(struct pt_dev *d, struct handoff *h)
{
	int ret;

	ret = handoff_add(h, "pt-vfio", d->vfio_fd, HK_ANY);
	if (!ret)
		ret = handoff_add(h, "pt-iommufd", iommufd_fd(d->io), HK_ANY);
	return ret;
}

static void vfio_metrics(struct pt_dev *d, struct json_writer *w)
{
	jw_key(w, "iommufd");
	jw_obj_begin(w);
	jw_ku64(w, "dev_id", d->dev_id);
	jw_ku64(w, "ioas", d->ioas_id);
	jw_ku64(w, "hwpt", d->hwpt_id);
	jw_obj_end(w);
}

const struct pt_backend pt_vfio_backend = {
	.name = "vfio",
	.open = vfio_open,
	.start = vfio_start,
	.adopt = vfio_adopt,
	.ring = vfio_ring,
	.export = vfio_export,
	.metrics = vfio_metrics,
};
