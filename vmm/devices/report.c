// SPDX-License-Identifier: MIT
/*
 * report.c: the guest's report, power-off and info ports (guest-fw/abi.h).
 *
 * A report is a 64-byte struct in guest memory whose address the guest
 * writes to port 0x500. It is copied out of guest memory first, then
 * validated (the guest could change it under us), then applied to the
 * per-vCPU counters that metrics shows and, optionally, appended to a
 * JSON-lines log. Nothing a guest writes here can stop the VMM: bad reports
 * are counted and logged at a limited rate.
 *
 * Live-update section (LU_SEC_DEVICE "report"), version 2: u64 reports,
 * bad_reports, stages, last_stage, boots, cpus_online, restores; u32
 * ncpus; per vCPU u32 workload then the CPU_FIELDS u64s; then (since
 * version 2) the DMA workload: u32 cpu + 1 (0: none) and the DMA_FIELDS
 * u64s. A version 1 section has no DMA part: no DMA cpu, all 0. Without a
 * DMA workload the version 2 tail is all zero, so a version 1 reader
 * accepts the section.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../config.h"
#include "../iobus.h"
#include "../json.h"
#include "../liveupdate/handoff.h"
#include "../liveupdate/state.h"
#include "../log.h"
#include "../mem.h"
#include "../util.h"
#include "../vcpu.h"
#include "../vm.h"
#include "devices.h"
#include "report.h"

static const char *const workload_names[] = {
	[LUVMM_WORKLOAD_IDLE] = "idle",
	[LUVMM_WORKLOAD_HEARTBEAT] = "heartbeat",
	[LUVMM_WORKLOAD_MEMCHECK] = "memcheck",
	[LUVMM_WORKLOAD_DMA] = "dma",
};

static const char *const type_names[] = {
	[LUVMM_REPORT_BOOT] = "boot",
	[LUVMM_REPORT_WORKLOAD] = "workload",
	[LUVMM_REPORT_HEARTBEAT] = "heartbeat",
	[LUVMM_REPORT_MEMCHECK] = "memcheck",
	[LUVMM_REPORT_MISMATCH] = "mismatch",
	[LUVMM_REPORT_PANIC] = "panic",
	[LUVMM_REPORT_STAGE] = "stage",
	[LUVMM_REPORT_BADCMDLINE] = "badcmdline",
	[LUVMM_REPORT_DMA] = "dma",
};

_Static_assert(ARRAY_SIZE(workload_names) == LUVMM_WORKLOAD_MAX, "workload_names");
_Static_assert(ARRAY_SIZE(type_names) == LUVMM_REPORT_TYPE_MAX, "type_names");

int report_init(struct report_dev *d, const struct mem *mem, unsigned ncpus,
		uint32_t tsc_khz, int log_fd)
{
	unsigned i;

	memset(d, 0, sizeof(*d));
	d->cpu = calloc(ncpus, sizeof(*d->cpu));
	if (!d->cpu)
		return -ENOMEM;
	for (i = 0; i < ncpus; i++)
		d->cpu[i].workload = UINT32_MAX;
	d->dma.cpu = UINT32_MAX;
	pthread_mutex_init(&d->lock, NULL);
	d->mem = mem;
	d->ncpus = ncpus;
	d->tsc_khz = tsc_khz;
	d->log_fd = log_fd;
	d->poweroff_status = -1;
	return 0;
}

void report_fini(struct report_dev *d)
{
	if (!d->cpu)
		return;
	free(d->staged);
	free(d->cpu);
	d->cpu = NULL;
	pthread_mutex_destroy(&d->lock);
}

uint64_t report_tsc_to_us(const struct report_dev *d, uint64_t tsc)
{
	if (!d->tsc_khz)
		return 0;
	/* tsc / (khz / 1000) without overflow for any realistic gap */
	return tsc / d->tsc_khz * 1000 + (tsc % d->tsc_khz) * 1000 / d->tsc_khz;
}

static void log_line(struct report_dev *d, unsigned cpu, const struct luvmm_report *r)
{
	char buf[384];
	struct json_writer w;
	unsigned i;
	int n;

	jw_init(&w, buf, sizeof(buf) - 1);
	jw_obj_begin(&w);
	jw_ku64(&w, "t_us", util_now_us());
	jw_ku64(&w, "cpu", cpu);
	jw_kstr(&w, "type", type_names[r->type]);
	jw_key(&w, "arg");
	jw_arr_begin(&w);
	for (i = 0; i < ARRAY_SIZE(r->arg); i++)
		jw_u64(&w, r->arg[i]);
	jw_arr_end(&w);
	jw_obj_end(&w);
	n = jw_finish(&w);
	if (n < 0)
		return;
	buf[n++] = '\n';
	/* O_APPEND and one write per line: lines never interleave */
	if (util_write_all(d->log_fd, buf, (size_t)n))
		log_ratelimited(LOG_WARN, "report: log write failed");
}

