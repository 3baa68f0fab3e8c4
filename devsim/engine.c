// SPDX-License-Identifier: MIT
/*
 * engine.c: the DMA engine of the device simulator. Owns the attached
 * device (context page, BAR0, doorbell and interrupt eventfds) and the
 * "dma" thread that runs the guest's jobs.
 *
 * A round: scan the 16 job slots for SUBMITTED, claim each (BUSY), run it,
 * publish DONE or FAULT, set its irq_status bit; then raise one MSI for
 * everything the round finished and acknowledge the current DTE
 * generation. Rounds run when the doorbell rings and at least every
 * SOFTHW_IDLE_POLL_MS while idle (so a root change is acknowledged).
 *
 * A job loads GEN, then the DTE, once, and walks that root for all its
 * accesses; ACK only moves to a GEN once no job that loaded an older DTE
 * runs (a single engine thread: after a job, the GEN it loaded; between
 * jobs, the current GEN).
 *
 * Fault model: every access is translated at its IOVA, one 4 KiB page at
 * a time, with IOPT_PROT_READ for the source and IOPT_PROT_WRITE for the
 * destination; the PA must lie inside a RAM slot. Both sides of a page are
 * translated before any byte of it moves, so a faulting job wrote the pages
 * before the faulting one and nothing from that page on. A RAM memfd the
 * VMM shrank under a job raises SIGBUS, which busguard.c turns into a
 * -EFAULT fault of that job (that one page may be partly written).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../guest-fw/abi.h"
#include "../vmm/log.h"
#include "busguard.h"
#include "engine.h"

#define DMA_LEN_MAX	(1 * MiB)	/* guest-fw/abi.h: struct luvmm_dma_slot */
#define PAGE_MASK	(IOPT_PAGE_SIZE - 1)

#define LOAD(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define ADD(x, v)	((void)__atomic_fetch_add(&(x), (v), __ATOMIC_RELAXED))

/* What the VMM attached. Changed only while the thread is stopped. */
struct dev {
	uint64_t *ctx;			/* context page; NULL: detached */
	struct luvmm_dma_bar *bar;	/* BAR0 (guest-writable) */
	int doorbell_fd, irq_fd;
};

struct engine {
	struct slots *slots;
	uint64_t delay_us;		/* sleep before each job (tests) */
	int stop_fd;			/* eventfd: main asks the thread to end */
	bool stopping;			/* the same, for the round (atomic) */
	struct dev dev;
	pthread_t thread;
	bool running;
	/* engine thread only */
	bool locked;			/* holds the slots read lock */
	bool msi_pending;		/* jobs ended since the last MSI */
	uint8_t fill[IOPT_PAGE_SIZE + 8]; /* the FILL pattern, repeated */
};

/* One job, read from its slot once (the guest may rewrite the slot). */
struct job {
	uint32_t op;
	uint64_t id, src, dst, len, pattern;
	uint64_t gen;			/* GEN loaded before the DTE */
	int dte_err;			/* 0, or why the DTE gives no root */
	struct iopt_tree tree;
	uint64_t xlates, bytes;
	uint64_t fault_iova;
};

/* ---- one job ------------------------------------------------------------- */

static void job_read(const struct luvmm_dma_slot *s, struct job *j)
{
	j->op = LOAD(s->op);
	j->id = LOAD(s->job);
	j->src = LOAD(s->src_iova);
	j->dst = LOAD(s->dst_iova);
	j->len = LOAD(s->len);
	j->pattern = LOAD(s->pattern);
}

static bool job_valid(const struct job *j)
{
	return (j->op == LUVMM_DMA_COPY || j->op == LUVMM_DMA_FILL) &&
	       j->len && j->len <= DMA_LEN_MAX && IS_ALIGNED(j->len, 8);
}

