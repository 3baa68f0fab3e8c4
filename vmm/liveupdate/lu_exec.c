// SPDX-License-Identifier: MIT
/*
 * lu_exec.c: exec-mode live update: the same process (same pid) execs the
 * new binary.
 *
 * Old image: before the blackout, copy every handed-over fd to a
 * contiguous range [base, base+n) without close-on-exec and write the
 * prepare record into the state memfd; in the blackout, park the vCPUs,
 * write the state record and the exec block, and execve. The old VM's fds
 * cross the exec too, so its (slow) destruction happens after the guest
 * runs again, not inside execve.
 *
 * New image: it cannot pre-build, so it keeps its critical path short:
 * create the VM without memslots and without probing MSRs, decode the
 * record, register only the memslots the vCPUs touch first (boot slot,
 * code, stack, page tables), restore, run, answer the client; then
 * register the other slots on a helper thread. A vCPU that touches a slot
 * not registered yet sleeps until it is (vm_ram_access_late), counted.
 *
 * Rollback: until it commits (just before it releases the vCPUs) the new
 * image keeps the handed fds inheritable. On a restore error, a crash
 * signal or a watchdog timeout before that it execs the old binary (kept
 * open as "old-exe") on the same record with --rollback: the old code
 * restores the guest and reports why. After the commit nothing rolls back:
 * the guest's memory has moved on from the record.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
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

#define EXEC_MAGIC	0x5845554cU	/* "LUEX" */
#define EXEC_VERSION	1
/* exec block layout (little-endian, at LU_EXEC_BLOCK in the state memfd) */
#define EB_MAGIC	0
#define EB_VERSION	4
#define EB_PREP_LEN	8
#define EB_STATE_LEN	16
#define EB_TIMES	24	/* stop start, stopped, saved, exec */
#define EB_BASE		56
#define EB_NFDS		60
#define EB_TIMEOUT	64	/* ms the new image has until RUNNING */
#define EB_GUARDIAN	68	/* pid of the guardian (0: none) */
#define EB_SIZE		72

#define MAX_HOT_SLOTS	64

/* ---- old image ----------------------------------------------------------- */

/* Does `binary version --abi` answer LU_ABI_STRING? Exec replaces this
 * process: a binary that cannot restore the guest must be caught before. */
static int probe_binary(const char *binary, char *err, size_t errlen)
{
	const char *argv[] = { binary, "version", "--abi", NULL };
	posix_spawn_file_actions_t fa;
	char out[64] = "";
	struct pollfd p;
	int pfd[2], st, ret;
	ssize_t n = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	ret = -posix_spawn(&pid, binary, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (!ret) {
		p = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
		if (poll(&p, 1, 2000) == 1)
			n = read(pfd[0], out, sizeof(out) - 1);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	close(pfd[0]);
	if (ret) {
		snprintf(err, errlen, "cannot run %.200s: %s", binary, strerror(-ret));
		return ret;
	}
	out[n > 0 ? n : 0] = '\0';
	if (strncmp(out, LU_ABI_STRING, strlen(LU_ABI_STRING)) ||
	    (out[strlen(LU_ABI_STRING)] != '\n' && out[strlen(LU_ABI_STRING)])) {
		snprintf(err, errlen, "%.200s does not speak live-update protocol %d: not executed",
			 binary, LU_ABI_VERSION);
		return -ENOEXEC;
	}
	return 0;
}

static int highest_fd(void)
{
	long max = sysconf(_SC_OPEN_MAX);
	int fd, hi = 2;

	/* /proc would allocate an fd itself; fcntl probing is enough here */
	for (fd = 3; fd < max && fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			hi = fd;
	return hi;
}

/* Copy every handoff fd to base+i, inheritable. */
static int dup_range(const struct handoff *h, int *base)
{
	unsigned i;

	*base = highest_fd() + 1;
	for (i = 0; i < h->n; i++) {
		int fd = fcntl(h->e[i].fd, F_DUPFD, *base + (int)i);

		if (fd != *base + (int)i) {
			if (fd >= 0)
				close(fd);
			while (i--)
				close(*base + (int)i);
			return -EBADF;
		}
	}
	return 0;
}

static void close_range_n(int base, unsigned n)
{
	while (n--)
		close(base + (int)n);
}

static int add_exec_fds(struct runner *r, struct handoff *h)
{
	struct lu *lu = r->lu;
	int ret, fd;

	fd = ctl_pending_fd(lu->reply);
	ret = fd >= 0 ? handoff_add(h, "ctl-reply", fd, HK_SOCKET) : 0;
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!ret)
		ret = handoff_add(h, "old-exe", fd, HK_FILE);
	if (ret)
		close(fd);
	return ret;
}

/*
 * The guardian: a child sharing our address space (CLONE_VM, like the
 * child of posix_spawn) with its own copy of the fd table. It keeps the
 * old image's memory and the old VM's fds alive across execve, so that
 * execve neither tears down the old address space (and KVM's mappings of
 * it) nor destroys the old VM: both happen when the guardian exits, after
 * the new image runs the guest, at idle priority. It only makes raw system
 * calls (no libc: it shares the parent's thread state) and exits when the
 * pipe's write end, handed to the new image as "guardian", is closed.
 */
static long raw_syscall3(long nr, long a, long b, long c)
{
	long ret;

	asm volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c)
		     : "rcx", "r11", "memory");
	return ret;
}

