// SPDX-License-Identifier: MIT
/*
 * pt_iommu.c: the IOMMU side of the passthrough device, the same for both
 * backends: the objects the guest's requests go to, the paravirtual IOMMU
 * requests (guest-fw/abi.h, port 0x510) served on vCPU threads, the map
 * log they keep, and after a live update the rebuild thread and the
 * warm-path gate that makes only requesting vCPUs wait for it. What
 * differs between the soft IOMMU and iommufd goes through d->be.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../iommu/iommu.h"
#include "../iommu/iommufd.h"
#include "../iommu/maplog.h"
#include "../json.h"
#include "../liveupdate/handoff.h"
#include "../log.h"
#include "../mem.h"
#include "../util.h"
#include "../vcpu.h"
#include "passthrough.h"

/* ---- set-up ----------------------------------------------------------------- */

/* Why op failed: iommufd's vocabulary where the kernel answered. */
static const char *io_reason(const struct pt_dev *d, int err)
{
	if (d->io && d->io->kind == IOMMU_IOMMUFD)
		return iommufd_strerror(iommufd_last_op(d->io), err);
	return strerror(err < 0 ? -err : err);
}

/* Boot: the objects the guest's requests go to, the device attached to
 * them, then started. */
static int setup_fresh(struct pt_dev *d)
{
	struct iommu *io = d->io;
	const char *step = "IOAS";
	int ret;

	ret = iommu_ioas_alloc(io, &d->ioas_id);
	if (!ret) {
		step = "HWPT";
		ret = iommu_hwpt_alloc(io, d->dev_id, d->ioas_id, d->spec.pgsize,
				       &d->hwpt_id);
	}
	if (!ret) {
		step = "attach";
		ret = iommu_attach(io, d->dev_id, d->hwpt_id);
	}
	if (!ret) {
		step = "map log";
		ret = maplog_create(MAPLOG_DEFAULT_CAP, &d->log);
	}
	if (ret) {
		log_err("passthrough: IOMMU set-up (%s): %s", step, io_reason(d, ret));
		return ret;
	}
	return d->be->start(d);
}

int pt_iommu_setup(struct pt_dev *d, struct handoff *h)
{
	int ret;

	if (h) {
		d->old_log_fd = pt_take_fd(h, "pt-maplog", HK_MEMFD);
		if (d->old_log_fd < 0)
			return -EBADF;
	}
	ret = d->be->open(d, h);
	if (ret)
		return ret;
	if (h) {
		/* the device runs on the old tables until the rebuild */
		d->state = PT_REBUILDING;
		return 0;
	}
	return setup_fresh(d);
}

void pt_iommu_teardown(struct pt_dev *d)
{
	maplog_destroy(d->log);
	d->log = NULL;
	iommu_close(d->io);
	d->io = NULL;
	util_close(&d->old_pool_fd);
	util_close(&d->old_log_fd);
}

int pt_iommu_export(struct pt_dev *d, struct handoff *h)
{
	int ret;

	if (!d->log || !d->hwpt_id) {
		log_err("passthrough: the IOMMU state cannot be handed over (%s)",
			d->degraded_reason[0] ? d->degraded_reason : "none built");
		return -ENODEV;
	}
	ret = d->be->export(d, h);
	if (!ret)
		ret = handoff_add(h, "pt-maplog", maplog_fd(d->log), HK_MEMFD);
	return ret;
}

/* ---- requests ----------------------------------------------------------------- */

/* The errno a guest gets (abi.h lists them); anything else is EIO. */
static uint32_t guest_errno(int ret)
{
	switch (-ret) {
	case 0: case EINVAL: case EEXIST: case ENOENT: case ENOSPC: case ENODEV:
		return (uint32_t)-ret;
	default:
		return EIO;
	}
}

