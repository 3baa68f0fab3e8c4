// SPDX-License-Identifier: MIT
/*
 * test_iommu.c: the IOMMU object model without a device: the IOVA range
 * tree, the map log (and a hostile one), the soft backend's iommufd rules,
 * adoption of live tables by a second context, and the replay with its
 * validation, layout retries and refusal of wrong tables.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../vmm/iommu/iommu.h"
#include "../vmm/iommu/iova_tree.h"
#include "../vmm/iommu/maplog.h"
#include "../vmm/iommu/soft.h"
#include "../vmm/iommu/softhw.h"
#include "../vmm/liveupdate/replay.h"
#include "../vmm/util.h"
#include "tap.h"

#define RW	(IOMMU_PROT_READ | IOMMU_PROT_WRITE)
#define RO	IOMMU_PROT_READ
#define RAM_SIZE	(8 * GiB)	/* sparse */

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ---- iova_tree ------------------------------------------------------------ */

struct tnode {
	struct iova_node n;
	bool in;
};

static void test_tree_rules(void)
{
	struct iova_tree t;
	struct iova_node a = { .first = 0x1000, .last = 0x1fff };
	struct iova_node b = { .first = 0x3000, .last = 0x4fff };
	struct iova_node c = { .first = 0x1800, .last = 0x2fff };
	struct iova_node e = { .first = 0x2000, .last = 0x2fff };
	struct iova_node bad = { .first = 5, .last = 4 };

	iova_tree_init(&t);
	CHECK_ERR(0, iova_tree_insert(&t, &a));
	CHECK_ERR(0, iova_tree_insert(&t, &b));
	CHECK_ERR(-EEXIST, iova_tree_insert(&t, &c));	/* overlaps a */
	CHECK_ERR(-EINVAL, iova_tree_insert(&t, &bad));
	CHECK_ERR(0, iova_tree_insert(&t, &e));		/* fits between */
	CHECK(iova_tree_first(&t, 0, 0xfff) == NULL);
	CHECK(iova_tree_first(&t, 0, 0x1000) == &a);
	CHECK(iova_tree_first(&t, 0x1fff, UINT64_MAX) == &a);
	CHECK(iova_tree_first(&t, 0x2000, 0x2000) == &e);
	CHECK(iova_tree_first(&t, 0x5000, UINT64_MAX) == NULL);
	CHECK(iova_tree_next(&t, &a) == &e);
	CHECK(iova_tree_next(&t, &b) == NULL);
	CHECK(iova_tree_find(&t, 0x3000) == &b);
	CHECK(iova_tree_find(&t, 0x3001) == NULL);
	{
		uint64_t bytes = 0;

		CHECK_ERR(0, iova_tree_covered(&t, 0x1000, 0x2fff, &bytes));
		CHECK_EQ(bytes, 0x2000);
		CHECK_ERR(-ENOENT, iova_tree_covered(&t, 0x1000, 0x3fff, &bytes));
		CHECK_ERR(-ENOENT, iova_tree_covered(&t, 0x5000, 0x8fff, &bytes));
		CHECK_ERR(0, iova_tree_covered(&t, 0, UINT64_MAX, &bytes));
		CHECK_EQ(bytes, 0x4000);
	}
	iova_tree_remove(&t, &e);
	CHECK(iova_tree_next(&t, &a) == &b);
	CHECK_EQ(t.count, 2);
	CHECK_ERR(0, iova_tree_check(&t));
}

/* Random inserts and removals against a flat model. */
static void test_tree_random(void)
{
	enum { N = 4000, SLOTS = 1 << 14 };
	struct tnode *v = calloc(N, sizeof(*v));
	uint8_t *owner_map = calloc(SLOTS, 1);	/* 0 free, else busy */
	struct iova_tree t;
	unsigned i, k, live = 0;

	REQUIRE(v && owner_map);
	iova_tree_init(&t);
	for (k = 0; k < 60000; k++) {
		struct tnode *x = &v[rnd() % N];

		if (x->in) {
			for (i = x->n.first; i <= x->n.last; i++)
				owner_map[i] = 0;
			iova_tree_remove(&t, &x->n);
			x->in = false;
			live--;
		} else {
			uint64_t first = rnd() % SLOTS, len = 1 + rnd() % 8, j;
			bool free_range = first + len <= SLOTS;

			for (j = first; free_range && j < first + len; j++)
				free_range = !owner_map[j];
			x->n.first = first;
			x->n.last = first + len - 1;
			if (!free_range && first + len <= SLOTS) {
				CHECK_ERR(-EEXIST, iova_tree_insert(&t, &x->n));
				continue;
			}
			if (!free_range)
				continue;
			REQUIRE_OK(iova_tree_insert(&t, &x->n));
			for (j = first; j < first + len; j++)
				owner_map[j] = 1;
			x->in = true;
			live++;
		}
		if (k % 5000 == 0)
			REQUIRE_OK(iova_tree_check(&t));
	}
	CHECK_EQ(t.count, live);
	CHECK_ERR(0, iova_tree_check(&t));
	/* every busy slot is found by a lookup, every free one is not */
	for (i = 0; i < SLOTS; i++)
		CHECK(!!iova_tree_first(&t, i, i) == !!owner_map[i]);
	free(v);
	free(owner_map);
}

