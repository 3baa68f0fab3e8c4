// SPDX-License-Identifier: MIT
/*
 * test_mem.c: vmm/mem.c without KVM: size checks, the guest-physical
 * layout and memslot cut for several sizes, gpa -> hva translation at
 * every boundary, slot lookup, adopting a RAM fd, the hugetlb failure
 * message, and teardown of zeroed or half-built state.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../vmm/mem.h"
#include "tap.h"

#define ERRLEN	256

static uint64_t meminfo_kb(const char *key)
{
	char line[256];
	size_t n = strlen(key);
	uint64_t v = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtoull(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static void init_size_limits(void)
{
	static const struct {
		uint64_t size;
		bool huge;
	} bad[] = {
		{ 0, false },
		{ 4096, false },
		{ MEM_MIN_SIZE - 4096, false },
		{ MEM_MAX_SIZE + 4096, false },
		{ MEM_MAX_SIZE + 2 * MiB, true },
		{ UINT64_MAX, false },
		{ MEM_MIN_SIZE + 1, false },
		{ 64 * MiB + 512, false },
		{ 64 * MiB + 4096, true },	/* hugetlb needs 2M multiples */
		{ 3 * MiB, true },
	};
	char err[ERRLEN];
	struct mem m;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		CHECK_ERR(-EINVAL, mem_init(&m, bad[i].size, bad[i].huge, err, sizeof(err)));
		CHECK(err[0] != '\0');
		CHECK_EQ(m.fd, -1);
		CHECK(!m.host);
		mem_fini(&m);
	}
	CHECK(strstr(err, "2M") != NULL);	/* the last one names the unit */
	/* the smallest and an odd (4K multiple) size work */
	REQUIRE_OK(mem_init(&m, MEM_MIN_SIZE, false, err, sizeof(err)));
	CHECK_EQ(m.size, MEM_MIN_SIZE);
	mem_fini(&m);
	REQUIRE_OK(mem_init(&m, 3 * MiB + 4096, false, err, sizeof(err)));
	CHECK_EQ(mem_low_size(&m), 3 * MiB + 4096);
	mem_fini(&m);
}

static void init_more_than_host(void)
{
	uint64_t host = (meminfo_kb("MemTotal") + meminfo_kb("SwapTotal")) * KiB;
	uint64_t size = ALIGN_UP(host, GiB) + GiB;
	char err[ERRLEN] = "";
	struct mem m;

	if (!host || size > MEM_MAX_SIZE) {
		tap_skip("host RAM+swap (%" PRIu64 " bytes) not below 1T", host);
		return;
	}
	CHECK_ERR(-E2BIG, mem_init(&m, size, false, err, sizeof(err)));
	CHECK(strstr(err, "RAM") != NULL);
	CHECK_EQ(m.fd, -1);
	mem_fini(&m);
	CHECK_ERR(-E2BIG, mem_init(&m, MEM_MAX_SIZE, false, err, sizeof(err)));
}

/* Structural checks that hold for any size. */
static void check_layout(const struct mem *m)
{
	uint64_t total = 0;
	unsigned i;

	REQUIRE(m->nslots > 0);
	CHECK_EQ(m->slots[0].gpa, 0);
	CHECK_EQ(m->slots[0].size, MIN(m->size, MEM_BOOT_SLOT));
	for (i = 0; i < m->nslots; i++) {
		const struct mem_slot *s = &m->slots[i];

		total += s->size;
		if (!s->size || s->size > MEM_SLOT_MAX)
			tap_fail(__FILE__, __LINE__, "slot %u: size 0x%" PRIx64, i, s->size);
		if (i > 0 && ALIGN_DOWN(s->gpa, MEM_SLOT_MAX) !=
		    ALIGN_DOWN(s->gpa + s->size - 1, MEM_SLOT_MAX))
			tap_fail(__FILE__, __LINE__, "slot %u crosses a 1G boundary", i);
		if (i > 0 && s->gpa < m->slots[i - 1].gpa + m->slots[i - 1].size)
			tap_fail(__FILE__, __LINE__, "slot %u overlaps or is out of order", i);
		if (mem_gpa_to_hva(m, s->gpa, s->size) != m->host + s->offset)
			tap_fail(__FILE__, __LINE__, "slot %u offset 0x%" PRIx64 " disagrees with the regions",
				 i, s->offset);
		if (atomic_load(&s->registered))
			tap_fail(__FILE__, __LINE__, "slot %u registered without KVM", i);
		if (i + 1 < m->nslots && s->gpa + s->size != m->slots[i + 1].gpa &&
		    s->gpa + s->size != MEM_LOW_MAX)
			tap_fail(__FILE__, __LINE__, "gap after slot %u", i);
	}
	CHECK_EQ(total, m->size);
	CHECK_EQ(mem_low_size(m) + mem_high_size(m), m->size);
}

