// SPDX-License-Identifier: MIT
/*
 * slots.c: the device simulator's phys slots. Owns the mappings of guest
 * RAM memfds and the read-only views of I/O page-table pools, and the two
 * resolvers (pool-only for the walker, RAM-only for data).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../vmm/iommu/softhw.h"
#include "slots.h"

struct slot {
	uint32_t kind;		/* enum softhw_slot_kind */
	uint8_t *base;		/* RAM: the mapping */
	uint64_t size;		/* RAM: bytes mapped (the size at ADD_SLOT) */
	struct iopt_pool *pool;	/* POOL: read-only view */
};

int slots_init(struct slots *s)
{
	pthread_rwlockattr_t a;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = pthread_rwlockattr_init(&a);
	if (ret)
		return -ret;
	/* the engine re-takes the read side for every job: let ADD/DEL in */
	ret = pthread_rwlockattr_setkind_np(&a,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	if (!ret)
		ret = pthread_rwlock_init(&s->lock, &a);
	pthread_rwlockattr_destroy(&a);
	return -ret;
}

static void slot_free(struct slot *e)
{
	if (!e)
		return;
	if (e->base)
		munmap(e->base, e->size);
	iopt_pool_destroy(e->pool);
	free(e);
}

void slots_fini(struct slots *s)
{
	uint32_t i;

	for (i = 0; i <= IOPT_SLOT_MAX; i++) {
		slot_free(s->tab[i]);
		s->tab[i] = NULL;
	}
	s->count = 0;
	pthread_rwlock_destroy(&s->lock);
}

/* A memfd (or another shmem file): the only kind the VMM sends. */
static int check_memfd(int fd, struct stat *sb)
{
	if (fstat(fd, sb) < 0)
		return -errno;
	if (!S_ISREG(sb->st_mode) || fcntl(fd, F_GET_SEALS) < 0)
		return -EINVAL;
	return 0;
}

static int ram_map(struct slot *e, int fd, const struct stat *sb)
{
	uint64_t size = (uint64_t)sb->st_size;
	void *p;

	if (!size || !IS_ALIGNED(size, IOPT_PAGE_SIZE) || size > IOPT_SLOT_SIZE)
		return -EINVAL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		 fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	e->base = p;
	e->size = size;
	return 0;
}

int slots_add(struct slots *s, uint32_t slot, uint32_t kind, int fd)
{
	struct slot *e;
	struct stat sb;
	int ret;

	if (slot > IOPT_SLOT_MAX ||
	    (kind != SOFTHW_SLOT_RAM && kind != SOFTHW_SLOT_POOL))
		return -EINVAL;
	ret = check_memfd(fd, &sb);
	if (ret)
		return ret;
	/* only the main thread changes the table: no lock to read it here */
	if (s->tab[slot])
		return -EEXIST;
	if (s->count >= SLOTS_MAX)
		return -ENOSPC;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->kind = kind;
	if (kind == SOFTHW_SLOT_RAM)
		ret = ram_map(e, fd, &sb);
	else	/* the whole slot: the owner's pool may grow up to that */
		ret = iopt_pool_open(fd, slot, IOPT_SLOT_SIZE, &e->pool);
	if (ret)
		goto err_free;
	pthread_rwlock_wrlock(&s->lock);
	s->tab[slot] = e;
	s->count++;
	pthread_rwlock_unlock(&s->lock);
	return 0;

err_free:
	free(e);
	return ret;
}

int slots_del(struct slots *s, uint32_t slot)
{
	struct slot *e;

	if (slot > IOPT_SLOT_MAX)
		return -EINVAL;
	if (!s->tab[slot])
		return -ENOENT;
	pthread_rwlock_wrlock(&s->lock);
	e = s->tab[slot];
	s->tab[slot] = NULL;
	s->count--;
	pthread_rwlock_unlock(&s->lock);
	/* no job is inside it any more: the engine held the read side */
	slot_free(e);
	return 0;
}

unsigned int slots_count(struct slots *s)
{
	return s->count;
}

void slots_read_lock(struct slots *s)
{
	pthread_rwlock_rdlock(&s->lock);
}

void slots_read_unlock(struct slots *s)
{
	pthread_rwlock_unlock(&s->lock);
}

static struct slot *slot_of(struct slots *s, uint64_t pa, uint32_t kind)
{
	uint64_t n = pa >> IOPT_SLOT_SHIFT;
	struct slot *e;

	if (n > IOPT_SLOT_MAX)
		return NULL;
	e = s->tab[n];
	return e && e->kind == kind ? e : NULL;
}

static void *pool_slot_ptr(void *ctx, uint64_t pa, size_t len)
{
	struct slot *e = slot_of(ctx, pa, SOFTHW_SLOT_POOL);

	/* the pool's own resolver checks the range against its size */
	return e ? iopt_pool_ops.ptr(e->pool, pa, len) : NULL;
}

static int pool_slot_alloc(void *ctx __unused, uint64_t *pa __unused,
			   void **ptr __unused)
{
	return -EROFS;	/* the device never builds tables */
}

static void pool_slot_free(void *ctx __unused, uint64_t pa __unused)
{
}

const struct iopt_mem_ops slots_pool_ops = {
	.ptr = pool_slot_ptr,
	.alloc_table = pool_slot_alloc,
	.free_table = pool_slot_free,
};

void *slots_ram_ptr(struct slots *s, uint64_t pa, size_t len)
{
	struct slot *e = slot_of(s, pa, SOFTHW_SLOT_RAM);
	uint64_t off = IOPT_PA_OFF(pa);

	if (!e || off >= e->size || len > e->size - off)
		return NULL;
	return e->base + off;
}
