/* SPDX-License-Identifier: MIT */
/*
 * fw.h: guest-fw's internal interfaces: per-CPU state, the kcall gate from
 * CPL3 into the CPL0 stubs, and the entry points shared by the modules.
 *
 * Privilege split (why everything is shaped this way): on the target host,
 * CPL0 code is emulated at ~1.5 us per instruction while CPL3 runs natively.
 * So CPL0 only loads tables and runs tiny handlers (entry.S, cpu.c); all
 * parsing, formatting, calibration and workloads run at CPL3 and reach the
 * few privileged operations they need (MSRs, hlt) through kcall().
 */
#ifndef LUVMM_FW_H
#define LUVMM_FW_H

/* GDT selectors (0x10/0x18 match luvmm's ELF64 boot GDT). */
#define SEL_KCODE32	0x08
#define SEL_KCODE64	0x10
#define SEL_KDATA	0x18
#define SEL_UDATA	0x20
#define SEL_UCODE64	0x28
#define SEL_TSS0	0x30	/* then a 16-byte TSS descriptor per CPU */

#define FW_MAX_CPUS	64
#define MAP_2M_GIB	64	/* [0, 64 GiB) mapped with 2 MiB pages */
#define MAP_1G_GIB	512	/* then up to 512 GiB with 1 GiB pages */
#define GDT_ENTRIES	(6 + 2 * FW_MAX_CPUS)

#define VEC_TIMER	0x20
#define VEC_DMA		0x40	/* the DMA device's MSI */
#define VEC_SPURIOUS	0xff

#define PCPU_TICKS	0	/* offsetof(struct pcpu, ticks): timer ISR */
#define PCPU_SELF	8	/* offsetof(struct pcpu, self) */
#define PCPU_MSIS	16	/* offsetof(struct pcpu, msis): DMA MSI ISR */

/* kcall numbers (RDI at the ud2 in kcall()). */
#define KCALL_RDMSR	1	/* a = msr -> val, tsc read right after */
#define KCALL_WRMSR	2	/* a = msr, b = value */
#define KCALL_HALT	3	/* cli; hlt forever */
#define KCALL_IDLE	4	/* sti; hlt until TSC >= a (0: forever) */

#define CR4_PAE		0x20

#define MSR_APIC_BASE	0x1b
#define MSR_EFER	0xc0000080
#define MSR_GS_BASE	0xc0000101
#define MSR_X2APIC_ID	0x802
#define MSR_X2APIC_EOI	0x80b
#define MSR_X2APIC_SVR	0x80f
#define MSR_X2APIC_ICR	0x830
#define MSR_X2APIC_LVTT	0x832
#define MSR_X2APIC_TMICT 0x838
#define MSR_X2APIC_TMCCT 0x839
#define MSR_X2APIC_TDCR	0x83e

#ifndef __ASSEMBLER__

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

#define __noreturn	__attribute__((noreturn))
#define __noinline	__attribute__((noinline))
#define __aligned(n)	__attribute__((aligned(n)))
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))

#define KSTACK_SIZE	4096
#define USTACK_SIZE	12288


/* Firmware-detected fatal conditions use panic vectors >= 256. */
#define PANIC_VEC_NO_X2APIC	LUVMM_PANIC_NO_X2APIC

/* Exception state captured at CPL0 for the CPL3 panic printer. */
struct panic_info {
	uint64_t vector;
	uint64_t err;
	uint64_t rip;
	uint64_t cr2;
	uint64_t cs;
	uint32_t active;	/* set once: a second fault halts at CPL0 */
};

