// SPDX-License-Identifier: MIT
/*
 * test_iopt.c: the I/O page-table library: page-size choice, overlap and
 * unmap rules, the walker's faults on corrupt tables, the comparer, root
 * words, the memfd pool and a randomized differential test.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../vmm/iommu/iopt.h"
#include "tap.h"

#define SLOT		7
#define POOL_MAX	(256 * MiB)
#define RW		IOPT_PROT_RW
#define R		IOPT_PROT_READ
#define W		IOPT_PROT_WRITE

struct fx {
	struct iopt_pool *pool;
	struct iopt *t;
	struct iopt_tree tr;
};

static int fx_init_max(struct fx *f, uint32_t flags, uint64_t pool_max)
{
	int ret;

	memset(f, 0, sizeof(*f));
	ret = iopt_pool_create(SLOT, pool_max, &f->pool);
	if (ret)
		return ret;
	ret = iopt_create(&iopt_pool_ops, f->pool, flags, &f->t);
	if (ret) {
		iopt_pool_destroy(f->pool);
		return ret;
	}
	f->tr = iopt_as_tree(f->t);
	return 0;
}

static int fx_init(struct fx *f, uint32_t flags)
{
	return fx_init_max(f, flags, POOL_MAX);
}

static void fx_fini(struct fx *f)
{
	iopt_destroy(f->t);
	iopt_pool_destroy(f->pool);
}

/* ---- helpers ---------------------------------------------------------- */

struct leaves {
	struct iopt_leaf *v;
	size_t n, cap;
};

static void leaves_push(struct leaves *l, const struct iopt_leaf *x)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			tap_bail("out of memory");
	}
	l->v[l->n++] = *x;
}

static int collect(void *arg, const struct iopt_leaf *x)
{
	leaves_push(arg, x);
	return 0;
}

static int dump(struct fx *f, struct leaves *l)
{
	l->n = 0;
	return iopt_for_each_leaf(&f->tr, 0, IOPT_IOVA_END, collect, l);
}

static bool leaf_eq(const struct iopt_leaf *a, const struct iopt_leaf *b)
{
	return a->iova == b->iova && a->pa == b->pa && a->size == b->size &&
	       a->prot == b->prot;
}

static bool leaves_eq(const struct leaves *a, const struct leaves *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (!leaf_eq(&a->v[i], &b->v[i]))
			return false;
	return true;
}

/*
 * The page-size rule stated the kernel's way, independent of the radix
 * walk: at each step the largest allowed size dividing both addresses
 * that is not longer than what remains.
 */
static void ref_split(uint64_t iova, uint64_t pa, uint64_t len,
		      unsigned int prot, uint32_t flags, struct leaves *out)
{
	static const uint64_t sizes[] = { IOPT_SIZE_1G, IOPT_SIZE_2M,
					  IOPT_SIZE_4K };
	size_t k = flags & IOPT_F_MAX_4K ? 2 : flags & IOPT_F_MAX_2M ? 1 : 0;

	while (len) {
		size_t j = k;
		struct iopt_leaf x;

		while (((iova | pa) & (sizes[j] - 1)) || sizes[j] > len)
			j++;
		x = (struct iopt_leaf){ iova, pa, sizes[j], prot };
		leaves_push(out, &x);
		iova += sizes[j];
		pa += sizes[j];
		len -= sizes[j];
	}
}

/* Tables a tree holding exactly these (sorted) leaves must have. */
static uint64_t tables_for(const struct leaves *l)
{
	uint64_t n = 1, last[4] = { ~0ULL, ~0ULL, ~0ULL, ~0ULL };
	size_t i;
	int lv;

	for (i = 0; i < l->n; i++) {
		/* a leaf at level L needs tables at levels L .. 3 */
		int leaf_lv = l->v[i].size == IOPT_SIZE_4K ? 1 :
			      l->v[i].size == IOPT_SIZE_2M ? 2 : 3;

		for (lv = leaf_lv; lv <= 3; lv++) {
			uint64_t key = l->v[i].iova >> (21 + 9 * (lv - 1));

			if (key != last[lv]) {
				last[lv] = key;
				n++;
			}
		}
	}
	return n;
}

static uint64_t pool_in_use(struct fx *f)
{
	struct iopt_pool_stats ps;

	iopt_pool_get_stats(f->pool, &ps);
	return ps.in_use;
}

static struct iopt_stats stats(struct fx *f)
{
	struct iopt_stats s;

	iopt_get_stats(f->t, &s);
	return s;
}

/* Pointer to the entry for iova at level, descending through tables. */
static uint64_t *entry_at(struct fx *f, uint64_t iova, int level)
{
	uint64_t pa = iopt_root(f->t);
	int lv;

	for (lv = IOPT_LEVELS;; lv--) {
		uint64_t *tbl = iopt_pool_ops.ptr(f->pool, pa, IOPT_PAGE_SIZE);
		uint64_t *e = &tbl[(iova >> (12 + 9 * (lv - 1))) & 511];

		if (lv == level)
			return e;
		pa = *e & IOPT_PTE_ADDR;
	}
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void seed_rng(void)
{
	const char *env = getenv("IOPT_SEED");

	rng_state = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
	tap_diag("seed %llu (set IOPT_SEED to repeat)",
		 (unsigned long long)rng_state);
}

/* ---- pool ---------------------------------------------------------------- */

static void test_pool_args(void)
{
	struct iopt_pool *p = NULL;

	CHECK_ERR(-EINVAL, iopt_pool_create(IOPT_SLOT_MAX + 1, MiB, &p));
	CHECK_ERR(-EINVAL, iopt_pool_create(1, 0, &p));
	CHECK_ERR(-EINVAL, iopt_pool_create(1, IOPT_PAGE_SIZE, &p));
	CHECK_ERR(-EINVAL, iopt_pool_create(1, MiB + 8, &p));
	CHECK_ERR(-EINVAL, iopt_pool_create(1, IOPT_SLOT_SIZE + 4096, &p));
	CHECK_ERR(-EINVAL, iopt_pool_create(1, MiB, NULL));
	CHECK(!p);
	/* the largest pool is a whole slot of VA, reserved not committed */
	REQUIRE_OK(iopt_pool_create(IOPT_SLOT_MAX, IOPT_SLOT_SIZE, &p));
	iopt_pool_destroy(p);
	iopt_pool_destroy(NULL);
}

static void test_pool_alloc_free(void)
{
	struct iopt_pool *p;
	struct iopt_pool_stats ps;
	uint64_t pa, pa2, *pg, z[512] = { 0 };
	void *ptr;
	int i;

	REQUIRE_OK(iopt_pool_create(5, 4 * IOPT_PAGE_SIZE, &p));
	CHECK(iopt_pool_fd(p) >= 0);
	CHECK_ERR(-ENOMEM, iopt_pool_reserve(p, 4));
	CHECK_ERR(-ENOMEM, iopt_pool_reserve(p, ~0ULL));
	CHECK_ERR(0, iopt_pool_reserve(p, 3));
	CHECK_ERR(0, iopt_pool_ops.alloc_table(p, &pa, &ptr));
	CHECK_EQ(IOPT_PA_SLOT(pa), 5);
	CHECK_EQ(IOPT_PA_OFF(pa), IOPT_PAGE_SIZE);	/* page 0 is not a table */
	CHECK(ptr == iopt_pool_ops.ptr(p, pa, IOPT_PAGE_SIZE));
	pg = ptr;
	for (i = 0; i < 512; i++)
		pg[i] = 0xdeadbeef;
	iopt_pool_ops.free_table(p, pa);
	CHECK_ERR(0, iopt_pool_ops.alloc_table(p, &pa2, &ptr));
	CHECK_EQ(pa2, pa);
	CHECK(!memcmp(ptr, z, sizeof(z)));	/* recycled pages come zeroed */
	CHECK_ERR(0, iopt_pool_ops.alloc_table(p, &pa, &ptr));
	CHECK_ERR(0, iopt_pool_ops.alloc_table(p, &pa, &ptr));
	CHECK_ERR(-ENOMEM, iopt_pool_ops.alloc_table(p, &pa, &ptr));
	iopt_pool_get_stats(p, &ps);
	CHECK_EQ(ps.in_use, 3);
	CHECK_EQ(ps.size, 4 * IOPT_PAGE_SIZE);
	CHECK_ERR(-ENOMEM, iopt_pool_reserve(p, 1));
	/* what ptr refuses: page 0, other slots, beyond the pool, overflow */
	CHECK(!iopt_pool_ops.ptr(p, IOPT_PA(5, 0), 8));
	CHECK(!iopt_pool_ops.ptr(p, IOPT_PA(4, IOPT_PAGE_SIZE), 8));
	CHECK(!iopt_pool_ops.ptr(p, IOPT_PA(6, IOPT_PAGE_SIZE), 8));
	CHECK(!iopt_pool_ops.ptr(p, IOPT_PA(5, 4 * IOPT_PAGE_SIZE), 8));
	CHECK(!iopt_pool_ops.ptr(p, IOPT_PA(5, IOPT_PAGE_SIZE), SIZE_MAX));
	CHECK(!iopt_pool_ops.ptr(p, ~0ULL, 8));
	CHECK(iopt_pool_word(p, 511) != NULL);
	CHECK(iopt_pool_word(p, 512) == NULL);
	iopt_pool_destroy(p);

	/* reserve commits the room up front; allocations then fit in it */
	REQUIRE_OK(iopt_pool_create(5, 64 * MiB, &p));
	CHECK_ERR(0, iopt_pool_reserve(p, 1000));
	iopt_pool_get_stats(p, &ps);
	CHECK_EQ(ps.size, 1001 * IOPT_PAGE_SIZE);
	for (i = 0; i < 1000; i++)
		CHECK_ERR(0, iopt_pool_ops.alloc_table(p, &pa, &ptr));
	iopt_pool_get_stats(p, &ps);
	CHECK_EQ(ps.size, 1001 * IOPT_PAGE_SIZE);
	CHECK_ERR(0, iopt_pool_reserve(p, 0));
	iopt_pool_destroy(p);
}

static void test_pool_view(void)
{
	struct iopt_pool *v = NULL;
	struct iopt_tree vt;
	struct iopt_xlate x;
	struct iopt *tv;
	struct fx f;
	uint64_t pa, i;
	void *ptr;
	int fd;

	REQUIRE_OK(fx_init(&f, IOPT_F_MAX_4K));
	REQUIRE_OK(iopt_map(f.t, 0, IOPT_PA(1, 0), 4 * IOPT_PAGE_SIZE, RW));
	*iopt_pool_word(f.pool, 3) = 0x1234;
	REQUIRE_OK(iopt_pool_open(iopt_pool_fd(f.pool), SLOT, POOL_MAX, &v));
	CHECK_EQ(*iopt_pool_word(v, 3), 0x1234);
	CHECK_ERR(-EROFS, iopt_pool_ops.alloc_table(v, &pa, &ptr));
	CHECK_ERR(-EROFS, iopt_pool_reserve(v, 1));
	CHECK_ERR(-EROFS, iopt_create(&iopt_pool_ops, v, 0, &tv));
	vt = (struct iopt_tree){ &iopt_pool_ops, v, iopt_root(f.t) };
	CHECK_ERR(0, iopt_translate(&vt, 8192 + 5, R, &x));
	CHECK_EQ(x.pa, IOPT_PA(1, 8192 + 5));
	/* grow the pool well past what the view saw at open: 64 MiB at 4K
	 * needs 32k tables, 128 MiB of them */
	REQUIRE_OK(iopt_map(f.t, GiB, IOPT_PA(1, GiB), 64 * GiB, RW));
	for (i = 0; i < 64; i++) {
		uint64_t iova = GiB + i * GiB + (i * 7919 % 262144) * 4096;

		CHECK_ERR(0, iopt_translate(&vt, iova, W, &x));
		CHECK_EQ(x.pa, IOPT_PA(1, iova));
	}
	CHECK_ERR(0, iopt_compare(&vt, &f.tr, 0, IOPT_IOVA_END,
				  &(struct iopt_mismatch){ 0 }));
	iopt_pool_destroy(v);
	fx_fini(&f);

	/* only a shrink-sealed memfd of a sane size is a pool */
	CHECK_ERR(-EINVAL, iopt_pool_open(-1, SLOT, MiB, &v));
	fd = memfd_create("not-a-pool", MFD_CLOEXEC);
	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, MiB) == 0);
	CHECK_ERR(-EINVAL, iopt_pool_open(fd, SLOT, MiB, &v));
	close(fd);
	fd = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	REQUIRE(fd >= 0);
	REQUIRE(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
	CHECK_ERR(-EINVAL, iopt_pool_open(fd, SLOT, MiB, &v));	/* empty */
	REQUIRE(ftruncate(fd, 2 * MiB) == 0);
	CHECK_ERR(-EINVAL, iopt_pool_open(fd, SLOT, MiB, &v));	/* > max */
	CHECK_ERR(0, iopt_pool_open(fd, SLOT, 2 * MiB, &v));
	iopt_pool_destroy(v);
	close(fd);
}

