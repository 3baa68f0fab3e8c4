// SPDX-License-Identifier: MIT
/*
 * lu.c: the old VMM's side of a live update in transfer mode, and what
 * both modes share (the update request, results, metrics).
 *
 * Transfer mode (docs/update-protocol.md):
 *   1. start the new VMM (or connect to one an operator started), send
 *      HELLO: the prepare record and every fd the VM uses;
 *   2. while it pre-builds, the guest runs and this VMM keeps serving;
 *   3. READY: blackout. Park the vCPUs, write the state record into the
 *      shared memfd, send GO, wait for RUNNING (bounded);
 *   4. RUNNING: answer the client, stop serving, destroy the VM off the
 *      guest's critical path, report the teardown time (DONE), exit;
 *   5. anything else before RUNNING (ERROR, exit, crash, timeout): close
 *      the commit word (unless the new VMM took it: then the guest is its
 *      own and we wait for RUNNING), kill the new VMM, resume our own
 *      vCPUs: rollback. The guest loses only the time the vCPUs were
 *      parked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../ctl.h"
#include "../devices/devices.h"
#include "../json.h"
#include "../log.h"
#include "../run.h"
#include "../util.h"
#include "../vcpu.h"
#include "../vm.h"
#include "lu_internal.h"
#include "record.h"
#include "state.h"

extern char **environ;

const char *lu_mode_name(enum lu_mode m)
{
	return m == LU_EXEC ? "exec" : "transfer";
}

struct lu *lu_get(struct runner *r)
{
	if (!r->lu) {
		r->lu = calloc(1, sizeof(*r->lu));
		if (r->lu) {
			r->lu->sock = r->lu->state_fd = -1;
			r->lu->child = -1;
			r->lu->peer_pidfd = -1;
			r->lu->done_w.fd = r->lu->timer_w.fd = r->lu->sock_w.fd = -1;
			r->lu->hook_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (r->lu->hook_fd < 0) {
				free(r->lu);
				r->lu = NULL;
			}
		}
	}
	return r->lu;
}

void lu_put_times(uint8_t *p, const uint64_t *t, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		put_le64(p + 8 * i, t[i]);
}

void lu_get_times(const uint8_t *p, uint64_t *t, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		t[i] = get_le64(p + 8 * i);
}

int lu_state_map(struct lu *lu, bool writable)
{
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);

	if (lu->state)
		return 0;
	if (lu->state_fd < 0) {
		lu->state_fd = memfd_create("luvmm-state", MFD_CLOEXEC);
		if (lu->state_fd < 0)
			return -errno;
		if (ftruncate(lu->state_fd, LU_STATE_SIZE) < 0)
			return -errno;
	}
	/* populate now: no page faults in the blackout */
	lu->state = mmap(NULL, LU_STATE_SIZE, prot, MAP_SHARED | MAP_POPULATE,
			 lu->state_fd, 0);
	if (lu->state == MAP_FAILED) {
		lu->state = NULL;
		return -errno;
	}
	if (writable)
		lu->commit = (_Atomic uint64_t *)(void *)(lu->state + LU_COMMIT_OFFSET);
	return 0;
}

void lu_state_release(struct lu *lu)
{
	if (lu->state)
		munmap(lu->state, LU_STATE_SIZE);
	if (lu->commit_map)
		munmap(lu->commit_map, 4096);
	lu->state = NULL;
	lu->commit_map = NULL;
	lu->commit = NULL;
	util_close(&lu->state_fd);
}

int lu_collect_fds(struct runner *r, struct handoff *h)
{
	struct lu *lu = r->lu;
	int ret;

	handoff_init(h);
	ret = handoff_add(h, "ram", r->vm->mem.fd, HK_MEMFD);
	if (!ret)
		ret = handoff_add(h, "state", lu->state_fd, HK_MEMFD);
	if (!ret && r->ctl)
		ret = handoff_add(h, "api", ctl_server_fd(r->ctl), HK_SOCKET);
	if (!ret)
		ret = devices_export(r->devs, h);
	return ret;
}