/* Heartbeat bookkeeping shared by the heartbeat and memcheck loops. */
struct hb_state {
	uint64_t seq;		/* heartbeats sent */
	uint64_t max_hb;	/* largest gap since the previous heartbeat */
	uint64_t max_ser;	/* largest gap since the last status line */
	uint64_t max_all;	/* largest gap since the workload started */
	uint64_t next_hb;	/* TSC of the next heartbeat */
	uint64_t next_ser;	/* TSC of the next serial line (if enabled) */
	uint64_t next_poweroff;	/* BSP: TSC to power off at (0: never) */
	uint64_t progress;	/* HEARTBEAT arg5: memcheck passes, dma jobs */
	uint64_t mc_gen;	/* memcheck: generation now in memory */
	uint64_t mc_mismatches;
	uint64_t mc_pass_cycles;	/* how long the last pass took */
	/* largest gap across one port access of the reporting path (its
	 * own time is skipped by the loops, but a live-update blackout that
	 * lands inside an exit must still show): folded into the next
	 * heartbeat */
	uint64_t max_exit;
};

struct pcpu {
	uint64_t ticks;		/* PCPU_TICKS: bumped by the timer ISR */
	struct pcpu *self;	/* PCPU_SELF: %gs:8 finds this struct */
	uint64_t msis;		/* PCPU_MSIS: bumped by the DMA MSI ISR */
	uint32_t index;		/* logical CPU = APIC ID (see docs) */
	uint32_t apic_id;	/* as read from the x2APIC ID register */
	uint32_t online;	/* AP checked in (release store) */
	uint32_t workload;	/* enum luvmm_workload */
	uint64_t mc_base;	/* this CPU's memcheck part */
	uint64_t mc_size;
	uint64_t mc_lines;	/* mismatch lines printed in this pass */
	struct panic_info panic;
	struct hb_state hb;
	struct luvmm_report report __aligned(64);
	char line[192];		/* serial line being built */
	uint8_t kstack[KSTACK_SIZE] __aligned(16);	/* TSS.RSP0 stack */
	uint8_t ustack[USTACK_SIZE] __aligned(16);	/* CPL3 stack */
};

/* What the command line asked for (cmdline.c fills it, read-only after). */
struct fw_config {
	uint32_t cpus;
	uint32_t nworkloads;
	uint8_t workload[FW_MAX_CPUS];
	uint64_t mc_base;
	uint64_t mc_size;
	uint64_t dma_base;	/* dma= region (dma.c's buffers) */
	uint64_t dma_size;
	uint64_t dma_churn;	/* remap a buffer every N jobs (0: never) */
	uint64_t dma_maps;	/* extra 4 KiB mappings made at start */
	uint64_t hb_period_us;
	uint64_t gap_log_us;	/* print a "gap" line for gaps this long (0: off) */
	uint64_t serial_period_ms;
	uint64_t timer_hz;
	uint64_t tsc_khz;	/* 0: not given */
	uint64_t poweroff_ms;
	bool has_poweroff;
	uint32_t poweroff_status;
	uint32_t fault;		/* FAULT_* */
	int32_t err_off;	/* first rejected token (BADCMDLINE), or -1 */
	int32_t mc_off;		/* the memcheck= token, or -1 (default) */
	int32_t dma_off;	/* the dma= token, or -1 (default) */
	/* unknown keys, reported as warnings after the boot line */
	uint32_t nwarn;
	uint16_t warn_off[8];
};

/* dma= region limits: 2 MiB aligned (large IOMMU leaves), room for the
 * fixed buffer layout, and no larger than an IOVA window (dma.c). */
#define DMA_ALIGN	(2ULL << 20)
#define DMA_MIN_SIZE	(12ULL << 20)
#define DMA_MAX_SIZE	(2ULL << 30)
#define DMA_MAX_MAPS	200000

#define FAULT_NONE	0
#define FAULT_UD	1
#define FAULT_PF	2

/* One entry of the copied Multiboot memory map. */
struct mem_range {
	uint64_t base;
	uint64_t len;
	uint32_t type;		/* 1 = available RAM */
};

#define BOOT_MMAP_MAX	32

