// SPDX-License-Identifier: MIT
/*
 * fake_iommufd.c: a fake kernel for the iommufd and VFIO-cdev uAPI
 * (fake_iommufd.h), answering a scenario thread's ioctls through seccomp
 * user notifications.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../vmm/compiler.h"
#include "fake_iommufd.h"

#define PG	4096ULL

static struct fake fk;
/*
 * The answering thread changes fk only under fk_lock; the scenario reads
 * it only through fk_now(), a copy taken under the lock, and changes it
 * with fk_fail(). The kernel already orders the two threads (an ioctl
 * returns only after its answer); the lock makes that visible to
 * ThreadSanitizer, which cannot see the seccomp handoff.
 */
static pthread_mutex_t fk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake fk_snap;	/* the scenario thread's copy */

struct fake *fk_reset(int ifd, int dfd)
{
	pthread_mutex_lock(&fk_lock);
	memset(&fk, 0, sizeof(fk));
	fk.next_id = 1;
	fk.ifd = ifd;
	fk.dfd = dfd;
	fk.bar_flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		       VFIO_REGION_INFO_FLAG_MMAP;
	fk.bar_size = PG;
	fk.msi_count = 1;
	pthread_mutex_unlock(&fk_lock);
	return &fk;
}

const struct fake *fk_now(void)
{
	pthread_mutex_lock(&fk_lock);
	fk_snap = fk;
	pthread_mutex_unlock(&fk_lock);
	return &fk_snap;
}

void fk_fail(enum fk_failure which, int err)
{
	pthread_mutex_lock(&fk_lock);
	if ((unsigned int)which < FK_FAIL_COUNT)
		fk.fail[which] = err;
	pthread_mutex_unlock(&fk_lock);
}

const struct fk_log *fk_log_at(const struct fake *f, unsigned int i)
{
	static const struct fk_log none = { .fd = -1 };

	return i < f->n_log ? &f->log[i] : &none;
}

const struct fk_obj *fk_obj_at(const struct fake *f, uint32_t id)
{
	int i;

	for (i = 0; i < FK_OBJS; i++)
		if (f->obj[i].kind && f->obj[i].id == id)
			return &f->obj[i];
	return NULL;
}

int fk_log_find(const struct fake *f, unsigned int from, unsigned long req)
{
	unsigned int i;

	for (i = from; i < f->n_log; i++)
		if (f->log[i].req == req)
			return (int)i;
	return -1;
}

const char *fk_req_name(unsigned long req)
{
	switch (req) {
	case LUVMM_IOMMU_DESTROY:		return "IOMMU_DESTROY";
	case LUVMM_IOMMU_IOAS_ALLOC:		return "IOMMU_IOAS_ALLOC";
	case LUVMM_IOMMU_IOAS_MAP_FILE:		return "IOMMU_IOAS_MAP_FILE";
	case LUVMM_IOMMU_IOAS_UNMAP:		return "IOMMU_IOAS_UNMAP";
	case LUVMM_IOMMU_OPTION:		return "IOMMU_OPTION";
	case LUVMM_IOMMU_HWPT_ALLOC:		return "IOMMU_HWPT_ALLOC";
	case LUVMM_IOMMU_IOAS_IOVA_RANGES:	return "IOMMU_IOAS_IOVA_RANGES";
	case LUVMM_IOMMU_IOAS_CHANGE_PROCESS:	return "IOMMU_IOAS_CHANGE_PROCESS";
	case LUVMM_VFIO_DEVICE_BIND_IOMMUFD:	return "VFIO_DEVICE_BIND_IOMMUFD";
	case LUVMM_VFIO_DEVICE_ATTACH_IOMMUFD_PT:
		return "VFIO_DEVICE_ATTACH_IOMMUFD_PT";
	case LUVMM_VFIO_DEVICE_DETACH_IOMMUFD_PT:
		return "VFIO_DEVICE_DETACH_IOMMUFD_PT";
	case VFIO_DEVICE_GET_REGION_INFO:	return "VFIO_DEVICE_GET_REGION_INFO";
	case VFIO_DEVICE_GET_IRQ_INFO:		return "VFIO_DEVICE_GET_IRQ_INFO";
	case VFIO_DEVICE_SET_IRQS:		return "VFIO_DEVICE_SET_IRQS";
	}
	return "?";
}