void lu_result_json(const struct lu_result *res, struct json_writer *w)
{
	const struct lu_phases *p = &res->ph;

	jw_kstr(w, "mode", lu_mode_name(res->mode));
	jw_kstr(w, "result", res->ok ? "running" : res->rolled_back ? "rolled-back" : "failed");
	if (!res->ok)
		jw_kstr(w, "reason", res->error);
	if (res->new_pid > 0)
		jw_ku64(w, "new_pid", (uint64_t)res->new_pid);
	jw_key(w, "phases_us");
	jw_obj_begin(w);
	jw_ku64(w, "prebuild", p->prebuild);
	jw_ku64(w, "stop", p->stop);
	jw_ku64(w, "save", p->save);
	jw_ku64(w, "handover", p->handover);
	jw_ku64(w, "load", p->load);
	jw_ku64(w, "run", p->run);
	jw_ku64(w, "blackout", p->blackout);
	jw_ku64(w, "teardown", p->teardown);
	jw_obj_end(w);
	if (res->mode == LU_EXEC) {
		jw_ku64(w, "slot_sleeps", res->slot_sleeps);
		jw_ku64(w, "slot_sleep_us", res->slot_sleep_us);
		jw_ku64(w, "late_slots_us", res->late_slots_us);
	}
}

void lu_metrics(struct runner *r, struct json_writer *w)
{
	uint64_t td;

	/* exec mode: the old image's teardown may end after the reply */
	if (r->lu && r->lu->exec_teardown_valid &&
	    (td = atomic_load(&r->lu->exec_teardown_us)))
		r->lu->last.ph.teardown = td;
	jw_key(w, "update");
	jw_obj_begin(w);
	jw_ku64(w, "updates", r->updates);
	jw_kbool(w, "in_progress", r->lu && r->lu->busy);
	if (r->lu && r->lu->last.valid) {
		jw_key(w, "last");
		jw_obj_begin(w);
		lu_result_json(&r->lu->last, w);
		jw_obj_end(w);
	}
	jw_obj_end(w);
}

/* ---- finishing an update (old side) ------------------------------------- */

static void reply_result(struct lu *lu)
{
	char buf[2048];
	struct json_writer w;

	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w);
	jw_kbool(&w, "ok", lu->last.ok);
	if (!lu->last.ok) {
		char e[320];

		snprintf(e, sizeof(e), "update failed%s: %s",
			 lu->last.rolled_back ? ", rolled back" : "", lu->last.error);
		jw_kstr(&w, "error", e);
	}
	lu_result_json(&lu->last, &w);
	jw_obj_end(&w);
	if (jw_finish(&w) < 0)
		snprintf(buf, sizeof(buf), "{\"ok\":%s}", lu->last.ok ? "true" : "false");
	if (lu->reply)
		ctl_pending_reply(lu->reply, buf);
	lu->reply = NULL;
}

static void end_watches(struct runner *r, struct lu *lu)
{
	if (lu->sock_w.active)
		loop_unwatch(r->loop, &lu->sock_w);
	if (lu->timer_w.active)
		loop_unwatch(r->loop, &lu->timer_w);
	util_close(&lu->timer_w.fd);
}

/*
 * Make sure the new VMM is gone (kill_it) or wait for it to end, so that
 * it and its VM are gone before we resume ours. A spawned one is our
 * child; an operator-started one is reached through the pidfd taken when
 * we connected, where we are allowed to signal it (else it stops itself:
 * it cannot take the commit word any more, and exits).
 */
static void stop_new_vmm(struct lu *lu, bool kill_it)
{
	struct pollfd p = { .fd = lu->peer_pidfd, .events = POLLIN };
	int st;

	if (lu->child > 0) {
		if (kill_it)
			kill(lu->child, SIGKILL);
		if (waitpid(lu->child, &st, 0) == lu->child && !kill_it)
			log_info("update: new VMM %d ended with status %d", (int)lu->child,
				 WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		lu->child = -1;
	}
	if (lu->peer_pidfd >= 0) {
		if (kill_it && syscall(SYS_pidfd_send_signal, lu->peer_pidfd, SIGKILL, NULL, 0))
			log_warn("update: cannot stop the new VMM %d: %s", (int)lu->peer_pid,
				 strerror(errno));
		else if (poll(&p, 1, 2000) < 1)
			log_warn("update: the new VMM %d has not ended yet", (int)lu->peer_pid);
		util_close(&lu->peer_pidfd);
	}
	lu->peer_pid = 0;
}

/* Undo a failed update without answering (lu->last.error is set). */
static void abandon(struct runner *r, bool resume)
{
	struct lu *lu = r->lu;

	end_watches(r, lu);
	util_close(&lu->sock);	/* a new VMM still waiting sees EOF and exits */
	stop_new_vmm(lu, true);
	if (resume)
		vm_resume(r->vm);
	devices_resumed(r->devs, false);
	lu->last.ok = false;
	lu->last.rolled_back = true;
	lu->last.valid = true;
	lu->busy = false;
	log_warn("update: rolled back: %s", lu->last.error);
}

/* The update failed before RUNNING: back to our own vCPUs, then answer. */
static void rollback(struct runner *r, bool resume, const char *fmt, ...)
	__printf(3, 4);
static void rollback(struct runner *r, bool resume, const char *fmt, ...)
{
	struct lu *lu = r->lu;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lu->last.error, sizeof(lu->last.error), fmt, ap);
	va_end(ap);
	abandon(r, resume);
	reply_result(lu);
}

