// SPDX-License-Identifier: MIT
/*
 * serial.c: COM1, a 16550A UART at 0x3f8 on IRQ 4. Output goes to stdout,
 * a file, a pty or nowhere; input comes from the pty or a terminal stdin.
 *
 * Transmission is instant (THR always empty). Guest output is buffered per
 * line and written when a line ends, the buffer fills, or the guest has
 * been quiet for a while (the main loop's tick), so a byte is never written
 * twice and never lost: bytes still buffered are part of the device state.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../guest-fw/abi.h"
#include "../config.h"
#include "../iobus.h"
#include "../json.h"
#include "../liveupdate/handoff.h"
#include "../liveupdate/state.h"
#include "../log.h"
#include "../util.h"
#include "../vm.h"
#include "devices.h"
#include "serial.h"

#define UART_RBR_THR	0
#define UART_IER	1
#define UART_IIR_FCR	2
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_MSR	6
#define UART_SCR	7

#define IER_RDI		0x01
#define IER_THRI	0x02
#define IER_MASK	0x0f
#define IIR_NONE	0x01
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define LCR_DLAB	0x80
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_DEFAULT	0xb0	/* DCD, DSR, CTS */

#define FLUSH_IDLE_NS	(50ULL * 1000 * 1000)

void serial_init(struct serial *s, int out_fd, int in_fd)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->in_fd = in_fd;
	s->irq = LUVMM_COM1_IRQ;
	s->r.msr = MSR_DEFAULT;
	s->r.dll = 12;		/* 9600 baud, like a PC after reset */
}

static uint8_t iir_locked(struct serial *s)
{
	uint8_t fifo = (s->r.fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((s->r.ier & IER_RDI) && s->r.rx_count)
		return IIR_RDI | fifo;
	if ((s->r.ier & IER_THRI) && s->r.thri_pending)
		return IIR_THRI | fifo;
	return IIR_NONE | fifo;
}

static void update_irq_locked(struct serial *s)
{
	bool level = !(iir_locked(s) & IIR_NONE);

	if (level == s->r.irq_level)
		return;
	s->r.irq_level = level;
	if (s->set_irq)
		s->set_irq(s->irq_ctx, s->irq, level);
}

static void flush_locked(struct serial *s)
{
	int ret;

	if (!s->r.tx_len)
		return;
	if (s->out_fd >= 0) {
		ret = util_write_all(s->out_fd, s->r.tx, s->r.tx_len);
		if (ret) {
			s->tx_errors++;
			log_ratelimited(LOG_WARN, "serial: output: %s", strerror(-ret));
		}
	}
	s->r.tx_len = 0;
}

void serial_flush(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static void rx_push_locked(struct serial *s, uint8_t c)
{
	if (s->r.rx_count == SERIAL_FIFO) {
		s->r.lsr_flags |= LSR_OE;
		s->rx_dropped++;
		return;
	}
	s->r.rx[(s->r.rx_head + s->r.rx_count) % SERIAL_FIFO] = c;
	s->r.rx_count++;
	s->rx_bytes++;
}

static void transmit_locked(struct serial *s, uint8_t c)
{
	if (s->r.mcr & MCR_LOOP) {
		rx_push_locked(s, c);
	} else {
		s->r.tx[s->r.tx_len++] = c;
		s->tx_bytes++;
		if (c == '\n' || s->r.tx_len == SERIAL_TXBUF)
			flush_locked(s);
	}
	s->r.thri_pending = true;
}

static uint8_t read_reg_locked(struct serial *s, unsigned reg)
{
	uint8_t v;

	switch (reg) {
	case UART_RBR_THR:
		if (s->r.lcr & LCR_DLAB)
			return s->r.dll;
		if (!s->r.rx_count)
			return 0;
		v = s->r.rx[s->r.rx_head];
		s->r.rx_head = (uint8_t)((s->r.rx_head + 1) % SERIAL_FIFO);
		s->r.rx_count--;
		return v;
	case UART_IER:
		return (s->r.lcr & LCR_DLAB) ? s->r.dlm : s->r.ier;
	case UART_IIR_FCR:
		v = iir_locked(s);
		/* reading IIR acknowledges a THR-empty interrupt */
		if ((v & 0x0f) == IIR_THRI)
			s->r.thri_pending = false;
		return v;
	case UART_LCR:
		return s->r.lcr;
	case UART_MCR:
		return s->r.mcr;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT | s->r.lsr_flags;
		if (s->r.rx_count)
			v |= LSR_DR;
		s->r.lsr_flags = 0;	/* error bits clear on read */
		return v;
	case UART_MSR:
		if (s->r.mcr & MCR_LOOP)	/* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
			return (uint8_t)(((s->r.mcr & 0x01) << 5) | ((s->r.mcr & 0x02) << 3) |
					 ((s->r.mcr & 0x04) << 4) | ((s->r.mcr & 0x08) << 4));
		return s->r.msr;
	default:
		return s->r.scr;
	}
}

static void write_reg_locked(struct serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case UART_RBR_THR:
		if (s->r.lcr & LCR_DLAB)
			s->r.dll = v;
		else
			transmit_locked(s, v);
		break;
	case UART_IER:
		if (s->r.lcr & LCR_DLAB) {
			s->r.dlm = v;
			break;
		}
		/* enabling THRI with an empty THR raises it at once */
		if (!(s->r.ier & IER_THRI) && (v & IER_THRI))
			s->r.thri_pending = true;
		s->r.ier = v & IER_MASK;
		break;
	case UART_IIR_FCR:
		s->r.fcr = v & 0xc9;
		if (v & FCR_CLEAR_RX)
			s->r.rx_count = 0;
		break;
	case UART_LCR:
		s->r.lcr = v;
		break;
	case UART_MCR:
		s->r.mcr = v & 0x1f;
		break;
	case UART_LSR:
	case UART_MSR:
		break;	/* read-only */
	default:
		s->r.scr = v;
		break;
	}
}

void serial_io(void *priv, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct serial *s = priv;
	uint32_t i;

	pthread_mutex_lock(&s->lock);
	/* wider accesses touch consecutive registers, like an 8-bit bus */
	for (i = 0; i < len && off + i < 8; i++) {
		if (is_write)
			write_reg_locked(s, (unsigned)(off + i), data[i]);
		else
			data[i] = read_reg_locked(s, (unsigned)(off + i));
	}
	for (; !is_write && i < len; i++)
		data[i] = 0xff;
	if (is_write && off == UART_RBR_THR)
		s->tx_last_ns = util_now_ns();
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
}

unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned n)
{
	unsigned i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < n && s->r.rx_count < SERIAL_FIFO; i++)
		rx_push_locked(s, buf[i]);
	update_irq_locked(s);
	pthread_mutex_unlock(&s->lock);
	return i;
}

