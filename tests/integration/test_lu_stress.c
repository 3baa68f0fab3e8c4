// SPDX-License-Identifier: MIT
/*
 * test_lu_stress.c: 200 consecutive live updates alternating transfer and
 * exec mode while guest-fw runs the heartbeat on vCPU 0 and memcheck on
 * vCPU 1. Afterwards the guest must not be able to tell: heartbeat
 * sequence continuous, no memcheck mismatch, every serial line exactly
 * once, timer interrupts still arriving. (Its own binary: each binary has
 * 30 s.)
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
	lu_check_guest_intact(&vm, ticks);
	h_vmm_cleanup(&vm);
}

static const struct tap_case cases[] = {
	TAP_CASE(updates_200_alternating),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