/* ---- the blackout ------------------------------------------------------- */

static void fill_phases(struct lu *lu, const uint64_t *old_t, const uint64_t *new_t)
{
	/* old_t: stop start, stopped, saved; new_t: GO received, loaded, running */
	struct lu_phases *p = &lu->last.ph;

	p->prebuild = (lu->t_ready - lu->t_hello) / 1000;
	p->stop = (old_t[1] - old_t[0]) / 1000;
	p->save = (old_t[2] - old_t[1]) / 1000;
	p->handover = new_t[0] > old_t[2] ? (new_t[0] - old_t[2]) / 1000 : 0;
	p->load = (new_t[1] - new_t[0]) / 1000;
	p->run = (new_t[2] - new_t[1]) / 1000;
	p->blackout = (new_t[2] - old_t[0]) / 1000;
}

int lu_alloc_percpu(struct lu *lu, unsigned ncpus, bool blobs)
{
	unsigned i;

	if (lu->go_sock && lu->ncpus != ncpus)
		return -EINVAL;
	if (!lu->go_sock) {
		lu->ncpus = ncpus;
		lu->go_sock = malloc(ncpus * sizeof(*lu->go_sock));
		if (!lu->go_sock)
			return -ENOMEM;
		for (i = 0; i < ncpus; i++)
			lu->go_sock[i] = -1;
	}
	if (!blobs || lu->blob)
		return 0;
	lu->blob = calloc(ncpus, sizeof(*lu->blob));
	if (!lu->blob)
		return -ENOMEM;
	for (i = 0; i < ncpus; i++) {
		lu->blob[i].cap = 64 << 10;
		/* touched now: no page fault in the blackout */
		lu->blob[i].buf = calloc(1, lu->blob[i].cap);
		if (!lu->blob[i].buf)
			return -ENOMEM;
	}
	return 0;
}

void lu_free_percpu(struct lu *lu)
{
	unsigned i;

	for (i = 0; lu->go_sock && i < lu->ncpus; i++)
		util_close(&lu->go_sock[i]);
	for (i = 0; lu->blob && i < lu->ncpus; i++)
		free(lu->blob[i].buf);
	free(lu->go_sock);
	free(lu->blob);
	lu->go_sock = NULL;
	lu->blob = NULL;
}

bool lu_fault_is_old_side(const char *fault)
{
	return !strcmp(fault, "corrupt-record") || !strcmp(fault, "error-save") ||
	       !strcmp(fault, "slow-save") || !strcmp(fault, "slow-teardown");
}

int lu_spin_nonzero(atomic_int *v, atomic_bool *abort_flag, uint64_t timeout_ns)
{
	uint64_t deadline = util_now_ns() + timeout_ns;
	int x;

	while (!(x = atomic_load_explicit(v, memory_order_acquire))) {
		if (util_now_ns() >= deadline || atomic_load(abort_flag))
			return 0;
		sched_yield();
	}
	return x;
}

void lu_hook_fail(struct lu *lu, int err, const char *fmt, ...)
{
	int none = 0;
	uint64_t one = 1;
	va_list ap;

	if (!atomic_compare_exchange_strong(&lu->result, &none, err < 0 ? err : -EIO))
		return;
	va_start(ap, fmt);
	vsnprintf(lu->err, sizeof(lu->err), fmt, ap);
	va_end(ap);
	if (write(lu->hook_fd, &one, sizeof(one)) < 0)
		log_dbg("update: cannot signal a hook failure");
}

/*
 * The save, run by every old vCPU thread as it parks. Each encodes its own
 * state right where it stopped; the last to finish joins the record; then
 * each hands GO to its counterpart in the new VMM over its own socket, so
 * the new vCPU thread starts on this very CPU without a cross-CPU wake-up.
 */
