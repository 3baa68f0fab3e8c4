// SPDX-License-Identifier: MIT
/*
 * record.c: writing and reading the prepare record and the state record
 * of a live update (see record.h; byte layout in docs/state-format.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../devices/devices.h"
#include "../log.h"
#include "../run.h"
#include "../util.h"
#include "../vcpu.h"
#include "../vm.h"
#include "handoff.h"
#include "lu.h"
#include "record.h"
#include "state.h"

#define CONFIG_SEC_VERSION	2	/* 2: + device */
#define UPDATE_SEC_VERSION	1
#define VM_SEC_VERSION		1

/* ---- prepare record -------------------------------------------------------- */

static void put_opt_str(struct lu_writer *w, const char *s)
{
	lu_put_str(w, s ? s : "");
}

static void config_save(const struct config *c, struct lu_writer *w)
{
	lu_section_begin(w, LU_SEC_CONFIG, CONFIG_SEC_VERSION, 0, 0);
	put_opt_str(w, c->kernel);
	put_opt_str(w, c->cmdline);
	put_opt_str(w, c->workload);
	put_opt_str(w, c->memcheck);
	lu_put_u8(w, (uint8_t)c->boot);
	lu_put_u32(w, c->ncpus);
	lu_put_u64(w, c->mem_bytes);
	lu_put_bool(w, c->hugetlb);
	lu_put_u8(w, (uint8_t)c->serial);
	put_opt_str(w, c->serial_path);
	put_opt_str(w, c->api_path);
	put_opt_str(w, c->report_log);
	lu_put_u32(w, (uint32_t)c->verbose);
	put_opt_str(w, c->device);
	lu_section_end(w);
}

/* A string field; empty means "not set" (NULL). */
static const char *get_opt_str(struct lu_dec *d, const char *field, char *buf,
			       size_t size)
{
	lu_get_str(d, field, buf, size);
	return buf[0] ? buf : NULL;
}

static int config_load(struct lu_reader *r, const struct lu_section *sec,
		       struct lu_config_store *cs)
{
	struct config *c = &cs->cfg;
	uint8_t boot, serial;
	uint32_t ncpus, verbose;
	bool huge;
	struct lu_dec d;

	memset(c, 0, sizeof(*c));
	c->incoming_fd = c->incoming_exec_fd = -1;
	lu_dec_init(&d, r, sec);
	c->kernel = get_opt_str(&d, "kernel", cs->kernel, sizeof(cs->kernel));
	c->cmdline = get_opt_str(&d, "cmdline", cs->cmdline, sizeof(cs->cmdline));
	c->workload = get_opt_str(&d, "workload", cs->workload, sizeof(cs->workload));
	c->memcheck = get_opt_str(&d, "memcheck", cs->memcheck, sizeof(cs->memcheck));
	lu_get_u8(&d, "boot", &boot);
	lu_check(&d, boot <= BOOT_MULTIBOOT, "boot", "%u unknown", boot);
	lu_get_u32(&d, "ncpus", &ncpus);
	lu_check(&d, ncpus >= 1 && ncpus <= CONFIG_MAX_CPUS, "ncpus", "%u outside 1..%d",
		 ncpus, CONFIG_MAX_CPUS);
	lu_get_u64(&d, "mem_bytes", &c->mem_bytes);
	lu_get_bool(&d, "hugetlb", &huge);
	lu_get_u8(&d, "serial", &serial);
	lu_check(&d, serial <= SERIAL_NONE, "serial", "%u unknown", serial);
	c->serial_path = get_opt_str(&d, "serial_path", cs->serial_path,
				     sizeof(cs->serial_path));
	lu_check(&d, (serial == SERIAL_FILE) == (c->serial_path != NULL), "serial_path",
		 "present exactly when serial is a file");
	c->api_path = get_opt_str(&d, "api_path", cs->api_path, sizeof(cs->api_path));
	c->report_log = get_opt_str(&d, "report_log", cs->report_log,
				    sizeof(cs->report_log));
	lu_get_u32(&d, "verbose", &verbose);
	lu_check(&d, verbose < 16, "verbose", "%u above 15", verbose);
	if (d.version >= 2) {
		struct device_spec spec;
		char why[160];

		c->device = get_opt_str(&d, "device", cs->device, sizeof(cs->device));
		lu_check(&d, !c->device || !config_parse_device(c->device, &spec, why,
							       sizeof(why)),
			 "device", "'%s' is not a device spec", cs->device);
	}
	c->boot = boot;
	c->ncpus = ncpus;
	c->hugetlb = huge;
	c->serial = serial;
	c->verbose = (int)verbose;
	return lu_dec_finish(&d, CONFIG_SEC_VERSION);
}