/* Everything fw reads from the Multiboot info, copied into .bss. */
struct boot_info {
	char cmdline[LUVMM_BOOT_CMDLINE_MAX];
	struct mem_range mmap[BOOT_MMAP_MAX];
	uint32_t nmmap;
	uint64_t mem_bytes;	/* sum of available ranges */
};

/* Global state (main.c). */
extern struct pcpu pcpus[FW_MAX_CPUS];
extern struct fw_config cfg;
extern struct boot_info boot;
extern uint64_t tsc_khz;
extern uint64_t boot_mbinfo, boot_magic;	/* saved by entry.S */
extern uint64_t boot_tsc;			/* TSC at entry64 */
extern uint8_t *const bsp_kstack_top;
extern uint32_t fw_cr3;				/* entry.S, trampoline */
extern struct pcpu *ap_boot_pcpu;		/* entry.S reads these */
extern uint64_t ap_boot_rsp;

/* entry.S symbols */
extern char ap_tramp_start[], ap_tramp_end[];
extern char kcall_ud2[];
extern uint64_t gdt[GDT_ENTRIES];
extern char isr_stubs[];	/* 32 stubs, ISR_STUB_SIZE bytes apart */
void isr_timer(void);
void isr_dma(void);
void isr_spurious(void);

/* kcall: ud2 at kcall_ud2; the CPL0 #UD handler does the work. */
struct kret {
	uint64_t val;
	uint64_t tsc;
};
struct kret kcall(uint64_t nr, uint64_t a, uint64_t b);

static inline uint64_t k_rdmsr(uint32_t msr)
{
	return kcall(KCALL_RDMSR, msr, 0).val;
}

static inline void k_wrmsr(uint32_t msr, uint64_t val)
{
	kcall(KCALL_WRMSR, msr, val);
}

static inline __noreturn void k_halt(void)
{
	kcall(KCALL_HALT, 0, 0);
	__builtin_unreachable();
}

/* Port I/O: CPL3 may use only the ports the TSS bitmap opens. */
static inline void outb(uint16_t port, uint8_t v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	asm volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
	asm volatile("pause" ::: "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	asm volatile("cpuid"
		     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
		     : "a"(leaf), "c"(sub));
}

/* TSC cycles <-> time, with the TSC frequency fw settled on. */
static inline uint64_t us_to_tsc(uint64_t us)
{
	return us * tsc_khz / 1000;
}

static inline uint64_t tsc_to_us(uint64_t cycles)
{
	return cycles * 1000 / tsc_khz;
}

/* cpu.c: CPL0 only, but for iobitmap_init (CPL3, before any port I/O) */
void iobitmap_init(void);
void idt_init(void);
uint64_t cpu_init_cpl0(struct pcpu *p);
struct trap_frame;
void trap_handler(struct trap_frame *f);

/* clock.c: TSC frequency and the LAPIC timer (CPL3) */
extern const char *tsc_src;	/* where tsc_khz came from */
extern uint64_t lapic_khz;	/* LAPIC timer input clock, 0: timer off */
bool cpu_has(uint32_t leaf, int reg, int bit);
void tsc_detect(uint64_t cmdline_khz);
void lapic_calibrate(uint64_t hz);
void timer_start(void);

