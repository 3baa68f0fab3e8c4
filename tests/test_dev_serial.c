// SPDX-License-Identifier: MIT
/*
 * test_dev_serial.c: the 16550A model (vmm/devices/serial.c) driven
 * through serial_io() and serial_receive() with a pipe as its output:
 * line buffering, divisor latch, IER/IIR/LSR semantics, the receive FIFO,
 * loopback, wide accesses and the interrupt line as a fake callback sees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "../vmm/devices/serial.h"
#include "tap.h"

#define THR	0
#define IER	1
#define IIR	2
#define FCR	2
#define LCR	3
#define MCR	4
#define LSR	5
#define MSR	6
#define SCR	7

struct irq_log {
	unsigned calls, raises, lowers;
	unsigned irq;
	bool level;
};

struct fx {
	struct serial s;
	int rd, wr;		/* the output pipe: device writes wr */
	struct irq_log irq;
};

static struct fx fx;

static void fake_set_irq(void *ctx, unsigned irq, bool level)
{
	struct irq_log *l = ctx;

	l->calls++;
	if (level)
		l->raises++;
	else
		l->lowers++;
	l->irq = irq;
	l->level = level;
}

static bool setup(void)
{
	int fds[2];

	memset(&fx, 0, sizeof(fx));
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK)) {
		tap_fail(__FILE__, __LINE__, "pipe2: %s", strerror(errno));
		return false;
	}
	fx.rd = fds[0];
	fx.wr = fds[1];
	serial_init(&fx.s, fx.wr, -1);
	fx.s.set_irq = fake_set_irq;
	fx.s.irq_ctx = &fx.irq;
	return true;
}

static void teardown(void)
{
	pthread_mutex_destroy(&fx.s.lock);
	close(fx.rd);
	close(fx.wr);
}

static uint8_t rd(unsigned reg)
{
	uint8_t v = 0x5a;

	serial_io(&fx.s, reg, &v, 1, false);
	return v;
}

static void wr(unsigned reg, uint8_t v)
{
	serial_io(&fx.s, reg, &v, 1, true);
}

static void put_str(const char *p)
{
	while (*p)
		wr(THR, (uint8_t)*p++);
}

/* Everything in the output pipe right now, NUL-terminated. */
static size_t drain(char *buf, size_t cap)
{
	ssize_t n = read(fx.rd, buf, cap - 1);

	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return (size_t)n;
}

static void output_line_buffered(void)
{
	char buf[64];

	if (!setup())
		return;
	put_str("hello");
	CHECK_EQ(drain(buf, sizeof(buf)), 0);	/* nothing until the line ends */
	CHECK_EQ(fx.s.r.tx_len, 5);
	wr(THR, '\n');
	CHECK_EQ(drain(buf, sizeof(buf)), 6);
	CHECK_STR(buf, "hello\n");
	CHECK_EQ(fx.s.r.tx_len, 0);
	CHECK_EQ(fx.s.tx_bytes, 6);
	/* two lines, each written once */
	put_str("a\nb\n");
	CHECK_EQ(drain(buf, sizeof(buf)), 4);
	CHECK_STR(buf, "a\nb\n");
	serial_flush(&fx.s);
	CHECK_EQ(drain(buf, sizeof(buf)), 0);
	CHECK_EQ(fx.s.tx_errors, 0);
	teardown();
}

static void partial_line_until_flush(void)
{
	char buf[64];

	if (!setup())
		return;
	put_str("xyz");
	CHECK_EQ(drain(buf, sizeof(buf)), 0);
	serial_flush(&fx.s);
	CHECK_EQ(drain(buf, sizeof(buf)), 3);
	CHECK_STR(buf, "xyz");
	serial_flush(&fx.s);			/* exactly once */
	CHECK_EQ(drain(buf, sizeof(buf)), 0);
	put_str("1\n");
	CHECK_EQ(drain(buf, sizeof(buf)), 2);
	CHECK_STR(buf, "1\n");
	teardown();
}

