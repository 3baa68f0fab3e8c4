// SPDX-License-Identifier: MIT
/*
 * test_iommufd.c: the iommufd backend and VFIO helpers without a kernel
 * that has them: every argument builder (fields, sizes, flags from prot,
 * bad arguments), iommu_check_map/unmap boundaries, the errno -> reason
 * mapping, the ops' own checks and their ioctl path (on /dev/null, which
 * answers ENOTTY), adopt's probe, cdev lookup in a fake sysfs and BAR
 * mmap over a memfd (whole, or its first page over a placeholder), and a
 * boot plus live update against a fake kernel (fake_iommufd.h). One case runs the real uAPI where /dev/iommu exists
 * and skips, saying why, where it does not. Struct sizes and ioctl numbers
 * are checked at compile time by the uapi headers' _Static_asserts.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../vmm/iommu/iommufd.h"
#include "../vmm/iommu/vfio.h"
#include "fake_iommufd.h"
#include "tap.h"

#define PG	4096ULL
#define R	IOMMU_PROT_READ
#define W	IOMMU_PROT_WRITE
#define RW	(IOMMU_PROT_READ | IOMMU_PROT_WRITE)
#define TOP	UINT64_MAX	/* 2^64 - 1 */

static bool has(const char *s, const char *needle)
{
	return s && strstr(s, needle);
}

static bool all_bytes(const void *p, size_t n, unsigned char v)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != v)
			return false;
	return true;
}

/* ---- uapi encoding ------------------------------------------------------- */

static void test_uapi_encoding(void)
{
	/* iommufd dispatches on nr and wants _IO (no dir, no size bits) */
	CHECK_EQ(_IOC_TYPE(LUVMM_IOMMU_IOAS_MAP_FILE), ';');
	CHECK_EQ(_IOC_NR(LUVMM_IOMMU_IOAS_MAP_FILE), 0x8f);
	CHECK_EQ(_IOC_DIR(LUVMM_IOMMU_IOAS_MAP_FILE), _IOC_NONE);
	CHECK_EQ(_IOC_SIZE(LUVMM_IOMMU_IOAS_MAP_FILE), 0);
	CHECK_EQ(_IOC_NR(LUVMM_IOMMU_IOAS_CHANGE_PROCESS), 0x92);
	CHECK_EQ(_IOC_NR(LUVMM_IOMMU_HWPT_ALLOC), 0x89);
	CHECK_EQ(_IOC_NR(LUVMM_VFIO_DEVICE_BIND_IOMMUFD), 100 + 18);
	CHECK_EQ(_IOC_NR(LUVMM_VFIO_DEVICE_ATTACH_IOMMUFD_PT), 100 + 19);
	CHECK_EQ(_IOC_NR(LUVMM_VFIO_DEVICE_DETACH_IOMMUFD_PT), 100 + 20);
	CHECK_EQ(_IOC_DIR(LUVMM_VFIO_DEVICE_BIND_IOMMUFD), _IOC_NONE);
}

/* ---- iommu_check_map / iommu_check_unmap --------------------------------- */

static void test_check_map(void)
{
	CHECK_ERR(0, iommu_check_map(0, PG, 0, R));
	CHECK_ERR(0, iommu_check_map(PG, 2 * MiB, GiB, RW));
	CHECK_ERR(0, iommu_check_map(0, PG, 0, W));
	/* the last whole page below 2^64 with a representable end */
	CHECK_ERR(0, iommu_check_map(TOP - 2 * PG + 1, PG, 0, R));
	CHECK_ERR(0, iommu_check_map(0, PG, TOP - 2 * PG + 1, R));

	CHECK_ERR(-EINVAL, iommu_check_map(0, 0, 0, R));
	CHECK_ERR(-EINVAL, iommu_check_map(1, PG, 0, R));
	CHECK_ERR(-EINVAL, iommu_check_map(0, PG + 1, 0, R));
	CHECK_ERR(-EINVAL, iommu_check_map(0, PG, 0x800, R));
	CHECK_ERR(-EINVAL, iommu_check_map(0, PG, 0, 0));
	CHECK_ERR(-EINVAL, iommu_check_map(0, PG, 0, 4));
	CHECK_ERR(-EINVAL, iommu_check_map(0, PG, 0, RW | 4));
	/* start + length and iova + length wrapping past 2^64 */
	CHECK_ERR(-EINVAL, iommu_check_map(TOP - PG + 1, 2 * PG, 0, R));
	CHECK_ERR(-EINVAL, iommu_check_map(0, 2 * PG, TOP - PG + 1, R));
	CHECK_ERR(-EINVAL, iommu_check_map(PG, TOP - PG + 1, 0, R));
}

static void test_check_unmap(void)
{
	CHECK_ERR(0, iommu_check_unmap(0, PG));
	CHECK_ERR(0, iommu_check_unmap(GiB, 512 * GiB));
	CHECK_ERR(0, iommu_check_unmap(TOP - 2 * PG + 1, PG));

	CHECK_ERR(-EINVAL, iommu_check_unmap(0, 0));
	CHECK_ERR(-EINVAL, iommu_check_unmap(0x10, PG));
	CHECK_ERR(-EINVAL, iommu_check_unmap(0, PG - 1));
	CHECK_ERR(-EINVAL, iommu_check_unmap(TOP - PG + 1, 2 * PG));
	CHECK_ERR(-EINVAL, iommu_check_unmap(2 * PG, TOP - PG + 1));
}

/* ---- iommufd builders ---------------------------------------------------- */

static void test_map_flags(void)
{
	CHECK_EQ(iommufd_map_flags(R), 0x1 | 0x4);
	CHECK_EQ(iommufd_map_flags(W), 0x1 | 0x2);
	CHECK_EQ(iommufd_map_flags(RW), 0x7);
	CHECK_EQ(iommufd_map_flags(0), 0);
	CHECK_EQ(iommufd_map_flags(4), 0);
	CHECK_EQ(iommufd_map_flags(RW | 8), 0);
}