/* con.c: serial console and reports (CPL3) */
void uart_init(void);
__printf(2, 3) void con_line(struct pcpu *p, const char *fmt, ...);
__printf(2, 3) void con_line_panic(struct pcpu *p, const char *fmt, ...);
void report(struct pcpu *p, uint32_t type, uint64_t a0, uint64_t a1,
	    uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
void report_stage(struct pcpu *p, uint64_t stage, uint64_t status);
__noreturn void panic_user(struct pcpu *p);
__noreturn void panic_soft(struct pcpu *p, uint64_t code);

/* lib.c: freestanding helpers (CPL3) */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
size_t strlen(const char *s);
int vsnfmt(char *buf, size_t size, const char *fmt, va_list ap);
__printf(3, 4) int snfmt(char *buf, size_t size, const char *fmt, ...);

/* cmdline.c */
void bootinfo_copy(void);
void cmdline_parse(const char *s, struct fw_config *c);
const char *memcheck_region_check(const struct fw_config *c, uint32_t parts,
				  bool gib_pages);
/* NULL if the dma= region is usable (and, when memcheck runs, apart from
 * its region), else why not. */
const char *dma_region_check(const struct fw_config *c, bool gib_pages,
			     bool with_memcheck);

/* workload.c */
__noreturn void workload_run(struct pcpu *p, uint64_t start_tsc);
/* Heartbeat slow path for workloads with their own loop: the caller folds
 * its largest gap into p->hb.max_hb first. Returns a fresh TSC. */
uint64_t workload_hb_tick(struct pcpu *p, uint64_t now);

/* dma.c: the dma workload (one vCPU runs it) */
/* Index of the one vCPU that runs dma (the lowest online one asking for it),
 * or FW_MAX_CPUS if none. Valid once the workloads are released. */
uint32_t dma_owner(void);
/* Returns only if there is no device: the caller falls back to heartbeat. */
void dma_run(struct pcpu *p);
/* The periodic "dma ..." serial line (from workload_hb_tick). */
void dma_status_line(struct pcpu *p);
/* Gap tracking and the slow path (heartbeat, reports): call often. */
void dma_tick(struct pcpu *p);
/* May an error line be printed now (a few per second)? Uses one up. */
bool dma_line_ok(void);
/* A 32-bit OUT that is also a compiler memory barrier. */
void dma_out32(uint16_t port, uint32_t v);

/* dmamap.c: the dma workload's buffers and its PV IOMMU requests */
#define DMA_BUF_SRC_L	0		/* COPY sources: device READ */
#define DMA_BUF_SRC_M	1
#define DMA_BUF_DST(s)	(2 + (s))	/* slot s's destination: READ|WRITE */
#define DMA_NBUF	(2 + LUVMM_DMA_SLOTS)
#define DMAMAP_IOVA_A	0x100000000ULL	/* IOVA = window + region offset */
#define DMAMAP_IOVA_B	0x180000000ULL	/* churn's other placement */
#define DMAMAP_IOVA_X	0x200000000ULL	/* extras: IOVA_X + i * 4 KiB */
#define DMAMAP_UNANSWERED 0xffffffffu	/* status when nobody answered */

struct dma_buf {
	uint64_t off;		/* in the dma= region */
	uint64_t size;
	uint64_t iova;		/* where it is mapped (if mapped) */
	uint32_t prot;		/* LUVMM_IOMMU_* */
	uint32_t remaps;	/* churns so far: every other one moves it */
	bool mapped;
};

struct dmamap {
	uint64_t base;		/* the region's GPA */
	struct dma_buf buf[DMA_NBUF];
	uint64_t maps;		/* requests done */
	uint64_t refused;	/* requests refused (or unanswered) */
};
extern struct dmamap dmamap;

/* Place the buffers in the region at base (nothing mapped yet). */
void dmamap_layout(uint64_t base);
/* Map b at iova; its status (0 or an errno). With probe, a "no device"
 * answer (dmamap_is_nodev) is returned without being counted. */
uint32_t dmamap_buf(struct pcpu *p, struct dma_buf *b, uint64_t iova,
		    bool probe);
bool dmamap_is_nodev(uint32_t status);
/* Remap slot s's destination buffer; the slot must have no job. */
void dmamap_churn(struct pcpu *p, uint32_t s);
/* Map again the buffers a refused request left unmapped. */
void dmamap_retry(struct pcpu *p);
/* n separate 4 KiB mappings in the extras window onto the region's pages
 * (size bytes), left mapped; prints how long they took. */
void dmamap_extra(struct pcpu *p, uint64_t n, uint64_t size);

/* main.c */
__noreturn void bsp_main(struct pcpu *p);
__noreturn void ap_main(struct pcpu *p);

#endif /* __ASSEMBLER__ */
#endif