/* ---- the model (fk_lock held) ------------------------------------------- */

static int fk_read(uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(getpid(), &l, 1, &r, 1, 0) == (ssize_t)len ?
	       0 : -EFAULT;
}

static int fk_write(uint64_t addr, const void *buf, size_t len)
{
	struct iovec l = { (void *)buf, len }, r = { (void *)(uintptr_t)addr,
						     len };

	return process_vm_writev(getpid(), &l, 1, &r, 1, 0) == (ssize_t)len ?
	       0 : -EFAULT;
}

static struct fk_obj *fk_find(uint32_t id, int kind)
{
	int i;

	for (i = 0; i < FK_OBJS; i++)
		if (fk.obj[i].kind && fk.obj[i].id == id &&
		    (!kind || fk.obj[i].kind == kind))
			return &fk.obj[i];
	return NULL;
}

static struct fk_obj *fk_new(int kind)
{
	int i;

	for (i = 0; i < FK_OBJS; i++)
		if (!fk.obj[i].kind) {
			fk.obj[i] = (struct fk_obj){ fk.next_id++, kind, 0,
						     true };
			return &fk.obj[i];
		}
	return NULL;
}

static bool fk_ioas_has_areas(uint32_t ioas)
{
	int i;

	for (i = 0; i < FK_AREAS; i++)
		if (fk.area[i].len && fk.area[i].ioas == ioas)
			return true;
	return false;
}

static bool fk_ioas_has_hwpt(uint32_t ioas)
{
	int i;

	for (i = 0; i < FK_OBJS; i++)
		if (fk.obj[i].kind == FK_HWPT && fk.obj[i].ioas == ioas)
			return true;
	return false;
}

static int fk_map(struct luvmm_iommu_ioas_map_file *c)
{
	struct fk_area *a = NULL;
	int i;

	if (c->size != sizeof(*c) ||
	    !(c->flags & LUVMM_IOMMU_IOAS_MAP_FIXED_IOVA))
		return -EINVAL;
	if (!fk_find(c->ioas_id, FK_IOAS))
		return -ENOENT;
	for (i = 0; i < FK_AREAS; i++) {
		struct fk_area *x = &fk.area[i];

		if (!x->len) {
			a = a ? a : x;
			continue;
		}
		if (x->ioas == c->ioas_id && c->iova < x->iova + x->len &&
		    x->iova < c->iova + c->length)
			return -EEXIST;
	}
	if (!a)
		return -ENOMEM;
	*a = (struct fk_area){ c->ioas_id, c->iova, c->length };
	return 0;
}

/* iommufd's rule: only whole areas; one cut in two is -ENOENT, all kept */
static int fk_unmap(struct luvmm_iommu_ioas_unmap *c)
{
	uint64_t end = c->iova + c->length, n = 0;
	int i;

	for (i = 0; i < FK_AREAS; i++) {
		struct fk_area *x = &fk.area[i];

		if (!x->len || x->ioas != c->ioas_id ||
		    x->iova >= end || x->iova + x->len <= c->iova)
			continue;
		if (x->iova < c->iova || x->iova + x->len > end)
			return -ENOENT;
	}
	for (i = 0; i < FK_AREAS; i++) {
		struct fk_area *x = &fk.area[i];

		if (x->len && x->ioas == c->ioas_id && x->iova >= c->iova &&
		    x->iova + x->len <= end) {
			n += x->len;
			x->len = 0;
		}
	}
	c->length = n;
	return n ? 0 : -ENOENT;
}

static int fk_option(struct luvmm_iommu_option *c)
{
	struct fk_obj *o;

	if (c->option_id == LUVMM_IOMMU_OPTION_RLIMIT_MODE) {
		if (c->object_id || c->op != LUVMM_IOMMU_OPTION_OP_GET)
			return -EOPNOTSUPP;
		c->val64 = 0;
		return 0;
	}
	if (c->option_id != LUVMM_IOMMU_OPTION_HUGE_PAGES)
		return -EOPNOTSUPP;
	o = fk_find(c->object_id, FK_IOAS);
	if (!o)
		return -ENOENT;
	if (c->op == LUVMM_IOMMU_OPTION_OP_GET) {
		c->val64 = o->huge;
		return 0;
	}
	if (!c->val64 && fk_ioas_has_hwpt(o->id) && fk_ioas_has_areas(o->id))
		return -EINVAL;
	o->huge = c->val64;
	return 0;
}