/* Translate n bytes at iova (inside one page) to a host pointer in RAM. */
static int job_xlate(struct engine *e, struct job *j, uint64_t iova,
		     unsigned int access, size_t n, void **out)
{
	struct iopt_xlate x;
	int ret;

	j->fault_iova = iova;
	if (j->dte_err)
		return j->dte_err;
	j->xlates++;
	ret = iopt_translate(&j->tree, iova, access, &x);
	if (ret)
		return ret;
	/* a PA in a pool, an unknown slot or past the RAM is a fault too */
	*out = slots_ram_ptr(e->slots, x.pa, n);
	return *out ? 0 : -EFAULT;
}

/* Page by page; slots read lock held. */
static int job_move(struct engine *e, struct job *j)
{
	uint64_t off, n;
	void *src, *dst;
	uintptr_t addr;
	int ret;

	for (off = 0; off < j->len; off += n) {
		n = MIN(j->len - off, IOPT_PAGE_SIZE - ((j->dst + off) & PAGE_MASK));
		if (j->op == LUVMM_DMA_COPY) {
			n = MIN(n, IOPT_PAGE_SIZE - ((j->src + off) & PAGE_MASK));
			ret = job_xlate(e, j, j->src + off, IOPT_PROT_READ, n,
					&src);
			if (ret)
				return ret;
		} else {
			/* byte k of the job is byte k % 8 of the pattern */
			src = e->fill + off % 8;
		}
		ret = job_xlate(e, j, j->dst + off, IOPT_PROT_WRITE, n, &dst);
		if (ret)
			return ret;
		ret = busguard_move(dst, src, n, &addr);
		if (ret) {
			/* job_xlate left fault_iova at the destination */
			if (addr - (uintptr_t)src < n)
				j->fault_iova = j->src + off;
			return ret;
		}
		j->bytes += n;
	}
	return 0;
}

static void raise_msi(struct engine *e)
{
	uint64_t one = 1;

	e->msi_pending = false;
	/* counted first: whoever took the interrupt sees it counted */
	ADD(e->dev.ctx[SOFTHW_CTX_MSIS], 1);
	/* only a counter at its maximum refuses, and the VMM drains it */
	if (write(e->dev.irq_fd, &one, sizeof(one)) != sizeof(one)) {
		ADD(e->dev.ctx[SOFTHW_CTX_MSIS], (uint64_t)-1);
		log_ratelimited(LOG_WARN, "dma: raise MSI: %s", strerror(errno));
	}
}

static void job_delay(struct engine *e)
{
	struct pollfd p = { .fd = e->stop_fd, .events = POLLIN };
	struct timespec ts = {
		.tv_sec = (time_t)(e->delay_us / 1000000),
		.tv_nsec = (long)(e->delay_us % 1000000) * 1000,
	};

	/* a finished job's interrupt does not wait for this one */
	if (e->msi_pending)
		raise_msi(e);
	/* a stop request ends the sleep; the job still runs */
	(void)ppoll(&p, 1, &ts, NULL);
}

static void job_finish(struct engine *e, struct luvmm_dma_slot *s,
		       unsigned int idx, const struct job *j, int err)
{
	uint64_t *ctx = e->dev.ctx;
	struct luvmm_dma_bar *bar = e->dev.bar;

	/* counters first: whoever sees the status sees them counted */
	ADD(bar->bytes, j->bytes);
	ADD(ctx[SOFTHW_CTX_BYTES], j->bytes);
	ADD(ctx[SOFTHW_CTX_XLATES], j->xlates);
	if (err) {
		ADD(bar->jobs_faulted, 1);
		STORE(ctx[SOFTHW_CTX_LAST_FAULT], j->fault_iova);
		STORE(ctx[SOFTHW_CTX_LAST_ERR], (uint64_t)(int64_t)err);
		ADD(ctx[SOFTHW_CTX_FAULTS], 1);
		log_ratelimited(LOG_DEBUG,
				"dma: slot %u job %" PRIu64 " op %u faulted at iova 0x%"
				PRIx64 ": %s", idx, j->id, j->op, j->fault_iova,
				strerror(-err));
	} else {
		ADD(bar->jobs_done, 1);
		ADD(ctx[SOFTHW_CTX_JOBS], 1);
	}
	STORE(s->fault_iova, err ? j->fault_iova : 0);
	STORE(s->done_job, j->id);
	__atomic_store_n(&s->status, err ? LUVMM_DMA_FAULT : LUVMM_DMA_DONE,
			 __ATOMIC_RELEASE);
	__atomic_fetch_or(&bar->irq_status, 1U << idx, __ATOMIC_RELEASE);
	e->msi_pending = true;
	/* last: whoever sees this ACK also sees the job finished */
	__atomic_store_n(&ctx[SOFTHW_CTX_ACK], j->gen, __ATOMIC_RELEASE);
}

