// SPDX-License-Identifier: MIT
/*
 * test_passthrough.c: the DMA device behind the soft IOMMU, with guest-fw's
 * dma workload on vCPU 1 and the heartbeat on vCPU 0: jobs flow and are
 * verified; without a device the guest is told so; a rebuild with 100k
 * mappings; a layout difference found and repaired; wrong tables refused
 * (the device keeps the old ones and the next update repairs it); a
 * rollback with the device attached; and the warm path: only the vCPU that
 * asks the IOMMU during a rebuild waits, the other one runs on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lu_checks.h"

static const char *const dma_args[] = {
	"--cpus", "2", "--workload", "heartbeat,dma", "--device", "soft", NULL,
};

/* The DMA workload verified jobs and nothing went wrong anywhere. */
static void check_dma_clean(struct vmm *vm, uint64_t min_jobs)
{
	uint64_t v;

	CHECK_ERR(0, h_wait_metric(vm, "guest.dma.jobs", min_jobs, 15000));
	CHECK_ERR(0, h_metric(vm, "guest.dma.mismatches", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.dma.faults", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "passthrough.device.faults", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.bad_reports", &v));
	CHECK_EQ(v, 0);
}

/* Wait until the IOMMU gate is open again; returns the state. */
static const char *wait_rebuilt(struct vmm *vm, char *state, size_t cap)
{
	uint64_t end = h_now_ms() + 15000;

	do {
		if (h_metric_str(vm, "passthrough.state", state, cap))
			return "unknown";
		if (strcmp(state, "rebuilding"))
			return state;
		usleep(2000);
	} while (h_now_ms() < end);
	return "timeout";
}

static void test_dma_flows(void)
{
	uint64_t jobs, dev_jobs, xl, maps;
	char kind[16];
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, dma_args));
	check_dma_clean(&vm, 2000);
	CHECK_ERR(0, h_metric_str(&vm, "guest.cpus.1.workload", kind, sizeof(kind)));
	CHECK_STR(kind, "dma");
	CHECK_ERR(0, h_metric(&vm, "guest.dma.jobs", &jobs));
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.jobs", &dev_jobs));
	CHECK(dev_jobs >= jobs);
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.translations", &xl));
	CHECK(xl > dev_jobs);	/* every job translated at least one page */
	CHECK_ERR(0, h_metric(&vm, "passthrough.maps", &maps));
	CHECK(maps > 18);	/* the buffers, then the churn */
	CHECK_ERR(0, h_metric(&vm, "passthrough.refused", &maps));
	CHECK_EQ(maps, 0);
	CHECK_ERR(0, h_wait_metric(&vm, "guest.dma.msis", 1, 5000));
	CHECK_ERR(0, h_wait_file(vm.serial, "dma ready", 5000));
	h_vmm_cleanup(&vm);
}

static void test_no_device(void)
{
	static const char *const args[] = {
		"--cpus", "2", "--workload", "heartbeat,dma", NULL,
	};
	uint64_t v;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	CHECK_ERR(0, h_wait_file(vm.serial, "dma: no device", 10000));
	/* the vCPU falls back to the heartbeat and keeps running */
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.1.heartbeats", 5, 10000));
	CHECK_ERR(0, h_metric(&vm, "guest.dma.jobs", &v));
	CHECK_EQ(v, 0);
	CHECK(h_metric(&vm, "passthrough.state", &v) == -ENOENT);
	h_vmm_cleanup(&vm);
}

static void test_rebuild_100k(void)
{
	static const char *const args[] = {
		"--cpus", "2", "--workload", "heartbeat,dma", "--device", "soft",
		"--cmdline", "dma_maps=100000", NULL,
	};
	char reply[4096], state[32];
	uint64_t n, rep, val;
	bool ok;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	REQUIRE_OK(h_wait_metric(&vm, "passthrough.mappings", 100000, 25000));
	REQUIRE_OK(h_wait_metric(&vm, "guest.dma.jobs", 100, 10000));
	REQUIRE(lu_update(&vm, "transfer", NULL, 0, true, reply, sizeof(reply)));
	REQUIRE_OK(h_vmm_follow(&vm));
	CHECK_STR(wait_rebuilt(&vm, state, sizeof(state)), "ready");
	CHECK_ERR(0, h_metric(&vm, "passthrough.rebuild.mappings", &n));
	CHECK(n >= 100000);
	CHECK_ERR(0, h_metric_bool(&vm, "passthrough.rebuild.validated", &ok));
	CHECK(ok);
	CHECK_ERR(0, h_metric(&vm, "passthrough.rebuild.replay_us", &rep));
	CHECK_ERR(0, h_metric(&vm, "passthrough.rebuild.validate_us", &val));
	tap_diag("%llu mappings: replay %llu us, validation %llu us",
		 (unsigned long long)n, (unsigned long long)rep,
		 (unsigned long long)val);
	CHECK_ERR(0, h_metric(&vm, "passthrough.mappings", &n));
	CHECK(n >= 100000);
	check_dma_clean(&vm, 200);
	h_vmm_cleanup(&vm);
}