/* ---- create, args ---------------------------------------------------------- */

static void test_create_args(void)
{
	struct iopt_mem_ops half = iopt_pool_ops;
	struct iopt_pool *p;
	struct iopt *t = NULL;

	REQUIRE_OK(iopt_pool_create(SLOT, MiB, &p));
	CHECK_ERR(-EINVAL, iopt_create(NULL, p, 0, &t));
	half.free_table = NULL;
	CHECK_ERR(-EINVAL, iopt_create(&half, p, 0, &t));
	CHECK_ERR(-EINVAL, iopt_create(&iopt_pool_ops, p, 0, NULL));
	CHECK_ERR(-EINVAL, iopt_create(&iopt_pool_ops, p, 1U << 3, &t));
	CHECK_ERR(-EINVAL, iopt_create(&iopt_pool_ops, p,
				       IOPT_F_MAX_4K | IOPT_F_MAX_2M, &t));
	CHECK(!t);
	CHECK_ERR(0, iopt_create(&iopt_pool_ops, p, IOPT_F_MAX_2M |
				 IOPT_F_DEFER_FREE, &t));
	iopt_destroy(t);
	iopt_destroy(NULL);
	iopt_pool_destroy(p);
}

static void test_map_args(void)
{
	struct fx f;
	uint64_t u;

	REQUIRE_OK(fx_init(&f, 0));
	CHECK_ERR(-EINVAL, iopt_map(f.t, 0, 0, 0, RW));
	CHECK_ERR(-EINVAL, iopt_map(f.t, 1, 0, 4096, RW));
	CHECK_ERR(-EINVAL, iopt_map(f.t, 0, 2048, 4096, RW));
	CHECK_ERR(-EINVAL, iopt_map(f.t, 0, 0, 4097, RW));
	CHECK_ERR(-EINVAL, iopt_map(f.t, 0, 0, 4096, 0));
	CHECK_ERR(-EINVAL, iopt_map(f.t, 0, 0, 4096, 4));
	CHECK_ERR(-EINVAL, iopt_map(f.t, IOPT_IOVA_END, 0, 4096, RW));
	CHECK_ERR(-EINVAL, iopt_map(f.t, IOPT_IOVA_END - 4096, 0, 8192, RW));
	CHECK_ERR(-EINVAL, iopt_map(f.t, 4096, 0, ~0ULL - 4095, RW));
	/* PA range must stay inside one slot, and below 2^52 */
	CHECK_ERR(-EINVAL, iopt_map(f.t, 0, IOPT_PA(1, IOPT_SLOT_SIZE - 4096),
				    8192, RW));
	CHECK_ERR(-EINVAL, iopt_map(f.t, 0, 1ULL << 52, 4096, RW));
	CHECK_ERR(0, iopt_map(f.t, 0, IOPT_PA(1, IOPT_SLOT_SIZE - 4096), 4096,
			      RW));
	CHECK_ERR(-EINVAL, iopt_unmap(f.t, 0, 0, &u));
	CHECK_ERR(-EINVAL, iopt_unmap(f.t, 4, 4096, &u));
	CHECK_ERR(-EINVAL, iopt_unmap(f.t, 0, 4095, &u));
	CHECK_ERR(-EINVAL, iopt_unmap(f.t, IOPT_IOVA_END - 4096, 8192, &u));
	CHECK_ERR(-EINVAL, iopt_for_each_leaf(&f.tr, 0, 0, collect, NULL));
	CHECK_ERR(-EINVAL, iopt_for_each_leaf(&f.tr, 0, 4096, NULL, NULL));
	CHECK_ERR(-EINVAL, iopt_compare(&f.tr, &f.tr, 0, IOPT_IOVA_END + 4096,
					&(struct iopt_mismatch){ 0 }));
	fx_fini(&f);
}

/* ---- page-size choice --------------------------------------------------- */

struct ps_variant {
	const char *name;
	uint64_t iova, pa, len;
	uint32_t flags;
};

#define PS_VARIANTS(X)							\
	X(0, "1G leaf", GiB, IOPT_PA(3, GiB), GiB, 0)			\
	X(1, "pa 2M off 1G: 2M leaves", GiB, IOPT_PA(3, GiB + 2 * MiB), GiB, 0) \
	X(2, "iova 2M off 1G: 2M leaves", 2 * MiB, IOPT_PA(3, GiB), GiB, 0) \
	X(3, "pa 4K off 2M: 4K leaves", 2 * MiB, IOPT_PA(3, 2 * MiB + 4096), \
	  4 * MiB, 0)							\
	X(4, "iova+pa 4K off 2M: 4K,2M,4K", 2 * MiB + 4096,		\
	  IOPT_PA(3, 2 * MiB + 4096), 4 * MiB, 0)			\
	X(5, "2 pages each side of 2M", 2 * MiB - 8192,			\
	  IOPT_PA(3, 4 * MiB - 8192), 2 * MiB + 16384, 0)		\
	X(6, "4K,2M,1G,2M,4K around 1G", GiB - 2 * MiB - 4096,		\
	  IOPT_PA(2, 3 * GiB - 2 * MiB - 4096), GiB + 4 * MiB + 8192, 0) \
	X(7, "one page short of 2M", 2 * MiB, IOPT_PA(3, 2 * MiB),	\
	  2 * MiB - 4096, 0)						\
	X(8, "one page short of 1G", GiB, IOPT_PA(3, GiB), GiB - 4096, 0) \
	X(9, "MAX_2M on 1G aligned", GiB, IOPT_PA(3, GiB), GiB, IOPT_F_MAX_2M) \
	X(10, "MAX_4K on 2M aligned", 2 * MiB, IOPT_PA(3, 2 * MiB),	\
	  4 * MiB, IOPT_F_MAX_4K)					\
	X(11, "MAX_4K on 1G aligned", GiB, IOPT_PA(3, GiB), GiB, IOPT_F_MAX_4K) \
	X(12, "PA 0", 0, 0, 4096, 0)					\
	X(13, "top slot, last 1G", 3 * 512 * GiB,			\
	  IOPT_PA(IOPT_SLOT_MAX, IOPT_SLOT_SIZE - GiB), GiB, 0)		\
	X(14, "top of IOVA space", IOPT_IOVA_END - GiB - 4096,		\
	  IOPT_PA(2, 2 * GiB - 4096), GiB + 4096, 0)			\
	X(15, "across 512G: 2M,1G,1G,2M", 512 * GiB - GiB - 2 * MiB,	\
	  IOPT_PA(2, 2 * GiB - 2 * MiB), 2 * GiB + 4 * MiB, 0)

#define PS_ENTRY(i, n, iova, pa, len, fl) { n, iova, pa, len, fl },
static const struct ps_variant ps_variants[] = { PS_VARIANTS(PS_ENTRY) };

static void check_leaf_xlate(struct fx *f, const struct iopt_leaf *l)
{
	static const uint64_t offs[] = { 0, 4095, 4096, 0x12345, ~0ULL };
	struct iopt_xlate x;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		uint64_t off = offs[i] == ~0ULL ? l->size - 1 : offs[i];

		if (off >= l->size)
			continue;
		CHECK_ERR(0, iopt_translate(&f->tr, l->iova + off, RW, &x));
		CHECK_EQ(x.pa, l->pa + off);
		CHECK_EQ(x.size, l->size);
		CHECK_EQ(x.prot, RW);
	}
}

