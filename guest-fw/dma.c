// SPDX-License-Identifier: MIT
/*
 * dma.c: the dma workload, the guest's driver for the DMA device behind the
 * paravirtual IOMMU (guest-fw/abi.h, docs/guest-abi.md section 7).
 *
 * After mapping its buffers (dmamap.c) it keeps every job slot of the
 * device busy with FILL and COPY jobs, verifies each finished job byte for
 * byte (plus a guard word on each side), checks that every job completes
 * exactly once, and has dmamap.c remap a destination buffer every
 * dma_churn jobs, so map/unmap requests never stop (what a live update's
 * warm path makes wait). Heartbeats, power-off and the serial status line
 * run on memcheck's schedule (workload_hb_tick); a DMA report goes out
 * every 50 ms.
 *
 * All of it runs at CPL3. The per-job path leaves the guest only for the
 * doorbell OUT (one per batch of submissions); the MSI handler (entry.S)
 * only counts. Completion is found by polling the slots, never by waiting
 * for the MSI: a live update may coalesce interrupts.
 */
#include "fw.h"

#define SZ_64K		0x10000ULL
#define SZ_1M		0x100000ULL
#define NSLOT		LUVMM_DMA_SLOTS

#define SRC_K		0x5bd1e9955bd1e995ULL	/* src word = gpa ^ SRC_K */
#define FILL_K		0xf11d0a11f11d0a11ULL
#define GUARD_K		0x6a09e667f3bcc908ULL
#define REPORT_US	50000		/* DMA report period */
#define LOST_US		2000000		/* a job this late is lost */
#define LINES_PER_S	8		/* error lines per second */
#define VERIFY_WORDS	512		/* TSC check every 4 KiB */

/* The guest's view of one slot's job. */
struct dma_job {
	uint64_t job;		/* in flight; 0: slot idle */
	uint64_t t_submit;
	uint64_t dev_done;	/* dev_progress() at submit */
	uint64_t src_gpa;	/* COPY: where the source bytes live */
	uint64_t src_iova;
	uint64_t dst_off;	/* in the slot's destination buffer */
	uint64_t len;
	uint64_t pattern;	/* FILL */
	uint32_t op;
	bool lost;		/* already counted as lost */
	bool churn;		/* remap the buffer before the next job */
};

static volatile struct luvmm_dma_bar *const bar =
	(volatile struct luvmm_dma_bar *)LUVMM_DMA_BAR0;

static struct {
	struct dma_job slot[NSLOT];
	uint64_t next_job;
	uint64_t jobs;		/* completed and verified */
	uint64_t mismatches;	/* bad payloads + protocol errors */
	uint64_t proto;		/* of which protocol errors */
	uint64_t faults;
	uint32_t inflight;
	uint32_t lines;		/* error lines left this second */
	bool stalled;		/* "stall" printed; cleared by a completion */
	uint64_t churn_at;	/* jobs count of the next churn */
	uint32_t churn_rr;
	uint64_t prev, maxgap;	/* gap tracking, like memcheck's */
	uint64_t next_slow, next_report, next_lines;
	uint32_t phase;		/* PHASE_*: what the slow path may do */
} dma;

#define PHASE_PROBING	0	/* no device known yet: no reports */
#define PHASE_MAPPING	1	/* device there, setting up */
#define PHASE_RUNNING	2	/* jobs flowing */

static const char *const op_name[] = { "?", "copy", "fill" };

uint32_t dma_owner(void)
{
	uint32_t i;

	for (i = 0; i < cfg.cpus; i++)
		if (pcpus[i].workload == LUVMM_WORKLOAD_DMA &&
		    (i == 0 || __atomic_load_n(&pcpus[i].online,
					       __ATOMIC_ACQUIRE)))
			return i;
	return FW_MAX_CPUS;
}

static uint64_t msis(struct pcpu *p)
{
	return __atomic_load_n(&p->msis, __ATOMIC_RELAXED);
}

/* Error lines: at most LINES_PER_S a second (counters count them all). */
bool dma_line_ok(void)
{
	if (!dma.lines)
		return false;
	dma.lines--;
	return true;
}