/* The slot is ours (BUSY). */
static void job_run(struct engine *e, struct luvmm_dma_slot *s,
		    unsigned int idx)
{
	struct job j;
	uint64_t root = 0;
	unsigned int k;
	int err;

	memset(&j, 0, sizeof(j));
	job_read(s, &j);
	j.gen = __atomic_load_n(&e->dev.ctx[SOFTHW_CTX_GEN], __ATOMIC_ACQUIRE);
	j.dte_err = iopt_root_load(&e->dev.ctx[SOFTHW_CTX_DTE], &root);
	j.tree.ops = &slots_pool_ops;
	j.tree.ctx = e->slots;
	j.tree.root = root;
	if (e->delay_us)
		job_delay(e);
	if (!job_valid(&j)) {
		err = -EINVAL;
	} else {
		if (j.op == LUVMM_DMA_FILL)
			for (k = 0; k < sizeof(e->fill); k += 8)
				memcpy(e->fill + k, &j.pattern, 8);
		/* only RAM (guarded) and sealed pools are touched inside */
		slots_read_lock(e->slots);
		e->locked = true;	/* for the outer SIGBUS guard */
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		err = job_move(e, &j);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		e->locked = false;
		slots_read_unlock(e->slots);
	}
	job_finish(e, s, idx, &j, err);
}

/* ---- the thread ---------------------------------------------------------- */

static void ack_current(struct engine *e)
{
	uint64_t *ctx = e->dev.ctx;
	uint64_t gen = __atomic_load_n(&ctx[SOFTHW_CTX_GEN], __ATOMIC_ACQUIRE);

	/* no job runs now: every later one loads this GEN or a newer one */
	if (LOAD(ctx[SOFTHW_CTX_ACK]) != gen)
		__atomic_store_n(&ctx[SOFTHW_CTX_ACK], gen, __ATOMIC_RELEASE);
}