static void full_buffer_flushes(void)
{
	static char buf[SERIAL_TXBUF + 16];
	unsigned i;

	if (!setup())
		return;
	for (i = 0; i < SERIAL_TXBUF - 1; i++)
		wr(THR, (uint8_t)('A' + i % 26));
	CHECK_EQ(drain(buf, sizeof(buf)), 0);
	wr(THR, 'Z');
	CHECK_EQ(drain(buf, sizeof(buf)), SERIAL_TXBUF);
	CHECK_EQ(buf[0], 'A');
	CHECK_EQ(buf[SERIAL_TXBUF - 1], 'Z');
	CHECK_EQ(fx.s.r.tx_len, 0);
	wr(THR, 'q');
	CHECK_EQ(fx.s.r.tx_len, 1);
	teardown();
}

static void output_discarded_or_failing(void)
{
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	char buf[8];

	if (!setup())
		return;
	/* no output fd: bytes vanish, nothing breaks */
	fx.s.out_fd = -1;
	put_str("gone\n");
	CHECK_EQ(fx.s.r.tx_len, 0);
	CHECK_EQ(fx.s.tx_errors, 0);
	CHECK_EQ(fx.s.tx_bytes, 5);
	/* a broken pipe is counted, the buffer does not wedge */
	fx.s.out_fd = fx.wr;
	close(fx.rd);
	fx.rd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	put_str("lost\n");
	CHECK_EQ(fx.s.tx_errors, 1);
	CHECK_EQ(fx.s.r.tx_len, 0);
	CHECK_EQ(drain(buf, sizeof(buf)), 0);
	signal(SIGPIPE, old);
	teardown();
}

static void divisor_latch(void)
{
	char buf[16];

	if (!setup())
		return;
	CHECK_EQ(rd(LCR), 0);
	wr(LCR, 0x80);				/* DLAB */
	CHECK_EQ(rd(THR), 12);			/* 9600 baud after reset */
	CHECK_EQ(rd(IER), 0);
	wr(THR, 0x01);
	wr(IER, 0x02);
	CHECK_EQ(rd(THR), 0x01);
	CHECK_EQ(rd(IER), 0x02);
	CHECK_EQ(fx.s.r.dll, 0x01);
	CHECK_EQ(fx.s.r.dlm, 0x02);
	wr(LCR, 0x03);				/* 8N1, DLAB off */
	CHECK_EQ(rd(LCR), 0x03);
	CHECK_EQ(rd(IER), 0);			/* IER was not touched */
	CHECK_EQ(fx.s.r.ier, 0);
	serial_flush(&fx.s);
	CHECK_EQ(drain(buf, sizeof(buf)), 0);	/* DLL writes are not output */
	CHECK_EQ(fx.s.tx_bytes, 0);
	wr(THR, '!');
	serial_flush(&fx.s);
	CHECK_EQ(drain(buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], '!');
	teardown();
}

static void ier_iir_thri(void)
{
	if (!setup())
		return;
	CHECK_EQ(rd(IIR), 0x01);		/* nothing pending */
	wr(IER, 0x02);				/* enabling THRI raises it */
	CHECK_EQ(rd(IER), 0x02);
	CHECK_EQ(rd(IIR), 0x02);
	CHECK_EQ(rd(IIR), 0x01);		/* the read acknowledged it */
	wr(IER, 0x02);				/* still enabled: no new one */
	CHECK_EQ(rd(IIR), 0x01);
	wr(THR, 'x');				/* THR empties at once */
	CHECK_EQ(rd(IIR), 0x02);
	CHECK_EQ(rd(IIR), 0x01);
	wr(IER, 0x00);
	wr(THR, 'y');
	CHECK_EQ(rd(IIR), 0x01);		/* masked */
	wr(IER, 0xff);
	CHECK_EQ(rd(IER), 0x0f);		/* only the four real bits */
	CHECK_EQ(rd(IIR), 0x02);
	/* FIFO enabled: IIR's top bits say so */
	wr(FCR, 0x01);
	CHECK_EQ(rd(IIR), 0xc1);
	wr(THR, 'z');
	CHECK_EQ(rd(IIR), 0xc2);
	wr(FCR, 0x00);
	CHECK_EQ(rd(IIR), 0x01);
	CHECK_EQ(rd(LSR), 0x60);		/* THRE | TEMT */
	teardown();
}

