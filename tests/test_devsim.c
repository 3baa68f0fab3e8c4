// SPDX-License-Identifier: MIT
/*
 * test_devsim.c: luvmm-devsim, the device simulator, driven the way the
 * VMM drives it. Each case spawns build/luvmm-devsim (LUVMM_BUILD, else
 * ./build) on a socketpair (--fd) or a socket path, gives it "guest RAM"
 * memfds and I/O page tables built with iopt in a pool memfd, attaches a
 * context page, BAR0 and eventfds, and runs jobs through the BAR's slots.
 * Covers copies and fills (bytes checked), jobs across 4K/2M/1G leaves,
 * every kind of translation fault and bad job, the counters, root swaps
 * (with a job in flight across one), hostile setup messages, a RAM memfd
 * shrunk under the device, re-attach, the lifetime rules of --fd and
 * --socket, and the command line. No /dev/kvm needed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../guest-fw/abi.h"
#include "../vmm/iommu/iopt.h"
#include "../vmm/iommu/softhw.h"
#include "tap.h"

#define TIMEOUT_MS	5000
#define RAM_SLOT	SOFTHW_SLOT_GUEST_RAM
#define POOL_SLOT	SOFTHW_SLOT_POOL_FIRST
#define RAM_SIZE	(2 * GiB)	/* sparse; the last GiB is a 1G leaf */
#define POOL_MAX	(64 * MiB)
#define PG		IOPT_PAGE_SIZE

/* The I/O address map of tree 0 (iova -> RAM offset). */
#define RW_IOVA		0x10000000ULL	/* 64 KiB read-write */
#define RW_PA		0x100000ULL
#define RW_LEN		(64 * KiB)
#define RO_IOVA		(RW_IOVA + RW_LEN)	/* 4 KiB read-only */
#define RO_PA		0x110000ULL
#define WO_IOVA		(RO_IOVA + PG)		/* 4 KiB write-only */
#define WO_PA		0x111000ULL
#define LEAF_IOVA	(2 * MiB - 8 * KiB)	/* 4K 4K 2M 4K 4K */
#define LEAF_LEN	(2 * MiB + 16 * KiB)
#define G_IOVA		(1 * GiB)		/* one 1 GiB leaf at PA 1G */
#define AFTER_G_IOVA	(2 * GiB)		/* then a 4 KiB leaf */
#define AFTER_G_PA	0x500000ULL
#define POOLPA_IOVA	0x20000000ULL	/* -> page 0 of the pool */
#define NOSLOT_IOVA	(POOLPA_IOVA + PG)	/* -> an unknown slot */
#define PASTRAM_IOVA	(POOLPA_IOVA + 2 * PG)	/* -> past the RAM's end */
#define HOLE_IOVA	0x30000000ULL	/* nothing mapped */
#define B_PA		0x180000ULL	/* where tree 1 maps RW_IOVA */

#define PAT		0x1122334455667788ULL

struct sim {
	pid_t pid;
	int sock;			/* our end of the setup connection */
	int ram_fd, ctx_fd, bar_fd, db_fd, irq_fd;
	uint8_t *ram;
	uint64_t *ctx;
	uint64_t *ctx_old;		/* a context page replaced by ATTACH */
	struct luvmm_dma_bar *bar;
	struct iopt_pool *pool[2];
	struct iopt *t[2];
	uint64_t next_job;
	uint64_t msis;			/* interrupts seen on irq_fd */
	char dir[64];			/* socket-mode scratch directory */
	char path[96];
	int tracked[32];		/* other fds a case opened */
};

static struct sim S;
static char devsim_bin[512];

/* ---- fds and processes --------------------------------------------------- */

static int track(int fd)
{
	size_t i;

	for (i = 0; fd >= 0 && i < ARRAY_SIZE(S.tracked); i++) {
		if (S.tracked[i] < 0) {
			S.tracked[i] = fd;
			return fd;
		}
	}
	if (fd >= 0)
		tap_bail("too many tracked fds");
	return fd;
}

/* Stop tracking fd (the caller keeps it elsewhere). */
static int untrack(int fd)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(S.tracked); i++)
		if (S.tracked[i] == fd)
			S.tracked[i] = -1;
	return fd;
}

static void tclose(int fd)
{
	close(untrack(fd));
}

static void sim_reset(void)
{
	size_t i;

	memset(&S, 0, sizeof(S));
	S.pid = -1;
	S.sock = S.ram_fd = S.ctx_fd = S.bar_fd = S.db_fd = S.irq_fd = -1;
	for (i = 0; i < ARRAY_SIZE(S.tracked); i++)
		S.tracked[i] = -1;
	S.next_job = 1000;
}

static void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void teardown(void)
{
	size_t i;

	if (S.pid > 0) {
		kill(S.pid, SIGKILL);
		waitpid(S.pid, NULL, 0);
	}
	closep(&S.sock);
	closep(&S.ram_fd);
	closep(&S.ctx_fd);
	closep(&S.bar_fd);
	closep(&S.db_fd);
	closep(&S.irq_fd);
	for (i = 0; i < ARRAY_SIZE(S.tracked); i++)
		closep(&S.tracked[i]);
	if (S.ram)
		munmap(S.ram, RAM_SIZE);
	if (S.ctx)
		munmap(S.ctx, PG);
	if (S.ctx_old)
		munmap(S.ctx_old, PG);
	if (S.bar)
		munmap(S.bar, PG);
	for (i = 0; i < 2; i++) {
		iopt_destroy(S.t[i]);
		iopt_pool_destroy(S.pool[i]);
	}
	if (S.path[0])
		unlink(S.path);
	if (S.dir[0])
		rmdir(S.dir);
	sim_reset();
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Start the simulator; keep_fd stays open in it. Quiet: no stdout/err. */
static pid_t spawn(const char *const *args, int keep_fd, bool quiet)
{
	const char *argv[16];
	size_t n = 0;
	pid_t pid;
	int nul;

	argv[n++] = devsim_bin;
	while (*args && n < ARRAY_SIZE(argv) - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid)
		return pid;
	/* a test killed by its timeout takes its simulators along */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (keep_fd >= 0)
		fcntl(keep_fd, F_SETFD, 0);
	nul = open("/dev/null", O_RDWR);
	dup2(nul, STDIN_FILENO);
	dup2(nul, STDOUT_FILENO);
	if (quiet)
		dup2(nul, STDERR_FILENO);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/* Exit status of pid within ms, -ETIMEDOUT, or -EINTR if signalled. */
static int wait_exit(pid_t pid, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			if (pid == S.pid)
				S.pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) : -EINTR;
		}
		if (r < 0)
			return -errno;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		poll(NULL, 0, 5);
	}
}

static bool alive(pid_t pid)
{
	return waitpid(pid, NULL, WNOHANG) == 0;
}