static int fk_hwpt_alloc(struct luvmm_iommu_hwpt_alloc *c)
{
	struct fk_obj *ioas, *h;

	if (c->flags || c->data_type || c->__reserved || c->__reserved2)
		return -EOPNOTSUPP;
	ioas = fk_find(c->pt_id, FK_IOAS);
	if (!fk.dev_id || c->dev_id != fk.dev_id || !ioas)
		return -ENOENT;
	if (fk.fail[FK_FAIL_HWPT_ALLOC])
		return -fk.fail[FK_FAIL_HWPT_ALLOC];
	h = fk_new(FK_HWPT);
	if (!h)
		return -ENOMEM;
	h->ioas = ioas->id;
	h->huge = ioas->huge;
	c->out_hwpt_id = h->id;
	return 0;
}

/* An IOAS goes with its areas (the kernel unmaps them); an HWPT or IOAS
 * still in use does not go. */
static int fk_destroy(struct luvmm_iommu_destroy *c)
{
	struct fk_obj *o = fk_find(c->id, 0);
	int i;

	if (!o)
		return -ENOENT;
	if ((o->kind == FK_IOAS && fk_ioas_has_hwpt(o->id)) ||
	    (o->kind == FK_HWPT && fk.attached == o->id))
		return -EBUSY;
	if (o->kind == FK_IOAS)
		for (i = 0; i < FK_AREAS; i++)
			if (fk.area[i].ioas == o->id)
				fk.area[i].len = 0;
	o->kind = 0;
	return 0;
}

static int fk_iova_ranges(struct luvmm_iommu_ioas_iova_ranges *c)
{
	struct luvmm_iommu_iova_range r = { 0, (1ULL << 48) - 1 };

	if (!fk_find(c->ioas_id, FK_IOAS))
		return -ENOENT;
	c->out_iova_alignment = PG;
	if (c->num_iovas < 1) {
		c->num_iovas = 1;
		return -EMSGSIZE;
	}
	c->num_iovas = 1;
	return fk_write(c->allowed_iovas, &r, sizeof(r));
}

static int fk_attach(struct luvmm_vfio_device_attach_iommufd_pt *c)
{
	struct fk_obj *o = fk_find(c->pt_id, 0);

	if (c->flags)
		return -EINVAL;
	if (!o)
		return -ENOENT;
	if (o->kind == FK_IOAS) {
		struct fk_obj *h = fk_new(FK_HWPT);

		if (!h)
			return -ENOMEM;
		h->ioas = o->id;
		o = h;
	}
	fk.attached = o->id;	/* replaces whatever was attached */
	c->pt_id = o->id;
	return 0;
}

static int fk_set_irqs(uint64_t addr, struct vfio_irq_set *s)
{
	if (s->count > ARRAY_SIZE(fk.irq_fds) ||
	    s->argsz != sizeof(*s) + 4 * s->count)
		return -EINVAL;
	if (s->index == VFIO_PCI_MSI_IRQ_INDEX && s->start + s->count > fk.msi_count)
		return -EINVAL;
	fk.irq = *s;
	fk.set_irqs_calls++;
	return fk_read(addr + sizeof(*s), fk.irq_fds, 4 * s->count);
}

static int fk_region_info(struct vfio_region_info *c)
{
	if (c->argsz < sizeof(*c) || c->index != VFIO_PCI_BAR0_REGION_INDEX)
		return -EINVAL;
	c->flags = fk.bar_flags;
	c->size = fk.bar_size;
	c->offset = fk.bar_offset;
	c->cap_offset = 0;
	return 0;
}

static int fk_irq_info(struct vfio_irq_info *c)
{
	bool msi = c->index == VFIO_PCI_MSI_IRQ_INDEX;

	if (c->argsz < sizeof(*c))
		return -EINVAL;
	c->count = msi ? fk.msi_count : 0;
	c->flags = msi && fk.msi_count ? VFIO_IRQ_INFO_EVENTFD : 0;
	return 0;
}

