// SPDX-License-Identifier: MIT
/*
 * test_boot.c: boot guest-fw under luvmm: heartbeats on one and two
 * vCPUs, the Multiboot image, status over the socket and the ctl client,
 * power-off status, shutdown over the socket and by signal, guest panic.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static void boot_heartbeat_1cpu(void)
{
	const char *args[] = { "--cpus", "1", "--workload", "heartbeat", NULL };
	char reply[4096], str[64];
	uint64_t v;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.heartbeats", 5, 10000));
	CHECK_ERR(0, h_wait_file(vm.serial, "cpu0 boot luvmm-fw", 5000));
	CHECK_ERR(0, h_wait_file(vm.serial, "cpu0 hb seq=", 5000));
	CHECK_ERR(0, h_ctl(&vm, "{\"cmd\":\"status\"}", reply, sizeof(reply)));
	CHECK_ERR(0, h_json_str(reply, "state", str, sizeof(str)));
	CHECK_STR(str, "running");
	CHECK_ERR(0, h_json_u64(reply, "vcpus", &v));
	CHECK_EQ(v, 1);
	CHECK_ERR(0, h_json_u64(reply, "memory", &v));
	CHECK_EQ(v, 256ULL << 20);
	CHECK_ERR(0, h_json_str(reply, "boot", str, sizeof(str)));
	CHECK_STR(str, "elf64");
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.panics", &v));
	CHECK_EQ(v, 0);
	h_vmm_cleanup(&vm);
}

/* Both vCPUs must keep making progress, not just start. */
static void boot_2cpus_both_progress(void)
{
	const char *args[] = { "--cpus", "2", NULL };
	uint64_t a0, a1, b0, b1, online;
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	REQUIRE_OK(h_wait_metric(&vm, "guest.cpus.1.heartbeats", 3, 10000));
	CHECK_ERR(0, h_metric(&vm, "guest.cpus_online", &online));
	CHECK_EQ(online, 2);
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq", &a0));
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.1.hb_seq", &a1));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.hb_seq", a0 + 10, 10000));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.1.hb_seq", a1 + 10, 10000));
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq", &b0));
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.1.hb_seq", &b1));
	CHECK(b0 > a0 && b1 > a1);
	CHECK_ERR(0, h_wait_file(vm.serial, "cpu1 hb seq=", 5000));
	CHECK_ERR(0, h_metric(&vm, "guest.cpus.0.hb_seq_breaks", &a0));
	CHECK_EQ(a0, 0);
	h_vmm_cleanup(&vm);
}

static void boot_multiboot_image(void)
{
	char bin[256], reply[4096], str[64];
	const char *args[] = { "--kernel", h_build_path("guest-fw.bin", bin, sizeof(bin)),
			       "--cpus", "2", NULL };
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	CHECK_ERR(0, h_ctl(&vm, "{\"cmd\":\"status\"}", reply, sizeof(reply)));
	CHECK_ERR(0, h_json_str(reply, "boot", str, sizeof(str)));
	CHECK_STR(str, "multiboot");
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.1.heartbeats", 3, 10000));
	h_vmm_cleanup(&vm);
}

/* The same ELF booted through its Multiboot header instead of e_entry. */
static void boot_elf_forced_multiboot(void)
{
	const char *args[] = { "--boot", "multiboot", NULL };
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.heartbeats", 3, 10000));
	h_vmm_cleanup(&vm);
}

static void poweroff_exit_status(void)
{
	const char *args[] = { "--cmdline", "poweroff_ms=100 poweroff_status=42", NULL };
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 42);
	h_vmm_cleanup(&vm);
}

static void shutdown_over_socket(void)
{
	char reply[256];
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, NULL));
	CHECK_ERR(0, h_ctl(&vm, "{\"cmd\":\"shutdown\",\"status\":3}", reply, sizeof(reply)));
	CHECK(!strncmp(reply, "{\"ok\":true", 10));
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 3);
	CHECK(access(vm.api, F_OK) != 0);	/* socket file removed */
	h_vmm_cleanup(&vm);
}

static void shutdown_by_sigterm(void)
{
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, NULL));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.heartbeats", 1, 10000));
	kill(vm.pid, SIGTERM);
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 0);
	h_vmm_cleanup(&vm);
}

static void guest_panic_reported(void)
{
	const char *args[] = { "--cmdline", "fault=ud", NULL };
	struct vmm vm;

	REQUIRE_OK(h_vmm_start(&vm, args));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.panics", 1, 10000));
	CHECK_ERR(0, h_wait_file(vm.serial, "cpu0 panic vector=6", 5000));
	CHECK_ERR(0, h_wait_file(vm.err_log, "panic: vector 6", 5000));
	h_vmm_cleanup(&vm);
}

/* `luvmm ctl` is the operator's client: exit 0 and the JSON on stdout. */
static void ctl_client_status(void)
{
	char bin[256], out[4096], str[32];
	int pipefd[2], st;
	struct vmm vm;
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	REQUIRE_OK(h_vmm_start(&vm, NULL));
	REQUIRE(pipe(pipefd) == 0);
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execl(h_build_path("luvmm", bin, sizeof(bin)), "luvmm", "ctl", "--api",
		      vm.api, "status", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pipefd[0]);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_ERR(0, h_json_str(out, "state", str, sizeof(str)));
	CHECK_STR(str, "running");
	h_vmm_cleanup(&vm);
}

static const struct tap_case cases[] = {
	TAP_CASE(boot_heartbeat_1cpu),
	TAP_CASE(boot_2cpus_both_progress),
	TAP_CASE(boot_multiboot_image),
	TAP_CASE(boot_elf_forced_multiboot),
	TAP_CASE(poweroff_exit_status),
	TAP_CASE(shutdown_over_socket),
	TAP_CASE(shutdown_by_sigterm),
	TAP_CASE(guest_panic_reported),
	TAP_CASE(ctl_client_status),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