static int count_fds_of(pid_t pid)
{
	char p[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	d = opendir(p);
	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- the protocol -------------------------------------------------------- */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void hdr(uint8_t *b, uint32_t magic, uint16_t version, uint16_t type,
		uint32_t plen)
{
	put_le32(b, magic);
	b[4] = (uint8_t)version;
	b[5] = (uint8_t)(version >> 8);
	b[6] = (uint8_t)type;
	b[7] = (uint8_t)(type >> 8);
	put_le32(b + 8, plen);
	put_le32(b + 12, 0);
}

static int send_raw(int sock, const void *buf, size_t len, const int *fds,
		    int nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} cbuf;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (nfds) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* The reply's status; -EPROTO for a reply of the wrong shape. */
static int recv_reply(int sock, void *extra, size_t extra_len)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	uint8_t b[SOFTHW_MSG_MAX];
	ssize_t n;

	if (poll(&p, 1, TIMEOUT_MS) != 1)
		return -ETIMEDOUT;
	n = recv(sock, b, sizeof(b), 0);
	if (n < 0)
		return -errno;
	if ((size_t)n != SOFTHW_HDR_SIZE + 4 + extra_len ||
	    get_le32(b) != SOFTHW_MAGIC || b[4] != SOFTHW_VERSION || b[5] ||
	    b[6] != SOFTHW_REPLY || b[7] ||
	    get_le32(b + 8) != 4 + extra_len || get_le32(b + 12))
		return -EPROTO;
	if (extra_len)
		memcpy(extra, b + SOFTHW_HDR_SIZE + 4, extra_len);
	return (int32_t)get_le32(b + SOFTHW_HDR_SIZE);
}

static int call(int sock, uint16_t type, const void *payload, uint32_t plen,
		const int *fds, int nfds, void *extra, size_t extra_len)
{
	uint8_t b[SOFTHW_MSG_MAX];
	int ret;

	hdr(b, SOFTHW_MAGIC, SOFTHW_VERSION, type, plen);
	if (plen)
		memcpy(b + SOFTHW_HDR_SIZE, payload, plen);
	ret = send_raw(sock, b, SOFTHW_HDR_SIZE + plen, fds, nfds);
	return ret ? ret : recv_reply(sock, extra, extra_len);
}

static int add_slot(int sock, uint32_t slot, uint32_t kind, int fd)
{
	uint8_t p[8];

	put_le32(p, slot);
	put_le32(p + 4, kind);
	return call(sock, SOFTHW_ADD_SLOT, p, 8, &fd, 1, NULL, 0);
}

static int del_slot(int sock, uint32_t slot)
{
	uint8_t p[4];

	put_le32(p, slot);
	return call(sock, SOFTHW_DEL_SLOT, p, 4, NULL, 0, NULL, 0);
}

static int attach(int sock, int ctx_fd, int bar_fd, int db_fd, int irq_fd)
{
	int fds[4] = { ctx_fd, bar_fd, db_fd, irq_fd };

	return call(sock, SOFTHW_ATTACH, NULL, 0, fds, 4, NULL, 0);
}

static int stats(int sock, struct softhw_stats *st)
{
	uint8_t b[8 * SOFTHW_STATS_WORDS];
	uint64_t w[SOFTHW_STATS_WORDS];
	int ret, i;

	ret = call(sock, SOFTHW_STATS, NULL, 0, NULL, 0, b, sizeof(b));
	for (i = 0; i < SOFTHW_STATS_WORDS; i++)
		w[i] = get_le64(b + 8 * i);
	memcpy(st, w, sizeof(*st));
	return ret;
}

/* ---- the VMM side: memory, tables, the device ---------------------------- */

static int memfd_of(const char *name, uint64_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static void *map_fd(int fd, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int tree_new(int i)
{
	int ret = iopt_pool_create(POOL_SLOT + (uint32_t)i, POOL_MAX,
				   &S.pool[i]);

	return ret ? ret : iopt_create(&iopt_pool_ops, S.pool[i], 0, &S.t[i]);
}

static int map_ram(int i, uint64_t iova, uint64_t off, uint64_t len,
		   unsigned int prot)
{
	return iopt_map(S.t[i], iova, IOPT_PA(RAM_SLOT, off), len, prot);
}

/* Tree 0: the map described at the top. */
static int tree0_build(void)
{
	int ret = tree_new(0);

	if (!ret)
		ret = map_ram(0, RW_IOVA, RW_PA, RW_LEN, IOPT_PROT_RW);
	if (!ret)
		ret = map_ram(0, RO_IOVA, RO_PA, PG, IOPT_PROT_READ);
	if (!ret)
		ret = map_ram(0, WO_IOVA, WO_PA, PG, IOPT_PROT_WRITE);
	if (!ret)
		ret = map_ram(0, LEAF_IOVA, LEAF_IOVA, LEAF_LEN, IOPT_PROT_RW);
	if (!ret)
		ret = map_ram(0, G_IOVA, 1 * GiB, 1 * GiB, IOPT_PROT_RW);
	if (!ret)
		ret = map_ram(0, AFTER_G_IOVA, AFTER_G_PA, PG, IOPT_PROT_RW);
	if (!ret)
		ret = iopt_map(S.t[0], POOLPA_IOVA, IOPT_PA(POOL_SLOT, 0), PG,
			       IOPT_PROT_RW);
	if (!ret)
		ret = iopt_map(S.t[0], NOSLOT_IOVA, IOPT_PA(5, 0), PG,
			       IOPT_PROT_RW);
	if (!ret)
		ret = map_ram(0, PASTRAM_IOVA, RAM_SIZE, PG, IOPT_PROT_RW);
	return ret;
}

/* Point the device at tree i; returns the new GEN. */
static uint64_t publish(int i)
{
	iopt_root_publish(&S.ctx[SOFTHW_CTX_DTE], iopt_root(S.t[i]));
	return __atomic_add_fetch(&S.ctx[SOFTHW_CTX_GEN], 1, __ATOMIC_RELEASE);
}

static int wait_ack(uint64_t gen)
{
	uint64_t end = now_ms() + TIMEOUT_MS;

	while (__atomic_load_n(&S.ctx[SOFTHW_CTX_ACK], __ATOMIC_ACQUIRE) < gen) {
		if (now_ms() >= end)
			return -ETIMEDOUT;
		poll(NULL, 0, 1);
	}
	return 0;
}

static int dev_fds_new(void)
{
	S.ctx_fd = memfd_of("t-ctx", SOFTHW_CTX_SIZE);
	S.bar_fd = memfd_of("t-bar", LUVMM_DMA_BAR0_SIZE);
	S.db_fd = eventfd(0, EFD_CLOEXEC);
	S.irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (S.ctx_fd < 0 || S.bar_fd < 0 || S.db_fd < 0 || S.irq_fd < 0)
		return -EIO;
	S.ctx = map_fd(S.ctx_fd, PG);
	S.bar = map_fd(S.bar_fd, PG);
	return S.ctx && S.bar ? 0 : -ENOMEM;
}

/* Spawn on a socketpair with extra options (NULL-terminated). */
static int sim_spawn_fd(const char *const *opts)
{
	const char *args[12] = { "--fd" };
	char num[16];
	int sv[2];
	size_t n = 2;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	snprintf(num, sizeof(num), "%d", sv[1]);
	args[1] = num;
	while (opts && *opts && n < ARRAY_SIZE(args) - 1)
		args[n++] = *opts++;
	args[n] = NULL;
	S.pid = spawn(args, sv[1], false);
	close(sv[1]);
	S.sock = sv[0];
	return S.pid > 0 ? 0 : -ECHILD;
}

/* RAM, tree 0 in a pool, the device fds; slots added, attached, DTE set. */
static int sim_setup_on(int sock)
{
	int ret;

	S.ram_fd = memfd_of("t-ram", RAM_SIZE);
	if (S.ram_fd < 0)
		return S.ram_fd;
	S.ram = map_fd(S.ram_fd, RAM_SIZE);
	if (!S.ram)
		return -ENOMEM;
	ret = tree0_build();
	if (!ret)
		ret = dev_fds_new();
	if (!ret)
		ret = add_slot(sock, RAM_SLOT, SOFTHW_SLOT_RAM, S.ram_fd);
	if (!ret)
		ret = add_slot(sock, POOL_SLOT, SOFTHW_SLOT_POOL,
			       iopt_pool_fd(S.pool[0]));
	if (!ret)
		ret = attach(sock, S.ctx_fd, S.bar_fd, S.db_fd, S.irq_fd);
	if (!ret)
		ret = wait_ack(publish(0));
	return ret;
}

static int sim_setup(const char *const *opts)
{
	int ret = sim_spawn_fd(opts);

	return ret ? ret : sim_setup_on(S.sock);
}

/* ---- jobs ---------------------------------------------------------------- */

static void submit(unsigned int i, uint32_t op, uint64_t src, uint64_t dst,
		   uint64_t len, uint64_t pattern)
{
	struct luvmm_dma_slot *s = &S.bar->slot[i];
	uint64_t one = 1;

	s->op = op;
	s->job = ++S.next_job;
	s->src_iova = src;
	s->dst_iova = dst;
	s->len = len;
	s->pattern = pattern;
	s->fault_iova = 0xdead;
	s->done_job = 0;
	__atomic_store_n(&s->status, LUVMM_DMA_SUBMITTED, __ATOMIC_RELEASE);
	if (write(S.db_fd, &one, sizeof(one)) != sizeof(one))
		tap_bail("doorbell: %s", strerror(errno));
}

static uint32_t slot_status(unsigned int i)
{
	return __atomic_load_n(&S.bar->slot[i].status, __ATOMIC_ACQUIRE);
}

/* Wait (bounded) for the device to take slot i. */
static void wait_busy(unsigned int i)
{
	uint64_t end = now_ms() + TIMEOUT_MS;

	while (slot_status(i) != LUVMM_DMA_BUSY && now_ms() < end)
		poll(NULL, 0, 1);
}

/* Wait for an MSI: 0, or -ETIMEDOUT. */
static int wait_msi(void)
{
	struct pollfd p = { .fd = S.irq_fd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, TIMEOUT_MS) != 1 ||
	    read(S.irq_fd, &v, sizeof(v)) != sizeof(v))
		return -ETIMEDOUT;
	S.msis += v;
	return 0;
}

/* Wait for slot i to finish and its MSI: DONE/FAULT, or -ETIMEDOUT. */
static int wait_slot(unsigned int i)
{
	uint64_t end = now_ms() + TIMEOUT_MS;
	uint32_t st;

	for (;;) {
		st = slot_status(i);
		if (st == LUVMM_DMA_DONE || st == LUVMM_DMA_FAULT)
			break;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		poll(NULL, 0, 1);
	}
	if (S.bar->slot[i].done_job != S.next_job)
		tap_diag("slot %u: done_job %llu, job %llu", i,
			 (unsigned long long)S.bar->slot[i].done_job,
			 (unsigned long long)S.next_job);
	return wait_msi() ? -ETIMEDOUT : (int)st;
}

static int run(unsigned int i, uint32_t op, uint64_t src, uint64_t dst,
	       uint64_t len, uint64_t pattern)
{
	submit(i, op, src, dst, len, pattern);
	return wait_slot(i);
}

static uint64_t ctxw(unsigned int w)
{
	return __atomic_load_n(&S.ctx[w], __ATOMIC_ACQUIRE);
}

/* Byte k of a FILL job. */
static uint8_t pat_byte(uint64_t pattern, uint64_t k)
{
	return (uint8_t)(pattern >> (8 * (k % 8)));
}

static bool filled(uint64_t off, uint64_t len, uint64_t pattern)
{
	uint64_t k;

	for (k = 0; k < len; k++)
		if (S.ram[off + k] != pat_byte(pattern, k))
			return false;
	return true;
}

static bool all_bytes(uint64_t off, uint64_t len, uint8_t v)
{
	uint64_t k;

	for (k = 0; k < len; k++)
		if (S.ram[off + k] != v)
			return false;
	return true;
}

static void scribble(uint64_t off, uint64_t len, uint32_t seed)
{
	uint64_t k;

	for (k = 0; k < len; k++)
		S.ram[off + k] = (uint8_t)((k * 131 + seed) ^ (k >> 9));
}

#define CHECK_FAULT(idx, iova, err)					\
	do {								\
		CHECK_EQ(S.bar->slot[idx].fault_iova, (iova));		\
		CHECK_EQ(ctxw(SOFTHW_CTX_LAST_FAULT), (iova));		\
		CHECK_EQ(ctxw(SOFTHW_CTX_LAST_ERR), (uint64_t)(int64_t)(err)); \
	} while (0)

/* ---- cases: DMA ---------------------------------------------------------- */

static void copy_and_fill(void)
{
	const uint64_t src = RW_IOVA + 0x18, dst = RW_IOVA + 0x8008;
	const uint64_t len = 2 * PG + 0x100;
	const uint64_t fdst = RW_IOVA + 0xc004;

	REQUIRE_OK(sim_setup(NULL));
	CHECK_EQ(S.bar->magic, LUVMM_DMA_MAGIC);
	CHECK_EQ(S.bar->version, 1);
	scribble(RW_PA, 0x8000, 7);
	memset(S.ram + RW_PA + 0x8000, 0xee, 0x8000);

	REQUIRE_EQ(run(0, LUVMM_DMA_COPY, src, dst, len, 0), LUVMM_DMA_DONE);
	CHECK(!memcmp(S.ram + RW_PA + 0x8008, S.ram + RW_PA + 0x18, len));
	CHECK(all_bytes(RW_PA + 0x8000, 8, 0xee));
	CHECK(all_bytes(RW_PA + 0x8008 + len, 8, 0xee));
	CHECK_EQ(S.bar->slot[0].done_job, S.next_job);
	CHECK_EQ(S.bar->slot[0].fault_iova, 0);

	REQUIRE_EQ(run(1, LUVMM_DMA_FILL, 0, fdst, PG + 8, PAT), LUVMM_DMA_DONE);
	CHECK(filled(RW_PA + 0xc004, PG + 8, PAT));
	CHECK(all_bytes(RW_PA + 0xc000, 4, 0xee));
	CHECK(all_bytes(RW_PA + 0xc004 + PG + 8, 8, 0xee));
	CHECK_EQ(S.bar->slot[1].done_job, S.next_job);
	CHECK_EQ(S.bar->irq_status, 0x3);
	CHECK_EQ(S.bar->jobs_done, 2);
	CHECK_EQ(S.bar->bytes, len + PG + 8);
	CHECK_EQ(S.msis, 2);
}

static void leaf_boundaries(void)
{
	static const struct { uint64_t iova, size; } leaves[] = {
		{ LEAF_IOVA, IOPT_SIZE_4K }, { 2 * MiB, IOPT_SIZE_2M },
		{ 4 * MiB, IOPT_SIZE_4K }, { G_IOVA, IOPT_SIZE_1G },
		{ AFTER_G_IOVA, IOPT_SIZE_4K },
	};
	const uint64_t csrc = 4 * MiB - 512 * KiB, clen = 512 * KiB + 8 * KiB;
	struct iopt_tree tr;
	struct iopt_xlate x;
	size_t i;

	REQUIRE_OK(sim_setup(NULL));
	tr = iopt_as_tree(S.t[0]);
	for (i = 0; i < ARRAY_SIZE(leaves); i++) {
		REQUIRE_OK(iopt_translate(&tr, leaves[i].iova, IOPT_PROT_RW, &x));
		REQUIRE_EQ(x.size, leaves[i].size);
	}

	/* 4K, 4K, then into the 2M leaf */
	REQUIRE_EQ(run(0, LUVMM_DMA_FILL, 0, LEAF_IOVA, 1 * MiB, PAT),
		   LUVMM_DMA_DONE);
	CHECK(filled(LEAF_IOVA, 1 * MiB, PAT));
	/* out of the 2M leaf into a 4K one, to a 1G leaf */
	scribble(csrc, clen, 3);
	REQUIRE_EQ(run(1, LUVMM_DMA_COPY, csrc, G_IOVA + PG, clen, 0),
		   LUVMM_DMA_DONE);
	CHECK(!memcmp(S.ram + 1 * GiB + PG, S.ram + csrc, clen));
	/* out of the 1G leaf into a 4K one */
	scribble(2 * GiB - PG, PG, 5);
	scribble(AFTER_G_PA, PG, 9);
	REQUIRE_EQ(run(2, LUVMM_DMA_COPY, AFTER_G_IOVA - PG, RW_IOVA, 2 * PG, 0),
		   LUVMM_DMA_DONE);
	CHECK(!memcmp(S.ram + RW_PA, S.ram + 2 * GiB - PG, PG));
	CHECK(!memcmp(S.ram + RW_PA + PG, S.ram + AFTER_G_PA, PG));
	/* one translation per 4 KiB page and side */
	CHECK_EQ(ctxw(SOFTHW_CTX_XLATES), 256 + 2 * (clen / PG) + 2 * 2);
	CHECK_EQ(ctxw(SOFTHW_CTX_BYTES), 1 * MiB + clen + 2 * PG);
}

static void permission_faults(void)
{
	REQUIRE_OK(sim_setup(NULL));
	memset(S.ram + RW_PA, 0x11, RW_LEN);
	memset(S.ram + RO_PA, 0x22, PG);
	memset(S.ram + WO_PA, 0x33, PG);

	/* last RW page, then the read-only one: the first is written */
	REQUIRE_EQ(run(0, LUVMM_DMA_FILL, 0, RO_IOVA - PG, 2 * PG, PAT),
		   LUVMM_DMA_FAULT);
	CHECK_FAULT(0, RO_IOVA, -EACCES);
	CHECK(filled(RW_PA + RW_LEN - PG, PG, PAT));
	CHECK(all_bytes(RO_PA, PG, 0x22));
	CHECK_EQ(S.bar->slot[0].done_job, S.next_job);

	/* reading a write-only page: nothing moves */
	REQUIRE_EQ(run(1, LUVMM_DMA_COPY, WO_IOVA, RW_IOVA, PG, 0),
		   LUVMM_DMA_FAULT);
	CHECK_FAULT(1, WO_IOVA, -EACCES);
	CHECK(all_bytes(RW_PA, PG, 0x11));

	/* reading read-only is fine, writing write-only too */
	REQUIRE_EQ(run(2, LUVMM_DMA_COPY, RO_IOVA, WO_IOVA, PG, 0),
		   LUVMM_DMA_DONE);
	CHECK(all_bytes(WO_PA, PG, 0x22));
	CHECK_EQ(S.bar->jobs_faulted, 2);
	CHECK_EQ(S.bar->jobs_done, 1);
	CHECK_EQ(ctxw(SOFTHW_CTX_FAULTS), 2);
}

static void translation_faults(void)
{
	static const struct { uint64_t iova; int err; } cases[] = {
		{ HOLE_IOVA + 0x40, -ENOENT },
		{ IOPT_IOVA_END, -ERANGE },
		{ POOLPA_IOVA, -EFAULT },	/* a table pool is not RAM */
		{ NOSLOT_IOVA + 8, -EFAULT },
		{ PASTRAM_IOVA, -EFAULT },
	};
	uint64_t before[IOPT_ENTRIES];
	unsigned int i, k;

	REQUIRE_OK(sim_setup(NULL));
	for (k = 0; k < IOPT_ENTRIES; k++)
		before[k] = *iopt_pool_word(S.pool[0], k);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		REQUIRE_EQ(run(i, LUVMM_DMA_FILL, 0, cases[i].iova, 64, PAT),
			   LUVMM_DMA_FAULT);
		CHECK_FAULT(i, cases[i].iova, cases[i].err);
	}
	for (k = 0; k < IOPT_ENTRIES; k++)
		CHECK_EQ(*iopt_pool_word(S.pool[0], k), before[k]);
	/* a source fault names the source */
	REQUIRE_EQ(run(8, LUVMM_DMA_COPY, HOLE_IOVA, RW_IOVA, 64, 0),
		   LUVMM_DMA_FAULT);
	CHECK_FAULT(8, HOLE_IOVA, -ENOENT);
	CHECK_EQ(ctxw(SOFTHW_CTX_FAULTS), ARRAY_SIZE(cases) + 1);
	CHECK_EQ(ctxw(SOFTHW_CTX_JOBS), 0);
	CHECK_EQ(ctxw(SOFTHW_CTX_BYTES), 0);
}

static void dte_blocked(void)
{
	uint64_t gen;

	REQUIRE_OK(sim_setup(NULL));
	memset(S.ram + RW_PA, 0x44, PG);
	iopt_root_block(&S.ctx[SOFTHW_CTX_DTE]);
	gen = __atomic_add_fetch(&S.ctx[SOFTHW_CTX_GEN], 1, __ATOMIC_RELEASE);
	REQUIRE_OK(wait_ack(gen));
	REQUIRE_EQ(run(0, LUVMM_DMA_FILL, 0, RW_IOVA, PG, PAT),
		   LUVMM_DMA_FAULT);
	CHECK_FAULT(0, RW_IOVA, -ENOENT);
	CHECK(all_bytes(RW_PA, PG, 0x44));
	CHECK_EQ(ctxw(SOFTHW_CTX_XLATES), 0);

	/* a malformed DTE (reserved bits) is a fault too */
	__atomic_store_n(&S.ctx[SOFTHW_CTX_DTE],
			 iopt_root(S.t[0]) | IOPT_ROOT_V | 0x10,
			 __ATOMIC_RELEASE);
	REQUIRE_EQ(run(1, LUVMM_DMA_COPY, RW_IOVA, RW_IOVA + PG, PG, 0),
		   LUVMM_DMA_FAULT);
	CHECK_FAULT(1, RW_IOVA, -EBADMSG);

	/* a root in no pool slot: the walker cannot reach it */
	iopt_root_publish(&S.ctx[SOFTHW_CTX_DTE], IOPT_PA(RAM_SLOT, RW_PA));
	REQUIRE_EQ(run(2, LUVMM_DMA_FILL, 0, RW_IOVA, PG, PAT),
		   LUVMM_DMA_FAULT);
	CHECK_FAULT(2, RW_IOVA, -EFAULT);
	CHECK(all_bytes(RW_PA, PG, 0x44));

	REQUIRE_OK(wait_ack(publish(0)));
	REQUIRE_EQ(run(3, LUVMM_DMA_FILL, 0, RW_IOVA, PG, PAT), LUVMM_DMA_DONE);
	CHECK(filled(RW_PA, PG, PAT));
}

static void bad_jobs(void)
{
	static const struct { uint32_t op; uint64_t len; } bad[] = {
		{ 0, 64 }, { 3, 64 }, { 0xffffffff, 64 },
		{ LUVMM_DMA_FILL, 0 }, { LUVMM_DMA_FILL, 12 },
		{ LUVMM_DMA_COPY, 1 * MiB + 8 }, { LUVMM_DMA_FILL, ~0ULL & ~7ULL },
	};
	unsigned int i;

	REQUIRE_OK(sim_setup(NULL));
	memset(S.ram + 1 * GiB, 0x55, 1 * MiB + PG);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		REQUIRE_EQ(run(i, bad[i].op, G_IOVA, G_IOVA + 8, bad[i].len,
			       PAT), LUVMM_DMA_FAULT);
		CHECK_EQ(ctxw(SOFTHW_CTX_LAST_ERR), (uint64_t)-EINVAL);
		CHECK_EQ(S.bar->slot[i].fault_iova, 0);
		CHECK_EQ(S.bar->slot[i].done_job, S.next_job);
	}
	CHECK(all_bytes(1 * GiB, 1 * MiB + PG, 0x55));
	CHECK_EQ(ctxw(SOFTHW_CTX_XLATES), 0);
	CHECK_EQ(ctxw(SOFTHW_CTX_FAULTS), ARRAY_SIZE(bad));
	/* the largest job there is */
	REQUIRE_EQ(run(15, LUVMM_DMA_FILL, 0, G_IOVA, 1 * MiB, PAT),
		   LUVMM_DMA_DONE);
	CHECK(filled(1 * GiB, 1 * MiB, PAT));
	CHECK(all_bytes(1 * GiB + 1 * MiB, PG, 0x55));
	CHECK_EQ(ctxw(SOFTHW_CTX_XLATES), 256);
}

