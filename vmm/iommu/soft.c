// SPDX-License-Identifier: MIT
/*
 * soft.c: the soft IOMMU backend. Owns the objects of one context (IOASes,
 * HWPTs with their table pools, the bound device), the registered files,
 * the context page and the requests to the simulator.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "../util.h"
#include "iova_tree.h"
#include "soft.h"
#include "softhw.h"

#define SOFT_MAX_OBJS	64	/* ids 1..63 */
#define SOFT_MAX_FILES	4
#define SOFT_MAX_HWPTS	4	/* HWPTs per IOAS */
#define SIM_TIMEOUT_MS	5000

enum soft_type { SO_FREE = 0, SO_IOAS, SO_HWPT, SO_DEV };

struct soft_area {
	struct iova_node n;
	uint64_t pa;		/* soft PA of the first byte */
	unsigned int prot;	/* IOPT_PROT_* */
};

struct soft_obj {
	enum soft_type type;
	uint32_t id;
	unsigned int users;	/* objects that depend on this one */
};

struct soft_ioas {
	struct soft_obj o;
	struct iova_tree areas;
	unsigned int nhwpt;
	struct soft_hwpt *hwpt[SOFT_MAX_HWPTS];
};

struct soft_hwpt {
	struct soft_obj o;
	struct soft_ioas *ioas;	/* NULL: adopted, read-only */
	uint32_t slot;		/* phys slot of its pool */
	struct iopt_pool *pool;
	struct iopt *pt;	/* NULL when adopted */
	struct iopt_tree tree;	/* what walkers use */
	uint64_t off_gen;	/* GEN that took the device off it */
	uint64_t dirty_gen;	/* GEN that invalidated its last unmap */
	bool dirty;		/* deferred tables wait for dirty_gen */
};

struct soft_dev {
	struct soft_obj o;
	struct soft_hwpt *hwpt;	/* attached, or NULL (blocked) */
};

struct soft_file {
	int fd;
	uint32_t slot;
	uint64_t size;
};

struct soft_iommu {
	struct iommu io;
	struct soft_obj *obj[SOFT_MAX_OBJS];
	uint32_t next_id;
	int sim_fd;
	int ctx_fd;
	_Atomic uint64_t *ctx;	/* the context page */
	uint64_t gen;		/* last GEN published */
	unsigned int nfiles;
	struct soft_file file[SOFT_MAX_FILES];
	uint64_t pool_slots;	/* bit i: slot POOL_FIRST + i in use */
	struct soft_dev *dev;
};

static inline struct soft_iommu *to_soft(struct iommu *io)
{
	return container_of(io, struct soft_iommu, io);
}

/* ---- the simulator connection ------------------------------------------ */

struct sim_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len;
	uint32_t zero;
};