/* ---- map log ---------------------------------------------------------------- */

static struct maplog_entry ent(uint64_t iova, uint64_t len, uint64_t off,
			       uint32_t prot)
{
	return (struct maplog_entry){ iova, len, off, MAPLOG_FILE_RAM, prot };
}

static void test_maplog_rules(void)
{
	struct maplog *l;
	struct maplog_entry e;
	uint64_t bytes;

	REQUIRE_OK(maplog_create(4, &l));
	e = ent(0x10000, 0x2000, 0, RW);
	CHECK_ERR(0, maplog_add(l, &e));
	e = ent(0x11000, 0x1000, 0, RW);
	CHECK_ERR(-EEXIST, maplog_add(l, &e));
	e = ent(0x20001, 0x1000, 0, RW);
	CHECK_ERR(-EINVAL, maplog_add(l, &e));
	e = ent(0x20000, 0x1000, 0, 0);
	CHECK_ERR(-EINVAL, maplog_add(l, &e));
	e = ent(0x20000, 0x1000, 0x3000, RO);
	CHECK_ERR(0, maplog_add(l, &e));
	e = ent(0x30000, 0x1000, 0, RO);
	CHECK_ERR(0, maplog_add(l, &e));
	e = ent(0x40000, 0x1000, 0, RO);
	CHECK_ERR(0, maplog_add(l, &e));
	CHECK(maplog_full(l));
	e = ent(0x50000, 0x1000, 0, RO);
	CHECK_ERR(-ENOSPC, maplog_add(l, &e));
	/* partial cover of the first area: refused, nothing removed */
	CHECK_ERR(-ENOENT, maplog_remove(l, 0x10000, 0x1000, &bytes));
	CHECK_ERR(-ENOENT, maplog_remove(l, 0x60000, 0x1000, &bytes));
	CHECK_EQ(maplog_count(l), 4);
	/* one call covering three whole areas and holes */
	CHECK_ERR(0, maplog_remove(l, 0x10000, 0x21000, &bytes));
	CHECK_EQ(bytes, 0x4000);
	CHECK_EQ(maplog_count(l), 1);
	CHECK(!maplog_full(l));
	maplog_destroy(l);
}

struct collect {
	struct maplog_entry v[8];
	unsigned n;
};

static int collect_fn(void *arg, const struct maplog_entry *e)
{
	struct collect *c = arg;

	if (c->n < 8)
		c->v[c->n++] = *e;
	return 0;
}

static void test_maplog_read(void)
{
	struct maplog_entry e, *got = NULL;
	struct collect c = { .n = 0 };
	struct maplog *l;
	char err[200];
	uint64_t n;

	REQUIRE_OK(maplog_create(16, &l));
	e = ent(0x300000, 0x1000, 0x5000, RO);
	REQUIRE_OK(maplog_add(l, &e));
	e = ent(0x100000, 0x200000, 0x200000, RW);
	REQUIRE_OK(maplog_add(l, &e));
	e = ent(0x400000, 0x1000, 0, RW);
	REQUIRE_OK(maplog_add(l, &e));
	REQUIRE_OK(maplog_remove(l, 0x400000, 0x1000, NULL));	/* a hole */
	CHECK_ERR(0, maplog_for_each(l, collect_fn, &c));
	REQUIRE_EQ(c.n, 2);
	CHECK_EQ(c.v[0].iova, 0x100000);	/* IOVA order */
	CHECK_EQ(c.v[1].iova, 0x300000);
	CHECK_ERR(0, maplog_read(maplog_fd(l), RAM_SIZE, &got, &n, err, sizeof(err)));
	REQUIRE_EQ(n, 2);
	CHECK_EQ(got[0].iova, 0x100000);
	CHECK_EQ(got[0].offset, 0x200000);
	CHECK_EQ(got[1].iova, 0x300000);
	CHECK_EQ(got[1].prot, RO);
	free(got);
	/* an offset past guest RAM is refused */
	CHECK_ERR(-EBADMSG, maplog_read(maplog_fd(l), 0x300000, &got, &n, err,
					sizeof(err)));
	CHECK(strstr(err, "invalid") != NULL);
	maplog_destroy(l);
}