static void counters(void)
{
	struct softhw_stats st;

	REQUIRE_OK(sim_setup(NULL));
	REQUIRE_EQ(run(0, LUVMM_DMA_FILL, 0, RW_IOVA, 2 * PG, PAT),
		   LUVMM_DMA_DONE);				/* 2 xlates */
	REQUIRE_EQ(run(1, LUVMM_DMA_COPY, RW_IOVA, RW_IOVA + 2 * PG, PG, 0),
		   LUVMM_DMA_DONE);				/* 2 */
	REQUIRE_EQ(run(2, LUVMM_DMA_COPY, RW_IOVA + 0x800, RW_IOVA + 4 * PG,
		       PG, 0), LUVMM_DMA_DONE);			/* 4 */
	REQUIRE_EQ(run(3, LUVMM_DMA_FILL, 0, RO_IOVA - PG, 2 * PG, PAT),
		   LUVMM_DMA_FAULT);				/* 2 */
	CHECK_EQ(ctxw(SOFTHW_CTX_JOBS), 3);
	CHECK_EQ(ctxw(SOFTHW_CTX_FAULTS), 1);
	CHECK_EQ(ctxw(SOFTHW_CTX_XLATES), 10);
	CHECK_EQ(ctxw(SOFTHW_CTX_BYTES), 5 * PG);
	CHECK_EQ(ctxw(SOFTHW_CTX_MSIS), 4);
	CHECK_EQ(S.msis, 4);
	CHECK_EQ(S.bar->jobs_done, 3);
	CHECK_EQ(S.bar->jobs_faulted, 1);
	CHECK_EQ(S.bar->bytes, 5 * PG);
	CHECK_EQ(S.bar->irq_status, 0xf);

	REQUIRE_EQ(stats(S.sock, &st), 0);
	CHECK_EQ(st.jobs, 3);
	CHECK_EQ(st.faults, 1);
	CHECK_EQ(st.xlates, 10);
	CHECK_EQ(st.bytes, 5 * PG);
	CHECK_EQ(st.msis, 4);
	CHECK_EQ(st.last_fault, RO_IOVA);
	CHECK_EQ(st.last_err, (uint64_t)-EACCES);
	CHECK_EQ(st.slots, 2);
	CHECK_EQ(st.dte, iopt_root(S.t[0]) | IOPT_ROOT_V);
	CHECK_EQ(st.gen, 1);
	CHECK_EQ(st.ack, 1);
}