static void heartbeat_locked(struct report_dev *d, struct report_cpu *c,
			     unsigned cpu, const struct luvmm_report *r)
{
	if (c->heartbeats && r->arg[0] != c->hb_seq + 1) {
		c->hb_seq_breaks++;
		log_ratelimited(LOG_WARN, "report: cpu%u heartbeat %" PRIu64 " after %" PRIu64,
				cpu, r->arg[0], c->hb_seq);
	}
	c->heartbeats++;
	if (c->gap_pending) {
		c->gap_pending = false;
		c->update_gap_tsc = r->arg[1];
		c->update_gap_restore = d->restores;
	}
	c->hb_seq = r->arg[0];
	c->hb_gap_tsc = r->arg[1];
	c->hb_maxgap_tsc = r->arg[2];
	c->ticks = r->arg[3];
}

/* One vCPU runs the DMA workload; its counters never go down. */
static bool dma_ok_locked(const struct report_dev *d, unsigned cpu,
			  const struct luvmm_report *r)
{
	const struct report_dma *m = &d->dma;

	if (m->cpu != UINT32_MAX && m->cpu != cpu)
		return false;
	return r->arg[0] >= m->jobs && r->arg[1] >= m->mismatches &&
	       r->arg[2] >= m->faults && r->arg[3] >= m->maps &&
	       r->arg[4] >= m->refused && r->arg[5] >= m->msis;
}

static void dma_locked(struct report_dev *d, unsigned cpu,
		       const struct luvmm_report *r)
{
	struct report_dma *m = &d->dma;

	if (r->arg[1] > m->mismatches || r->arg[2] > m->faults)
		log_ratelimited(LOG_WARN, "guest cpu%u: dma: %" PRIu64 " mismatches, %" PRIu64 " faults after %" PRIu64 " jobs",
				cpu, r->arg[1], r->arg[2], r->arg[0]);
	m->cpu = cpu;
	m->reports++;
	m->jobs = r->arg[0];
	m->mismatches = r->arg[1];
	m->faults = r->arg[2];
	m->maps = r->arg[3];
	m->refused = r->arg[4];
	m->msis = r->arg[5];
}

int report_handle(struct report_dev *d, unsigned cpu, const struct luvmm_report *r)
{
	struct report_cpu *c;

	if (r->magic != LUVMM_REPORT_MAGIC || r->version != LUVMM_REPORT_VERSION ||
	    r->reserved || r->type == 0 || r->type >= LUVMM_REPORT_TYPE_MAX ||
	    cpu >= d->ncpus || r->cpu != cpu)
		return -EINVAL;
	if (r->type == LUVMM_REPORT_WORKLOAD && r->arg[0] >= LUVMM_WORKLOAD_MAX)
		return -EINVAL;

	pthread_mutex_lock(&d->lock);
	if (r->type == LUVMM_REPORT_DMA && !dma_ok_locked(d, cpu, r)) {
		pthread_mutex_unlock(&d->lock);
		return -EINVAL;
	}
	c = &d->cpu[cpu];
	d->reports++;
	switch (r->type) {
	case LUVMM_REPORT_BOOT:
		d->boots++;
		d->cpus_online = r->arg[0];
		break;
	case LUVMM_REPORT_WORKLOAD:
		c->workload = (uint32_t)r->arg[0];
		if (c->workload == LUVMM_WORKLOAD_DMA) {
			d->dma.base = r->arg[1];
			d->dma.size = r->arg[2];
			c->mc_base = c->mc_size = 0;
			break;
		}
		c->mc_base = r->arg[1];
		c->mc_size = r->arg[2];
		break;
	case LUVMM_REPORT_HEARTBEAT:
		heartbeat_locked(d, c, cpu, r);
		break;
	case LUVMM_REPORT_MEMCHECK:
		c->mc_passes = r->arg[0];
		c->mc_mismatches = r->arg[1];
		break;
	case LUVMM_REPORT_MISMATCH:
		c->mc_mismatches = r->arg[3];
		c->last_mismatch_gpa = r->arg[0];
		break;
	case LUVMM_REPORT_PANIC:
		c->panics++;
		break;
	case LUVMM_REPORT_STAGE:
		d->stages++;
		d->last_stage = r->arg[0];
		break;
	case LUVMM_REPORT_DMA:
		dma_locked(d, cpu, r);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&d->lock);

	switch (r->type) {
	case LUVMM_REPORT_MISMATCH:
		log_warn("guest cpu%u: memcheck mismatch at 0x%" PRIx64 ": expected 0x%" PRIx64 ", found 0x%" PRIx64,
			 cpu, r->arg[0], r->arg[1], r->arg[2]);
		break;
	case LUVMM_REPORT_PANIC:
		log_err("guest cpu%u: panic: vector %" PRIu64 " error 0x%" PRIx64 " rip 0x%" PRIx64 " cr2 0x%" PRIx64,
			cpu, r->arg[0], r->arg[1], r->arg[2], r->arg[3]);
		break;
	case LUVMM_REPORT_BADCMDLINE:
		log_err("guest cpu%u: rejected its command line at offset %" PRIu64,
			cpu, r->arg[0]);
		break;
	default:
		break;
	}
	if (d->log_fd >= 0)
		log_line(d, cpu, r);
	return 0;
}

