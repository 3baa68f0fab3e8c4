// SPDX-License-Identifier: MIT
/*
 * test_lu_cases.c: live updates in situations the other tests leave out,
 * guest-fw on 2 vCPUs (heartbeat on vCPU 0, memcheck on vCPU 1):
 *
 *  - the guest is paused when the update starts: it stays paused through
 *    it (status says so, no heartbeat moves) and, resumed afterwards,
 *    goes on with no heartbeat break and no memcheck mismatch;
 *  - a second update request while one is in flight (its new VMM held in
 *    the pre-build for 500 ms by the test-only fault "slow-prebuild") is
 *    refused at once with a clear error, and the first one succeeds;
 *  - the guest was booted as a Multiboot image (guest-fw.elf through its
 *    Multiboot header with --boot multiboot, and guest-fw.bin, which is
 *    only that): the boot mode travels in the state record (status says
 *    "multiboot" after the update) and the guest goes on.
 * Transfer and exec mode each, where both apply.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include "lu_checks.h"

#define STILL_MS	200	/* how long a paused guest is watched not to move */

static const char *const work_args[] = {
	"--cpus", "2", "--workload", "heartbeat,memcheck", "--memcheck", "4M@16M",
	NULL,
};

static const char *const multiboot_args[] = {
	"--boot", "multiboot", "--cpus", "2", "--workload", "heartbeat,memcheck",
	"--memcheck", "4M@16M", NULL,
};

static void check_status(struct vmm *vm, const char *key, const char *want)
{
	char reply[2048], str[64] = "";

	CHECK_ERR(0, h_ctl(vm, "{\"cmd\":\"status\"}", reply, sizeof(reply)));
	CHECK_ERR(0, h_json_str(reply, key, str, sizeof(str)));
	CHECK_STR(str, want);
}

static void check_reply(const char *reply, const char *mode)
{
	char str[64] = "";
	bool ok = false;

	CHECK_ERR(0, h_json_bool(reply, "ok", &ok));
	CHECK(ok);
	CHECK_ERR(0, h_json_str(reply, "result", str, sizeof(str)));
	CHECK_STR(str, "running");
	CHECK_ERR(0, h_json_str(reply, "mode", str, sizeof(str)));
	CHECK_STR(str, mode);
}

/* ---- update while paused ------------------------------------------------------ */

static void update_paused(const char *mode)
{
	uint64_t seq0, seq1, passes, ticks, v;
	char reply[4096];
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, work_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.1.memcheck_passes", 1, 15000));
	REQUIRE_OK(h_metric(&vm, "guest.cpus.0.ticks", &ticks));
	REQUIRE(h_ctl_ok(&vm, "pause"));
	REQUIRE_OK(h_metric(&vm, "guest.cpus.0.hb_seq", &seq0));
	REQUIRE_OK(h_metric(&vm, "guest.cpus.1.hb_seq", &seq1));
	REQUIRE_OK(h_metric(&vm, "guest.cpus.1.memcheck_passes", &passes));

	REQUIRE(lu_update(&vm, mode, NULL, 0, true, reply, sizeof(reply)));
	check_reply(reply, mode);
	REQUIRE_OK(h_vmm_follow(&vm));
	check_status(&vm, "state", "paused");
	CHECK_ERR(0, h_metric(&vm, "update.updates", &v));
	CHECK_EQ(v, 1);
	CHECK_ERR(0, h_metric(&vm, "guest.restores", &v));
	CHECK_EQ(v, 1);
	/* the stimulus: time in which a running guest would report */
	poll(NULL, 0, STILL_MS);
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq", &v));
	CHECK_EQ(v, seq0);
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.1.hb_seq", &v));
	CHECK_EQ(v, seq1);
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.1.memcheck_passes", &v));
	CHECK_EQ(v, passes);
	check_status(&vm, "state", "paused");

	REQUIRE(h_ctl_ok(&vm, "resume"));
	check_status(&vm, "state", "running");
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.hb_seq", seq0 + 3, 5000));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.1.hb_seq", seq1 + 3, 5000));
	lu_check_guest_intact(&vm, ticks);
	CHECK(h_ctl_ok(&vm, "shutdown"));
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 0);
	h_vmm_cleanup(&vm);
}