/* iova_tree_build(): every size gives a valid, minimal tree that finds
 * every range; bad input changes nothing. */
static void test_tree_build(void)
{
	static struct iova_node nodes[1100];
	static struct iova_node *order[1100];
	static const size_t sizes[] = { 0, 1, 2, 3, 4, 7, 8, 9, 100, 1023, 1024, 1100 };
	struct iova_tree t;
	size_t k, i, bad = 0;
	int h;

	for (k = 0; k < ARRAY_SIZE(sizes); k++) {
		size_t n = sizes[k];

		iova_tree_init(&t);
		for (i = 0; i < n; i++) {
			nodes[i].first = 0x10000 * i;
			nodes[i].last = nodes[i].first + 0x1000 * (1 + i % 3) - 1;
			order[i] = &nodes[i];
		}
		REQUIRE_OK(iova_tree_build(&t, order, n));
		CHECK_EQ(t.count, n);
		CHECK_ERR(0, iova_tree_check(&t));
		/* minimal height: floor(log2 n) + 1 */
		for (h = 0; ((size_t)1 << h) <= n; h++)
			;
		CHECK_EQ(t.root ? t.root->height : 0, h);
		for (i = 0; i < n; i++)
			bad += iova_tree_find(&t, nodes[i].first) != &nodes[i] ||
			       iova_tree_first(&t, nodes[i].last, nodes[i].last) != &nodes[i];
		/* and it stays a working AVL tree */
		if (n > 2) {
			iova_tree_remove(&t, &nodes[1]);
			CHECK_ERR(0, iova_tree_check(&t));
			CHECK_ERR(0, iova_tree_insert(&t, &nodes[1]));
			CHECK_ERR(0, iova_tree_check(&t));
		}
		CHECK_ERR(-EBUSY, n ? iova_tree_build(&t, order, n) : -EBUSY);
	}
	CHECK_EQ(bad, 0);

	iova_tree_init(&t);
	for (i = 0; i < 3; i++) {
		nodes[i].first = 0x10000 * i;
		nodes[i].last = nodes[i].first + 0xfff;
		order[i] = &nodes[i];
	}
	order[0] = &nodes[1], order[1] = &nodes[0];	/* out of order */
	CHECK_ERR(-EINVAL, iova_tree_build(&t, order, 3));
	order[0] = &nodes[0], order[1] = &nodes[1];
	nodes[1].last = nodes[2].first;			/* overlap */
	CHECK_ERR(-EINVAL, iova_tree_build(&t, order, 3));
	nodes[1].last = nodes[1].first - 1;		/* first > last */
	CHECK_ERR(-EINVAL, iova_tree_build(&t, order, 3));
	CHECK(t.root == NULL);
	CHECK_EQ(t.count, 0);
}

static int count_fn(void *arg, const struct maplog_entry *e)
{
	uint64_t *sum = arg;

	sum[0]++;
	sum[1] = sum[1] * 31 + e->iova + e->length * 7 + e->offset * 13 + e->prot;
	return 0;
}

/* maplog_load() records what maplog_add() calls would, and refuses what
 * they would refuse, changing nothing. */
