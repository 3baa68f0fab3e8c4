// SPDX-License-Identifier: MIT
/*
 * iopt_bench.c: what the soft IOMMU's page tables cost. The headline is the
 * replay target: rebuild 16 GiB mapped at 4 KiB (4M leaves) from the same
 * (iova, pa, len) list and validate it against the live tree, <= 150 ms.
 * Every run builds into fresh memfd pools, so table allocation and page
 * faults are inside the times. Prints p50/p99 over the runs (with fewer
 * than 100 runs p99 is the slowest run).
 *
 *   iopt_bench [-r runs] [-g GiB] [-c cpu]
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../vmm/iommu/iopt.h"

#define POOL_MAX	(4 * GiB)
#define CHUNK		(4 * MiB)

static uint64_t gib = 16;
static int runs = 20;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int ret)
{
	fprintf(stderr, "iopt_bench: %s: %s\n", what, strerror(-ret));
	exit(1);
}

struct tree {
	struct iopt_pool *pool;
	struct iopt *t;
	struct iopt_tree tr;
};

static void tree_new(struct tree *x, uint32_t slot, uint32_t flags)
{
	int ret = iopt_pool_create(slot, POOL_MAX, &x->pool);

	if (ret)
		die("pool", ret);
	ret = iopt_create(&iopt_pool_ops, x->pool, flags, &x->t);
	if (ret)
		die("create", ret);
	x->tr = iopt_as_tree(x->t);
}

static void tree_free(struct tree *x)
{
	iopt_destroy(x->t);
	iopt_pool_destroy(x->pool);
}

/* guest RAM at IOVA 1 GiB, in phys slot 1 at offset 1 GiB: PA = IOVA */
#define IOVA0		GiB
#define PA0		IOPT_PA(1, GiB)

static void map_pages(struct tree *x)
{
	uint64_t off, len = gib * GiB;
	int ret;

	for (off = 0; off < len; off += 4096) {
		ret = iopt_map(x->t, IOVA0 + off, PA0 + off, 4096, IOPT_PROT_RW);
		if (ret)
			die("map page", ret);
	}
}

static void map_chunks(struct tree *x)
{
	uint64_t off, len = gib * GiB;
	int ret;

	for (off = 0; off < len; off += CHUNK) {
		ret = iopt_map(x->t, IOVA0 + off, PA0 + off, CHUNK,
			       IOPT_PROT_RW);
		if (ret)
			die("map chunk", ret);
	}
}

static void compare_or_die(const struct iopt_tree *a, const struct iopt_tree *b)
{
	struct iopt_mismatch m;
	int ret = iopt_compare(a, b, 0, IOPT_IOVA_END, &m);

	if (ret)
		die(ret > 0 ? "compare: trees differ" : "compare", ret > 0 ?
		    -EILSEQ : ret);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *v, int n, uint64_t per,
		   const char *unit)
{
	int i99 = (99 * n + 99) / 100 - 1;

	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	printf("%-44s p50 %8.2f ms  p99 %8.2f ms", name, v[(n - 1) / 2] / 1e6,
	       v[i99] / 1e6);
	if (per)
		printf("  %6.2f ns/%s", (double)v[(n - 1) / 2] / (double)per,
		       unit);
	printf("\n");
}

static void print_tables(const char *name, const struct iopt *t)
{
	struct iopt_stats s;

	iopt_get_stats(t, &s);
	printf("%-44s %" PRIu64 " tables = %.1f MiB; leaves 4K %" PRIu64
	       " 2M %" PRIu64 " 1G %" PRIu64 "\n", name, s.tables,
	       (double)s.tables * 4096 / MiB, s.leaves[0], s.leaves[1],
	       s.leaves[2]);
}

