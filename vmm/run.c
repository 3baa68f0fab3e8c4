// SPDX-License-Identifier: MIT
/*
 * run.c: the main thread of `luvmm run`: set-up order, the event loop and
 * the control-socket commands (status, pause, resume, shutdown, metrics).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "../guest-fw/abi.h"
#include "config.h"
#include "ctl.h"
#include "devices/devices.h"
#include "json.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "run.h"
#include "util.h"
#include "vcpu.h"
#include "liveupdate/lu.h"
#include "version.h"
#include "vm.h"


/* ---- control-socket commands -------------------------------------------- */

static int cmd_status(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	struct runner *r = ctx;
	char size[32];

	(void)req;
	jw_kstr(w, "state", vm_state_name(r->vm->state));
	jw_ku64(w, "vcpus", r->vm->ncpus);
	jw_ku64(w, "memory", r->vm->mem.size);
	jw_kstr(w, "memory_str", util_fmt_size(r->vm->mem.size, size, sizeof(size)));
	jw_kbool(w, "hugetlb", r->vm->mem.hugetlb);
	jw_kstr(w, "kernel", r->cfg.kernel);
	jw_kstr(w, "boot", loader_mode_name(r->boot.mode));
	jw_ku64(w, "pid", (uint64_t)getpid());
	jw_ku64(w, "uptime_ms", (util_now_ns() - r->vm->created_ns) / 1000000);
	jw_kstr(w, "version", LUVMM_VERSION);
	return 0;
}

static int cmd_pause(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	struct runner *r = ctx;

	(void)req;
	vm_pause(r->vm);
	jw_kstr(w, "state", vm_state_name(r->vm->state));
	return 0;
}

static int cmd_resume(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	struct runner *r = ctx;

	(void)req;
	vm_resume(r->vm);
	jw_kstr(w, "state", vm_state_name(r->vm->state));
	return 0;
}

static int cmd_shutdown(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	struct runner *r = ctx;
	uint64_t status = 0;
	int i = json_obj_find(req->line, req->tok, 0, "status");

	if (i >= 0 && (json_get_u64(req->line, &req->tok[i], &status) || status > 255)) {
		snprintf(req->err, req->errlen, "\"status\" must be an integer 0..255");
		return -EINVAL;
	}
	r->exit_status = (int)status;
	jw_kstr(w, "state", vm_state_name(VM_STOPPING));
	loop_stop(r->loop);
	return 0;
}

static int cmd_metrics(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	struct runner *r = ctx;
	struct vm *vm = r->vm;
	uint64_t paused = vm->paused_total_ns;
	unsigned i;

	(void)req;
	if (vm->paused_ns)
		paused += util_now_ns() - vm->paused_ns;
	jw_kstr(w, "state", vm_state_name(vm->state));
	jw_ku64(w, "uptime_ms", (util_now_ns() - vm->created_ns) / 1000000);
	jw_ku64(w, "paused_us", paused / 1000);
	jw_ku64(w, "tsc_khz", vm->tsc_khz);
	jw_key(w, "vcpus");
	jw_arr_begin(w);
	for (i = 0; i < vm->ncpus; i++) {
		struct vcpu_stats *s = &vm->vcpus[i]->stats;

		jw_obj_begin(w);
		jw_ku64(w, "id", i);
		jw_ku64(w, "exits", atomic_load_explicit(&s->exits, memory_order_relaxed));
		jw_ku64(w, "pio", atomic_load_explicit(&s->pio, memory_order_relaxed));
		jw_ku64(w, "mmio", atomic_load_explicit(&s->mmio, memory_order_relaxed));
		jw_ku64(w, "intr", atomic_load_explicit(&s->intr, memory_order_relaxed));
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_ku64(w, "pio_unhandled", __atomic_load_n(&vm->pio.unhandled, __ATOMIC_RELAXED));
	jw_ku64(w, "mmio_unhandled", __atomic_load_n(&vm->mmio.unhandled, __ATOMIC_RELAXED));
	devices_metrics(r->devs, w);
	lu_metrics(r, w);
	return 0;
}

static const struct ctl_command commands[] = {
	{ "status", cmd_status },
	{ "pause", cmd_pause },
	{ "resume", cmd_resume },
	{ "shutdown", cmd_shutdown },
	{ "metrics", cmd_metrics },
	{ "update", lu_cmd_update },
	{ NULL, NULL },
};

/* ---- loop callbacks ----------------------------------------------------- */

static bool on_signal(struct loop_watch *w, int revents)
{
	struct runner *r = w->arg;
	struct signalfd_siginfo si;

	if (revents < 0)
		return true;
	if (read(w->fd, &si, sizeof(si)) != sizeof(si))
		return true;
	log_info("signal %u: shutting down", si.ssi_signo);
	r->exit_status = LUVMM_EXIT_OK;
	loop_stop(r->loop);
	return true;
}

static bool on_vm_event(struct loop_watch *w, int revents)
{
	struct runner *r = w->arg;
	uint64_t n;
	int status;

	if (revents < 0 || read(w->fd, &n, sizeof(n)) != sizeof(n))
		return true;
	status = atomic_load(&r->vm->exit_status);
	if (status >= 0) {
		r->exit_status = status;
		loop_stop(r->loop);
	}
	return true;
}

static bool on_tick(struct loop_watch *w, int revents)
{
	struct runner *r = w->arg;

	if (revents >= 0)
		loop_timer_ack(w);
	devices_tick(r->devs);
	return true;
}

/* ---- set-up and tear-down ------------------------------------------------ */

/* The guest command line: the user's, then what guest-fw needs to know. */
static int compose_cmdline(const struct runner *r, char *buf, size_t cap)
{
	const struct config *cfg = &r->cfg;
	int n;

	n = snprintf(buf, cap, "%s%scpus=%u tsc_khz=%u%s%s%s%s",
		     cfg->cmdline ? cfg->cmdline : "", cfg->cmdline ? " " : "",
		     cfg->ncpus, r->vm->tsc_khz,
		     cfg->workload ? " workload=" : "", cfg->workload ? cfg->workload : "",
		     cfg->memcheck ? " memcheck=" : "", cfg->memcheck ? cfg->memcheck : "");
	return n < 0 || (size_t)n >= cap ? -E2BIG : 0;
}

static int setup_signals(int *sfd)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	*sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return *sfd < 0 ? -errno : 0;
}