static void test_build_map_file(void)
{
	struct luvmm_iommu_ioas_map_file c;

	memset(&c, 0xaa, sizeof(c));
	REQUIRE_OK(iommufd_build_map_file(&c, 3, 9, 2 * MiB, 4 * MiB, GiB, RW));
	CHECK_EQ(c.size, 40);
	CHECK_EQ(c.flags, LUVMM_IOMMU_IOAS_MAP_FIXED_IOVA |
		 LUVMM_IOMMU_IOAS_MAP_READABLE |
		 LUVMM_IOMMU_IOAS_MAP_WRITEABLE);
	CHECK_EQ(c.ioas_id, 3);
	CHECK_EQ(c.fd, 9);
	CHECK_EQ(c.start, 2 * MiB);
	CHECK_EQ(c.length, 4 * MiB);
	CHECK_EQ(c.iova, GiB);

	REQUIRE_OK(iommufd_build_map_file(&c, 1, 0, 0, PG, 0, R));
	CHECK_EQ(c.flags, 0x5);
	REQUIRE_OK(iommufd_build_map_file(&c, 1, 0, 0, PG, 0, W));
	CHECK_EQ(c.flags, 0x3);

	/* refused before touching cmd */
	memset(&c, 0xaa, sizeof(c));
	CHECK_ERR(-EINVAL, iommufd_build_map_file(&c, 1, 5, 0, PG, 0, 0));
	CHECK_ERR(-EINVAL, iommufd_build_map_file(&c, 1, 5, 0, 0, 0, R));
	CHECK_ERR(-EINVAL, iommufd_build_map_file(&c, 1, 5, 0x200, PG, 0, R));
	CHECK_ERR(-EINVAL, iommufd_build_map_file(&c, 1, 5, 0, PG, TOP - PG + 1,
						  R));
	CHECK_ERR(-EBADF, iommufd_build_map_file(&c, 1, -1, 0, PG, 0, R));
	CHECK(all_bytes(&c, sizeof(c), 0xaa));
}

static void test_build_unmap(void)
{
	struct luvmm_iommu_ioas_unmap c;

	memset(&c, 0xaa, sizeof(c));
	REQUIRE_OK(iommufd_build_unmap(&c, 7, 4 * GiB, 2 * MiB));
	CHECK_EQ(c.size, 24);
	CHECK_EQ(c.ioas_id, 7);
	CHECK_EQ(c.iova, 4 * GiB);
	CHECK_EQ(c.length, 2 * MiB);

	memset(&c, 0xaa, sizeof(c));
	CHECK_ERR(-EINVAL, iommufd_build_unmap(&c, 7, 0, 0));
	CHECK_ERR(-EINVAL, iommufd_build_unmap(&c, 7, 1, PG));
	CHECK_ERR(-EINVAL, iommufd_build_unmap(&c, 7, TOP - PG + 1, 2 * PG));
	CHECK(all_bytes(&c, sizeof(c), 0xaa));
}

static void test_build_small(void)
{
	struct luvmm_iommu_destroy d;
	struct luvmm_iommu_ioas_alloc a;
	struct luvmm_iommu_ioas_change_process cp;
	struct luvmm_iommu_option o;

	memset(&d, 0xff, sizeof(d));
	iommufd_build_destroy(&d, 42);
	CHECK_EQ(d.size, 8);
	CHECK_EQ(d.id, 42);

	memset(&a, 0xff, sizeof(a));
	iommufd_build_ioas_alloc(&a);
	CHECK_EQ(a.size, 12);
	CHECK_EQ(a.flags, 0);
	CHECK_EQ(a.out_ioas_id, 0);

	memset(&cp, 0xff, sizeof(cp));
	iommufd_build_change_process(&cp);
	CHECK_EQ(cp.size, 8);
	CHECK_EQ(cp.__reserved, 0);

	memset(&o, 0xff, sizeof(o));
	iommufd_build_option(&o, LUVMM_IOMMU_OPTION_HUGE_PAGES,
			     LUVMM_IOMMU_OPTION_OP_SET, 5, 0);
	CHECK_EQ(o.size, 24);
	CHECK_EQ(o.option_id, 1);
	CHECK_EQ(o.op, 0);
	CHECK_EQ(o.__reserved, 0);
	CHECK_EQ(o.object_id, 5);
	CHECK_EQ(o.val64, 0);
	iommufd_build_option(&o, LUVMM_IOMMU_OPTION_RLIMIT_MODE,
			     LUVMM_IOMMU_OPTION_OP_GET, 0, 77);
	CHECK_EQ(o.option_id, 0);
	CHECK_EQ(o.op, 1);
	CHECK_EQ(o.object_id, 0);
	CHECK_EQ(o.val64, 77);
}

static void test_build_hwpt_alloc(void)
{
	struct luvmm_iommu_hwpt_alloc c;

	memset(&c, 0xff, sizeof(c));
	iommufd_build_hwpt_alloc(&c, 11, 4);
	CHECK_EQ(c.size, 48);
	CHECK_EQ(c.flags, 0);
	CHECK_EQ(c.dev_id, 11);
	CHECK_EQ(c.pt_id, 4);
	CHECK_EQ(c.out_hwpt_id, 0);
	CHECK_EQ(c.__reserved, 0);
	CHECK_EQ(c.data_type, LUVMM_IOMMU_HWPT_DATA_NONE);
	CHECK_EQ(c.data_len, 0);
	CHECK_EQ(c.data_uptr, 0);
	CHECK_EQ(c.fault_id, 0);
	CHECK_EQ(c.__reserved2, 0);
}

static void test_hwpt_plan(void)
{
	bool no_huge = true;

	CHECK_ERR(0, iommufd_hwpt_plan(0, &no_huge));
	CHECK_EQ(no_huge, false);
	CHECK_ERR(0, iommufd_hwpt_plan(IOMMU_HWPT_MAX_4K, &no_huge));
	CHECK_EQ(no_huge, true);
	CHECK_ERR(-EOPNOTSUPP, iommufd_hwpt_plan(IOMMU_HWPT_MAX_2M, &no_huge));
	CHECK_ERR(-EINVAL, iommufd_hwpt_plan(IOMMU_HWPT_MAX_2M |
					     IOMMU_HWPT_MAX_4K, &no_huge));
	CHECK_ERR(-EINVAL, iommufd_hwpt_plan(1u << 2, &no_huge));
}

static void test_build_iova_ranges(void)
{
	struct luvmm_iommu_iova_range r[3];
	struct luvmm_iommu_ioas_iova_ranges c;

	memset(&c, 0xff, sizeof(c));
	iommufd_build_iova_ranges(&c, 2, r, 3);
	CHECK_EQ(c.size, 32);
	CHECK_EQ(c.ioas_id, 2);
	CHECK_EQ(c.num_iovas, 3);
	CHECK_EQ(c.__reserved, 0);
	CHECK_EQ(c.allowed_iovas, (uintptr_t)r);
	CHECK_EQ(c.out_iova_alignment, 0);
	iommufd_build_iova_ranges(&c, 2, NULL, 3);
	CHECK_EQ(c.num_iovas, 0);
	CHECK_EQ(c.allowed_iovas, 0);
}

/* ---- VFIO builders ------------------------------------------------------- */

