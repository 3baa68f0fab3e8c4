// SPDX-License-Identifier: MIT
/*
 * test_liveupdate.c: live updates while guest-fw works on 2 vCPUs
 * (heartbeat on vCPU 0, memcheck on vCPU 1): one transfer-mode and one
 * exec-mode update (test_lu_stress.c: 200 alternating). After them the
 * guest must not be able to tell: heartbeat sequence numbers continuous (the VMM's own count and
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
	/* the client's answer and the running VMM tell the same blackout */
	CHECK_ERR(0, h_metric(&vm, "update.last.phases_us.blackout", &updates));
	CHECK_EQ(updates, blackout);
	CHECK_ERR(0, h_metric(&vm, "guest.restores", &updates));
	CHECK_EQ(updates, 1);
	lu_check_guest_intact(&vm, ticks);
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

static const struct tap_case cases[] = {
	TAP_CASE(update_transfer),
	TAP_CASE(update_exec),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
