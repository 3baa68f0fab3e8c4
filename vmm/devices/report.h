/* SPDX-License-Identifier: MIT */
/*
 * report.h: the guest report device (ports 0x500-0x50b, guest-fw/abi.h),
 * exposed for its unit test. The core uses it through report_ops.
 */
#ifndef LUVMM_REPORT_H
#define LUVMM_REPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../guest-fw/abi.h"

struct mem;
struct vm;

/* What the host keeps per vCPU from its reports. */
struct report_cpu {
	uint32_t workload;		/* enum luvmm_workload, or UINT32_MAX */
	uint64_t hb_seq;		/* last heartbeat sequence number */
	uint64_t hb_gap_tsc;		/* its gap since the previous heartbeat */
	uint64_t hb_maxgap_tsc;		/* largest gap since the workload started */
	uint64_t hb_seq_breaks;		/* heartbeats whose seq was not last+1 */
	uint64_t heartbeats;
	uint64_t ticks;			/* timer interrupts (guest-counted) */
	uint64_t mc_passes, mc_mismatches, mc_base, mc_size;
	uint64_t last_mismatch_gpa;
	uint64_t panics;
	/* live update: the first heartbeat after a restore carries the gap
	 * the guest saw across it */
	bool gap_pending;
	uint64_t update_gap_tsc;
	uint64_t update_gap_restore;	/* report_dev.restores when measured */
};

/*
 * The guest's DMA workload (one vCPU per VM runs it): the counters of its
 * latest LUVMM_REPORT_DMA report. Each counter only grows.
 */
struct report_dma {
	uint32_t cpu;			/* the vCPU that reports, UINT32_MAX: none yet */
	uint64_t reports;		/* DMA reports accepted */
	uint64_t base, size;		/* its dma= region (WORKLOAD report) */
	uint64_t jobs;			/* arg0: completed and verified */
	uint64_t mismatches;		/* arg1: bad payloads, protocol errors */
	uint64_t faults;		/* arg2: jobs that ended in FAULT */
	uint64_t maps;			/* arg3: map/unmap requests done */
	uint64_t refused;		/* arg4: map/unmap requests refused */
	uint64_t msis;			/* arg5: MSIs taken */
};

struct report_dev {
	pthread_mutex_t lock;
	const struct mem *mem;
	struct vm *vm;			/* NULL in unit tests */
	unsigned ncpus;
	struct report_cpu *cpu;
	int log_fd;			/* JSON lines, -1 for none */
	uint32_t tsc_khz;		/* for microsecond conversions */
	uint64_t reports, bad_reports, stages, last_stage, boots;
	uint64_t cpus_online;
	uint64_t restores;		/* live updates this device was restored in */
	int poweroff_status;		/* -1 until the guest powers off */
	struct report_dma dma;
	struct report_cpu *staged;	/* live update: decoded, not applied */
	uint64_t staged_counts[7];
	struct report_dma staged_dma;
};

int report_init(struct report_dev *d, const struct mem *mem, unsigned ncpus,
		uint32_t tsc_khz, int log_fd);
void report_fini(struct report_dev *d);
/* The iobus handler for ports 0x500-0x50b (priv is the report_dev). */
void report_io(void *priv, uint64_t off, uint8_t *data, uint32_t len,
	       bool is_write);
/*
 * Validate and apply one report read from guest memory; -EINVAL if bad
 * (besides the header: a workload number out of range; a DMA report from
 * a vCPU other than the one that sent the first, or with a counter below
 * the previous report's).
 */
int report_handle(struct report_dev *d, unsigned cpu, const struct luvmm_report *r);
uint64_t report_tsc_to_us(const struct report_dev *d, uint64_t tsc);

struct lu_writer;
struct lu_dec;
/* State section payload, decoder into the staging copy, and commit. */
void report_save(void *priv, struct lu_writer *w);
int report_load(void *priv, struct lu_dec *d);
void report_commit(void *priv);

#endif
