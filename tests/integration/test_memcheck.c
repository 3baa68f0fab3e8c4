// SPDX-License-Identifier: MIT
/*
 * test_memcheck.c: the guest's memcheck workload finds nothing wrong
 * across pause/resume, and does find a word the test corrupts through the
 * guest-RAM memfd, at the right address.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void memcheck_clean_across_pause(void)
{
	const char *args[] = { "--cpus", "2", "--workload", "heartbeat,memcheck",
			       "--memcheck", "8M@16M", NULL };
	uint64_t passes, mism;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.1.memcheck_passes", 2, 15000));
	REQUIRE(h_ctl_ok(&vm, "pause"));
	poll(NULL, 0, 100);
	REQUIRE(h_ctl_ok(&vm, "resume"));
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.1.memcheck_passes", &passes));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.1.memcheck_passes", passes + 2, 15000));
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.1.memcheck_mismatches", &mism));
	CHECK_EQ(mism, 0);
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.1.heartbeats", &passes));
	CHECK(passes > 0);	/* memcheck heartbeats too */
	h_vmm_cleanup(&vm);
}

static void memcheck_finds_corrupted_word(void)
{
	const char *args[] = { "--workload", "memcheck", "--memcheck", "4M@16M", NULL };
	uint64_t base, size, target, bad = 0x0badc0ffee0ddf00ULL, got = 0, mism = 0;
	struct vmm vm;
	int fd, tries;

	REQUIRE_OK(h_vmm_start(&vm, args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.0.memcheck_passes", 1, 15000));
	REQUIRE_OK(h_metric(&vm, "guest.cpus.0.memcheck_base", &base));
	REQUIRE_OK(h_metric(&vm, "guest.cpus.0.memcheck_size", &size));
	CHECK_EQ(base, 16ULL << 20);
	CHECK_EQ(size, 4ULL << 20);
	target = base + size / 2 + 0x128;	/* below 3 GiB: memfd offset == gpa */
	fd = h_ram_fd(&vm);
	REQUIRE(fd >= 0);
	/* a poke can land between the guest's check and rewrite of that same
	 * word and be overwritten; poke again until it is seen (bounded) */
	for (tries = 0; tries < 5 && !mism; tries++) {
		uint64_t passes;

		CHECK_EQ(pwrite(fd, &bad, sizeof(bad), (off_t)target), sizeof(bad));
		if (h_metric(&vm, "guest.cpus.0.memcheck_passes", &passes))
			break;
		h_wait_metric(&vm, "guest.cpus.0.memcheck_passes", passes + 2, 10000);
		h_metric(&vm, "guest.cpus.0.memcheck_mismatches", &mism);
	}
	close(fd);
	tap_diag("detected after %d poke(s)", tries);
	CHECK(mism >= 1);
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.last_mismatch_gpa", &got));
	CHECK_EQ(got, target);
	CHECK_ERR(0, h_wait_file(vm.serial, "mismatch addr=", 5000));
	CHECK_ERR(0, h_wait_file(vm.reports, "\"type\":\"mismatch\"", 5000));
	h_vmm_cleanup(&vm);
}

static const struct tap_case cases[] = {
	TAP_CASE(memcheck_clean_across_pause),
	TAP_CASE(memcheck_finds_corrupted_word),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