/* ---- device glue -------------------------------------------------------- */

static void vm_set_irq(void *ctx, unsigned irq, bool level)
{
	int ret = vm_irq_line(ctx, irq, level);

	if (ret)
		log_ratelimited(LOG_WARN, "serial: KVM_IRQ_LINE %u: %s", irq, strerror(-ret));
}

/* Live update: the fds the old VMM used, by name. */
static int adopt_backend(struct serial *s, const struct config *cfg, struct handoff *h)
{
	int out = -1, in = -1;

	if (cfg->serial == SERIAL_NONE)
		return 0;
	out = handoff_get(h, "serial-out", HK_FILE);
	if (out >= 0)
		out = handoff_take(h, "serial-out");
	if (out < 0) {
		log_err("serial: no usable \"serial-out\" fd in the handoff: %s",
			strerror(-out));
		return out;
	}
	s->out_fd = out;
	s->own_out = true;
	if (cfg->serial == SERIAL_PTY) {
		s->in_fd = out;
	} else if (handoff_get(h, "serial-in", HK_FILE) >= 0 &&
		   (in = handoff_take(h, "serial-in")) >= 0) {
		s->in_fd = in;
		s->own_in = true;
	}
	return 0;
}

static int open_backend(struct serial *s, const struct config *cfg)
{
	int fd;

	switch (cfg->serial) {
	case SERIAL_STDIO:
		s->out_fd = STDOUT_FILENO;
		if (isatty(STDIN_FILENO))
			s->in_fd = STDIN_FILENO;
		return 0;
	case SERIAL_FILE:
		fd = open(cfg->serial_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			log_err("serial: %s: %s", cfg->serial_path, strerror(errno));
			return -errno;
		}
		s->out_fd = fd;
		s->own_out = true;
		return 0;
	case SERIAL_PTY:
		fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
			int ret = -errno;

			log_err("serial: pty: %s", strerror(-ret));
			if (fd >= 0)
				close(fd);
			return ret;
		}
		s->out_fd = s->in_fd = fd;
		s->own_out = true;
		log_info("serial: pty %s", ptsname(fd));
		return 0;
	case SERIAL_NONE:
		return 0;
	}
	return -EINVAL;
}

