/* SPDX-License-Identifier: MIT */
/*
 * serial.h: the 16550A UART model, exposed for its unit test. The core
 * uses it only through serial_ops (devices.h).
 */
#ifndef LUVMM_SERIAL_H
#define LUVMM_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../loop.h"

#define SERIAL_FIFO	16
#define SERIAL_TXBUF	4096

/* Guest-visible state: exactly what a live update carries. */
struct serial_regs {
	uint8_t ier, lcr, mcr, lsr_flags, msr, scr, dll, dlm, fcr;
	bool thri_pending;		/* THR-empty interrupt not yet acknowledged */
	uint8_t rx[SERIAL_FIFO];	/* receive FIFO */
	uint8_t rx_head, rx_count;
	uint16_t tx_len;		/* bytes written by the guest, not yet output */
	uint8_t tx[SERIAL_TXBUF];
	bool irq_level;			/* level last driven on the IRQ line */
};

struct serial {
	pthread_mutex_t lock;
	struct serial_regs r;
	int out_fd;			/* -1: output discarded */
	int in_fd;			/* -1: no input */
	bool own_out, own_in;		/* close these on destroy */
	unsigned irq;
	/* drive the interrupt line; NULL in unit tests */
	void (*set_irq)(void *ctx, unsigned irq, bool level);
	void *irq_ctx;
	struct loop_watch in_watch;
	uint64_t tx_bytes, rx_bytes, rx_dropped, tx_errors;
	uint64_t tx_last_ns;		/* last guest write, for the idle flush */
	/* live update: a decoded state waiting for commit */
	struct serial_regs staged;
	uint64_t staged_tx_bytes, staged_rx_bytes, staged_rx_dropped;
};

void serial_init(struct serial *s, int out_fd, int in_fd);
/* One register access at offset 0..7 (the iobus handler). */
void serial_io(void *priv, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Queue host input; returns bytes accepted (the FIFO holds 16). */
unsigned serial_receive(struct serial *s, const uint8_t *buf, unsigned n);
/* Write out buffered guest output now. */
void serial_flush(struct serial *s);

struct lu_writer;
struct lu_dec;
/* The device's state section payload (after the name), and its decoder
 * into s->staged; serial_commit() applies it. */
void serial_save(void *priv, struct lu_writer *w);
int serial_load(void *priv, struct lu_dec *d);
void serial_commit(void *priv);

#endif
