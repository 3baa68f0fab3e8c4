// SPDX-License-Identifier: MIT
/*
 * test_pause.c: pause and resume over the control socket. While paused the
 * guest makes no progress; after resume its heartbeat reports a TSC gap
 * that covers the pause (the guest TSC follows host time), and metrics
 * account the paused time.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define PAUSE_MS 300

static void pause_stops_progress_and_gap_covers_it(void)
{
	const char *args[] = { "--cpus", "2", NULL };
	char reply[1024], state[32];
	uint64_t seq0, seq1, after0, after1, gap, paused_us, t0;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.1.heartbeats", 3, 10000));

	REQUIRE(h_ctl_ok(&vm, "pause"));
	t0 = h_now_ms();
	CHECK_ERR(0, h_ctl(&vm, "{\"cmd\":\"status\"}", reply, sizeof(reply)));
	CHECK_ERR(0, h_json_str(reply, "state", state, sizeof(state)));
	CHECK_STR(state, "paused");
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq", &seq0));
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.1.hb_seq", &seq1));
	poll(NULL, 0, PAUSE_MS);	/* the stimulus: a pause this long */
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq", &after0));
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.1.hb_seq", &after1));
	CHECK_EQ(after0, seq0);
	CHECK_EQ(after1, seq1);
	REQUIRE(h_ctl_ok(&vm, "resume"));
	t0 = h_now_ms() - t0;

	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.hb_seq", seq0 + 1, 5000));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.1.hb_seq", seq1 + 1, 5000));
	/* the first heartbeat after resume reports the largest gap since the
	 * previous one: it must include the pause */
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_maxgap_us", &gap));
	tap_diag("paused %llu ms, guest max gap %llu us", (unsigned long long)t0,
		 (unsigned long long)gap);
	CHECK(gap >= PAUSE_MS * 1000ULL * 9 / 10);
	CHECK_ERR(0, h_metric(&vm, "paused_us", &paused_us));
	CHECK(paused_us >= PAUSE_MS * 1000ULL);
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq_breaks", &gap));
	CHECK_EQ(gap, 0);
	h_vmm_cleanup(&vm);
}

static void pause_resume_idempotent(void)
{
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, NULL));
	CHECK(h_ctl_ok(&vm, "resume"));		/* already running */
	CHECK(h_ctl_ok(&vm, "pause"));
	CHECK(h_ctl_ok(&vm, "pause"));
	CHECK(h_ctl_ok(&vm, "resume"));
	CHECK(h_ctl_ok(&vm, "resume"));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	h_vmm_cleanup(&vm);
}

/* Shutdown while paused must still end cleanly with the asked status. */
static void shutdown_while_paused(void)
{
	char reply[256];
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, NULL));
	REQUIRE(h_ctl_ok(&vm, "pause"));
	CHECK_ERR(0, h_ctl(&vm, "{\"cmd\":\"shutdown\",\"status\":9}", reply, sizeof(reply)));
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 9);
	h_vmm_cleanup(&vm);
}

static const struct tap_case cases[] = {
	TAP_CASE(pause_stops_progress_and_gap_covers_it),
	TAP_CASE(pause_resume_idempotent),
	TAP_CASE(shutdown_while_paused),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