static void update_save(const struct lu_update_info *u, struct lu_writer *w)
{
	lu_section_begin(w, LU_SEC_UPDATE, UPDATE_SEC_VERSION, 0, 0);
	lu_put_u8(w, u->mode);
	lu_put_u32(w, u->old_pid);
	lu_put_u64(w, u->updates);
	lu_put_u64(w, u->state_offset);
	lu_put_u64(w, u->state_cap);
	lu_put_u64(w, u->created_ns);
	lu_put_u64(w, u->t_hello_ns);
	lu_section_end(w);
}

static int update_load(struct lu_reader *r, const struct lu_section *sec,
		       struct lu_update_info *u)
{
	struct lu_dec d;

	lu_dec_init(&d, r, sec);
	lu_get_u8(&d, "mode", &u->mode);
	lu_check(&d, u->mode <= LU_EXEC, "mode", "%u unknown", u->mode);
	lu_get_u32(&d, "old_pid", &u->old_pid);
	lu_get_u64(&d, "updates", &u->updates);
	lu_get_u64(&d, "state_offset", &u->state_offset);
	lu_get_u64(&d, "state_cap", &u->state_cap);
	lu_check(&d, IS_ALIGNED(u->state_offset, 4096) && u->state_cap >= 4096 &&
		 u->state_cap <= (1ULL << 30), "state_cap", "bad state area");
	lu_get_u64(&d, "created_ns", &u->created_ns);
	lu_get_u64(&d, "t_hello_ns", &u->t_hello_ns);
	return lu_dec_finish(&d, UPDATE_SEC_VERSION);
}

int lu_prepare_write(const struct runner *r, const struct handoff *h,
		     const struct lu_update_info *u, void *buf, size_t cap, size_t *len)
{
	struct lu_writer w;

	lu_writer_init(&w, buf, cap);
	lu_writer_begin(&w);
	config_save(&r->cfg, &w);
	handoff_save(h, &w);
	update_save(u, &w);
	return lu_writer_finish(&w, len);
}

int lu_prepare_read(const void *buf, size_t len, struct lu_config_store *cs,
		    struct handoff *h, const int *fds, unsigned nfds,
		    struct lu_update_info *u, char *msg, size_t msglen)
{
	bool got_cfg = false, got_ho = false, got_up = false;
	struct lu_section sec;
	struct lu_reader r;
	int ret;

	ret = lu_stream_open(&r, buf, len, len);
	while (!ret && (ret = lu_stream_next(&r, &sec)) == 1) {
		bool *seen = sec.type == LU_SEC_CONFIG ? &got_cfg :
			     sec.type == LU_SEC_HANDOFF ? &got_ho :
			     sec.type == LU_SEC_UPDATE ? &got_up : NULL;

		if (!seen) {
			ret = lu_stream_unhandled(&r, &sec);
			continue;
		}
		if (*seen) {
			snprintf(r.msg, sizeof(r.msg), "section \"%s\" appears twice",
				 lu_section_name(sec.type));
			ret = -EBADMSG;
			break;
		}
		*seen = true;
		if (sec.type == LU_SEC_CONFIG)
			ret = config_load(&r, &sec, cs);
		else if (sec.type == LU_SEC_HANDOFF)
			ret = handoff_load(h, &r, &sec, fds, nfds);
		else
			ret = update_load(&r, &sec, u);
	}
	if (!ret && !(got_cfg && got_ho && got_up)) {
		snprintf(r.msg, sizeof(r.msg), "prepare record lacks its %s section",
			 !got_cfg ? "config" : !got_ho ? "handoff" : "update");
		ret = -EBADMSG;
	}
	if (ret) {
		snprintf(msg, msglen, "%s", r.msg[0] ? r.msg : strerror(-ret));
		if (got_ho)
			handoff_init(h);	/* the caller keeps the fds */
	}
	return ret;
}

/* ---- state record ----------------------------------------------------------- */