/* Send one request and wait for its reply's status. */
static int sim_request(struct soft_iommu *s, uint16_t type, const void *payload,
		       uint32_t len, const int *fds, unsigned int nfds)
{
	uint8_t buf[64], cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct sim_hdr h = { SOFTHW_MAGIC, SOFTHW_VERSION, type, len, 0 };
	struct iovec iov = { buf, sizeof(h) + len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd pfd = { s->sim_fd, POLLIN, 0 };
	struct cmsghdr *c;
	ssize_t n;
	int32_t status;

	if (s->sim_fd < 0)
		return 0;	/* headless: no device to tell */
	if (len > sizeof(buf) - sizeof(h) || nfds > 4)
		return -EINVAL;
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), payload, len);
	if (nfds) {
		memset(cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	if (sendmsg(s->sim_fd, &msg, MSG_NOSIGNAL) < 0)
		return -errno;
	n = poll(&pfd, 1, SIM_TIMEOUT_MS);
	if (n <= 0)
		return n < 0 ? -errno : -ETIMEDOUT;
	n = recv(s->sim_fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	memcpy(&h, buf, sizeof(h));
	if (n < (ssize_t)(sizeof(h) + 4) || h.magic != SOFTHW_MAGIC ||
	    h.type != SOFTHW_REPLY || h.len < 4 || h.len > n - sizeof(h))
		return n == 0 ? -EPIPE : -EBADMSG;
	memcpy(&status, buf + sizeof(h), 4);
	return status > 0 || status < -4095 ? -EBADMSG : status;
}

static int sim_add_slot(struct soft_iommu *s, uint32_t slot, uint32_t kind, int fd)
{
	uint32_t p[2] = { slot, kind };

	return sim_request(s, SOFTHW_ADD_SLOT, p, sizeof(p), &fd, 1);
}

static int sim_del_slot(struct soft_iommu *s, uint32_t slot)
{
	return sim_request(s, SOFTHW_DEL_SLOT, &slot, sizeof(slot), NULL, 0);
}

/* ---- generations: what the device has seen ------------------------------ */

static uint64_t publish_gen(struct soft_iommu *s)
{
	atomic_store_explicit(&s->ctx[SOFTHW_CTX_GEN], ++s->gen,
			      memory_order_release);
	return s->gen;
}

static bool acked(struct soft_iommu *s, uint64_t gen)
{
	if (s->sim_fd < 0)
		return true;	/* headless: nothing walks the tables */
	return atomic_load_explicit(&s->ctx[SOFTHW_CTX_ACK],
				    memory_order_acquire) >= gen;
}

static int wait_ack(struct soft_iommu *s, uint64_t gen, int timeout_ms)
{
	uint64_t end = util_now_ns() + (uint64_t)timeout_ms * 1000000;
	struct timespec ts = { 0, 100 * 1000 };

	while (!acked(s, gen)) {
		if (util_now_ns() > end)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* ---- objects ------------------------------------------------------------- */

static void *obj_get(struct soft_iommu *s, uint32_t id, enum soft_type type)
{
	struct soft_obj *o = id < SOFT_MAX_OBJS ? s->obj[id] : NULL;

	return o && o->type == type ? o : NULL;
}

static int obj_add(struct soft_iommu *s, struct soft_obj *o, enum soft_type type)
{
	uint32_t i, id;

	for (i = 1; i < SOFT_MAX_OBJS; i++) {
		id = (s->next_id + i) % SOFT_MAX_OBJS;
		if (id && !s->obj[id]) {
			o->type = type;
			o->id = id;
			s->obj[id] = o;
			s->next_id = id;
			return 0;
		}
	}
	return -ENOSPC;
}

static void obj_del(struct soft_iommu *s, struct soft_obj *o)
{
	s->obj[o->id] = NULL;
	free(o);
}

static struct soft_file *file_find(struct soft_iommu *s, int fd)
{
	unsigned int i;

	for (i = 0; i < s->nfiles; i++)
		if (s->file[i].fd == fd)
			return &s->file[i];
	return NULL;
}

/* ---- IOAS ----------------------------------------------------------------- */

static int soft_ioas_alloc(struct iommu *io, uint32_t *id)
{
	struct soft_iommu *s = to_soft(io);
	struct soft_ioas *a = calloc(1, sizeof(*a));
	int ret;

	if (!a)
		return -ENOMEM;
	iova_tree_init(&a->areas);
	ret = obj_add(s, &a->o, SO_IOAS);
	if (ret) {
		free(a);
		return ret;
	}
	*id = a->o.id;
	return 0;
}

/*
 * Unmapping a whole area from tables that hold it can fail only if the
 * deferred-free list cannot grow (out of memory). Stale translations must
 * never outlive an unmap: fail safe by blocking the device's DMA.
 */
static void unmap_or_block(struct soft_iommu *s, struct soft_hwpt *h,
			   uint64_t iova, uint64_t len)
{
	int ret = iopt_unmap(h->pt, iova, len, NULL);

	if (!ret)
		return;
	log_err("soft IOMMU: unmap of %#llx+%#llx failed (%s): blocking "
		  "the device's DMA", (unsigned long long)iova,
		  (unsigned long long)len, strerror(-ret));
	iopt_root_block((uint64_t *)&s->ctx[SOFTHW_CTX_DTE]);
	publish_gen(s);
}

/* Map one area into every HWPT of the IOAS; all or nothing. */
static int map_hwpts(struct soft_iommu *s, struct soft_ioas *a,
		     const struct soft_area *ar)
{
	uint64_t len = ar->n.last - ar->n.first + 1;
	unsigned int i;
	int ret;

	for (i = 0; i < a->nhwpt; i++) {
		ret = iopt_map(a->hwpt[i]->pt, ar->n.first, ar->pa, len, ar->prot);
		if (ret)
			goto undo;
	}
	return 0;
undo:
	while (i--)
		unmap_or_block(s, a->hwpt[i], ar->n.first, len);
	return ret;
}

static int soft_ioas_map_file(struct iommu *io, uint32_t ioas_id, int fd,
			      uint64_t start, uint64_t length, uint64_t iova,
			      unsigned int prot)
{
	struct soft_iommu *s = to_soft(io);
	struct soft_ioas *a = obj_get(s, ioas_id, SO_IOAS);
	struct soft_file *f = file_find(s, fd);
	struct soft_area *ar;
	int ret;

	if (!a)
		return -ENOENT;
	ret = iommu_check_map(start, length, iova, prot);
	if (ret)
		return ret;
	if (!f)
		return -EBADF;
	if (start >= f->size || length > f->size - start ||
	    iova >= IOPT_IOVA_END || length > IOPT_IOVA_END - iova)
		return -EINVAL;
	if (iova_tree_first(&a->areas, iova, iova + length - 1))
		return -EEXIST;
	ar = calloc(1, sizeof(*ar));
	if (!ar)
		return -ENOMEM;
	ar->n.first = iova;
	ar->n.last = iova + length - 1;
	ar->pa = IOPT_PA(f->slot, start);
	ar->prot = (prot & IOMMU_PROT_READ ? IOPT_PROT_READ : 0) |
		   (prot & IOMMU_PROT_WRITE ? IOPT_PROT_WRITE : 0);
	ret = map_hwpts(s, a, ar);
	if (!ret)
		ret = iova_tree_insert(&a->areas, &ar->n);
	if (ret)
		free(ar);
	return ret;
}

static void unmap_hwpts(struct soft_iommu *s, struct soft_ioas *a,
			const struct soft_area *ar)
{
	uint64_t len = ar->n.last - ar->n.first + 1;
	unsigned int i;

	/* cannot fail: the area was mapped whole in every HWPT */
	for (i = 0; i < a->nhwpt; i++) {
		unmap_or_block(s, a->hwpt[i], ar->n.first, len);
		a->hwpt[i]->dirty = true;
	}
}

static int soft_ioas_unmap(struct iommu *io, uint32_t ioas_id, uint64_t iova,
			   uint64_t length, uint64_t *unmapped)
{
	struct soft_iommu *s = to_soft(io);
	struct soft_ioas *a = obj_get(s, ioas_id, SO_IOAS);
	struct iova_node *n;
	uint64_t last, bytes = 0, gen;
	unsigned int i;
	int ret;

	if (!a)
		return -ENOENT;
	ret = iommu_check_unmap(iova, length);
	if (ret)
		return ret;
	last = iova + length - 1;
	if (iova_tree_covered(&a->areas, iova, last, &bytes))
		return -ENOENT;
	while ((n = iova_tree_first(&a->areas, iova, last))) {
		struct soft_area *ar = container_of(n, struct soft_area, n);

		unmap_hwpts(s, a, ar);
		iova_tree_remove(&a->areas, n);
		free(ar);
	}
	/* the invalidation: table pages unlinked above are freed once the
	 * device acknowledges this generation */
	gen = publish_gen(s);
	for (i = 0; i < a->nhwpt; i++)
		if (a->hwpt[i]->dirty)
			a->hwpt[i]->dirty_gen = gen;
	if (unmapped)
		*unmapped = bytes;
	return 0;
}

/* ---- HWPT ----------------------------------------------------------------- */

static int pool_slot_get(struct soft_iommu *s, uint32_t *slot)
{
	unsigned int i, n = SOFTHW_SLOT_POOL_LAST - SOFTHW_SLOT_POOL_FIRST + 1;

	for (i = 0; i < n; i++) {
		if (!(s->pool_slots & (1ULL << i))) {
			s->pool_slots |= 1ULL << i;
			*slot = SOFTHW_SLOT_POOL_FIRST + i;
			return 0;
		}
	}
	return -ENOSPC;
}

static void pool_slot_put(struct soft_iommu *s, uint32_t slot)
{
	s->pool_slots &= ~(1ULL << (slot - SOFTHW_SLOT_POOL_FIRST));
}

static void hwpt_free(struct soft_iommu *s, struct soft_hwpt *h)
{
	iopt_destroy(h->pt);
	iopt_pool_destroy(h->pool);
	if (h->slot)
		pool_slot_put(s, h->slot);
	obj_del(s, &h->o);
}

static int fill_from_ioas(struct soft_hwpt *h, struct soft_ioas *a)
{
	struct iova_node *n;
	int ret;

	for (n = iova_tree_first(&a->areas, 0, UINT64_MAX); n;
	     n = iova_tree_next(&a->areas, n)) {
		struct soft_area *ar = container_of(n, struct soft_area, n);

		ret = iopt_map(h->pt, n->first, ar->pa, n->last - n->first + 1,
			       ar->prot);
		if (ret)
			return ret;
	}
	return 0;
}

static int soft_hwpt_alloc(struct iommu *io, uint32_t dev_id, uint32_t pt_id,
			   uint32_t flags, uint32_t *hwpt_id)
{
	struct soft_iommu *s = to_soft(io);
	struct soft_ioas *a = obj_get(s, pt_id, SO_IOAS);
	uint32_t iflags = IOPT_F_DEFER_FREE;
	struct soft_hwpt *h;
	int ret;

	if (!obj_get(s, dev_id, SO_DEV) || !a)
		return -ENOENT;
	if (flags & ~(IOMMU_HWPT_MAX_2M | IOMMU_HWPT_MAX_4K))
		return -EOPNOTSUPP;
	if (a->nhwpt == SOFT_MAX_HWPTS)
		return -ENOSPC;
	iflags |= flags & IOMMU_HWPT_MAX_4K ? IOPT_F_MAX_4K :
		  flags & IOMMU_HWPT_MAX_2M ? IOPT_F_MAX_2M : 0;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	ret = pool_slot_get(s, &h->slot);
	if (ret) {
		free(h);
		return ret;
	}
	ret = obj_add(s, &h->o, SO_HWPT);
	if (ret) {
		pool_slot_put(s, h->slot);
		free(h);
		return ret;
	}
	ret = iopt_pool_create(h->slot, SOFTHW_POOL_MAX, &h->pool);
	if (!ret)
		ret = iopt_create(&iopt_pool_ops, h->pool, iflags, &h->pt);
	if (!ret)
		ret = fill_from_ioas(h, a);
	/* the simulator must be able to walk it before anyone attaches it */
	if (!ret)
		ret = sim_add_slot(s, h->slot, SOFTHW_SLOT_POOL,
				   iopt_pool_fd(h->pool));
	if (ret) {
		hwpt_free(s, h);
		return ret;
	}
	h->tree = iopt_as_tree(h->pt);
	h->ioas = a;
	a->hwpt[a->nhwpt++] = h;
	a->o.users++;
	*hwpt_id = h->o.id;
	return 0;
}

/* Take h off its IOAS's list. */
static void hwpt_unlink(struct soft_hwpt *h)
{
	struct soft_ioas *a = h->ioas;
	unsigned int i;

	if (!a)
		return;
	for (i = 0; i < a->nhwpt; i++) {
		if (a->hwpt[i] == h) {
			a->hwpt[i] = a->hwpt[--a->nhwpt];
			break;
		}
	}
	a->o.users--;
	h->ioas = NULL;
}

/* ---- attach ---------------------------------------------------------------- */

static int soft_attach(struct iommu *io, uint32_t dev_id, uint32_t pt_id)
{
	struct soft_iommu *s = to_soft(io);
	struct soft_dev *d = obj_get(s, dev_id, SO_DEV);
	struct soft_hwpt *h = obj_get(s, pt_id, SO_HWPT), *old;
	uint64_t gen;

	if (!d)
		return -ENOENT;
	if (!h)
		return obj_get(s, pt_id, SO_IOAS) ? -EOPNOTSUPP : -ENOENT;
	if (d->hwpt == h)
		return 0;
	old = d->hwpt;
	/* one store: each walk loads either the old root or the new one */
	iopt_root_publish((uint64_t *)&s->ctx[SOFTHW_CTX_DTE], h->tree.root);
	gen = publish_gen(s);
	d->hwpt = h;
	h->o.users++;
	if (old) {
		old->o.users--;
		old->off_gen = gen;
	}
	return 0;
}

static int soft_destroy(struct iommu *io, uint32_t id)
{
	struct soft_iommu *s = to_soft(io);
	struct soft_obj *o = id < SOFT_MAX_OBJS ? s->obj[id] : NULL;
	struct soft_hwpt *h;
	int ret;

	if (!o)
		return -ENOENT;
	if (o->users)
		return -EBUSY;
	switch (o->type) {
	case SO_IOAS: {
		struct soft_ioas *a = (struct soft_ioas *)o;
		struct iova_node *n;

		while ((n = iova_tree_first(&a->areas, 0, UINT64_MAX))) {
			iova_tree_remove(&a->areas, n);
			free(container_of(n, struct soft_area, n));
		}
		obj_del(s, o);
		return 0;
	}
	case SO_HWPT:
		h = (struct soft_hwpt *)o;
		/* no walker may still be inside its tables */
		ret = wait_ack(s, MAX(h->off_gen, h->dirty_gen), SOFT_ACK_TIMEOUT_MS);
		if (ret)
			return -EBUSY;
		ret = sim_del_slot(s, h->slot);
		if (ret && ret != -ENOENT)
			return ret;
		hwpt_unlink(h);
		hwpt_free(s, h);
		return 0;
	case SO_DEV:
		if (s->dev->hwpt)
			return -EBUSY;
		s->dev = NULL;
		obj_del(s, o);
		return 0;
	default:
		return -ENOENT;
	}
}

static int soft_hwpt_compare(struct iommu *io, uint32_t a, uint32_t b,
			     uint64_t iova, uint64_t length,
			     struct iopt_mismatch *out)
{
	struct soft_iommu *s = to_soft(io);
	struct soft_hwpt *ha = obj_get(s, a, SO_HWPT);
	struct soft_hwpt *hb = obj_get(s, b, SO_HWPT);

	if (!ha || !hb)
		return -ENOENT;
	return iopt_compare(&ha->tree, &hb->tree, iova, length, out);
}

static void soft_close(struct iommu *io)
{
	struct soft_iommu *s = to_soft(io);
	unsigned int i;

	/*
	 * Tables the device may still walk (a successor VMM drives it now)
	 * are left exactly as they are: only our mappings of the pools go.
	 * Nothing is said to the simulator either.
	 */
	for (i = 0; i < SOFT_MAX_OBJS; i++) {
		struct soft_obj *o = s->obj[i];

		if (!o)
			continue;
		if (o->type == SO_HWPT) {
			struct soft_hwpt *h = (struct soft_hwpt *)o;

			iopt_abandon(h->pt);
			iopt_pool_destroy(h->pool);
		} else if (o->type == SO_IOAS) {
			struct soft_ioas *a = (struct soft_ioas *)o;
			struct iova_node *n;

			while ((n = iova_tree_first(&a->areas, 0, UINT64_MAX))) {
				iova_tree_remove(&a->areas, n);
				free(container_of(n, struct soft_area, n));
			}
		}
		free(o);
	}
	if (s->ctx)
		munmap((void *)s->ctx, SOFTHW_CTX_SIZE);
	if (s->ctx_fd >= 0)
		close(s->ctx_fd);
	free(s);
}

static const struct iommu_ops soft_ops = {
	.name = "soft",
	.close = soft_close,
	.ioas_alloc = soft_ioas_alloc,
	.ioas_map_file = soft_ioas_map_file,
	.ioas_unmap = soft_ioas_unmap,
	.hwpt_alloc = soft_hwpt_alloc,
	.attach = soft_attach,
	.destroy = soft_destroy,
	.hwpt_compare = soft_hwpt_compare,
};

/* ---- soft-only API -------------------------------------------------------- */

static int ctx_open(struct soft_iommu *s, int ctx_fd, char *err, size_t errlen)
{
	struct stat st;

	if (ctx_fd < 0) {
		s->ctx_fd = memfd_create("luvmm-iommu-ctx", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (s->ctx_fd < 0 || ftruncate(s->ctx_fd, SOFTHW_CTX_SIZE) < 0 ||
		    fcntl(s->ctx_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
			snprintf(err, errlen, "IOMMU context page: %s", strerror(errno));
			return -errno;
		}
	} else {
		s->ctx_fd = fcntl(ctx_fd, F_DUPFD_CLOEXEC, 0);
		if (s->ctx_fd < 0 || fstat(s->ctx_fd, &st) < 0)
			return -errno;
		if (st.st_size != SOFTHW_CTX_SIZE ||
		    !(fcntl(s->ctx_fd, F_GET_SEALS) & F_SEAL_SHRINK)) {
			snprintf(err, errlen, "IOMMU context page: not a sealed "
				 "%d-byte memfd", SOFTHW_CTX_SIZE);
			return -EBADMSG;
		}
	}
	s->ctx = mmap(NULL, SOFTHW_CTX_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      s->ctx_fd, 0);
	if (s->ctx == MAP_FAILED) {
		s->ctx = NULL;
		snprintf(err, errlen, "IOMMU context page: mmap: %s", strerror(errno));
		return -errno;
	}
	/* continue the generations the device has seen */
	s->gen = atomic_load(&s->ctx[SOFTHW_CTX_GEN]);
	return 0;
}

int soft_iommu_create(int sim_fd, int ctx_fd, struct iommu **out, char *err,
		      size_t errlen)
{
	struct soft_iommu *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->io.ops = &soft_ops;
	s->io.kind = IOMMU_SOFT;
	s->sim_fd = sim_fd;
	s->ctx_fd = -1;
	ret = ctx_open(s, ctx_fd, err, errlen);
	if (ret) {
		soft_close(&s->io);
		return ret;
	}
	*out = &s->io;
	return 0;
}

int soft_iommu_ctx_fd(struct iommu *io)
{
	return to_soft(io)->ctx_fd;
}

int soft_iommu_add_file(struct iommu *io, int fd, uint32_t slot, uint64_t size,
			bool present)
{
	struct soft_iommu *s = to_soft(io);
	struct soft_file *f;
	int ret;

	if (file_find(s, fd))
		return -EEXIST;
	if (s->nfiles == SOFT_MAX_FILES)
		return -ENOSPC;
	if (slot == 0 || slot >= SOFTHW_SLOT_POOL_FIRST ||
	    !IS_ALIGNED(size, IOPT_PAGE_SIZE) || size > IOPT_SLOT_SIZE)
		return -EINVAL;
	if (!present) {
		ret = sim_add_slot(s, slot, SOFTHW_SLOT_RAM, fd);
		if (ret)
			return ret;
	}
	f = &s->file[s->nfiles++];
	f->fd = fd;
	f->slot = slot;
	f->size = size;
	return 0;
}

int soft_iommu_bind(struct iommu *io, uint32_t *dev_id)
{
	struct soft_iommu *s = to_soft(io);
	struct soft_dev *d;
	int ret;

	if (s->dev)
		return -EBUSY;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	ret = obj_add(s, &d->o, SO_DEV);
	if (ret) {
		free(d);
		return ret;
	}
	s->dev = d;
	*dev_id = d->o.id;
	return 0;
}

int soft_iommu_attach_sim(struct iommu *io, int bar_fd, int doorbell_fd,
			  int irq_fd)
{
	struct soft_iommu *s = to_soft(io);
	int fds[4] = { s->ctx_fd, bar_fd, doorbell_fd, irq_fd };

	return sim_request(s, SOFTHW_ATTACH, NULL, 0, fds, 4);
}

int soft_iommu_adopt_hwpt(struct iommu *io, uint32_t dev_id, int pool_fd,
			  uint32_t *hwpt_id, char *err, size_t errlen)
{
	struct soft_iommu *s = to_soft(io);
	struct soft_dev *d = obj_get(s, dev_id, SO_DEV);
	struct soft_hwpt *h;
	uint64_t root;
	uint32_t slot;
	int ret;

	if (!d || d->hwpt)
		return -EINVAL;
	ret = iopt_root_load((const uint64_t *)&s->ctx[SOFTHW_CTX_DTE], &root);
	slot = IOPT_PA_SLOT(root);
	if (ret || slot < SOFTHW_SLOT_POOL_FIRST || slot > SOFTHW_SLOT_POOL_LAST) {
		snprintf(err, errlen, "IOMMU: the device's table entry %#llx "
			 "does not point into a table pool",
			 (unsigned long long)atomic_load(&s->ctx[SOFTHW_CTX_DTE]));
		return -EBADMSG;
	}
	if (s->pool_slots & (1ULL << (slot - SOFTHW_SLOT_POOL_FIRST)))
		return -EEXIST;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	ret = iopt_pool_open(pool_fd, slot, SOFTHW_POOL_MAX, &h->pool);
	if (ret) {
		snprintf(err, errlen, "IOMMU: the live tables' pool: %s",
			 strerror(-ret));
		free(h);
		return ret == -EINVAL ? -EBADMSG : ret;
	}
	ret = obj_add(s, &h->o, SO_HWPT);
	if (ret) {
		iopt_pool_destroy(h->pool);
		free(h);
		return ret;
	}
	s->pool_slots |= 1ULL << (slot - SOFTHW_SLOT_POOL_FIRST);
	h->slot = slot;
	h->tree.ops = &iopt_pool_ops;
	h->tree.ctx = h->pool;
	h->tree.root = root;
	h->o.users = 1;
	d->hwpt = h;
	*hwpt_id = h->o.id;
	return 0;
}

int soft_iommu_hwpt_pool(struct iommu *io, uint32_t hwpt_id, int *fd,
			 uint32_t *slot)
{
	struct soft_hwpt *h = obj_get(to_soft(io), hwpt_id, SO_HWPT);

	if (!h)
		return -ENOENT;
	*fd = iopt_pool_fd(h->pool);
	*slot = h->slot;
	return 0;
}

uint32_t soft_iommu_dev_hwpt(struct iommu *io, uint32_t dev_id)
{
	struct soft_dev *d = obj_get(to_soft(io), dev_id, SO_DEV);

	return d && d->hwpt ? d->hwpt->o.id : 0;
}

int soft_iommu_hwpt_reserve(struct iommu *io, uint32_t hwpt_id, uint64_t tables)
{
	struct soft_hwpt *h = obj_get(to_soft(io), hwpt_id, SO_HWPT);

	if (!h)
		return -ENOENT;
	return h->pt ? iopt_pool_reserve(h->pool, tables) : -EROFS;
}

uint64_t soft_iommu_hwpt_tables(struct iommu *io, uint32_t hwpt_id)
{
	struct soft_hwpt *h = obj_get(to_soft(io), hwpt_id, SO_HWPT);
	struct iopt_pool_stats st;

	if (!h)
		return 0;
	iopt_pool_get_stats(h->pool, &st);
	return st.in_use;
}

void soft_iommu_reclaim(struct iommu *io)
{
	struct soft_iommu *s = to_soft(io);
	unsigned int i;

	for (i = 0; i < SOFT_MAX_OBJS; i++) {
		struct soft_hwpt *h = obj_get(s, i, SO_HWPT);

		if (h && h->pt && h->dirty && acked(s, h->dirty_gen)) {
			iopt_reclaim(h->pt);
			h->dirty = false;
		}
	}
}

void soft_iommu_dev_stats(struct iommu *io, struct soft_iommu_dev_stats *out)
{
	_Atomic uint64_t *c = to_soft(io)->ctx;

	out->jobs = atomic_load_explicit(&c[SOFTHW_CTX_JOBS], memory_order_relaxed);
	out->faults = atomic_load_explicit(&c[SOFTHW_CTX_FAULTS], memory_order_relaxed);
	out->xlates = atomic_load_explicit(&c[SOFTHW_CTX_XLATES], memory_order_relaxed);
	out->bytes = atomic_load_explicit(&c[SOFTHW_CTX_BYTES], memory_order_relaxed);
	out->msis = atomic_load_explicit(&c[SOFTHW_CTX_MSIS], memory_order_relaxed);
	out->last_fault = atomic_load_explicit(&c[SOFTHW_CTX_LAST_FAULT], memory_order_relaxed);
	out->last_err = (int64_t)atomic_load_explicit(&c[SOFTHW_CTX_LAST_ERR], memory_order_relaxed);
	out->gen = atomic_load_explicit(&c[SOFTHW_CTX_GEN], memory_order_relaxed);
	out->ack = atomic_load_explicit(&c[SOFTHW_CTX_ACK], memory_order_relaxed);
}
