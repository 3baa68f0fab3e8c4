// SPDX-License-Identifier: MIT
/*
 * test_badinput.c: every bad input gets a clear one-line error and a
 * documented exit status, never a crash: bad command lines, missing or
 * malformed kernel images, memory the host cannot back, and hostile
 * requests on the control socket (after which the VM keeps running).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

struct bad_run {
	const char *name;
	const char *args[12];
	int status;
	const char *message;	/* must appear on stderr */
};

#define FW "@FW@"	/* replaced by the guest-fw path */
/* 259 bytes: "idle," x 51 + "idle" */
#define LONG_WORKLOAD							\
	"idle,idle,idle,idle,idle,idle,idle,idle,idle,idle,"		\
	"idle,idle,idle,idle,idle,idle,idle,idle,idle,idle,"		\
	"idle,idle,idle,idle,idle,idle,idle,idle,idle,idle,"		\
	"idle,idle,idle,idle,idle,idle,idle,idle,idle,idle,"		\
	"idle,idle,idle,idle,idle,idle,idle,idle,idle,idle,idle,idle"
/* 64 bytes */
#define LONG_MEMCHECK							\
	"1234567890123456789012345678901234567890123456789012345678901234"
#define FILE_ARG "@FILE@"	/* replaced by a temp file with `content` */

static const struct bad_run bad_runs[] = {
	{ "unknown command", { "frobnicate" }, 2, "unknown command" },
	{ "unknown flag", { "run", "--kernel", FW, "--bogus" }, 2, "unknown option" },
	{ "missing value", { "run", "--kernel" }, 2, "needs a value" },
	{ "no kernel", { "run", "--cpus", "1" }, 2, "--kernel PATH is required" },
	{ "bad size", { "run", "--kernel", FW, "--memory", "12Q" }, 2, "--memory: bad size" },
	{ "zero cpus", { "run", "--kernel", FW, "--cpus", "0" }, 2, "--cpus" },
	{ "too many cpus", { "run", "--kernel", FW, "--cpus", "65" }, 2, "--cpus" },
	{ "bad serial", { "run", "--kernel", FW, "--serial", "tcp:1" }, 2, "--serial" },
	{ "bad workload", { "run", "--kernel", FW, "--workload", "spin" }, 2, "--workload" },
	{ "stray argument", { "run", "--kernel", FW, "extra" }, 2, "unexpected argument" },
	{ "missing kernel", { "run", "--kernel", "/nonexistent/kernel" }, 3, "No such file" },
	{ "directory as kernel", { "run", "--kernel", "/tmp" }, 3, "not a regular file" },
	{ "garbage kernel", { "run", "--kernel", FILE_ARG }, 3, "not an ELF64 file" },
	{ "truncated ELF", { "run", "--kernel", FILE_ARG }, 3, "ELF" },
	{ "empty kernel", { "run", "--kernel", FILE_ARG }, 3, "size 0" },
	{ "memory beyond host", { "run", "--kernel", FW, "--memory", "1T" }, 4,
	  "exceeds this host" },
	{ "memory not page multiple", { "run", "--kernel", FW, "--memory", "4097K" }, 2,
	  "not a multiple" },
	{ "memory too small", { "run", "--kernel", FW, "--memory", "1M" }, 2,
	  "between 2M and 1T" },
	/* longer than a live update could carry: refused at once */
	{ "workload too long", { "run", "--kernel", FW, "--workload", LONG_WORKLOAD }, 2,
	  "--workload: 259 bytes, at most 255" },
	{ "memcheck too long", { "run", "--kernel", FW, "--memcheck", LONG_MEMCHECK }, 2,
	  "--memcheck: 64 bytes, at most 63" },
	{ "vfio without path", { "run", "--kernel", FW, "--device", "vfio" }, 2,
	  "vfio needs path=" },
	{ "ctl to nowhere", { "ctl", "--api", "/nonexistent/sock", "status" }, 4,
	  "No such file" },
	{ "ctl unknown request", { "ctl", "--api", "/tmp/x", "reboot" }, 2,
	  "unknown request" },
};

/* What FILE_ARG holds for each case that uses it. */
static size_t file_content(const char *name, uint8_t *buf, size_t cap)
{
	memset(buf, 0, cap);
	if (!strcmp(name, "garbage kernel")) {
		memcpy(buf, "this is not a kernel image at all\n", 34);
		return 4096;
	}
	if (!strcmp(name, "truncated ELF")) {
		memcpy(buf, "\177ELF\002\001\001", 7);	/* ELF64 LE, then nothing */
		return 20;
	}
	return 0;
}

static void run_bad(const struct bad_run *b)
{
	char fw[256], file[64] = "", err[8192];
	const char *args[16];
	struct vmm vm;
	unsigned i;

	for (i = 0; b->args[i]; i++) {
		args[i] = b->args[i];
		if (!strcmp(args[i], FW)) {
			args[i] = h_build_path("guest-fw.elf", fw, sizeof(fw));
		} else if (!strcmp(args[i], FILE_ARG)) {
			uint8_t content[4096];
			size_t n = file_content(b->name, content, sizeof(content));
			int fd;

			snprintf(file, sizeof(file), "/tmp/luvmm-bad.XXXXXX");
			fd = mkstemp(file);
			REQUIRE(fd >= 0);
			REQUIRE(write(fd, content, n) == (ssize_t)n);
			close(fd);
			args[i] = file;
		}
	}
	args[i] = NULL;
	REQUIRE_OK(h_vmm_spawn_raw(&vm, args));
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	if (vm.status != b->status)
		tap_fail(__FILE__, __LINE__, "%s: exit status %d, expected %d", b->name,
			 vm.status, b->status);
	h_read_file(vm.err_log, err, sizeof(err));
	if (!strstr(err, b->message))
		tap_fail(__FILE__, __LINE__, "%s: stderr lacks \"%s\": %s", b->name,
			 b->message, err);
	if (vm.status >= 128 || strstr(err, "Sanitizer"))
		tap_fail(__FILE__, __LINE__, "%s: crashed", b->name);
	h_vmm_cleanup(&vm);
	if (file[0])
		unlink(file);
}