static void page_size_case(const struct ps_variant *v)
{
	struct leaves got = { 0 }, want = { 0 };
	uint64_t counts[3] = { 0 }, u;
	struct iopt_stats s;
	struct fx f;
	size_t i;

	REQUIRE_OK(fx_init(&f, v->flags));
	ref_split(v->iova, v->pa, v->len, RW, v->flags, &want);
	CHECK_ERR(0, iopt_map(f.t, v->iova, v->pa, v->len, RW));
	CHECK_ERR(0, dump(&f, &got));
	CHECK_EQ(got.n, want.n);
	CHECK(leaves_eq(&got, &want));
	for (i = 0; i < want.n; i++) {
		struct iopt_leaf *l = &want.v[i];

		counts[l->size == IOPT_SIZE_4K ? 0 :
		       l->size == IOPT_SIZE_2M ? 1 : 2]++;
		/* every leaf near the ends, a sample in the middle */
		if (i < 4 || i + 4 >= want.n || i % 4099 == 0)
			check_leaf_xlate(&f, l);
	}
	s = stats(&f);
	CHECK_EQ(s.leaves[0], counts[0]);
	CHECK_EQ(s.leaves[1], counts[1]);
	CHECK_EQ(s.leaves[2], counts[2]);
	CHECK_EQ(s.tables, tables_for(&want));
	CHECK_EQ(pool_in_use(&f), s.tables);
	CHECK_ERR(0, iopt_unmap(f.t, v->iova, v->len, &u));
	CHECK_EQ(u, v->len);
	s = stats(&f);
	CHECK_EQ(s.tables, 1);
	CHECK_EQ(s.leaves[0] + s.leaves[1] + s.leaves[2], 0);
	CHECK_EQ(pool_in_use(&f), 1);
	fx_fini(&f);
	free(got.v);
	free(want.v);
}

#define PS_FN(i, ...)							\
	static void test_page_size_##i(void)				\
	{								\
		page_size_case(&ps_variants[i]);			\
	}
PS_VARIANTS(PS_FN)

/* ---- table boundaries, overlap ------------------------------------------- */

static void test_map_table_boundaries(void)
{
	struct iopt_xlate x;
	struct fx f;
	uint64_t iova, u;

	REQUIRE_OK(fx_init(&f, 0));
	/* 4 pages across a 1 GiB boundary: two level-2 and level-1 tables */
	CHECK_ERR(0, iopt_map(f.t, GiB - 8192, IOPT_PA(1, 0), 16384, RW));
	CHECK_EQ(stats(&f).tables, 1 + 1 + 2 + 2);
	/* across the 512 GiB boundary: a second level-3 table too */
	CHECK_ERR(0, iopt_map(f.t, 512 * GiB - 8192, IOPT_PA(1, MiB), 16384,
			      RW));
	CHECK_EQ(stats(&f).tables, 6 + 1 + 2 + 2);	/* 1 new level-3 */
	for (iova = 512 * GiB - 8192; iova < 512 * GiB + 8192; iova += 4096) {
		CHECK_ERR(0, iopt_translate(&f.tr, iova + 1, R, &x));
		CHECK_EQ(x.pa, IOPT_PA(1, MiB + iova - (512 * GiB - 8192) + 1));
		CHECK_EQ(x.size, 4096);
		CHECK_EQ(x.level, 1);
	}
	CHECK_ERR(0, iopt_unmap(f.t, 512 * GiB - 4096, 4096, &u));
	CHECK_ERR(0, iopt_unmap(f.t, 512 * GiB - 8192, 4096, &u));
	CHECK_EQ(stats(&f).tables, 6 + 3);
	CHECK_ERR(0, iopt_unmap(f.t, 0, IOPT_IOVA_END, &u));
	CHECK_EQ(u, 16384 + 8192);
	CHECK_EQ(stats(&f).tables, 1);
	fx_fini(&f);
}

struct snap {
	struct leaves l;
	struct iopt_stats s;
	uint64_t in_use;
};

static void take_snap(struct fx *f, struct snap *sn)
{
	CHECK_ERR(0, dump(f, &sn->l));
	sn->s = stats(f);
	sn->in_use = pool_in_use(f);
}

static bool same_snap(struct fx *f, const struct snap *a)
{
	struct snap b = { 0 };
	bool same;

	take_snap(f, &b);
	same = leaves_eq(&a->l, &b.l) && !memcmp(&a->s, &b.s, sizeof(a->s)) &&
	       a->in_use == b.in_use;
	free(b.l.v);
	return same;
}

static void test_map_overlap(void)
{
	static const struct { uint64_t iova, len, pa; } bad[] = {
		{ GiB, 4 * MiB, 0 },			/* the same range */
		{ GiB - 4096, 8192, 0 },		/* head */
		{ GiB + 4 * MiB - 4096, 8192, 0 },	/* tail */
		{ GiB + MiB, 4096, 0 },			/* inside a 2M leaf */
		{ GiB - 2 * MiB, 8 * MiB, 0 },		/* covering */
		{ 3 * GiB, GiB, 3 * GiB },		/* 1G over a 4K page */
		{ 4 * GiB + 8192, 4096, 0 },		/* 4K in a 1G leaf */
		{ 3 * GiB + 2 * MiB, 2 * MiB, 0 },	/* 2M over 4K pages */
		{ 3 * GiB, 3 * 4096, 0 },		/* 4K, tail */
		{ 3 * GiB + 2 * MiB, 8192, 0 },		/* hot path, tail */
		{ 3 * GiB + 2 * MiB + 4096, 4096, 0 },	/* hot path, exact */
		{ 2 * GiB, 3 * GiB, 2 * GiB },		/* spans all three */
	};
	struct snap before = { 0 };
	struct fx f;
	size_t i;

	REQUIRE_OK(fx_init(&f, 0));
	REQUIRE_OK(iopt_map(f.t, GiB, IOPT_PA(1, GiB), 4 * MiB, RW));
	REQUIRE_OK(iopt_map(f.t, 3 * GiB + 8192, IOPT_PA(1, 8192), 4096, R));
	REQUIRE_OK(iopt_map(f.t, 3 * GiB + 2 * MiB + 4096, IOPT_PA(1, 0),
			    4096, R));
	REQUIRE_OK(iopt_map(f.t, 4 * GiB, IOPT_PA(1, 4 * GiB), GiB, RW));
	take_snap(&f, &before);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_ERR(-EEXIST, iopt_map(f.t, bad[i].iova,
					    IOPT_PA(2, bad[i].pa), bad[i].len,
					    RW));
		if (!same_snap(&f, &before))
			tap_fail(__FILE__, __LINE__,
				 "overlap %zu changed the table", i);
	}
	/* neighbours of the mappings are free */
	CHECK_ERR(0, iopt_map(f.t, GiB - 4096, IOPT_PA(2, 0), 4096, RW));
	CHECK_ERR(0, iopt_map(f.t, GiB + 4 * MiB, IOPT_PA(2, 0), 4096, RW));
	free(before.l.v);
	fx_fini(&f);
}

/* A failed allocation leaves the tree as it was. */
static void test_map_enomem(void)
{
	struct snap before = { 0 };
	struct fx f;

	/* page 0 + root + 2 tables */
	REQUIRE_OK(fx_init_max(&f, 0, 4 * IOPT_PAGE_SIZE));
	REQUIRE_OK(iopt_map(f.t, 0, IOPT_PA(1, 0), GiB, RW));	/* +1: L3 */
	take_snap(&f, &before);
	/* needs a level-2 and a level-1 table, only one page is left */
	CHECK_ERR(-ENOMEM, iopt_map(f.t, 2 * GiB, IOPT_PA(1, 0), 4096, RW));
	CHECK(same_snap(&f, &before));
	CHECK_EQ(pool_in_use(&f), 2);
	/* a 2M leaf needs only the level-2 table */
	CHECK_ERR(0, iopt_map(f.t, 2 * GiB, IOPT_PA(1, 0), 2 * MiB, RW));
	free(before.l.v);
	fx_fini(&f);
}

/* ---- unmap ------------------------------------------------------------- */

static void test_unmap_rules(void)
{
	static const struct { uint64_t iova, len; } cuts[] = {
		{ 2 * MiB + 4096, 4096 },	/* inside the 2M leaf */
		{ 2 * MiB, MiB },		/* its first half */
		{ MiB, 2 * MiB },		/* its head, from a hole */
		{ 3 * MiB, GiB },		/* its tail and on */
		{ GiB + 2 * MiB, 2 * MiB },	/* inside the 1G leaf */
		{ 0, GiB + 4096 },		/* all but the 1G leaf's tail */
	};
	struct snap before = { 0 };
	struct fx f;
	uint64_t u = 1;
	size_t i;

	REQUIRE_OK(fx_init(&f, 0));
	REQUIRE_OK(iopt_map(f.t, 2 * MiB, IOPT_PA(1, 2 * MiB), 2 * MiB, RW));
	REQUIRE_OK(iopt_map(f.t, 8 * MiB, IOPT_PA(1, 4096), 4 * 4096, RW));
	REQUIRE_OK(iopt_map(f.t, GiB, IOPT_PA(1, GiB), GiB, RW));
	take_snap(&f, &before);
	for (i = 0; i < ARRAY_SIZE(cuts); i++) {
		CHECK_ERR(-EINVAL, iopt_unmap(f.t, cuts[i].iova, cuts[i].len,
					      &u));
		CHECK_EQ(u, 0);
		if (!same_snap(&f, &before))
			tap_fail(__FILE__, __LINE__, "cut %zu changed it", i);
	}
	CHECK_ERR(-ENOENT, iopt_unmap(f.t, 4 * MiB, 4 * MiB, &u));
	CHECK_EQ(u, 0);
	CHECK(same_snap(&f, &before));
	/* one page out of the 4K run, then the exact 2M leaf */
	CHECK_ERR(0, iopt_unmap(f.t, 8 * MiB + 4096, 4096, &u));
	CHECK_EQ(u, 4096);
	CHECK_ERR(0, iopt_unmap(f.t, 2 * MiB, 2 * MiB, NULL));
	/* a range with holes around what is left: 3 pages and 1G */
	CHECK_ERR(0, iopt_unmap(f.t, 0, 4 * GiB, &u));
	CHECK_EQ(u, 3 * 4096 + GiB);
	CHECK_ERR(-ENOENT, iopt_unmap(f.t, 0, IOPT_IOVA_END, &u));
	CHECK_EQ(stats(&f).tables, 1);
	CHECK_EQ(pool_in_use(&f), 1);
	free(before.l.v);
	fx_fini(&f);
}