static void save_hook(struct vcpu *v, void *arg)
{
	struct runner *r = arg;
	struct lu *lu = r->lu;
	uint8_t go[6 * 8];
	size_t len = 0;
	int ret, rec;

	ret = lu_vcpu_blob(v, &lu->blob[v->id]);
	if (!ret && v->id == 0 && !strcmp(lu->fault, "error-save")) {
		ret = -EIO;
		lu_hook_fail(lu, ret, "injected save error");
	}
	if (ret)
		atomic_store(&lu->record, ret);
	if (atomic_fetch_add(&lu->arrived, 1) + 1 == lu->ncpus) {
		lu->t[1] = util_now_ns();
		ret = atomic_load(&lu->record);
		if (!ret)
			ret = lu_state_assemble(r, lu->was_paused, lu->blob,
						lu->state + LU_STATE_OFFSET, LU_STATE_CAP, &len);
		lu->t[2] = util_now_ns();
		if (!ret && !strcmp(lu->fault, "corrupt-record"))
			lu->state[LU_STATE_OFFSET + len / 2] ^= 0x40;
		lu->record_len = len;
		if (ret)
			lu_hook_fail(lu, ret, "saving the state record: %s", strerror(-ret));
		atomic_store_explicit(&lu->record, ret ? ret : 1, memory_order_release);
	}
	rec = lu_spin_nonzero(&lu->record, &v->vm->exit_req, 1000000000ULL);
	if (rec == 1) {
		if (!strcmp(lu->fault, "slow-save"))
			poll(NULL, 0, 500);
		put_le64(go, LU_STATE_OFFSET);
		put_le64(go + 8, lu->record_len);
		lu_put_times(go + 16, lu->t, 3);
		/* where this vCPU ran: its successor stays on that CPU */
		put_le64(go + 40, (uint64_t)sched_getcpu());
		ret = handoff_send(lu->go_sock[v->id], HMSG_GO, go, sizeof(go), NULL, 0);
		if (ret)
			lu_hook_fail(lu, ret, "sending GO to vCPU %u: %s", v->id, strerror(-ret));
	} else if (!rec) {
		lu_hook_fail(lu, -ETIMEDOUT, "vCPU %u: the record was not written in time", v->id);
	}
	atomic_fetch_add_explicit(&lu->finished, 1, memory_order_release);
}

/* Until every save hook has finished, a vCPU may still be busy with one. */
static void wait_hooks(struct lu *lu)
{
	uint64_t deadline = util_now_ns() + 2000000000ULL;

	while (atomic_load_explicit(&lu->finished, memory_order_acquire) < lu->ncpus &&
	       util_now_ns() < deadline)
		poll(NULL, 0, 1);
}

void lu_hook_drain(struct lu *lu)
{
	uint64_t n;

	while (read(lu->hook_fd, &n, sizeof(n)) == sizeof(n))
		;
}

/*
 * Wait for the new VMM's answer or a hook's failure, until deadline (0:
 * no limit). Returns the message's length (type set), -ETIMEDOUT, a hook's
 * error, or the socket's.
 */
static int wait_running(struct lu *lu, uint64_t deadline, uint8_t *msg, size_t cap,
			enum handoff_msg *type)
{
	int ret;

	for (;;) {
		struct pollfd p[2] = { { .fd = lu->sock, .events = POLLIN },
				       { .fd = lu->hook_fd, .events = POLLIN } };
		uint64_t now = util_now_ns();
		int n;

		if (deadline && now >= deadline)
			return -ETIMEDOUT;
		n = poll(p, 2, deadline ? (int)((deadline - now) / 1000000ULL) + 1 : -1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents) {
			lu_hook_drain(lu);
			ret = atomic_load(&lu->result);
			if (ret < 0)
				return ret;	/* a hook failed */
		}
		if (p[0].revents) {
			ret = handoff_recv(lu->sock, type, msg, cap, NULL, NULL, 0);
			if (ret != -ETIMEDOUT)
				return ret;
		}
	}
}

/* Open the commit word for this attempt, before any vCPU can send GO. */
static void commit_open(struct lu *lu)
{
	if (!++lu->attempt)
		lu->attempt = 1;
	atomic_store(lu->commit, LU_COMMIT_WORD(lu->attempt, LU_COMMIT_GO));
}

/* Close it before a rollback: false if the new VMM took the guest first. */
static bool commit_abort(struct lu *lu)
{
	uint64_t go = LU_COMMIT_WORD(lu->attempt, LU_COMMIT_GO);

	if (atomic_compare_exchange_strong(lu->commit, &go,
					   LU_COMMIT_WORD(lu->attempt, LU_COMMIT_ABORTED)))
		return true;
	return go != LU_COMMIT_WORD(lu->attempt, LU_COMMIT_TAKEN);
}