static void engine_round(struct engine *e)
{
	struct luvmm_dma_bar *bar = e->dev.bar;
	unsigned int i;

	for (i = 0; i < LUVMM_DMA_SLOTS; i++) {
		struct luvmm_dma_slot *s = &bar->slot[i];
		uint32_t st = LUVMM_DMA_SUBMITTED;

		/* asked to stop: finish the job running, take no new one */
		if (__atomic_load_n(&e->stopping, __ATOMIC_RELAXED))
			break;
		/* acquire: the job's fields were written before SUBMITTED */
		if (__atomic_load_n(&s->status, __ATOMIC_ACQUIRE) != st)
			continue;
		if (!__atomic_compare_exchange_n(&s->status, &st,
						 LUVMM_DMA_BUSY, false,
						 __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;	/* the guest took it back */
		job_run(e, s, i);
	}
	if (e->msi_pending)
		raise_msi(e);
	ack_current(e);
}

static void engine_loop(struct engine *e)
{
	struct pollfd p[2] = {
		{ .fd = e->stop_fd, .events = POLLIN },
		{ .fd = e->dev.doorbell_fd, .events = POLLIN },
	};
	uint64_t v;

	for (;;) {
		if (poll(p, 2, SOFTHW_IDLE_POLL_MS) < 0) {
			p[0].revents = p[1].revents = 0;
			if (errno != EINTR)
				log_ratelimited(LOG_ERR, "dma: poll: %s",
						strerror(errno));
		}
		if (p[0].revents)
			return;
		/* nonblocking: a spurious wake-up just reads nothing */
		if ((p[1].revents & POLLIN) &&
		    read(e->dev.doorbell_fd, &v, sizeof(v)) < 0 &&
		    errno != EAGAIN)
			log_ratelimited(LOG_WARN, "dma: doorbell: %s",
					strerror(errno));
		engine_round(e);
	}
}

static void engine_loop_fn(void *e, void *unused __unused)
{
	engine_loop(e);
}

static void *engine_main(void *arg)
{
	struct engine *e = arg;
	struct pollfd p = { .fd = e->stop_fd, .events = POLLIN };

	/*
	 * Outer guard: only the context page or BAR0 should fault here (RAM
	 * has its own guard, pools are shrink-sealed). The device is dead
	 * until re-attached, but the main thread must not block on the lock.
	 */
	if (busguard_run(engine_loop_fn, e, NULL))
		return NULL;
	if (e->locked) {
		e->locked = false;
		slots_read_unlock(e->slots);
	}
	log_err("dma: context page or BAR0 vanished (memfd shrunk?): "
		"device stopped until the next ATTACH");
	while (poll(&p, 1, -1) <= 0)
		;
	return NULL;
}

static int engine_start(struct engine *e)
{
	sigset_t all, old;
	int ret;

	/* the thread takes no signals but the faults it may cause */
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&e->thread, NULL, engine_main, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return -ret;
	pthread_setname_np(e->thread, "dma");
	e->running = true;
	return 0;
}

static void engine_stop(struct engine *e)
{
	uint64_t v = 1;

	if (!e->running)
		return;
	__atomic_store_n(&e->stopping, true, __ATOMIC_RELAXED);
	if (write(e->stop_fd, &v, sizeof(v)) != sizeof(v))
		abort();	/* a fresh eventfd at 0 always takes 1 */
	pthread_join(e->thread, NULL);
	e->running = false;
	e->stopping = false;
	if (read(e->stop_fd, &v, sizeof(v)) != sizeof(v))
		abort();
}

/* ---- attach -------------------------------------------------------------- */

static bool is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:[eventfd]");
}

/* Map the first 4 KiB of a memfd read-write. */
static int map_page(int fd, void **out)
{
	struct stat sb;
	void *p;

	if (fstat(fd, &sb) < 0)
		return -errno;
	if (!S_ISREG(sb.st_mode) || fcntl(fd, F_GET_SEALS) < 0 ||
	    sb.st_size < (off_t)IOPT_PAGE_SIZE)
		return -EINVAL;
	p = mmap(NULL, IOPT_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

static void dev_release(struct dev *d, bool close_fds)
{
	if (d->ctx)
		munmap(d->ctx, IOPT_PAGE_SIZE);
	if (d->bar)
		munmap(d->bar, IOPT_PAGE_SIZE);
	if (close_fds) {
		if (d->doorbell_fd >= 0)
			close(d->doorbell_fd);
		if (d->irq_fd >= 0)
			close(d->irq_fd);
	}
	memset(d, 0, sizeof(*d));
	d->doorbell_fd = d->irq_fd = -1;
}

/* Map and check the new device; nothing of the running one changes. */
static int dev_open(struct dev *d, int ctx_fd, int bar_fd, int doorbell_fd,
		    int irq_fd)
{
	void *ctx, *bar;
	int fl, ret;

	if (!is_eventfd(doorbell_fd) || !is_eventfd(irq_fd))
		return -EINVAL;
	ret = map_page(ctx_fd, &ctx);
	if (ret)
		return ret;
	ret = map_page(bar_fd, &bar);
	if (ret)
		goto err_unmap_ctx;
	/* the device is the doorbell's only reader (softhw.h) */
	fl = fcntl(doorbell_fd, F_GETFL);
	if (fl < 0 || fcntl(doorbell_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		ret = -errno;
		goto err_unmap_bar;
	}
	d->ctx = ctx;
	d->bar = bar;
	d->doorbell_fd = doorbell_fd;
	d->irq_fd = irq_fd;
	return 0;

err_unmap_bar:
	munmap(bar, IOPT_PAGE_SIZE);
err_unmap_ctx:
	munmap(ctx, IOPT_PAGE_SIZE);
	return ret;
}

/* A VMM that restarted may re-attach a BAR with jobs in flight. */
static void bar_init(void *arg, void *unused __unused)
{
	struct luvmm_dma_bar *bar = arg;

	if (LOAD(bar->magic) != LUVMM_DMA_MAGIC || LOAD(bar->version) != 1) {
		STORE(bar->version, 1);
		__atomic_store_n(&bar->magic, LUVMM_DMA_MAGIC,
				 __ATOMIC_RELEASE);
	}
}

int engine_attach(struct engine *e, int ctx_fd, int bar_fd, int doorbell_fd,
		  int irq_fd)
{
	struct dev nd = { .doorbell_fd = -1, .irq_fd = -1 }, old;
	int ret, ret2;

	ret = dev_open(&nd, ctx_fd, bar_fd, doorbell_fd, irq_fd);
	if (ret)
		return ret;
	if (!busguard_run(bar_init, nd.bar, NULL)) {
		dev_release(&nd, false);
		return -EINVAL;	/* shrunk since dev_open looked */
	}
	engine_stop(e);		/* the job running finishes first */
	old = e->dev;
	e->dev = nd;
	ret = engine_start(e);
	if (ret) {
		e->dev = old;
		ret2 = old.ctx ? engine_start(e) : 0;
		if (ret2)
			log_err("dma: restart after a failed attach: %s",
				strerror(-ret2));
		dev_release(&nd, false);	/* the caller closes the fds */
		return ret;
	}
	dev_release(&old, true);
	return 0;
}

static void stats_read(void *ctx_page, void *arg)
{
	const uint64_t *ctx = ctx_page;
	struct softhw_stats *out = arg;

	out->jobs = LOAD(ctx[SOFTHW_CTX_JOBS]);
	out->faults = LOAD(ctx[SOFTHW_CTX_FAULTS]);
	out->xlates = LOAD(ctx[SOFTHW_CTX_XLATES]);
	out->bytes = LOAD(ctx[SOFTHW_CTX_BYTES]);
	out->msis = LOAD(ctx[SOFTHW_CTX_MSIS]);
	out->last_fault = LOAD(ctx[SOFTHW_CTX_LAST_FAULT]);
	out->last_err = LOAD(ctx[SOFTHW_CTX_LAST_ERR]);
	out->dte = LOAD(ctx[SOFTHW_CTX_DTE]);
	out->gen = LOAD(ctx[SOFTHW_CTX_GEN]);
	out->ack = LOAD(ctx[SOFTHW_CTX_ACK]);
}

void engine_get_stats(const struct engine *e, struct softhw_stats *out)
{
	memset(out, 0, sizeof(*out));
	/* a context page the VMM shrank reads as zeros */
	if (e->dev.ctx && !busguard_run(stats_read, e->dev.ctx, out))
		memset(out, 0, sizeof(*out));
}

int engine_create(struct slots *slots, uint64_t delay_us, struct engine **out)
{
	struct engine *e;
	int ret;

	ret = busguard_install();
	if (ret)
		return ret;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->slots = slots;
	e->delay_us = delay_us;
	e->dev.doorbell_fd = e->dev.irq_fd = -1;
	e->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->stop_fd < 0) {
		ret = -errno;
		goto err_free;
	}
	*out = e;
	return 0;

err_free:
	free(e);
	return ret;
}

void engine_destroy(struct engine *e)
{
	if (!e)
		return;
	engine_stop(e);
	dev_release(&e->dev, true);
	close(e->stop_fd);
	free(e);
}