static void test_unmap_frees_tables(void)
{
	struct iopt_stats s;
	struct fx f;
	uint64_t u;

	REQUIRE_OK(fx_init(&f, 0));
	REQUIRE_OK(iopt_map(f.t, 5 * GiB, IOPT_PA(1, 0), 4096, RW));
	CHECK_EQ(stats(&f).tables, 4);
	CHECK_ERR(0, iopt_unmap(f.t, 5 * GiB, 4096, &u));
	CHECK_EQ(stats(&f).tables, 1);
	CHECK_EQ(pool_in_use(&f), 1);
	/* two level-1 tables under one level-2 table: emptying one frees
	 * only that one */
	REQUIRE_OK(iopt_map(f.t, 2 * MiB - 4096, IOPT_PA(1, 0), 8192, RW));
	CHECK_EQ(stats(&f).tables, 5);
	CHECK_ERR(0, iopt_unmap(f.t, 2 * MiB, 4096, &u));
	s = stats(&f);
	CHECK_EQ(s.tables, 4);
	CHECK_EQ(s.leaves[0], 1);
	CHECK_EQ(pool_in_use(&f), 4);
	/* destroy gives every table back, root included */
	iopt_destroy(f.t);
	f.t = NULL;
	CHECK_EQ(pool_in_use(&f), 0);
	fx_fini(&f);
}

static void test_defer_free(void)
{
	struct iopt_xlate x;
	uint64_t *l1, *l1_0, u;
	struct fx f;

	REQUIRE_OK(fx_init(&f, IOPT_F_DEFER_FREE));
	REQUIRE_OK(iopt_map(f.t, 0, IOPT_PA(1, 0), 16 * 4096, RW));
	REQUIRE_OK(iopt_map(f.t, GiB, IOPT_PA(1, 0), 4096, RW));
	l1 = entry_at(&f, GiB + 4096, 1);
	l1_0 = entry_at(&f, 0, 1);
	CHECK_EQ(stats(&f).tables, 6);
	/* the page we map next lands in the table the unmap detaches: the
	 * map fast path must not write into it */
	CHECK_ERR(0, iopt_unmap(f.t, GiB, 4096, &u));
	CHECK_EQ(stats(&f).tables, 4);
	CHECK_EQ(stats(&f).deferred, 2);
	CHECK_EQ(pool_in_use(&f), 6);
	CHECK_ERR(0, iopt_map(f.t, GiB + 4096, IOPT_PA(1, 0), 4096, RW));
	CHECK_ERR(0, iopt_translate(&f.tr, GiB + 4096, R, &x));
	CHECK_EQ(*l1 & RW, 0);	/* the old table was not touched */
	CHECK_EQ(pool_in_use(&f), 8);
	CHECK_ERR(0, iopt_unmap(f.t, 0, IOPT_IOVA_END, &u));
	CHECK_EQ(u, 17 * 4096);
	CHECK_EQ(stats(&f).tables, 1);
	/* an unlinked subtree keeps its contents until reclaim: a walk
	 * already inside it still completes */
	CHECK_EQ(*entry_at(&f, 0, 4), 0);
	CHECK_EQ(*l1_0, IOPT_PA(1, 0) | RW);
	CHECK_EQ(iopt_reclaim(f.t), 7);
	CHECK_EQ(stats(&f).deferred, 0);
	CHECK_EQ(pool_in_use(&f), 1);
	CHECK_EQ(iopt_reclaim(f.t), 0);
	/* destroy also frees what is still deferred */
	REQUIRE_OK(iopt_map(f.t, 0, IOPT_PA(1, 0), 4096, RW));
	REQUIRE_OK(iopt_unmap(f.t, 0, 4096, &u));
	iopt_destroy(f.t);
	f.t = NULL;
	CHECK_EQ(pool_in_use(&f), 0);
	fx_fini(&f);
}

/* The replay pattern: page after page, one call each. */
static void test_map_page_by_page(void)
{
	struct iopt_stats s;
	struct iopt_xlate x;
	uint64_t i, n = 3 * 512 + 17, u;
	struct fx f;

	REQUIRE_OK(fx_init(&f, 0));
	for (i = 0; i < n; i++)
		CHECK_ERR(0, iopt_map(f.t, 2 * MiB - 4096 + i * 4096,
				      IOPT_PA(1, i * 4096), 4096, RW));
	s = stats(&f);
	CHECK_EQ(s.leaves[0], n);
	CHECK_EQ(s.tables, 3 + 5);
	for (i = 0; i < n; i += 97) {
		CHECK_ERR(0, iopt_translate(&f.tr, 2 * MiB - 4096 + i * 4096,
					    W, &x));
		CHECK_EQ(x.pa, IOPT_PA(1, i * 4096));
	}
	CHECK_ERR(-EEXIST, iopt_map(f.t, 2 * MiB - 4096 + (n - 1) * 4096,
				    IOPT_PA(1, 0), 4096, RW));
	CHECK_ERR(0, iopt_unmap(f.t, 0, GiB, &u));
	CHECK_EQ(u, n * 4096);
	fx_fini(&f);
}

/* ---- translate ------------------------------------------------------------ */

static void test_translate(void)
{
	static const struct {
		uint64_t iova;
		unsigned int access;
		int ret, level;
		uint64_t pa, size;
	} cases[] = {
		{ 4096 + 0x123, R, 0, 1, IOPT_PA(1, 0x5123), 4096 },
		{ 4096, W, -EACCES, 1, 0, 0 },
		{ 4096 + 4095, RW, -EACCES, 1, 0, 0 },
		{ 2 * MiB, R, -EACCES, 2, 0, 0 },
		{ 2 * MiB + 0x1fffff, W, 0, 2, IOPT_PA(1, 4 * MiB + 0x1fffff),
		  2 * MiB },
		{ GiB, RW, 0, 3, IOPT_PA(2, 0), GiB },
		{ GiB + 0x3fffffff, R, 0, 3, IOPT_PA(2, 0x3fffffff), GiB },
		{ 8192, R, -ENOENT, 1, 0, 0 },		/* empty level-1 slot */
		{ 16 * MiB, R, -ENOENT, 2, 0, 0 },
		{ 3 * GiB, W, -ENOENT, 3, 0, 0 },
		{ 512 * GiB, R, -ENOENT, 4, 0, 0 },
		{ IOPT_IOVA_END - 1, R, -ENOENT, 4, 0, 0 },
		{ IOPT_IOVA_END, R, -ERANGE, 4, 0, 0 },
		{ ~0ULL, R, -ERANGE, 4, 0, 0 },
	};
	struct iopt_xlate x;
	struct fx f;
	size_t i;

	REQUIRE_OK(fx_init(&f, 0));
	REQUIRE_OK(iopt_map(f.t, 4096, IOPT_PA(1, 0x5000), 4096, R));
	REQUIRE_OK(iopt_map(f.t, 2 * MiB, IOPT_PA(1, 4 * MiB), 2 * MiB, W));
	REQUIRE_OK(iopt_map(f.t, GiB, IOPT_PA(2, 0), GiB, RW));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(&x, 0, sizeof(x));
		CHECK_ERR(cases[i].ret, iopt_translate(&f.tr, cases[i].iova,
						       cases[i].access, &x));
		CHECK_EQ(x.level, cases[i].level);
		if (cases[i].ret)
			continue;
		CHECK_EQ(x.pa, cases[i].pa);
		CHECK_EQ(x.size, cases[i].size);
		CHECK_EQ(x.prot, x.pte & RW);
	}
	CHECK_ERR(0, iopt_translate(&f.tr, 4096, R, &x));
	CHECK_EQ(x.pte, IOPT_PA(1, 0x5000) | R);
	CHECK_ERR(-EINVAL, iopt_translate(&f.tr, 4096, 0, &x));
	CHECK_ERR(-EINVAL, iopt_translate(&f.tr, 4096, 4, &x));
	fx_fini(&f);
}