static void test_maplog_load(void)
{
	enum { N = 5000 };
	static struct maplog_entry e[N];
	struct maplog *a, *b;
	uint64_t sa[2] = { 0 }, sb[2] = { 0 }, bytes, i, n;
	struct maplog_entry *got = NULL, x;
	char err[200];

	for (i = 0; i < N; i++)
		e[i] = ent(0x100000 + i * 0x3000, 0x1000 * (1 + i % 2), i * 0x1000,
			   i % 3 ? RW : RO);
	REQUIRE_OK(maplog_create(N, &a));
	REQUIRE_OK(maplog_create(N, &b));
	for (i = 0; i < N; i++)
		REQUIRE_OK(maplog_add(a, &e[i]));
	REQUIRE_OK(maplog_load(b, e, N));
	CHECK_EQ(maplog_count(b), N);
	CHECK(maplog_full(b));
	CHECK_ERR(0, maplog_for_each(a, count_fn, sa));
	CHECK_ERR(0, maplog_for_each(b, count_fn, sb));
	CHECK_EQ(sa[0], sb[0]);
	CHECK_EQ(sa[1], sb[1]);
	/* what another VMM reads from it is the same too */
	CHECK_ERR(0, maplog_read(maplog_fd(b), RAM_SIZE, &got, &n, err, sizeof(err)));
	CHECK_EQ(n, N);
	CHECK(got && !memcmp(got, e, sizeof(e)));
	free(got);
	got = NULL;
	/* a log written out of order is read back in IOVA order */
	{
		static struct maplog_entry f[N];
		static uint32_t perm[N];
		struct maplog *c;

		/* IOVAs spread over all 48 bits: every digit of the sort */
		for (i = 0; i < N; i++) {
			f[i] = ent(i * 0xb6b4e3000ULL, 0x1000, i * 0x1000, RW);
			perm[i] = (uint32_t)i;
		}
		for (i = N - 1; i > 0; i--) {
			uint64_t j = rnd() % (i + 1);
			uint32_t t = perm[i];

			perm[i] = perm[j], perm[j] = t;
		}
		REQUIRE_OK(maplog_create(N, &c));
		for (i = 0; i < N; i++)
			REQUIRE_OK(maplog_add(c, &f[perm[i]]));
		CHECK_ERR(0, maplog_read(maplog_fd(c), RAM_SIZE, &got, &n, err,
					 sizeof(err)));
		CHECK_EQ(n, N);
		CHECK(got && !memcmp(got, f, sizeof(f)));
		free(got);
		got = NULL;
		maplog_destroy(c);
	}
	/* the index works: overlap refused, whole-area removal */
	CHECK_ERR(-EBUSY, maplog_load(b, e, 1));
	CHECK_ERR(0, maplog_remove(b, e[10].iova, 0x3000 * 3, &bytes));
	CHECK_EQ(maplog_count(b), N - 3);
	x = e[11];
	CHECK_ERR(0, maplog_add(b, &x));
	CHECK_ERR(-EEXIST, maplog_add(b, &x));
	maplog_destroy(a);
	maplog_destroy(b);

	REQUIRE_OK(maplog_create(4, &a));
	CHECK_ERR(-ENOSPC, maplog_load(a, e, 5));
	x = e[1], e[1] = e[2], e[2] = x;	/* out of order */
	CHECK_ERR(-EINVAL, maplog_load(a, e, 4));
	x = e[1], e[1] = e[2], e[2] = x;
	e[2].iova = e[1].iova;			/* overlap */
	CHECK_ERR(-EINVAL, maplog_load(a, e, 4));
	e[2].iova = e[1].iova + 0x3000;
	e[3].prot = 0;				/* bad entry */
	CHECK_ERR(-EINVAL, maplog_load(a, e, 4));
	CHECK_EQ(maplog_count(a), 0);
	CHECK_ERR(0, maplog_load(a, e, 0));
	CHECK_EQ(maplog_count(a), 0);
	maplog_destroy(a);
}

/* Corrupt one field of a valid log and expect a clear refusal. */
static void corrupt_and_read(uint64_t off, const void *bytes, size_t len,
			     const char *want)
{
	struct maplog_entry e, *got = NULL;
	struct maplog *l;
	char err[200] = "";
	uint64_t n;

	if (maplog_create(8, &l))
		tap_bail("maplog_create");
	e = ent(0x100000, 0x1000, 0, RW);
	(void)!maplog_add(l, &e);
	e = ent(0x200000, 0x1000, 0x1000, RW);
	(void)!maplog_add(l, &e);
	CHECK_EQ(pwrite(maplog_fd(l), bytes, len, (off_t)off), (ssize_t)len);
	CHECK_ERR(-EBADMSG, maplog_read(maplog_fd(l), RAM_SIZE, &got, &n, err,
					sizeof(err)));
	if (!strstr(err, want))
		tap_fail(__FILE__, __LINE__, "reason '%s' lacks '%s'", err, want);
	maplog_destroy(l);
}