static void test_vfio_build_cdev(void)
{
	struct luvmm_vfio_device_bind_iommufd b;
	struct luvmm_vfio_device_attach_iommufd_pt a;
	struct luvmm_vfio_device_detach_iommufd_pt d;
	struct vfio_region_info ri;

	memset(&b, 0xff, sizeof(b));
	vfio_build_bind(&b, 12);
	CHECK_EQ(b.argsz, 24);
	CHECK_EQ(b.flags, 0);
	CHECK_EQ(b.iommufd, 12);
	CHECK_EQ(b.out_devid, 0);
	CHECK_EQ(b.token_uuid_ptr, 0);

	memset(&a, 0xff, sizeof(a));
	vfio_build_attach(&a, 9);
	CHECK_EQ(a.argsz, 16);
	CHECK_EQ(a.flags, 0);
	CHECK_EQ(a.pt_id, 9);
	CHECK_EQ(a.pasid, 0);

	memset(&d, 0xff, sizeof(d));
	vfio_build_detach(&d);
	CHECK_EQ(d.argsz, 12);
	CHECK_EQ(d.flags, 0);
	CHECK_EQ(d.pasid, 0);

	memset(&ri, 0xff, sizeof(ri));
	vfio_build_region_info(&ri, VFIO_PCI_BAR2_REGION_INDEX);
	CHECK_EQ(ri.argsz, 32);
	CHECK_EQ(ri.index, 2);
	CHECK_EQ(ri.flags, 0);
	CHECK_EQ(ri.size, 0);
	CHECK_EQ(ri.offset, 0);
}

static void test_vfio_build_irqs(void)
{
	union {
		struct vfio_irq_set s;
		unsigned char b[64];
	} u;
	const int fds[3] = { 5, -1, 7 };
	const int bad[2] = { 5, -2 };
	int32_t v[3];

	CHECK_EQ(vfio_irq_set_size(0), 20);
	CHECK_EQ(vfio_irq_set_size(3), 32);
	CHECK_EQ(vfio_irq_set_size(VFIO_IRQ_MAX_VECTORS), 20 + 4 * 2048);

	memset(&u, 0xff, sizeof(u));
	REQUIRE_OK(vfio_build_irq_eventfds(&u.s, sizeof(u),
					   VFIO_PCI_MSI_IRQ_INDEX, 2, fds, 3));
	CHECK_EQ(u.s.argsz, 32);
	CHECK_EQ(u.s.flags, VFIO_IRQ_SET_DATA_EVENTFD |
		 VFIO_IRQ_SET_ACTION_TRIGGER);
	CHECK_EQ(u.s.flags, 0x24);
	CHECK_EQ(u.s.index, 1);
	CHECK_EQ(u.s.start, 2);
	CHECK_EQ(u.s.count, 3);
	memcpy(v, u.s.data, sizeof(v));
	CHECK_EQ(v[0], 5);
	CHECK_EQ((uint32_t)v[1], 0xffffffffu);
	CHECK_EQ(v[2], 7);

	CHECK_ERR(-EINVAL, vfio_build_irq_eventfds(&u.s, sizeof(u), 1, 0, fds,
						   0));
	CHECK_ERR(-EINVAL, vfio_build_irq_eventfds(&u.s, sizeof(u), 1, 0, bad,
						   2));
	CHECK_ERR(-EINVAL, vfio_build_irq_eventfds(&u.s, sizeof(u), 1,
						   UINT32_MAX - 1, fds, 3));
	CHECK_ERR(-EINVAL, vfio_build_irq_eventfds(&u.s, SIZE_MAX, 1, 0, fds,
						   VFIO_IRQ_MAX_VECTORS + 1));
	CHECK_ERR(-EINVAL, vfio_build_irq_eventfds(&u.s, sizeof(u), 1, 0, NULL,
						   1));
	CHECK_ERR(-ENOSPC, vfio_build_irq_eventfds(&u.s, 31, 1, 0, fds, 3));

	memset(&u, 0xff, sizeof(u));
	vfio_build_irq_disable(&u.s, VFIO_PCI_MSIX_IRQ_INDEX);
	CHECK_EQ(u.s.argsz, 20);
	CHECK_EQ(u.s.flags,
		 VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER);
	CHECK_EQ(u.s.index, 2);
	CHECK_EQ(u.s.start, 0);
	CHECK_EQ(u.s.count, 0);
}

/* ---- errno -> reason ----------------------------------------------------- */

static void test_strerror(void)
{
	const char *s;

	s = iommufd_strerror(IOMMUFD_OP_IOAS_MAP_FILE, -ENOTTY);
	CHECK(has(s, "kernel lacks IOMMU_IOAS_MAP_FILE"));
	CHECK(has(s, "needs Linux >= 6.13"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_IOAS_CHANGE_PROCESS, ENOTTY),
		  ">= 6.13"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_HWPT_ALLOC, -ENOTTY), ">= 6.6"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_IOAS_ALLOC, -ENOTTY), ">= 6.2"));
	s = iommufd_strerror(IOMMUFD_OP_BIND, -ENOTTY);
	CHECK(has(s, "VFIO_DEVICE_BIND_IOMMUFD"));
	CHECK(has(s, "CONFIG_VFIO_DEVICE_CDEV"));
	/* either sign */
	CHECK_STR(iommufd_strerror(IOMMUFD_OP_DESTROY, ENOENT),
		  iommufd_strerror(IOMMUFD_OP_DESTROY, -ENOENT));

	CHECK(has(iommufd_strerror(IOMMUFD_OP_OPEN, -ENOENT),
		  "no /dev/iommu on this host"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_OPEN, -EACCES), "permission"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_IOAS_MAP_FILE, -E2BIG),
		  "does not know"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_OPTION, -EOPNOTSUPP),
		  "does not support"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_HWPT_ALLOC, -EOPNOTSUPP),
		  "2 MiB"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_IOAS_MAP_FILE, -EEXIST),
		  "already mapped"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_DESTROY, -EBUSY), "in use"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_ATTACH, -EBUSY), "resetting"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_IOAS_UNMAP, -EOVERFLOW),
		  "overflow"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_IOAS_MAP_FILE, -EINVAL),
		  "invalid argument"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_OPTION, -EINVAL), "huge pages"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_IOAS_CHANGE_PROCESS, -EINVAL),
		  "IOMMU_IOAS_MAP_FILE"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_IOAS_UNMAP, -ENOENT),
		  "never split"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_DESTROY, -ENOENT),
		  "no such object"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_IOAS_MAP_FILE, -ENOMEM),
		  "RLIMIT_MEMLOCK"));
	CHECK(has(iommufd_strerror(IOMMUFD_OP_IOAS_IOVA_RANGES, -EMSGSIZE),
		  "too small"));
	/* unknown errno and unknown op fall back to strerror */
	CHECK_STR(iommufd_strerror(IOMMUFD_OP_DESTROY, -EIO), strerror(EIO));
	CHECK_STR(iommufd_strerror((enum iommufd_op)99, -ENOTTY),
		  "kernel lacks this ioctl");

	CHECK_STR(iommufd_op_name(IOMMUFD_OP_IOAS_MAP_FILE),
		  "IOMMU_IOAS_MAP_FILE");
	CHECK_STR(iommufd_op_name(IOMMUFD_OP_ATTACH),
		  "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	CHECK_STR(iommufd_op_name(IOMMUFD_OP_COUNT), "?");
}

