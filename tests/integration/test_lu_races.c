// SPDX-License-Identifier: MIT
/*
 * test_lu_races.c: the live update at its edges: a timeout that expires
 * while the new VMM takes the guest over (the commit word decides who runs
 * it), a new VMM that dies right after it took over, an operator-started
 * new VMM that must stop when the update is rolled back or when it is sent
 * SIGTERM, a save-hook failure followed by a good update, exec mode's
 * watchdog, fd checks and fd hygiene, and a transfer of 64 vCPUs.
 *
 * Faults are injected with the update request's test-only "fault" member
 * (docs/update-protocol.md §4); "slow-*" faults widen a race window by a
 * fixed delay inside the VMM, the test itself never sleeps to synchronise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lu_checks.h"

static const char *const work_args[] = {
	"--cpus", "2", "--workload", "heartbeat,memcheck", "--memcheck", "4M@16M",
	NULL,
};

static const char *const hb_args[] = { "--workload", "heartbeat", NULL };

/* Send a request without waiting for the reply; the connection's fd. */
static int ctl_send(struct vmm *v, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t n = strlen(req);

	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, v->api, strlen(v->api) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, n) != (ssize_t)n || write(fd, "\n", 1) != 1) {
		close(fd);
		return -EIO;
	}
	return fd;
}

/* The reply line of ctl_send()'s request; closes fd. */
static int ctl_reply(int fd, char *reply, size_t cap, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	size_t got = 0;

	reply[0] = '\0';
	while (got + 1 < cap && !strchr(reply, '\n')) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = h_now_ms();
		ssize_t n;

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) < 1)
			break;
		n = read(fd, reply + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		reply[got] = '\0';
	}
	close(fd);
	return strchr(reply, '\n') ? 0 : -ETIMEDOUT;
}

static int wait_path(const char *path, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;

	while (h_now_ms() < deadline) {
		if (!access(path, F_OK))
			return 0;
		poll(NULL, 0, 5);
	}
	return -ETIMEDOUT;
}