/* Why the wait for RUNNING ended without it, into lu->last.error. */
static void no_running_reason(struct lu *lu, int ret, enum handoff_msg type, uint8_t *msg)
{
	char *e = lu->last.error;
	size_t n = sizeof(lu->last.error);

	if (atomic_load(&lu->result) < 0)
		snprintf(e, n, "%.255s", lu->err);
	else if (ret == -ETIMEDOUT)
		snprintf(e, n, "no RUNNING from the new VMM within %d ms", lu->blackout_timeout_ms);
	else if (ret < 0)
		snprintf(e, n, "the new VMM went away while loading (%s)", strerror(-ret));
	else if (type == HMSG_ERROR)
		snprintf(e, n, "the new VMM refused the state: %.*s", ret, (char *)msg);
	else
		snprintf(e, n, "unexpected %s message while loading", handoff_msg_name(type));
}

/*
 * The new VMM took the guest (the commit word says so) and then died
 * before it confirmed: the guest is lost. Our vCPUs hold a stale copy of
 * it and must never run again: answer, and end this process.
 */
static void guest_lost(struct runner *r, int err)
{
	struct lu *lu = r->lu;

	snprintf(lu->last.error, sizeof(lu->last.error),
		 "the new VMM took over the guest and went away before confirming (%s): the guest is lost",
		 strerror(-err));
	log_err("update: %s", lu->last.error);
	end_watches(r, lu);
	util_close(&lu->sock);
	stop_new_vmm(lu, false);
	lu->last.ok = false;
	lu->last.rolled_back = false;
	lu->last.valid = true;
	lu->busy = false;
	reply_result(lu);
	r->exit_status = LUVMM_EXIT_ERROR;
	loop_stop(r->loop);
}

static void blackout(struct runner *r)
{
	struct lu *lu = r->lu;
	uint8_t msg[512];
	enum handoff_msg type = 0;
	uint64_t nt[3];
	int ret;

	end_watches(r, lu);
	lu->was_paused = r->vm->state == VM_PAUSED;
	atomic_store(&lu->arrived, 0);
	atomic_store(&lu->finished, 0);
	atomic_store(&lu->record, 0);
	atomic_store(&lu->result, 0);
	lu_hook_drain(lu);	/* a failed attempt may have left a count */
	commit_open(lu);
	lu->t[1] = lu->t[2] = 0;
	lu->t[0] = util_now_ns();
	if (lu->was_paused)
		vm_arm_park_hook(r->vm, save_hook, r);	/* parked already */
	else
		vm_pause_with(r->vm, save_hook, r);
	ret = wait_running(lu, lu->t[0] + (uint64_t)lu->blackout_timeout_ms * 1000000ULL,
			   msg, sizeof(msg), &type);
	lu->last.ph.prebuild = (lu->t_ready - lu->t_hello) / 1000;
	if (!(ret == 24 && type == HMSG_RUNNING)) {
		no_running_reason(lu, ret, type, msg);
		if (commit_abort(lu)) {
			char why[sizeof(lu->last.error)];

			/* the new VMM can no longer run the guest: ours again */
			wait_hooks(lu);		/* before anything runs again */
			if (lu->t[1] >= lu->t[0])
				lu->last.ph.stop = (lu->t[1] - lu->t[0]) / 1000;
			if (lu->t[2] >= lu->t[1] && lu->t[1])
				lu->last.ph.save = (lu->t[2] - lu->t[1]) / 1000;
			memcpy(why, lu->last.error, sizeof(why));
			rollback(r, !lu->was_paused, "%s", why);
			return;
		}
		/* it took the guest first: it runs it, RUNNING is on its way */
		log_warn("update: %s, but the new VMM has taken the guest: waiting for it",
			 lu->last.error);
		do
			ret = handoff_recv(lu->sock, &type, msg, sizeof(msg), NULL, NULL, -1);
		while (ret >= 0 && !(ret == 24 && type == HMSG_RUNNING));
		if (ret < 0) {
			wait_hooks(lu);
			guest_lost(r, ret);
			return;
		}
		lu->last.error[0] = '\0';
	}
	lu_get_times(msg, nt, 3);
	fill_phases(lu, lu->t, nt);
	lu->last.ok = true;
	lu->last.rolled_back = false;
	lu->last.valid = true;
	lu->last.new_pid = lu->child > 0 ? lu->child : lu->peer_pid;
	lu->child = -1;		/* not ours to stop any more */
	lu->peer_pid = 0;
	util_close(&lu->peer_pidfd);
	log_info("update: the new VMM runs the guest; blackout %" PRIu64 " us",
		 lu->last.ph.blackout);
	reply_result(lu);
	/* the client has its answer; the rest of this process's life must
	 * not take CPU from the guest */
	{
		struct sched_param sp = { 0 };

		if (sched_setscheduler(0, SCHED_IDLE, &sp))
			log_dbg("update: cannot lower the old VMM's priority: %s",
				strerror(errno));
	}
	/* retire: the main loop ends and run_vm() calls lu_retire() */
	r->keep_api_path = true;
	loop_stop(r->loop);
}

