// SPDX-License-Identifier: MIT
/*
 * mem.c: guest RAM memfd, mapping, layout and memslots (see mem.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "util.h"

#define HUGE_2M	(2ULL * MiB)

/* "HugePages_Free:" etc. from /proc/meminfo in kB units or pages. */
static uint64_t meminfo_value(const char *key)
{
	char line[256];
	uint64_t v = 0;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtoull(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static void layout(struct mem *m)
{
	uint64_t low = MIN(m->size, MEM_LOW_MAX);
	uint64_t gpa, end;
	unsigned r;

	m->nregions = 0;
	m->regions[m->nregions++] = (struct mem_region){ 0, low, 0 };
	if (m->size > low)
		m->regions[m->nregions++] = (struct mem_region){
			MEM_HIGH_BASE, m->size - low, low };

	m->nslots = 0;
	for (r = 0; r < m->nregions; r++) {
		gpa = m->regions[r].gpa;
		end = gpa + m->regions[r].size;
		while (gpa < end) {
			/* first slot small, the rest cut at 1 GiB boundaries */
			uint64_t next = gpa < MEM_BOOT_SLOT ? MEM_BOOT_SLOT :
					ALIGN_DOWN(gpa, MEM_SLOT_MAX) + MEM_SLOT_MAX;
			struct mem_slot *s = &m->slots[m->nslots++];

			next = MIN(next, end);
			s->gpa = gpa;
			s->size = next - gpa;
			s->offset = m->regions[r].offset + (gpa - m->regions[r].gpa);
			atomic_store(&s->registered, false);
			gpa = next;
		}
	}
}

static int check_size(uint64_t size, bool hugetlb, char *err, size_t errlen)
{
	char a[32], b[32];
	uint64_t host;

	if (size < MEM_MIN_SIZE || size > MEM_MAX_SIZE) {
		snprintf(err, errlen, "memory size %s outside [%s, %s]",
			 util_fmt_size(size, a, sizeof(a)),
			 util_fmt_size(MEM_MIN_SIZE, b, sizeof(b)), "1T");
		return -EINVAL;
	}
	if (!IS_ALIGNED(size, hugetlb ? HUGE_2M : 4096)) {
		snprintf(err, errlen, "memory size %s is not a multiple of %s",
			 util_fmt_size(size, a, sizeof(a)), hugetlb ? "2M" : "4K");
		return -EINVAL;
	}
	host = (meminfo_value("MemTotal") + meminfo_value("SwapTotal")) * KiB;
	if (host && size > host) {
		snprintf(err, errlen,
			 "memory size %s exceeds this host's RAM+swap (%s): it could never be backed",
			 util_fmt_size(size, a, sizeof(a)),
			 util_fmt_size(ALIGN_DOWN(host, MiB), b, sizeof(b)));
		return -E2BIG;
	}
	return 0;
}

static int map_ram(struct mem *m, char *err, size_t errlen)
{
	int flags = MAP_SHARED;

	/* hugetlb: reserve now so a short host fails here, not in the guest */
	if (!m->hugetlb)
		flags |= MAP_NORESERVE;
	m->host = mmap(NULL, m->size, PROT_READ | PROT_WRITE, flags, m->fd, 0);
	if (m->host == MAP_FAILED) {
		int ret = -errno;
		char a[32];

		m->host = NULL;
		if (m->hugetlb)
			snprintf(err, errlen,
				 "cannot reserve %" PRIu64 " huge pages of 2M for %s: host has %" PRIu64
				 " free (raise vm.nr_hugepages)",
				 (uint64_t)(m->size / HUGE_2M), util_fmt_size(m->size, a, sizeof(a)),
				 meminfo_value("HugePages_Free"));
		else
			snprintf(err, errlen, "cannot map %s of guest RAM: %s",
				 util_fmt_size(m->size, a, sizeof(a)), strerror(-ret));
		return ret;
	}
	m->slots = calloc(MEM_MAX_SLOTS, sizeof(*m->slots));
	if (!m->slots) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	layout(m);
	return 0;
}

int mem_init(struct mem *m, uint64_t size, bool hugetlb, char *err, size_t errlen)
{
	unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | (hugetlb ? MFD_HUGETLB : 0);
	int ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	ret = check_size(size, hugetlb, err, errlen);
	if (ret)
		return ret;
	m->size = size;
	m->hugetlb = hugetlb;
	m->fd = memfd_create("luvmm-ram", flags);
	if (m->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "memfd_create%s: %s",
			 hugetlb ? " (hugetlb)" : "", strerror(-ret));
		return ret;
	}
	if (ftruncate(m->fd, (off_t)size) < 0) {
		ret = -errno;
		snprintf(err, errlen, "sizing RAM memfd: %s", strerror(-ret));
		goto err_close;
	}
	/* RAM never changes size: whoever maps it (the device simulator, the
	 * next VMM) can rely on that and never take a SIGBUS */
	if (fcntl(m->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		log_dbg("sealing the RAM memfd: %s", strerror(errno));
	ret = map_ram(m, err, errlen);
	if (ret)
		goto err_close;
	return 0;

err_close:
	mem_fini(m);
	return ret;
}

int mem_init_from_fd(struct mem *m, int fd, uint64_t size, bool hugetlb,
		     char *err, size_t errlen)
{
	struct statfs sfs;
	struct stat st;
	int ret;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	ret = check_size(size, hugetlb, err, errlen);
	if (ret)
		return ret;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != size) {
		snprintf(err, errlen, "RAM fd %d is not a %" PRIu64 "-byte memfd",
			 fd, size);
		return -EBADF;
	}
	/* a hugetlb memfd mapped as normal memory (MAP_NORESERVE) could
	 * SIGBUS at a guest access; the other way round cannot be backed */
	if (fstatfs(fd, &sfs) < 0 || (sfs.f_type == HUGETLBFS_MAGIC) != hugetlb) {
		snprintf(err, errlen, "RAM fd %d is %sa hugetlb memfd", fd,
			 hugetlb ? "not " : "");
		return -EBADF;
	}
	m->fd = fd;
	m->size = size;
	m->hugetlb = hugetlb;
	ret = map_ram(m, err, errlen);
	if (ret) {
		m->fd = -1;	/* the caller still owns fd */
		mem_fini(m);
	}
	return ret;
}

void mem_fini(struct mem *m)
{
	if (m->host)
		munmap(m->host, m->size);
	m->host = NULL;
	/* a zeroed mem (size 0) has no fd: its 0 is not stdin to close */
	if (m->size)
		util_close(&m->fd);
	free(m->slots);
	m->slots = NULL;
	m->nslots = 0;
	m->nregions = 0;
}

void *mem_gpa_to_hva(const struct mem *m, uint64_t gpa, uint64_t len)
{
	unsigned r;

	for (r = 0; r < m->nregions; r++) {
		const struct mem_region *g = &m->regions[r];

		if (gpa >= g->gpa && gpa - g->gpa < g->size &&
		    len <= g->size - (gpa - g->gpa))
			return m->host + g->offset + (gpa - g->gpa);
	}
	return NULL;
}

bool mem_is_ram(const struct mem *m, uint64_t gpa, uint64_t len)
{
	return mem_gpa_to_hva(m, gpa, len) != NULL;
}

int mem_slot_register(struct mem *m, int vm_fd, unsigned i)
{
	struct mem_slot *s = &m->slots[i];
	struct kvm_userspace_memory_region r = {
		.slot = i,
		.guest_phys_addr = s->gpa,
		.memory_size = s->size,
		.userspace_addr = (uint64_t)(uintptr_t)(m->host + s->offset),
	};

	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return -errno;
	atomic_store_explicit(&s->registered, true, memory_order_release);
	return 0;
}

int mem_register_all(struct mem *m, int vm_fd)
{
	unsigned i;
	int ret;

	for (i = 0; i < m->nslots; i++) {
		if (atomic_load(&m->slots[i].registered))
			continue;
		ret = mem_slot_register(m, vm_fd, i);
		if (ret)
			return ret;
	}
	return 0;
}

int mem_slot_find(const struct mem *m, uint64_t gpa)
{
	unsigned lo = 0, hi = m->nslots;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const struct mem_slot *s = &m->slots[mid];

		if (gpa < s->gpa)
			hi = mid;
		else if (gpa - s->gpa >= s->size)
			lo = mid + 1;
		else
			return (int)mid;
	}
	return -ENOENT;
}

uint64_t mem_low_size(const struct mem *m)
{
	return m->nregions ? m->regions[0].size : 0;
}

uint64_t mem_high_size(const struct mem *m)
{
	return m->nregions > 1 ? m->regions[1].size : 0;
}
