// SPDX-License-Identifier: MIT
/*
 * workload.c: what each vCPU does once booted, all at CPL3: heartbeat (a
 * tight rdtsc loop measuring the largest gap, i.e. how long the vCPU was
 * not running), memcheck (verify-and-rewrite a memory region, heartbeating
 * on the same schedule), dma (dma.c, same heartbeats) and idle (hlt at
 * CPL0). Plus the test hooks: power-off after poweroff_ms, and fault=ud|pf.
 *
 * Gap measurements exclude fw's own exits: after anything that leaves the
 * guest (a report, a serial line) the loop re-reads the TSC before it goes
 * on measuring.
 */
#include "fw.h"

#define MC_CHUNK_WORDS	512	/* 4 KiB between TSC checks */
#define MC_LINES_PER_PASS 8	/* mismatch lines; reports are not limited */
#define QEMU_DEBUG_EXIT	0xf4
#define FAULT_PF_ADDR	(512ULL << 30)	/* past every mapping fw makes */

static const char *const wl_name[LUVMM_WORKLOAD_MAX] = {
	[LUVMM_WORKLOAD_IDLE] = "idle",
	[LUVMM_WORKLOAD_HEARTBEAT] = "heartbeat",
	[LUVMM_WORKLOAD_MEMCHECK] = "memcheck",
	[LUVMM_WORKLOAD_DMA] = "dma",
};

static uint64_t ticks(struct pcpu *p)
{
	return __atomic_load_n(&p->ticks, __ATOMIC_RELAXED);
}

static __noreturn void poweroff(struct pcpu *p)
{
	con_line(p, "poweroff status=%u", cfg.poweroff_status);
	report_stage(p, LUVMM_STAGE_POWEROFF, cfg.poweroff_status);
	outb(LUVMM_PORT_POWEROFF, cfg.poweroff_status);
	/* QEMU's isa-debug-exit: exits with (status << 1) | 1 */
	outb(QEMU_DEBUG_EXIT, cfg.poweroff_status);
	k_halt();
}

static uint64_t poweroff_tsc(struct pcpu *p, uint64_t start)
{
	if (p->index || !cfg.has_poweroff)
		return 0;
	return start + us_to_tsc(cfg.poweroff_ms * 1000) + 1;
}

static void status_line(struct pcpu *p)
{
	struct hb_state *s = &p->hb;

	if (p->workload == LUVMM_WORKLOAD_HEARTBEAT)
		con_line(p, "hb seq=%lu gap_us=%lu maxgap_us=%lu ticks=%lu",
			 s->seq, tsc_to_us(s->max_ser), tsc_to_us(s->max_all),
			 ticks(p));
	else if (p->workload == LUVMM_WORKLOAD_DMA)
		dma_status_line(p);
	else
		con_line(p, "memcheck pass=%lu gen=%lu mismatches=%lu hb=%lu "
			 "gap_us=%lu maxgap_us=%lu ticks=%lu pass_us=%lu",
			 s->progress, s->mc_gen, s->mc_mismatches, s->seq,
			 tsc_to_us(s->max_ser), tsc_to_us(s->max_all),
			 ticks(p), tsc_to_us(s->mc_pass_cycles));
}

/*
 * The slow path, once per hb_period_us: heartbeat report, maybe a serial
 * line, maybe power-off. Returns a fresh TSC so that the caller's gap
 * tracking skips the time spent here.
 */