static void vm_save(struct runner *r, bool paused_before, struct lu_writer *w)
{
	struct vm *vm = r->vm;
	uint64_t paused = vm->paused_total_ns;

	lu_section_begin(w, LU_SEC_VM, VM_SEC_VERSION, 0, 0);
	lu_put_u32(w, vm->ncpus);
	lu_put_u64(w, vm->mem.size);
	lu_put_bool(w, vm->mem.hugetlb);
	lu_put_u32(w, vm->tsc_khz);
	/* the stop phase parked the vCPUs; was the guest paused before it? */
	lu_put_bool(w, paused_before);
	lu_put_u64(w, r->updates + 1);
	lu_put_u64(w, vm->created_ns);
	lu_put_u64(w, paused);
	lu_put_u8(w, (uint8_t)r->boot.mode);
	lu_section_end(w);
}

static int vm_load(struct runner *r, struct lu_reader *rd, const struct lu_section *sec,
		   struct lu_vm_info *v)
{
	struct vm *vm = r->vm;
	struct lu_dec d;
	bool b;

	lu_dec_init(&d, rd, sec);
	lu_get_u32(&d, "ncpus", &v->ncpus);
	lu_check(&d, v->ncpus == vm->ncpus, "ncpus", "%u, the new VM has %u", v->ncpus,
		 vm->ncpus);
	lu_get_u64(&d, "mem_bytes", &v->mem_bytes);
	lu_check(&d, v->mem_bytes == vm->mem.size, "mem_bytes",
		 "%llu, the new VM has %llu", (unsigned long long)v->mem_bytes,
		 (unsigned long long)vm->mem.size);
	lu_get_bool(&d, "hugetlb", &b);
	v->hugetlb = b;
	lu_get_u32(&d, "tsc_khz", &v->tsc_khz);
	lu_check(&d, v->tsc_khz == vm->tsc_khz, "tsc_khz",
		 "%u kHz, this host's vCPUs run at %u kHz", v->tsc_khz, vm->tsc_khz);
	lu_get_bool(&d, "paused", &b);
	v->paused = b;
	lu_get_u64(&d, "updates", &v->updates);
	lu_get_u64(&d, "created_ns", &v->created_ns);
	lu_get_u64(&d, "paused_total_ns", &v->paused_total_ns);
	lu_get_u8(&d, "boot_mode", &v->boot_mode);
	lu_check(&d, v->boot_mode <= BOOT_MULTIBOOT, "boot_mode", "%u unknown", v->boot_mode);
	return lu_dec_finish(&d, VM_SEC_VERSION);
}

int lu_state_write(struct runner *r, bool paused_before, void *buf, size_t cap,
		   size_t *len)
{
	struct lu_writer w;
	unsigned i;
	int ret;

	lu_writer_init(&w, buf, cap);
	lu_writer_begin(&w);
	vm_save(r, paused_before, &w);
	ret = vm_state_save(r->vm, &w);
	for (i = 0; !ret && i < r->vm->ncpus; i++)
		ret = vcpu_state_save(r->vm->vcpus[i], &w);
	if (!ret)
		ret = devices_save(r->devs, &w);
	if (ret && ret != lu_writer_error(&w))
		return ret;	/* an ioctl failed */
	return lu_writer_finish(&w, len);
}

int lu_vcpu_blob(struct vcpu *v, struct lu_blob *b)
{
	struct lu_writer w;
	int ret;

	lu_writer_init(&w, b->buf, b->cap);
	lu_writer_begin(&w);
	ret = vcpu_state_save(v, &w);
	if (!ret)
		ret = lu_writer_error(&w);
	b->len = ret ? 0 : w.pos - LU_HDR_LEN;
	return ret;
}

int lu_state_assemble(struct runner *r, bool paused_before, const struct lu_blob *blobs,
		      void *buf, size_t cap, size_t *len)
{
	struct lu_writer w;
	unsigned i;
	int ret;

	lu_writer_init(&w, buf, cap);
	lu_writer_begin(&w);
	vm_save(r, paused_before, &w);
	ret = vm_state_save(r->vm, &w);
	for (i = 0; !ret && i < r->vm->ncpus; i++)
		lu_writer_append(&w, blobs[i].buf + LU_HDR_LEN, blobs[i].len);
	if (!ret)
		ret = devices_save(r->devs, &w);
	if (ret && ret != lu_writer_error(&w))
		return ret;
	return lu_writer_finish(&w, len);
}