static void receive_and_rdi(void)
{
	if (!setup())
		return;
	CHECK_EQ(rd(LSR), 0x60);
	CHECK_EQ(rd(THR), 0);			/* empty FIFO reads 0 */
	CHECK_EQ(serial_receive(&fx.s, (const uint8_t *)"hi", 2), 2);
	CHECK_EQ(rd(LSR), 0x61);		/* DR */
	CHECK_EQ(rd(IIR), 0x01);		/* RDI not enabled */
	wr(IER, 0x01);
	CHECK_EQ(rd(IIR), 0x04);
	CHECK_EQ(rd(IIR), 0x04);		/* reading IIR does not clear RDI */
	CHECK_EQ(rd(THR), 'h');
	CHECK_EQ(rd(IIR), 0x04);
	CHECK_EQ(rd(THR), 'i');
	CHECK_EQ(rd(LSR), 0x60);
	CHECK_EQ(rd(IIR), 0x01);
	CHECK_EQ(fx.s.rx_bytes, 2);
	/* RDI outranks THRI and does not acknowledge it */
	wr(IER, 0x03);
	CHECK_EQ(serial_receive(&fx.s, (const uint8_t *)"k", 1), 1);
	CHECK_EQ(rd(IIR), 0x04);
	CHECK_EQ(rd(THR), 'k');
	CHECK_EQ(rd(IIR), 0x02);
	CHECK_EQ(rd(IIR), 0x01);
	teardown();
}

/* Host input is flow-controlled: the FIFO takes 16 and says so. */
static void receive_fifo_limit(void)
{
	uint8_t in[20];
	unsigned i;

	if (!setup())
		return;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)('a' + i);
	CHECK_EQ(serial_receive(&fx.s, in, sizeof(in)), SERIAL_FIFO);
	CHECK_EQ(serial_receive(&fx.s, in, 1), 0);
	CHECK_EQ(fx.s.rx_bytes, SERIAL_FIFO);
	CHECK_EQ(rd(LSR), 0x61);		/* no overrun: nothing was lost */
	for (i = 0; i < SERIAL_FIFO; i++)
		if (rd(THR) != 'a' + i)
			tap_fail(__FILE__, __LINE__, "byte %u out of order", i);
	CHECK_EQ(rd(LSR), 0x60);
	/* the ring wraps */
	CHECK_EQ(serial_receive(&fx.s, in + 3, 5), 5);
	CHECK_EQ(rd(THR), 'd');
	CHECK_EQ(serial_receive(&fx.s, in, 12), 12);
	CHECK_EQ(rd(THR), 'e');
	CHECK_EQ(serial_receive(&fx.s, in, 0), 0);
	teardown();
}

static void fcr_clears_rx(void)
{
	if (!setup())
		return;
	CHECK_EQ(serial_receive(&fx.s, (const uint8_t *)"abc", 3), 3);
	wr(FCR, 0x03);
	CHECK_EQ(rd(LSR), 0x60);
	CHECK_EQ(rd(THR), 0);
	CHECK_EQ(serial_receive(&fx.s, (const uint8_t *)"d", 1), 1);
	CHECK_EQ(rd(THR), 'd');
	teardown();
}

/* Loopback: transmitted bytes come back; a 17th overruns (OE, counted). */
static void loopback_and_overrun(void)
{
	char buf[32];
	unsigned i;

	if (!setup())
		return;
	wr(MCR, 0x10);
	CHECK_EQ(rd(MCR), 0x10);
	for (i = 0; i < SERIAL_FIFO + 1; i++)
		wr(THR, (uint8_t)('A' + i));
	serial_flush(&fx.s);
	CHECK_EQ(drain(buf, sizeof(buf)), 0);	/* nothing left the UART */
	CHECK_EQ(fx.s.rx_dropped, 1);
	CHECK_EQ(rd(LSR), 0x63);		/* DR | OE */
	CHECK_EQ(rd(LSR), 0x61);		/* OE clears on read */
	for (i = 0; i < SERIAL_FIFO; i++)
		if (rd(THR) != 'A' + i)
			tap_fail(__FILE__, __LINE__, "loopback byte %u wrong", i);
	CHECK_EQ(rd(LSR), 0x60);
	/* modem lines loop back: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
	CHECK_EQ(rd(MSR), 0x00);
	wr(MCR, 0x11);
	CHECK_EQ(rd(MSR), 0x20);
	wr(MCR, 0x12);
	CHECK_EQ(rd(MSR), 0x10);
	wr(MCR, 0x14);
	CHECK_EQ(rd(MSR), 0x40);
	wr(MCR, 0x18);
	CHECK_EQ(rd(MSR), 0x80);
	wr(MCR, 0x1f);
	CHECK_EQ(rd(MSR), 0xf0);
	wr(MCR, 0xff);
	CHECK_EQ(rd(MCR), 0x1f);
	/* out of loopback: output flows again, MSR is the fixed default */
	wr(MCR, 0x0b);
	CHECK_EQ(rd(MSR), 0xb0);
	put_str("ok\n");
	CHECK_EQ(drain(buf, sizeof(buf)), 3);
	CHECK_STR(buf, "ok\n");
	teardown();
}