static int guardian_main(void *arg)
{
	const int *pfd = arg;
	struct sched_param sp = { 0 };
	char b;

	raw_syscall3(SYS_close, pfd[1], 0, 0);
	raw_syscall3(SYS_sched_setscheduler, 0, SCHED_IDLE, (long)&sp);
	while (raw_syscall3(SYS_read, pfd[0], (long)&b, 1) == -EINTR)
		;
	raw_syscall3(SYS_exit, 0, 0, 0);
	return 0;
}

#define GUARDIAN_STACK	(64 << 10)

/* Start the guardian; returns the pipe's write end (or -errno). */
static int start_guardian(pid_t *pid)
{
	static int pfd[2];
	static uint8_t *stack;
	int ret;

	if (!stack) {
		stack = mmap(NULL, GUARDIAN_STACK, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (stack == MAP_FAILED) {
			stack = NULL;
			return -ENOMEM;
		}
	}
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	*pid = clone(guardian_main, stack + GUARDIAN_STACK, CLONE_VM | SIGCHLD, pfd);
	ret = *pid < 0 ? -errno : 0;
	close(pfd[0]);
	if (ret) {
		close(pfd[1]);
		return ret;
	}
	return pfd[1];
}

/* Let the guardian go and wait for it: its exit is the old image's
 * teardown. Returns how long that took. */
static uint64_t end_guardian(int wfd, pid_t pid)
{
	uint64_t t0 = util_now_ns();

	if (wfd >= 0)
		close(wfd);
	if (pid > 0)
		while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
			;
	return (util_now_ns() - t0) / 1000;
}

int lu_exec_update(struct runner *r, const char *binary, char *err, size_t errlen)
{
	struct lu *lu = r->lu;
	struct lu_update_info u = {
		.mode = LU_EXEC, .old_pid = (uint32_t)getpid(), .updates = r->updates,
		.state_offset = LU_STATE_OFFSET,
		.state_cap = LU_STATE_CAP,
		.created_ns = r->vm->created_ns,
	};
	char sfd[16], sbase[16], why[128];
	const char *argv[12];
	bool was_paused;
	size_t plen, slen;
	int base, ret, old_exe;
	uint64_t t[4];
	unsigned n = 0, i;
	uint8_t *eb;
	int guard_w = -1;
	pid_t guard_pid = 0;

	ret = probe_binary(binary, err, errlen);
	if (ret)
		return ret;
	ret = lu_state_map(lu, true);
	if (!ret)
		ret = lu_collect_fds(r, &lu->ho);
	if (!ret)
		ret = add_exec_fds(r, &lu->ho);
	if (!ret) {
		guard_w = start_guardian(&guard_pid);
		ret = guard_w < 0 ? guard_w : handoff_add(&lu->ho, "guardian", guard_w, HK_FILE);
	}
	/* the new image checks them too, but only once it has replaced us:
	 * a wrong kind found there would lose the guest */
	if (!ret && handoff_check_all(&lu->ho, why, sizeof(why)))
		ret = -EBADF;
	else
		why[0] = '\0';
	if (!ret) {
		u.t_hello_ns = util_now_ns();
		ret = lu_prepare_write(r, &lu->ho, &u, lu->state, LU_EXEC_BLOCK, &plen);
	}
	if (!ret)
		ret = dup_range(&lu->ho, &base);
	old_exe = handoff_get(&lu->ho, "old-exe", HK_FILE);
	if (ret) {
		snprintf(err, errlen, "preparing exec: %s", why[0] ? why : strerror(-ret));
		if (old_exe >= 0)
			close(old_exe);
		end_guardian(guard_w, guard_pid);
		return ret;
	}
	for (i = 0; i < lu->ho.n; i++)
		if (!strcmp(lu->ho.e[i].name, "state"))
			snprintf(sfd, sizeof(sfd), "%d", base + (int)i);
	snprintf(sbase, sizeof(sbase), "%d", base);
	argv[n++] = binary;
	argv[n++] = "run";
	argv[n++] = "--incoming-exec";
	argv[n++] = sfd;
	argv[n++] = "--handoff-base";
	argv[n++] = sbase;
	if (r->cfg.verbose)
		argv[n++] = r->cfg.verbose > 1 ? "-vv" : "-v";
	if (lu->fault[0] && !lu_fault_is_old_side(lu->fault)) {
		argv[n++] = "--fault";
		argv[n++] = lu->fault;
	}
	argv[n] = NULL;

	/* blackout */
	was_paused = r->vm->state == VM_PAUSED;
	t[0] = util_now_ns();
	vm_pause(r->vm);
	t[1] = util_now_ns();
	ret = lu_state_write(r, was_paused, lu->state + LU_STATE_OFFSET,
			     LU_STATE_CAP, &slen);
	t[2] = util_now_ns();
	if (!ret) {
		memcpy(lu->state + LU_BACKUP_OFFSET, lu->state + LU_STATE_OFFSET, slen);
		if (!strcmp(lu->fault, "corrupt-record"))
			lu->state[LU_STATE_OFFSET + slen / 2] ^= 0x40;
		eb = lu->state + LU_EXEC_BLOCK;
		put_le32(eb + EB_MAGIC, EXEC_MAGIC);
		put_le32(eb + EB_VERSION, EXEC_VERSION);
		put_le64(eb + EB_PREP_LEN, plen);
		put_le64(eb + EB_STATE_LEN, slen);
		put_le32(eb + EB_BASE, (uint32_t)base);
		put_le32(eb + EB_NFDS, lu->ho.n);
		put_le32(eb + EB_TIMEOUT, (uint32_t)lu->blackout_timeout_ms);
		put_le32(eb + EB_GUARDIAN, (uint32_t)guard_pid);
		t[3] = util_now_ns();
		lu_put_times(eb + EB_TIMES, t, 4);
		execve(binary, (char *const *)argv, environ);
		ret = -errno;
		snprintf(err, errlen, "execve %s: %s", binary, strerror(-ret));
	} else {
		snprintf(err, errlen, "saving the state record: %s", strerror(-ret));
	}
	/* still the old image: nothing changed for the guest */
	close_range_n(base, lu->ho.n);
	close(old_exe);
	end_guardian(guard_w, guard_pid);
	if (!was_paused)
		vm_resume(r->vm);
	return ret;
}

/* ---- new image ------------------------------------------------------------- */

/* What a crash or the watchdog needs to roll back, prepared up front:
 * signal handlers may only call async-signal-safe functions. */
static struct {
	int old_exe;
	char *argv[16];
	char reason[160];
	char sfd[16], sbase[16];
	atomic_bool armed;	/* cleared at the commit point */
} rb = { .old_exe = -1 };

static const int rb_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM };

static void watchdog_off(void)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };

	setitimer(ITIMER_REAL, &off, NULL);
}

static void rollback_exec(const char *reason)
{
	sigset_t alrm;
	size_t n = 0;

	/*
	 * The watchdog must not kill the rollback image: an interval timer
	 * and a pending SIGALRM both survive execve. Stop the timer, and keep
	 * SIGALRM blocked across the exec (the mask survives too); the
	 * rollback image discards what is pending. All async-signal-safe.
	 */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, NULL);
	watchdog_off();
	while (reason[n] && n < sizeof(rb.reason) - 1) {
		rb.reason[n] = reason[n];
		n++;
	}
	rb.reason[n] = '\0';
	/* async-signal-safe: no allocation, no stdio */
	syscall(SYS_execveat, rb.old_exe, "", rb.argv, environ, AT_EMPTY_PATH);
	_exit(LUVMM_EXIT_ERROR);	/* the guest is lost */
}

static void on_crash(int sig)
{
	static const char *const names[] = { [SIGSEGV] = "SIGSEGV", [SIGBUS] = "SIGBUS",
		[SIGILL] = "SIGILL", [SIGFPE] = "SIGFPE", [SIGABRT] = "SIGABRT",
		[SIGALRM] = "the watchdog (SIGALRM)" };
	bool armed = true;

	/* once, and never after the commit (the guest ran on) */
	if (!atomic_compare_exchange_strong(&rb.armed, &armed, false)) {
		if (sig == SIGALRM)
			return;
		_exit(LUVMM_EXIT_ERROR);
	}
	rollback_exec(sig == SIGALRM ? "the new image did not run the guest in time" :
		      sig < (int)ARRAY_SIZE(names) && names[sig] ? names[sig] :
		      "a crash signal");
}