/* Entries poked into a real tree: each a fault, never a crash. */
static void test_translate_corrupt(void)
{
	const uint64_t pool_end = IOPT_PA(SLOT, POOL_MAX);
	const struct {
		const char *what;
		uint64_t iova;
		int level;
		uint64_t set, clear;
		int ret, fault_level;
	} cases[] = {
		{ "rsvd bit 2 in a 4K leaf", 0, 1, 1 << 2, 0, -EBADMSG, 1 },
		{ "rsvd bit 11 in a 4K leaf", 0, 1, 1 << 11, 0, -EBADMSG, 1 },
		{ "bit 52 in a 4K leaf", 0, 1, 1ULL << 52, 0, -EBADMSG, 1 },
		{ "bit 63 in a 4K leaf", 0, 1, 1ULL << 63, 0, -EBADMSG, 1 },
		{ "PS in a level-1 entry", 0, 1, IOPT_PTE_PS, 0, -EBADMSG, 1 },
		{ "rsvd bit in a table pointer", 0, 3, 1 << 4, 0, -EBADMSG, 3 },
		{ "PS at level 4", 0, 4, IOPT_PTE_PS, 0, -EBADMSG, 4 },
		{ "table pointer with R only", 0, 2, 0, W, -EBADMSG, 2 },
		{ "table pointer with W only", 0, 4, 0, R, -EBADMSG, 4 },
		{ "2M leaf, PA bit 12", 2 * MiB, 2, 1 << 12, 0, -EBADMSG, 2 },
		{ "1G leaf, PA bit 21", GiB, 3, 1 << 21, 0, -EBADMSG, 3 },
		{ "not present, other bits set", 0, 1, 1 << 5, RW, -ENOENT, 1 },
		{ "table in a slot with no memory", 0, 2, IOPT_PA(9, 0),
		  IOPT_PTE_ADDR, -EFAULT, 1 },
		{ "table beyond the pool", 0, 3, pool_end - 4096,
		  IOPT_PTE_ADDR, -EFAULT, 2 },
		{ "table on pool page 0", 0, 4, IOPT_PA(SLOT, 0),
		  IOPT_PTE_ADDR, -EFAULT, 3 },
	};
	struct iopt_tree bad;
	struct iopt_xlate x;
	struct fx f;
	size_t i;

	REQUIRE_OK(fx_init(&f, 0));
	REQUIRE_OK(iopt_map(f.t, 0, IOPT_PA(1, 0), 4096, RW));
	REQUIRE_OK(iopt_map(f.t, 2 * MiB, IOPT_PA(1, 2 * MiB), 2 * MiB, RW));
	REQUIRE_OK(iopt_map(f.t, GiB, IOPT_PA(1, GiB), GiB, RW));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t *e = entry_at(&f, cases[i].iova, cases[i].level);
		uint64_t save = *e;
		int ret;

		*e = (save & ~cases[i].clear) | cases[i].set;
		ret = iopt_translate(&f.tr, cases[i].iova, R, &x);
		if (ret != cases[i].ret || x.level != cases[i].fault_level)
			tap_fail(__FILE__, __LINE__, "%s: got %d at level %d",
				 cases[i].what, ret, x.level);
		*e = save;
		CHECK_ERR(0, iopt_translate(&f.tr, cases[i].iova, R, &x));
	}
	/*
	 * A level-3 entry pointing back at the root is well formed: the walk
	 * still ends after 4 reads, with the level-3 table read as a leaf
	 * table mapping the root page itself. That is why DMA targets go
	 * through a resolver that knows no table slots (docs).
	 */
	{
		uint64_t *e = entry_at(&f, 0, 3), save = *e;

		*e = iopt_root(f.t) | RW;
		CHECK_ERR(0, iopt_translate(&f.tr, 0, R, &x));
		CHECK_EQ(x.level, 1);
		CHECK_EQ(x.pa, iopt_root(f.t));
		*e = save;
	}
	/* roots that are not tables */
	bad = f.tr;
	bad.root = IOPT_PA(9, 4096);
	CHECK_ERR(-EFAULT, iopt_translate(&bad, 0, R, &x));
	CHECK_EQ(x.level, 4);
	bad.root = iopt_root(f.t) + 8;
	CHECK_ERR(-EFAULT, iopt_translate(&bad, 0, R, &x));
	fx_fini(&f);
}

/* The builder's own tree corrupted under it: refused, never followed. */
static void test_builder_corrupt(void)
{
	struct snap before = { 0 };
	uint64_t *e, save, u;
	struct fx f;

	REQUIRE_OK(fx_init(&f, 0));
	REQUIRE_OK(iopt_map(f.t, 0, IOPT_PA(1, 0), 4096, RW));
	take_snap(&f, &before);
	/* the level-3 entry over [0, 1G); map elsewhere in that GiB, out of
	 * the fast path's cached level-1 table, so the descent reads it */
	e = entry_at(&f, 0, 3);
	save = *e;
	*e |= 1 << 6;
	CHECK_ERR(-EBADMSG, iopt_map(f.t, 4 * MiB, IOPT_PA(1, 0), 4096, RW));
	CHECK_ERR(-EBADMSG, iopt_unmap(f.t, 0, 4096, &u));
	*e = IOPT_PA(9, 0) | RW;
	CHECK_ERR(-EFAULT, iopt_map(f.t, 4 * MiB, IOPT_PA(1, 0), 4096, RW));
	CHECK_ERR(-EFAULT, iopt_unmap(f.t, 0, 4096, &u));
	*e = save;
	CHECK(same_snap(&f, &before));
	free(before.l.v);
	fx_fini(&f);
}

static int count_leaf(void *arg, const struct iopt_leaf *l)
{
	(void)l;
	++*(uint64_t *)arg;
	return 0;
}

/* Tables full of random words: bounded, no crash, sane results. */
static void test_walkers_fuzz(void)
{
	enum { NT = 8 };
	struct iopt_mismatch mm;
	struct iopt_tree tr, empty;
	uint64_t pa[NT], *tb[NT], n, i;
	struct iopt_xlate x;
	struct fx f;
	int j, ret;

	seed_rng();
	REQUIRE_OK(fx_init(&f, 0));
	empty = f.tr;
	for (j = 0; j < NT; j++) {
		void *p;

		REQUIRE_OK(iopt_pool_ops.alloc_table(f.pool, &pa[j], &p));
		tb[j] = p;
	}
	for (j = 0; j < NT * 512; j++) {
		uint64_t r = rnd(), *e = &tb[j / 512][j % 512];

		switch (r % 6) {
		case 0: *e = 0; break;
		case 1: *e = rnd(); break;
		case 2: *e = pa[rnd() % NT] | RW; break;
		case 3: *e = (rnd() & IOPT_PTE_ADDR) | (r >> 8 & 3); break;
		case 4: *e = (rnd() & IOPT_PTE_ADDR) | IOPT_PTE_PS | RW; break;
		default:
			*e = IOPT_PA(SLOT, rnd() % (2 * POOL_MAX) & ~4095ULL) |
			     RW;
			break;
		}
	}
	tr = (struct iopt_tree){ &iopt_pool_ops, f.pool, pa[0] };
	for (i = 0; i < 200000; i++) {
		ret = iopt_translate(&tr, rnd() & (IOPT_IOVA_END - 1),
				     1 + rnd() % 3, &x);
		if (ret == 0) {
			CHECK(x.size == IOPT_SIZE_4K || x.size == IOPT_SIZE_2M ||
			      x.size == IOPT_SIZE_1G);
			CHECK(x.pa >> IOPT_PA_BITS == 0);
		} else if (ret != -ENOENT && ret != -EACCES &&
			   ret != -EBADMSG && ret != -EFAULT) {
			tap_fail(__FILE__, __LINE__, "translate: %d", ret);
			break;
		}
	}
	for (i = 0; i < 64; i++) {
		uint64_t iova = rnd() & (IOPT_IOVA_END - 1) & ~(GiB - 1);

		n = 0;
		ret = iopt_for_each_leaf(&tr, iova, GiB, count_leaf, &n);
		CHECK(ret == 0 || ret == -EBADMSG || ret == -EFAULT);
		ret = iopt_compare(&tr, &empty, iova, GiB, &mm);
		CHECK(ret == 0 || ret == 1 || ret == -EBADMSG || ret == -EFAULT);
		ret = iopt_compare(&tr, &tr, iova, GiB, &mm);
		CHECK(ret == 0 || ret == -EBADMSG || ret == -EFAULT);
	}
	for (j = 0; j < NT; j++)
		iopt_pool_ops.free_table(f.pool, pa[j]);
	fx_fini(&f);
}

/* ---- compare --------------------------------------------------------------- */

static void check_mm(const struct iopt_mismatch *m, uint64_t iova,
		     enum iopt_diff kind, uint64_t a_size, uint64_t b_size,
		     int line)
{
	if (m->iova != iova || m->kind != kind || m->a.size != a_size ||
	    m->b.size != b_size)
		tap_fail(__FILE__, line,
			 "mismatch: iova 0x%llx kind %d sizes 0x%llx/0x%llx, "
			 "want 0x%llx %d 0x%llx/0x%llx",
			 (unsigned long long)m->iova, m->kind,
			 (unsigned long long)m->a.size,
			 (unsigned long long)m->b.size,
			 (unsigned long long)iova, kind,
			 (unsigned long long)a_size,
			 (unsigned long long)b_size);
}

#define CHECK_MM(m, iova, kind, as, bs) check_mm(m, iova, kind, as, bs, __LINE__)

static int cmp(struct fx *a, struct fx *b, uint64_t iova, uint64_t len,
	       struct iopt_mismatch *m)
{
	return iopt_compare(&a->tr, &b->tr, iova, len, m);
}

static void map_mixed(struct fx *f, bool reverse)
{
	static const struct { uint64_t iova, pa, len; } m[] = {
		{ GiB, IOPT_PA(1, GiB), GiB },
		{ 2 * MiB + 4096, IOPT_PA(1, 2 * MiB + 4096), 4 * MiB },
		{ 5 * GiB - 8192, IOPT_PA(2, 0), 2 * MiB + 16384 },
		{ 600 * GiB, IOPT_PA(3, 4096), 64 * 4096 },
	};
	size_t i, k;

	for (k = 0; k < ARRAY_SIZE(m); k++) {
		i = reverse ? ARRAY_SIZE(m) - 1 - k : k;
		CHECK_ERR(0, iopt_map(f->t, m[i].iova, m[i].pa, m[i].len, RW));
	}
}

static int map_leaf(void *arg, const struct iopt_leaf *l)
{
	return iopt_map(arg, l->iova, l->pa, l->size, l->prot);
}

static void test_compare_identical(void)
{
	struct iopt_mismatch m;
	struct fx a, b, c;
	int i;

	REQUIRE_OK(fx_init(&a, 0));
	REQUIRE_OK(fx_init(&b, 0));
	REQUIRE_OK(fx_init(&c, 0));
	map_mixed(&a, false);
	map_mixed(&b, true);
	/* c: a replay leaf by leaf */
	CHECK_ERR(0, iopt_for_each_leaf(&a.tr, 0, IOPT_IOVA_END, map_leaf,
					c.t));
	CHECK_ERR(0, cmp(&a, &a, 0, IOPT_IOVA_END, &m));
	CHECK_ERR(0, cmp(&a, &b, 0, IOPT_IOVA_END, &m));
	CHECK_ERR(0, cmp(&b, &c, 0, IOPT_IOVA_END, &m));
	CHECK_EQ(m.kind, IOPT_DIFF_NONE);
	for (i = 0; i < 8; i++)
		CHECK_ERR(0, cmp(&a, &c, i * 512 * MiB + 4096 * i,
				 GiB + 4096 * (i + 1), &m));
	fx_fini(&a);
	fx_fini(&b);
	fx_fini(&c);
}

