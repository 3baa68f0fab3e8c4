// SPDX-License-Identifier: MIT
/*
 * test_dma_updates.c: a DMA device keeps working through 200 live updates,
 * alternating transfer and exec mode. guest-fw runs the heartbeat on vCPU 0
 * and the DMA workload on vCPU 1 (copy and fill jobs through the soft
 * IOMMU, every payload verified, buffers unmapped and remapped all the
 * time); the device simulator outlives every VMM. After the updates: no
 * job faulted in the simulator, no payload mismatch or lost/duplicated
 * job in the guest, every rebuild validated and swapped, the device still
 * completes jobs, the heartbeat never broke.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lu_checks.h"

#define UPDATES	200

static const char *const dma_args[] = {
	"--cpus", "2", "--workload", "heartbeat,dma", "--device", "soft", NULL,
};

/* Update, retrying while the previous update's IOMMU rebuild runs. */
static bool update_retry(struct vmm *vm, const char *mode, char *reply, size_t cap)
{
	uint64_t end = h_now_ms() + 10000;

	for (;;) {
		if (lu_update(vm, mode, NULL, 0, true, reply, cap))
			return true;
		if (!strstr(reply, "rebuilt") || h_now_ms() > end)
			return false;
		usleep(2000);	/* the rebuild takes ~1 ms: poll, not sync */
	}
}

static void test_updates_200(void)
{
	char reply[4096], state[32] = "";
	uint64_t jobs0, jobs, v, faults;
	struct vmm vm;
	unsigned i, exec = 0, validated = 0, nold = 0, gone = 0;
	pid_t old[UPDATES];
	int status;
	bool ok;

	REQUIRE_OK(h_vmm_start(&vm, dma_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.dma.jobs", 500, 15000));
	REQUIRE_OK(h_metric(&vm, "guest.dma.jobs", &jobs0));
	for (i = 0; i < UPDATES; i++) {
		const char *mode = i % 2 ? "exec" : "transfer";

		if (!update_retry(&vm, mode, reply, sizeof(reply))) {
			tap_fail(__FILE__, __LINE__, "update %u (%s) failed", i, mode);
			break;
		}
		exec += i % 2;
		/*
		 * Not h_vmm_follow(): the old VMM tears down at idle priority
		 * and, next to two busy vCPUs on a 2-CPU host, can take a
		 * while; waiting for each would make the test time its
		 * teardowns. They are reaped and checked at the end.
		 */
		REQUIRE_OK(h_vmm_switch(&vm, &old[nold]));
		nold += old[nold] > 0;
		/* the rebuild of this update: wait for the gate to open */
		for (v = h_now_ms() + 10000; h_now_ms() < v; usleep(1000))
			if (h_metric_str(&vm, "passthrough.state", state, sizeof(state)) ||
			    strcmp(state, "rebuilding"))
				break;
		if (strcmp(state, "ready")) {
			tap_fail(__FILE__, __LINE__, "update %u: IOMMU %s", i, state);
			break;
		}
		CHECK_ERR(0, h_metric_bool(&vm, "passthrough.rebuild.validated", &ok));
		validated += ok;
	}
	tap_diag("%u updates (%u exec), %u rebuilds validated", i, exec, validated);
	CHECK_EQ(validated, UPDATES);
	/* the device still completes jobs after the last update */
	REQUIRE_OK(h_metric(&vm, "guest.dma.jobs", &jobs));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.dma.jobs", jobs + 500, 10000));
	REQUIRE_OK(h_metric(&vm, "guest.dma.jobs", &jobs));
	CHECK(jobs > jobs0);
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.faults", &faults));
	CHECK_EQ(faults, 0);
	CHECK_ERR(0, h_metric(&vm, "guest.dma.faults", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(&vm, "guest.dma.mismatches", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(&vm, "guest.dma.refused", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(&vm, "passthrough.refused", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq_breaks", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(&vm, "guest.bad_reports", &v));
	CHECK_EQ(v, 0);
	/* the device's own count covers every job the guest verified */
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.jobs", &v));
	CHECK(v >= jobs);
	tap_diag("%llu jobs verified by the guest, %llu done by the device",
		 (unsigned long long)jobs, (unsigned long long)v);
	CHECK(lu_check_heartbeats(vm.reports, 2) > 0);
	CHECK(h_ctl_ok(&vm, "shutdown"));
	/*
	 * Every old VMM of a transfer update tore down and exited 0. Each
	 * VMM is the child of the one before it and becomes ours (the
	 * harness is a subreaper) only when that one has exited: so reap
	 * them oldest first, then the last.
	 */
	for (i = 0; i < nold; i++) {
		int ret = h_reap(old[i], 10000, &status);

		if (ret || status)
			tap_diag("old VMM %d: %s", (int)old[i],
				 ret ? strerror(-ret) : "exited, not 0");
		gone += !ret && !status;
	}
	CHECK_EQ(nold, UPDATES - exec);
	CHECK_EQ(gone, nold);
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 0);
	h_vmm_cleanup(&vm);
}

static const struct tap_case cases[] = {
	{ "dma: 200 updates alternating transfer/exec, no fault, no mismatch",
	  test_updates_200 },
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
