// SPDX-License-Identifier: MIT
/*
 * main.c: guest-fw's boot sequence at CPL3: the BSP reads its boot info and
 * command line, settles the TSC frequency and starts the LAPIC timer
 * (clock.c), wakes the APs one at a time with INIT-SIPI-SIPI, hands out
 * the workloads and releases everyone. Also each AP's CPL3 check-in.
 *
 * Privileged steps (MSRs) go through kcall(); everything else is native.
 */
#include "fw.h"

#define APIC_BASE_EN		(1ULL << 11)
#define APIC_BASE_EXTD		(1ULL << 10)
#define ICR_INIT		0x4500	/* INIT, level assert */
#define ICR_SIPI		0x4600	/* start-up, level assert */
#define AP_WAIT_US		100000	/* after the first SIPI */
#define AP_WAIT2_US		1000000	/* after the second */

struct pcpu pcpus[FW_MAX_CPUS] __aligned(4096);
struct fw_config cfg;
struct boot_info boot;
uint64_t tsc_khz;
/* entry.S starts the BSP on this stack */
uint8_t *const bsp_kstack_top = pcpus[0].kstack + KSTACK_SIZE;

static uint32_t go;		/* BSP -> APs: workloads may start */
static uint64_t go_tsc;

/* x2APIC on (xAPIC -> x2APIC is the architectural path), SVR, ID. */
static void lapic_enable(struct pcpu *p)
{
	uint64_t base = k_rdmsr(MSR_APIC_BASE);

	if (!(base & APIC_BASE_EN)) {
		base |= APIC_BASE_EN;
		k_wrmsr(MSR_APIC_BASE, base);
	}
	if (!(base & APIC_BASE_EXTD))
		k_wrmsr(MSR_APIC_BASE, base | APIC_BASE_EXTD);
	k_wrmsr(MSR_X2APIC_SVR, 0x100 | VEC_SPURIOUS);
	p->apic_id = k_rdmsr(MSR_X2APIC_ID);
}

static bool wait_online(struct pcpu *q, uint64_t us)
{
	uint64_t end = rdtsc() + us_to_tsc(us);

	while (rdtsc() < end) {
		if (__atomic_load_n(&q->online, __ATOMIC_ACQUIRE))
			return true;
		cpu_relax();
	}
	return false;
}

/*
 * INIT, SIPI, and a second SIPI only if the first one did not take: one AP
 * at a time, because they share the trampoline and ap_boot_*. An AP that
 * never checks in is parked again with INIT.
 */
static bool ap_start(struct pcpu *q)
{
	uint64_t dest = (uint64_t)q->index << 32;
	uint64_t sipi = dest | ICR_SIPI | (LUVMM_AP_TRAMPOLINE >> 12);

	ap_boot_pcpu = q;
	ap_boot_rsp = (uint64_t)q->kstack + KSTACK_SIZE;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	k_wrmsr(MSR_X2APIC_ICR, dest | ICR_INIT);
	k_wrmsr(MSR_X2APIC_ICR, sipi);
	if (wait_online(q, AP_WAIT_US))
		return true;
	k_wrmsr(MSR_X2APIC_ICR, sipi);
	if (wait_online(q, AP_WAIT2_US))
		return true;
	k_wrmsr(MSR_X2APIC_ICR, dest | ICR_INIT);
	return false;
}

static uint32_t aps_start(struct pcpu *p)
{
	uint32_t i, missing = 0;

	memcpy((void *)LUVMM_AP_TRAMPOLINE, ap_tramp_start,
	       ap_tramp_end - ap_tramp_start);
	for (i = 1; i < cfg.cpus; i++) {
		pcpus[i].index = i;
		if (ap_start(&pcpus[i]))
			continue;
		con_line(p, "offline cpu=%u reason=timeout", i);
		missing++;
	}
	return missing;
}

static uint32_t workload_of(uint32_t i)
{
	return cfg.workload[MIN(i, cfg.nworkloads - 1)];
}

/* Memcheck parts: even, 4 KiB aligned, in CPU order; the last takes the
 * remainder. Only CPUs that came online get a part. */
static void workloads_assign(void)
{
	uint32_t i, n = 0, k = 0;
	uint64_t part;

	for (i = 0; i < cfg.cpus; i++)
		if ((i == 0 || pcpus[i].online) &&
		    workload_of(i) == LUVMM_WORKLOAD_MEMCHECK)
			n++;
	part = n ? cfg.mc_size / n / 4096 * 4096 : 0;
	for (i = 0; i < cfg.cpus; i++) {
		struct pcpu *q = &pcpus[i];

		q->workload = workload_of(i);
		if (q->workload != LUVMM_WORKLOAD_MEMCHECK ||
		    (i && !q->online))
			continue;
		q->mc_base = cfg.mc_base + k * part;
		q->mc_size = ++k == n ? cfg.mc_base + cfg.mc_size - q->mc_base
				      : part;
	}
}