static void layout_256m(void)
{
	char err[ERRLEN];
	struct mem m;

	REQUIRE_OK(mem_init(&m, 256 * MiB, false, err, sizeof(err)));
	CHECK(m.fd >= 0);
	CHECK(m.host != NULL);
	CHECK_EQ(m.nregions, 1);
	CHECK_EQ(m.regions[0].gpa, 0);
	CHECK_EQ(m.regions[0].size, 256 * MiB);
	CHECK_EQ(m.regions[0].offset, 0);
	CHECK_EQ(mem_low_size(&m), 256 * MiB);
	CHECK_EQ(mem_high_size(&m), 0);
	REQUIRE_EQ(m.nslots, 2);
	CHECK_EQ(m.slots[0].size, 4 * MiB);
	CHECK_EQ(m.slots[1].gpa, 4 * MiB);
	CHECK_EQ(m.slots[1].size, 252 * MiB);
	CHECK_EQ(m.slots[1].offset, 4 * MiB);
	check_layout(&m);
	mem_fini(&m);
}

static void layout_2m(void)
{
	char err[ERRLEN];
	struct mem m;

	REQUIRE_OK(mem_init(&m, 2 * MiB, false, err, sizeof(err)));
	REQUIRE_EQ(m.nslots, 1);
	CHECK_EQ(m.slots[0].size, 2 * MiB);
	check_layout(&m);
	mem_fini(&m);
}

static void layout_3g(void)
{
	char err[ERRLEN];
	struct mem m;

	REQUIRE_OK(mem_init(&m, 3 * GiB, false, err, sizeof(err)));
	CHECK_EQ(m.nregions, 1);
	CHECK_EQ(mem_high_size(&m), 0);
	REQUIRE_EQ(m.nslots, 4);
	CHECK_EQ(m.slots[1].gpa, 4 * MiB);
	CHECK_EQ(m.slots[1].size, GiB - 4 * MiB);
	CHECK_EQ(m.slots[2].gpa, GiB);
	CHECK_EQ(m.slots[2].size, GiB);
	CHECK_EQ(m.slots[3].gpa, 2 * GiB);
	CHECK_EQ(m.slots[3].size, GiB);
	check_layout(&m);
	mem_fini(&m);
}

static void layout_4g(void)
{
	char err[ERRLEN];
	struct mem m;

	REQUIRE_OK(mem_init(&m, 4 * GiB, false, err, sizeof(err)));
	REQUIRE_EQ(m.nregions, 2);
	CHECK_EQ(m.regions[0].size, MEM_LOW_MAX);
	CHECK_EQ(m.regions[1].gpa, MEM_HIGH_BASE);
	CHECK_EQ(m.regions[1].size, GiB);
	CHECK_EQ(m.regions[1].offset, MEM_LOW_MAX);
	CHECK_EQ(mem_low_size(&m), 3 * GiB);
	CHECK_EQ(mem_high_size(&m), GiB);
	REQUIRE_EQ(m.nslots, 5);
	CHECK_EQ(m.slots[4].gpa, 4 * GiB);
	CHECK_EQ(m.slots[4].size, GiB);
	CHECK_EQ(m.slots[4].offset, 3 * GiB);
	check_layout(&m);
	mem_fini(&m);
}