/* ---- contexts: open, adopt, the ops' checks and ioctl path --------------- */

static void test_open_errors(void)
{
	struct iommu *io = NULL;

	CHECK_ERR(-ENOENT, iommufd_open("/nonexistent/luvmm/iommu", &io));
	CHECK(io == NULL);
	CHECK_ERR(-EINVAL, iommufd_open("/dev/null", NULL));
	CHECK_ERR(-EISDIR, iommufd_open("/", &io));
}

static void test_adopt(void)
{
	struct iommu *io = NULL;
	int fd, closed;

	CHECK_ERR(-EBADF, iommufd_adopt(-1, &io));
	closed = memfd_create("closed", MFD_CLOEXEC);
	REQUIRE(closed >= 0);
	close(closed);
	CHECK_ERR(-EBADF, iommufd_adopt(closed, &io));

	/* a memfd is no iommufd: the probe says so, the fd stays ours */
	fd = memfd_create("not-an-iommufd", MFD_CLOEXEC);
	REQUIRE(fd >= 0);
	CHECK_ERR(-EINVAL, iommufd_adopt(fd, NULL));
	CHECK_ERR(-ENOTTY, iommufd_adopt(fd, &io));
	CHECK(io == NULL);
	CHECK(fcntl(fd, F_GETFD) >= 0);
	close(fd);
}

/* /dev/null takes any ioctl number and answers ENOTTY: the path to the
 * kernel is exercised, nothing else is. */
static struct iommu *open_null(void)
{
	struct iommu *io = NULL;

	if (iommufd_open("/dev/null", &io))
		return NULL;
	return io;
}

static void test_ops_ioctl_path(void)
{
	struct iommu *io = open_null();
	struct iopt_mismatch mm;
	uint64_t unmapped = 99;
	uint32_t id = 77;

	REQUIRE(io);
	CHECK_EQ(io->kind, IOMMU_IOMMUFD);
	CHECK_STR(io->ops->name, "iommufd");
	CHECK(iommufd_fd(io) >= 0);
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_OPEN);

	CHECK_ERR(-ENOTTY, iommu_ioas_alloc(io, &id));
	CHECK_EQ(id, 77);
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_IOAS_ALLOC);

	CHECK_ERR(-ENOTTY, iommu_ioas_map_file(io, 1, 0, 0, PG, 0, RW));
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_IOAS_MAP_FILE);

	CHECK_ERR(-ENOTTY, iommu_ioas_unmap(io, 1, 0, PG, &unmapped));
	CHECK_EQ(unmapped, 0);
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_IOAS_UNMAP);

	CHECK_ERR(-ENOTTY, iommu_hwpt_alloc(io, 1, 2, 0, &id));
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_HWPT_ALLOC);
	/* MAX_4K first asks the IOAS's HUGE_PAGES option */
	CHECK_ERR(-ENOTTY, iommu_hwpt_alloc(io, 1, 2, IOMMU_HWPT_MAX_4K, &id));
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_OPTION);

	CHECK_ERR(-ENOTTY, iommu_destroy(io, 3));
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_DESTROY);
	CHECK_ERR(-ENOTTY, iommufd_change_process(io));
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_IOAS_CHANGE_PROCESS);

	CHECK_ERR(-EOPNOTSUPP, iommu_hwpt_compare(io, 1, 2, 0, PG, &mm));
	iommu_close(io);
}

static void test_ops_arg_checks(void)
{
	struct iommu *io = open_null();
	struct luvmm_iommu_iova_range r[2];
	uint64_t unmapped = 99, align = 5;
	uint32_t id = 0, n;
	bool on = false;

	REQUIRE(io);
	/* refused before any ioctl: last_op stays OPEN */
	CHECK_ERR(-EINVAL, iommu_ioas_map_file(io, 1, 0, 0, PG, 0, 0));
	CHECK_ERR(-EINVAL, iommu_ioas_map_file(io, 1, 0, 1, PG, 0, R));
	CHECK_ERR(-EINVAL, iommu_ioas_map_file(io, 1, 0, 0, 0, 0, R));
	CHECK_ERR(-EBADF, iommu_ioas_map_file(io, 1, -1, 0, PG, 0, R));
	CHECK_ERR(-EINVAL, iommu_ioas_unmap(io, 1, 0, 0, &unmapped));
	CHECK_EQ(unmapped, 0);
	CHECK_ERR(-EINVAL, iommu_ioas_unmap(io, 1, TOP - PG + 1, 2 * PG, NULL));
	CHECK_ERR(-EOPNOTSUPP, iommu_hwpt_alloc(io, 1, 2, IOMMU_HWPT_MAX_2M,
						&id));
	CHECK_ERR(-EINVAL, iommu_hwpt_alloc(io, 1, 2, IOMMU_HWPT_MAX_2M |
					    IOMMU_HWPT_MAX_4K, &id));
	CHECK_ERR(-EINVAL, iommu_hwpt_alloc(io, 1, 2, 1u << 5, &id));
	CHECK_ERR(-EINVAL, iommu_hwpt_alloc(io, 1, 2, 0, NULL));
	CHECK_ERR(-EINVAL, iommu_ioas_alloc(io, NULL));
	CHECK_ERR(-EINVAL, iommufd_ioas_iova_ranges(io, 1, NULL, NULL, NULL));
	n = 2;
	CHECK_ERR(-EINVAL, iommufd_ioas_iova_ranges(io, 1, NULL, &n, NULL));
	CHECK_ERR(-EINVAL, iommufd_get_huge_pages(io, 1, NULL));
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_OPEN);

	/* the remaining queries reach the kernel */
	CHECK_ERR(-ENOTTY, iommufd_ioas_iova_ranges(io, 1, r, &n, &align));
	CHECK_EQ(n, 2);
	CHECK_EQ(align, 5);
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_IOAS_IOVA_RANGES);
	CHECK_ERR(-ENOTTY, iommufd_set_huge_pages(io, 1, false));
	CHECK_ERR(-ENOTTY, iommufd_get_huge_pages(io, 1, &on));
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_OPTION);
	iommu_close(io);
}

