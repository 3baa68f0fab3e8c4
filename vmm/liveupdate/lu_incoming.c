// SPDX-License-Identifier: MIT
/*
 * lu_incoming.c: the new VMM's side of a transfer-mode live update.
 *
 * Receive HELLO (configuration + fds), build the VM, its vCPU threads
 * (parked), devices and main loop while the old VMM still runs the guest;
 * answer READY; on GO validate the whole state record, apply it, take the
 * commit word, let the vCPUs run and answer RUNNING; then serve the
 * control socket. Any failure before the commit is reported with ERROR
 * (or by exiting) and the old VMM rolls back; nothing here touches guest
 * memory before the commit, and once the commit word is ours nothing here
 * gives the guest up.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/stat.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/un.h>
#include <unistd.h>

#include "../devices/devices.h"
#include "../log.h"
#include "../run.h"
#include "../util.h"
#include "../vcpu.h"
#include "../vm.h"
#include "lu_internal.h"
#include "record.h"
#include "state.h"

#define HELLO_TIMEOUT_MS	30000
#define GO_TIMEOUT_MS		60000
#define QUIESCE_TIMEOUT_MS	5000
/* lu->result while the last vCPU takes the commit word */
#define RESULT_TAKING		2

/* Test-only fault injection (--fault NAME, passed by `update "fault"`). */
static void fault_point(const char *fault, const char *here)
{
	char name[48];

	if (!fault)
		return;
	if (snprintf(name, sizeof(name), "kill-%s", here), !strcmp(fault, name))
		raise(SIGKILL);
	if (snprintf(name, sizeof(name), "crash-%s", here), !strcmp(fault, name))
		abort();
	if (snprintf(name, sizeof(name), "exit-%s", here), !strcmp(fault, name))
		_exit(3);
	if (snprintf(name, sizeof(name), "hang-%s", here), !strcmp(fault, name))
		for (;;)
			pause();
	if (snprintf(name, sizeof(name), "slow-%s", here), !strcmp(fault, name))
		poll(NULL, 0, 500);
}

/*
 * SIGTERM, SIGINT and SIGHUP are blocked since main(). Until it runs a
 * guest, the new VMM reads them here and stops; runner_services() makes
 * the signalfd of its life after the takeover.
 */
static int stop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* The stop signal that came, or 0. */
static int stop_signal(int sfd)
{
	struct signalfd_siginfo si;

	if (sfd >= 0 && read(sfd, &si, sizeof(si)) == sizeof(si))
		return (int)si.ssi_signo;
	return 0;
}

/* Wait until fd is readable: 1, 0 on timeout, -EINTR with *sig set when a
 * stop signal came first, or -errno. */
static int wait_readable(int fd, int sfd, int timeout_ms, int *sig)
{
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };
		uint64_t now = util_now_ns();
		int n;

		if (timeout_ms >= 0 && now >= deadline)
			return 0;
		n = poll(p, 2, timeout_ms < 0 ? -1 : (int)((deadline - now) / 1000000ULL) + 1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && p[1].revents && (*sig = stop_signal(sfd)))
			return -EINTR;
		if (n > 0 && p[0].revents)
			return 1;
	}
}

static int listen_incoming(const char *path, int sfd, int *sig)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, c;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		c = -errno;
		close(fd);
		return c;
	}
	chmod(path, 0600);
	log_info("waiting for the running VMM on %s", path);
	c = wait_readable(fd, sfd, -1, sig);
	if (c > 0) {
		do {
			c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		} while (c < 0 && errno == EINTR);
		if (c < 0)
			c = -errno;
	}
	close(fd);
	unlink(path);
	return c;
}

static void send_error(int sock, const char *msg)
{
	log_err("update: %s", msg);
	if (handoff_send(sock, HMSG_ERROR, msg, strlen(msg), NULL, 0))
		log_dbg("update: the old VMM is gone");
}

/* The old VMM reports its teardown time, then closes. */
static bool on_done(struct loop_watch *w, int revents)
{
	struct runner *r = w->arg;
	struct lu *lu = r->lu;
	enum handoff_msg type;
	uint8_t msg[64];
	int ret;

	(void)revents;
	ret = handoff_recv(w->fd, &type, msg, sizeof(msg), NULL, NULL, 0);
	if (ret == 8 && type == HMSG_DONE) {
		/* a later update may be under way, or have failed: last is
		 * then its, not our takeover's */
		if (!lu->busy && lu->last.ok && lu->last.mode == LU_TRANSFER &&
		    !lu->last.rolled_back)
			lu->last.ph.teardown = get_le64(msg);
		return true;	/* EOF follows */
	}
	/* only this channel: lu->sock may be a later update's by now */
	util_close(&w->fd);
	return false;
}