static void test_maplog_hostile(void)
{
	uint32_t u32 = 0xdeadbeef;
	uint64_t u64;
	char err[200];
	struct maplog_entry *got;
	uint64_t n;
	int fd;

	corrupt_and_read(0, &u32, 4, "magic");
	u64 = 1000;	/* count > capacity */
	corrupt_and_read(16, &u64, 8, "capacity");
	u64 = 0x100800;	/* unaligned IOVA of entry 0 */
	corrupt_and_read(MAPLOG_ENTRIES_OFFSET, &u64, 8, "invalid");
	u64 = 0x200000;	/* entry 0 now overlaps entry 1 */
	corrupt_and_read(MAPLOG_ENTRIES_OFFSET, &u64, 8, "overlap");
	u32 = 7;	/* unknown file */
	corrupt_and_read(MAPLOG_ENTRIES_OFFSET + 24, &u32, 4, "invalid");
	u32 = 4;	/* unknown prot bit */
	corrupt_and_read(MAPLOG_ENTRIES_OFFSET + 28, &u32, 4, "invalid");
	/* not a sealed memfd at all */
	fd = memfd_create("not-a-log", MFD_CLOEXEC);
	REQUIRE(fd >= 0);
	CHECK_EQ(ftruncate(fd, 8192), 0);
	CHECK_ERR(-EBADMSG, maplog_read(fd, RAM_SIZE, &got, &n, err, sizeof(err)));
	CHECK(strstr(err, "sealed") != NULL);
	close(fd);
}

/* ---- soft backend (headless) ---------------------------------------------- */

struct ctx {
	struct iommu *io;
	int ram_fd;
	uint32_t dev, ioas, hwpt;
};

static int ram_fd_get(void)
{
	int fd = memfd_create("test-ram", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)RAM_SIZE) < 0)
		tap_bail("ram memfd");
	return fd;
}

/* A context with the usual boot objects (attach: the device uses them). */
static int ctx_boot(struct ctx *c, int ram_fd, int ctx_fd, uint32_t flags)
{
	char err[160];
	int ret;

	memset(c, 0, sizeof(*c));
	c->ram_fd = ram_fd;
	ret = soft_iommu_create(-1, ctx_fd, &c->io, err, sizeof(err));
	if (!ret)
		ret = soft_iommu_add_file(c->io, ram_fd, SOFTHW_SLOT_GUEST_RAM, RAM_SIZE,
					  false);
	if (!ret)
		ret = soft_iommu_bind(c->io, &c->dev);
	if (ret || ctx_fd >= 0)
		return ret;
	ret = iommu_ioas_alloc(c->io, &c->ioas);
	if (!ret)
		ret = iommu_hwpt_alloc(c->io, c->dev, c->ioas, flags, &c->hwpt);
	if (!ret)
		ret = iommu_attach(c->io, c->dev, c->hwpt);
	return ret;
}

static uint64_t ctx_word(struct iommu *io, unsigned idx)
{
	uint64_t v = 0;

	if (pread(soft_iommu_ctx_fd(io), &v, 8, idx * 8) != 8)
		return ~0ULL;
	return v;
}