static void layout_16g(void)
{
	char err[ERRLEN];
	struct mem m;
	unsigned i;

	REQUIRE_OK(mem_init(&m, 16 * GiB, false, err, sizeof(err)));
	REQUIRE_EQ(m.nregions, 2);
	CHECK_EQ(m.regions[1].size, 13 * GiB);
	REQUIRE_EQ(m.nslots, 4 + 13);
	for (i = 4; i < m.nslots; i++) {
		CHECK_EQ(m.slots[i].gpa, 4 * GiB + (i - 4) * GiB);
		CHECK_EQ(m.slots[i].size, GiB);
		CHECK_EQ(m.slots[i].offset, 3 * GiB + (i - 4) * GiB);
	}
	check_layout(&m);
	mem_fini(&m);
}

/* Sizes that do not end on a slot boundary. */
static void layout_odd_sizes(void)
{
	static const uint64_t sizes[] = { 5 * MiB, GiB + 4096, 3 * GiB + 4096,
					  5 * GiB + 6 * MiB, 7 * GiB - 4096 };
	char err[ERRLEN];
	struct mem m;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		REQUIRE_OK(mem_init(&m, sizes[i], false, err, sizeof(err)));
		check_layout(&m);
		CHECK_EQ(mem_low_size(&m), MIN(sizes[i], MEM_LOW_MAX));
		mem_fini(&m);
	}
	REQUIRE_OK(mem_init(&m, 3 * GiB + 4096, false, err, sizeof(err)));
	REQUIRE_EQ(m.nslots, 5);
	CHECK_EQ(m.slots[4].gpa, MEM_HIGH_BASE);
	CHECK_EQ(m.slots[4].size, 4096);
	mem_fini(&m);
}

static void gpa_to_hva_low(void)
{
	const uint64_t sz = 256 * MiB;
	char err[ERRLEN];
	struct mem m;

	REQUIRE_OK(mem_init(&m, sz, false, err, sizeof(err)));
	CHECK(mem_gpa_to_hva(&m, 0, 1) == m.host);
	CHECK(mem_gpa_to_hva(&m, 0, sz) == m.host);
	CHECK(mem_gpa_to_hva(&m, sz - 1, 1) == m.host + sz - 1);
	CHECK(mem_gpa_to_hva(&m, sz - 8, 8) == m.host + sz - 8);
	CHECK(!mem_gpa_to_hva(&m, sz - 1, 2));
	CHECK(!mem_gpa_to_hva(&m, sz, 1));
	CHECK(!mem_gpa_to_hva(&m, sz, 0));
	CHECK(!mem_gpa_to_hva(&m, 0, sz + 1));
	CHECK(!mem_gpa_to_hva(&m, 1, UINT64_MAX));
	CHECK(!mem_gpa_to_hva(&m, 4096, UINT64_MAX - 100));
	CHECK(!mem_gpa_to_hva(&m, UINT64_MAX, 2));
	CHECK(!mem_gpa_to_hva(&m, UINT64_MAX, 1));
	CHECK(!mem_gpa_to_hva(&m, MEM_HIGH_BASE, 1));
	CHECK(mem_is_ram(&m, 0x1000, 0x1000));
	CHECK(!mem_is_ram(&m, sz - 0x800, 0x1000));
	mem_fini(&m);
}