struct incoming {
	struct runner *r;
	const struct config *args;
	int sock;
	int sfd;			/* stop signals until the takeover */
	int sig;			/* the one that came, or 0 */
	struct lu_update_info u;
	struct handoff h;
	int api_fd;
	uint64_t t_ready;
	struct lu_loaded *loaded;	/* decode space, allocated in pre-build */
	/* written by the restore hooks, read after hook_fd fires */
	uint64_t ot[3];			/* old: stop requested, parked, saved */
	uint64_t nt[3];			/* new: GO, restored, vCPUs in KVM_RUN */
	atomic_bool got_go;		/* a vCPU thread received its GO */
	int wake_fd;			/* timerfd: the last vCPU thread wakes
					 * the main thread a little after the
					 * guest runs again */
	uint8_t running[24];		/* RUNNING's payload (the last thread) */
	atomic_bool running_sent;
};

/* How long after the vCPUs run the main thread takes over: long enough
 * that it does not compete with them for a CPU as they re-enter the
 * guest, short enough that the IOMMU rebuild and the control socket do
 * not wait for the old VMM's teardown. */
#define TAKEOVER_DELAY_NS	1000000L

/* HELLO: the configuration and the fds. */
static int receive_hello(struct incoming *in, struct lu_config_store *cs)
{
	static uint8_t buf[HANDOFF_MSG_MAX];
	int fds[HANDOFF_MAX_FDS];
	unsigned nfds = HANDOFF_MAX_FDS, i;
	enum handoff_msg type;
	char msg[256];
	int n, ret;

	n = wait_readable(in->sock, in->sfd, HELLO_TIMEOUT_MS, &in->sig);
	if (n == -EINTR)
		return n;
	n = n == 0 ? -ETIMEDOUT : n < 0 ? n :
	    handoff_recv(in->sock, &type, buf, sizeof(buf), fds, &nfds, 0);
	if (n < 0) {
		log_err("update: no HELLO from the running VMM: %s", strerror(-n));
		return n;
	}
	if (type != HMSG_HELLO) {
		send_error(in->sock, "expected HELLO");
		ret = -EPROTO;
		goto err_close;
	}
	ret = lu_prepare_read(buf, (size_t)n, cs, &in->h, fds, nfds, &in->u, msg,
			      sizeof(msg));
	if (ret) {
		char e[320];

		snprintf(e, sizeof(e), "prepare record rejected: %s", msg);
		send_error(in->sock, e);
		goto err_close;
	}
	return 0;
err_close:
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	return ret;
}

static int take_go_channels(struct incoming *in)
{
	struct lu *lu = in->r->lu;
	char name[HANDOFF_NAME_MAX];
	unsigned i;
	int ret = lu_alloc_percpu(lu, in->r->cfg.ncpus, false);

	for (i = 0; !ret && i < lu->ncpus; i++) {
		snprintf(name, sizeof(name), "vcpu-go-%u", i);
		if (handoff_get(&in->h, name, HK_SOCKET) < 0)
			return -EBADF;
		lu->go_sock[i] = handoff_take(&in->h, name);
	}
	return ret;
}

/* The commit word's page, writable (the rest of the state memfd is
 * mapped read-only). */
static int map_commit_word(struct lu *lu)
{
	lu->commit_map = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_POPULATE, lu->state_fd, LU_COMMIT_PAGE);
	if (lu->commit_map == MAP_FAILED) {
		lu->commit_map = NULL;
		return -errno;
	}
	lu->commit = (_Atomic uint64_t *)(void *)((uint8_t *)lu->commit_map +
						   (LU_COMMIT_OFFSET - LU_COMMIT_PAGE));
	return 0;
}