/* ---- before the blackout ------------------------------------------------ */

static bool on_sock(struct loop_watch *w, int revents)
{
	struct runner *r = w->arg;
	struct lu *lu = r->lu;
	enum handoff_msg type;
	char msg[512];
	int ret;

	(void)revents;
	ret = handoff_recv(lu->sock, &type, msg, sizeof(msg) - 1, NULL, NULL, 0);
	if (ret == -ETIMEDOUT || ret == -EAGAIN)
		return true;
	if (ret < 0) {
		rollback(r, false, "the new VMM went away before READY (%s)",
			 strerror(-ret));
		return false;
	}
	if (type == HMSG_ERROR) {
		msg[ret] = '\0';
		rollback(r, false, "the new VMM failed to pre-build: %s", msg);
		return false;
	}
	if (type != HMSG_READY) {
		rollback(r, false, "unexpected %s message before READY",
			 handoff_msg_name(type));
		return false;
	}
	lu->t_ready = util_now_ns();
	blackout(r);
	return false;
}

static bool on_timeout(struct loop_watch *w, int revents)
{
	struct runner *r = w->arg;

	(void)revents;
	rollback(r, false, "the new VMM was not ready within %d ms",
		 r->lu->prepare_timeout_ms);
	return false;
}

/* Start the new binary with the socket as its fd 3. */
static int spawn_new(struct runner *r, const char *binary, int sock, pid_t *pid)
{
	struct lu *lu = r->lu;
	posix_spawn_file_actions_t fa;
	const char *argv[10];
	unsigned n = 0;
	int ret;

	argv[n++] = binary;
	argv[n++] = "run";
	argv[n++] = "--incoming-fd";
	argv[n++] = "3";
	if (r->cfg.verbose)
		argv[n++] = r->cfg.verbose > 1 ? "-vv" : "-v";
	if (lu->fault[0] && !lu_fault_is_old_side(lu->fault)) {
		argv[n++] = "--fault";
		argv[n++] = lu->fault;
	}
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sock, 3);
	ret = posix_spawn(pid, binary, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return -ret;
}

static int connect_incoming(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

static void close_fds(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		util_close(&fds[i]);
}

/* One GO channel per vCPU: ours in lu->go_sock, theirs handed over
 * (peer[], which the caller closes in every case). */
static int add_go_channels(struct runner *r, int *peer)
{
	struct lu *lu = r->lu;
	char name[HANDOFF_NAME_MAX];
	unsigned i;
	int sv[2], ret;

	ret = lu_alloc_percpu(lu, r->vm->ncpus, true);
	for (i = 0; !ret && i < r->vm->ncpus; i++) {
		util_close(&lu->go_sock[i]);
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
			return -errno;
		lu->go_sock[i] = sv[0];
		peer[i] = sv[1];
		snprintf(name, sizeof(name), "vcpu-go-%u", i);
		ret = handoff_add(&lu->ho, name, sv[1], HK_SOCKET);
	}
	return ret;
}

/* Remember who listens at the other end of an operator's socket, so that
 * a rollback can stop it. */
static void note_peer(struct lu *lu)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct pollfd p = { .fd = lu->sock, .events = POLLIN };

	if (getsockopt(lu->sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.pid <= 0) {
		log_warn("update: cannot tell which process listens on the incoming socket");
		return;
	}
	lu->peer_pid = cred.pid;
	lu->peer_pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0);
	if (lu->peer_pidfd < 0) {
		log_warn("update: pidfd of the new VMM %d: %s", (int)cred.pid, strerror(errno));
		return;
	}
	/* still connected: the pid was not reused before the pidfd was taken */
	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
		util_close(&lu->peer_pidfd);
}

