// SPDX-License-Identifier: MIT
/*
 * cpu.c: the CPL0 side of guest-fw: the IDT, per-CPU TSS (with the shared
 * I/O permission bitmap), loading both on each CPU, and the trap handler
 * that serves kcalls and turns faults into a CPL3 panic print.
 *
 * Every instruction here is emulated on the target host (~1.5 us each), so
 * this file does the minimum: no formatting, no loops beyond the one-time
 * IDT fill. The I/O bitmap's contents are written at CPL3 (iobitmap_init).
 */
#include "fw.h"

#define IOBITMAP_BYTES	(0x600 / 8)	/* ports 0-0x5ff; others denied */

struct tss {
	uint32_t reserved0;
	uint64_t rsp0;
	uint64_t rsp1;
	uint64_t rsp2;
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;	/* offset of the bitmap from the TSS base */
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "64-bit TSS is 104 bytes");

/*
 * All TSSes sit in one 8 KiB array followed by a single bitmap that every
 * TSS points at (iomap_base is a 16-bit offset, so it must stay close).
 * The trailing 0xff byte is required: the CPU reads two bitmap bytes.
 */
struct tss_area {
	struct {
		struct tss tss;
		uint8_t pad[24];
	} slot[FW_MAX_CPUS];
	uint8_t iobitmap[IOBITMAP_BYTES + 1];
};
static struct tss_area tss_area __aligned(128);

struct idt_gate {
	uint64_t lo;
	uint64_t hi;
};
static struct idt_gate idt[256] __aligned(16);

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* What trap_common pushes, then the CPU's frame. */
struct trap_frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector;
	uint64_t err;
	uint64_t rip, cs, rflags, rsp, ss;
};

_Static_assert(offsetof(struct pcpu, ticks) == PCPU_TICKS, "PCPU_TICKS");
_Static_assert(offsetof(struct pcpu, self) == PCPU_SELF, "PCPU_SELF");
_Static_assert(offsetof(struct pcpu, msis) == PCPU_MSIS, "PCPU_MSIS");

static void iobitmap_allow(uint32_t first, uint32_t last)
{
	uint32_t port;

	for (port = first; port <= last; port++)
		tss_area.iobitmap[port / 8] &= ~(1u << (port % 8));
}

/*
 * Runs at CPL3 (natively) as the BSP's first act, before any port access:
 * a set bit denies the port. Opens COM1, luvmm's report/power-off/info
 * ports, the paravirtual IOMMU and the DMA device's doorbell and MSI
 * ports, QEMU's isa-debug-exit, and the PIT channel 2 ports used to
 * calibrate the TSC.
 */
void iobitmap_init(void)
{
	memset(tss_area.iobitmap, 0xff, sizeof(tss_area.iobitmap));
	iobitmap_allow(0x40, 0x43);
	iobitmap_allow(0x61, 0x61);
	iobitmap_allow(0xf4, 0xf4);
	iobitmap_allow(LUVMM_PORT_COM1, LUVMM_PORT_COM1 + 7);
	iobitmap_allow(LUVMM_PORT_REPORT, LUVMM_PORT_INFO + 7);
	iobitmap_allow(LUVMM_PORT_IOMMU, LUVMM_PORT_IOMMU + 3);
	iobitmap_allow(LUVMM_PORT_DMA_DOORBELL, LUVMM_PORT_DMA_MSI_DEST + 3);
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	asm volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v),
		     "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static void idt_set(unsigned int vec, uint64_t handler)
{
	/* interrupt gate (IF cleared), DPL0, present, selector SEL_KCODE64 */
	idt[vec].lo = (handler & 0xffff) | ((uint64_t)SEL_KCODE64 << 16) |
		      (0x8eULL << 40) | ((handler >> 16 & 0xffff) << 48);
	idt[vec].hi = handler >> 32;
}