static void test_soft_rules(void)
{
	struct ctx c;
	uint64_t bytes;
	uint32_t h2, ioas2;
	struct iopt_mismatch mm;
	int fd = ram_fd_get();

	REQUIRE_OK(ctx_boot(&c, fd, -1, 0));
	CHECK_ERR(0, iommu_ioas_map_file(c.io, c.ioas, fd, 0, 0x200000, 0x40000000, RW));
	CHECK_ERR(-EEXIST, iommu_ioas_map_file(c.io, c.ioas, fd, 0, 0x1000,
					       0x401ff000, RW));
	CHECK_ERR(-EINVAL, iommu_ioas_map_file(c.io, c.ioas, fd, 0, 0x1000, 0x1234, RW));
	CHECK_ERR(-EINVAL, iommu_ioas_map_file(c.io, c.ioas, fd, 0, 0x1000, 0x2000, 0));
	CHECK_ERR(-EINVAL, iommu_ioas_map_file(c.io, c.ioas, fd, RAM_SIZE, 0x1000,
					       0x2000, RW));	/* past the file */
	CHECK_ERR(-EBADF, iommu_ioas_map_file(c.io, c.ioas, 999, 0, 0x1000, 0x2000, RW));
	CHECK_ERR(-ENOENT, iommu_ioas_map_file(c.io, 60, fd, 0, 0x1000, 0x2000, RW));
	CHECK_ERR(0, iommu_ioas_map_file(c.io, c.ioas, fd, 0x5000, 0x1000, 0x40200000, RO));
	/* unmap: partial cover refused, nothing changes */
	CHECK_ERR(-ENOENT, iommu_ioas_unmap(c.io, c.ioas, 0x40000000, 0x1000, &bytes));
	CHECK_ERR(-ENOENT, iommu_ioas_unmap(c.io, c.ioas, 0x50000000, 0x1000, &bytes));
	/* a second HWPT built later holds what the IOAS has; MAX_4K lays
	 * the same mappings out differently */
	REQUIRE_OK(iommu_hwpt_alloc(c.io, c.dev, c.ioas, IOMMU_HWPT_MAX_4K, &h2));
	CHECK_EQ(iommu_hwpt_compare(c.io, c.hwpt, h2, 0, IOPT_IOVA_END, &mm), 1);
	CHECK_EQ(mm.kind, IOPT_DIFF_SIZE);
	CHECK_EQ(mm.iova, 0x40000000);
	CHECK_EQ(mm.a.size, 2 * MiB);
	CHECK_EQ(mm.b.size, 4 * KiB);
	/* both follow unmaps; whole areas in one call */
	CHECK_ERR(0, iommu_ioas_unmap(c.io, c.ioas, 0x3ff00000, 0x1000000, &bytes));
	CHECK_EQ(bytes, 0x201000);
	CHECK_EQ(iommu_hwpt_compare(c.io, c.hwpt, h2, 0, IOPT_IOVA_END, &mm), 0);
	/* in-use objects are not destroyed */
	CHECK_ERR(-EBUSY, iommu_destroy(c.io, c.ioas));
	CHECK_ERR(-EBUSY, iommu_destroy(c.io, c.hwpt));	/* attached */
	CHECK_ERR(-ENOENT, iommu_destroy(c.io, 61));
	/* replace: the DTE moves in one store, the old HWPT is then free */
	REQUIRE_OK(iommu_ioas_alloc(c.io, &ioas2));
	CHECK_ERR(0, iommu_attach(c.io, c.dev, h2));
	CHECK_EQ(IOPT_PA_SLOT(ctx_word(c.io, SOFTHW_CTX_DTE)), SOFTHW_SLOT_POOL_FIRST + 1);
	CHECK_EQ(ctx_word(c.io, SOFTHW_CTX_DTE) & IOPT_ROOT_V, IOPT_ROOT_V);
	CHECK_ERR(0, iommu_destroy(c.io, c.hwpt));
	CHECK_ERR(-EBUSY, iommu_destroy(c.io, c.ioas));	/* h2 still on it */
	CHECK_ERR(0, iommu_destroy(c.io, ioas2));
	CHECK_ERR(-EOPNOTSUPP, iommu_hwpt_alloc(c.io, c.dev, c.ioas, 1u << 7, &h2));
	iommu_close(c.io);
	close(fd);
}

/* ---- adoption and replay --------------------------------------------------- */

/* Old side: boot objects plus n mappings: 4 KiB ones on every other page
 * of one window, a 2 MiB one every 8th in another (entry 0 is 4 KiB,
 * read-write). */
static int old_side(struct ctx *c, int fd, uint32_t flags, unsigned n,
		    struct maplog **log)
{
	struct maplog_entry e;
	unsigned i;
	int ret;

	ret = ctx_boot(c, fd, -1, flags);
	if (!ret)
		ret = maplog_create(MAX(n, 16u), log);
	for (i = 0; !ret && i < n; i++) {
		bool big = i % 8 == 7;

		e = big ? ent(0x4000000000ULL + (uint64_t)i * 2 * MiB, 2 * MiB,
			      (uint64_t)(i % 1024) * 2 * MiB, RW) :
			  ent(0x100000000ULL + (uint64_t)i * 8 * KiB, 4 * KiB,
			      (uint64_t)(i % 4096) * 4 * KiB, i % 3 == 1 ? RO : RW);
		ret = iommu_ioas_map_file(c->io, c->ioas, fd, e.offset, e.length,
					  e.iova, e.prot);
		if (!ret)
			ret = maplog_add(*log, &e);
	}
	return ret;
}

struct newside {
	struct ctx c;
	uint32_t old_hwpt;
	struct maplog_entry *e;
	uint64_t n;
};

/* New side: a context on the old one's page, the live tables adopted. */
static int new_side(struct newside *ns, struct ctx *old, struct maplog *log)
{
	char err[200] = "";
	int pool_fd, ret;
	uint32_t slot;

	memset(ns, 0, sizeof(*ns));
	ret = ctx_boot(&ns->c, old->ram_fd, soft_iommu_ctx_fd(old->io), 0);
	if (!ret)
		ret = soft_iommu_hwpt_pool(old->io, old->hwpt, &pool_fd, &slot);
	if (!ret)
		ret = soft_iommu_adopt_hwpt(ns->c.io, ns->c.dev, pool_fd, &ns->old_hwpt,
					    err, sizeof(err));
	if (!ret)
		ret = maplog_read(maplog_fd(log), RAM_SIZE, &ns->e, &ns->n, err,
				  sizeof(err));
	if (ret)
		tap_diag("new side: %s", err);
	return ret;
}

