// SPDX-License-Identifier: MIT
/*
 * test_rollback.c: a live update that fails must leave the guest running
 * on the old VMM, untouched, and a later update must still work. The new
 * VMM is made to fail at every point it can fail (test-only "fault"
 * parameter): exit before HELLO, killed or crashing or hanging while it
 * pre-builds, killed or crashing or hanging or refusing while it loads,
 * a corrupted state record, a binary that is not luvmm.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lu_checks.h"

struct variant {
	const char *fault;	/* NULL: none */
	const char *binary;	/* NULL: the same luvmm */
	const char *extra;	/* extra request members */
	const char *reason;	/* must appear in the error */
};

static const struct variant transfer_variants[] = {
	/* it may die before or after the HELLO is sent */
	{ "exit-hello", NULL, NULL, "" },
	{ "kill-prebuild", NULL, NULL, "went away before READY" },
	{ "crash-prebuild", NULL, NULL, "went away before READY" },
	{ "hang-prebuild", NULL, ",\"prepare_timeout_ms\":400", "not ready within 400 ms" },
	{ "kill-load", NULL, NULL, "went away while loading" },
	{ "crash-load", NULL, NULL, "went away while loading" },
	{ "hang-load", NULL, ",\"timeout_ms\":300", "no RUNNING from the new VMM within 300 ms" },
	{ "error-load", NULL, NULL, "injected load error" },
	{ "corrupt-record", NULL, NULL, "state record rejected" },
	{ NULL, "/bin/false", NULL, "went away before READY" },
};

static const struct variant exec_variants[] = {
	{ "crash-load", NULL, NULL, "SIGABRT" },
	{ "hang-load", NULL, ",\"timeout_ms\":400", "did not run the guest in time" },
	{ "error-load", NULL, NULL, "injected load error" },
	{ "corrupt-record", NULL, NULL, "could not restore" },
	{ NULL, "/bin/false", NULL, "does not speak live-update protocol" },
};

/* The scheduling policy of a process's main thread (/proc/PID/stat field
 * 41), or -1. */
static int main_policy(pid_t pid)
{
	char path[64], buf[1024], *p;
	int field, policy = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* field 3 follows ") "; count fields up to 41 */
	for (field = 2; p && field < 41; field++)
		p = strchr(p + 1, ' ');
	if (p)
		policy = atoi(p + 1);
	return policy;
}

static bool try_variant(struct vmm *vm, const char *mode, const struct variant *v)
{
	char req[512], reply[4096], err[512] = "";
	uint64_t seq, pid_before = (uint64_t)vm->pid, breaks;
	int n, fails = tap_case_failures();

	if (h_metric(vm, "guest.cpus.0.hb_seq", &seq))
		return false;
	n = snprintf(req, sizeof(req), "{\"cmd\":\"update\",\"mode\":\"%s\"", mode);
	if (v->fault)
		n += snprintf(req + n, sizeof(req) - (size_t)n, ",\"fault\":\"%s\"", v->fault);
	if (v->binary)
		n += snprintf(req + n, sizeof(req) - (size_t)n, ",\"binary\":\"%s\"", v->binary);
	snprintf(req + n, sizeof(req) - (size_t)n, "%s}", v->extra ? v->extra : "");
	CHECK_ERR(0, h_ctl(vm, req, reply, sizeof(reply)));
	CHECK(!strncmp(reply, "{\"ok\":false", 11));
	h_json_str(reply, "error", err, sizeof(err));
	if (!strstr(err, "rolled back") || !strstr(err, v->reason))
		tap_fail(__FILE__, __LINE__, "%s %s: error \"%s\" lacks \"%s\"", mode,
			 v->fault ? v->fault : v->binary, err, v->reason);
	/* the same VMM still runs the guest, and the guest goes on */
	CHECK_ERR(0, h_vmm_follow(vm));
	CHECK_EQ((uint64_t)vm->pid, pid_before);
	/* transfer: the old VMM idled through the blackout; back to normal */
	CHECK_EQ(main_policy(vm->pid), SCHED_OTHER);
	CHECK_ERR(0, h_wait_metric(vm, "guest.cpus.0.hb_seq", seq + 5, 5000));
	CHECK_ERR(0, h_metric(vm, "guest.cpus.0.hb_seq_breaks", &breaks));
	CHECK_EQ(breaks, 0);
	return tap_case_failures() == fails;
}

static void run_variants(const char *mode, const struct variant *vs, unsigned n)
{
	const char *args[] = { "--cpus", "2", "--workload", "heartbeat,memcheck",
			       "--memcheck", "4M@16M", NULL };
	char reply[4096];
	uint64_t v;
	struct vmm vm;
	unsigned i;

	REQUIRE_OK(h_vmm_start(&vm, args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	for (i = 0; i < n; i++) {
		if (!try_variant(&vm, mode, &vs[i]))
			tap_diag("variant failed: %s %s", mode,
				 vs[i].fault ? vs[i].fault : vs[i].binary);
		if (h_vmm_wait(&vm, 0) == 0) {
			tap_fail(__FILE__, __LINE__, "the VMM died");
			break;
		}
	}
	/* after all that, a real update works */
	CHECK(lu_update(&vm, mode, NULL, 0, true, reply, sizeof(reply)));
	CHECK_ERR(0, h_vmm_follow(&vm));
	CHECK_ERR(0, h_metric(&vm, "update.updates", &v));
	CHECK_EQ(v, 1);
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.1.memcheck_mismatches", &v));
	CHECK_EQ(v, 0);
	CHECK(lu_check_serial(vm.serial) > 0);
	CHECK(lu_check_heartbeats(vm.reports, 2) > 0);
	h_vmm_cleanup(&vm);
}

static void rollback_transfer(void)
{
	run_variants("transfer", transfer_variants, ARRAY_SIZE(transfer_variants));
}

static void rollback_exec(void)
{
	run_variants("exec", exec_variants, ARRAY_SIZE(exec_variants));
}

static const struct tap_case cases[] = {
	TAP_CASE(rollback_transfer),
	TAP_CASE(rollback_exec),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