/* A watchdog of an earlier image (a rollback's) must not reach us. */
static void watchdog_reset(void)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigset_t alrm;

	watchdog_off();
	sigaction(SIGALRM, &sa, NULL);	/* discards a pending SIGALRM */
	sa.sa_handler = SIG_DFL;
	sigaction(SIGALRM, &sa, NULL);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
}

static void arm_rollback(int old_exe, const char *state_fd, int base, int verbose,
			 unsigned timeout_ms)
{
	struct itimerval it = {
		.it_value = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 },
	};
	struct sigaction sa;
	unsigned n = 0, i;
	sigset_t set;

	rb.old_exe = old_exe;
	snprintf(rb.sfd, sizeof(rb.sfd), "%s", state_fd);
	snprintf(rb.sbase, sizeof(rb.sbase), "%d", base);
	rb.argv[n++] = (char *)"luvmm";
	rb.argv[n++] = (char *)"run";
	rb.argv[n++] = (char *)"--incoming-exec";
	rb.argv[n++] = rb.sfd;
	rb.argv[n++] = (char *)"--handoff-base";
	rb.argv[n++] = rb.sbase;
	rb.argv[n++] = (char *)"--rollback";
	rb.argv[n++] = rb.reason;
	if (verbose)
		rb.argv[n++] = (char *)"-v";
	rb.argv[n] = NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_crash;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	for (i = 0; i < ARRAY_SIZE(rb_sigs); i++)
		sigaction(rb_sigs[i], &sa, NULL);
	/* the main thread blocks some signals; these must arrive */
	sigemptyset(&set);
	for (i = 0; i < ARRAY_SIZE(rb_sigs); i++)
		sigaddset(&set, rb_sigs[i]);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	atomic_store(&rb.armed, true);
	setitimer(ITIMER_REAL, &it, NULL);
}

/* The commit point: from here on nothing rolls back. */
static void disarm_rollback(void)
{
	unsigned i;

	watchdog_off();
	atomic_store(&rb.armed, false);
	for (i = 0; i < ARRAY_SIZE(rb_sigs); i++)
		signal(rb_sigs[i], SIG_DFL);
	util_close(&rb.old_exe);
}

/* Register the slots holding where the vCPUs will touch first, including
 * every page-table page above the leaf level. */
static unsigned hot_slots(struct vm *vm, const struct lu_loaded *l, int *slots)
{
	uint64_t gpa[8];
	unsigned n = 0, c, i;

	slots[n++] = 0;
	for (c = 0; c < l->ncpus; c++) {
		unsigned k = vcpu_state_hot_gpas(l->vcpus[c], gpa, ARRAY_SIZE(gpa));

		for (i = 0; i < k && n < MAX_HOT_SLOTS; i++) {
			int s = mem_slot_find(&vm->mem, gpa[i]);
			unsigned j;

			for (j = 0; s >= 0 && j < n && slots[j] != s; j++)
				;
			if (s >= 0 && j == n)
				slots[n++] = s;
		}
	}
	return n;
}