static void scratch_and_read_only(void)
{
	if (!setup())
		return;
	wr(SCR, 0xa5);
	CHECK_EQ(rd(SCR), 0xa5);
	wr(LSR, 0x00);				/* read-only */
	wr(MSR, 0x00);
	CHECK_EQ(rd(LSR), 0x60);
	CHECK_EQ(rd(MSR), 0xb0);
	CHECK_EQ(rd(SCR), 0xa5);
	teardown();
}

/* Wider accesses walk consecutive registers; bytes past 7 read 0xff. */
static void wide_accesses(void)
{
	uint8_t d[4];
	char buf[8];

	if (!setup())
		return;
	wr(SCR, 0x42);
	memset(d, 0, sizeof(d));
	serial_io(&fx.s, LSR, d, 2, false);
	CHECK_EQ(d[0], 0x60);
	CHECK_EQ(d[1], 0xb0);
	serial_io(&fx.s, SCR, d, 4, false);
	CHECK_EQ(d[0], 0x42);
	CHECK_EQ(d[1], 0xff);
	CHECK_EQ(d[3], 0xff);
	d[0] = 0x03;
	d[1] = 0x10;
	serial_io(&fx.s, LCR, d, 2, true);
	CHECK_EQ(rd(LCR), 0x03);
	CHECK_EQ(rd(MCR), 0x10);
	wr(MCR, 0);
	/* a 2-byte write at THR sends one byte and writes IER */
	d[0] = 'w';
	d[1] = 0x01;
	serial_io(&fx.s, THR, d, 2, true);
	CHECK_EQ(fx.s.r.ier, 0x01);
	serial_flush(&fx.s);
	CHECK_EQ(drain(buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], 'w');
	teardown();
}

/* The callback sees each change of the line once, with IRQ 4. */
static void irq_line_changes(void)
{
	if (!setup())
		return;
	wr(IER, 0x01);				/* RDI on, nothing pending */
	CHECK_EQ(fx.irq.calls, 0);
	serial_receive(&fx.s, (const uint8_t *)"ab", 2);
	CHECK_EQ(fx.irq.calls, 1);
	CHECK_EQ(fx.irq.level, true);
	CHECK_EQ(fx.irq.irq, 4);
	rd(THR);
	CHECK_EQ(fx.irq.calls, 1);		/* still data: no new edge */
	rd(LSR);
	rd(THR);
	CHECK_EQ(fx.irq.calls, 2);
	CHECK_EQ(fx.irq.level, false);
	wr(IER, 0x03);				/* THRI raises at once */
	CHECK_EQ(fx.irq.calls, 3);
	CHECK_EQ(fx.irq.level, true);
	CHECK_EQ(rd(IIR), 0x02);		/* acknowledge */
	CHECK_EQ(fx.irq.calls, 4);
	CHECK_EQ(fx.irq.level, false);
	wr(THR, 'x');
	CHECK_EQ(fx.irq.level, true);
	wr(IER, 0x00);				/* masking lowers it */
	CHECK_EQ(fx.irq.level, false);
	CHECK_EQ(fx.irq.raises, 3);
	CHECK_EQ(fx.irq.lowers, 3);
	CHECK_EQ(fx.s.r.irq_level, false);
	teardown();
}

static const struct tap_case cases[] = {
	TAP_CASE(output_line_buffered),
	TAP_CASE(partial_line_until_flush),
	TAP_CASE(full_buffer_flushes),
	TAP_CASE(output_discarded_or_failing),
	TAP_CASE(divisor_latch),
	TAP_CASE(ier_iir_thri),
	TAP_CASE(receive_and_rdi),
	TAP_CASE(receive_fifo_limit),
	TAP_CASE(fcr_clears_rx),
	TAP_CASE(loopback_and_overrun),
	TAP_CASE(scratch_and_read_only),
	TAP_CASE(wide_accesses),
	TAP_CASE(irq_line_changes),
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
