// SPDX-License-Identifier: MIT
/*
 * con.c: guest-fw's two ways of talking to the host: numbered serial lines
 * on COM1 and luvmm_report structs sent through the report port. Also the
 * CPL3 half of the panic path, which uses both. Runs at CPL3.
 *
 * Every line is "fw[<seq>] cpu<N> <event> key=value...\n" with one global
 * sequence number, so the host can prove no line was lost or repeated
 * (across a live update too). The number is taken and the line written
 * under one spinlock, so numbers reach the UART in order.
 */
#include "fw.h"

#define UART_THR	0
#define UART_IER	1
#define UART_FCR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_DLL	0
#define UART_DLM	1
#define LSR_THRE	0x20
#define UART_FIFO	16

#define PANIC_LOCK_SPIN_US	50000

static uint32_t con_lock;	/* 0: free; else owner's index + 1 */
static uint64_t con_seq;	/* last sequence number printed */

void uart_init(void)
{
	uint16_t b = LUVMM_PORT_COM1;

	outb(b + UART_IER, 0);		/* polled: no interrupts */
	outb(b + UART_LCR, 0x80);	/* DLAB */
	outb(b + UART_DLL, 1);		/* 115200 baud */
	outb(b + UART_DLM, 0);
	outb(b + UART_LCR, 0x03);	/* 8N1 */
	outb(b + UART_FCR, 0x07);	/* FIFO on, both cleared */
	outb(b + UART_MCR, 0x03);	/* DTR, RTS */
}

/* Track the gap across one port access (see hb_state.max_exit). */
static inline void exit_gap(struct pcpu *p, uint64_t t0)
{
	uint64_t d = rdtsc() - t0;

	if (d > p->hb.max_exit)
		p->hb.max_exit = d;
}

/* One LSR read per 16 bytes: each port access is a VM exit. */
static void uart_write(struct pcpu *p, const char *s, size_t n)
{
	uint16_t b = LUVMM_PORT_COM1;
	uint64_t t0;
	uint8_t lsr;

	while (n) {
		size_t k = MIN(n, (size_t)UART_FIFO);

		for (;;) {
			t0 = rdtsc();
			lsr = inb(b + UART_LSR);
			exit_gap(p, t0);
			if (lsr & LSR_THRE)
				break;
			cpu_relax();
		}
		n -= k;
		while (k--) {
			t0 = rdtsc();
			outb(b + UART_THR, *s++);
			exit_gap(p, t0);
		}
	}
}

static void lock(struct pcpu *p)
{
	uint32_t expect = 0;

	while (!__atomic_compare_exchange_n(&con_lock, &expect, p->index + 1,
					    false, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		expect = 0;
		cpu_relax();
	}
}

static void unlock(void)
{
	__atomic_store_n(&con_lock, 0, __ATOMIC_RELEASE);
}

/* Prefix, number and write; the caller holds the lock. */
static void emit_locked(struct pcpu *p, const char *fmt, va_list ap)
{
	char *l = p->line;
	size_t n;

	n = snfmt(l, sizeof(p->line), "fw[%06lu] cpu%u ", ++con_seq,
		  p->index);
	n += vsnfmt(l + n, sizeof(p->line) - n, fmt, ap);
	n = MIN(n, sizeof(p->line) - 2);
	l[n++] = '\n';
	uart_write(p, l, n);
}

void con_line(struct pcpu *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lock(p);
	emit_locked(p, fmt, ap);
	unlock();
	va_end(ap);
}

/*
 * For the panic path: this CPU may already hold the lock (it faulted while
 * printing), or the holder may never let go. Take it if possible, else
 * print anyway after a bounded wait; a torn line beats a silent halt.
 */
void con_line_panic(struct pcpu *p, const char *fmt, ...)
{
	uint64_t give_up = rdtsc() + us_to_tsc(PANIC_LOCK_SPIN_US);
	uint32_t expect = 0;
	va_list ap;

	while (__atomic_load_n(&con_lock, __ATOMIC_RELAXED) != p->index + 1 &&
	       !__atomic_compare_exchange_n(&con_lock, &expect, p->index + 1,
					    false, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		expect = 0;
		if (rdtsc() > give_up)
			break;
		cpu_relax();
	}
	va_start(ap, fmt);
	emit_locked(p, fmt, ap);
	va_end(ap);
	if (__atomic_load_n(&con_lock, __ATOMIC_RELAXED) == p->index + 1)
		unlock();
}

/*
 * The struct is per CPU and 64-byte aligned; luvmm reads it during the
 * OUT exit, so it can be rewritten as soon as the OUT retires.
 */
void report(struct pcpu *p, uint32_t type, uint64_t a0, uint64_t a1,
	    uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	struct luvmm_report *r = &p->report;

	r->magic = LUVMM_REPORT_MAGIC;
	r->version = LUVMM_REPORT_VERSION;
	r->type = type;
	r->cpu = p->apic_id;
	r->reserved = 0;
	r->arg[0] = a0;
	r->arg[1] = a1;
	r->arg[2] = a2;
	r->arg[3] = a3;
	r->arg[4] = a4;
	r->arg[5] = a5;
	uint64_t t0;

	asm volatile("" ::: "memory");
	t0 = rdtsc();
	outl(LUVMM_PORT_REPORT, (uint32_t)(uint64_t)r);
	exit_gap(p, t0);
}

void report_stage(struct pcpu *p, uint64_t stage, uint64_t status)
{
	report(p, LUVMM_REPORT_STAGE, stage, status, 0, 0, 0, 0);
}

/* Entered from trap_handler (CPL0) with p->panic filled in; IF=0. */
void panic_user(struct pcpu *p)
{
	struct panic_info *pi = &p->panic;

	if (pi->vector >= 256)
		con_line_panic(p, "panic vector=%lu reason=%s", pi->vector,
			       pi->vector == LUVMM_PANIC_NO_X2APIC ?
			       "no-x2apic" : "unknown");
	else
		con_line_panic(p, "panic vector=%lu err=0x%lx rip=0x%lx "
			       "cr2=0x%lx cs=0x%lx", pi->vector, pi->err,
			       pi->rip, pi->cr2, pi->cs);
	report(p, LUVMM_REPORT_PANIC, pi->vector, pi->err, pi->rip, pi->cr2,
	       pi->cs, 0);
	k_halt();
}

/* A fatal condition fw detects itself, not an exception. */
void panic_soft(struct pcpu *p, uint64_t code)
{
	p->panic.active = 1;
	p->panic.vector = code;
	panic_user(p);
}