/* Everything that can be built while the old VMM still runs the guest. */
static int prebuild(struct incoming *in)
{
	struct runner *r = in->r;
	struct lu *lu = lu_get(r);
	char err[256], e[320];
	int ram_fd, ret;

	if (!lu)
		return -ENOMEM;
	ram_fd = handoff_take(&in->h, "ram");
	lu->state_fd = handoff_take(&in->h, "state");
	in->api_fd = r->cfg.api_path ? handoff_take(&in->h, "api") : -1;
	if (ram_fd < 0 || lu->state_fd < 0 || (r->cfg.api_path && in->api_fd < 0)) {
		send_error(in->sock, "the handoff lacks ram, state or api");
		if (ram_fd >= 0)
			close(ram_fd);
		return -EBADF;
	}
	ret = take_go_channels(in);
	if (ret) {
		send_error(in->sock, "the handoff lacks the per-vCPU GO channels");
		close(ram_fd);
		return ret;
	}
	ret = runner_build(r, &in->h, ram_fd, false, err, sizeof(err));
	if (ret) {
		if (!r->vm)
			close(ram_fd);	/* vm_create did not adopt it */
		snprintf(e, sizeof(e), "pre-build failed: %s", err);
		send_error(in->sock, e);
		return ret;
	}
	ret = lu_state_map(lu, false);
	if (!ret)
		ret = map_commit_word(lu);
	in->loaded = lu_loaded_create(r->cfg.ncpus);
	if (!ret && !in->loaded)
		ret = -ENOMEM;
	if (!ret)
		ret = runner_services(r, in->api_fd, false);
	if (ret) {
		snprintf(e, sizeof(e), "pre-build failed: %s", strerror(-ret));
		send_error(in->sock, e);
	}
	return ret;
}

/* vCPU 0 checks and decodes the whole record and restores the VM-wide
 * state; nothing may be applied before the whole record validated. */
static int decode_and_restore_vm(struct incoming *in, const uint8_t *go)
{
	struct runner *r = in->r;
	struct lu *lu = r->lu;
	uint64_t off = get_le64(go), len = get_le64(go + 8);
	uint64_t word = atomic_load(lu->commit);
	char msg[256];
	int ret;

	lu_get_times(go + 16, in->ot, 3);
	/* the commit word as the old VMM opened it for this attempt */
	if (LU_COMMIT_STATE(word) == LU_COMMIT_GO) {
		lu->commit_go = word;
	} else if (word == LU_COMMIT_IDLE) {
		lu->commit_go = 0;	/* an old VMM that predates the word */
		log_warn("update: the running VMM does not arbitrate the commit");
	} else {
		lu_hook_fail(lu, -ECANCELED, "the running VMM gave the update up before GO arrived");
		return -ECANCELED;
	}
	if (off != in->u.state_offset || len > in->u.state_cap ||
	    off + len > LU_STATE_SIZE) {
		lu_hook_fail(lu, -EBADMSG, "GO names a record outside the state area");
		return -EBADMSG;
	}
	if (!strcmp(r->cfg.fault ? r->cfg.fault : "", "error-load")) {
		lu_hook_fail(lu, -EIO, "injected load error");
		return -EIO;
	}
	ret = lu_state_read(r, lu->state + off, len, in->loaded, msg, sizeof(msg));
	if (ret) {
		lu_hook_fail(lu, ret, "state record rejected: %s", msg);
		return ret;
	}
	ret = lu_state_apply_vm(r, in->loaded);
	if (ret)
		lu_hook_fail(lu, ret, "restoring the VM state failed: %s", strerror(-ret));
	return ret;
}

/* Let the scheduler place the vCPU threads again (restore_hook pinned them). */
static void unpin_vcpus(struct vm *vm)
{
	cpu_set_t all;
	unsigned i;

	if (sched_getaffinity(0, sizeof(all), &all))
		return;
	for (i = 0; i < vm->ncpus; i++)
		if (sched_setaffinity(vm->vcpus[i]->tid, sizeof(all), &all))
			log_dbg("vcpu%u: cannot unpin: %s", i, strerror(errno));
}

/*
 * The commit point, on the last vCPU thread to restore itself: first
 * claim the outcome in this process (the main thread may have given the
 * update up), then take the commit word from the old VMM (which may have
 * given up, on its timeout). Only then may a vCPU run. false: the guest
 * stays with the old VMM and we stop.
 */