/* ---- gap tracking, heartbeats, reports ----------------------------------- */

static void send_report(struct pcpu *p)
{
	report(p, LUVMM_REPORT_DMA, dma.jobs, dma.mismatches, dma.faults,
	       dmamap.maps, dmamap.refused, msis(p));
}

/* The device's own count of jobs it finished, either way. */
static uint64_t dev_progress(void)
{
	return bar->jobs_done + bar->jobs_faulted;
}

/* Jobs in flight far too long while the device keeps finishing others. */
static void watchdog(struct pcpu *p, uint64_t now)
{
	uint32_t s, st;

	for (s = 0; s < NSLOT; s++) {
		struct dma_job *j = &dma.slot[s];

		if (!j->job || j->lost || now - j->t_submit < us_to_tsc(LOST_US))
			continue;
		st = __atomic_load_n(&bar->slot[s].status, __ATOMIC_ACQUIRE);
		if (st == LUVMM_DMA_DONE || st == LUVMM_DMA_FAULT)
			continue;
		if (dev_progress() == j->dev_done) {
			if (!dma.stalled)
				con_line(p, "dma stall job=%lu slot=%u status=%u "
					 "waited_ms=%lu", j->job, s, st,
					 tsc_to_us(now - j->t_submit) / 1000);
			dma.stalled = true;
			continue;
		}
		j->lost = true;
		dma.proto++;
		dma.mismatches++;
		if (dma_line_ok())
			con_line(p, "dma lost job=%lu slot=%u status=%u "
				 "waited_ms=%lu", j->job, s, st,
				 tsc_to_us(now - j->t_submit) / 1000);
	}
}

static __noinline void slow(struct pcpu *p, uint64_t now)
{
	if (now >= p->hb.next_hb) {
		p->hb.max_hb = MAX(p->hb.max_hb, dma.maxgap);
		dma.maxgap = 0;
		p->hb.progress = dma.jobs;
		workload_hb_tick(p, now);
	}
	if (now >= dma.next_lines) {
		dma.lines = LINES_PER_S;
		dma.next_lines = now + us_to_tsc(1000000);
	}
	if (now >= dma.next_report) {
		if (dma.phase == PHASE_RUNNING) {
			watchdog(p, now);
			dmamap_retry(p);
		}
		if (dma.phase != PHASE_PROBING)
			send_report(p);
		dma.next_report = now + us_to_tsc(REPORT_US);
	}
	dma.next_slow = MIN(MIN(p->hb.next_hb, dma.next_report),
			    dma.next_lines);
	dma.prev = rdtsc();	/* the time spent here is not a gap */
}

void dma_tick(struct pcpu *p)
{
	uint64_t now = rdtsc();

	if (now - dma.prev > dma.maxgap)
		dma.maxgap = now - dma.prev;
	dma.prev = now;
	if (unlikely(now >= dma.next_slow))
		slow(p, now);
}

void dma_status_line(struct pcpu *p)
{
	struct hb_state *s = &p->hb;

	con_line(p, "dma jobs=%lu mismatches=%lu faults=%lu maps=%lu "
		 "refused=%lu msis=%lu proto=%lu inflight=%u hb=%lu gap_us=%lu "
		 "maxgap_us=%lu ticks=%lu", dma.jobs, dma.mismatches,
		 dma.faults, dmamap.maps, dmamap.refused, msis(p), dma.proto,
		 dma.inflight, s->seq, tsc_to_us(s->max_ser),
		 tsc_to_us(s->max_all),
		 __atomic_load_n(&p->ticks, __ATOMIC_RELAXED));
}

/* ---- jobs ------------------------------------------------------------------ */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Words in [1, cap], log-uniform so that small jobs are common too. */
static uint64_t pick_words(uint64_t h, uint64_t cap)
{
	unsigned int lg = 0;

	while ((2ULL << lg) <= cap)
		lg++;
	return 1 + (h >> 8) % (1ULL << (h % (lg + 1)));
}