/* ---- cases: root changes ------------------------------------------------- */

/* Tree 1 in pool slot +1: RW_IOVA -> B_PA, nothing else. */
static int tree1_add(void)
{
	int ret = tree_new(1);

	if (!ret)
		ret = map_ram(1, RW_IOVA, B_PA, PG, IOPT_PROT_RW);
	if (!ret)
		ret = add_slot(S.sock, POOL_SLOT + 1, SOFTHW_SLOT_POOL,
			       iopt_pool_fd(S.pool[1]));
	return ret;
}

static void root_swap(void)
{
	struct softhw_stats st;
	uint64_t gen;

	REQUIRE_OK(sim_setup(NULL));
	REQUIRE_OK(tree1_add());
	gen = publish(1);
	REQUIRE_OK(wait_ack(gen));
	CHECK_EQ(del_slot(S.sock, POOL_SLOT), 0);
	CHECK_EQ(del_slot(S.sock, POOL_SLOT), -ENOENT);
	iopt_destroy(S.t[0]);
	S.t[0] = NULL;
	iopt_pool_destroy(S.pool[0]);
	S.pool[0] = NULL;

	REQUIRE_EQ(run(0, LUVMM_DMA_FILL, 0, RW_IOVA, PG, PAT), LUVMM_DMA_DONE);
	CHECK(filled(B_PA, PG, PAT));
	CHECK(all_bytes(RW_PA, PG, 0));
	/* what only tree 0 mapped is gone */
	REQUIRE_EQ(run(1, LUVMM_DMA_FILL, 0, RO_IOVA, PG, PAT), LUVMM_DMA_FAULT);
	CHECK_FAULT(1, RO_IOVA, -ENOENT);
	REQUIRE_EQ(stats(S.sock, &st), 0);
	CHECK_EQ(st.slots, 2);
	CHECK_EQ(st.dte, iopt_root(S.t[1]) | IOPT_ROOT_V);
	CHECK_EQ(st.gen, gen);
	CHECK_EQ(st.ack, gen);
}