static bool take_guest(struct lu *lu)
{
	uint64_t go = lu->commit_go;
	int none = 0;

	if (!atomic_compare_exchange_strong(&lu->result, &none, RESULT_TAKING))
		return false;
	if (!go || atomic_compare_exchange_strong(lu->commit, &go,
			LU_COMMIT_WORD(go >> 32, LU_COMMIT_TAKEN)))
		return true;
	snprintf(lu->err, sizeof(lu->err),
		 "the running VMM gave the update up first (its timeout or an error)");
	atomic_store(&lu->result, -ECANCELED);
	{
		uint64_t one = 1;

		if (write(lu->hook_fd, &one, sizeof(one)) < 0)
			log_dbg("update: cannot signal a hook failure");
	}
	return false;
}

/* Arm the main thread's wake-up (see TAKEOVER_DELAY_NS); false if there
 * is no timer: then the caller sends RUNNING, which nothing else would. */
static bool wake_main_later(struct incoming *in)
{
	struct itimerspec t = { .it_value = { .tv_nsec = TAKEOVER_DELAY_NS } };

	if (in->wake_fd < 0)
		return false;
	if (timerfd_settime(in->wake_fd, 0, &t, NULL)) {
		log_warn("update: cannot arm the takeover timer: %s", strerror(errno));
		return false;
	}
	return true;
}

/* Confirm to the old VMM, once: RUNNING with the blackout's times. */
static void send_running(struct incoming *in)
{
	if (atomic_exchange(&in->running_sent, true))
		return;
	if (handoff_send(in->sock, HMSG_RUNNING, in->running, sizeof(in->running), NULL, 0))
		log_warn("update: cannot confirm RUNNING; the guest runs here anyway");
}

/* The restore proper (see restore_hook()). */
static void restore_vcpu(struct vcpu *v, struct incoming *in)
{
	struct runner *r = in->r;
	struct lu *lu = r->lu;
	enum handoff_msg type;
	uint8_t go[64];
	int n, ret;

	n = handoff_recv(lu->go_sock[v->id], &type, go, sizeof(go), NULL, NULL,
			 GO_TIMEOUT_MS);
	if (v->id == 0)
		in->nt[0] = util_now_ns();
	if (n < 0 || type != HMSG_GO || n != 48) {
		lu_hook_fail(lu, n < 0 ? n : -EPROTO, "vCPU %u: no GO from the running VMM (%s)",
			     v->id, n < 0 ? strerror(-n) : handoff_msg_name(type));
		atomic_store(&lu->decoded, -EPROTO);
		return;
	}
	atomic_store(&in->got_go, true);
	{
		/*
		 * Stay on the CPU our predecessor just left until the guest
		 * runs: two new vCPUs on one CPU would leave one waiting for
		 * a scheduler tick. The main thread unpins us later.
		 */
		cpu_set_t one;
		uint64_t cpu = get_le64(go + 40);

		if (cpu < CPU_SETSIZE) {
			CPU_ZERO(&one);
			CPU_SET((int)cpu, &one);
			if (sched_setaffinity(0, sizeof(one), &one))
				log_dbg("vcpu%u: cannot pin: %s", v->id, strerror(errno));
		}
	}
	if (v->id == 0) {
		fault_point(r->cfg.fault, "load");
		ret = decode_and_restore_vm(in, go);
		atomic_store_explicit(&lu->decoded, ret ? ret : 1, memory_order_release);
	}
	if (lu_spin_nonzero(&lu->decoded, &r->vm->exit_req,
			    (uint64_t)GO_TIMEOUT_MS * 1000000ULL) != 1)
		return;		/* vCPU 0 reported why */
	ret = vcpu_state_restore(v, in->loaded->vcpus[v->id]);
	if (ret) {
		lu_hook_fail(lu, ret, "vCPU %u: restoring its state failed: %s", v->id,
			     strerror(-ret));
		return;
	}
	if (atomic_fetch_add(&lu->arrived, 1) + 1 == lu->ncpus) {
		/* the last one: nobody failed, all are restored */
		in->nt[1] = util_now_ns();
		if (take_guest(lu)) {
			if (!in->loaded->vm.paused)
				vm_release_vcpus(r->vm);
			in->nt[2] = util_now_ns();
			/* before the result: the main thread may read it once
			 * it sees the result */
			lu_put_times(in->running, in->nt, 3);
			atomic_store_explicit(&lu->result, 1, memory_order_release);
			fault_point(r->cfg.fault, "commit");
			/*
			 * Nobody else may wake now: every vCPU is about to
			 * enter the guest, and a woken thread would take one's
			 * CPU. Our main thread wakes 1 ms later and sends
			 * RUNNING, which wakes the old VMM's main thread
			 * (it answers the client). Without the timer, RUNNING
			 * goes from here.
			 */
			if (!wake_main_later(in))
				send_running(in);
		}
	}
	/* wait for the release here, spinning on our own CPU: sleeping would
	 * need a wake-up */
	lu_spin_nonzero(&lu->result, &r->vm->exit_req, (uint64_t)GO_TIMEOUT_MS * 1000000ULL);
}