struct late_slots {
	struct runner *r;
	pthread_t thread;
	bool started;
	uint64_t us;
};

static void *late_slots_thread(void *arg)
{
	struct late_slots *ls = arg;
	struct vm *vm = ls->r->vm;
	uint64_t t0 = util_now_ns();
	unsigned i;
	int ret;

	pthread_setname_np(pthread_self(), "memslots");
	for (i = 0; i < vm->mem.nslots; i++) {
		ret = vm_register_slot(vm, i);
		if (ret)
			log_err("memslot %u: cannot register: %s", i, strerror(-ret));
	}
	ls->us = (util_now_ns() - t0) / 1000;
	return NULL;
}

enum exec_outcome { EXEC_RUNNING, EXEC_ROLLED_BACK, EXEC_FAILED };

static void reply_client(struct runner *r, int fd, enum exec_outcome out, const char *reason)
{
	struct lu *lu = r->lu;
	char buf[2048];
	struct json_writer w;
	int n;

	if (fd < 0)
		return;
	jw_init(&w, buf, sizeof(buf) - 1);
	jw_obj_begin(&w);
	jw_kbool(&w, "ok", out == EXEC_RUNNING);
	if (out != EXEC_RUNNING) {
		char e[320];

		snprintf(e, sizeof(e), "update failed%s: %s",
			 out == EXEC_ROLLED_BACK ? ", rolled back" : "", reason);
		jw_kstr(&w, "error", e);
	}
	lu_result_json(&lu->last, &w);
	jw_obj_end(&w);
	n = jw_finish(&w);
	if (n > 0) {
		buf[n++] = '\n';
		if (util_write_all(fd, buf, (size_t)n))
			log_dbg("update: the client went away");
	}
	close(fd);
}

/* Read the exec block and the prepare record; bind fds [base, base+n). */
static int exec_prepare(const struct config *args, const uint8_t *state,
			struct lu_config_store *cs, struct handoff *h,
			struct lu_update_info *u, uint64_t *t, size_t *slen,
			unsigned *timeout_ms, pid_t *guardian)
{
	const uint8_t *eb = state + LU_EXEC_BLOCK;
	int fds[HANDOFF_MAX_FDS];
	uint64_t plen = get_le64(eb + EB_PREP_LEN);
	unsigned nfds = get_le32(eb + EB_NFDS), i;
	char msg[256];
	int ret;

	*slen = get_le64(eb + EB_STATE_LEN);
	if (get_le32(eb + EB_MAGIC) != EXEC_MAGIC || get_le32(eb + EB_VERSION) != EXEC_VERSION ||
	    plen > LU_EXEC_BLOCK || *slen > LU_STATE_CAP ||
	    nfds > HANDOFF_MAX_FDS || get_le32(eb + EB_BASE) != args->handoff_base) {
		log_err("update: the exec block is malformed");
		return -EBADMSG;
	}
	lu_get_times(eb + EB_TIMES, t, 4);
	*timeout_ms = get_le32(eb + EB_TIMEOUT);
	*guardian = (pid_t)get_le32(eb + EB_GUARDIAN);
	if (*timeout_ms < 1 || *timeout_ms > 60000)
		*timeout_ms = LU_BLACKOUT_TIMEOUT_MS;
	for (i = 0; i < nfds; i++)
		fds[i] = (int)args->handoff_base + (int)i;
	ret = lu_prepare_read(state, plen, cs, h, fds, nfds, u, msg, sizeof(msg));
	if (ret)
		log_err("update: prepare record rejected: %s", msg);
	return ret;
}

struct guardian_end {
	int fd;			/* the pipe's write end */
	pid_t pid;
	_Atomic uint64_t *teardown_us;	/* published when it is over */
	pthread_t thread;
};

/* Release the guardian (the old image's memory and VM go with it) off the
 * main thread, and time it. */
static void *guardian_thread(void *arg)
{
	struct guardian_end *g = arg;
	uint64_t us;

	pthread_setname_np(pthread_self(), "old-image");
	us = end_guardian(g->fd, g->pid);
	atomic_store(g->teardown_us, us ? us : 1);
	return NULL;
}

/*
 * Start ending the old image. Not waited for: at idle priority next to
 * busy vCPUs it can take long, and the reply must not wait for it. Its
 * time reaches update.last (metrics) when it is over, as in transfer mode.
 */