/* The guest ran on without a break on the VMM we now follow. */
static void check_guest(struct vmm *vm, unsigned ncpus, bool memcheck)
{
	uint64_t v;

	CHECK_ERR(0, h_metric(vm, "guest.cpus.0.hb_seq", &v));
	CHECK_ERR(0, h_wait_metric(vm, "guest.cpus.0.hb_seq", v + 5, 5000));
	CHECK_ERR(0, h_metric(vm, "guest.cpus.0.hb_seq_breaks", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.cpus.0.panics", &v));
	CHECK_EQ(v, 0);
	if (memcheck) {
		CHECK_ERR(0, h_metric(vm, "guest.cpus.1.memcheck_passes", &v));
		CHECK_ERR(0, h_wait_metric(vm, "guest.cpus.1.memcheck_passes", v + 1, 10000));
		CHECK_ERR(0, h_metric(vm, "guest.cpus.1.memcheck_mismatches", &v));
		CHECK_EQ(v, 0);
	}
	CHECK(lu_check_serial(vm->serial) > 0);
	CHECK(lu_check_heartbeats(vm->reports, ncpus) > 0);
}

static void reply_str(const char *reply, const char *key, char *out, size_t cap)
{
	if (h_json_str(reply, key, out, cap))
		out[0] = '\0';
}

/*
 * (1) The old VMM's timeout expires while the new VMM is taking over: the
 * new VMM committed (it released its vCPUs), so the old VMM must not roll
 * back; it waits for RUNNING and the update succeeds.
 */
static void commit_race(const char *mode)
{
	char reply[4096], str[64];
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, work_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.1.memcheck_passes", 1, 15000));
	CHECK(lu_update(&vm, mode, "slow-commit", 50, true, reply, sizeof(reply)));
	reply_str(reply, "result", str, sizeof(str));
	CHECK_STR(str, "running");
	REQUIRE_OK(h_vmm_follow(&vm));
	check_guest(&vm, 2, true);
	h_vmm_cleanup(&vm);
}

static void transfer_timeout_after_commit(void)
{
	commit_race("transfer");
}

static void exec_timeout_after_commit(void)
{
	commit_race("exec");
}

/*
 * (1) The new VMM dies right after it took the guest over: the guest is
 * lost; the old VMM must say so ("failed") and must not run its stale copy.
 */
static void transfer_new_vmm_dies_after_commit(void)
{
	char reply[4096], str[256];
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, hb_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	CHECK(lu_update(&vm, "transfer", "kill-commit", 0, false, reply, sizeof(reply)));
	reply_str(reply, "result", str, sizeof(str));
	CHECK_STR(str, "failed");
	reply_str(reply, "error", str, sizeof(str));
	CHECK(strstr(str, "rolled back") == NULL);
	CHECK(strstr(str, "lost") != NULL);
	/* the old VMM gives up the guest: it exits instead of resuming it */
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 1);
	h_vmm_cleanup(&vm);
}

/* Start `luvmm run --incoming PATH -v [--fault F]` next to vm. */
static int start_incoming(struct vmm *in, const char *path, const char *fault)
{
	const char *args[8] = { "run", "--incoming", path, "-v" };
	unsigned n = 4;

	if (fault) {
		args[n++] = "--fault";
		args[n++] = fault;
	}
	args[n] = NULL;
	if (h_vmm_spawn_raw(in, args))
		return -ECHILD;
	if (wait_path(path, 10000)) {
		tap_diag("the incoming VMM did not listen on %s", path);
		h_diag_file(in->err_log, 20);
		return -ETIMEDOUT;
	}
	return 0;
}

static int update_incoming(struct vmm *vm, const char *path, const char *extra,
			   char *reply, size_t cap)
{
	char req[512];

	snprintf(req, sizeof(req), "{\"cmd\":\"update\",\"incoming\":\"%s\"%s}", path,
		 extra ? extra : "");
	return h_ctl(vm, req, reply, cap);
}

/*
 * (2) An operator-started new VMM that hangs while loading: the old VMM
 * rolls back, and the new VMM must not survive it (the old VMM learnt its
 * pid from the socket and kills it).
 */
static void incoming_rollback_stops_new_vmm(void)
{
	char reply[4096], path[128], str[256];
	struct vmm vm, in;

	REQUIRE_OK(h_vmm_start(&vm, hb_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	snprintf(path, sizeof(path), "%s/in.sock", vm.dir);
	REQUIRE_OK(start_incoming(&in, path, "hang-load"));
	REQUIRE_OK(update_incoming(&vm, path, ",\"timeout_ms\":300", reply, sizeof(reply)));
	CHECK(!strncmp(reply, "{\"ok\":false", 11));
	reply_str(reply, "result", str, sizeof(str));
	CHECK_STR(str, "rolled-back");
	/* the old VMM killed it before resuming the guest */
	CHECK_ERR(0, h_vmm_wait(&in, 0));
	CHECK_ERR(0, h_vmm_follow(&vm));
	check_guest(&vm, 1, false);
	h_vmm_cleanup(&in);
	h_vmm_cleanup(&vm);
}

/* (1)+(2) The same race as commit_race() with an operator-started new VMM:
 * exactly one process runs the guest afterwards, the new one. */
static void incoming_timeout_after_commit(void)
{
	char reply[4096], path[128];
	struct vmm vm, in;
	pid_t old;

	REQUIRE_OK(h_vmm_start(&vm, work_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.1.memcheck_passes", 1, 15000));
	snprintf(path, sizeof(path), "%s/in.sock", vm.dir);
	REQUIRE_OK(start_incoming(&in, path, "slow-commit"));
	old = vm.pid;
	REQUIRE_OK(update_incoming(&vm, path, ",\"timeout_ms\":50", reply, sizeof(reply)));
	if (strncmp(reply, "{\"ok\":true", 10))
		tap_fail(__FILE__, __LINE__, "update: %s", reply);
	REQUIRE_OK(h_vmm_follow(&vm));
	CHECK(vm.pid == in.pid);
	CHECK(vm.pid != old);
	CHECK_ERR(-ETIMEDOUT, h_vmm_wait(&in, 0));	/* the new one runs on */
	check_guest(&vm, 2, true);
	h_vmm_cleanup(&vm);
	in.exited = true;	/* the same process as vm now */
	h_vmm_cleanup(&in);
}

/* (7) SIGTERM to an incoming VMM that still waits: it exits now, and an
 * update aimed at it fails at once without touching the guest. */
static void incoming_sigterm_while_waiting(void)
{
	char reply[4096], path[128];
	struct vmm vm, in;

	REQUIRE_OK(h_vmm_start(&vm, hb_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	snprintf(path, sizeof(path), "%s/in.sock", vm.dir);
	REQUIRE_OK(start_incoming(&in, path, NULL));
	CHECK_ERR(0, kill(in.pid, SIGTERM) ? -errno : 0);
	CHECK_ERR(0, h_vmm_wait(&in, 5000));
	CHECK_EQ(in.status, 0);
	CHECK(access(path, F_OK) != 0);
	REQUIRE_OK(update_incoming(&vm, path, NULL, reply, sizeof(reply)));
	CHECK(!strncmp(reply, "{\"ok\":false", 11));
	CHECK_ERR(0, h_vmm_follow(&vm));
	check_guest(&vm, 1, false);
	h_vmm_cleanup(&in);
	h_vmm_cleanup(&vm);
}

/*
 * (7)+(8) SIGTERM to an incoming VMM in the blackout, while its vCPU
 * threads wait for GO (the old VMM is slowed down): it gives up without
 * crashing, and the old VMM rolls back.
 */
static void incoming_sigterm_in_blackout(void)
{
	char reply[4096], path[128], str[256];
	struct vmm vm, in;
	int fd;

	REQUIRE_OK(h_vmm_start(&vm, hb_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	snprintf(path, sizeof(path), "%s/in.sock", vm.dir);
	REQUIRE_OK(start_incoming(&in, path, NULL));
	snprintf(str, sizeof(str),
		 "{\"cmd\":\"update\",\"incoming\":\"%s\",\"fault\":\"slow-save\"}", path);
	fd = ctl_send(&vm, str);
	REQUIRE(fd >= 0);
	if (h_wait_file(in.err_log, "waiting for GO", 10000)) {
		h_diag_file(in.err_log, 20);
		tap_fail(__FILE__, __LINE__, "the new VMM never became READY");
	}
	CHECK_ERR(0, kill(in.pid, SIGTERM) ? -errno : 0);
	CHECK_ERR(0, ctl_reply(fd, reply, sizeof(reply), 15000));
	CHECK(!strncmp(reply, "{\"ok\":false", 11));
	reply_str(reply, "result", str, sizeof(str));
	CHECK_STR(str, "rolled-back");
	CHECK_ERR(0, h_vmm_wait(&in, 5000));
	if (in.status >= 128)
		h_diag_file(in.err_log, 30);
	CHECK(in.status < 128);
	CHECK_ERR(0, h_vmm_follow(&vm));
	check_guest(&vm, 1, false);
	h_vmm_cleanup(&in);
	h_vmm_cleanup(&vm);
}

/* (10) A save-hook failure, then a good update in the same process. */
static void transfer_after_save_failure(void)
{
	char reply[4096], err[256];
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, hb_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	CHECK(lu_update(&vm, "transfer", "error-save", 0, false, reply, sizeof(reply)));
	reply_str(reply, "error", err, sizeof(err));
	if (!strstr(err, "rolled back") || !strstr(err, "injected save error"))
		tap_fail(__FILE__, __LINE__, "error: %s", err);
	CHECK_ERR(0, h_vmm_follow(&vm));
	CHECK(lu_update(&vm, "transfer", NULL, 0, true, reply, sizeof(reply)));
	CHECK_ERR(0, h_vmm_follow(&vm));
	check_guest(&vm, 1, false);
	h_vmm_cleanup(&vm);
}

/* (3) The exec watchdog fires before the rollback image has run: the
 * rollback must still complete. */
static void exec_rollback_outlives_watchdog(void)
{
	static const char *const faults[] = { "crash-load", "hang-load", "error-load" };
	char reply[4096], err[256];
	struct vmm vm;
	pid_t pid;
	unsigned i;

	REQUIRE_OK(h_vmm_start(&vm, hb_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	pid = vm.pid;
	for (i = 0; i < ARRAY_SIZE(faults); i++) {
		if (!lu_update(&vm, "exec", faults[i], 1, false, reply, sizeof(reply)))
			tap_diag("variant: %s", faults[i]);
		reply_str(reply, "error", err, sizeof(err));
		CHECK(strstr(err, "rolled back") != NULL);
		REQUIRE(h_vmm_wait(&vm, 0) == -ETIMEDOUT);
		CHECK_ERR(0, h_vmm_follow(&vm));
		CHECK(vm.pid == pid);
	}
	check_guest(&vm, 1, false);
	h_vmm_cleanup(&vm);
}

/* (4) A handed fd of the wrong kind (serial on a socket) is caught before
 * the point of no return: exec mode answers at once and the guest runs on. */
static void exec_checks_fd_kinds_first(void)
{
	const char *args[] = { "--serial", "stdio", "--workload", "heartbeat", NULL };
	char reply[4096], err[256];
	struct vmm vm;
	int sv[2];
	uint64_t v;

	REQUIRE(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	/* the serial bytes pile up in the socket; the test does not read them */
	REQUIRE_OK(h_vmm_start_stdout(&vm, args, sv[1]));
	close(sv[1]);
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	CHECK(lu_update(&vm, "exec", NULL, 0, false, reply, sizeof(reply)));
	reply_str(reply, "error", err, sizeof(err));
	CHECK(strstr(err, "serial-out") != NULL);
	CHECK(lu_update(&vm, "transfer", NULL, 0, false, reply, sizeof(reply)));
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq", &v));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.hb_seq", v + 5, 5000));
	CHECK_ERR(-ETIMEDOUT, h_vmm_wait(&vm, 0));
	h_vmm_cleanup(&vm);
	close(sv[0]);
}

/* fds of pid: how many, and whether one is the luvmm binary or fd 0 */
static int count_fds(pid_t pid, bool *has_exe, bool *has_0)
{
	char dir[64], link[320], target[4096], exe[4096];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	h_build_path("luvmm", exe, sizeof(exe));
	if (!realpath(exe, target))
		return -errno;
	snprintf(exe, sizeof(exe), "%s", target);
	*has_exe = *has_0 = false;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		n++;
		if (!strcmp(e->d_name, "0"))
			*has_0 = true;
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = '\0';
			if (!strncmp(target, exe, strlen(exe)))
				*has_exe = true;
		}
	}
	closedir(d);
	return n;
}

/* The fd count once connections of earlier requests are closed: the
 * smallest seen within 300 ms. */
static int settled_fds(pid_t pid, bool *has_exe, bool *has_0)
{
	uint64_t deadline = h_now_ms() + 300;
	int n, min = -1;

	while (h_now_ms() < deadline) {
		n = count_fds(pid, has_exe, has_0);
		if (n >= 0 && (min < 0 || n < min))
			min = n;
		poll(NULL, 0, 10);
	}
	return min;
}

/* (9) Exec updates and an exec rollback leave no stray fds behind. */
static void exec_fd_hygiene(void)
{
	char reply[4096];
	bool exe, zero;
	struct vmm vm;
	int first, n, i;

	REQUIRE_OK(h_vmm_start(&vm, hb_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	REQUIRE(lu_update(&vm, "exec", NULL, 0, true, reply, sizeof(reply)));
	REQUIRE_OK(h_vmm_follow(&vm));
	/* the old image's teardown closes the guardian pipe */
	CHECK_ERR(0, h_wait_metric(&vm, "update.last.phases_us.teardown", 1, 5000));
	first = settled_fds(vm.pid, &exe, &zero);
	for (i = 0; i < 3; i++) {
		REQUIRE(lu_update(&vm, "exec", NULL, 0, true, reply, sizeof(reply)));
		REQUIRE_OK(h_vmm_follow(&vm));
	}
	CHECK_ERR(0, h_wait_metric(&vm, "update.last.phases_us.teardown", 1, 5000));
	n = settled_fds(vm.pid, &exe, &zero);
	tap_diag("fds after 1 exec update: %d, after 4: %d", first, n);
	CHECK_EQ(n, first);
	CHECK(!exe);
	CHECK(zero);
	/* a rollback image keeps fd 0 and closes the old binary */
	CHECK(lu_update(&vm, "exec", "error-load", 0, false, reply, sizeof(reply)));
	REQUIRE_OK(h_vmm_follow(&vm));
	n = settled_fds(vm.pid, &exe, &zero);
	tap_diag("fds after an exec rollback: %d", n);
	CHECK(zero);
	CHECK(!exe);
	CHECK_EQ(n, first);
	check_guest(&vm, 1, false);
	h_vmm_cleanup(&vm);
}

/* (6) Transfer mode hands over one GO channel per vCPU: 64 vCPUs need
 * more than 64 fds in one message. */
static void transfer_64_vcpus(void)
{
	const char *args[] = { "--cpus", "64", "--memory", "64M", "--workload", "idle",
			       NULL };
	char reply[4096];
	struct vmm vm;
	uint64_t v;

	REQUIRE_OK(h_vmm_start(&vm, args));
	CHECK(lu_update(&vm, "transfer", NULL, 0, true, reply, sizeof(reply)));
	/* the reply is the proof; the old VM's teardown (slow with 64 busy
	 * vCPUs here) is not waited for */
	CHECK_ERR(0, h_json_u64(reply, "new_pid", &v));
	if (v > 0 && (pid_t)v != vm.pid) {
		kill((pid_t)v, SIGKILL);
		waitpid((pid_t)v, NULL, 0);
	} else {
		tap_fail(__FILE__, __LINE__, "no new VMM: %s", reply);
	}
	h_vmm_cleanup(&vm);
}

static const struct tap_case cases[] = {
	TAP_CASE(transfer_timeout_after_commit),
	TAP_CASE(exec_timeout_after_commit),
	TAP_CASE(transfer_new_vmm_dies_after_commit),
	TAP_CASE(incoming_rollback_stops_new_vmm),
	TAP_CASE(incoming_timeout_after_commit),
	TAP_CASE(incoming_sigterm_while_waiting),
	TAP_CASE(incoming_sigterm_in_blackout),
	TAP_CASE(transfer_after_save_failure),
	TAP_CASE(exec_rollback_outlives_watchdog),
	TAP_CASE(exec_checks_fd_kinds_first),
	TAP_CASE(exec_fd_hygiene),
	TAP_CASE(transfer_64_vcpus),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