/* Size of the struct request req carries (what the kernel copies in). */
static size_t fk_size(unsigned long req)
{
	switch (req) {
	case LUVMM_IOMMU_DESTROY:	return 8;
	case LUVMM_IOMMU_IOAS_ALLOC:	return 12;
	case LUVMM_IOMMU_IOAS_MAP_FILE:	return 40;
	case LUVMM_IOMMU_IOAS_UNMAP:	return 24;
	case LUVMM_IOMMU_OPTION:	return 24;
	case LUVMM_IOMMU_HWPT_ALLOC:	return 48;
	case LUVMM_IOMMU_IOAS_IOVA_RANGES:	return 32;
	case LUVMM_IOMMU_IOAS_CHANGE_PROCESS:	return 8;
	case LUVMM_VFIO_DEVICE_BIND_IOMMUFD:	return 24;
	case LUVMM_VFIO_DEVICE_ATTACH_IOMMUFD_PT:	return 16;
	case LUVMM_VFIO_DEVICE_DETACH_IOMMUFD_PT:	return 12;
	case VFIO_DEVICE_GET_REGION_INFO:	return 32;
	case VFIO_DEVICE_GET_IRQ_INFO:	return 16;
	case VFIO_DEVICE_SET_IRQS:	return 20;
	}
	return 0;
}

static int fk_iommufd(unsigned long req, unsigned char *b)
{
	switch (req) {
	case LUVMM_IOMMU_DESTROY:
		return fk_destroy((void *)b);
	case LUVMM_IOMMU_IOAS_ALLOC: {
		struct luvmm_iommu_ioas_alloc *c = (void *)b;
		struct fk_obj *o = c->flags ? NULL : fk_new(FK_IOAS);

		if (!o)
			return c->flags ? -EOPNOTSUPP : -ENOMEM;
		c->out_ioas_id = o->id;
		return 0;
	}
	case LUVMM_IOMMU_IOAS_MAP_FILE:
		return fk_map((void *)b);
	case LUVMM_IOMMU_IOAS_UNMAP:
		return fk_unmap((void *)b);
	case LUVMM_IOMMU_OPTION:
		return fk_option((void *)b);
	case LUVMM_IOMMU_HWPT_ALLOC:
		return fk_hwpt_alloc((void *)b);
	case LUVMM_IOMMU_IOAS_IOVA_RANGES:
		return fk_iova_ranges((void *)b);
	case LUVMM_IOMMU_IOAS_CHANGE_PROCESS:
		if (fk.fail[FK_FAIL_CHANGE_PROCESS])
			return -fk.fail[FK_FAIL_CHANGE_PROCESS];
		fk.change_process_calls++;
		return 0;
	}
	return -ENOTTY;
}

static int fk_bind(struct luvmm_vfio_device_bind_iommufd *c)
{
	if (c->flags || (fk.ifd >= 0 && c->iommufd != fk.ifd))
		return -EINVAL;
	if (fk.fail[FK_FAIL_BIND])
		return -fk.fail[FK_FAIL_BIND];
	if (fk.dev_id)
		return -EBUSY;
	fk.dev_id = fk.next_id++;
	c->out_devid = fk.dev_id;
	return 0;
}

static int fk_device(unsigned long req, uint64_t addr, unsigned char *b)
{
	if (req == LUVMM_VFIO_DEVICE_BIND_IOMMUFD)
		return fk_bind((void *)b);
	/* the cdev grants access only once bound */
	if (!fk.dev_id)
		return -EINVAL;
	switch (req) {
	case LUVMM_VFIO_DEVICE_ATTACH_IOMMUFD_PT:
		return fk_attach((void *)b);
	case LUVMM_VFIO_DEVICE_DETACH_IOMMUFD_PT:
		fk.attached = 0;
		return 0;
	case VFIO_DEVICE_GET_REGION_INFO:
		return fk_region_info((void *)b);
	case VFIO_DEVICE_GET_IRQ_INFO:
		return fk_irq_info((void *)b);
	case VFIO_DEVICE_SET_IRQS:
		return fk_set_irqs(addr, (void *)b);
	}
	return -ENOTTY;
}