/* Everything about job n follows from n: op, lengths, offsets, pattern. */
static void job_plan(struct dma_job *j, uint32_t s, uint64_t n)
{
	const struct dma_buf *d = &dmamap.buf[DMA_BUF_DST(s)], *src;
	uint64_t h = mix(n), words, off;

	words = pick_words(h, MIN(d->size, SZ_1M) / 8);
	j->len = words * 8;
	j->dst_off = 8 * ((h >> 24) % (d->size / 8 - words + 1));
	j->op = h >> 63 ? LUVMM_DMA_COPY : LUVMM_DMA_FILL;
	j->pattern = n * LUVMM_MEMCHECK_MUL ^ FILL_K;
	j->src_gpa = j->src_iova = 0;
	src = &dmamap.buf[j->len <= SZ_64K && (h >> 62 & 1) ? DMA_BUF_SRC_M
							     : DMA_BUF_SRC_L];
	if (j->op != LUVMM_DMA_COPY)
		return;
	if (!src->mapped) {
		j->op = LUVMM_DMA_FILL;
		return;
	}
	off = 8 * ((h >> 40) % (src->size / 8 - words + 1));
	j->src_gpa = dmamap.base + src->off + off;
	j->src_iova = src->iova + off;
}

/* Expected word i of a job: FILL's pattern or the source's gpa ^ SRC_K. */
static inline uint64_t expect(const struct dma_job *j, uint64_t i)
{
	if (j->op == LUVMM_DMA_FILL)
		return j->pattern;
	return (j->src_gpa + 8 * i) ^ SRC_K;
}

static volatile uint64_t *dst_words(uint32_t s, const struct dma_job *j)
{
	const struct dma_buf *d = &dmamap.buf[DMA_BUF_DST(s)];

	return (volatile uint64_t *)(dmamap.base + d->off + j->dst_off);
}

/*
 * Destination words get the complement of what the job must write, and
 * the word on each side (inside the buffer) a guard: a job that writes
 * nothing, too little or too much shows.
 */
static void poison(struct pcpu *p, uint32_t s, const struct dma_job *j)
{
	const struct dma_buf *d = &dmamap.buf[DMA_BUF_DST(s)];
	volatile uint64_t *q = dst_words(s, j);
	uint64_t i, n = j->len / 8;

	if (j->dst_off)
		q[-1] = GUARD_K ^ j->job;
	if (j->dst_off + j->len < d->size)
		q[n] = GUARD_K ^ j->job;
	for (i = 0; i < n; i++) {
		q[i] = ~expect(j, i);
		if (!((i + 1) % VERIFY_WORDS))
			dma_tick(p);
	}
}

static void mismatch(struct pcpu *p, uint32_t s, const struct dma_job *j,
		     int64_t word, uint64_t expected, uint64_t found)
{
	const struct dma_buf *d = &dmamap.buf[DMA_BUF_DST(s)];
	uint64_t off = j->dst_off + 8 * word;

	dma.mismatches++;
	if (dma_line_ok())
		con_line(p, "dma mismatch job=%lu slot=%u op=%s iova=0x%lx "
			 "gpa=0x%lx off=%ld expected=0x%lx found=0x%lx", j->job,
			 s, op_name[j->op], d->iova + off,
			 dmamap.base + d->off + off, (long)(8 * word), expected,
			 found);
}

/* Every byte of the job and both guards; the first bad word is printed. */
static bool verify(struct pcpu *p, uint32_t s, const struct dma_job *j)
{
	const struct dma_buf *d = &dmamap.buf[DMA_BUF_DST(s)];
	volatile uint64_t *q = dst_words(s, j);
	uint64_t i, n = j->len / 8, v, e;

	for (i = 0; i < n; i++) {
		e = expect(j, i);
		v = q[i];
		if (unlikely(v != e)) {
			mismatch(p, s, j, i, e, v);
			return false;
		}
		if (!((i + 1) % VERIFY_WORDS))
			dma_tick(p);
	}
	e = GUARD_K ^ j->job;
	if (j->dst_off && (v = q[-1]) != e) {
		mismatch(p, s, j, -1, e, v);
		return false;
	}
	if (j->dst_off + j->len < d->size && (v = q[n]) != e) {
		mismatch(p, s, j, n, e, v);
		return false;
	}
	return true;
}