static void test_devices(void)
{
	struct iommu *io = open_null();
	uint32_t dev_id = 123;
	int dfd;

	REQUIRE(io);
	dfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	REQUIRE(dfd >= 0);

	CHECK_ERR(-ENOENT, iommu_attach(io, 7, 1));
	CHECK_ERR(-ENOENT, iommufd_detach(io, 7));
	CHECK_ERR(-ENOENT, iommufd_forget_device(io, 7));
	CHECK_ERR(-EINVAL, iommufd_bind_device(io, -1, &dev_id));
	CHECK_ERR(-EINVAL, iommufd_bind_device(io, dfd, NULL));

	/* a failed bind registers nothing */
	CHECK_ERR(-ENOTTY, iommufd_bind_device(io, dfd, &dev_id));
	CHECK_EQ(dev_id, 123);
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_BIND);

	CHECK_ERR(-EINVAL, iommufd_adopt_device(io, -1, 7));
	CHECK_ERR(0, iommufd_adopt_device(io, dfd, 7));
	CHECK_ERR(-EEXIST, iommufd_adopt_device(io, dfd, 7));
	CHECK_ERR(0, iommufd_adopt_device(io, dfd, 8));
	CHECK_ERR(-ENOTTY, iommu_attach(io, 7, 1));
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_ATTACH);
	CHECK_ERR(-ENOTTY, iommufd_detach(io, 8));
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_DETACH);
	CHECK_ERR(0, iommufd_forget_device(io, 7));
	CHECK_ERR(-ENOENT, iommufd_forget_device(io, 7));
	CHECK_ERR(-ENOENT, iommu_attach(io, 7, 1));
	CHECK_ERR(-ENOTTY, iommu_attach(io, 8, 1));

	iommu_close(io);
	/* the context never owned the device fd */
	CHECK(fcntl(dfd, F_GETFD) >= 0);
	close(dfd);
}

static void dummy_close(struct iommu *io)
{
	(void)io;
}

static void test_not_iommufd(void)
{
	static const struct iommu_ops other = { .name = "other",
						.close = dummy_close };
	struct iommu fake = { .ops = &other, .kind = IOMMU_SOFT };
	uint32_t id;
	bool on;

	CHECK_EQ(iommufd_fd(&fake), -1);
	CHECK_EQ(iommufd_fd(NULL), -1);
	CHECK_EQ(iommufd_last_op(&fake), IOMMUFD_OP_NONE);
	CHECK_ERR(-EINVAL, iommufd_bind_device(&fake, 0, &id));
	CHECK_ERR(-EINVAL, iommufd_adopt_device(&fake, 0, 1));
	CHECK_ERR(-EINVAL, iommufd_forget_device(&fake, 1));
	CHECK_ERR(-EINVAL, iommufd_detach(&fake, 1));
	CHECK_ERR(-EINVAL, iommufd_change_process(&fake));
	CHECK_ERR(-EINVAL, iommufd_set_huge_pages(&fake, 1, true));
	CHECK_ERR(-EINVAL, iommufd_get_huge_pages(&fake, 1, &on));
	CHECK_ERR(-EINVAL, iommufd_change_process(NULL));
}

/* ---- VFIO device helpers ------------------------------------------------- */

static void test_vfio_open(void)
{
	int fd = -1;

	CHECK_ERR(-ENOENT, vfio_dev_open(VFIO_CDEV_DIR "/vfio-luvmm-none",
					 &fd));
	CHECK_EQ(fd, -1);
	CHECK_ERR(-EINVAL, vfio_dev_open(NULL, &fd));
	CHECK_ERR(-EINVAL, vfio_dev_open("", &fd));
	REQUIRE_OK(vfio_dev_open("/dev/null", &fd));
	CHECK(fd >= 0);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

static void test_vfio_ioctls_enotty(void)
{
	struct vfio_device_info info;
	struct vfio_region_info ri;
	struct vfio_irq_info ii;
	const int efd[1] = { -1 };
	uint32_t x;
	int fd;

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0);
	CHECK_ERR(-ENOTTY, vfio_dev_get_info(fd, &info));
	CHECK_ERR(-ENOTTY, vfio_dev_region_info(fd, 0, &ri));
	CHECK_ERR(-ENOTTY, vfio_dev_irq_info(fd, 1, &ii));
	CHECK_ERR(-ENOTTY, vfio_dev_set_irq_eventfds(fd, 1, 0, efd, 1));
	CHECK_ERR(-ENOTTY, vfio_dev_disable_irqs(fd, 1));
	CHECK_ERR(-ENOTTY, vfio_dev_reset(fd));
	CHECK_ERR(-ENOTTY, vfio_dev_bind_iommufd(fd, fd, &x));
	CHECK_ERR(-ENOTTY, vfio_dev_attach_pt(fd, 1, &x));
	CHECK_ERR(-ENOTTY, vfio_dev_detach_pt(fd));
	CHECK_ERR(-EINVAL, vfio_dev_set_irq_eventfds(fd, 1, 0, efd, 0));
	close(fd);

	CHECK_ERR(-EBADF, vfio_dev_get_info(-1, &info));
	CHECK_ERR(-EBADF, vfio_dev_region_info(-1, 0, &ri));
	CHECK_ERR(-EBADF, vfio_dev_set_irq_eventfds(-1, 1, 0, efd, 1));
	CHECK_ERR(-EBADF, vfio_dev_bind_iommufd(-1, 3, &x));
	CHECK_ERR(-EBADF, vfio_dev_bind_iommufd(3, -1, &x));
	CHECK_ERR(-EBADF, vfio_dev_attach_pt(-1, 1, &x));
	CHECK_ERR(-EBADF, vfio_dev_reset(-1));
}

/* A fake sysfs tree under a temp dir. */
struct fake_sysfs {
	char root[64];
	char dev[256];	/* .../devices/<bdf> */
	char vdev[300];	/* .../vfio-dev */
	char node[320];	/* .../vfio-dev/vfio3 */
};

static int fake_sysfs_make(struct fake_sysfs *s, const char *bdf)
{
	char p[128];

	strcpy(s->root, "/tmp/luvmm-sysfs-XXXXXX");
	if (!mkdtemp(s->root))
		return -errno;
	snprintf(p, sizeof(p), "%s/bus", s->root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/bus/pci", s->root);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/bus/pci/devices", s->root);
	mkdir(p, 0700);
	snprintf(s->dev, sizeof(s->dev), "%s/%s", p, bdf);
	snprintf(s->vdev, sizeof(s->vdev), "%s/vfio-dev", s->dev);
	snprintf(s->node, sizeof(s->node), "%s/vfio3", s->vdev);
	if (mkdir(s->dev, 0700) || mkdir(s->vdev, 0700))
		return -errno;
	return 0;
}