static int boot(struct runner *r)
{
	char cmdline[LUVMM_BOOT_CMDLINE_MAX * 2], err[256];
	int ret;

	ret = compose_cmdline(r, cmdline, sizeof(cmdline));
	if (!ret)
		ret = loader_load(&r->vm->mem, r->cfg.kernel, r->cfg.boot, cmdline,
				  &r->boot, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "command line too long");
	if (ret) {
		log_err("kernel: %s", err);
		return ret;
	}
	log_info("kernel %s: %s entry 0x%" PRIx64 ", loaded [0x%" PRIx64 ", 0x%" PRIx64 ")",
		 r->cfg.kernel, loader_mode_name(r->boot.mode), r->boot.entry,
		 r->boot.image_lo, r->boot.image_hi);
	log_dbg("guest command line: %s", cmdline);
	ret = vcpu_arch_boot(r->vm->vcpus[0], &r->boot);
	if (ret)
		log_err("vcpu0: boot registers: %s", strerror(-ret));
	return ret;
}

void runner_init(struct runner *r)
{
	memset(r, 0, sizeof(*r));
	r->sig_w.fd = r->tick_w.fd = -1;
	r->exit_status = LUVMM_EXIT_OK;
	if (!realpath("/proc/self/exe", r->self_path))
		r->self_path[0] = '\0';
}

int runner_build(struct runner *r, struct handoff *h, int ram_fd, bool lazy,
		 char *err, size_t errlen)
{
	const struct config *cfg = &r->cfg;
	struct vm_devmem dm[VM_MAX_DEVMEM];
	/* a live update's new VM is restored, not booted: warm its vCPUs */
	struct vm_params p = { cfg->ncpus, cfg->mem_bytes, cfg->hugetlb, ram_fd, lazy,
			       h != NULL, dm, 0 };
	struct dev_env env;
	int ret;

	/* device memory first: its memslots go in with RAM's */
	ret = devices_premap(cfg, h, dm, VM_MAX_DEVMEM, &p.ndevmem);
	if (ret) {
		snprintf(err, errlen, "device memory: %s", strerror(-ret));
		return ret;
	}
	ret = vm_create(&p, &r->vm, err, errlen);
	if (!ret) {
		env = (struct dev_env){ .vm = r->vm, .cfg = cfg, .handoff = h,
					.devmem = dm, .ndevmem = p.ndevmem };
		ret = devices_create(&env, &r->devs);
		if (ret)
			snprintf(err, errlen, "devices: %s", strerror(-ret));
	}
	devices_premap_release(dm, p.ndevmem);	/* what no device took */
	return ret;
}