/*
 * The restore, run by every new vCPU thread (parked since it was built).
 * Each waits for GO on its own socket: the old VMM's vCPU thread that sends
 * it has just left its CPU, so this thread usually starts right there, with
 * no cross-CPU wake-up. vCPU 0 validates the record and restores the
 * VM-wide state; then every vCPU restores itself, and the last one to
 * finish takes the commit word and releases them all. A failure anywhere
 * stops all of them before any runs; the main thread learns the outcome
 * through lu->hook_fd. Counted in lu->inhook, so that a teardown can wait
 * until no thread is in here (and none enters once lu->closing is set).
 */
static void restore_hook(struct vcpu *v, void *arg)
{
	struct incoming *in = arg;
	struct lu *lu = in->r->lu;

	atomic_fetch_add(&lu->inhook, 1);
	if (!atomic_load(&lu->closing))
		restore_vcpu(v, in);
	atomic_fetch_sub(&lu->inhook, 1);
}

/*
 * Before the runner goes (it frees lu, the devices and the VM): no vCPU
 * thread may be inside the restore hook. Their waits are cut short: GO
 * channels shut down, spins told to stop. A thread that does not come out
 * leaves no safe way to free anything: exit.
 */
static void quiesce_hooks(struct runner *r)
{
	struct lu *lu = r->lu;
	uint64_t deadline = util_now_ns() + QUIESCE_TIMEOUT_MS * 1000000ULL;
	unsigned i;

	if (!lu || !r->vm)
		return;
	atomic_store(&lu->closing, true);
	atomic_store(&r->vm->exit_req, true);
	for (i = 0; lu->go_sock && i < lu->ncpus; i++)
		if (lu->go_sock[i] >= 0)
			shutdown(lu->go_sock[i], SHUT_RDWR);
	while (atomic_load(&lu->inhook) && util_now_ns() < deadline)
		poll(NULL, 0, 1);
	if (atomic_load(&lu->inhook)) {
		log_err("update: a vCPU thread is stuck in the restore; exiting");
		_exit(LUVMM_EXIT_ERROR);
	}
}

/* Give the update up unless the vCPU threads took the guest first: true
 * if given up (no vCPU will run here), false if the guest is ours. */
static bool give_up(struct lu *lu, const char *why)
{
	int none = 0;

	if (atomic_compare_exchange_strong(&lu->result, &none, -ECANCELED)) {
		snprintf(lu->err, sizeof(lu->err), "%s", why);
		return true;
	}
	while (atomic_load(&lu->result) == RESULT_TAKING)
		sched_yield();
	return atomic_load(&lu->result) < 0;
}

/* Is a GO on its way to, or with, a vCPU thread? */
static bool go_seen(struct incoming *in)
{
	struct lu *lu = in->r->lu;
	unsigned i;

	if (atomic_load(&in->got_go))
		return true;
	for (i = 0; i < lu->ncpus; i++) {
		struct pollfd p = { .fd = lu->go_sock[i], .events = POLLIN };

		if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
			return true;
	}
	return false;
}

/*
 * Wait for the outcome: the guest is ours (1), or the update is given up
 * (why set). The vCPU threads do the restore and take the guest
 * (restore_hook); the main thread sleeps meanwhile and wakes for a failure
 * (hook_fd), a stop signal, the takeover timer the last vCPU thread arms
 * once the guest runs, or the old VMM's socket (EOF, or out of turn).
 * Once the guest is ours nothing here gives it up.
 */