__noinline uint64_t workload_hb_tick(struct pcpu *p, uint64_t now)
{
	struct hb_state *s = &p->hb;
	uint64_t hb_cycles = us_to_tsc(cfg.hb_period_us);
	uint64_t ser_cycles = us_to_tsc(cfg.serial_period_ms * 1000);

	s->seq++;
	/* exits of the previous slow path count in this heartbeat */
	s->max_hb = MAX(s->max_hb, s->max_exit);
	s->max_exit = 0;
	/* a long gap gets its own serial line at once: the way to see a
	 * stall where nothing reads the report port (under QEMU) */
	if (cfg.gap_log_us && s->max_hb >= us_to_tsc(cfg.gap_log_us))
		con_line(p, "gap us=%lu hb=%lu", tsc_to_us(s->max_hb), s->seq);
	s->max_all = MAX(s->max_all, s->max_hb);
	s->max_ser = MAX(s->max_ser, s->max_hb);
	report(p, LUVMM_REPORT_HEARTBEAT, s->seq, s->max_hb, s->max_all,
	       ticks(p), now, s->progress);
	s->max_hb = 0;
	/* after a long stop, resume the schedule instead of catching up */
	s->next_hb += hb_cycles;
	if (s->next_hb <= now)
		s->next_hb = now + hb_cycles;
	if (ser_cycles && now >= s->next_ser) {
		status_line(p);
		s->max_ser = 0;
		s->next_ser += ser_cycles;
		if (s->next_ser <= now)
			s->next_ser = now + ser_cycles;
	}
	if (p->index == 0 && cfg.has_poweroff && now >= p->hb.next_poweroff)
		poweroff(p);
	return rdtsc();
}

static __noreturn void heartbeat_run(struct pcpu *p)
{
	uint64_t prev = rdtsc(), maxgap = 0, next = p->hb.next_hb;

	for (;;) {
		uint64_t now = rdtsc();

		if (now - prev > maxgap)
			maxgap = now - prev;
		prev = now;
		if (unlikely(now >= next)) {
			p->hb.max_hb = maxgap;
			prev = workload_hb_tick(p, now);
			maxgap = 0;
			next = p->hb.next_hb;
		}
	}
}

/* Gap tracking at chunk granularity for memcheck. */
struct mc_clock {
	uint64_t prev;
	uint64_t maxgap;
};

static inline void mc_poll(struct pcpu *p, struct mc_clock *c)
{
	uint64_t now = rdtsc();

	if (now - c->prev > c->maxgap)
		c->maxgap = now - c->prev;
	c->prev = now;
	if (unlikely(now >= p->hb.next_hb)) {
		p->hb.max_hb = MAX(p->hb.max_hb, c->maxgap);
		c->prev = workload_hb_tick(p, now);
		c->maxgap = 0;
	}
}

static __noinline void mc_mismatch(struct pcpu *p, uint64_t gpa,
				   uint64_t expected, uint64_t found)
{
	struct hb_state *s = &p->hb;

	s->mc_mismatches++;
	report(p, LUVMM_REPORT_MISMATCH, gpa, expected, found,
	       s->mc_mismatches, 0, 0);
	if (p->mc_lines++ < MC_LINES_PER_PASS)
		con_line(p, "mismatch addr=0x%lx expected=0x%lx found=0x%lx",
			 gpa, expected, found);
}

/* Check every word against kcur's pattern, rewrite it for knext's. */
static uint64_t mc_chunk(struct pcpu *p, volatile uint64_t *q, uint64_t kcur,
			 uint64_t knext)
{
	volatile uint64_t *e = q + MC_CHUNK_WORDS;
	uint64_t bad = 0;

	for (; q < e; q++) {
		uint64_t gpa = (uint64_t)q, v = *q;

		if (unlikely(v != (gpa ^ kcur))) {
			mc_mismatch(p, gpa, gpa ^ kcur, v);
			bad++;
		}
		*q = gpa ^ knext;
	}
	return bad;
}

static void mc_fill(volatile uint64_t *q, uint64_t k)
{
	volatile uint64_t *e = q + MC_CHUNK_WORDS;

	for (; q < e; q++)
		*q = (uint64_t)q ^ k;
}

/*
 * luvmm_memcheck_word(gpa, gen) == gpa ^ ((gen + 1) * MUL): one XOR per
 * word with a per-pass constant.
 */