int runner_serve_api(struct runner *r, int api_fd)
{
	char err[256];
	int ret;

	if (!r->cfg.api_path)
		return 0;
	if (api_fd >= 0)
		ret = ctl_server_adopt(r->loop, api_fd, r->cfg.api_path, commands, r,
				       &r->ctl);
	else
		ret = ctl_server_create(r->loop, r->cfg.api_path, commands, r, &r->ctl,
					err, sizeof(err));
	if (ret)
		log_err("control socket: %s", api_fd >= 0 ? strerror(-ret) : err);
	return ret;
}

int runner_services(struct runner *r, int api_fd, bool serve_api)
{
	int ret;

	ret = loop_create(&r->loop);
	if (ret) {
		log_err("io_uring: %s", strerror(-ret));
		return ret;
	}
	ret = setup_signals(&r->sig_w.fd);
	if (ret)
		return ret;
	r->sig_w.events = POLLIN;
	r->sig_w.fn = on_signal;
	r->sig_w.arg = r;
	r->vm_w = (struct loop_watch){ .fd = r->vm->event_fd, .events = POLLIN,
				       .fn = on_vm_event, .arg = r };
	ret = loop_timer_init(&r->tick_w, 100 * 1000 * 1000ULL, on_tick, r);
	if (!ret)
		ret = loop_watch(r->loop, &r->sig_w);
	if (!ret)
		ret = loop_watch(r->loop, &r->vm_w);
	if (!ret)
		ret = loop_watch(r->loop, &r->tick_w);
	if (!ret)
		ret = devices_attach(r->devs, r->loop);
	if (!ret && serve_api)
		ret = runner_serve_api(r, api_fd);
	return ret;
}

int runner_loop(struct runner *r)
{
	int ret = loop_run(r->loop);

	if (ret) {
		log_err("event loop: %s", strerror(-ret));
		r->exit_status = LUVMM_EXIT_ERROR;
	}
	/* handed over to a new VMM: destroy the old VM and exit */
	if (lu_retiring(r))
		lu_retire(r);
	return ret;
}

void runner_teardown(struct runner *r)
{
	if (r->vm)
		vm_pause(r->vm);
	lu_fini(r);
	ctl_server_destroy(r->ctl, r->keep_api_path);
	r->ctl = NULL;
	if (r->devs && r->loop)
		devices_detach(r->devs, r->loop);
	loop_destroy(r->loop);
	r->loop = NULL;
	util_close(&r->tick_w.fd);
	util_close(&r->sig_w.fd);
	devices_destroy(r->devs);
	r->devs = NULL;
	vm_destroy(r->vm);
	r->vm = NULL;
}

static int exit_code_for(int err)
{
	switch (err) {
	case -ENOENT:
	case -EACCES:
	case -ENOEXEC:
	case -ERANGE:
	case -E2BIG:
	case -ENOTSUP:
		return LUVMM_EXIT_IMAGE;
	default:
		return LUVMM_EXIT_RESOURCE;
	}
}

int run_vm(const struct config *cfg)
{
	struct runner *r = malloc(sizeof(*r));
	char err[256];
	int ret, status;

	if (!r)
		return LUVMM_EXIT_ERROR;
	runner_init(r);
	r->cfg = *cfg;
	ret = vcpu_init_signals();
	if (ret) {
		free(r);
		return LUVMM_EXIT_ERROR;
	}
	ret = runner_build(r, NULL, -1, false, err, sizeof(err));
	if (ret) {
		log_err("cannot create the VM: %s", err);
		r->exit_status = LUVMM_EXIT_RESOURCE;
		goto out;
	}
	ret = boot(r);
	if (ret) {
		r->exit_status = exit_code_for(ret);
		goto out;
	}
	ret = runner_services(r, -1, true);
	if (ret) {
		r->exit_status = LUVMM_EXIT_RESOURCE;
		goto out;
	}
	ret = vm_start(r->vm);
	if (ret) {
		r->exit_status = LUVMM_EXIT_ERROR;
		goto out;
	}
	log_info("running: %u vCPU%s, %" PRIu64 " MiB%s, api %s", cfg->ncpus,
		 cfg->ncpus > 1 ? "s" : "", cfg->mem_bytes >> 20,
		 cfg->hugetlb ? " hugetlb" : "", cfg->api_path ? cfg->api_path : "none");
	runner_loop(r);
out:
	runner_teardown(r);
	status = r->exit_status;
	free(r);
	return status;
}
