// SPDX-License-Identifier: MIT
/*
 * vfio.c: VFIO device-cdev helpers (vfio.h): open and find the cdev, bind
 * to an iommufd, attach/replace/detach page tables, region and irq info,
 * BAR mmap and MSI eventfd wiring. No state of its own: every function
 * works on a device fd the caller owns.
 */
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vfio.h"

#define VFIO_PAGE_SIZE	4096ULL

int vfio_dev_open(const char *path, int *fd)
{
	int f;

	if (!path || !*path || !fd)
		return -EINVAL;
	f = open(path, O_RDWR | O_CLOEXEC);
	if (f < 0)
		return -errno;
	*fd = f;
	return 0;
}

static bool is_cdev_name(const char *s)
{
	if (strncmp(s, "vfio", 4) || !s[4])
		return false;
	for (s += 4; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int vfio_dev_cdev_path(const char *sysfs, const char *bdf, char *buf,
		       size_t len)
{
	char dir[512];
	struct dirent *e;
	DIR *d;
	int n, ret = -ENOENT;

	if (!bdf || !*bdf || strchr(bdf, '/') || strstr(bdf, "..") || !buf)
		return -EINVAL;
	n = snprintf(dir, sizeof(dir), "%s/bus/pci/devices/%s/vfio-dev",
		     sysfs ? sysfs : "/sys", bdf);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (!is_cdev_name(e->d_name))
			continue;
		n = snprintf(buf, len, VFIO_CDEV_DIR "/%s", e->d_name);
		ret = n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
		break;
	}
	closedir(d);
	return ret;
}

/* ---- iommufd binding ----------------------------------------------------- */

void vfio_build_bind(struct luvmm_vfio_device_bind_iommufd *cmd, int iommufd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->argsz = sizeof(*cmd);
	cmd->iommufd = iommufd;
}

int vfio_dev_bind_iommufd(int dev_fd, int iommufd, uint32_t *dev_id)
{
	struct luvmm_vfio_device_bind_iommufd cmd;

	if (dev_fd < 0 || iommufd < 0)
		return -EBADF;
	vfio_build_bind(&cmd, iommufd);
	if (ioctl(dev_fd, LUVMM_VFIO_DEVICE_BIND_IOMMUFD, &cmd) < 0)
		return -errno;
	if (dev_id)
		*dev_id = cmd.out_devid;
	return 0;
}

void vfio_build_attach(struct luvmm_vfio_device_attach_iommufd_pt *cmd,
		       uint32_t pt_id)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->argsz = sizeof(*cmd);
	cmd->pt_id = pt_id;
}

int vfio_dev_attach_pt(int dev_fd, uint32_t pt_id, uint32_t *hwpt)
{
	struct luvmm_vfio_device_attach_iommufd_pt cmd;

	if (dev_fd < 0)
		return -EBADF;
	vfio_build_attach(&cmd, pt_id);
	if (ioctl(dev_fd, LUVMM_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd) < 0)
		return -errno;
	if (hwpt)
		*hwpt = cmd.pt_id;
	return 0;
}

void vfio_build_detach(struct luvmm_vfio_device_detach_iommufd_pt *cmd)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->argsz = sizeof(*cmd);
}

int vfio_dev_detach_pt(int dev_fd)
{
	struct luvmm_vfio_device_detach_iommufd_pt cmd;

	if (dev_fd < 0)
		return -EBADF;
	vfio_build_detach(&cmd);
	if (ioctl(dev_fd, LUVMM_VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd) < 0)
		return -errno;
	return 0;
}

/* ---- device, region and irq info ----------------------------------------- */

int vfio_dev_get_info(int dev_fd, struct vfio_device_info *info)
{
	if (dev_fd < 0)
		return -EBADF;
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	if (ioctl(dev_fd, VFIO_DEVICE_GET_INFO, info) < 0)
		return -errno;
	return 0;
}

void vfio_build_region_info(struct vfio_region_info *ri, uint32_t index)
{
	memset(ri, 0, sizeof(*ri));
	ri->argsz = sizeof(*ri);
	ri->index = index;
}