/* Open the channel, send HELLO. */
static int start_transfer(struct runner *r, const char *binary, const char *incoming,
			  char *err, size_t errlen)
{
	struct lu *lu = r->lu;
	struct lu_update_info u = {
		.mode = LU_TRANSFER, .old_pid = (uint32_t)getpid(),
		.updates = r->updates, .state_offset = LU_STATE_OFFSET,
		.state_cap = LU_STATE_CAP,
		.created_ns = r->vm->created_ns,
	};
	static uint8_t prep[64 << 10];
	int sv[2], fds[HANDOFF_MAX_FDS], peer_go[CONFIG_MAX_CPUS];
	char why[128];
	size_t len;
	unsigned i;
	int ret;

	for (i = 0; i < CONFIG_MAX_CPUS; i++)
		peer_go[i] = -1;
	ret = lu_state_map(lu, true);
	if (!ret)
		ret = lu_collect_fds(r, &lu->ho);
	if (!ret)
		ret = add_go_channels(r, peer_go);
	if (ret) {
		snprintf(err, errlen, "preparing the handoff: %s", strerror(-ret));
		goto out;
	}
	ret = handoff_check_all(&lu->ho, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "preparing the handoff: %s", why);
		goto out;
	}
	if (incoming) {
		ret = connect_incoming(incoming);
		if (ret < 0) {
			snprintf(err, errlen, "%s: %s", incoming, strerror(-ret));
			goto out;
		}
		lu->sock = ret;
		note_peer(lu);
	} else {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot create the update socket: %s",
				 strerror(-ret));
			goto out;
		}
		ret = spawn_new(r, binary, sv[1], &lu->child);
		close(sv[1]);
		if (ret) {
			close(sv[0]);
			snprintf(err, errlen, "cannot start %.180s: %s", binary, strerror(-ret));
			goto out;
		}
		lu->sock = sv[0];
	}
	u.t_hello_ns = util_now_ns();
	ret = lu_prepare_write(r, &lu->ho, &u, prep, sizeof(prep), &len);
	if (ret) {
		snprintf(err, errlen, "writing the prepare record: %s", strerror(-ret));
		goto out;
	}
	for (i = 0; i < lu->ho.n; i++)
		fds[i] = lu->ho.e[i].fd;
	ret = handoff_send(lu->sock, HMSG_HELLO, prep, len, fds, lu->ho.n);
	lu->t_hello = u.t_hello_ns;
	if (ret == -EPIPE || ret == -ECONNRESET) {
		/* it exited already: the same failure as an EOF before READY */
		snprintf(err, errlen, "the new VMM went away before READY (sending HELLO: %s)",
			 strerror(-ret));
		goto out;
	}
	if (ret) {
		snprintf(err, errlen, "sending HELLO: %s", strerror(-ret));
		goto out;
	}
	lu->sock_w = (struct loop_watch){ .fd = lu->sock, .events = POLLIN,
					  .fn = on_sock, .arg = r };
	ret = loop_timer_init(&lu->timer_w, (uint64_t)lu->prepare_timeout_ms * 1000000ULL,
			      on_timeout, r);
	if (!ret)
		ret = loop_watch(r->loop, &lu->sock_w);
	if (!ret)
		ret = loop_watch(r->loop, &lu->timer_w);
	if (ret)
		snprintf(err, errlen, "watching the new VMM: %s", strerror(-ret));
out:
	/* the new VMM has its ends of the GO channels (or never will) */
	close_fds(peer_go, r->vm->ncpus);
	return ret;
}

/* ---- the request ---------------------------------------------------------- */

static int opt_str(const struct ctl_request *req, const char *key, char *buf, size_t n)
{
	int i = json_obj_find(req->line, req->tok, 0, key);

	buf[0] = '\0';
	if (i < 0)
		return 0;
	if (json_get_str(req->line, &req->tok[i], buf, n) < 0 || !buf[0]) {
		snprintf(req->err, req->errlen, "\"%s\" must be a non-empty string", key);
		return -EINVAL;
	}
	return 0;
}