static void serial_destroy(void *priv)
{
	struct serial *s = priv;

	if (!s)
		return;
	serial_flush(s);
	if (s->own_out)
		close(s->out_fd);
	if (s->own_in && s->in_fd != s->out_fd)
		close(s->in_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int serial_create(const struct dev_env *env, void **priv)
{
	struct serial *s = malloc(sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	serial_init(s, -1, -1);
	s->set_irq = vm_set_irq;
	s->irq_ctx = env->vm;
	ret = env->handoff ? adopt_backend(s, env->cfg, env->handoff) :
			     open_backend(s, env->cfg);
	if (!ret)
		ret = iobus_register(&env->vm->pio, LUVMM_PORT_COM1, 8, serial_io, s, "com1");
	if (ret) {
		serial_destroy(s);
		return ret;
	}
	*priv = s;
	return 0;
}

static bool on_input(struct loop_watch *w, int revents)
{
	struct serial *s = w->arg;
	uint8_t buf[SERIAL_FIFO];
	unsigned room;
	ssize_t n;

	if (revents < 0 || (revents & (POLLERR | POLLNVAL)))
		return false;
	pthread_mutex_lock(&s->lock);
	room = SERIAL_FIFO - s->r.rx_count;
	pthread_mutex_unlock(&s->lock);
	if (!room)
		return true;	/* the guest has not drained the FIFO yet */
	n = read(s->in_fd, buf, room);
	if (n <= 0)
		return n < 0 && (errno == EAGAIN || errno == EINTR || errno == EIO);
	serial_receive(s, buf, (unsigned)n);
	return true;
}

static int serial_attach(void *priv, struct loop *loop)
{
	struct serial *s = priv;

	if (s->in_fd < 0)
		return 0;
	s->in_watch = (struct loop_watch){ .fd = s->in_fd, .events = POLLIN,
					   .fn = on_input, .arg = s };
	return loop_watch(loop, &s->in_watch);
}

static void serial_detach(void *priv, struct loop *loop)
{
	struct serial *s = priv;

	if (s->in_watch.active)
		loop_unwatch(loop, &s->in_watch);
}

static void serial_tick(void *priv)
{
	struct serial *s = priv;

	pthread_mutex_lock(&s->lock);
	if (s->r.tx_len && util_now_ns() - s->tx_last_ns > FLUSH_IDLE_NS)
		flush_locked(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_metrics(void *priv, struct json_writer *w)
{
	struct serial *s = priv;

	pthread_mutex_lock(&s->lock);
	jw_key(w, "serial");
	jw_obj_begin(w);
	jw_ku64(w, "tx_bytes", s->tx_bytes);
	jw_ku64(w, "rx_bytes", s->rx_bytes);
	jw_ku64(w, "rx_dropped", s->rx_dropped);
	jw_ku64(w, "tx_errors", s->tx_errors);
	jw_ku64(w, "buffered", s->r.tx_len);
	jw_obj_end(w);
	pthread_mutex_unlock(&s->lock);
}

static int serial_export(void *priv, struct handoff *h)
{
	struct serial *s = priv;
	int ret = 0;

	if (s->out_fd >= 0)
		ret = handoff_add(h, "serial-out", s->out_fd, HK_FILE);
	if (!ret && s->in_fd >= 0 && s->in_fd != s->out_fd)
		ret = handoff_add(h, "serial-in", s->in_fd, HK_FILE);
	return ret;
}

void serial_save(void *priv, struct lu_writer *w)
{
	struct serial *s = priv;
	const struct serial_regs *r = &s->r;
	unsigned i;

	/* vCPUs are parked, but the main loop's input path takes the lock */
	pthread_mutex_lock(&s->lock);
	lu_put_u8(w, r->ier);
	lu_put_u8(w, r->lcr);
	lu_put_u8(w, r->mcr);
	lu_put_u8(w, r->lsr_flags);
	lu_put_u8(w, r->msr);
	lu_put_u8(w, r->scr);
	lu_put_u8(w, r->dll);
	lu_put_u8(w, r->dlm);
	lu_put_u8(w, r->fcr);
	lu_put_bool(w, r->thri_pending);
	lu_put_bool(w, r->irq_level);
	lu_put_u8(w, r->rx_count);
	for (i = 0; i < r->rx_count; i++)
		lu_put_u8(w, r->rx[(r->rx_head + i) % SERIAL_FIFO]);
	lu_put_u16(w, r->tx_len);
	lu_put_bytes(w, r->tx, r->tx_len);
	lu_put_u64(w, s->tx_bytes);
	lu_put_u64(w, s->rx_bytes);
	lu_put_u64(w, s->rx_dropped);
	pthread_mutex_unlock(&s->lock);
}

int serial_load(void *priv, struct lu_dec *d)
{
	struct serial *s = priv;
	struct serial_regs *r = &s->staged;
	bool b;
	unsigned i;

	memset(r, 0, sizeof(*r));
	lu_get_u8(d, "ier", &r->ier);
	lu_check(d, !(r->ier & ~IER_MASK), "ier", "reserved bits 0x%x", r->ier);
	lu_get_u8(d, "lcr", &r->lcr);
	lu_get_u8(d, "mcr", &r->mcr);
	lu_check(d, r->mcr <= 0x1f, "mcr", "reserved bits 0x%x", r->mcr);
	lu_get_u8(d, "lsr_flags", &r->lsr_flags);
	lu_check(d, !(r->lsr_flags & ~0x1e), "lsr_flags", "0x%x is not an error bit",
		 r->lsr_flags);
	lu_get_u8(d, "msr", &r->msr);
	lu_get_u8(d, "scr", &r->scr);
	lu_get_u8(d, "dll", &r->dll);
	lu_get_u8(d, "dlm", &r->dlm);
	lu_get_u8(d, "fcr", &r->fcr);
	lu_check(d, !(r->fcr & ~0xc9), "fcr", "reserved bits 0x%x", r->fcr);
	lu_get_bool(d, "thri_pending", &b);
	r->thri_pending = b;
	lu_get_bool(d, "irq_level", &b);
	r->irq_level = b;
	lu_get_u8(d, "rx_count", &r->rx_count);
	lu_check(d, r->rx_count <= SERIAL_FIFO, "rx_count", "%u above %d", r->rx_count,
		 SERIAL_FIFO);
	for (i = 0; i < r->rx_count && !d->err; i++)
		lu_get_u8(d, "rx", &r->rx[i]);
	lu_get_u16(d, "tx_len", &r->tx_len);
	lu_check(d, r->tx_len < SERIAL_TXBUF, "tx_len", "%u bytes, the buffer holds %d",
		 r->tx_len, SERIAL_TXBUF - 1);
	if (!d->err)
		lu_get_bytes(d, "tx", r->tx, r->tx_len);
	lu_get_u64(d, "tx_bytes", &s->staged_tx_bytes);
	lu_get_u64(d, "rx_bytes", &s->staged_rx_bytes);
	lu_get_u64(d, "rx_dropped", &s->staged_rx_dropped);
	return lu_dec_finish(d, 1);
}

void serial_commit(void *priv)
{
	struct serial *s = priv;

	pthread_mutex_lock(&s->lock);
	s->r = s->staged;
	s->tx_bytes = s->staged_tx_bytes;
	s->rx_bytes = s->staged_rx_bytes;
	s->rx_dropped = s->staged_rx_dropped;
	/* KVM tracks the line level outside the irqchip state it restored:
	 * assert a raised line again so the two agree */
	if (s->r.irq_level && s->set_irq)
		s->set_irq(s->irq_ctx, s->irq, true);
	pthread_mutex_unlock(&s->lock);
}

const struct dev_ops serial_ops = {
	.name = "serial",
	.create = serial_create,
	.destroy = serial_destroy,
	.attach = serial_attach,
	.detach = serial_detach,
	.tick = serial_tick,
	.metrics = serial_metrics,
	.export = serial_export,
	.save = serial_save,
	.load = serial_load,
	.commit = serial_commit,
	.state_version = 1,
};