static void old_image_end(struct lu *lu, int guard_fd, pid_t guard_pid)
{
	static struct guardian_end g;

	g = (struct guardian_end){ .fd = guard_fd, .pid = guard_pid,
				   .teardown_us = &lu->exec_teardown_us };
	atomic_store(&lu->exec_teardown_us, 0);
	if (pthread_create(&g.thread, NULL, guardian_thread, &g))
		guardian_thread(&g);
	else
		pthread_detach(g.thread);
}

/* After the commit: no handed fd may leak into a later exec or a child. */
static void cloexec_range(unsigned base, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		fcntl((int)(base + i), F_SETFD, FD_CLOEXEC);
}

/* Build the VM, decode and restore everything; the guest does not run yet.
 * msg says why on failure. */
static int exec_restore(struct runner *r, struct handoff *h, int ram_fd, size_t slen,
			bool rolling_back, struct lu_loaded **lp, char *msg, size_t msglen)
{
	struct lu *lu = r->lu;
	int slots[MAX_HOT_SLOTS], ret;
	struct lu_loaded *l = NULL;
	unsigned n, i;

	ret = ram_fd < 0 ? -EBADF : 0;
	if (!ret)
		ret = runner_build(r, h, ram_fd, true, msg, msglen);
	if (!ret) {
		l = lu_loaded_create(r->cfg.ncpus);
		ret = l ? lu_state_read(r, lu->state + LU_STATE_OFFSET, slen, l, msg,
					msglen) : -ENOMEM;
		/* rolling back: the old image wrote a second copy for this */
		if (ret && rolling_back) {
			log_warn("update: state record rejected (%s); using the copy", msg);
			ret = lu_state_read(r, lu->state + LU_BACKUP_OFFSET, slen, l, msg,
					    msglen);
		}
	}
	if (!ret)
		ret = vcpu_state_adopt_msrs(r->vm, l->vcpus[0]);
	if (!ret) {
		n = hot_slots(r->vm, l, slots);
		for (i = 0; !ret && i < n; i++)
			ret = vm_register_slot(r->vm, (unsigned)slots[i]);
	}
	if (!ret)
		ret = lu_state_apply(r, l);
	*lp = l;
	return ret;
}