static void gpa_to_hva_across_the_hole(void)
{
	char err[ERRLEN];
	struct mem m;
	uint8_t *p, b = 0;

	REQUIRE_OK(mem_init(&m, 4 * GiB, false, err, sizeof(err)));
	CHECK(mem_gpa_to_hva(&m, MEM_LOW_MAX - 1, 1) == m.host + MEM_LOW_MAX - 1);
	CHECK(!mem_gpa_to_hva(&m, MEM_LOW_MAX, 1));			/* the hole */
	CHECK(!mem_gpa_to_hva(&m, MEM_LOW_MAX - 4, 8));		/* into it */
	CHECK(!mem_gpa_to_hva(&m, MEM_HIGH_BASE - 1, 2));		/* out of it */
	CHECK(!mem_gpa_to_hva(&m, MEM_LOW_MAX - 1, MEM_HIGH_BASE - MEM_LOW_MAX + 2));
	CHECK(mem_gpa_to_hva(&m, MEM_HIGH_BASE, 1) == m.host + MEM_LOW_MAX);
	CHECK(mem_gpa_to_hva(&m, MEM_HIGH_BASE, GiB) == m.host + MEM_LOW_MAX);
	CHECK(mem_gpa_to_hva(&m, 5 * GiB - 1, 1) == m.host + 4 * GiB - 1);
	CHECK(!mem_gpa_to_hva(&m, 5 * GiB - 1, 2));
	CHECK(!mem_gpa_to_hva(&m, 5 * GiB, 1));
	CHECK(!mem_gpa_to_hva(&m, MEM_HIGH_BASE + 8, UINT64_MAX - 4));
	CHECK(!mem_is_ram(&m, 3 * GiB + 4096, 4096));

	/* high RAM lives in the memfd right after low RAM */
	p = mem_gpa_to_hva(&m, MEM_HIGH_BASE + 123, 1);
	REQUIRE(p);
	*p = 0xa5;
	CHECK_EQ(pread(m.fd, &b, 1, (off_t)(MEM_LOW_MAX + 123)), 1);
	CHECK_EQ(b, 0xa5);
	p = mem_gpa_to_hva(&m, 0x1234, 1);
	REQUIRE(p);
	CHECK_EQ(*p, 0);		/* fresh RAM is zero */
	*p = 0x5a;
	CHECK_EQ(pread(m.fd, &b, 1, 0x1234), 1);
	CHECK_EQ(b, 0x5a);
	mem_fini(&m);
}

static void slot_find_boundaries(void)
{
	char err[ERRLEN];
	struct mem m;
	unsigned i;

	REQUIRE_OK(mem_init(&m, 256 * MiB, false, err, sizeof(err)));
	CHECK_EQ(mem_slot_find(&m, 0), 0);
	CHECK_EQ(mem_slot_find(&m, 4 * MiB - 1), 0);
	CHECK_EQ(mem_slot_find(&m, 4 * MiB), 1);
	CHECK_EQ(mem_slot_find(&m, 256 * MiB - 1), 1);
	CHECK_ERR(-ENOENT, mem_slot_find(&m, 256 * MiB));
	CHECK_ERR(-ENOENT, mem_slot_find(&m, UINT64_MAX));
	mem_fini(&m);

	REQUIRE_OK(mem_init(&m, 16 * GiB, false, err, sizeof(err)));
	for (i = 0; i < m.nslots; i++) {
		const struct mem_slot *s = &m.slots[i];

		CHECK_EQ(mem_slot_find(&m, s->gpa), i);
		CHECK_EQ(mem_slot_find(&m, s->gpa + s->size - 1), i);
		CHECK_EQ(mem_slot_find(&m, s->gpa + s->size / 2), i);
	}
	CHECK_ERR(-ENOENT, mem_slot_find(&m, MEM_LOW_MAX));
	CHECK_ERR(-ENOENT, mem_slot_find(&m, MEM_HIGH_BASE - 1));
	CHECK_ERR(-ENOENT, mem_slot_find(&m, 17 * GiB));
	CHECK_EQ(mem_slot_find(&m, 17 * GiB - 1), m.nslots - 1);
	mem_fini(&m);

	/* a zeroed mem has no slots */
	memset(&m, 0, sizeof(m));
	m.fd = -1;
	CHECK_ERR(-ENOENT, mem_slot_find(&m, 0));
	CHECK(!mem_gpa_to_hva(&m, 0, 1));
	CHECK_EQ(mem_low_size(&m), 0);
	CHECK_EQ(mem_high_size(&m), 0);
}