static void test_compare_leaf_size(void)
{
	struct iopt_mismatch m;
	struct fx a, b, c;

	REQUIRE_OK(fx_init(&a, 0));
	REQUIRE_OK(fx_init(&b, IOPT_F_MAX_4K));
	REQUIRE_OK(fx_init(&c, IOPT_F_MAX_2M));
	/* the same requests: 4K leaves in both, then 2M vs 4K */
	CHECK_ERR(0, iopt_map(a.t, 16 * MiB, IOPT_PA(1, 16 * MiB + 4096),
			      64 * 1024, RW));
	CHECK_ERR(0, iopt_map(b.t, 16 * MiB, IOPT_PA(1, 16 * MiB + 4096),
			      64 * 1024, RW));
	CHECK_ERR(0, cmp(&a, &b, 0, IOPT_IOVA_END, &m));
	CHECK_ERR(0, iopt_map(a.t, 32 * MiB, IOPT_PA(1, 32 * MiB), 4 * MiB, RW));
	CHECK_ERR(0, iopt_map(b.t, 32 * MiB, IOPT_PA(1, 32 * MiB), 4 * MiB, RW));
	CHECK_ERR(1, cmp(&a, &b, 0, IOPT_IOVA_END, &m));
	CHECK_MM(&m, 32 * MiB, IOPT_DIFF_SIZE, 2 * MiB, 4096);
	CHECK_EQ(m.a.pa, IOPT_PA(1, 32 * MiB));
	CHECK_EQ(m.b.pa, IOPT_PA(1, 32 * MiB));
	/* from inside the leaf: the first page of the range differs */
	CHECK_ERR(1, cmp(&b, &a, 32 * MiB + 12288, MiB, &m));
	CHECK_MM(&m, 32 * MiB + 12288, IOPT_DIFF_SIZE, 4096, 2 * MiB);
	CHECK_EQ(m.a.iova, 32 * MiB + 12288);
	CHECK_EQ(m.a.pa, IOPT_PA(1, 32 * MiB + 12288));
	CHECK_EQ(m.b.iova, 32 * MiB);
	/* 1G against 2M */
	CHECK_ERR(0, iopt_map(a.t, 4 * GiB, IOPT_PA(1, 4 * GiB), GiB, RW));
	CHECK_ERR(0, iopt_map(c.t, 4 * GiB, IOPT_PA(1, 4 * GiB), GiB, RW));
	CHECK_ERR(1, cmp(&a, &c, GiB, 8 * GiB, &m));
	CHECK_MM(&m, 4 * GiB, IOPT_DIFF_SIZE, GiB, 2 * MiB);
	fx_fini(&a);
	fx_fini(&b);
	fx_fini(&c);
}

static void test_compare_target_prot_presence(void)
{
	struct iopt_mismatch m;
	struct fx a, b;

	REQUIRE_OK(fx_init(&a, 0));
	REQUIRE_OK(fx_init(&b, 0));
	CHECK_ERR(0, iopt_map(a.t, GiB, IOPT_PA(1, 0), 64 * 1024, RW));
	/* b: page 10 elsewhere, page 5 read-only, page 7 missing */
	CHECK_ERR(0, iopt_map(b.t, GiB, IOPT_PA(1, 0), 5 * 4096, RW));
	CHECK_ERR(0, iopt_map(b.t, GiB + 5 * 4096, IOPT_PA(1, 5 * 4096), 4096,
			      R));
	CHECK_ERR(0, iopt_map(b.t, GiB + 6 * 4096, IOPT_PA(1, 6 * 4096), 4096,
			      RW));
	CHECK_ERR(0, iopt_map(b.t, GiB + 8 * 4096, IOPT_PA(1, 8 * 4096),
			      2 * 4096, RW));
	CHECK_ERR(0, iopt_map(b.t, GiB + 10 * 4096, IOPT_PA(1, MiB), 4096, RW));
	CHECK_ERR(0, iopt_map(b.t, GiB + 11 * 4096, IOPT_PA(1, 11 * 4096),
			      5 * 4096, RW));
	CHECK_ERR(1, cmp(&a, &b, 0, IOPT_IOVA_END, &m));
	CHECK_MM(&m, GiB + 5 * 4096, IOPT_DIFF_PROT, 4096, 4096);
	CHECK_EQ(m.a.prot, RW);
	CHECK_EQ(m.b.prot, R);
	CHECK_ERR(1, cmp(&a, &b, GiB + 6 * 4096, GiB, &m));
	CHECK_MM(&m, GiB + 7 * 4096, IOPT_DIFF_PRESENT, 4096, 0);
	CHECK_ERR(1, cmp(&b, &a, GiB + 6 * 4096, GiB, &m));
	CHECK_MM(&m, GiB + 7 * 4096, IOPT_DIFF_PRESENT, 0, 4096);
	CHECK_ERR(1, cmp(&a, &b, GiB + 8 * 4096, GiB, &m));
	CHECK_MM(&m, GiB + 10 * 4096, IOPT_DIFF_TARGET, 4096, 4096);
	CHECK_EQ(m.a.pa, IOPT_PA(1, 10 * 4096));
	CHECK_EQ(m.b.pa, IOPT_PA(1, MiB));
	CHECK_ERR(0, cmp(&a, &b, GiB + 11 * 4096, 5 * 4096, &m));

	/* a 2M leaf against a table that maps only its second half, then
	 * its first page as well */
	CHECK_ERR(0, iopt_map(a.t, 64 * MiB, IOPT_PA(1, 64 * MiB), 2 * MiB, RW));
	CHECK_ERR(0, iopt_map(b.t, 65 * MiB, IOPT_PA(1, 65 * MiB), MiB, RW));
	CHECK_ERR(1, cmp(&a, &b, 64 * MiB, 2 * MiB, &m));
	CHECK_MM(&m, 64 * MiB, IOPT_DIFF_PRESENT, 2 * MiB, 0);
	CHECK_ERR(1, cmp(&b, &a, 65 * MiB, MiB, &m));
	CHECK_MM(&m, 65 * MiB, IOPT_DIFF_SIZE, 4096, 2 * MiB);
	CHECK_ERR(0, iopt_map(b.t, 64 * MiB, IOPT_PA(1, 64 * MiB), 4096, RW));
	CHECK_ERR(1, cmp(&a, &b, 64 * MiB, 2 * MiB, &m));
	CHECK_MM(&m, 64 * MiB, IOPT_DIFF_SIZE, 2 * MiB, 4096);
	/* a table whose leaves lie outside the range is like nothing */
	CHECK_ERR(0, iopt_map(b.t, 129 * MiB, IOPT_PA(1, 0), 4096, RW));
	CHECK_ERR(0, cmp(&a, &b, 128 * MiB, MiB, &m));
	CHECK_ERR(1, cmp(&a, &b, 128 * MiB, 2 * MiB, &m));
	CHECK_MM(&m, 129 * MiB, IOPT_DIFF_PRESENT, 0, 4096);
	/* a 1G leaf against nothing, beyond what else differs */
	CHECK_ERR(0, iopt_map(a.t, 6 * GiB, IOPT_PA(2, 0), GiB, R));
	CHECK_ERR(1, cmp(&a, &b, 2 * GiB, 8 * GiB, &m));
	CHECK_MM(&m, 6 * GiB, IOPT_DIFF_PRESENT, GiB, 0);
	CHECK_EQ(m.a.prot, R);
	fx_fini(&a);
	fx_fini(&b);
}

/* The leaf-table scan works in blocks of 64: differences at its edges. */
static void test_compare_block_edges(void)
{
	static const unsigned int idx[] = { 0, 1, 62, 63, 64, 65, 127, 128,
					    300, 511 };
	struct iopt_mismatch m;
	struct fx a, b;
	size_t k;

	REQUIRE_OK(fx_init(&a, IOPT_F_MAX_4K));
	REQUIRE_OK(fx_init(&b, IOPT_F_MAX_4K));
	REQUIRE_OK(iopt_map(a.t, 2 * MiB, IOPT_PA(1, 0), 4 * MiB, RW));
	REQUIRE_OK(iopt_map(b.t, 2 * MiB, IOPT_PA(1, 0), 4 * MiB, RW));
	CHECK_ERR(0, cmp(&a, &b, 0, GiB, &m));
	for (k = 0; k < ARRAY_SIZE(idx); k++) {
		uint64_t iova = 4 * MiB + idx[k] * 4096ULL;

		REQUIRE_OK(iopt_unmap(b.t, iova, 4096, NULL));
		REQUIRE_OK(iopt_map(b.t, iova, IOPT_PA(2, 0), 4096, RW));
		CHECK_ERR(1, cmp(&a, &b, 2 * MiB, 4 * MiB, &m));
		CHECK_MM(&m, iova, IOPT_DIFF_TARGET, 4096, 4096);
		/* and from a start inside the same block */
		CHECK_ERR(1, cmp(&a, &b, iova & ~(64 * 4096ULL - 1), MiB, &m));
		CHECK_EQ(m.iova, iova);
		REQUIRE_OK(iopt_unmap(b.t, iova, 4096, NULL));
		REQUIRE_OK(iopt_map(b.t, iova, IOPT_PA(1, iova - 2 * MiB), 4096,
				    RW));
		CHECK_ERR(0, cmp(&a, &b, 0, GiB, &m));
	}
	/* a reserved bit both trees share, mid-block */
	*entry_at(&a, 4 * MiB + 69 * 4096, 1) |= 1 << 10;
	*entry_at(&b, 4 * MiB + 69 * 4096, 1) |= 1 << 10;
	CHECK_ERR(-EBADMSG, cmp(&a, &b, 0, GiB, &m));
	CHECK_EQ(m.iova, 4 * MiB + 69 * 4096);
	*entry_at(&a, 4 * MiB + 69 * 4096, 1) &= ~(1ULL << 10);
	*entry_at(&b, 4 * MiB + 69 * 4096, 1) &= ~(1ULL << 10);
	fx_fini(&a);
	fx_fini(&b);
}