static void paused_transfer(void)
{
	update_paused("transfer");
}

static void paused_exec(void)
{
	update_paused("exec");
}

/* ---- a second request while one is in flight ------------------------------------- */

/* Send a request on a connection of its own; the fd, or -errno. */
static int send_request(struct vmm *vm, const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t n = strlen(req);

	if (fd < 0)
		return -errno;
	if (strlen(vm->api) >= sizeof(sa.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, vm->api, strlen(vm->api) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, n) != (ssize_t)n || write(fd, "\n", 1) != 1) {
		close(fd);
		return -EIO;
	}
	return fd;
}

/* The one-line reply on fd (closed), waiting at most timeout_ms. */
static int read_reply(int fd, char *buf, size_t cap, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	size_t len = 0;
	ssize_t n;

	buf[0] = '\0';
	while (len + 1 < cap && !strchr(buf, '\n')) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = h_now_ms();

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) != 1)
			break;
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
	close(fd);
	return strchr(buf, '\n') ? 0 : -ETIMEDOUT;
}

static int wait_in_progress(struct vmm *vm, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	bool busy = false;

	while (h_now_ms() < deadline) {
		if (!h_metric_bool(vm, "update.in_progress", &busy) && busy)
			return 0;
		poll(NULL, 0, 2);
	}
	return -ETIMEDOUT;
}

static void second_update_refused(void)
{
	static const char *const second[] = {
		"{\"cmd\":\"update\",\"mode\":\"transfer\"}",
		"{\"cmd\":\"update\",\"mode\":\"exec\"}",
	};
	char reply[4096], str[128];
	uint64_t ticks, v;
	bool ok, busy;
	unsigned i;
	struct vmm vm;
	int fd;

	REQUIRE_OK(h_vmm_start(&vm, work_args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.1.memcheck_passes", 1, 15000));
	REQUIRE_OK(h_metric(&vm, "guest.cpus.0.ticks", &ticks));
	fd = send_request(&vm, "{\"cmd\":\"update\",\"mode\":\"transfer\",\"fault\":\"slow-prebuild\"}");
	REQUIRE(fd >= 0);
	CHECK_ERR(0, wait_in_progress(&vm, 5000));
	/* the new VMM sits in its pre-build for 500 ms: meanwhile */
	for (i = 0; i < ARRAY_SIZE(second); i++) {
		CHECK_ERR(0, h_ctl(&vm, second[i], reply, sizeof(reply)));
		ok = true;
		CHECK_ERR(0, h_json_bool(reply, "ok", &ok));
		CHECK(!ok);
		str[0] = '\0';
		CHECK_ERR(0, h_json_str(reply, "error", str, sizeof(str)));
		CHECK_STR(str, "an update is already in progress");
	}
	/* the refusals did not disturb the first update */
	CHECK_ERR(0, h_metric_bool(&vm, "update.in_progress", &busy));
	CHECK(busy);
	CHECK_ERR(0, read_reply(fd, reply, sizeof(reply), 15000));
	check_reply(reply, "transfer");
	CHECK_ERR(0, h_json_u64(reply, "phases_us.prebuild", &v));
	CHECK(v >= 500000);	/* the fault held it there */
	REQUIRE_OK(h_vmm_follow(&vm));
	CHECK_ERR(0, h_metric(&vm, "update.updates", &v));
	CHECK_EQ(v, 1);		/* one update, not two */
	CHECK_ERR(0, h_metric_bool(&vm, "update.in_progress", &busy));
	CHECK(!busy);
	lu_check_guest_intact(&vm, ticks);
	h_vmm_cleanup(&vm);
}

/* ---- an update before the last one's old VMM is gone ------------------------------ */

/*
 * The old VMM of update 1 is held 1 s before its teardown and DONE
 * ("slow-teardown"). Update 2 starts 700 ms after update 1 returned and
 * holds its new VMM in the pre-build for 500 ms ("slow-prebuild"), so the
 * DONE of update 1 reaches the VMM in the middle of update 2. That DONE
 * must not touch update 2's channel: update 2 and a third update succeed,
 * and the first old VMM has exited. The guest idles, so that the teardown
 * at idle priority is not starved and the timing holds.
 */
static void update_before_old_vmm_done(void)
{
	static const char *const idle_args[] = { "--cpus", "2", "--workload", "idle", NULL };
	char reply[4096];
	pid_t first;
	uint64_t v;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, idle_args));
	first = vm.pid;
	REQUIRE(lu_update(&vm, "transfer", "slow-teardown", 0, true, reply, sizeof(reply)));
	/* not h_vmm_follow(): it would wait for the first VMM to exit */
	poll(NULL, 0, 700);
	CHECK_EQ(waitpid(first, NULL, WNOHANG), 0);	/* still holding its VM */
	CHECK(lu_update(&vm, "transfer", "slow-prebuild", 5000, true, reply, sizeof(reply)));
	check_reply(reply, "transfer");
	REQUIRE_OK(h_vmm_follow(&vm));		/* reaps the first VMM */
	CHECK_EQ(vm.status, 0);
	CHECK(lu_update(&vm, "transfer", NULL, 5000, true, reply, sizeof(reply)));
	REQUIRE_OK(h_vmm_follow(&vm));
	CHECK_ERR(0, h_metric(&vm, "update.updates", &v));
	CHECK_EQ(v, 3);
	CHECK(kill(first, 0) < 0 && errno == ESRCH);	/* gone, reaped */
	CHECK(h_ctl_ok(&vm, "shutdown"));
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 0);
	h_vmm_cleanup(&vm);
}