static void root_swap_inflight(void)
{
	static const char *const opts[] = { "--delay-us", "500000", NULL };
	uint64_t gen, ack, end, busy = 0, early = 0;

	REQUIRE_OK(sim_setup(opts));
	REQUIRE_OK(tree1_add());
	submit(0, LUVMM_DMA_FILL, 0, RW_IOVA, PG, PAT);
	wait_busy(0);
	REQUIRE_EQ(slot_status(0), LUVMM_DMA_BUSY);
	end = now_ms() + TIMEOUT_MS;

	/*
	 * The job loaded tree 0: ACK must not reach the new GEN while it
	 * runs. The device stores ACK after the status (release), so an ACK
	 * seen (acquire) at the new GEN with the job still BUSY is a device
	 * that acknowledged too early. Watch the whole flight.
	 */
	gen = publish(1);
	for (;;) {
		ack = ctxw(SOFTHW_CTX_ACK);
		if (slot_status(0) != LUVMM_DMA_BUSY || now_ms() >= end)
			break;
		busy++;
		early += ack >= gen;
	}
	CHECK(busy > 0);
	CHECK_EQ(early, 0);

	REQUIRE_EQ(wait_slot(0), LUVMM_DMA_DONE);
	CHECK(filled(RW_PA, PG, PAT));		/* through the old root */
	CHECK(all_bytes(B_PA, PG, 0));
	REQUIRE_OK(wait_ack(gen));
	CHECK_EQ(del_slot(S.sock, POOL_SLOT), 0);

	REQUIRE_EQ(run(1, LUVMM_DMA_FILL, 0, RW_IOVA, PG, ~PAT), LUVMM_DMA_DONE);
	CHECK(filled(B_PA, PG, ~PAT));
	CHECK(filled(RW_PA, PG, PAT));
}

