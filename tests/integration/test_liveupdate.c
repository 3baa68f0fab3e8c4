// SPDX-License-Identifier: MIT
/*
 * test_liveupdate.c: live updates while guest-fw works on 2 vCPUs
 * (heartbeat on vCPU 0, memcheck on vCPU 1): transfer and exec mode, and
 * 200 updates alternating the two. After them the guest must not be able
 * to tell: heartbeat sequence numbers continuous (the VMM's own count and
 * the report log), no memcheck mismatch, every serial line exactly once,
 * timer interrupts still arriving.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lu_checks.h"

static const char *const work_args[] = {
	"--cpus", "2", "--workload", "heartbeat,memcheck", "--memcheck", "4M@16M",
	NULL,
};

/* Everything the guest could notice, checked after the updates. */
static void check_guest_intact(struct vmm *vm, uint64_t ticks_before)
{
	uint64_t v;
	long n;

	CHECK_ERR(0, h_metric(vm, "guest.cpus.0.hb_seq_breaks", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.cpus.1.hb_seq_breaks", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.cpus.1.memcheck_mismatches", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.cpus.0.panics", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.bad_reports", &v));
	CHECK_EQ(v, 0);
	/* timer interrupts keep coming after the last update */
	CHECK_ERR(0, h_wait_metric(vm, "guest.cpus.0.ticks", ticks_before + 20, 5000));
	/* the memcheck vCPU finishes passes after the last update */
	CHECK_ERR(0, h_metric(vm, "guest.cpus.1.memcheck_passes", &v));
	CHECK_ERR(0, h_wait_metric(vm, "guest.cpus.1.memcheck_passes", v + 2, 10000));
	/* let the serial line of the last second come out, then read */
	CHECK_ERR(0, h_vmm_wait(vm, 0) == 0 ? -ECHILD : 0);
	n = lu_check_serial(vm->serial);
	CHECK(n > 0);
	tap_diag("%ld serial lines in order", n);
	n = lu_check_heartbeats(vm->reports, 2);
	CHECK(n > 0);
	tap_diag("%ld heartbeats in order", n);
}

static void one_update(const char *mode)
{
	char reply[4096], str[32];
	uint64_t ticks, pid0, pid1, updates, blackout;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, work_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.1.memcheck_passes", 1, 15000));
	pid0 = (uint64_t)vm.pid;
	REQUIRE_OK(h_metric(&vm, "guest.cpus.0.ticks", &ticks));
	REQUIRE(lu_update(&vm, mode, NULL, 0, true, reply, sizeof(reply)));
	CHECK_ERR(0, h_json_str(reply, "result", str, sizeof(str)));
	CHECK_STR(str, "running");
	CHECK_ERR(0, h_json_u64(reply, "phases_us.blackout", &blackout));
	CHECK(blackout > 0);
	tap_diag("%s: blackout %llu us", mode, (unsigned long long)blackout);
	REQUIRE_OK(h_vmm_follow(&vm));
	pid1 = (uint64_t)vm.pid;
	if (!strcmp(mode, "exec"))
		CHECK_EQ(pid1, pid0);	/* same process */
	else
		CHECK(pid1 != pid0);	/* a new process took over */
	CHECK_ERR(0, h_metric(&vm, "update.updates", &updates));
	CHECK_EQ(updates, 1);
	CHECK_ERR(0, h_metric(&vm, "guest.restores", &updates));
	CHECK_EQ(updates, 1);
	check_guest_intact(&vm, ticks);
	/* the control socket path still works and shuts the new VMM down */
	CHECK(h_ctl_ok(&vm, "shutdown"));
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 0);
	h_vmm_cleanup(&vm);
}

static void update_transfer(void)
{
	one_update("transfer");
}

static void update_exec(void)
{
	one_update("exec");
}

#define STRESS_UPDATES 200

static void updates_200_alternating(void)
{
	char reply[4096];
	uint64_t ticks, n, blackout, worst = 0;
	struct vmm vm;
	int i;

	REQUIRE_OK(h_vmm_start(&vm, work_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.1.memcheck_passes", 1, 15000));
	REQUIRE_OK(h_metric(&vm, "guest.cpus.0.ticks", &ticks));
	for (i = 0; i < STRESS_UPDATES; i++) {
		const char *mode = i % 2 ? "exec" : "transfer";

		if (!lu_update(&vm, mode, NULL, 0, true, reply, sizeof(reply))) {
			tap_fail(__FILE__, __LINE__, "update %d (%s) failed", i, mode);
			break;
		}
		if (!h_json_u64(reply, "phases_us.blackout", &blackout))
			worst = blackout > worst ? blackout : worst;
		if (h_vmm_follow(&vm)) {
			tap_fail(__FILE__, __LINE__, "lost the VMM after update %d", i);
			break;
		}
	}
	tap_diag("%d updates, worst VMM blackout %llu us", i, (unsigned long long)worst);
	CHECK_EQ(i, STRESS_UPDATES);
	CHECK_ERR(0, h_metric(&vm, "update.updates", &n));
	CHECK_EQ(n, STRESS_UPDATES);
	check_guest_intact(&vm, ticks);
	h_vmm_cleanup(&vm);
}

static const struct tap_case cases[] = {
	TAP_CASE(update_transfer),
	TAP_CASE(update_exec),
	TAP_CASE(updates_200_alternating),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