/* Without KVM, registering fails cleanly and marks nothing registered. */
static void slot_register_without_kvm(void)
{
	char err[ERRLEN];
	struct mem m;
	int fds[2];

	REQUIRE_OK(mem_init(&m, 8 * MiB, false, err, sizeof(err)));
	CHECK_ERR(-EBADF, mem_slot_register(&m, -1, 0));
	REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
	CHECK_ERR(-ENOTTY, mem_register_all(&m, fds[0]));
	CHECK(!atomic_load(&m.slots[0].registered));
	CHECK(!atomic_load(&m.slots[1].registered));
	close(fds[0]);
	close(fds[1]);
	mem_fini(&m);
}

static int new_memfd(uint64_t size, unsigned flags)
{
	int fd = memfd_create("test-ram", MFD_CLOEXEC | flags);

	if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void init_from_fd_adopts(void)
{
	char err[ERRLEN];
	struct mem m;
	uint8_t *p, b = 0x42;
	int fd = new_memfd(64 * MiB, 0);

	REQUIRE(fd >= 0);
	REQUIRE(pwrite(fd, &b, 1, 5 * MiB) == 1);
	REQUIRE_OK(mem_init_from_fd(&m, fd, 64 * MiB, false, err, sizeof(err)));
	CHECK_EQ(m.fd, fd);
	CHECK_EQ(m.size, 64 * MiB);
	CHECK_EQ(m.nslots, 2);
	p = mem_gpa_to_hva(&m, 5 * MiB, 1);
	REQUIRE(p);
	CHECK_EQ(*p, 0x42);		/* the old contents are there */
	check_layout(&m);
	mem_fini(&m);
	/* adopted: mem_fini closed it */
	CHECK(fcntl(fd, F_GETFD) == -1);
}

static void init_from_fd_rejects(void)
{
	char err[ERRLEN], path[] = "/tmp/test_mem.XXXXXX";
	struct mem m;
	int fd = new_memfd(64 * MiB, 0), fds[2], dfd, tfd;

	REQUIRE(fd >= 0);
	err[0] = '\0';
	CHECK_ERR(-EBADF, mem_init_from_fd(&m, fd, 32 * MiB, false, err, sizeof(err)));
	CHECK(err[0] != '\0');
	CHECK_EQ(m.fd, -1);
	CHECK_ERR(-EBADF, mem_init_from_fd(&m, fd, 128 * MiB, false, err, sizeof(err)));
	CHECK_ERR(-EINVAL, mem_init_from_fd(&m, fd, 0, false, err, sizeof(err)));
	CHECK_ERR(-EINVAL, mem_init_from_fd(&m, fd, 64 * MiB + 1, false, err, sizeof(err)));
	CHECK(fcntl(fd, F_GETFD) != -1);	/* still the caller's */
	mem_fini(&m);
	CHECK(fcntl(fd, F_GETFD) != -1);

	REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
	CHECK_ERR(-EBADF, mem_init_from_fd(&m, fds[0], 64 * MiB, false, err, sizeof(err)));
	close(fds[0]);
	close(fds[1]);
	dfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	REQUIRE(dfd >= 0);
	CHECK_ERR(-EBADF, mem_init_from_fd(&m, dfd, 64 * MiB, false, err, sizeof(err)));
	close(dfd);
	CHECK_ERR(-EBADF, mem_init_from_fd(&m, -1, 64 * MiB, false, err, sizeof(err)));
	CHECK_ERR(-EBADF, mem_init_from_fd(&m, 1000, 64 * MiB, false, err, sizeof(err)));

	/* a read-only file of the right size cannot be mapped shared+write */
	tfd = mkstemp(path);
	REQUIRE(tfd >= 0);
	REQUIRE(ftruncate(tfd, 4 * MiB) == 0);
	close(tfd);
	tfd = open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	REQUIRE(tfd >= 0);
	CHECK(mem_init_from_fd(&m, tfd, 4 * MiB, false, err, sizeof(err)) < 0);
	CHECK(fcntl(tfd, F_GETFD) != -1);
	CHECK(!m.host);
	close(tfd);
	close(fd);
}

/* The adopted fd must be the kind of RAM the caller says it is: a normal
 * memfd handed over as hugetlb (or the reverse) is refused. */
static void init_from_fd_checks_hugetlb_type(void)
{
	char err[ERRLEN];
	struct mem m;
	int fd = new_memfd(64 * MiB, 0);

	REQUIRE(fd >= 0);
	CHECK_ERR(-EBADF, mem_init_from_fd(&m, fd, 64 * MiB, true, err, sizeof(err)));
	if (m.fd == fd)
		mem_fini(&m);	/* it adopted the fd after all */
	else
		close(fd);
	fd = new_memfd(64 * MiB, MFD_HUGETLB);
	if (fd < 0) {
		tap_diag("no hugetlb memfd here (%s): only one direction checked",
			 strerror(errno));
		return;
	}
	CHECK_ERR(-EBADF, mem_init_from_fd(&m, fd, 64 * MiB, false, err, sizeof(err)));
	if (m.fd == fd)
		mem_fini(&m);
	else
		close(fd);
}

static void hugetlb_without_pages(void)
{
	char err[ERRLEN] = "";
	struct mem m;
	int ret;

	if (meminfo_kb("HugePages_Free") >= 32) {
		tap_skip("this host has %" PRIu64 " free huge pages",
			 meminfo_kb("HugePages_Free"));
		return;
	}
	ret = mem_init(&m, 64 * MiB, true, err, sizeof(err));
	CHECK(ret < 0);
	if (ret == 0)
		mem_fini(&m);
	CHECK_ERR(-ENOMEM, ret);
	CHECK(strstr(err, "nr_hugepages") != NULL);
	CHECK_EQ(m.fd, -1);
	CHECK(!m.host);
	CHECK(!m.slots);
	tap_diag("%s", err);
	mem_fini(&m);
}

/* mem_fini accepts a zeroed mem (mem.h): it must not close fd 0. */
static void fini_zeroed_keeps_fd0(void)
{
	struct mem m;
	int saved = dup(0), open_after;

	REQUIRE(saved >= 0);
	memset(&m, 0, sizeof(m));
	mem_fini(&m);
	open_after = fcntl(0, F_GETFD) != -1;
	if (!open_after)
		dup2(saved, 0);		/* repair stdin for the next cases */
	close(saved);
	CHECK(open_after);
}

static void fini_twice(void)
{
	char err[ERRLEN];
	struct mem m;

	REQUIRE_OK(mem_init(&m, 4 * MiB, false, err, sizeof(err)));
	mem_fini(&m);
	CHECK_EQ(m.fd, -1);
	CHECK(!m.host);
	CHECK(!m.slots);
	CHECK_EQ(m.nslots, 0);
	mem_fini(&m);
	CHECK(!mem_gpa_to_hva(&m, 0, 1));
}

/* Whoever else maps guest RAM relies on its size never changing. */
static void ram_is_sealed(void)
{
	char err[128];
	struct mem m;
	int seals;

	REQUIRE_OK(mem_init(&m, 8 * MiB, false, err, sizeof(err)));
	seals = fcntl(m.fd, F_GET_SEALS);
	CHECK(seals >= 0);
	CHECK_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
	CHECK_ERR(-EPERM, ftruncate(m.fd, 4 * MiB) < 0 ? -errno : 0);
	mem_fini(&m);
}

static const struct tap_case cases[] = {
	TAP_CASE(init_size_limits),
	TAP_CASE(ram_is_sealed),
	TAP_CASE(init_more_than_host),
	TAP_CASE(layout_256m),
	TAP_CASE(layout_2m),
	TAP_CASE(layout_3g),
	TAP_CASE(layout_4g),
	TAP_CASE(layout_16g),
	TAP_CASE(layout_odd_sizes),
	TAP_CASE(gpa_to_hva_low),
	TAP_CASE(gpa_to_hva_across_the_hole),
	TAP_CASE(slot_find_boundaries),
	TAP_CASE(slot_register_without_kvm),
	TAP_CASE(init_from_fd_adopts),
	TAP_CASE(init_from_fd_rejects),
	TAP_CASE(init_from_fd_checks_hugetlb_type),
	TAP_CASE(hugetlb_without_pages),
	TAP_CASE(fini_zeroed_keeps_fd0),
	TAP_CASE(fini_twice),
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