int lu_cmd_update(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	struct runner *r = ctx;
	char mode[16], binary[4096], incoming[108];
	uint64_t timeout = LU_BLACKOUT_TIMEOUT_MS, ptimeout = LU_PREBUILD_TIMEOUT_MS;
	struct lu *lu = lu_get(r);
	int i, ret;

	(void)w;
	if (!lu)
		return -ENOMEM;
	if (lu->busy) {
		snprintf(req->err, req->errlen, "an update is already in progress");
		return -EBUSY;
	}
	ret = devices_busy(r->devs, req->err, req->errlen);
	if (ret)
		return ret;
	if (opt_str(req, "mode", mode, sizeof(mode)) ||
	    opt_str(req, "binary", binary, sizeof(binary)) ||
	    opt_str(req, "incoming", incoming, sizeof(incoming)) ||
	    opt_str(req, "fault", lu->fault, sizeof(lu->fault)))
		return -EINVAL;
	i = json_obj_find(req->line, req->tok, 0, "timeout_ms");
	if (i >= 0 && (json_get_u64(req->line, &req->tok[i], &timeout) ||
		       timeout < 1 || timeout > 60000)) {
		snprintf(req->err, req->errlen, "\"timeout_ms\" must be 1..60000");
		return -EINVAL;
	}
	i = json_obj_find(req->line, req->tok, 0, "prepare_timeout_ms");
	if (i >= 0 && (json_get_u64(req->line, &req->tok[i], &ptimeout) ||
		       ptimeout < 1 || ptimeout > 600000)) {
		snprintf(req->err, req->errlen, "\"prepare_timeout_ms\" must be 1..600000");
		return -EINVAL;
	}
	if (mode[0] && strcmp(mode, "transfer") && strcmp(mode, "exec")) {
		snprintf(req->err, req->errlen, "\"mode\" must be \"transfer\" or \"exec\"");
		return -EINVAL;
	}
	if (!binary[0])
		snprintf(binary, sizeof(binary), "%s", r->self_path);
	if (!incoming[0] && access(binary, X_OK)) {
		snprintf(req->err, req->errlen, "%s: %s", binary, strerror(errno));
		return -ENOENT;
	}
	memset(&lu->last, 0, sizeof(lu->last));
	lu->exec_teardown_valid = false;
	lu->mode = lu->last.mode = !strcmp(mode, "exec") ? LU_EXEC : LU_TRANSFER;
	lu->blackout_timeout_ms = (int)timeout;
	lu->prepare_timeout_ms = (int)ptimeout;
	if (lu->mode == LU_EXEC && incoming[0]) {
		snprintf(req->err, req->errlen, "\"incoming\" is for transfer mode");
		return -EINVAL;
	}
	lu->busy = true;
	if (lu->mode == LU_EXEC) {
		/* exec hands the client's socket to the new image */
		lu->reply = ctl_defer(req);
		if (!lu->reply) {
			lu->busy = false;
			return -ENOMEM;
		}
		ret = lu_exec_update(r, binary, lu->last.error, sizeof(lu->last.error));
		/* only failures come back; the guest is running again */
		ctl_pending_drop(lu->reply);
		lu->reply = NULL;
	} else {
		ret = start_transfer(r, binary, incoming[0] ? incoming : NULL,
				     lu->last.error, sizeof(lu->last.error));
		if (!ret) {
			lu->reply = ctl_defer(req);
			if (lu->reply)
				return CTL_DEFERRED;
			ret = -ENOMEM;
			snprintf(lu->last.error, sizeof(lu->last.error), "out of memory");
		}
	}
	/* failed before anything was handed over: answer now */
	abandon(r, false);
	snprintf(req->err, req->errlen, "update failed, rolled back: %s", lu->last.error);
	return ret;
}

/* ---- retiring after success ----------------------------------------------- */

void lu_retire(struct runner *r)
{
	struct lu *lu = r->lu;
	uint8_t done[8];
	uint64_t t0;

	ctl_server_destroy(r->ctl, true);
	r->ctl = NULL;
	if (!strcmp(lu->fault, "slow-teardown"))
		poll(NULL, 0, 2000);	/* the next update starts meanwhile */
	t0 = util_now_ns();
	vm_destroy(r->vm);	/* the slow part, now off the guest's path */
	r->vm = NULL;
	lu->last.ph.teardown = (util_now_ns() - t0) / 1000;
	put_le64(done, lu->last.ph.teardown);
	if (handoff_send(lu->sock, HMSG_DONE, done, sizeof(done), NULL, 0))
		log_dbg("update: the new VMM did not take DONE");
	log_info("update: old VM torn down in %" PRIu64 " us; exiting",
		 lu->last.ph.teardown);
	/* devices are not destroyed: their buffered state now belongs to the
	 * new VMM (a serial flush here would repeat bytes) */
	_exit(LUVMM_EXIT_OK);
}

bool lu_retiring(const struct runner *r)
{
	return r->lu && r->lu->last.valid && r->lu->last.ok && r->keep_api_path;
}

void lu_fini(struct runner *r)
{
	struct lu *lu = r->lu;

	if (!lu)
		return;
	if (r->loop)
		end_watches(r, lu);
	if (lu->done_w.active && r->loop)
		loop_unwatch(r->loop, &lu->done_w);
	if (lu->reply)
		ctl_pending_drop(lu->reply);
	stop_new_vmm(lu, true);
	util_close(&lu->sock);
	util_close(&lu->done_w.fd);
	lu_state_release(lu);
	lu_free_percpu(lu);
	util_close(&lu->hook_fd);
	free(lu);
	r->lu = NULL;
}