static int do_map(struct pt_dev *d, const struct luvmm_iommu_req *q)
{
	const struct mem *m = d->mem;
	struct maplog_entry e = { .iova = q->iova, .length = q->len,
				  .file = MAPLOG_FILE_RAM };
	uint8_t *hva;
	int ret;

	if (!q->prot || (q->prot & ~(LUVMM_IOMMU_READ | LUVMM_IOMMU_WRITE)))
		return -EINVAL;
	e.prot = (q->prot & LUVMM_IOMMU_READ ? IOMMU_PROT_READ : 0) |
		 (q->prot & LUVMM_IOMMU_WRITE ? IOMMU_PROT_WRITE : 0);
	hva = q->len ? mem_gpa_to_hva(m, q->gpa, q->len) : NULL;
	if (!hva)
		return -EINVAL;
	e.offset = (uint64_t)(hva - m->host);
	if (maplog_full(d->log))
		return -ENOSPC;
	ret = iommu_ioas_map_file(d->io, d->ioas_id, m->fd, e.offset, e.length,
				  e.iova, e.prot);
	if (ret)
		return ret;
	ret = maplog_add(d->log, &e);
	if (ret) {	/* cannot happen: the IOAS has the same rules */
		log_err("passthrough: map log refused %#" PRIx64 ": %s", e.iova,
			strerror(-ret));
		(void)iommu_ioas_unmap(d->io, d->ioas_id, e.iova, e.length, NULL);
		return -EIO;
	}
	d->maps++;
	return 0;
}

static int do_unmap(struct pt_dev *d, const struct luvmm_iommu_req *q)
{
	int ret;

	ret = iommu_ioas_unmap(d->io, d->ioas_id, q->iova, q->len, NULL);
	if (ret)
		return ret;
	ret = maplog_remove(d->log, q->iova, q->len, NULL);
	if (ret)	/* cannot happen: the IOAS has the same rules */
		log_err("passthrough: map log out of step at %#" PRIx64 ": %s",
			(uint64_t)q->iova, strerror(-ret));
	d->unmaps++;
	return 0;
}

/* The warm path: this vCPU needs the IOMMU while it is being rebuilt. */
static void warm_wait_locked(struct pt_dev *d)
{
	int id = vcpu_current_id();
	uint64_t t0 = util_now_ns(), dt;
	struct pt_cpu *c = id >= 0 && (unsigned)id < d->ncpus ? &d->cpu[id] : NULL;

	if (c)
		atomic_store(&c->waiting, true);
	while (d->state == PT_REBUILDING)
		pthread_cond_wait(&d->cond, &d->lock);
	if (!c)
		return;
	atomic_store(&c->waiting, false);
	dt = util_now_ns() - t0;
	atomic_fetch_add(&c->sleeps, 1);
	atomic_fetch_add(&c->sleep_ns, dt);
	if (dt > atomic_load(&c->max_ns))
		atomic_store(&c->max_ns, dt);
}

static uint32_t request(struct pt_dev *d, const struct luvmm_iommu_req *q)
{
	int ret;

	pthread_mutex_lock(&d->lock);
	if (d->state == PT_REBUILDING)
		warm_wait_locked(d);
	if (d->state == PT_DEGRADED)
		ret = -EIO;
	else if (q->reserved)
		ret = -EINVAL;
	else if (q->op == LUVMM_IOMMU_MAP)
		ret = do_map(d, q);
	else if (q->op == LUVMM_IOMMU_UNMAP)
		ret = do_unmap(d, q);
	else
		ret = -EINVAL;
	if (ret)
		d->refused++;
	pthread_mutex_unlock(&d->lock);
	return guest_errno(ret);
}

void pt_iommu_io(void *priv, uint64_t off, uint8_t *data, uint32_t len,
		 bool is_write)
{
	struct pt_dev *d = priv;
	struct luvmm_iommu_req req, *g;
	uint32_t gpa, status;

	if (!is_write) {
		memset(data, 0xff, len);
		return;
	}
	memcpy(&gpa, data, MIN(len, 4u));
	g = off || len != 4 || gpa % 8 ? NULL :
	    mem_gpa_to_hva(d->mem, gpa, sizeof(*g));
	if (!g) {	/* nowhere to put a status */
		__atomic_add_fetch(&d->bad_requests, 1, __ATOMIC_RELAXED);
		return;
	}
	/* one read of guest memory: the guest may change it meanwhile */
	memcpy(&req, g, sizeof(req));
	status = d->spec.kind == DEVICE_NONE ? ENODEV : request(d, &req);
	__atomic_store_n(&g->status, status, __ATOMIC_RELEASE);
}

/* ---- the rebuild after a live update --------------------------------------- */