/* BSP, once. Vectors not set stay not-present (delivery then #GPs). */
void idt_init(void)
{
	unsigned int v;

	for (v = 0; v < 32; v++)
		idt_set(v, (uint64_t)isr_stubs + 16 * v);
	idt_set(VEC_TIMER, (uint64_t)isr_timer);
	idt_set(VEC_DMA, (uint64_t)isr_dma);
	idt_set(VEC_SPURIOUS, (uint64_t)isr_spurious);
}

/*
 * Per CPU, at CPL0: TSS descriptor and TR, IDTR, GS base (the timer ISR
 * counts ticks through %gs). Returns the CPU's CPL3 stack top.
 */
uint64_t cpu_init_cpl0(struct pcpu *p)
{
	struct tss *t = &tss_area.slot[p->index].tss;
	uint64_t base = (uint64_t)t;
	uint64_t off = (uint64_t)tss_area.iobitmap - base;
	uint64_t limit = off + IOBITMAP_BYTES;
	uint32_t gi = (SEL_TSS0 >> 3) + 2 * p->index;
	struct desc_ptr idtr = { sizeof(idt) - 1, (uint64_t)idt };

	p->self = p;
	t->rsp0 = (uint64_t)p->kstack + KSTACK_SIZE;
	t->iomap_base = off;
	/* 64-bit available TSS (type 9), present, byte granular */
	gdt[gi] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
		  (0x89ULL << 40) | ((limit >> 16 & 0xf) << 48) |
		  ((base >> 24 & 0xff) << 56);
	gdt[gi + 1] = base >> 32;
	asm volatile("ltr %w0" : : "r"(SEL_TSS0 + 16 * p->index));
	asm volatile("lidt %0" : : "m"(idtr));
	wrmsr(MSR_GS_BASE, (uint64_t)p);
	return (uint64_t)p->ustack + USTACK_SIZE;
}

static __noreturn void halt_forever(void)
{
	for (;;)
		asm volatile("cli; hlt");
}

static void idle(uint64_t deadline)
{
	/* sti;hlt is atomic: a tick between them still wakes the hlt */
	for (;;) {
		asm volatile("sti; hlt; cli" ::: "memory");
		if (deadline && rdtsc() >= deadline)
			return;
	}
}

static void kcall_do(struct trap_frame *f)
{
	switch (f->rdi) {
	case KCALL_RDMSR:
		f->rax = rdmsr(f->rsi);
		f->rdx = rdtsc();
		break;
	case KCALL_WRMSR:
		wrmsr(f->rsi, f->rdx);
		break;
	case KCALL_HALT:
		halt_forever();
	case KCALL_IDLE:
		idle(f->rsi);
		break;
	}
}

static struct pcpu *this_cpu(void)
{
	struct pcpu *p;

	asm volatile("movq %%gs:%c1, %0" : "=r"(p) : "i"(PCPU_SELF));
	return p;
}

/*
 * Any exception but a kcall: record it and resume at CPL3 in panic_user(),
 * where printing is cheap. A fault while already panicking halts here.
 */
void trap_handler(struct trap_frame *f)
{
	struct pcpu *p;
	uint64_t cr2;

	if (f->vector == 6 && f->rip == (uint64_t)kcall_ud2) {
		kcall_do(f);
		f->rip += 2;
		return;
	}
	p = this_cpu();
	if (!p || p->panic.active)
		halt_forever();
	asm volatile("movq %%cr2, %0" : "=r"(cr2));
	p->panic.active = 1;
	p->panic.vector = f->vector;
	p->panic.err = f->err;
	p->panic.rip = f->rip;
	p->panic.cr2 = cr2;
	p->panic.cs = f->cs;
	f->rip = (uint64_t)panic_user;
	f->cs = SEL_UCODE64 | 3;
	f->rflags = 0x2;
	f->rsp = (uint64_t)p->ustack + USTACK_SIZE - 8;
	f->ss = SEL_UDATA | 3;
	f->rdi = (uint64_t)p;
}