/* The replay: live tree A (4 MiB maps, MAX_4K), rebuilt tree B. */
static void bench_replay(void)
{
	uint64_t *t_pages = calloc((size_t)runs, 8), *t_chunks = calloc((size_t)runs, 8);
	uint64_t *t_cmp = calloc((size_t)runs, 8), *t_view = calloc((size_t)runs, 8);
	uint64_t *t_rv = calloc((size_t)runs, 8), *t_rc = calloc((size_t)runs, 8);
	uint64_t *t_destroy = calloc((size_t)runs, 8), pages = gib * GiB / 4096;
	uint64_t *t_res = calloc((size_t)runs, 8);
	struct iopt_stats st;
	struct iopt_pool *view;
	struct tree a, b;
	struct iopt_tree vt;
	uint64_t t0, t1, t2;
	int r, ret;

	for (r = 0; r < runs; r++) {
		tree_new(&a, 2, IOPT_F_MAX_4K);
		tree_new(&b, 3, IOPT_F_MAX_4K);
		t0 = now_ns();
		map_chunks(&a);
		t1 = now_ns();
		t_chunks[r] = t1 - t0;
		/* the new VMM's view of the old pool, as handed over */
		ret = iopt_pool_open(iopt_pool_fd(a.pool), 2, POOL_MAX, &view);
		if (ret)
			die("pool open", ret);
		vt = (struct iopt_tree){ &iopt_pool_ops, view, iopt_root(a.t) };
		t0 = now_ns();
		map_pages(&b);
		t1 = now_ns();
		compare_or_die(&vt, &b.tr);
		t2 = now_ns();
		t_pages[r] = t1 - t0;
		t_view[r] = t2 - t1;
		t_rv[r] = t2 - t0;
		t0 = now_ns();
		compare_or_die(&a.tr, &b.tr);
		t_cmp[r] = now_ns() - t0;
		if (r == 0) {
			print_tables("live tree (4 MiB maps, MAX_4K)", a.t);
			print_tables("replayed tree (4K maps)", b.t);
		}
		/* the same into a pool reserved beforehand (warm phase) */
		tree_free(&b);
		tree_new(&b, 3, IOPT_F_MAX_4K);
		iopt_get_stats(a.t, &st);
		ret = iopt_pool_reserve(b.pool, st.tables);
		if (ret)
			die("reserve", ret);
		t0 = now_ns();
		map_pages(&b);
		compare_or_die(&vt, &b.tr);
		t_res[r] = now_ns() - t0;
		iopt_pool_destroy(view);
		/* replay by chunks + compare, into a fresh tree */
		tree_free(&b);
		tree_new(&b, 3, IOPT_F_MAX_4K);
		t0 = now_ns();
		map_chunks(&b);
		compare_or_die(&a.tr, &b.tr);
		t_rc[r] = now_ns() - t0;
		t0 = now_ns();
		iopt_destroy(a.t);
		t_destroy[r] = now_ns() - t0;
		iopt_pool_destroy(a.pool);
		tree_free(&b);
	}
	report("map: one call per 4K page", t_pages, runs, pages, "page");
	report("map: 4 MiB calls, MAX_4K", t_chunks, runs, pages, "page");
	report("compare 4K trees (same process)", t_cmp, runs, pages, "page");
	report("compare 4K trees (old pool via view)", t_view, runs, pages,
	       "page");
	report("REPLAY 4K calls + validate (target 150)", t_rv, runs, pages,
	       "page");
	report("REPLAY 4K calls + validate, pool reserved", t_res, runs, pages,
	       "page");
	report("replay 4 MiB calls + validate", t_rc, runs, pages, "page");
	report("destroy a 4K tree", t_destroy, runs, pages, "page");
	free(t_pages);
	free(t_chunks);
	free(t_cmp);
	free(t_view);
	free(t_rv);
	free(t_rc);
	free(t_destroy);
	free(t_res);
}