/*
 * Read the old log into a new one, then adopt the live tables. A log read
 * stays even if the adoption fails: the device keeps the old tables, and
 * the next update hands the same mappings over again.
 */
static int rebuild_prepare(struct pt_dev *d, struct replay_params *p,
			   struct maplog **log, char *err, size_t errlen)
{
	struct maplog_entry *e = NULL;
	uint64_t n = 0;
	int ret;

	ret = maplog_read(d->old_log_fd, d->mem->size, &e, &n, err, errlen);
	if (!ret)
		ret = maplog_create(MAX((uint64_t)MAPLOG_DEFAULT_CAP, n), log);
	if (!ret)	/* sorted, checked: one pass */
		ret = maplog_load(*log, e, n);
	if (ret) {
		if (!err[0])
			snprintf(err, errlen, "map log: %s", strerror(-ret));
		free(e);
		maplog_destroy(*log);
		*log = NULL;
		return ret;
	}
	p->entries = e;
	p->n = n;
	return d->be->adopt(d, p, err, errlen);
}

/* Test-only ("rebuild-slow"): keep the gate closed until a vCPU waits on
 * it (at most 10 s), then 1 s more, so the warm path can be observed. */
static void hold_gate(struct pt_dev *d)
{
	uint64_t end = util_now_ns() + 10000000000ULL;
	unsigned i;

	for (;;) {
		for (i = 0; i < d->ncpus; i++)
			if (atomic_load(&d->cpu[i].waiting))
				break;
		if (i < d->ncpus || util_now_ns() > end ||
		    atomic_load(&d->stopping))
			break;
		usleep(1000);
	}
	usleep(1000 * 1000);
}

static void *rebuild_main(void *arg)
{
	struct pt_dev *d = arg;
	struct replay_params p = { .io = d->io, .dev_id = d->dev_id,
				   .ram_fd = d->mem->fd };
	struct replay_result r = { .status = -EIO };
	struct maplog *log = NULL;
	uint64_t t0 = util_now_ns();
	char err[192] = "";
	bool ran = false;
	int ret;

	pthread_setname_np(pthread_self(), "iommu-rebuild");
	ret = rebuild_prepare(d, &p, &log, err, sizeof(err));
	if (!ret) {
		ran = true;
		/* this deployment's layout first: it came with the config */
		p.flags = d->spec.pgsize;
		if (d->fault && !strcmp(d->fault, "rebuild-slow"))
			hold_gate(d);
		else if (d->fault && !strcmp(d->fault, "replay-coalesce"))
			p.flags = 0;	/* a build that coalesces more */
		else if (d->fault && !strncmp(d->fault, "replay-", 7) &&
			 d->io->kind == IOMMU_SOFT)
			p.corrupt = d->fault + 7;
		else if (d->fault && !strncmp(d->fault, "replay-", 7))
			/* wrong tables that no validation would catch: never
			 * on a real device */
			log_warn("passthrough: fault %s needs a backend that "
				 "validates; ignored", d->fault);
		ret = replay_run(&p, &r);
		snprintf(err, sizeof(err), "%s", r.reason);
	}
	pthread_mutex_lock(&d->lock);
	d->replay = r;
	d->replay_entries = p.n;
	if (log)
		d->log = log;
	if (ran) {	/* else the ids are still the live objects' */
		d->ioas_id = r.ioas;
		d->hwpt_id = r.hwpt ? r.hwpt : p.old_hwpt;
	}
	d->state = ret ? PT_DEGRADED : PT_READY;
	snprintf(d->degraded_reason, sizeof(d->degraded_reason), "%s", ret ? err : "");
	d->rebuild_ns = util_now_ns() - t0;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);

	if (ret)
		log_err("passthrough: IOMMU rebuild kept the old tables: %s", err);
	else
		log_info("passthrough: IOMMU rebuilt: %" PRIu64 " mappings, replay %"
			 PRIu64 " us, validation %" PRIu64 " us%s, swap %" PRIu64
			 " us, free %" PRIu64 " us, %u layout(s) tried",
			 p.n, r.replay_ns / 1000, r.validate_ns / 1000,
			 r.validated ? "" : " (not validated)", r.swap_ns / 1000,
			 r.free_ns / 1000, r.attempts);
	free((void *)p.entries);
	util_close(&d->old_pool_fd);
	util_close(&d->old_log_fd);
	/* the gate is open: the MSI may wait for the old VM to let go */
	(void)pt_msi_rewire(d);
	return NULL;
}