static void test_layout_repaired(void)
{
	static const char *const args[] = {
		"--cpus", "2", "--workload", "heartbeat,dma", "--device", "soft,pgsize=4k",
		NULL,
	};
	char reply[4096], state[32], s[16];
	uint64_t v, jobs;
	bool ok;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.dma.jobs", 200, 15000));
	/* the new VMM lays tables out with the largest leaves first */
	REQUIRE(lu_update(&vm, "transfer", "replay-coalesce", 0, true, reply,
			  sizeof(reply)));
	REQUIRE_OK(h_vmm_follow(&vm));
	CHECK_STR(wait_rebuilt(&vm, state, sizeof(state)), "ready");
	CHECK_ERR(0, h_metric(&vm, "passthrough.rebuild.attempts", &v));
	CHECK_EQ(v, 3);	/* max and 2m differ in page size, 4k matches */
	CHECK_ERR(0, h_metric_str(&vm, "passthrough.rebuild.layout", s, sizeof(s)));
	CHECK_STR(s, "4k");
	CHECK_ERR(0, h_metric_str(&vm, "passthrough.rebuild.mismatch", s, sizeof(s)));
	CHECK_STR(s, "size");
	CHECK_ERR(0, h_metric_bool(&vm, "passthrough.rebuild.ok", &ok));
	CHECK(ok);
	CHECK_ERR(0, h_metric(&vm, "guest.dma.jobs", &jobs));
	check_dma_clean(&vm, jobs + 200);
	h_vmm_cleanup(&vm);
}

static void test_wrong_tables_kept(void)
{
	char reply[4096], state[32], s[16];
	uint64_t jobs, gen0, gen1, v;
	bool ok;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, dma_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.dma.jobs", 200, 15000));
	REQUIRE(lu_update(&vm, "transfer", "replay-target", 0, true, reply, sizeof(reply)));
	REQUIRE_OK(h_vmm_follow(&vm));
	CHECK_STR(wait_rebuilt(&vm, state, sizeof(state)), "degraded");
	CHECK_ERR(0, h_metric_bool(&vm, "passthrough.rebuild.ok", &ok));
	CHECK(!ok);
	CHECK_ERR(0, h_metric_str(&vm, "passthrough.rebuild.mismatch", s, sizeof(s)));
	CHECK_STR(s, "target");
	/* never switched: the device still walks the old tables and works */
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.generation", &gen0));
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.jobs", &jobs));
	CHECK_ERR(0, h_wait_metric(&vm, "passthrough.device.jobs", jobs + 200, 10000));
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.faults", &v));
	CHECK_EQ(v, 0);
	/* requests are refused while degraded, not half-applied */
	CHECK_ERR(0, h_wait_metric(&vm, "passthrough.refused", 1, 10000));
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.generation", &gen1));
	CHECK_EQ(gen1, gen0);
	/* the next update replays the same live tables and repairs it */
	REQUIRE(lu_update(&vm, "exec", NULL, 0, true, reply, sizeof(reply)));
	REQUIRE_OK(h_vmm_follow(&vm));
	CHECK_STR(wait_rebuilt(&vm, state, sizeof(state)), "ready");
	CHECK_ERR(0, h_metric_bool(&vm, "passthrough.rebuild.validated", &ok));
	CHECK(ok);
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.jobs", &jobs));
	CHECK_ERR(0, h_wait_metric(&vm, "passthrough.device.jobs", jobs + 200, 10000));
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.faults", &v));
	CHECK_EQ(v, 0);
	h_vmm_cleanup(&vm);
}

/* A failed update rolls back with DMA clean; then (again) an update of
 * the same mode succeeds: the rollback left the handoff whole. */