static void warn_unknown(struct pcpu *p)
{
	uint32_t i;

	for (i = 0; i < cfg.nwarn; i++) {
		const char *t = boot.cmdline + cfg.warn_off[i];
		char tok[40];
		size_t n = 0;

		while (t[n] && t[n] != ' ' && n < sizeof(tok) - 1) {
			tok[n] = t[n];
			n++;
		}
		tok[n] = '\0';
		con_line(p, "warn reason=unknown-key token=%s", tok);
	}
}

static __noreturn void reject(struct pcpu *p, int64_t off, const char *why)
{
	con_line(p, "error reason=%s offset=%ld", why, (long)off);
	report_stage(p, LUVMM_STAGE_CMDLINE, 1);
	report(p, LUVMM_REPORT_BADCMDLINE, (uint64_t)off, 0, 0, 0, 0, 0);
	k_halt();
}

static void config_check(struct pcpu *p, bool gib_pages)
{
	uint32_t i, parts = 0, dma = 0;
	const char *why;

	if (cfg.err_off >= 0)
		reject(p, cfg.err_off, "bad-value");
	for (i = 0; i < cfg.cpus; i++) {
		parts += workload_of(i) == LUVMM_WORKLOAD_MEMCHECK;
		dma += workload_of(i) == LUVMM_WORKLOAD_DMA;
	}
	if (parts) {
		why = memcheck_region_check(&cfg, parts, gib_pages);
		if (why)
			reject(p, cfg.mc_off, why);
	}
	if (dma) {
		why = dma_region_check(&cfg, gib_pages, parts != 0);
		if (why)
			reject(p, cfg.dma_off, why);
	}
}

static void boot_line(struct pcpu *p, bool gib_pages)
{
	bool luvmm = inl(LUVMM_PORT_INFO) == LUVMM_INFO_MAGIC;

	con_line(p, "boot luvmm-fw abi=%u cpus=%u tsc_khz=%lu timer_hz=%lu "
		 "mem_mib=%lu tsc_src=%s map_gib=%u host=%s",
		 LUVMM_REPORT_VERSION, cfg.cpus, tsc_khz, cfg.timer_hz,
		 (boot.mem_bytes + (1 << 20) - 1) >> 20, tsc_src,
		 gib_pages ? MAP_1G_GIB : MAP_2M_GIB,
		 luvmm ? "luvmm" : "other");
}

void bsp_main(struct pcpu *p)
{
	bool gib_pages = cpu_has(0x80000001, 3, 26);
	uint32_t missing, online;
	uint64_t aps_tsc;

	iobitmap_init();	/* before any port access */
	report_stage(p, LUVMM_STAGE_CPL3, 0);
	bootinfo_copy();	/* before touching memory past the image */
	uart_init();
	cmdline_parse(boot.cmdline, &cfg);
	if (!cpu_has(1, 2, 21))
		panic_soft(p, LUVMM_PANIC_NO_X2APIC);
	lapic_enable(p);
	tsc_detect(cfg.tsc_khz);
	boot_line(p, gib_pages);
	warn_unknown(p);
	config_check(p, gib_pages);
	report_stage(p, LUVMM_STAGE_CMDLINE, 0);
	lapic_calibrate(cfg.timer_hz);
	timer_start();
	report_stage(p, LUVMM_STAGE_TIMER, lapic_khz);
	aps_tsc = rdtsc();
	missing = aps_start(p);
	report_stage(p, LUVMM_STAGE_APS, missing);
	online = cfg.cpus - missing;
	workloads_assign();
	con_line(p, "ready online=%u boot_us=%lu aps_us=%lu", online,
		 tsc_to_us(rdtsc() - boot_tsc), tsc_to_us(rdtsc() - aps_tsc));
	report(p, LUVMM_REPORT_BOOT, online, tsc_khz, LUVMM_REPORT_VERSION,
	       0, 0, 0);
	report_stage(p, LUVMM_STAGE_WORKLOADS, 0);
	go_tsc = rdtsc();
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	workload_run(p, go_tsc);
}

void ap_main(struct pcpu *p)
{
	lapic_enable(p);
	timer_start();
	con_line(p, "online apic_id=%u", p->apic_id);
	__atomic_store_n(&p->online, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		cpu_relax();
	workload_run(p, go_tsc);
}