static void reattach_keeps_slots(void)
{
	static const char *const opts[] = { "--delay-us", "200000", NULL };
	struct luvmm_dma_slot keep;
	int ctx2, db2, irq2, fds;

	REQUIRE_OK(sim_setup(opts));
	/* a slot the guest still owns, finished before the restart */
	S.bar->slot[5].status = LUVMM_DMA_DONE;
	S.bar->slot[5].job = 77;
	S.bar->slot[5].done_job = 77;
	keep = S.bar->slot[5];
	fds = count_fds_of(S.pid);

	/* the "restarted VMM": new context page and eventfds, same BAR */
	ctx2 = track(memfd_of("t-ctx2", SOFTHW_CTX_SIZE));
	db2 = track(eventfd(0, EFD_CLOEXEC));
	irq2 = track(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	REQUIRE(ctx2 >= 0 && db2 >= 0 && irq2 >= 0);
	submit(0, LUVMM_DMA_FILL, 0, RW_IOVA, PG, PAT);
	wait_busy(0);
	REQUIRE_EQ(slot_status(0), LUVMM_DMA_BUSY);
	REQUIRE_EQ(attach(S.sock, ctx2, S.bar_fd, db2, irq2), 0);
	/* the job it had taken finished, on the old device, before the reply */
	CHECK_EQ(slot_status(0), LUVMM_DMA_DONE);
	CHECK(filled(RW_PA, PG, PAT));
	CHECK_EQ(ctxw(SOFTHW_CTX_JOBS), 1);
	CHECK_EQ(count_fds_of(S.pid), fds);	/* the old eventfds closed */
	CHECK_EQ(S.bar->magic, LUVMM_DMA_MAGIC);
	CHECK(!memcmp(&S.bar->slot[5], &keep, sizeof(keep)));

	/* from here the test uses the new fds, like the new VMM */
	S.ctx_old = S.ctx;
	S.ctx = map_fd(ctx2, PG);
	REQUIRE(S.ctx);
	closep(&S.ctx_fd);
	closep(&S.db_fd);
	closep(&S.irq_fd);
	S.ctx_fd = untrack(ctx2);
	S.db_fd = untrack(db2);
	S.irq_fd = untrack(irq2);
	REQUIRE_OK(wait_ack(publish(0)));
	REQUIRE_EQ(run(1, LUVMM_DMA_FILL, 0, RW_IOVA + PG, PG, PAT),
		   LUVMM_DMA_DONE);
	CHECK(filled(RW_PA + PG, PG, PAT));
	CHECK_EQ(ctxw(SOFTHW_CTX_JOBS), 1);
	CHECK_EQ(S.ctx_old[SOFTHW_CTX_JOBS], 1);	/* left alone */
	CHECK_EQ(S.msis, 1);	/* on the new interrupt eventfd */
}

static void ram_shrink_faults(void)
{
	const uint64_t iova = 4 * GiB;
	int fd;

	REQUIRE_OK(sim_setup(NULL));
	fd = track(memfd_of("t-ram2", 16 * PG));
	REQUIRE(fd >= 0);
	REQUIRE_OK(iopt_map(S.t[0], iova, IOPT_PA(2, 0), 16 * PG,
			    IOPT_PROT_RW));
	REQUIRE_EQ(add_slot(S.sock, 2, SOFTHW_SLOT_RAM, fd), 0);
	REQUIRE_EQ(run(0, LUVMM_DMA_FILL, 0, iova, 16 * PG, PAT),
		   LUVMM_DMA_DONE);
	/* the VMM shrinks it under the device's mapping */
	REQUIRE(ftruncate(fd, (off_t)PG) == 0);
	REQUIRE_EQ(run(1, LUVMM_DMA_FILL, 0, iova + 2 * PG, PG, PAT),
		   LUVMM_DMA_FAULT);
	CHECK_FAULT(1, iova + 2 * PG, -EFAULT);
	REQUIRE_EQ(run(2, LUVMM_DMA_COPY, iova + 4 * PG, RW_IOVA, PG, 0),
		   LUVMM_DMA_FAULT);
	CHECK_FAULT(2, iova + 4 * PG, -EFAULT);
	/* still alive, still working */
	REQUIRE_EQ(run(3, LUVMM_DMA_COPY, iova, RW_IOVA, PG, 0),
		   LUVMM_DMA_DONE);
	CHECK(filled(RW_PA, PG, PAT));
	CHECK_EQ(del_slot(S.sock, 2), 0);
	tclose(fd);
}

static void shrunk_device_pages(void)
{
	struct softhw_stats st;
	uint64_t gen;

	REQUIRE_OK(sim_setup(NULL));
	REQUIRE_EQ(run(0, LUVMM_DMA_FILL, 0, RW_IOVA, PG, PAT), LUVMM_DMA_DONE);
	/* BAR0 shrinks under the device: it stops, the process lives on */
	munmap(S.bar, PG);
	S.bar = NULL;
	REQUIRE(ftruncate(S.bar_fd, 0) == 0);
	gen = publish(0);
	/* not a synchronization: rounds run every ms, let one hit the hole */
	poll(NULL, 0, 50);
	CHECK(ctxw(SOFTHW_CTX_ACK) < gen);	/* a dead engine acks nothing */
	REQUIRE_EQ(stats(S.sock, &st), 0);
	CHECK_EQ(st.jobs, 1);
	CHECK(alive(S.pid));

	/* a new BAR0: the device runs again */
	closep(&S.bar_fd);
	S.bar_fd = memfd_of("t-bar2", LUVMM_DMA_BAR0_SIZE);
	REQUIRE(S.bar_fd >= 0);
	S.bar = map_fd(S.bar_fd, PG);
	REQUIRE(S.bar);
	REQUIRE_EQ(attach(S.sock, S.ctx_fd, S.bar_fd, S.db_fd, S.irq_fd), 0);
	REQUIRE_OK(wait_ack(gen));
	REQUIRE_EQ(run(1, LUVMM_DMA_FILL, 0, RW_IOVA + PG, PG, PAT),
		   LUVMM_DMA_DONE);
	CHECK(filled(RW_PA + PG, PG, PAT));
	CHECK_EQ(S.bar->magic, LUVMM_DMA_MAGIC);

	/* the context page shrinks: STATS reads zeros, nothing dies */
	munmap(S.ctx, PG);
	S.ctx = NULL;
	REQUIRE(ftruncate(S.ctx_fd, 0) == 0);
	REQUIRE_EQ(stats(S.sock, &st), 0);
	CHECK_EQ(st.jobs, 0);
	CHECK_EQ(st.gen, 0);
	CHECK_EQ(st.slots, 2);
	CHECK(alive(S.pid));
}

/* ---- cases: the setup protocol ------------------------------------------- */

/* A raw message (header fields given) with fds: the reply status. */
static int raw(uint32_t magic, uint16_t version, uint16_t type, uint32_t plen,
	       const void *payload, size_t len, const int *fds, int nfds)
{
	uint8_t b[512];
	int ret;

	hdr(b, magic, version, type, plen);
	memcpy(b + SOFTHW_HDR_SIZE, payload, len);
	ret = send_raw(S.sock, b, SOFTHW_HDR_SIZE + len, fds, nfds);
	return ret ? ret : recv_reply(S.sock, NULL, 0);
}

static int add_payload(uint8_t *p, uint32_t slot, uint32_t kind)
{
	put_le32(p, slot);
	put_le32(p + 4, kind);
	return 8;
}

static void hostile_messages(void)
{
	uint8_t p[300] = { 0 }, b[SOFTHW_HDR_SIZE];
	int pipefd[2], two[2], efd, small, odd, unsealed, dirfd, ret;
	struct softhw_stats st;
	int fds_before, n, many[SOFTHW_FDS_MAX + 1];
	uint32_t i;

	REQUIRE_OK(sim_setup(NULL));
	fds_before = count_fds_of(S.pid);
	REQUIRE(fds_before > 0);
	REQUIRE(pipe2(pipefd, O_CLOEXEC) == 0);
	track(pipefd[0]);
	track(pipefd[1]);
	efd = track(eventfd(0, EFD_CLOEXEC));
	small = track(memfd_of("t-small", 100));
	odd = track(memfd_of("t-odd", PG + 1));
	unsealed = track(memfd_of("t-unsealed", 4 * PG));
	dirfd = track(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	REQUIRE(efd >= 0 && small >= 0 && odd >= 0 && unsealed >= 0 &&
		dirfd >= 0);
	two[0] = small;
	two[1] = odd;

	/* the header */
	CHECK_EQ(raw(0x12345678, 1, SOFTHW_STATS, 0, p, 0, NULL, 0), -EBADMSG);
	CHECK_EQ(raw(SOFTHW_MAGIC, 2, SOFTHW_STATS, 0, p, 0, NULL, 0), -ENOTSUP);
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, SOFTHW_STATS, 4, p, 0, NULL, 0), -EBADMSG);
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, 99, 0, p, 0, NULL, 0), -ENOTSUP);
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, 0, 0, p, 0, NULL, 0), -ENOTSUP);
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, SOFTHW_REPLY, 0, p, 0, NULL, 0), -ENOTSUP);
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, SOFTHW_STATS, 4, p, 4, NULL, 0), -EBADMSG);
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, SOFTHW_STATS, 284, p, 284, NULL, 0),
		 -EBADMSG);	/* longer than SOFTHW_MSG_MAX */
	hdr(b, SOFTHW_MAGIC, 1, SOFTHW_STATS, 0);
	b[12] = 1;		/* reserved word */
	CHECK_EQ(send_raw(S.sock, b, sizeof(b), NULL, 0), 0);
	CHECK_EQ(recv_reply(S.sock, NULL, 0), -EBADMSG);
	CHECK_EQ(send_raw(S.sock, b, 8, NULL, 0), 0);	/* truncated */
	CHECK_EQ(recv_reply(S.sock, NULL, 0), -EBADMSG);
	CHECK_EQ(send_raw(S.sock, b, 0, NULL, 0), 0);	/* empty */
	CHECK_EQ(recv_reply(S.sock, NULL, 0), -EBADMSG);

	/* fd counts and kinds */
	n = add_payload(p, 3, SOFTHW_SLOT_RAM);
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, SOFTHW_ADD_SLOT, n, p, n, NULL, 0), -EINVAL);
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, SOFTHW_ADD_SLOT, n, p, n, two, 2), -EINVAL);
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, SOFTHW_STATS, 0, p, 0, &efd, 1), -EINVAL);
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, SOFTHW_ADD_SLOT, 4, p, 4, &odd, 1),
		 -EBADMSG);
	for (i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = efd;
	CHECK_EQ(raw(SOFTHW_MAGIC, 1, SOFTHW_STATS, 0, p, 0, many,
		     SOFTHW_FDS_MAX + 1), -EBADMSG);	/* too many to take */
	CHECK_EQ(add_slot(S.sock, 3, SOFTHW_SLOT_RAM, pipefd[0]), -EINVAL);
	CHECK_EQ(add_slot(S.sock, 3, SOFTHW_SLOT_RAM, efd), -EINVAL);
	CHECK_EQ(add_slot(S.sock, 3, SOFTHW_SLOT_RAM, dirfd), -EINVAL);
	CHECK_EQ(add_slot(S.sock, 3, SOFTHW_SLOT_RAM, S.sock), -EINVAL);
	CHECK_EQ(add_slot(S.sock, 3, SOFTHW_SLOT_RAM, odd), -EINVAL);
	CHECK_EQ(add_slot(S.sock, 3, SOFTHW_SLOT_POOL, unsealed), -EINVAL);
	CHECK_EQ(add_slot(S.sock, 3, 0, small), -EINVAL);
	CHECK_EQ(add_slot(S.sock, 3, 3, small), -EINVAL);
	CHECK_EQ(add_slot(S.sock, IOPT_SLOT_MAX + 1, SOFTHW_SLOT_RAM, unsealed),
		 -EINVAL);
	CHECK_EQ(add_slot(S.sock, ~0U, SOFTHW_SLOT_RAM, unsealed), -EINVAL);
	CHECK_EQ(add_slot(S.sock, RAM_SLOT, SOFTHW_SLOT_RAM, unsealed), -EEXIST);
	CHECK_EQ(del_slot(S.sock, 4000), -ENOENT);
	CHECK_EQ(del_slot(S.sock, IOPT_SLOT_MAX + 1), -EINVAL);

	/* a bad ATTACH leaves the running device alone */
	CHECK_EQ(call(S.sock, SOFTHW_ATTACH, NULL, 0, two, 2, NULL, 0), -EINVAL);
	CHECK_EQ(attach(S.sock, small, S.bar_fd, S.db_fd, S.irq_fd), -EINVAL);
	CHECK_EQ(attach(S.sock, efd, S.bar_fd, S.db_fd, S.irq_fd), -EINVAL);
	CHECK_EQ(attach(S.sock, S.ctx_fd, pipefd[1], S.db_fd, S.irq_fd), -EINVAL);
	CHECK_EQ(attach(S.sock, S.ctx_fd, S.bar_fd, unsealed, S.irq_fd), -EINVAL);
	CHECK_EQ(attach(S.sock, S.ctx_fd, S.bar_fd, S.db_fd, pipefd[0]), -EINVAL);

	/* the slot limit: RAM 1 and the pool are two of SLOTS_MAX (64) */
	for (i = 0; i < 62; i++) {
		ret = add_slot(S.sock, 100 + i, SOFTHW_SLOT_RAM, unsealed);
		if (ret) {
			CHECK_EQ(ret, 0);
			break;
		}
	}
	CHECK_EQ(add_slot(S.sock, 200, SOFTHW_SLOT_RAM, unsealed), -ENOSPC);
	for (i = 0; i < 62; i++)
		CHECK_EQ(del_slot(S.sock, 100 + i), 0);

	/* still serving, nothing leaked, the device still runs */
	REQUIRE_EQ(stats(S.sock, &st), 0);
	CHECK_EQ(st.slots, 2);
	CHECK_EQ(count_fds_of(S.pid), fds_before);
	CHECK(alive(S.pid));
	REQUIRE_EQ(run(0, LUVMM_DMA_FILL, 0, RW_IOVA, PG, PAT), LUVMM_DMA_DONE);
	CHECK(filled(RW_PA, PG, PAT));
}