/* One ioctl: 0 or -errno; the struct in b is written back on success. */
static int fk_dispatch(int fd, unsigned long req, uint64_t addr,
		       unsigned char *b)
{
	/* iommufd's numbers start at 0x80, VFIO's at 100 */
	if (_IOC_NR(req) >= 0x80)
		return fk.ifd >= 0 && fd != fk.ifd ? -ENOTTY : fk_iommufd(req, b);
	return fk.dfd >= 0 && fd != fk.dfd ? -ENOTTY : fk_device(req, addr, b);
}

static void fk_answer(int nfd, const struct seccomp_notif *n)
{
	struct seccomp_notif_resp resp = { .id = n->id };
	unsigned long req = n->data.args[1];
	uint64_t addr = n->data.args[2];
	_Alignas(8) unsigned char b[48] = { 0 };
	size_t size = fk_size(req);
	struct fk_log *l = NULL;
	int ret = size ? fk_read(addr, b, size) : 0;

	pthread_mutex_lock(&fk_lock);
	if (fk.n_log < FK_LOG) {
		l = &fk.log[fk.n_log++];
		l->req = req;
		l->fd = (int)n->data.args[0];
		memcpy(l->b, b, sizeof(b));
	}
	if (!ret)
		ret = fk_dispatch((int)n->data.args[0], req, addr, b);
	/* iommufd copies the struct back on EMSGSIZE too */
	if ((!ret || ret == -EMSGSIZE) && size &&
	    req != VFIO_DEVICE_SET_IRQS && fk_write(addr, b, size))
		ret = -EFAULT;
	if (l)
		l->ret = ret;
	pthread_mutex_unlock(&fk_lock);
	resp.error = ret;
	ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

/* ---- the scenario thread ------------------------------------------------ */

struct fk_ctx {
	void (*scenario)(void *arg);
	void *arg;
	int ready, done;	/* eventfds: filter installed / scenario over */
	int nfd;		/* the listener, or -errno */
};

static void *fk_thread(void *p)
{
	struct fk_ctx *run = p;
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* low half of args[1] (little-endian): the request's type */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[1])),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff00),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)';' << 8, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	};
	struct sock_fprog prog = { ARRAY_SIZE(f), f };
	uint64_t one = 1;

	/* both are per thread (and its children): the answering thread
	 * stays unfiltered */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		run->nfd = -errno;
	} else {
		run->nfd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
					SECCOMP_FILTER_FLAG_NEW_LISTENER,
					&prog);
		if (run->nfd < 0)
			run->nfd = -errno;
	}
	if (write(run->ready, &one, sizeof(one)) != sizeof(one) || run->nfd < 0)
		return NULL;
	run->scenario(run->arg);
	if (write(run->done, &one, sizeof(one)) != sizeof(one))
		abort();
	return NULL;
}

bool fk_run(void (*scenario)(void *arg), void *arg, const char **why)
{
	struct fk_ctx run = { .scenario = scenario, .arg = arg, .nfd = -1 };
	struct pollfd p[2];
	pthread_t t;
	uint64_t v;
	bool ok = false;

	run.ready = eventfd(0, EFD_CLOEXEC);
	run.done = eventfd(0, EFD_CLOEXEC);
	if (run.ready < 0 || run.done < 0 ||
	    pthread_create(&t, NULL, fk_thread, &run)) {
		*why = "eventfd/pthread_create failed";
		goto out;
	}
	if (read(run.ready, &v, sizeof(v)) != sizeof(v) || run.nfd < 0) {
		*why = "seccomp user notification unavailable";
		pthread_join(t, NULL);
		goto out;
	}
	p[0] = (struct pollfd){ .fd = run.nfd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = run.done, .events = POLLIN };
	for (;;) {
		struct seccomp_notif n;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN) {
			memset(&n, 0, sizeof(n));
			if (ioctl(run.nfd, SECCOMP_IOCTL_NOTIF_RECV, &n) == 0)
				fk_answer(run.nfd, &n);
			continue;
		}
		/* done, or the filter is gone (its thread died): stop */
		if ((p[1].revents & POLLIN) ||
		    (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
			break;
	}
	/* closing the listener fails any ioctl still waiting (ENOSYS) */
	close(run.nfd);
	pthread_join(t, NULL);
	ok = true;
out:
	if (run.ready >= 0)
		close(run.ready);
	if (run.done >= 0)
		close(run.done);
	return ok;
}