static void submit(struct pcpu *p, uint32_t s)
{
	volatile struct luvmm_dma_slot *hw = &bar->slot[s];
	struct dma_job *j = &dma.slot[s];
	uint64_t n = dma.next_job++;

	job_plan(j, s, n);
	/* before poison(): its TSC checks may run the watchdog */
	j->t_submit = rdtsc();
	j->dev_done = dev_progress();
	j->lost = false;
	j->job = n;
	poison(p, s, j);
	hw->op = j->op;
	hw->job = n;
	hw->src_iova = j->src_iova;
	hw->dst_iova = dmamap.buf[DMA_BUF_DST(s)].iova + j->dst_off;
	hw->len = j->len;
	hw->pattern = j->pattern;
	hw->fault_iova = 0;
	hw->done_job = 0;
	__atomic_store_n(&hw->status, LUVMM_DMA_SUBMITTED, __ATOMIC_RELEASE);
	dma.inflight++;
}

static void proto_error(struct pcpu *p, uint32_t s, const char *what,
			uint64_t job, uint64_t done_job, uint32_t st)
{
	dma.proto++;
	dma.mismatches++;
	if (dma_line_ok())
		con_line(p, "dma protocol reason=%s slot=%u job=%lu done_job=%lu "
			 "status=%u", what, s, job, done_job, st);
}

/* Slot s's job, if finished: check, count, free the slot. */
static bool reap(struct pcpu *p, uint32_t s)
{
	volatile struct luvmm_dma_slot *hw = &bar->slot[s];
	struct dma_job *j = &dma.slot[s];
	uint32_t st = __atomic_load_n(&hw->status, __ATOMIC_ACQUIRE);
	uint64_t done = hw->done_job;

	if (st != LUVMM_DMA_DONE && st != LUVMM_DMA_FAULT)
		return false;
	if (done != j->job) {
		proto_error(p, s, "done-job", j->job, done, st);
	} else if (st == LUVMM_DMA_FAULT) {
		dma.faults++;
		if (dma_line_ok())
			con_line(p, "dma fault job=%lu slot=%u op=%s "
				 "fault_iova=0x%lx src=0x%lx dst=0x%lx len=%lu",
				 j->job, s, op_name[j->op], hw->fault_iova,
				 j->src_iova, hw->dst_iova, j->len);
	} else if (verify(p, s, j)) {
		dma.jobs++;
	}
	hw->done_job = 0;
	__atomic_store_n(&hw->status, LUVMM_DMA_FREE, __ATOMIC_RELEASE);
	j->job = 0;
	dma.inflight--;
	dma.stalled = false;
	if (cfg.dma_churn && dma.jobs >= dma.churn_at) {
		dma.slot[dma.churn_rr++ % NSLOT].churn = true;
		dma.churn_at = dma.jobs + cfg.dma_churn;
	}
	return true;
}

/* A slot with no job of ours must not finish one: that is a repeat. */
static void check_idle(struct pcpu *p, uint32_t s)
{
	volatile struct luvmm_dma_slot *hw = &bar->slot[s];
	uint32_t st = __atomic_load_n(&hw->status, __ATOMIC_ACQUIRE);

	if (st == LUVMM_DMA_FREE)
		return;
	proto_error(p, s, "idle-slot", 0, hw->done_job, st);
	hw->done_job = 0;
	__atomic_store_n(&hw->status, LUVMM_DMA_FREE, __ATOMIC_RELEASE);
}

