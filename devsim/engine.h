/* SPDX-License-Identifier: MIT */
/*
 * engine.h: the simulated DMA device: its BAR0 job slots (guest-fw/abi.h),
 * its context page (softhw.h: DTE, GEN/ACK handshake, counters), its
 * doorbell and interrupt eventfds, and the thread ("dma") that runs the
 * jobs, translating every access through the I/O page tables.
 *
 * Threads: engine_* are called by the main thread only. The engine thread
 * owns the device while it runs; engine_attach() stops it before it swaps
 * the device and starts it again.
 */
#ifndef LUVMM_DEVSIM_ENGINE_H
#define LUVMM_DEVSIM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "../vmm/compiler.h"
#include "../vmm/iommu/softhw.h"
#include "slots.h"

struct engine;

/*
 * A detached engine translating through `slots` (which must outlive it),
 * sleeping delay_us before each job (0: none). Installs the process-wide
 * SIGBUS handler that turns a vanished RAM page into a job fault.
 * 0 or -errno.
 */
int __must_check engine_create(struct slots *slots, uint64_t delay_us,
			       struct engine **out);
/* Stop the thread (the job it runs finishes), unmap, close. Accepts NULL. */
void engine_destroy(struct engine *e);

/*
 * Attach (or re-attach) the device: ctx_fd and bar_fd are memfds of at
 * least 4 KiB (mapped read-write, then not kept), doorbell_fd and irq_fd
 * eventfds. On success the engine owns the two eventfds and the caller
 * must not close them; on failure (-EINVAL a wrong kind or size of fd,
 * else the errno of mmap or pthread_create) the caller still owns all four
 * and the device running before, if any, runs on unchanged. A job the
 * running device took finishes on it before the switch.
 */
int __must_check engine_attach(struct engine *e, int ctx_fd, int bar_fd,
			       int doorbell_fd, int irq_fd);

/* Counters, DTE, GEN, ACK from the context page (0 when detached, or
 * when the page vanished); the caller fills in slots. */
void engine_get_stats(const struct engine *e, struct softhw_stats *out);

#endif