static void do_report(struct report_dev *d, uint32_t gpa)
{
	const void *src = mem_gpa_to_hva(d->mem, gpa, sizeof(struct luvmm_report));
	struct luvmm_report r;
	int cpu = vcpu_current_id();

	if (!src || gpa % 8) {
		__atomic_fetch_add(&d->bad_reports, 1, __ATOMIC_RELAXED);
		log_ratelimited(LOG_WARN, "report: cpu%d: address 0x%x is not aligned guest RAM",
				cpu, gpa);
		return;
	}
	memcpy(&r, src, sizeof(r));	/* one snapshot, then validate it */
	if (cpu < 0 || report_handle(d, (unsigned)cpu, &r)) {
		__atomic_fetch_add(&d->bad_reports, 1, __ATOMIC_RELAXED);
		log_ratelimited(LOG_WARN, "report: cpu%d: malformed report at 0x%x (magic 0x%x version %u type %u cpu %u)",
				cpu, gpa, r.magic, r.version, r.type, r.cpu);
	}
}

void report_io(void *priv, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct report_dev *d = priv;
	uint32_t v = 0;

	memcpy(&v, data, MIN(len, 4u));
	switch (off) {
	case LUVMM_PORT_REPORT - LUVMM_PORT_REPORT:
		if (is_write && len == 4)
			do_report(d, v);
		else if (!is_write)
			memset(data, 0, len);
		return;
	case LUVMM_PORT_POWEROFF - LUVMM_PORT_REPORT:
		if (!is_write) {
			memset(data, 0, len);
			return;
		}
		pthread_mutex_lock(&d->lock);
		if (d->poweroff_status < 0)
			d->poweroff_status = (int)(v & 0xff);
		pthread_mutex_unlock(&d->lock);
		log_info("guest powered off with status %u", v & 0xff);
		if (d->vm)
			vm_request_exit(d->vm, (int)(v & 0xff));
		return;
	case LUVMM_PORT_INFO - LUVMM_PORT_REPORT:
		if (!is_write) {
			v = LUVMM_INFO_MAGIC;
			memset(data, 0, len);
			memcpy(data, &v, MIN(len, 4u));
		}
		return;
	default:
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
}

/* ---- device glue -------------------------------------------------------- */

static void report_destroy(void *priv)
{
	struct report_dev *d = priv;

	if (!d)
		return;
	if (d->log_fd >= 0)
		close(d->log_fd);
	report_fini(d);
	free(d);
}

static int report_create(const struct dev_env *env, void **priv)
{
	const struct config *cfg = env->cfg;
	struct report_dev *d = calloc(1, sizeof(*d));
	int fd = -1, ret;

	if (!d)
		return -ENOMEM;
	if (cfg->report_log && env->handoff) {
		fd = handoff_get(env->handoff, "report-log", HK_FILE);
		if (fd >= 0)
			fd = handoff_take(env->handoff, "report-log");
		if (fd < 0) {
			log_err("report: no usable \"report-log\" fd in the handoff");
			free(d);
			return fd;
		}
	} else if (cfg->report_log) {
		fd = open(cfg->report_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			ret = -errno;
			log_err("report log %s: %s", cfg->report_log, strerror(-ret));
			free(d);
			return ret;
		}
	}
	ret = report_init(d, &env->vm->mem, env->vm->ncpus, env->vm->tsc_khz, fd);
	if (ret) {
		if (fd >= 0)
			close(fd);
		free(d);
		return ret;
	}
	d->vm = env->vm;
	ret = iobus_register(&env->vm->pio, LUVMM_PORT_REPORT, 12, report_io, d, "report");
	if (ret) {
		report_destroy(d);
		return ret;
	}
	*priv = d;
	return 0;
}

static void cpu_metrics(const struct report_dev *d, unsigned i, struct json_writer *w)
{
	const struct report_cpu *c = &d->cpu[i];

	jw_obj_begin(w);
	jw_ku64(w, "id", i);
	jw_kstr(w, "workload", c->workload < LUVMM_WORKLOAD_MAX ?
		workload_names[c->workload] : "none");
	jw_ku64(w, "heartbeats", c->heartbeats);
	jw_ku64(w, "hb_seq", c->hb_seq);
	jw_ku64(w, "hb_gap_us", report_tsc_to_us(d, c->hb_gap_tsc));
	jw_ku64(w, "hb_maxgap_us", report_tsc_to_us(d, c->hb_maxgap_tsc));
	jw_ku64(w, "hb_seq_breaks", c->hb_seq_breaks);
	jw_ku64(w, "ticks", c->ticks);
	jw_ku64(w, "memcheck_base", c->mc_base);
	jw_ku64(w, "memcheck_size", c->mc_size);
	jw_ku64(w, "memcheck_passes", c->mc_passes);
	jw_ku64(w, "memcheck_mismatches", c->mc_mismatches);
	jw_ku64(w, "last_mismatch_gpa", c->last_mismatch_gpa);
	jw_ku64(w, "panics", c->panics);
	jw_ku64(w, "update_gap_us", report_tsc_to_us(d, c->update_gap_tsc));
	jw_ku64(w, "update_gap_restore", c->update_gap_restore);
	jw_obj_end(w);
}

static void dma_metrics(const struct report_dev *d, struct json_writer *w)
{
	const struct report_dma *m = &d->dma;

	jw_key(w, "dma");
	jw_obj_begin(w);
	jw_key(w, "cpu");
	if (m->cpu == UINT32_MAX)
		jw_null(w);	/* no DMA report yet */
	else
		jw_u64(w, m->cpu);
	jw_ku64(w, "reports", m->reports);
	jw_ku64(w, "base", m->base);
	jw_ku64(w, "size", m->size);
	jw_ku64(w, "jobs", m->jobs);
	jw_ku64(w, "mismatches", m->mismatches);
	jw_ku64(w, "faults", m->faults);
	jw_ku64(w, "maps", m->maps);
	jw_ku64(w, "refused", m->refused);
	jw_ku64(w, "msis", m->msis);
	jw_obj_end(w);
}

static void report_metrics(void *priv, struct json_writer *w)
{
	struct report_dev *d = priv;
	unsigned i;

	pthread_mutex_lock(&d->lock);
	jw_key(w, "guest");
	jw_obj_begin(w);
	jw_ku64(w, "reports", d->reports);
	jw_ku64(w, "bad_reports", __atomic_load_n(&d->bad_reports, __ATOMIC_RELAXED));
	jw_ku64(w, "boots", d->boots);
	jw_ku64(w, "cpus_online", d->cpus_online);
	jw_ku64(w, "last_stage", d->last_stage);
	jw_ku64(w, "restores", d->restores);
	dma_metrics(d, w);
	jw_key(w, "cpus");
	jw_arr_begin(w);
	for (i = 0; i < d->ncpus; i++)
		cpu_metrics(d, i, w);
	jw_arr_end(w);
	jw_obj_end(w);
	pthread_mutex_unlock(&d->lock);
}

/* Per-vCPU fields on the wire, in order (docs/state-format.md). */
#define CPU_FIELDS(X) X(hb_seq) X(hb_gap_tsc) X(hb_maxgap_tsc) X(hb_seq_breaks) \
	X(heartbeats) X(ticks) X(mc_passes) X(mc_mismatches) X(mc_base) \
	X(mc_size) X(last_mismatch_gpa) X(panics)
/* The DMA workload's fields after the vCPUs (version 2), after its u32 cpu. */
#define DMA_FIELDS(X) X(reports) X(base) X(size) X(jobs) X(mismatches) \
	X(faults) X(maps) X(refused) X(msis)
#define REPORT_SEC_VERSION	2

void report_save(void *priv, struct lu_writer *w)
{
	struct report_dev *d = priv;
	unsigned i;

	pthread_mutex_lock(&d->lock);
	lu_put_u64(w, d->reports);
	lu_put_u64(w, __atomic_load_n(&d->bad_reports, __ATOMIC_RELAXED));
	lu_put_u64(w, d->stages);
	lu_put_u64(w, d->last_stage);
	lu_put_u64(w, d->boots);
	lu_put_u64(w, d->cpus_online);
	lu_put_u64(w, d->restores);
	lu_put_u32(w, d->ncpus);
	for (i = 0; i < d->ncpus; i++) {
		const struct report_cpu *c = &d->cpu[i];

		lu_put_u32(w, c->workload);
#define PUT_CPU(f) lu_put_u64(w, c->f);
		CPU_FIELDS(PUT_CPU)
#undef PUT_CPU
	}
	lu_put_u32(w, d->dma.cpu + 1);	/* UINT32_MAX (none) -> 0 */
#define PUT_DMA(f) lu_put_u64(w, d->dma.f);
	DMA_FIELDS(PUT_DMA)
#undef PUT_DMA
	pthread_mutex_unlock(&d->lock);
}

int report_load(void *priv, struct lu_dec *d)
{
	struct report_dev *r = priv;
	uint32_t n, i;
	int ret;

	for (i = 0; i < 7; i++)
		lu_get_u64(d, "counters", &r->staged_counts[i]);
	lu_get_count(d, "ncpus", 4096, 4 + 12 * 8, &n);
	lu_check(d, n == r->ncpus, "ncpus", "%u vCPUs, this VM has %u", n, r->ncpus);
	if (d->err)
		return d->err;
	free(r->staged);
	r->staged = calloc(n, sizeof(*r->staged));
	if (!r->staged)
		return -ENOMEM;
	for (i = 0; i < n && !d->err; i++) {
		struct report_cpu *c = &r->staged[i];

		lu_get_u32(d, "workload", &c->workload);
		lu_check(d, c->workload < LUVMM_WORKLOAD_MAX || c->workload == UINT32_MAX,
			 "workload", "vCPU %u: %u unknown", i, c->workload);
#define GET_CPU(f) lu_get_u64(d, #f, &c->f);
		CPU_FIELDS(GET_CPU)
#undef GET_CPU
	}
	memset(&r->staged_dma, 0, sizeof(r->staged_dma));
	r->staged_dma.cpu = UINT32_MAX;
	if (d->version >= 2) {
		lu_get_u32(d, "dma_cpu", &r->staged_dma.cpu);
		lu_check(d, r->staged_dma.cpu <= n, "dma_cpu",
			 "vCPU %u + 1 of %u", r->staged_dma.cpu - 1, n);
		r->staged_dma.cpu--;	/* 0 (none) -> UINT32_MAX */
#define GET_DMA(f) lu_get_u64(d, "dma_" #f, &r->staged_dma.f);
		DMA_FIELDS(GET_DMA)
#undef GET_DMA
	}
	ret = lu_dec_finish(d, REPORT_SEC_VERSION);
	if (ret) {
		free(r->staged);
		r->staged = NULL;
	}
	return ret;
}

void report_commit(void *priv)
{
	struct report_dev *d = priv;
	unsigned i;

	pthread_mutex_lock(&d->lock);
	memcpy(d->cpu, d->staged, d->ncpus * sizeof(*d->cpu));
	free(d->staged);
	d->staged = NULL;
	d->reports = d->staged_counts[0];
	__atomic_store_n(&d->bad_reports, d->staged_counts[1], __ATOMIC_RELAXED);
	d->stages = d->staged_counts[2];
	d->last_stage = d->staged_counts[3];
	d->boots = d->staged_counts[4];
	d->cpus_online = d->staged_counts[5];
	d->restores = d->staged_counts[6] + 1;
	d->dma = d->staged_dma;
	for (i = 0; i < d->ncpus; i++)
		d->cpu[i].gap_pending = true;
	pthread_mutex_unlock(&d->lock);
}

static int report_export(void *priv, struct handoff *h)
{
	struct report_dev *d = priv;

	return d->log_fd >= 0 ? handoff_add(h, "report-log", d->log_fd, HK_FILE) : 0;
}

const struct dev_ops report_ops = {
	.name = "report",
	.create = report_create,
	.destroy = report_destroy,
	.metrics = report_metrics,
	.export = report_export,
	.save = report_save,
	.load = report_load,
	.commit = report_commit,
	.state_version = REPORT_SEC_VERSION,
};