static int wait_outcome(struct incoming *in, char *why, size_t len)
{
	struct lu *lu = in->r->lu;
	uint64_t deadline = in->t_ready + (GO_TIMEOUT_MS + 5000) * 1000000ULL;
	struct pollfd p[4] = { { .fd = lu->hook_fd, .events = POLLIN },
			       { .fd = in->sock, .events = POLLIN },
			       { .fd = in->sfd, .events = POLLIN },
			       { .fd = in->wake_fd, .events = POLLIN } };
	int n, wait_ms = -1;

	for (;;) {
		uint64_t now = util_now_ns();

		if (atomic_load(&lu->result) == 1)
			return 1;
		if (atomic_load(&lu->result) < 0 && give_up(lu, "")) {
			snprintf(why, len, "%s", lu->err);
			return 0;
		}
		if (now >= deadline) {
			snprintf(why, len, "no outcome within %d s of READY",
				 GO_TIMEOUT_MS / 1000 + 5);
			break;
		}
		n = (int)((deadline - now) / 1000000ULL) + 1;
		n = poll(p, 4, wait_ms >= 0 && wait_ms < n ? wait_ms : n);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		if (p[2].revents && (in->sig = stop_signal(in->sfd))) {
			snprintf(why, len, "stopped by signal %d before the takeover", in->sig);
			break;
		}
		if (p[0].revents)
			lu_hook_drain(lu);	/* the loop reads the result */
		if (p[1].revents && atomic_load(&lu->result) == 0) {
			/*
			 * The old VMM closed (or spoke) before we took the
			 * guest. If a GO came, our vCPU threads decide: the
			 * commit word tells them whether it rolled back;
			 * check on them often. Else nothing can come now.
			 */
			if (!go_seen(in)) {
				snprintf(why, len, "no GO");
				break;
			}
			p[1].fd = -1;
			wait_ms = 10;
		}
	}
	if (give_up(lu, why))
		return 0;
	return 1;	/* the vCPU threads were faster: the guest is ours */
}

/*
 * The guest runs here now (or stays paused): the new VMM's own
 * bookkeeping, with the timings the hooks recorded.
 */
static void took_over(struct incoming *in)
{
	struct runner *r = in->r;
	struct lu *lu = r->lu;
	uint64_t entered = 0, deadline = util_now_ns() + 2000000000ULL;
	unsigned i;

	/* the last thread may still be in the hook (arming the timer, or,
	 * without one, sending RUNNING) */
	while (atomic_load(&lu->inhook) && util_now_ns() < deadline)
		poll(NULL, 0, 1);
	if (in->loaded->vm.paused) {
		r->vm->state = VM_PAUSED;
		r->vm->paused_ns = in->nt[1];
	} else {
		r->vm->state = VM_RUNNING;
		/* the blackout ends when the vCPUs are back in KVM_RUN */
		for (i = 0; i < r->vm->ncpus; i++)
			entered = MAX(entered, r->vm->vcpus[i]->t_entered);
		if (entered > in->nt[1])
			in->nt[2] = entered;
	}
	unpin_vcpus(r->vm);
	lu->last = (struct lu_result){
		.valid = true, .ok = true, .mode = LU_TRANSFER,
		.new_pid = getpid(),
		.ph = {
			.prebuild = (in->t_ready - in->u.t_hello_ns) / 1000,
			.stop = (in->ot[1] - in->ot[0]) / 1000,
			.save = (in->ot[2] - in->ot[1]) / 1000,
			.handover = in->nt[0] > in->ot[2] ? (in->nt[0] - in->ot[2]) / 1000 : 0,
			.load = (in->nt[1] - in->nt[0]) / 1000,
			.run = (in->nt[2] - in->nt[1]) / 1000,
			.blackout = (in->nt[2] - in->ot[0]) / 1000,
		},
	};
}

static int load_and_run(struct incoming *in)
{
	char why[sizeof(in->r->lu->err)];
	int ret;

	ret = wait_outcome(in, why, sizeof(why));
	if (ret < 0)
		snprintf(why, sizeof(why), "waiting for GO: %s", strerror(-ret));
	if (ret <= 0) {
		send_error(in->sock, why);
		return ret < 0 ? ret : -ECANCELED;
	}
	took_over(in);
	/* n2 as took_over() corrected it (the last vCPU into KVM_RUN): the
	 * old VMM's reply and our update.last tell the same blackout. Still
	 * unsent: only a failed timer makes a vCPU thread send it. */
	if (!atomic_load(&in->running_sent))
		lu_put_times(in->running, in->nt, 3);
	send_running(in);
	return 0;
}