/* ---- cases: lifetime and command line ------------------------------------ */

static void fd_hangup_exits(void)
{
	struct softhw_stats st;
	int other;

	REQUIRE_OK(sim_setup(NULL));
	/* a live update hands the socket on: a second holder keeps it up */
	other = track(dup(S.sock));
	REQUIRE(other >= 0);
	closep(&S.sock);
	CHECK_EQ(stats(other, &st), 0);
	CHECK_EQ(st.slots, 2);
	CHECK(alive(S.pid));
	tclose(other);
	CHECK_EQ(wait_exit(S.pid, TIMEOUT_MS), 0);
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint64_t end = now_ms() + TIMEOUT_MS;
	int fd;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a)))
			return track(fd);
		close(fd);
		if (now_ms() >= end)
			return -ETIMEDOUT;
		poll(NULL, 0, 2);	/* not listening yet */
	}
}

static int spawn_socket(const char *opt)
{
	const char *args[] = { "--socket", S.path, opt, NULL };

	if (!S.dir[0]) {
		snprintf(S.dir, sizeof(S.dir), "/tmp/devsim-test-XXXXXX");
		if (!mkdtemp(S.dir))
			return -errno;
		snprintf(S.path, sizeof(S.path), "%s/sim.sock", S.dir);
	}
	S.pid = spawn(args, -1, false);
	return S.pid > 0 ? 0 : -ECHILD;
}

