// SPDX-License-Identifier: MIT
/*
 * replay_bench.c: what the IOMMU rebuild after a live update costs, end to
 * end through the soft backend and replay_run() (as the new VMM's rebuild
 * thread does it, without a device): adopt the live tables from their
 * pool, read the map log, replay it into a new IOAS and HWPT, validate
 * page by page against the live tables, swap, free the old ones.
 *
 * Two sweeps: the number of mappings (4 KiB areas, largest-leaf layout)
 * and the RAM mapped (1 GiB areas with 4 KiB leaves, IOMMU_HWPT_MAX_4K:
 * the "16 GiB mapped at 4 KiB in <= 150 ms" target). Each run builds the
 * old side afresh (not timed). Prints p50/p99 over the runs (with fewer
 * than 100 runs p99 is the slowest).
 *
 *   replay_bench [-r runs] [-c cpu] [-q]      (-q: a short sweep)
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../vmm/iommu/iommu.h"
#include "../vmm/iommu/maplog.h"
#include "../vmm/iommu/soft.h"
#include "../vmm/iommu/softhw.h"
#include "../vmm/liveupdate/replay.h"
#include "../vmm/util.h"

#define RAM_MAX		(64 * GiB)	/* sparse */

static int runs = 20;

static void die(const char *what, int ret)
{
	fprintf(stderr, "replay_bench: %s: %s\n", what, strerror(-ret));
	exit(1);
}

struct side {
	struct iommu *io;
	uint32_t dev, ioas, hwpt;
};

static void boot(struct side *s, int ram_fd, int ctx_fd, uint32_t flags)
{
	char err[200];
	int ret;

	memset(s, 0, sizeof(*s));
	ret = soft_iommu_create(-1, ctx_fd, &s->io, err, sizeof(err));
	if (!ret)
		ret = soft_iommu_add_file(s->io, ram_fd, SOFTHW_SLOT_GUEST_RAM, RAM_MAX, false);
	if (!ret)
		ret = soft_iommu_bind(s->io, &s->dev);
	if (ret)
		die("context", ret);
	if (ctx_fd >= 0)
		return;
	ret = iommu_ioas_alloc(s->io, &s->ioas);
	if (!ret)
		ret = iommu_hwpt_alloc(s->io, s->dev, s->ioas, flags, &s->hwpt);
	if (!ret)
		ret = iommu_attach(s->io, s->dev, s->hwpt);
	if (ret)
		die("boot objects", ret);
}