static void replay_case(uint32_t old_flags, unsigned n, const char *corrupt,
			int want_status, unsigned want_attempts, uint32_t want_flags)
{
	struct replay_params p;
	struct replay_result r;
	struct maplog *log = NULL;
	struct newside ns;
	struct ctx old;
	uint64_t dte_before;
	int fd = ram_fd_get();

	REQUIRE_OK(old_side(&old, fd, old_flags, n, &log));
	REQUIRE_OK(new_side(&ns, &old, log));
	REQUIRE_EQ(ns.n, n);
	dte_before = ctx_word(ns.c.io, SOFTHW_CTX_DTE);
	p = (struct replay_params){ .io = ns.c.io, .dev_id = ns.c.dev,
				    .old_hwpt = ns.old_hwpt, .ram_fd = fd,
				    .entries = ns.e, .n = ns.n, .corrupt = corrupt };
	CHECK_EQ(replay_run(&p, &r), want_status);
	CHECK_EQ(r.status, want_status);
	CHECK_EQ(r.attempts, want_attempts);
	CHECK(r.validated);
	if (want_status == 0) {
		CHECK_EQ(r.flags, want_flags);
		CHECK(r.hwpt != ns.old_hwpt);
		/* the device now walks the replayed tables, in another pool */
		CHECK(ctx_word(ns.c.io, SOFTHW_CTX_DTE) != dte_before);
		CHECK_EQ(soft_iommu_dev_hwpt(ns.c.io, ns.c.dev), r.hwpt);
		CHECK_EQ(ctx_word(ns.c.io, SOFTHW_CTX_GEN), 2);
	} else {
		/* never switched to tables that differ */
		CHECK_EQ(ctx_word(ns.c.io, SOFTHW_CTX_DTE), dte_before);
		CHECK_EQ(soft_iommu_dev_hwpt(ns.c.io, ns.c.dev), ns.old_hwpt);
		CHECK_EQ(r.hwpt, ns.old_hwpt);
		CHECK(r.mismatched);
		CHECK(r.reason[0] != '\0');
	}
	tap_diag("%u mappings: replay %llu us, validate %llu us, %u attempt(s): %s",
		 n, (unsigned long long)r.replay_ns / 1000,
		 (unsigned long long)r.validate_ns / 1000, r.attempts,
		 r.reason[0] ? r.reason : "swapped");
	free(ns.e);
	iommu_close(ns.c.io);
	iommu_close(old.io);
	maplog_destroy(log);
	close(fd);
}

static void test_replay_same_layout(void)
{
	replay_case(0, 1000, NULL, 0, 1, 0);
}

static void test_replay_empty(void)
{
	replay_case(0, 0, NULL, 0, 1, 0);
}

static void test_replay_layout_retry(void)
{
	/* an "old build" that only used 4 KiB leaves: max and 2m differ in
	 * page size, 4k matches */
	replay_case(IOMMU_HWPT_MAX_4K, 200, NULL, 0, 3, IOMMU_HWPT_MAX_4K);
}

static void test_replay_wrong_target(void)
{
	replay_case(0, 100, "target", -EBADMSG, 1, 0);
}

static void test_replay_wrong_prot(void)
{
	/* entry 0 is read-write; the replay maps it read-only */
	replay_case(0, 50, "prot", -EBADMSG, 1, 0);
}

static void test_replay_100k(void)
{
	replay_case(0, 100000, NULL, 0, 1, 0);
}