static void fake_sysfs_remove(struct fake_sysfs *s)
{
	char p[128];

	rmdir(s->node);
	rmdir(s->vdev);
	rmdir(s->dev);
	snprintf(p, sizeof(p), "%s/bus/pci/devices", s->root);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/bus/pci", s->root);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/bus", s->root);
	rmdir(p);
	rmdir(s->root);
}

static void test_vfio_cdev_path(void)
{
	const char *bdf = "0000:01:00.0";
	struct fake_sysfs s;
	char buf[64], tiny[8];

	REQUIRE_OK(fake_sysfs_make(&s, bdf));
	/* bound to vfio-pci but no cdev yet (vfio-dev empty) */
	CHECK_ERR(-ENOENT, vfio_dev_cdev_path(s.root, bdf, buf, sizeof(buf)));
	CHECK(mkdir(s.node, 0700) == 0);
	CHECK_ERR(0, vfio_dev_cdev_path(s.root, bdf, buf, sizeof(buf)));
	CHECK_STR(buf, "/dev/vfio/devices/vfio3");
	CHECK_ERR(-ENAMETOOLONG, vfio_dev_cdev_path(s.root, bdf, tiny,
						    sizeof(tiny)));
	CHECK_ERR(-ENOENT, vfio_dev_cdev_path(s.root, "0000:02:00.0", buf,
					      sizeof(buf)));
	CHECK_ERR(-EINVAL, vfio_dev_cdev_path(s.root, "../../etc", buf,
					      sizeof(buf)));
	CHECK_ERR(-EINVAL, vfio_dev_cdev_path(s.root, "", buf, sizeof(buf)));
	CHECK_ERR(-EINVAL, vfio_dev_cdev_path(s.root, NULL, buf, sizeof(buf)));
	fake_sysfs_remove(&s);
}

static void test_vfio_region_mmap(void)
{
	struct vfio_region_info ri = {
		.argsz = sizeof(ri),
		.flags = VFIO_REGION_INFO_FLAG_READ |
			 VFIO_REGION_INFO_FLAG_WRITE |
			 VFIO_REGION_INFO_FLAG_MMAP,
		.index = VFIO_PCI_BAR0_REGION_INDEX,
		.size = 2 * PG,
		.offset = PG,
	};
	struct vfio_region_info bad;
	uint32_t word = 0xfeedf00d, back = 0;
	void *p = NULL, *ph;
	int fd;

	fd = memfd_create("fake-bar", MFD_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, 4 * PG) == 0);
	REQUIRE(pwrite(fd, &word, sizeof(word), PG + 8) == sizeof(word));

	CHECK_ERR(0, vfio_region_mmap(fd, &ri, PROT_READ | PROT_WRITE, &p));
	if (p) {
		/* the mapping starts at the region's offset in the fd */
		CHECK_EQ(*(volatile uint32_t *)((char *)p + 8), 0xfeedf00d);
		*(volatile uint32_t *)((char *)p + PG) = 0x12345678;
		CHECK(pread(fd, &back, sizeof(back), 2 * PG) == sizeof(back));
		CHECK_EQ(back, 0x12345678);
		vfio_region_munmap(p, &ri);
	}

	/* the first page of the region, over a placeholder a memslot would
	 * point at: same address, the region's bytes */
	ph = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	REQUIRE(ph != MAP_FAILED);
	*(volatile uint32_t *)((char *)ph + 8) = 0x5a5a5a5a;
	p = NULL;
	CHECK_ERR(0, vfio_region_mmap_at(fd, &ri, PG, PROT_READ | PROT_WRITE,
					 ph, &p));
	CHECK(p == ph);
	CHECK_EQ(*(volatile uint32_t *)((char *)ph + 8), 0xfeedf00d);
	munmap(ph, PG);
	/* refused before any mmap */
	CHECK_ERR(-EINVAL, vfio_region_mmap_at(fd, &ri, 0, PROT_READ, NULL, &p));
	CHECK_ERR(-EINVAL, vfio_region_mmap_at(fd, &ri, 3 * PG, PROT_READ, NULL,
					       &p));
	CHECK_ERR(-EINVAL, vfio_region_mmap_at(fd, &ri, PG / 2, PROT_READ,
					       (void *)(uintptr_t)(64 * GiB),
					       &p));
	CHECK_ERR(-EINVAL, vfio_region_mmap_at(fd, &ri, PG, PROT_READ,
					       (void *)(uintptr_t)(64 * GiB + 8),
					       &p));

	bad = ri;
	bad.flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
	CHECK_ERR(-ENOTSUP, vfio_region_mmap(fd, &bad, PROT_READ, &p));
	CHECK_ERR(-ENOTSUP, vfio_region_mmap_at(fd, &bad, PG, PROT_READ, NULL,
						&p));
	bad = ri;
	bad.size = 0;
	CHECK_ERR(-EINVAL, vfio_region_mmap(fd, &bad, PROT_READ, &p));
	bad = ri;
	bad.offset = PG + 512;
	CHECK_ERR(-EINVAL, vfio_region_mmap(fd, &bad, PROT_READ, &p));
	bad = ri;
	bad.offset = 1ULL << 63;	/* not an off_t */
	CHECK_ERR(-EINVAL, vfio_region_mmap(fd, &bad, PROT_READ, &p));
	bad = ri;
	bad.flags &= ~VFIO_REGION_INFO_FLAG_WRITE;
	CHECK_ERR(-EINVAL, vfio_region_mmap(fd, &bad, PROT_WRITE, &p));
	CHECK_ERR(-EINVAL, vfio_region_mmap(fd, &ri, PROT_EXEC, &p));
	CHECK_ERR(-EINVAL, vfio_region_mmap(fd, NULL, PROT_READ, &p));
	CHECK_ERR(-EBADF, vfio_region_mmap(-1, &ri, PROT_READ, &p));
	close(fd);
}

/* ---- a fake kernel: the full op flows, answered through seccomp ----------
 *
 * tests/fake_iommufd.c: a scenario thread's ioctls on two /dev/null fds
 * (the "iommufd" and the "device") are answered by a small model of
 * iommufd + VFIO cdev, which logs the bytes it read.
 */

/* The fds the model answers on; set before the scenario thread starts. */
static int fk_ifd = -1, fk_dfd = -1;
static bool fk_ifd_closed;	/* the scenario closed fk_ifd (adopt owns it) */