static int incoming_socket(struct incoming *in)
{
	const struct config *args = in->args;
	int fd;

	if (args->incoming_path)
		return listen_incoming(args->incoming_path, in->sfd, &in->sig);
	fd = args->incoming_fd;
	if (handoff_check_kind(fd, HK_SOCKET)) {
		log_err("--incoming-fd %d is not a socket", fd);
		return -EBADF;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return fd;
}

/* From here the runner's own signalfd takes the stop signals; one that
 * came in the takeover is passed on to it (the guest is ours to stop). */
static void end_stop_signals(struct incoming *in)
{
	int sig = in->sig ? in->sig : stop_signal(in->sfd);

	util_close(&in->sfd);
	in->sig = 0;
	if (sig) {
		log_warn("signal %d came during the takeover", sig);
		kill(getpid(), sig);
	}
}

int lu_incoming_main(const struct config *args)
{
	static struct lu_config_store cs;
	struct incoming in = { .args = args, .api_fd = -1, .sock = -1, .sfd = -1,
			       .wake_fd = -1 };
	struct runner *r = calloc(1, sizeof(*r));
	int ret, status = LUVMM_EXIT_ERROR;
	bool armed = false;

	if (!r)
		return LUVMM_EXIT_ERROR;
	runner_init(r);
	in.r = r;
	log_set_tag("luvmm-new");
	if (vcpu_init_signals())
		goto out_free;
	if (args->incoming_exec_fd >= 0) {
		status = lu_exec_incoming(r, args);
		goto out_free;
	}
	in.sfd = stop_signals();
	if (in.sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		goto out_free;
	}
	in.wake_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (in.wake_fd < 0)
		log_dbg("update: no takeover timer (%s): the old VMM's DONE wakes us",
			strerror(errno));
	handoff_init(&in.h);
	in.sock = incoming_socket(&in);
	if (in.sock < 0)
		goto out_sock;
	fault_point(args->fault, "hello");
	if (receive_hello(&in, &cs))
		goto out_sock;
	r->cfg = cs.cfg;
	r->cfg.fault = args->fault;
	if (args->verbose)
		log_set_level(args->verbose > 1 ? LOG_DEBUG : LOG_INFO);
	fault_point(args->fault, "prebuild");
	ret = prebuild(&in);
	if (ret)
		goto out_teardown;
	/* the vCPU threads wait for their GO themselves */
	vm_wait_warm(r->vm);
	if ((in.sig = stop_signal(in.sfd))) {
		send_error(in.sock, "stopped by a signal before the takeover");
		goto out_teardown;
	}
	vm_arm_park_hook(r->vm, restore_hook, &in);
	armed = true;
	in.t_ready = util_now_ns();
	if (handoff_send(in.sock, HMSG_READY, NULL, 0, NULL, 0))
		goto out_teardown;
	log_info("update: pre-built in %" PRIu64 " us; waiting for GO",
		 (in.t_ready - in.u.t_hello_ns) / 1000);
	if (load_and_run(&in))
		goto out_teardown;
	armed = false;
	end_stop_signals(&in);
	log_info("update: running the guest (blackout %" PRIu64 " us)",
		 r->lu->last.ph.blackout);
	lu_state_release(r->lu);	/* the next update makes fresh ones */
	lu_free_percpu(r->lu);
	devices_resumed(r->devs, true);	/* deferred work: IOMMU rebuild */
	handoff_close_all(&in.h);
	if (runner_serve_api(r, in.api_fd))
		log_err("update: cannot serve the control socket");
	in.api_fd = -1;
	/* done_w owns the old VMM's socket from here; lu->sock stays free for
	 * the next update, which may start before the old VMM is done */
	r->lu->done_w = (struct loop_watch){ .fd = in.sock, .events = POLLIN,
					     .fn = on_done, .arg = r };
	in.sock = -1;
	if (loop_watch(r->loop, &r->lu->done_w))
		log_dbg("update: not waiting for the old VMM's teardown time");
	runner_loop(r);
	status = r->exit_status;
out_teardown:
	/* the restore hooks use lu and the devices: none may still run */
	if (armed)
		quiesce_hooks(r);
	handoff_close_all(&in.h);
	util_close(&in.api_fd);
	runner_teardown(r);
	lu_loaded_free(in.loaded);
out_sock:
	if (in.sig) {
		log_info("signal %d: stopping before the takeover", in.sig);
		status = LUVMM_EXIT_OK;
	}
	handoff_close_all(&in.h);
	util_close(&in.sock);
	util_close(&in.sfd);
	util_close(&in.wake_fd);
out_free:
	free(r);
	return status;
}