static void test_compare_corrupt(void)
{
	struct iopt_mismatch m;
	struct iopt_tree bad;
	struct fx a, b;
	uint64_t *e, save;

	REQUIRE_OK(fx_init(&a, 0));
	REQUIRE_OK(fx_init(&b, 0));
	map_mixed(&a, false);
	map_mixed(&b, false);
	/* the same bad bit in both: identical, and still refused */
	e = entry_at(&a, 600 * GiB + 9 * 4096, 1);
	*e |= 1 << 9;
	*entry_at(&b, 600 * GiB + 9 * 4096, 1) |= 1 << 9;
	CHECK_ERR(-EBADMSG, cmp(&a, &b, 0, IOPT_IOVA_END, &m));
	CHECK_EQ(m.iova, 600 * GiB + 9 * 4096);
	*e &= ~(1ULL << 9);
	CHECK_ERR(-EBADMSG, cmp(&a, &b, 0, IOPT_IOVA_END, &m));
	CHECK_ERR(-EBADMSG, cmp(&b, &a, 0, IOPT_IOVA_END, &m));
	*entry_at(&b, 600 * GiB + 9 * 4096, 1) &= ~(1ULL << 9);
	CHECK_ERR(0, cmp(&a, &b, 0, IOPT_IOVA_END, &m));
	/* a table pointer nothing resolves */
	e = entry_at(&b, GiB - 4096, 3);
	save = *e;
	*e = IOPT_PA(9, 0) | RW;
	CHECK_ERR(-EFAULT, cmp(&a, &b, 0, IOPT_IOVA_END, &m));
	CHECK_EQ(m.iova, 0);
	CHECK_ERR(-EFAULT, iopt_for_each_leaf(&b.tr, 0, GiB, collect,
					      &(struct leaves){ 0 }));
	bad = b.tr;
	bad.root = IOPT_PA(9, 0);
	CHECK_ERR(-EFAULT, iopt_compare(&a.tr, &bad, 0, 4096, &m));
	CHECK_ERR(-EFAULT, iopt_for_each_leaf(&bad, 0, 4096, collect, NULL));
	*e = save;
	fx_fini(&a);
	fx_fini(&b);
}

/* ---- iterator ------------------------------------------------------------- */

struct stop_after {
	int left;
	struct leaves seen;
};

static int stop_after(void *arg, const struct iopt_leaf *l)
{
	struct stop_after *s = arg;

	leaves_push(&s->seen, l);
	return --s->left ? 0 : 42;
}

static void test_for_each(void)
{
	struct stop_after s = { .left = 3 };
	struct leaves l = { 0 };
	struct fx f;

	REQUIRE_OK(fx_init(&f, 0));
	map_mixed(&f, false);
	CHECK_EQ(iopt_for_each_leaf(&f.tr, 0, IOPT_IOVA_END, stop_after, &s),
		 42);
	CHECK_EQ(s.seen.n, 3);
	CHECK_EQ(s.seen.v[0].iova, 2 * MiB + 4096);
	/* leaves come whole: this range starts inside a 2M and ends
	 * inside the 1G leaf */
	CHECK_ERR(0, iopt_for_each_leaf(&f.tr, 4 * MiB + 8192, GiB, collect,
					&l));
	REQUIRE_EQ(l.n, 3);
	CHECK_EQ(l.v[0].iova, 4 * MiB);
	CHECK_EQ(l.v[0].size, 2 * MiB);
	CHECK_EQ(l.v[1].iova, 6 * MiB);
	CHECK_EQ(l.v[1].size, 4096);
	CHECK_EQ(l.v[2].iova, GiB);
	CHECK_EQ(l.v[2].pa, IOPT_PA(1, GiB));
	CHECK_EQ(l.v[2].size, GiB);
	/* a malformed entry ends the walk after the leaves before it */
	*entry_at(&f, 5 * GiB, 1) |= 1 << 3;
	l.n = 0;
	CHECK_ERR(-EBADMSG, iopt_for_each_leaf(&f.tr, 0, IOPT_IOVA_END,
					       collect, &l));
	CHECK_EQ(l.n, 511 + 1 + 1 + 1 + 2);
	*entry_at(&f, 5 * GiB, 1) &= ~(1ULL << 3);
	free(l.v);
	free(s.seen.v);
	fx_fini(&f);
}

/* ---- root words ---------------------------------------------------------- */

static void test_root_words(void)
{
	uint64_t w = 0, root = 1;

	CHECK_ERR(-ENOENT, iopt_root_load(&w, &root));
	iopt_root_publish(&w, IOPT_PA(7, 0x5000));
	CHECK_EQ(w, IOPT_PA(7, 0x5000) | IOPT_ROOT_V);
	CHECK_ERR(0, iopt_root_load(&w, &root));
	CHECK_EQ(root, IOPT_PA(7, 0x5000));
	iopt_root_block(&w);
	CHECK_EQ(w, 0);
	CHECK_ERR(-ENOENT, iopt_root_load(&w, &root));
	w = IOPT_PA(7, 0x5000) | IOPT_ROOT_V | (1 << 3);
	CHECK_ERR(-EBADMSG, iopt_root_load(&w, &root));
	w = (1ULL << 52) | IOPT_ROOT_V;
	CHECK_ERR(-EBADMSG, iopt_root_load(&w, &root));
	w = IOPT_PA(7, 0x5000);		/* V clear: blocked, whatever else */
	CHECK_ERR(-ENOENT, iopt_root_load(&w, &root));
}

/* What the simulator does: map the pool, read the root word, walk. */
static int child_walk(int fd, uint64_t expect_pa_base)
{
	struct iopt_pool *v;
	struct iopt_tree tr;
	struct iopt_xlate x;
	uint64_t root, i;
	int bad = 0;

	if (iopt_pool_open(fd, SLOT, POOL_MAX, &v))
		return 2;
	if (iopt_root_load(iopt_pool_word(v, 0), &root)) {
		iopt_pool_destroy(v);
		return 3;
	}
	tr = (struct iopt_tree){ &iopt_pool_ops, v, root };
	for (i = 0; i < 4096; i++)
		if (iopt_translate(&tr, GiB + i * 4096 + 8, W, &x) ||
		    x.pa != expect_pa_base + i * 4096 + 8)
			bad++;
	iopt_pool_destroy(v);
	return bad ? 1 : 0;
}

static void test_root_cross_process(void)
{
	struct iopt *t2;
	struct fx f;
	int round, status;
	pid_t pid;

	REQUIRE_OK(fx_init(&f, 0));
	REQUIRE_OK(iopt_create(&iopt_pool_ops, f.pool, 0, &t2));
	REQUIRE_OK(iopt_map(f.t, GiB, IOPT_PA(1, 4096), 16 * MiB, RW));
	REQUIRE_OK(iopt_map(t2, GiB, IOPT_PA(2, 0), 16 * MiB, RW));
	for (round = 0; round < 2; round++) {
		iopt_root_publish(iopt_pool_word(f.pool, 0),
				  round ? iopt_root(t2) : iopt_root(f.t));
		fflush(stdout);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0)
			_exit(child_walk(iopt_pool_fd(f.pool),
					 round ? IOPT_PA(2, 0) : IOPT_PA(1, 4096)));
		REQUIRE(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status));
		CHECK_EQ(WEXITSTATUS(status), 0);
	}
	iopt_destroy(t2);
	fx_fini(&f);
}

struct swapper {
	uint64_t *word;
	uint64_t roots[2];
	int stop;
	uint64_t swaps;
};