static void test_adopt_hostile(void)
{
	struct ctx old, c2;
	struct maplog *log = NULL;
	char err[200] = "";
	uint32_t h;
	int fd = ram_fd_get(), pool_fd, other;
	uint32_t slot;

	REQUIRE_OK(old_side(&old, fd, 0, 4, &log));
	REQUIRE_OK(ctx_boot(&c2, fd, soft_iommu_ctx_fd(old.io), 0));
	/* a pool that is not a sealed memfd */
	other = memfd_create("junk", MFD_CLOEXEC);
	REQUIRE(other >= 0);
	CHECK_EQ(ftruncate(other, 8192), 0);
	CHECK(soft_iommu_adopt_hwpt(c2.io, c2.dev, other, &h, err, sizeof(err)) < 0);
	close(other);
	/* a DTE that points nowhere useful */
	REQUIRE_OK(soft_iommu_hwpt_pool(old.io, old.hwpt, &pool_fd, &slot));
	{
		uint64_t bogus = IOPT_PA(SOFTHW_SLOT_GUEST_RAM, 0) | IOPT_ROOT_V;
		uint64_t keep = ctx_word(old.io, SOFTHW_CTX_DTE);

		CHECK_EQ(pwrite(soft_iommu_ctx_fd(old.io), &bogus, 8, 0), 8);
		CHECK_ERR(-EBADMSG, soft_iommu_adopt_hwpt(c2.io, c2.dev, pool_fd, &h,
							  err, sizeof(err)));
		CHECK(strstr(err, "table pool") != NULL);
		CHECK_EQ(pwrite(soft_iommu_ctx_fd(old.io), &keep, 8, 0), 8);
	}
	CHECK_ERR(0, soft_iommu_adopt_hwpt(c2.io, c2.dev, pool_fd, &h, err, sizeof(err)));
	/* adopted tables are read-only: nothing maps into them */
	CHECK_ERR(-EROFS, soft_iommu_hwpt_reserve(c2.io, h, 1));
	iommu_close(c2.io);
	iommu_close(old.io);
	maplog_destroy(log);
	close(fd);
}

/* A retiring VMM closes its context: the live tables must not change. */
static void test_close_leaves_tables(void)
{
	struct maplog *log = NULL;
	struct ctx old;
	uint8_t *before, *after;
	int fd = ram_fd_get(), pool_fd;
	uint32_t slot;
	off_t size;

	REQUIRE_OK(old_side(&old, fd, 0, 300, &log));
	REQUIRE_OK(soft_iommu_hwpt_pool(old.io, old.hwpt, &pool_fd, &slot));
	pool_fd = dup(pool_fd);
	REQUIRE(pool_fd >= 0);
	size = lseek(pool_fd, 0, SEEK_END);
	before = malloc((size_t)size);
	after = malloc((size_t)size);
	REQUIRE(before && after);
	CHECK_EQ(pread(pool_fd, before, (size_t)size, 0), size);
	iommu_close(old.io);
	CHECK_EQ(pread(pool_fd, after, (size_t)size, 0), size);
	CHECK(memcmp(before, after, (size_t)size) == 0);
	free(before);
	free(after);
	close(pool_fd);
	maplog_destroy(log);
	close(fd);
}

static void test_check_args(void)
{
	CHECK_ERR(0, iommu_check_map(0, 4096, 0, IOMMU_PROT_READ));
	CHECK_ERR(-EINVAL, iommu_check_map(0, 0, 0, IOMMU_PROT_READ));
	CHECK_ERR(-EINVAL, iommu_check_map(1, 4096, 0, IOMMU_PROT_READ));
	CHECK_ERR(-EINVAL, iommu_check_map(0, 4096, 0, 4));
	CHECK_ERR(-EINVAL, iommu_check_map(0, 4096, UINT64_MAX - 4095, RW));
	CHECK_ERR(-EINVAL, iommu_check_unmap(0, 0));
	CHECK_ERR(-EINVAL, iommu_check_unmap(0x800, 4096));
	CHECK_ERR(0, iommu_check_unmap(0, 4096));
}

static const struct tap_case cases[] = {
	{ "iova_tree: rules", test_tree_rules },
	{ "iova_tree: random vs model", test_tree_random },
	{ "maplog: add/remove rules, full", test_maplog_rules },
	{ "maplog: read back sorted, RAM bound", test_maplog_read },
	{ "iova_tree: built from sorted ranges", test_tree_build },
	{ "maplog: bulk load equals adds", test_maplog_load },
	{ "maplog: hostile logs refused", test_maplog_hostile },
	{ "soft: iommufd rules, compare, replace, destroy", test_soft_rules },
	{ "soft: adopt refuses bad pools and DTEs", test_adopt_hostile },
	{ "soft: closing a context leaves its live tables alone",
	  test_close_leaves_tables },
	{ "common argument checks", test_check_args },
	{ "replay: same layout, swapped", test_replay_same_layout },
	{ "replay: no mappings", test_replay_empty },
	{ "replay: layout differs, retried down to 4k", test_replay_layout_retry },
	{ "replay: wrong target kept the old tables", test_replay_wrong_target },
	{ "replay: wrong permission kept the old tables", test_replay_wrong_prot },
	{ "replay: 100k mappings", test_replay_100k },
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
