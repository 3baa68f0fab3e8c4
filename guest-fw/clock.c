// SPDX-License-Identifier: MIT
/*
 * clock.c: guest-fw's sense of time: which TSC frequency to trust, and the
 * LAPIC timer (calibrated against the TSC, then periodic at timer_hz).
 * Runs at CPL3; MSRs through kcall().
 *
 * TSC frequency sources, first that answers: tsc_khz= (luvmm always passes
 * it), CPUID 0x40000010, CPUID 0x15, CPUID 0x16, KVM's pvclock parameters,
 * the PIT. The host may deschedule a vCPU for several ms at any moment, so
 * the PIT method only trusts counter reads whose TSC bracket is tight.
 */
#include "fw.h"

#define LVT_MASKED		(1u << 16)
#define LVT_PERIODIC		(1u << 17)
#define LAPIC_CAL_US		5000
#define PIT_HZ			1193182
#define PIT_CAL_TICKS		11932	/* 10 ms */
#define PIT_TRIES		8
#define MSR_KVM_SYSTEM_TIME	0x4b564d01
#define KVM_FEATURE_CLOCK2	3

const char *tsc_src = "none";
uint64_t lapic_khz;		/* 0: timer off */
static uint32_t lapic_count;	/* TMICT for one tick */
static uint32_t lapic_tdcr;	/* TDCR encoding of the divider */

/* KVM's pvclock_vcpu_time_info */
struct pvclock {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t mul;
	int8_t shift;
	uint8_t flags;
	uint8_t pad[2];
};
static struct pvclock pvclock __aligned(64);

bool cpu_has(uint32_t leaf, int reg, int bit)
{
	uint32_t r[4];

	cpuid(leaf, 0, r);
	return r[reg] >> bit & 1;
}

static bool is_kvm(void)
{
	uint32_t r[4];

	cpuid(0x40000000, 0, r);
	return r[1] == 0x4b4d564b && r[2] == 0x564b4d56 && r[3] == 0x4d;
}

/*
 * The host kernel's own TSC calibration, exact: ns = tsc * mul >> 32
 * (after the shift). Registered only long enough to read it once.
 */
static uint64_t kvmclock_khz(void)
{
	uint64_t khz = 1000000ULL << 32;

	if (!is_kvm() || !cpu_has(0x40000001, 0, KVM_FEATURE_CLOCK2))
		return 0;
	k_wrmsr(MSR_KVM_SYSTEM_TIME, (uint64_t)&pvclock | 1);
	k_wrmsr(MSR_KVM_SYSTEM_TIME, 0);
	if (!__atomic_load_n(&pvclock.mul, __ATOMIC_ACQUIRE))
		return 0;
	khz /= pvclock.mul;
	return pvclock.shift < 0 ? khz << -pvclock.shift
				 : khz >> pvclock.shift;
}

struct pit_sample {
	uint16_t count;
	uint64_t tsc;		/* middle of the bracket */
	uint64_t width;		/* TSC cycles the read took */
};

/* Latch and read PIT channel 2, bracketed by TSC reads. */
static void pit_read(struct pit_sample *s)
{
	uint64_t a = rdtsc(), b;
	uint8_t lo, hi;

	outb(0x43, 0x80);	/* latch channel 2 */
	lo = inb(0x42);
	hi = inb(0x42);
	b = rdtsc();
	s->count = lo | hi << 8;
	s->tsc = a + (b - a) / 2;
	s->width = b - a;
}

/* The tightest of a few reads: one that was not interrupted. */
static void pit_best(struct pit_sample *best)
{
	struct pit_sample s;
	int i;

	best->width = UINT64_MAX;
	for (i = 0; i < PIT_TRIES; i++) {
		pit_read(&s);
		if (s.width < best->width)
			*best = s;
	}
}

/* Channel 2 free-running (mode 2, 65536 counts); ~10 ms between reads. */
static uint64_t pit_once(void)
{
	struct pit_sample a, b, now;
	uint8_t v = inb(0x61);
	uint16_t ticks = 0;
	uint64_t spins = 0;

	outb(0x61, (v & ~0x02) | 0x01);	/* gate on, speaker off */
	outb(0x43, 0xb4);		/* ch2, lo/hi byte, mode 2, binary */
	outb(0x42, 0);
	outb(0x42, 0);
	pit_best(&a);
	do {
		pit_read(&now);
		ticks = a.count - now.count;
	} while (ticks < PIT_CAL_TICKS && ++spins < 1000000);
	pit_best(&b);
	outb(0x61, v);
	ticks = a.count - b.count;
	if (!ticks || b.tsc <= a.tsc)
		return 0;
	return (b.tsc - a.tsc) * PIT_HZ / ticks / 1000;
}