/* One call, largest leaves: 1 GiB, or 2 MiB when the PA is 2M-shifted. */
static void bench_huge(void)
{
	uint64_t *t_1g = calloc((size_t)runs, 8), *t_2m = calloc((size_t)runs, 8);
	uint64_t t0;
	struct tree a;
	int r, ret;

	for (r = 0; r < runs; r++) {
		tree_new(&a, 2, 0);
		t0 = now_ns();
		ret = iopt_map(a.t, IOVA0, PA0, gib * GiB, IOPT_PROT_RW);
		t_1g[r] = now_ns() - t0;
		if (ret)
			die("map 1G", ret);
		if (r == 0)
			print_tables("huge: 1G leaves", a.t);
		tree_free(&a);
		tree_new(&a, 2, 0);
		t0 = now_ns();
		ret = iopt_map(a.t, IOVA0, PA0 + 2 * MiB, gib * GiB,
			       IOPT_PROT_RW);
		t_2m[r] = now_ns() - t0;
		if (ret)
			die("map 2M", ret);
		if (r == 0)
			print_tables("huge: 2M leaves", a.t);
		tree_free(&a);
	}
	report("map all in one call, 1G leaves", t_1g, runs, 0, NULL);
	report("map all in one call, 2M leaves", t_2m, runs, 0, NULL);
	free(t_1g);
	free(t_2m);
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ns per translate, in batches of 4096 random IOVAs. */
static void bench_translate_one(const char *name, const struct iopt_tree *tr,
				uint64_t span)
{
	enum { BATCH = 4096, NB = 400 };
	static uint64_t iova[BATCH];
	uint64_t t[NB], sink = 0, t0;
	struct iopt_xlate x;
	int b, i;

	for (b = 0; b < NB; b++) {
		for (i = 0; i < BATCH; i++)
			iova[i] = IOVA0 + (xorshift() % span & ~7ULL);
		t0 = now_ns();
		for (i = 0; i < BATCH; i++) {
			if (iopt_translate(tr, iova[i], IOPT_PROT_WRITE, &x))
				die("translate", -EFAULT);
			sink += x.pa;
		}
		t[b] = now_ns() - t0;
	}
	qsort(t, NB, sizeof(*t), cmp_u64);
	printf("%-44s p50 %6.1f ns  p99 %6.1f ns  (per call, %d batches)\n",
	       name, (double)t[NB / 2] / BATCH, (double)t[NB * 99 / 100] / BATCH,
	       NB);
	if (sink == 42)
		printf("\n");
}

static void bench_translate(void)
{
	struct iopt_pool *view;
	struct iopt_tree vt;
	struct tree a, h;
	int ret;

	tree_new(&a, 2, IOPT_F_MAX_4K);
	map_chunks(&a);
	tree_new(&h, 4, 0);
	ret = iopt_map(h.t, IOVA0, PA0 + 2 * MiB, gib * GiB, IOPT_PROT_RW);
	if (ret)
		die("map", ret);
	ret = iopt_pool_open(iopt_pool_fd(a.pool), 2, POOL_MAX, &view);
	if (ret)
		die("pool open", ret);
	vt = (struct iopt_tree){ &iopt_pool_ops, view, iopt_root(a.t) };
	bench_translate_one("translate 4K tree, random in all", &a.tr,
			    gib * GiB);
	bench_translate_one("translate 4K tree via view, random in all", &vt,
			    gib * GiB);
	bench_translate_one("translate 4K tree, random in 2M", &a.tr, 2 * MiB);
	bench_translate_one("translate 2M tree, random in all", &h.tr,
			    gib * GiB);
	iopt_pool_destroy(view);
	tree_free(&a);
	tree_free(&h);
}

int main(int argc, char **argv)
{
	cpu_set_t set;
	int opt, cpu = 1;

	while ((opt = getopt(argc, argv, "r:g:c:")) != -1) {
		switch (opt) {
		case 'r':
			runs = atoi(optarg);
			break;
		case 'g':
			gib = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-r runs] [-g GiB] [-c cpu]\n",
				argv[0]);
			return 2;
		}
	}
	if (runs < 1 || !gib || gib > 256) {
		fprintf(stderr, "iopt_bench: bad -r or -g\n");
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (cpu >= 0 && sched_setaffinity(0, sizeof(set), &set) == 0)
		printf("# pinned to CPU %d; ", cpu);
	else
		printf("# not pinned; ");
	printf("%d runs, %" PRIu64 " GiB, fresh memfd pools per run\n", runs,
	       gib);
	bench_replay();
	bench_huge();
	bench_translate();
	return 0;
}