static void *swap_roots(void *arg)
{
	struct swapper *s = arg;
	unsigned int i = 0;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		iopt_root_publish(s->word, s->roots[++i & 1]);
		__atomic_store_n(&s->swaps, i, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Hitless switch: a walker racing root swaps sees one tree or the other,
 * never a failed or mixed translation. */
static void test_root_swap_race(void)
{
	struct swapper s;
	struct iopt_tree tr;
	struct iopt_xlate x;
	struct iopt *t2;
	struct fx f;
	pthread_t th;
	uint64_t i, root, seen[2] = { 0, 0 }, bad = 0;

	REQUIRE_OK(fx_init(&f, 0));
	REQUIRE_OK(iopt_create(&iopt_pool_ops, f.pool, IOPT_F_MAX_4K, &t2));
	REQUIRE_OK(iopt_map(f.t, 0, IOPT_PA(1, 0), 64 * MiB, RW));
	REQUIRE_OK(iopt_map(t2, 0, IOPT_PA(1, 0), 64 * MiB, RW));
	s = (struct swapper){ iopt_pool_word(f.pool, 1),
			      { iopt_root(f.t), iopt_root(t2) }, 0, 0 };
	iopt_root_publish(s.word, s.roots[0]);
	REQUIRE(pthread_create(&th, NULL, swap_roots, &s) == 0);
	while (!__atomic_load_n(&s.swaps, __ATOMIC_RELAXED))
		;	/* the swapper runs: spin, don't sleep */
	/* until both trees were walked (the 2 CPUs may be busy: bounded) */
	for (i = 0; i < 300000 || ((!seen[0] || !seen[1]) && i < 50000000);
	     i++) {
		uint64_t iova = (i * 40503) % (64 * MiB / 4096) * 4096;

		if (iopt_root_load(s.word, &root)) {
			bad++;
			continue;
		}
		tr = (struct iopt_tree){ &iopt_pool_ops, f.pool, root };
		if (iopt_translate(&tr, iova, R, &x) ||
		    x.pa != IOPT_PA(1, iova))
			bad++;
		seen[x.size == 4096]++;
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CHECK_EQ(bad, 0);
	tap_diag("walks through 2M tree %llu, 4K tree %llu, %llu swaps",
		 (unsigned long long)seen[0], (unsigned long long)seen[1],
		 (unsigned long long)__atomic_load_n(&s.swaps,
						     __ATOMIC_RELAXED));
	iopt_destroy(t2);
	fx_fini(&f);
}

/* ---- randomized differential test against a sorted list of leaves ------- */

/* First leaf that ends after x. */
static size_t model_find(const struct leaves *m, uint64_t x)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->v[mid].iova + m->v[mid].size <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int model_map(struct leaves *m, uint64_t iova, uint64_t pa,
		     uint64_t len, unsigned int prot, uint32_t flags)
{
	struct leaves add = { 0 };
	size_t i = model_find(m, iova);

	if (i < m->n && m->v[i].iova < iova + len)
		return -EEXIST;
	ref_split(iova, pa, len, prot, flags, &add);
	while (m->n + add.n > m->cap) {
		m->cap = m->cap ? 2 * m->cap : 1024;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		if (!m->v)
			tap_bail("out of memory");
	}
	memmove(&m->v[i + add.n], &m->v[i], (m->n - i) * sizeof(*m->v));
	memcpy(&m->v[i], add.v, add.n * sizeof(*m->v));
	m->n += add.n;
	free(add.v);
	return 0;
}

static int model_unmap(struct leaves *m, uint64_t iova, uint64_t len,
		       uint64_t *bytes)
{
	size_t i = model_find(m, iova), j;

	*bytes = 0;
	if (!len || iova >= IOPT_IOVA_END || len > IOPT_IOVA_END - iova)
		return -EINVAL;
	for (j = i; j < m->n && m->v[j].iova < iova + len; j++)
		*bytes += m->v[j].size;
	if (j > i && (m->v[i].iova < iova ||
		      m->v[j - 1].iova + m->v[j - 1].size > iova + len)) {
		*bytes = 0;
		return -EINVAL;
	}
	if (j == i)
		return -ENOENT;
	memmove(&m->v[i], &m->v[j], (m->n - j) * sizeof(*m->v));
	m->n -= j - i;
	return 0;
}

static uint64_t rnd_align(uint32_t flags)
{
	uint64_t r = rnd() % 10;

	if (r < 1 && !(flags & (IOPT_F_MAX_4K | IOPT_F_MAX_2M)))
		return GiB;
	return r < 4 ? 2 * MiB : 4096;
}

static void rnd_map_args(uint32_t flags, uint64_t *iova, uint64_t *pa,
			 uint64_t *len)
{
	/* two windows: low memory and around the 512 GiB boundary */
	uint64_t base = rnd() & 1 ? 0 : 512 * GiB - 8 * GiB;
	uint64_t a = rnd_align(flags), r = rnd() % 10;

	*iova = ALIGN_DOWN(base + rnd() % (16 * GiB), a);
	if (rnd() % 4 == 0)
		*iova += (rnd() % 8) * 4096;
	if (r < 5 || (flags & IOPT_F_MAX_4K))
		*len = (1 + rnd() % 64) * 4096;
	else if (r < 9)
		*len = (1 + rnd() % 4) * 2 * MiB + (rnd() % 3) * 4096;
	else
		*len = GiB + (rnd() % 3) * 2 * MiB;
	/* PA: congruent with the IOVA (large leaves possible), 2M-shifted,
	 * or off by some pages (4K leaves, kept short) */
	*pa = IOPT_PA(1 + rnd() % 3, (rnd() % 64) * GiB + (*iova & (GiB - 1)));
	if (rnd() % 4 == 0)
		*pa = IOPT_PA(IOPT_PA_SLOT(*pa),
			      (IOPT_PA_OFF(*pa) + 2 * MiB) % (256 * GiB));
	else if (rnd() % 4 == 0 && *len <= 8 * MiB)
		*pa += (1 + rnd() % 511) * 4096;
}

static void rnd_unmap_args(const struct leaves *m, uint64_t *iova,
			   uint64_t *len)
{
	uint64_t r = rnd() % 10;

	if (m->n && r < 5) {
		/* whole leaves i..j, holes between them included */
		size_t i = rnd() % m->n, k = rnd() % 6;
		size_t j = MIN(m->n - 1, i + k);	/* MIN evaluates twice */

		*iova = m->v[i].iova;
		*len = m->v[j].iova + m->v[j].size - *iova;
	} else if (m->n && r < 8) {
		/* around a leaf, often cutting it */
		size_t i = rnd() % m->n;

		*iova = m->v[i].iova + (rnd() % 3 - 1) * 4096 * (rnd() % 4);
		*len = m->v[i].size + (rnd() % 3) * 4096;
	} else {
		*iova = ALIGN_DOWN(rnd() % (520 * GiB), 4096);
		*len = (1 + rnd() % 1024) * 2 * MiB;
	}
	if (*iova >= IOPT_IOVA_END)
		*iova = 0;
}

static void model_check(struct fx *f, const struct leaves *m)
{
	struct leaves got = { 0 };
	uint64_t cnt[3] = { 0 }, i;
	struct iopt_stats s = stats(f);
	struct iopt_xlate x;

	CHECK_ERR(0, dump(f, &got));
	CHECK(leaves_eq(&got, m));
	for (i = 0; i < m->n; i++)
		cnt[m->v[i].size == IOPT_SIZE_4K ? 0 :
		    m->v[i].size == IOPT_SIZE_2M ? 1 : 2]++;
	CHECK_EQ(s.leaves[0], cnt[0]);
	CHECK_EQ(s.leaves[1], cnt[1]);
	CHECK_EQ(s.leaves[2], cnt[2]);
	CHECK_EQ(s.tables, tables_for(m));
	CHECK_EQ(pool_in_use(f), s.tables + s.deferred);
	for (i = 0; i < 64 && m->n; i++) {
		const struct iopt_leaf *l = &m->v[rnd() % m->n];
		uint64_t off = rnd() % l->size;

		CHECK_ERR(0, iopt_translate(&f->tr, l->iova + off, l->prot, &x));
		CHECK_EQ(x.pa, l->pa + off);
		CHECK_EQ(x.size, l->size);
	}
	free(got.v);
}

/* Replay the model into a fresh tree: identical; minus one leaf: that
 * leaf is the first difference. */
static void model_replay_check(struct fx *f, const struct leaves *m,
			       uint32_t flags)
{
	struct iopt_mismatch mm;
	struct fx r;
	size_t i, k;

	REQUIRE_OK(fx_init(&r, flags));
	for (k = 0; k < m->n; k++) {
		i = (k * 7919) % m->n;	/* any order */
		if ((m->n % 7919) == 0)
			i = k;
		CHECK_ERR(0, iopt_map(r.t, m->v[i].iova, m->v[i].pa,
				      m->v[i].size, m->v[i].prot));
	}
	CHECK_ERR(0, cmp(f, &r, 0, IOPT_IOVA_END, &mm));
	if (m->n) {
		const struct iopt_leaf *l = &m->v[rnd() % m->n];

		CHECK_ERR(0, iopt_unmap(r.t, l->iova, l->size, NULL));
		CHECK_ERR(1, cmp(f, &r, 0, IOPT_IOVA_END, &mm));
		CHECK_MM(&mm, l->iova, IOPT_DIFF_PRESENT, l->size, 0);
	}
	fx_fini(&r);
}

static void random_case(uint32_t flags)
{
	struct leaves m = { 0 };
	uint64_t iova, pa, len, u, mu;
	int op, want, got, fails = tap_case_failures();
	struct fx f;

	seed_rng();
	REQUIRE_OK(fx_init(&f, flags));
	for (op = 0; op < 3000 && tap_case_failures() == fails; op++) {
		if (rnd() % 5 < 3) {
			unsigned int prot = 1 + rnd() % 3;

			rnd_map_args(flags, &iova, &pa, &len);
			want = model_map(&m, iova, pa, len, prot, flags);
			got = iopt_map(f.t, iova, pa, len, prot);
		} else {
			rnd_unmap_args(&m, &iova, &len);
			want = model_unmap(&m, iova, len, &mu);
			got = iopt_unmap(f.t, iova, len, &u);
			CHECK_EQ(u, mu);
		}
		if (got != want)
			tap_fail(__FILE__, __LINE__,
				 "op %d iova 0x%llx len 0x%llx: got %d want %d",
				 op, (unsigned long long)iova,
				 (unsigned long long)len, got, want);
		if ((flags & IOPT_F_DEFER_FREE) && rnd() % 16 == 0)
			CHECK(iopt_reclaim(f.t) >= 0);
		if (op % 97 == 0)
			model_check(&f, &m);
		if (op % 1000 == 999)
			model_replay_check(&f, &m, flags);
	}
	model_check(&f, &m);
	tap_diag("%zu leaves at the end", m.n);
	free(m.v);
	fx_fini(&f);
}

static void test_random_default(void)
{
	random_case(0);
}

static void test_random_max_2m(void)
{
	random_case(IOPT_F_MAX_2M);
}

static void test_random_max_4k(void)
{
	random_case(IOPT_F_MAX_4K);
}

static void test_random_defer_free(void)
{
	random_case(IOPT_F_DEFER_FREE);
}

#define PS_ROW(i, name, ...) { "page size: " name, test_page_size_##i },

static const struct tap_case cases[] = {
	{ "pool: bad arguments", test_pool_args },
	{ "pool: alloc, free, exhaustion, ptr bounds", test_pool_alloc_free },
	{ "pool: read-only view follows growth", test_pool_view },
	{ "create: bad arguments", test_create_args },
	{ "map/unmap: bad arguments", test_map_args },
	PS_VARIANTS(PS_ROW)
	{ "map: across 1G and 512G table boundaries",
	  test_map_table_boundaries },
	{ "map: overlap is -EEXIST, table unchanged", test_map_overlap },
	{ "map: -ENOMEM leaves the table unchanged", test_map_enomem },
	{ "map: page by page (replay fast path)", test_map_page_by_page },
	{ "unmap: no splitting, holes fine, -ENOENT", test_unmap_rules },
	{ "unmap: empty tables freed (counters)", test_unmap_frees_tables },
	{ "unmap: IOPT_F_DEFER_FREE and reclaim", test_defer_free },
	{ "translate: sizes, offsets, faults", test_translate },
	{ "translate: corrupt entries fault", test_translate_corrupt },
	{ "map/unmap: corrupt own tree refused", test_builder_corrupt },
	{ "walkers: random tables, no crash", test_walkers_fuzz },
	{ "compare: identical trees", test_compare_identical },
	{ "compare: leaf size differs", test_compare_leaf_size },
	{ "compare: target, permission, presence",
	  test_compare_target_prot_presence },
	{ "compare: differences at scan block edges",
	  test_compare_block_edges },
	{ "compare: malformed trees refused", test_compare_corrupt },
	{ "for_each: whole leaves, stop, errors", test_for_each },
	{ "root: publish, block, load", test_root_words },
	{ "root: another process walks the pool", test_root_cross_process },
	{ "root: swap races a walker", test_root_swap_race },
	{ "random vs model: default", test_random_default },
	{ "random vs model: MAX_2M", test_random_max_2m },
	{ "random vs model: MAX_4K", test_random_max_4k },
	{ "random vs model: DEFER_FREE", test_random_defer_free },
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