/* ---- a guest booted as a Multiboot image ------------------------------------------- */

/*
 * bin: the pure Multiboot image (build/guest-fw.bin, --boot auto finds its
 * header), so the mode the new VMM reports can only come from the record;
 * else guest-fw.elf forced through its Multiboot header.
 */
static void update_multiboot(const char *mode, bool bin)
{
	char reply[4096], path[256];
	const char *args[] = {
		"--kernel", h_build_path("guest-fw.bin", path, sizeof(path)), "--cpus", "2",
		"--workload", "heartbeat,memcheck", "--memcheck", "4M@16M", NULL,
	};
	uint64_t ticks, v;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, bin ? args : multiboot_args));
	check_status(&vm, "boot", "multiboot");
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.1.memcheck_passes", 1, 15000));
	REQUIRE_OK(h_metric(&vm, "guest.cpus.0.ticks", &ticks));
	REQUIRE(lu_update(&vm, mode, NULL, 0, true, reply, sizeof(reply)));
	check_reply(reply, mode);
	REQUIRE_OK(h_vmm_follow(&vm));
	check_status(&vm, "boot", "multiboot");
	check_status(&vm, "state", "running");
	CHECK_ERR(0, h_metric(&vm, "guest.restores", &v));
	CHECK_EQ(v, 1);
	lu_check_guest_intact(&vm, ticks);
	h_vmm_cleanup(&vm);
}

static void multiboot_transfer(void)
{
	update_multiboot("transfer", false);
}

static void multiboot_exec(void)
{
	update_multiboot("exec", false);
}

static void multiboot_image_transfer(void)
{
	update_multiboot("transfer", true);
}

static void multiboot_image_exec(void)
{
	update_multiboot("exec", true);
}

static const struct tap_case cases[] = {
	TAP_CASE(paused_transfer),
	TAP_CASE(paused_exec),
	TAP_CASE(second_update_refused),
	TAP_CASE(update_before_old_vmm_done),
	TAP_CASE(multiboot_transfer),
	TAP_CASE(multiboot_exec),
	TAP_CASE(multiboot_image_transfer),
	TAP_CASE(multiboot_image_exec),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