static void bad_command_lines_and_images(void)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(bad_runs); i++) {
		int before = tap_case_failures();

		run_bad(&bad_runs[i]);
		if (tap_case_failures() != before)
			tap_diag("variant failed: %s", bad_runs[i].name);
	}
}

static void hugetlb_without_huge_pages(void)
{
	char fw[256], err[4096], nr[32] = "";
	const char *args[] = { "run", "--kernel",
			       h_build_path("guest-fw.elf", fw, sizeof(fw)),
			       "--hugetlb", "--memory", "64M", NULL };
	struct vmm vm;
	int fd = open("/proc/sys/vm/nr_hugepages", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, nr, sizeof(nr) - 1) < 0)
			nr[0] = '\0';
		close(fd);
	}
	if (atoi(nr) != 0) {
		tap_skip("host has %d huge pages reserved", atoi(nr));
		return;
	}
	REQUIRE_OK(h_vmm_spawn_raw(&vm, args));
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 4);
	h_read_file(vm.err_log, err, sizeof(err));
	CHECK(strstr(err, "nr_hugepages") != NULL);
	h_vmm_cleanup(&vm);
}

/*
 * --device vfio with a cdev that is not there: refused before the VM is
 * built, exit status 4 (a host resource), the reason on one line, once.
 * On this build machine (no /dev/iommu) the reason is that; where iommufd
 * exists it is the cdev's open error.
 */
static void vfio_device_refused(void)
{
	char fw[256], err[8192], why[160];
	const char *args[] = { "run", "--kernel",
			       h_build_path("guest-fw.elf", fw, sizeof(fw)),
			       "--device", "vfio,path=/nonexistent/vfio0", NULL };
	const char *p;
	struct vmm vm;

	snprintf(why, sizeof(why), "passthrough: vfio device /nonexistent/vfio0: %s",
		 access("/dev/iommu", F_OK) ? "needs /dev/iommu and /dev/vfio: "
		 "not on this host" : "No such file or directory");
	REQUIRE_OK(h_vmm_spawn_raw(&vm, args));
	CHECK_ERR(0, h_vmm_wait(&vm, 10000));
	CHECK_EQ(vm.status, 4);
	h_read_file(vm.err_log, err, sizeof(err));
	p = strstr(err, why);
	if (!p) {
		tap_fail(__FILE__, __LINE__, "stderr lacks \"%s\": %s", why, err);
	} else {
		CHECK(strstr(p + 1, why) == NULL);	/* said once */
	}
	CHECK(strstr(err, "cannot create the VM") != NULL);
	CHECK(strstr(err, "Sanitizer") == NULL);
	h_vmm_cleanup(&vm);
}

/* Raw bytes on the control socket; returns the reply line. */
static int raw_request(struct vmm *vm, const char *bytes, size_t len, char *reply,
		       size_t cap)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (strlen(vm->api) >= sizeof(sa.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, vm->api, strlen(vm->api) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, bytes, len) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	while (got + 1 < cap && (n = read(fd, reply + got, cap - 1 - got)) > 0) {
		got += (size_t)n;
		reply[got] = '\0';
		if (strchr(reply, '\n'))
			break;
	}
	close(fd);
	reply[got] = '\0';
	return got ? 0 : -EPROTO;
}

static void hostile_socket_requests(void)
{
	static const struct {
		const char *req;
		const char *error;
	} bad[] = {
		{ "{\"cmd\":\"status\"\n", "malformed JSON at byte" },
		{ "[1,2,3]\n", "must be a JSON object" },
		{ "{\"command\":\"status\"}\n", "needs a string member" },
		{ "{\"cmd\":42}\n", "needs a string member" },
		{ "{\"cmd\":\"reboot\"}\n", "unknown command" },
		{ "{\"cmd\":\"shutdown\",\"status\":-1}\n", "0..255" },
		{ "{\"cmd\":\"shutdown\",\"status\":256}\n", "0..255" },
		{ "\"\\u0000\"\n", "must be a JSON object" },
		{ "{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}\n", "too complex" },
	};
	static char big[8192];
	char reply[4096];
	struct vmm vm;
	unsigned i;

	REQUIRE_OK(h_vmm_start(&vm, NULL));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_ERR(0, raw_request(&vm, bad[i].req, strlen(bad[i].req), reply,
					 sizeof(reply)));
		if (strncmp(reply, "{\"ok\":false", 11) || !strstr(reply, bad[i].error))
			tap_fail(__FILE__, __LINE__, "request %u: %s", i, reply);
	}
	memset(big, 'x', sizeof(big) - 1);
	CHECK_ERR(0, raw_request(&vm, big, sizeof(big) - 1, reply, sizeof(reply)));
	CHECK(strstr(reply, "longer than 4096") != NULL);
	/* the VM is unharmed */
	CHECK(h_ctl_ok(&vm, "status"));
	CHECK_ERR(0, h_wait_metric(&vm, "guest.cpus.0.heartbeats", 2, 10000));
	h_vmm_cleanup(&vm);
}

static const struct tap_case cases[] = {
	TAP_CASE(bad_command_lines_and_images),
	TAP_CASE(hugetlb_without_huge_pages),
	TAP_CASE(vfio_device_refused),
	TAP_CASE(hostile_socket_requests),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