int lu_exec_incoming(struct runner *r, const struct config *args)
{
	static struct lu_config_store cs;
	struct late_slots ls = { .r = r };
	struct lu_update_info u;
	struct lu_loaded *l = NULL;
	struct handoff *h = calloc(1, sizeof(*h));
	int ram_fd, api_fd, reply_fd, ret, old_exe, guard_fd;
	const char *reason = args->rollback;
	uint64_t t[4], t_start = util_now_ns(), t_loaded, t_run;
	char msg[256] = "", sfd[16];
	struct lu *lu = lu_get(r);
	unsigned i, timeout_ms;
	size_t slen;
	pid_t guard_pid;

	watchdog_reset();
	if (!lu || !h)
		return LUVMM_EXIT_ERROR;
	lu->state_fd = args->incoming_exec_fd;
	lu->state = mmap(NULL, LU_STATE_SIZE, PROT_READ, MAP_SHARED, lu->state_fd, 0);
	if (lu->state == MAP_FAILED) {
		lu->state = NULL;
		log_err("update: cannot map the state memfd: %s", strerror(errno));
		return LUVMM_EXIT_ERROR;
	}
	if (exec_prepare(args, lu->state, &cs, h, &u, t, &slen, &timeout_ms, &guard_pid))
		return LUVMM_EXIT_ERROR;	/* nothing to roll back with */
	r->cfg = cs.cfg;
	r->cfg.fault = args->fault;
	if (args->verbose)
		log_set_level(args->verbose > 1 ? LOG_DEBUG : LOG_INFO);
	/* until the commit, a failed restore must leave the fds to a rollback */
	h->keep = !reason;
	old_exe = handoff_take(h, "old-exe");
	snprintf(sfd, sizeof(sfd), "%d", args->incoming_exec_fd);
	if (!reason && old_exe >= 0)
		arm_rollback(old_exe, sfd, (int)args->handoff_base, args->verbose,
			     timeout_ms);
	else if (old_exe >= 0)
		close(old_exe);		/* a rollback image has no way back */
	if (!strcmp(args->fault ? args->fault : "", "crash-load"))
		abort();
	if (!reason && !strcmp(args->fault ? args->fault : "", "error-load") &&
	    atomic_load(&rb.armed))
		rollback_exec("injected load error");
	if (!strcmp(args->fault ? args->fault : "", "hang-load"))
		for (;;)
			pause();

	ram_fd = handoff_take(h, "ram");
	api_fd = r->cfg.api_path ? handoff_take(h, "api") : -1;
	reply_fd = handoff_take(h, "ctl-reply");
	guard_fd = handoff_take(h, "guardian");
	lu->state_fd = handoff_take(h, "state");
	ret = exec_restore(r, h, ram_fd, slen, reason != NULL, &l, msg, sizeof(msg));
	if (ret) {
		char why[300];

		snprintf(why, sizeof(why), "%s could not restore: %s",
			 reason ? "the rollback image" : "the new image",
			 msg[0] ? msg : strerror(-ret));
		log_err("update: %s", why);
		if (atomic_load(&rb.armed))
			rollback_exec(why);
		/* no way back: say so to the client, if it is still there */
		snprintf(lu->last.error, sizeof(lu->last.error), "%.230s; the guest is lost", why);
		lu->last.valid = true;
		lu->last.mode = LU_EXEC;
		reply_client(r, reply_fd, EXEC_FAILED, lu->last.error);
		return LUVMM_EXIT_ERROR;
	}
	t_loaded = util_now_ns();
	/* the commit point: once a vCPU runs, the record is history */
	disarm_rollback();
	if (!l->vm.paused)
		ret = vm_start(r->vm);
	else
		r->vm->state = VM_PAUSED;
	t_run = util_now_ns();
	if (!strcmp(args->fault ? args->fault : "", "slow-commit"))
		poll(NULL, 0, 500);
	lu_loaded_free(l);
	lu_state_release(lu);	/* the next update makes a fresh one */
	/* the guest is ours: no handed fd may survive a later exec */
	cloexec_range(args->handoff_base, h->n);
	if (reason)
		r->updates--;	/* the update did not happen */

	lu->last = (struct lu_result){
		.valid = true, .ok = !reason, .rolled_back = reason != NULL,
		.mode = LU_EXEC, .new_pid = getpid(),
		.ph = {
			.stop = (t[1] - t[0]) / 1000, .save = (t[2] - t[1]) / 1000,
			.handover = (t_start - t[3]) / 1000,	/* execve to main() */
			.load = (t_loaded - t_start) / 1000,
			.run = (t_run - t_loaded) / 1000,
			.blackout = (t_run - t[0]) / 1000,
		},
	};
	if (reason)
		snprintf(lu->last.error, sizeof(lu->last.error), "%s", reason);
	log_info("update: exec %s; blackout %" PRIu64 " us",
		 reason ? "rolled back" : "done", lu->last.ph.blackout);

	/* off the critical path */
	ret = pthread_create(&ls.thread, NULL, late_slots_thread, &ls);
	ls.started = !ret;
	if (ret)
		for (i = 0; i < r->vm->mem.nslots; i++)
			if (vm_register_slot(r->vm, i))
				break;
	devices_resumed(r->devs, true);	/* deferred work: IOMMU rebuild */
	handoff_close_all(h);	/* anything left over */
	free(h);
	lu->exec_teardown_valid = true;
	old_image_end(lu, guard_fd, guard_pid);
	if (ls.started) {
		pthread_join(ls.thread, NULL);
		lu->last.late_slots_us = ls.us;
	}
	lu->last.ph.teardown = atomic_load(&lu->exec_teardown_us);
	lu->last.slot_sleeps = atomic_load(&r->vm->slot_sleeps);
	lu->last.slot_sleep_us = atomic_load(&r->vm->slot_sleep_ns) / 1000;
	reply_client(r, reply_fd, reason ? EXEC_ROLLED_BACK : EXEC_RUNNING,
		     reason ? reason : "");

	ret = runner_services(r, api_fd, true);
	if (ret)
		return LUVMM_EXIT_ERROR;
	runner_loop(r);
	runner_teardown(r);
	return r->exit_status;
}