/*
 * A stall longer than the counter's 55 ms wrap would go unnoticed in one
 * run: accept a result only when two runs in a row agree within 0.5%.
 */
static uint64_t pit_khz(void)
{
	uint64_t prev = pit_once(), cur = 0;
	int i;

	for (i = 0; i < 4; i++) {
		uint64_t diff;

		cur = pit_once();
		diff = cur > prev ? cur - prev : prev - cur;
		if (cur && prev && diff * 200 < cur)
			break;
		prev = cur;
	}
	return cur;
}

void tsc_detect(uint64_t cmdline_khz)
{
	uint32_t r[4], max;

	tsc_khz = cmdline_khz;
	tsc_src = "cmdline";
	if (!tsc_khz && cpu_has(1, 2, 31)) {
		cpuid(0x40000000, 0, r);
		if (r[0] >= 0x40000010 && r[0] < 0x40000100) {
			cpuid(0x40000010, 0, r);
			tsc_khz = r[0];
			tsc_src = "cpuid-40000010";
		}
	}
	cpuid(0, 0, r);
	max = r[0];
	if (!tsc_khz && max >= 0x15) {
		cpuid(0x15, 0, r);
		if (r[0] && r[1] && r[2]) {
			tsc_khz = (uint64_t)r[2] * r[1] / r[0] / 1000;
			tsc_src = "cpuid-15";
		}
	}
	if (!tsc_khz && max >= 0x16) {
		cpuid(0x16, 0, r);
		tsc_khz = (uint64_t)(r[0] & 0xffff) * 1000;
		tsc_src = "cpuid-16";
	}
	if (!tsc_khz) {
		tsc_khz = kvmclock_khz();
		tsc_src = "kvmclock";
	}
	if (!tsc_khz) {
		tsc_khz = pit_khz();
		tsc_src = "pit";
	}
	if (tsc_khz < 1000) {	/* no PIT either: keep numbers finite */
		tsc_khz = 1000000;
		tsc_src = "guess";
	}
}

/*
 * Count the LAPIC timer against the TSC for LAPIC_CAL_US. Each TMCCT read
 * comes back with a TSC read taken right after it at CPL0, so the kcall's
 * own cost cancels out.
 */
void lapic_calibrate(uint64_t hz)
{
	static const uint8_t tdcr[8] = { 0xb, 0x0, 0x1, 0x2, 0x3, 0x8, 0x9,
					 0xa };	/* divide by 1 .. 128 */
	struct kret a, b;
	uint64_t count;
	unsigned int d = 0;

	if (!hz)
		return;
	k_wrmsr(MSR_X2APIC_TDCR, tdcr[0]);
	k_wrmsr(MSR_X2APIC_LVTT, LVT_MASKED | VEC_TIMER);
	k_wrmsr(MSR_X2APIC_TMICT, 0xffffffff);
	a = kcall(KCALL_RDMSR, MSR_X2APIC_TMCCT, 0);
	while (rdtsc() < a.tsc + us_to_tsc(LAPIC_CAL_US))
		cpu_relax();
	b = kcall(KCALL_RDMSR, MSR_X2APIC_TMCCT, 0);
	k_wrmsr(MSR_X2APIC_TMICT, 0);
	lapic_khz = (a.val - b.val) * tsc_khz / (b.tsc - a.tsc);
	count = lapic_khz * 1000 / hz;
	while (count >> 32 && d < 7) {
		count >>= 1;
		d++;
	}
	lapic_count = MIN(MAX(count, 1), 0xffffffffULL);
	lapic_tdcr = tdcr[d];
}

/* Periodic at the calibrated rate on this CPU; nothing if timer_hz=0. */
void timer_start(void)
{
	if (!lapic_count)
		return;
	k_wrmsr(MSR_X2APIC_TDCR, lapic_tdcr);
	k_wrmsr(MSR_X2APIC_LVTT, LVT_PERIODIC | VEC_TIMER);
	k_wrmsr(MSR_X2APIC_TMICT, lapic_count);
}