/* The scenario: a boot, then what a new VMM does after a live update. */
static void fk_scenario(void *arg)
{
	const struct luvmm_iommu_ioas_map_file *mf;
	const struct luvmm_iommu_option *opt;
	struct luvmm_iommu_iova_range r[2];
	const int irq_fds[2] = { 10, -1 };
	uint32_t ioas, ioas2, ioas3, dev, hwpt, hwpt2, n, i0;
	uint64_t unmapped = 0, align = 0;
	struct iommu *io = NULL;
	bool on = true;
	const struct fake *S;

	(void)arg;
	/* adopt: the probe (OPTION RLIMIT_MODE get) is answered */
	REQUIRE_OK(iommufd_adopt(fk_ifd, &io));
	S = fk_now();
	CHECK_EQ(iommufd_fd(io), fk_ifd);
	CHECK_EQ(S->n_log, 1);
	opt = (const void *)fk_log_at(S, 0)->b;
	CHECK_EQ(fk_log_at(S, 0)->req, LUVMM_IOMMU_OPTION);
	CHECK_EQ(opt->option_id, LUVMM_IOMMU_OPTION_RLIMIT_MODE);
	CHECK_EQ(opt->op, LUVMM_IOMMU_OPTION_OP_GET);

	REQUIRE_OK(iommu_ioas_alloc(io, &ioas));
	CHECK_EQ(ioas, 1);
	S = fk_now();
	i0 = S->n_log;
	CHECK_ERR(0, iommu_ioas_map_file(io, ioas, 42, 2 * MiB, 2 * MiB, GiB,
					 RW));
	S = fk_now();
	mf = (const void *)fk_log_at(S, i0)->b;
	CHECK_EQ(fk_log_at(S, i0)->req, LUVMM_IOMMU_IOAS_MAP_FILE);
	CHECK_EQ(mf->size, 40);
	CHECK_EQ(mf->flags, 0x7);
	CHECK_EQ(mf->ioas_id, ioas);
	CHECK_EQ(mf->fd, 42);
	CHECK_EQ(mf->start, 2 * MiB);
	CHECK_EQ(mf->length, 2 * MiB);
	CHECK_EQ(mf->iova, GiB);
	CHECK_ERR(-EEXIST, iommu_ioas_map_file(io, ioas, 42, 0, PG,
					       GiB + MiB, R));
	CHECK_ERR(-ENOENT, iommu_ioas_map_file(io, 99, 42, 0, PG, 0, R));

	/* bind, HWPT, attach */
	REQUIRE_OK(iommufd_bind_device(io, fk_dfd, &dev));
	S = fk_now();
	CHECK_EQ(dev, S->dev_id);
	CHECK_ERR(-EEXIST, iommufd_adopt_device(io, fk_dfd, dev));
	REQUIRE_OK(iommu_hwpt_alloc(io, dev, ioas, 0, &hwpt));
	S = fk_now();
	CHECK_EQ(fk_obj_at(S, hwpt) != NULL, true);
	CHECK_EQ(fk_log_at(S, S->n_log - 1)->req, LUVMM_IOMMU_HWPT_ALLOC);
	CHECK_ERR(0, iommu_attach(io, dev, hwpt));
	S = fk_now();
	CHECK_EQ(S->attached, hwpt);
	CHECK_ERR(-EBUSY, iommu_destroy(io, hwpt));
	CHECK_ERR(-EINVAL, iommufd_set_huge_pages(io, ioas, false));
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_OPTION);

	/* live update: accounting moves, the replay builds at 4 KiB ... */
	CHECK_ERR(0, iommufd_change_process(io));
	S = fk_now();
	CHECK_EQ(S->change_process_calls, 1);
	REQUIRE_OK(iommu_ioas_alloc(io, &ioas2));
	CHECK_ERR(0, iommu_ioas_map_file(io, ioas2, 42, 2 * MiB, 2 * MiB, GiB,
					 RW));
	S = fk_now();
	i0 = S->n_log;
	REQUIRE_OK(iommu_hwpt_alloc(io, dev, ioas2, IOMMU_HWPT_MAX_4K, &hwpt2));
	S = fk_now();
	CHECK_EQ(S->n_log - i0, 3);	/* OPTION get, OPTION set, HWPT_ALLOC */
	opt = (const void *)fk_log_at(S, i0 + 1)->b;
	CHECK_EQ(fk_log_at(S, i0 + 1)->req, LUVMM_IOMMU_OPTION);
	CHECK_EQ(opt->option_id, LUVMM_IOMMU_OPTION_HUGE_PAGES);
	CHECK_EQ(opt->op, LUVMM_IOMMU_OPTION_OP_SET);
	CHECK_EQ(opt->object_id, ioas2);
	CHECK_EQ(opt->val64, 0);
	CHECK_EQ(fk_obj_at(S, hwpt2) ? fk_obj_at(S, hwpt2)->huge : 1,
		 false);
	/* ... and swaps the device over (replace), then frees the old */
	CHECK_ERR(0, iommu_attach(io, dev, hwpt2));
	S = fk_now();
	CHECK_EQ(S->attached, hwpt2);
	CHECK_ERR(0, iommu_destroy(io, hwpt));
	CHECK_ERR(0, iommu_ioas_unmap(io, ioas, 0, 4 * GiB, &unmapped));
	CHECK_EQ(unmapped, 2 * MiB);
	CHECK_ERR(0, iommu_destroy(io, ioas));
	CHECK_ERR(-ENOENT, iommu_destroy(io, ioas));

	/* MAX_4K on an IOAS already at 4 KiB: no SET */
	S = fk_now();
	i0 = S->n_log;
	REQUIRE_OK(iommu_hwpt_alloc(io, dev, ioas2, IOMMU_HWPT_MAX_4K, &hwpt));
	S = fk_now();
	CHECK_EQ(S->n_log - i0, 2);
	CHECK_ERR(0, iommu_destroy(io, hwpt));

	/* a failed MAX_4K alloc puts HUGE_PAGES back */
	REQUIRE_OK(iommu_ioas_alloc(io, &ioas3));
	fk_fail(FK_FAIL_HWPT_ALLOC, ENOMEM);
	CHECK_ERR(-ENOMEM, iommu_hwpt_alloc(io, dev, ioas3, IOMMU_HWPT_MAX_4K,
					    &hwpt));
	fk_fail(FK_FAIL_HWPT_ALLOC, 0);
	CHECK_EQ(iommufd_last_op(io), IOMMUFD_OP_HWPT_ALLOC);
	CHECK_ERR(0, iommufd_get_huge_pages(io, ioas3, &on));
	CHECK_EQ(on, true);
	CHECK_ERR(-ENOENT, iommu_hwpt_alloc(io, dev + 100, ioas3, 0, &hwpt));

	/* unmap: whole areas only, count from the kernel */
	CHECK_ERR(-ENOENT, iommu_ioas_unmap(io, ioas2, GiB, PG, &unmapped));
	CHECK_EQ(unmapped, 0);
	CHECK_ERR(0, iommu_ioas_unmap(io, ioas2, GiB, 2 * MiB, &unmapped));
	CHECK_EQ(unmapped, 2 * MiB);

	/* IOVA ranges: too small, then enough */
	n = 0;
	CHECK_ERR(-EMSGSIZE, iommufd_ioas_iova_ranges(io, ioas2, NULL, &n,
						      NULL));
	CHECK_EQ(n, 1);
	n = 2;
	CHECK_ERR(0, iommufd_ioas_iova_ranges(io, ioas2, r, &n, &align));
	CHECK_EQ(n, 1);
	CHECK_EQ(r[0].start, 0);
	CHECK_EQ(r[0].last, (1ULL << 48) - 1);
	CHECK_EQ(align, PG);

	/* MSI wiring on the device fd */
	CHECK_ERR(0, vfio_dev_set_irq_eventfds(fk_dfd, VFIO_PCI_MSI_IRQ_INDEX,
					       0, irq_fds, 2));
	S = fk_now();
	CHECK_EQ(S->irq.argsz, 28);
	CHECK_EQ(S->irq.flags, 0x24);
	CHECK_EQ(S->irq.index, VFIO_PCI_MSI_IRQ_INDEX);
	CHECK_EQ(S->irq.count, 2);
	CHECK_EQ(S->irq_fds[0], 10);
	CHECK_EQ(S->irq_fds[1], -1);

	CHECK_ERR(0, iommufd_detach(io, dev));
	S = fk_now();
	CHECK_EQ(S->attached, 0);
	iommu_close(io);	/* closes fk_ifd: adopt took it */
	fk_ifd_closed = true;
}