void lu_loaded_free(struct lu_loaded *l)
{
	if (!l)
		return;
	free(l->vcpus);
	vm_state_free(l->chips);
	free(l);
}

static int load_section(struct runner *r, struct lu_reader *rd,
			const struct lu_section *sec, struct lu_loaded *l, bool *got_vm)
{
	struct vcpu_state *vs;
	int ret;

	switch (sec->type) {
	case LU_SEC_VM:
		if (*got_vm)
			break;
		*got_vm = true;
		return vm_load(r, rd, sec, &l->vm);
	case LU_SEC_IRQCHIP:
	case LU_SEC_CLOCK:
		return vm_state_decode(r->vm, rd, sec, l->chips);
	case LU_SEC_VCPU:
		if (sec->instance < l->ncpus && l->vcpus[sec->instance])
			break;
		ret = vcpu_state_decode(r->vm, rd, sec, &vs);
		if (!ret)
			l->vcpus[sec->instance] = vs;
		return ret;
	case LU_SEC_DEVICE:
		return devices_load(r->devs, rd, sec);
	default:
		return lu_stream_unhandled(rd, sec);
	}
	snprintf(rd->msg, sizeof(rd->msg), "section \"%s\" instance %u appears twice",
		 lu_section_name(sec->type), sec->instance);
	return -EBADMSG;
}

struct lu_loaded *lu_loaded_create(unsigned ncpus)
{
	struct lu_loaded *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->ncpus = ncpus;
	l->vcpus = calloc(ncpus, sizeof(*l->vcpus));
	l->chips = vm_state_alloc();
	if (!l->vcpus || !l->chips) {
		lu_loaded_free(l);
		return NULL;
	}
	return l;
}

int lu_state_read(struct runner *r, const void *buf, size_t len, struct lu_loaded *l,
		  char *msg, size_t msglen)
{
	struct lu_section sec;
	struct lu_reader rd;
	bool got_vm = false;
	unsigned i;
	int ret;

	if (l->ncpus != r->vm->ncpus)
		return -EINVAL;
	memset(l->vcpus, 0, l->ncpus * sizeof(*l->vcpus));
	vm_state_reset(l->chips);
	memset(&l->vm, 0, sizeof(l->vm));
	/* what an earlier read staged and nobody committed is not this
	 * record's: without this a second read saw every device twice */
	devices_abort(r->devs);
	ret = lu_stream_open(&rd, buf, len, len);
	while (!ret && (ret = lu_stream_next(&rd, &sec)) == 1)
		ret = load_section(r, &rd, &sec, l, &got_vm);
	if (ret)
		goto fail;
	/* cross-section checks: everything the VM needs is there */
	if (!got_vm) {
		snprintf(rd.msg, sizeof(rd.msg), "the record has no vm section");
		ret = -EBADMSG;
		goto fail;
	}
	ret = vm_state_complete(l->chips, rd.msg, sizeof(rd.msg));
	for (i = 0; !ret && i < l->ncpus; i++) {
		if (!l->vcpus[i]) {
			snprintf(rd.msg, sizeof(rd.msg), "the record has no vcpu section for vCPU %u",
				 i);
			ret = -EBADMSG;
		}
	}
	if (!ret)
		ret = devices_loaded(r->devs, rd.msg, sizeof(rd.msg));
	if (ret)
		goto fail;
	return 0;
fail:
	snprintf(msg, msglen, "%s", rd.msg[0] ? rd.msg : strerror(-ret));
	devices_abort(r->devs);
	return ret;
}

int lu_state_apply_vm(struct runner *r, const struct lu_loaded *l)
{
	int ret;

	vm_wait_warm(r->vm);
	ret = vm_state_restore(r->vm, l->chips);
	if (ret)
		return ret;
	devices_commit(r->devs);
	r->updates = l->vm.updates;
	r->boot.mode = l->vm.boot_mode;
	r->vm->created_ns = l->vm.created_ns;
	r->vm->paused_total_ns = l->vm.paused_total_ns;
	return 0;
}

int lu_state_apply(struct runner *r, const struct lu_loaded *l)
{
	unsigned i;
	int ret = lu_state_apply_vm(r, l);

	for (i = 0; !ret && i < l->ncpus; i++)
		ret = vcpu_state_restore(r->vm->vcpus[i], l->vcpus[i]);
	return ret;
}