static void rollback_case(const char *mode, const char *fault, bool again)
{
	char reply[4096], state[32];
	uint64_t jobs, gen0, gen1;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, dma_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.dma.jobs", 200, 15000));
	CHECK_ERR(0, h_metric(&vm, "passthrough.device.generation", &gen0));
	CHECK(lu_update(&vm, mode, fault, 0, false, reply, sizeof(reply)));
	CHECK(strstr(reply, "rolled back") != NULL || strstr(reply, "rollback") != NULL);
	REQUIRE_OK(h_vmm_follow(&vm));
	CHECK_ERR(0, h_metric_str(&vm, "passthrough.state", state, sizeof(state)));
	CHECK_STR(state, !strcmp(mode, "exec") ? state : "ready");
	/* transfer: the old VMM's device was never touched */
	if (!strcmp(mode, "transfer")) {
		CHECK_ERR(0, h_metric(&vm, "passthrough.device.generation", &gen1));
		CHECK(gen1 >= gen0);
	} else {
		CHECK_STR(wait_rebuilt(&vm, state, sizeof(state)), "ready");
	}
	CHECK_ERR(0, h_metric(&vm, "guest.dma.jobs", &jobs));
	check_dma_clean(&vm, jobs + 500);
	if (again) {
		CHECK(lu_update(&vm, mode, NULL, 0, true, reply, sizeof(reply)));
		REQUIRE_OK(h_vmm_follow(&vm));
		CHECK_STR(wait_rebuilt(&vm, state, sizeof(state)), "ready");
		CHECK_ERR(0, h_metric(&vm, "guest.dma.jobs", &jobs));
		check_dma_clean(&vm, jobs + 500);
	}
	h_vmm_cleanup(&vm);
}

static void test_rollback_transfer(void)
{
	rollback_case("transfer", "crash-load", false);
}

static void test_rollback_exec(void)
{
	rollback_case("exec", "error-load", false);
}

/*
 * exec: the new image built every device from the handoff, then failed
 * and destroyed them ("error-devices"). Whatever they closed were
 * duplicates: the rollback image finds every fd (the simulator's socket,
 * BAR0, the tables) and DMA goes on; a later update succeeds.
 */
static void test_rollback_exec_after_devices(void)
{
	rollback_case("exec", "error-devices", true);
}

static void test_warm_path(void)
{
	char reply[4096], state[32];
	uint64_t hb0, w0, w1, s0;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, dma_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.dma.jobs", 200, 15000));
	/* the rebuild holds the gate until vCPU 1 waits, then 1 s */
	REQUIRE(lu_update(&vm, "transfer", "rebuild-slow", 0, true, reply, sizeof(reply)));
	REQUIRE_OK(h_vmm_follow(&vm));
	/* vCPU 1 asks for a mapping and waits ... */
	CHECK_ERR(0, h_wait_metric(&vm, "passthrough.warm_path.1.waiting", 1, 10000));
	CHECK_ERR(0, h_metric_str(&vm, "passthrough.state", state, sizeof(state)));
	CHECK_STR(state, "rebuilding");
	/* ... while vCPU 0 runs on: its heartbeat advances during the wait */
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq", &hb0));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.hb_seq", hb0 + 3, 5000));
	CHECK_ERR(0, h_metric(&vm, "passthrough.warm_path.1.waiting", &w1));
	CHECK_ERR(0, h_metric(&vm, "passthrough.warm_path.0.waiting", &w0));
	CHECK_EQ(w0, 0);
	if (w1 != 1)
		tap_diag("vCPU 1 woke before vCPU 0 had 3 more heartbeats");
	CHECK_STR(wait_rebuilt(&vm, state, sizeof(state)), "ready");
	CHECK_ERR(0, h_metric(&vm, "passthrough.warm_path.1.sleeps", &s0));
	CHECK(s0 >= 1);
	CHECK_ERR(0, h_metric(&vm, "passthrough.warm_path.0.sleeps", &s0));
	CHECK_EQ(s0, 0);
	CHECK_ERR(0, h_metric(&vm, "passthrough.warm_path.1.max_us", &s0));
	tap_diag("vCPU 1 slept up to %llu us on the gate", (unsigned long long)s0);
	/* the request it waited for completed: no refusal, DMA goes on */
	CHECK_ERR(0, h_metric(&vm, "passthrough.refused", &w1));
	CHECK_EQ(w1, 0);
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq_breaks", &w1));
	CHECK_EQ(w1, 0);
	check_dma_clean(&vm, 300);
	h_vmm_cleanup(&vm);
}

static const struct tap_case cases[] = {
	{ "dma: jobs verified, translated, zero faults", test_dma_flows },
	{ "dma: no device, the guest is told and runs on", test_no_device },
	{ "rebuild: 100k mappings replayed and validated", test_rebuild_100k },
	{ "rebuild: layout difference retried down to 4k", test_layout_repaired },
	{ "rebuild: wrong tables refused, old kept, repaired next", test_wrong_tables_kept },
	{ "rollback (transfer) with the device attached", test_rollback_transfer },
	{ "rollback (exec) with the device attached", test_rollback_exec },
	{ "rollback (exec) after the devices took their fds",
	  test_rollback_exec_after_devices },
	{ "warm path: only the asking vCPU waits", test_warm_path },
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