static void test_fake_kernel_flows(void)
{
	const char *why = "";

	fk_ifd_closed = false;
	fk_ifd = open("/dev/null", O_RDWR | O_CLOEXEC);
	fk_dfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	REQUIRE(fk_ifd >= 0 && fk_dfd >= 0);
	fk_reset(fk_ifd, fk_dfd)->msi_count = 2;
	if (!fk_run(fk_scenario, NULL, &why))
		tap_skip("%s", why);
	if (!fk_ifd_closed)
		close(fk_ifd);
	close(fk_dfd);
}

/* ---- the real uAPI, where the host has it -------------------------------- */

static void test_real_iommufd(void)
{
	struct iommu *io = NULL;
	uint64_t unmapped = 0;
	uint32_t ioas = 0;
	bool on = false;
	int ret, memfd;

	ret = iommufd_open(NULL, &io);
	if (ret) {
		/* "no /dev/iommu on this host (...)" where it is absent */
		tap_skip("%s", iommufd_strerror(IOMMUFD_OP_OPEN, ret));
		return;
	}
	memfd = memfd_create("iommufd-test", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, 4 * PG)) {
		tap_fail(__FILE__, __LINE__, "memfd: %s", strerror(errno));
		goto out_close;
	}
	ret = iommu_ioas_alloc(io, &ioas);
	if (ret) {
		tap_fail(__FILE__, __LINE__, "IOAS_ALLOC: %s",
			 iommufd_strerror(iommufd_last_op(io), ret));
		goto out_memfd;
	}
	CHECK(ioas != 0);
	CHECK_ERR(0, iommufd_get_huge_pages(io, ioas, &on));
	CHECK_EQ(on, true);

	ret = iommu_ioas_map_file(io, ioas, memfd, PG, 2 * PG, MiB, RW);
	if (ret == -ENOTTY) {
		tap_skip("%s", iommufd_strerror(IOMMUFD_OP_IOAS_MAP_FILE, ret));
		goto out_destroy;
	}
	CHECK_ERR(0, ret);
	/* the rules iommu.h promises, as the kernel keeps them */
	CHECK_ERR(-EEXIST, iommu_ioas_map_file(io, ioas, memfd, 0, PG,
					       MiB + PG, R));
	CHECK_ERR(-ENOENT, iommu_ioas_unmap(io, ioas, MiB, PG, &unmapped));
	CHECK_ERR(0, iommufd_change_process(io));
	/* a superset of the area unmaps it; the count is what was mapped */
	CHECK_ERR(0, iommu_ioas_unmap(io, ioas, 0, 4 * MiB, &unmapped));
	CHECK_EQ(unmapped, 2 * PG);
	CHECK_ERR(-ENOENT, iommu_ioas_unmap(io, ioas, MiB, 2 * PG, &unmapped));
	CHECK_ERR(0, iommufd_set_huge_pages(io, ioas, false));
	CHECK_ERR(0, iommufd_get_huge_pages(io, ioas, &on));
	CHECK_EQ(on, false);
out_destroy:
	CHECK_ERR(0, iommu_destroy(io, ioas));
	CHECK_ERR(-ENOENT, iommu_destroy(io, ioas));
out_memfd:
	if (memfd >= 0)
		close(memfd);
out_close:
	iommu_close(io);
}

static const struct tap_case cases[] = {
	{ "uapi: ioctl encoding (_IO, type, nr)", test_uapi_encoding },
	{ "check: map boundaries", test_check_map },
	{ "check: unmap boundaries", test_check_unmap },
	{ "build: map flags from prot", test_map_flags },
	{ "build: IOAS_MAP_FILE fields and refusals", test_build_map_file },
	{ "build: IOAS_UNMAP fields and refusals", test_build_unmap },
	{ "build: DESTROY, IOAS_ALLOC, CHANGE_PROCESS, OPTION",
	  test_build_small },
	{ "build: HWPT_ALLOC fields", test_build_hwpt_alloc },
	{ "build: HWPT layout flags plan", test_hwpt_plan },
	{ "build: IOAS_IOVA_RANGES fields", test_build_iova_ranges },
	{ "build: vfio bind, attach, detach, region info",
	  test_vfio_build_cdev },
	{ "build: vfio SET_IRQS eventfds and disable", test_vfio_build_irqs },
	{ "reasons: errno -> one line per op", test_strerror },
	{ "context: open errors", test_open_errors },
	{ "context: adopt probes the fd", test_adopt },
	{ "ops: every op reaches the ioctl (ENOTTY)", test_ops_ioctl_path },
	{ "ops: bad arguments refused before the ioctl", test_ops_arg_checks },
	{ "ops: device table, bind, attach, detach", test_devices },
	{ "ops: a non-iommufd context refused", test_not_iommufd },
	{ "vfio: open", test_vfio_open },
	{ "vfio: ioctl wrappers (ENOTTY, EBADF)", test_vfio_ioctls_enotty },
	{ "vfio: cdev path from sysfs", test_vfio_cdev_path },
	{ "vfio: region mmap, whole or at a fixed address", test_vfio_region_mmap },
	{ "fake kernel: boot, live update, replay, replace",
	  test_fake_kernel_flows },
	{ "iommufd: real IOAS alloc, map_file, unmap, destroy",
	  test_real_iommufd },
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