static void socket_mode(void)
{
	struct softhw_stats st;
	struct stat sb;
	int a, b;

	REQUIRE_OK(spawn_socket(NULL));
	a = connect_to(S.path);
	REQUIRE(a >= 0);
	b = connect_to(S.path);
	REQUIRE(b >= 0);
	REQUIRE(stat(S.path, &sb) == 0);
	CHECK(S_ISSOCK(sb.st_mode));
	CHECK_EQ(sb.st_mode & 0777, 0600);
	REQUIRE_OK(sim_setup_on(a));
	REQUIRE_EQ(run(0, LUVMM_DMA_FILL, 0, RW_IOVA, PG, PAT), LUVMM_DMA_DONE);
	REQUIRE_EQ(stats(b, &st), 0);
	CHECK_EQ(st.jobs, 1);
	CHECK_EQ(st.slots, 2);
	/* the attached connection goes: the device stays (no --exit-on-detach) */
	tclose(a);
	REQUIRE_EQ(stats(b, &st), 0);
	REQUIRE_EQ(run(1, LUVMM_DMA_FILL, 0, RW_IOVA + PG, PG, PAT),
		   LUVMM_DMA_DONE);
	tclose(b);
	CHECK(alive(S.pid));
	kill(S.pid, SIGTERM);
	CHECK_EQ(wait_exit(S.pid, TIMEOUT_MS), 0);
	CHECK(access(S.path, F_OK) < 0 && errno == ENOENT);
}

static void socket_exit_on_detach(void)
{
	struct softhw_stats st;
	int a, b;

	REQUIRE_OK(spawn_socket("--exit-on-detach"));
	a = connect_to(S.path);
	b = connect_to(S.path);
	REQUIRE(a >= 0 && b >= 0);
	REQUIRE_OK(sim_setup_on(a));
	tclose(b);	/* only asked nothing: no exit */
	REQUIRE_EQ(stats(a, &st), 0);
	CHECK(alive(S.pid));
	tclose(a);
	CHECK_EQ(wait_exit(S.pid, TIMEOUT_MS), 0);
	CHECK(access(S.path, F_OK) < 0 && errno == ENOENT);
}

static void command_line(void)
{
	static const struct { const char *args[5]; int status; } runs[] = {
		{ { "--help" }, 0 },
		{ { NULL }, 2 },
		{ { "--bogus" }, 2 },
		{ { "--fd" }, 2 },
		{ { "--fd", "abc" }, 2 },
		{ { "--fd", "3", "--socket", "/tmp/x" }, 2 },
		{ { "--fd", "3", "extra" }, 2 },
		{ { "--fd", "3", "--delay-us", "-5" }, 2 },
		{ { "--fd", "999" }, 1 },		/* not open */
		{ { "--fd", "0" }, 1 },			/* /dev/null */
		{ { "--socket", "/nonexistent-dir/x.sock" }, 1 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(runs); i++) {
		pid_t pid = spawn(runs[i].args, -1, true);

		REQUIRE(pid > 0);
		S.pid = pid;
		CHECK_EQ(wait_exit(pid, TIMEOUT_MS), runs[i].status);
		if (tap_case_failures())
			tap_diag("run %zu: %s %s", i,
				 runs[i].args[0] ? runs[i].args[0] : "",
				 runs[i].args[1] ? runs[i].args[1] : "");
	}
}

int main(int argc, char **argv)
{
	static const struct tap_case cases[] = {
		TAP_CASE(copy_and_fill),
		TAP_CASE(leaf_boundaries),
		TAP_CASE(permission_faults),
		TAP_CASE(translation_faults),
		TAP_CASE(dte_blocked),
		TAP_CASE(bad_jobs),
		TAP_CASE(counters),
		TAP_CASE(root_swap),
		TAP_CASE(root_swap_inflight),
		TAP_CASE(reattach_keeps_slots),
		TAP_CASE(ram_shrink_faults),
		TAP_CASE(shrunk_device_pages),
		TAP_CASE(hostile_messages),
		TAP_CASE(fd_hangup_exits),
		TAP_CASE(socket_mode),
		TAP_CASE(socket_exit_on_detach),
		TAP_CASE(command_line),
	};
	const char *b = getenv("LUVMM_BUILD");

	snprintf(devsim_bin, sizeof(devsim_bin), "%s/luvmm-devsim",
		 b && *b ? b : "build");
	if (access(devsim_bin, X_OK))
		tap_bail("%s missing: run make first", devsim_bin);
	sim_reset();
	tap_set_teardown(teardown);
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