struct point {
	const char *name;
	uint64_t n;		/* areas */
	uint64_t len;		/* bytes each */
	uint64_t stride;	/* IOVA step */
	uint32_t flags;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, int n, int p)
{
	int i = (n * p + 99) / 100 - 1;

	return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* One run: build the old side, then time the new side's rebuild. */
static void run_once(const struct point *pt, int ram_fd, uint64_t *total,
		     uint64_t *replay, uint64_t *validate)
{
	struct maplog_entry e, *ents;
	struct replay_params p;
	struct replay_result r;
	struct side old, nw;
	struct maplog *log;
	uint64_t i, n, t0;
	char err[200];
	int pool_fd, ret;
	uint32_t slot, old_hwpt;

	boot(&old, ram_fd, -1, pt->flags);
	ret = maplog_create(MAX(pt->n, 16), &log);
	for (i = 0; !ret && i < pt->n; i++) {
		e = (struct maplog_entry){ 0x100000000ULL + i * pt->stride, pt->len,
					   (i * pt->len) % RAM_MAX, MAPLOG_FILE_RAM,
					   IOMMU_PROT_READ | IOMMU_PROT_WRITE };
		ret = iommu_ioas_map_file(old.io, old.ioas, ram_fd, e.offset, e.length,
					  e.iova, e.prot);
		if (!ret)
			ret = maplog_add(log, &e);
	}
	if (ret)
		die("old side", ret);

	t0 = util_now_ns();
	boot(&nw, ram_fd, soft_iommu_ctx_fd(old.io), 0);
	ret = soft_iommu_hwpt_pool(old.io, old.hwpt, &pool_fd, &slot);
	if (!ret)
		ret = soft_iommu_adopt_hwpt(nw.io, nw.dev, pool_fd, &old_hwpt, err,
					    sizeof(err));
	if (!ret)
		ret = maplog_read(maplog_fd(log), RAM_MAX, &ents, &n, err, sizeof(err));
	if (ret)
		die(err, ret);
	p = (struct replay_params){ .io = nw.io, .dev_id = nw.dev,
				    .old_hwpt = old_hwpt, .ram_fd = ram_fd,
				    .entries = ents, .n = n, .flags = pt->flags };
	ret = replay_run(&p, &r);
	if (ret || !r.validated || r.attempts != 1)
		die(r.reason[0] ? r.reason : "replay", ret ? ret : -EPROTO);
	*total = util_now_ns() - t0;
	*replay = r.replay_ns;
	*validate = r.validate_ns;
	free(ents);
	iommu_close(nw.io);
	iommu_close(old.io);
	maplog_destroy(log);
}

static void bench(const struct point *pt, int ram_fd)
{
	uint64_t *tot = calloc(runs, 8), *rep = calloc(runs, 8), *val = calloc(runs, 8);
	int i;

	if (!tot || !rep || !val)
		die("calloc", -ENOMEM);
	for (i = 0; i < runs; i++)
		run_once(pt, ram_fd, &tot[i], &rep[i], &val[i]);
	qsort(tot, runs, 8, cmp_u64);
	qsort(rep, runs, 8, cmp_u64);
	qsort(val, runs, 8, cmp_u64);
	printf("%-34s total p50 %8.2f ms p99 %8.2f | replay p50 %8.2f | validate p50 %7.2f p99 %7.2f ms\n",
	       pt->name, pct(tot, runs, 50) / 1e6, pct(tot, runs, 99) / 1e6,
	       pct(rep, runs, 50) / 1e6, pct(val, runs, 50) / 1e6,
	       pct(val, runs, 99) / 1e6);
	fflush(stdout);
	free(tot);
	free(rep);
	free(val);
}

int main(int argc, char **argv)
{
	static const struct point full[] = {
		{ "mappings 1 (4K areas)", 1, 4096, 8192, 0 },
		{ "mappings 1000 (4K areas)", 1000, 4096, 8192, 0 },
		{ "mappings 10000 (4K areas)", 10000, 4096, 8192, 0 },
		{ "mappings 100000 (4K areas)", 100000, 4096, 8192, 0 },
		{ "RAM 1 GiB at 4K (1G areas)", 1, GiB, GiB, IOMMU_HWPT_MAX_4K },
		{ "RAM 4 GiB at 4K (1G areas)", 4, GiB, GiB, IOMMU_HWPT_MAX_4K },
		{ "RAM 16 GiB at 4K (1G areas)", 16, GiB, GiB, IOMMU_HWPT_MAX_4K },
		{ "RAM 16 GiB, largest leaves", 16, GiB, GiB, 0 },
	};
	size_t i, npts = ARRAY_SIZE(full);
	int c, cpu = -1, fd;
	cpu_set_t set;

	while ((c = getopt(argc, argv, "r:c:q")) != -1) {
		switch (c) {
		case 'r':
			runs = atoi(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'q':
			npts = 4;
			break;
		default:
			fprintf(stderr, "usage: replay_bench [-r runs] [-c cpu] [-q]\n");
			return 2;
		}
	}
	if (runs < 1)
		runs = 1;
	if (cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			perror("sched_setaffinity");
	}
	fd = memfd_create("bench-ram", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)RAM_MAX) < 0)
		die("ram memfd", -errno);
	if (cpu >= 0)
		printf("replay_bench: %d runs per point, pinned to CPU %d\n", runs, cpu);
	else
		printf("replay_bench: %d runs per point, not pinned\n", runs);
	for (i = 0; i < npts; i++)
		bench(&full[i], fd);
	close(fd);
	return 0;
}