static __noreturn void dma_loop(struct pcpu *p)
{
	for (;;) {
		uint32_t s, irq;
		bool ring = false, busy = false;

		irq = __atomic_load_n(&bar->irq_status, __ATOMIC_ACQUIRE);
		if (irq)
			__atomic_fetch_and(&bar->irq_status, ~irq,
					   __ATOMIC_ACQ_REL);
		for (s = 0; s < NSLOT; s++) {
			if (dma.slot[s].job) {
				if (!reap(p, s))
					continue;
				busy = true;
			} else {
				check_idle(p, s);
			}
			if (dma.slot[s].churn) {
				dma.slot[s].churn = false;
				dmamap_churn(p, s);
			}
			if (dmamap.buf[DMA_BUF_DST(s)].mapped) {
				submit(p, s);
				ring = true;
			}
		}
		if (ring)
			dma_out32(LUVMM_PORT_DMA_DOORBELL, 1);
		dma_tick(p);
		if (!busy)
			cpu_relax();
	}
}

/* ---- setup ----------------------------------------------------------------- */

static void src_fill(struct pcpu *p, const struct dma_buf *b)
{
	volatile uint64_t *q = (volatile uint64_t *)(dmamap.base + b->off);
	uint64_t i;

	for (i = 0; i < b->size / 8; i++) {
		q[i] = (uint64_t)&q[i] ^ SRC_K;
		if (!((i + 1) % VERIFY_WORDS))
			dma_tick(p);
	}
}

static void no_device(struct pcpu *p, const char *why, uint64_t val)
{
	con_line(p, "dma: no device (reason=%s value=0x%lx)", why, val);
	report(p, LUVMM_REPORT_DMA, 0, 0, 0, 0, 0, 0);
}

/* Buffers mapped, or the reason there is no device. */
static bool setup(struct pcpu *p)
{
	uint32_t i, magic = bar->magic, version = bar->version, st;
	struct dma_buf *b;

	if (magic != LUVMM_DMA_MAGIC) {
		no_device(p, "bar-magic", magic);
		return false;
	}
	if (version != 1) {
		no_device(p, "bar-version", version);
		return false;
	}
	dmamap_layout(cfg.dma_base);
	src_fill(p, &dmamap.buf[DMA_BUF_SRC_L]);
	src_fill(p, &dmamap.buf[DMA_BUF_SRC_M]);
	for (i = 0; i < DMA_NBUF; i++) {
		b = &dmamap.buf[i];
		st = dmamap_buf(p, b, DMAMAP_IOVA_A + b->off, i == 0);
		if (i == 0 && dmamap_is_nodev(st)) {
			no_device(p, st == DMAMAP_UNANSWERED ? "iommu-no-answer"
				  : "iommu-enodev", st);
			return false;
		}
		dma.phase = PHASE_MAPPING;
	}
	dmamap_extra(p, cfg.dma_maps, cfg.dma_size);
	for (i = 0; i < NSLOT; i++) {
		st = bar->slot[i].status;
		if (st != LUVMM_DMA_FREE) {
			con_line(p, "dma warn reason=slot-not-free slot=%u "
				 "status=%u", i, st);
			bar->slot[i].status = LUVMM_DMA_FREE;
		}
	}
	__atomic_store_n(&bar->irq_status, 0, __ATOMIC_RELEASE);
	/* destination first: a vector enables the MSI */
	dma_out32(LUVMM_PORT_DMA_MSI_DEST, p->apic_id);
	dma_out32(LUVMM_PORT_DMA_MSI_VEC, VEC_DMA);
	return true;
}

void dma_run(struct pcpu *p)
{
	uint64_t now = rdtsc();

	dma.next_job = 1;
	dma.lines = LINES_PER_S;
	dma.churn_at = cfg.dma_churn;
	dma.prev = now;
	dma.next_lines = now + us_to_tsc(1000000);
	dma.next_report = now + us_to_tsc(REPORT_US);
	dma.next_slow = MIN(MIN(p->hb.next_hb, dma.next_report),
			    dma.next_lines);
	if (!setup(p))
		return;
	dma.phase = PHASE_RUNNING;
	con_line(p, "dma ready slots=%u maps=%lu refused=%lu iova=0x%lx",
		 NSLOT, dmamap.maps, dmamap.refused, (uint64_t)DMAMAP_IOVA_A);
	send_report(p);
	dma.prev = rdtsc();
	dma_loop(p);
}