static __noreturn void memcheck_run(struct pcpu *p)
{
	volatile uint64_t *base = (volatile uint64_t *)p->mc_base;
	volatile uint64_t *end = base + p->mc_size / 8, *q;
	struct hb_state *s = &p->hb;
	struct mc_clock c = { rdtsc(), 0 };

	for (q = base; q < end; q += MC_CHUNK_WORDS) {
		mc_fill(q, luvmm_memcheck_word(0, 0));
		mc_poll(p, &c);
	}
	for (;;) {
		uint64_t t0 = rdtsc(), kcur, knext;

		kcur = luvmm_memcheck_word(0, s->mc_gen);
		knext = luvmm_memcheck_word(0, s->mc_gen + 1);
		p->mc_lines = 0;
		for (q = base; q < end; q += MC_CHUNK_WORDS) {
			if (mc_chunk(p, q, kcur, knext))
				c.prev = rdtsc();	/* skip exits' time */
			mc_poll(p, &c);
		}
		s->mc_gen++;
		s->progress++;
		s->mc_pass_cycles = rdtsc() - t0;
		report(p, LUVMM_REPORT_MEMCHECK, s->progress, s->mc_mismatches,
		       s->mc_gen - 1, p->mc_base, p->mc_size,
		       s->mc_pass_cycles);
		c.prev = rdtsc();
	}
}

/* Idle at CPL0 (hlt); the BSP comes back only to power off. */
static __noreturn void idle_run(struct pcpu *p)
{
	kcall(KCALL_IDLE, p->hb.next_poweroff, 0);
	poweroff(p);
}

static void fault_trigger(void)
{
	if (cfg.fault == FAULT_UD)
		asm volatile("ud2");
	if (cfg.fault == FAULT_PF)
		(void)*(volatile uint64_t *)FAULT_PF_ADDR;
}

/* WORKLOAD report and line; memcheck and dma name their region. */
static void workload_announce(struct pcpu *p, uint32_t w)
{
	if (w == LUVMM_WORKLOAD_DMA) {
		report(p, LUVMM_REPORT_WORKLOAD, w, cfg.dma_base, cfg.dma_size,
		       0, 0, 0);
		con_line(p, "workload dma base=0x%lx size=0x%lx churn=%lu "
			 "maps=%lu", cfg.dma_base, cfg.dma_size, cfg.dma_churn,
			 cfg.dma_maps);
		return;
	}
	report(p, LUVMM_REPORT_WORKLOAD, w, p->mc_base, p->mc_size, 0, 0, 0);
	if (w == LUVMM_WORKLOAD_MEMCHECK)
		con_line(p, "workload memcheck base=0x%lx size=0x%lx",
			 p->mc_base, p->mc_size);
	else
		con_line(p, "workload %s", wl_name[w]);
}

void workload_run(struct pcpu *p, uint64_t start)
{
	struct hb_state *s = &p->hb;
	uint32_t w = p->workload;

	/* one DMA device, one driver: a second dma vCPU runs heartbeat */
	if (w == LUVMM_WORKLOAD_DMA && dma_owner() != p->index) {
		con_line(p, "dma: error (reason=one-dma-cpu-only owner=cpu%u)",
			 dma_owner());
		p->workload = w = LUVMM_WORKLOAD_HEARTBEAT;
	}
	workload_announce(p, w);
	if (p->index == 0)
		fault_trigger();
	s->next_poweroff = poweroff_tsc(p, start);
	s->next_hb = rdtsc() + us_to_tsc(cfg.hb_period_us);
	s->next_ser = rdtsc() + us_to_tsc(cfg.serial_period_ms * 1000);
	if (w == LUVMM_WORKLOAD_DMA) {
		dma_run(p);
		/* no device: dma_run said why; heartbeat instead */
		p->workload = w = LUVMM_WORKLOAD_HEARTBEAT;
		report(p, LUVMM_REPORT_WORKLOAD, w, 0, 0, 0, 0, 0);
		con_line(p, "workload heartbeat fallback=dma");
	}
	if (w == LUVMM_WORKLOAD_HEARTBEAT)
		heartbeat_run(p);
	if (w == LUVMM_WORKLOAD_MEMCHECK)
		memcheck_run(p);
	idle_run(p);
}