int vfio_dev_region_info(int dev_fd, uint32_t index,
			 struct vfio_region_info *ri)
{
	if (dev_fd < 0)
		return -EBADF;
	vfio_build_region_info(ri, index);
	if (ioctl(dev_fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0)
		return -errno;
	return 0;
}

int vfio_dev_irq_info(int dev_fd, uint32_t index, struct vfio_irq_info *ii)
{
	if (dev_fd < 0)
		return -EBADF;
	memset(ii, 0, sizeof(*ii));
	ii->argsz = sizeof(*ii);
	ii->index = index;
	if (ioctl(dev_fd, VFIO_DEVICE_GET_IRQ_INFO, ii) < 0)
		return -errno;
	return 0;
}

int vfio_region_mmap_at(int dev_fd, const struct vfio_region_info *ri,
			uint64_t len, int prot, void *addr, void **out)
{
	int flags = MAP_SHARED;
	void *p;

	if (!ri || !out)
		return -EINVAL;
	if (!(ri->flags & VFIO_REGION_INFO_FLAG_MMAP))
		return -ENOTSUP;
	/* x86-64 only: size_t holds any u64 size */
	if (!ri->size || !IS_ALIGNED(ri->offset, VFIO_PAGE_SIZE) ||
	    ri->offset > (uint64_t)INT64_MAX || !len || len > ri->size)
		return -EINVAL;
	if (addr && (!IS_ALIGNED((uintptr_t)addr, VFIO_PAGE_SIZE) ||
		     !IS_ALIGNED(len, VFIO_PAGE_SIZE)))
		return -EINVAL;
	if (prot & ~(PROT_READ | PROT_WRITE))
		return -EINVAL;
	if (((prot & PROT_READ) && !(ri->flags & VFIO_REGION_INFO_FLAG_READ)) ||
	    ((prot & PROT_WRITE) && !(ri->flags & VFIO_REGION_INFO_FLAG_WRITE)))
		return -EINVAL;
	if (addr)
		flags |= MAP_FIXED;
	p = mmap(addr, len, prot, flags, dev_fd, (off_t)ri->offset);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

int vfio_region_mmap(int dev_fd, const struct vfio_region_info *ri, int prot,
		     void **out)
{
	return vfio_region_mmap_at(dev_fd, ri, ri ? ri->size : 0, prot, NULL,
				   out);
}

void vfio_region_munmap(void *p, const struct vfio_region_info *ri)
{
	if (p && ri)
		munmap(p, ri->size);
}

/* ---- interrupts ---------------------------------------------------------- */

size_t vfio_irq_set_size(uint32_t count)
{
	return sizeof(struct vfio_irq_set) + (size_t)count * sizeof(__s32);
}

int vfio_build_irq_eventfds(struct vfio_irq_set *set, size_t bufsize,
			    uint32_t index, uint32_t start, const int *fds,
			    uint32_t count)
{
	uint32_t i, end;
	__s32 v;

	if (!set || !fds || !count || count > VFIO_IRQ_MAX_VECTORS ||
	    __builtin_add_overflow(start, count, &end))
		return -EINVAL;
	for (i = 0; i < count; i++)
		if (fds[i] < -1)
			return -EINVAL;
	if (bufsize < vfio_irq_set_size(count))
		return -ENOSPC;
	memset(set, 0, vfio_irq_set_size(count));
	set->argsz = (uint32_t)vfio_irq_set_size(count);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = index;
	set->start = start;
	set->count = count;
	/* data[] is a byte array: copy each s32 without assuming alignment */
	for (i = 0; i < count; i++) {
		v = fds[i];
		memcpy(set->data + i * sizeof(v), &v, sizeof(v));
	}
	return 0;
}

void vfio_build_irq_disable(struct vfio_irq_set *set, uint32_t index)
{
	memset(set, 0, sizeof(*set));
	set->argsz = sizeof(*set);
	set->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = index;
}

int vfio_dev_set_irq_eventfds(int dev_fd, uint32_t index, uint32_t start,
			      const int *fds, uint32_t count)
{
	struct vfio_irq_set *set;
	size_t size;
	int ret;

	if (dev_fd < 0)
		return -EBADF;
	if (!count || count > VFIO_IRQ_MAX_VECTORS)
		return -EINVAL;
	size = vfio_irq_set_size(count);
	set = malloc(size);
	if (!set)
		return -ENOMEM;
	ret = vfio_build_irq_eventfds(set, size, index, start, fds, count);
	if (ret)
		goto out_free;
	if (ioctl(dev_fd, VFIO_DEVICE_SET_IRQS, set) < 0)
		ret = -errno;
out_free:
	free(set);
	return ret;
}

int vfio_dev_disable_irqs(int dev_fd, uint32_t index)
{
	struct vfio_irq_set set;

	if (dev_fd < 0)
		return -EBADF;
	vfio_build_irq_disable(&set, index);
	if (ioctl(dev_fd, VFIO_DEVICE_SET_IRQS, &set) < 0)
		return -errno;
	return 0;
}

int vfio_dev_reset(int dev_fd)
{
	if (dev_fd < 0)
		return -EBADF;
	if (ioctl(dev_fd, VFIO_DEVICE_RESET) < 0)
		return -errno;
	return 0;
}