int pt_rebuild_start(struct pt_dev *d)
{
	int ret;

	if (d->state != PT_REBUILDING || d->rebuild_started)
		return 0;
	ret = -pthread_create(&d->rebuild, NULL, rebuild_main, d);
	if (ret) {
		pthread_mutex_lock(&d->lock);
		d->state = PT_DEGRADED;
		snprintf(d->degraded_reason, sizeof(d->degraded_reason),
			 "no rebuild thread: %s", strerror(-ret));
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		return ret;
	}
	d->rebuild_started = true;
	return 0;
}

void pt_rebuild_join(struct pt_dev *d)
{
	if (d->rebuild_started)
		pthread_join(d->rebuild, NULL);
	d->rebuild_started = false;
}

void pt_iommu_tick(struct pt_dev *d)
{
	pthread_mutex_lock(&d->lock);
	if (d->state == PT_READY && d->io && d->be->tick)
		d->be->tick(d);
	pthread_mutex_unlock(&d->lock);
}

/* ---- metrics ------------------------------------------------------------------ */

static const char *state_name(enum pt_state s)
{
	return s == PT_READY ? "ready" : s == PT_REBUILDING ? "rebuilding" : "degraded";
}

static void rebuild_metrics(const struct pt_dev *d, struct json_writer *w)
{
	const struct replay_result *r = &d->replay;

	jw_key(w, "rebuild");
	jw_obj_begin(w);
	jw_kbool(w, "ok", r->status == 0);
	jw_kbool(w, "validated", r->validated);
	jw_ku64(w, "attempts", r->attempts);
	jw_kstr(w, "layout", r->flags & IOMMU_HWPT_MAX_4K ? "4k" :
		r->flags & IOMMU_HWPT_MAX_2M ? "2m" : "max");
	jw_ku64(w, "mappings", d->replay_entries);
	jw_ku64(w, "replay_us", r->replay_ns / 1000);
	jw_ku64(w, "validate_us", r->validate_ns / 1000);
	jw_ku64(w, "swap_us", r->swap_ns / 1000);
	jw_ku64(w, "free_us", r->free_ns / 1000);
	jw_ku64(w, "total_us", d->rebuild_ns / 1000);
	if (r->mismatched) {
		jw_kstr(w, "mismatch", replay_diff_name(r->mismatch.kind));
		jw_ku64(w, "mismatch_iova", r->mismatch.iova);
	}
	jw_kstr(w, "reason", d->degraded_reason);
	jw_obj_end(w);
}

static void warm_metrics(const struct pt_dev *d, struct json_writer *w)
{
	unsigned i;

	jw_key(w, "warm_path");
	jw_arr_begin(w);
	for (i = 0; i < d->ncpus; i++) {
		jw_obj_begin(w);
		jw_ku64(w, "cpu", i);
		jw_ku64(w, "waiting", atomic_load(&d->cpu[i].waiting));
		jw_ku64(w, "sleeps", atomic_load(&d->cpu[i].sleeps));
		jw_ku64(w, "sleep_us", atomic_load(&d->cpu[i].sleep_ns) / 1000);
		jw_ku64(w, "max_us", atomic_load(&d->cpu[i].max_ns) / 1000);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

void pt_iommu_metrics(struct pt_dev *d, struct json_writer *w)
{
	pthread_mutex_lock(&d->lock);
	jw_kstr(w, "iommu", d->io ? d->io->ops->name : "none");
	jw_kstr(w, "state", state_name(d->state));
	jw_ku64(w, "mappings", d->log ? maplog_count(d->log) : 0);
	jw_ku64(w, "maps", d->maps);
	jw_ku64(w, "unmaps", d->unmaps);
	jw_ku64(w, "refused", d->refused);
	if (d->io)
		d->be->metrics(d, w);
	if (d->replay.attempts || d->degraded_reason[0])
		rebuild_metrics(d, w);
	pthread_mutex_unlock(&d->lock);
	warm_metrics(d, w);
}
