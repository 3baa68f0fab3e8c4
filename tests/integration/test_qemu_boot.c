// SPDX-License-Identifier: MIT
/*
 * test_qemu_boot.c: boots guest-fw under QEMU with KVM (no luvmm needed)
 * and checks what it prints on COM1: the boot line, every CPU online,
 * heartbeats, memcheck passes without mismatches, the panic path and the
 * power-off exit status. This pins the firmware's behaviour down
 * independently of the VMM.
 *
 * QEMU's stdout (the serial port, -serial stdio) and stderr go into one
 * pipe; lines not starting with "fw[" are QEMU's and become diagnostics.
 * qboot is used as BIOS when installed: SeaBIOS needs ~4 s to reach the
 * kernel on a host where guest CPL0 is emulated, qboot ~0.2 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"

#define QEMU		"qemu-system-x86_64"
#define QBOOT		"/usr/share/qemu/qboot.rom"
#define LINE_MAX_LEN	512
#define MAX_CPUS	8
#define CASE_TIMEOUT_MS	12000

struct qemu {
	pid_t pid;
	int fd;			/* read end: QEMU's stdout and stderr */
	char buf[8192];
	size_t len;
	bool eof;
};

/* What a case learned from the fw[...] lines. */
struct seen {
	unsigned long next_seq;	/* the number the next line must carry */
	int gaps;		/* lines whose number was not next_seq */
	bool boot;
	char boot_line[LINE_MAX_LEN];
	bool online[MAX_CPUS];
	int hb_lines[MAX_CPUS];
	unsigned long hb_seq[MAX_CPUS];
	int hb_not_increasing;
	unsigned long mc_pass[MAX_CPUS];
	int mc_bad;		/* memcheck lines with mismatches != 0 */
	int mismatch_lines;
	char panic_line[LINE_MAX_LEN];
	bool poweroff;
};

static char fw_path[4096];
static bool have_qboot;

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool in_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	while (path && *path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
		if (!access(buf, X_OK))
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

static __noreturn void child_exec(int out, const char **argv, pid_t parent)
{
	int null;

	/* QEMU must not outlive a test killed by its 30 s limit */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(125);
	null = open("/dev/null", O_RDONLY);
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(out, 2) < 0)
		_exit(126);
	/* execvp's prototype predates const; it does not write argv */
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

/* Starts QEMU with `smp` vCPUs, guest command line `append`. */
static int qemu_start(struct qemu *q, int smp, const char *append,
		      bool debug_exit)
{
	char smp_s[16];
	const char *argv[40];
	pid_t parent = getpid();
	int n = 0, p[2];

	snprintf(smp_s, sizeof(smp_s), "%d", smp);
	argv[n++] = QEMU;
	argv[n++] = "-accel";
	argv[n++] = "kvm";
	/* plain -cpu host aborts on MSR 0x10a on this host */
	argv[n++] = "-cpu";
	argv[n++] = "host,-arch-capabilities";
	argv[n++] = "-m";
	argv[n++] = "256";
	argv[n++] = "-smp";
	argv[n++] = smp_s;
	argv[n++] = "-kernel";
	argv[n++] = fw_path;
	argv[n++] = "-append";
	argv[n++] = append;
	argv[n++] = "-nodefaults";
	argv[n++] = "-no-user-config";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-serial";
	argv[n++] = "stdio";
	argv[n++] = "-no-reboot";
	if (have_qboot) {
		argv[n++] = "-bios";
		argv[n++] = QBOOT;
	}
	if (debug_exit) {
		argv[n++] = "-device";
		argv[n++] = "isa-debug-exit,iobase=0xf4,iosize=0x04";
	}
	argv[n] = NULL;

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	q->pid = fork();
	if (q->pid < 0) {
		int err = -errno;

		close(p[0]);
		close(p[1]);
		return err;
	}
	if (!q->pid)
		child_exec(p[1], argv, parent);
	close(p[1]);
	q->fd = p[0];
	return 0;
}

/* Kills QEMU if still running; returns its wait status. */
static int qemu_stop(struct qemu *q)
{
	int status = 0;

	if (q->pid > 0) {
		kill(q->pid, SIGKILL);
		waitpid(q->pid, &status, 0);
		q->pid = 0;
	}
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	return status;
}

/* Waits up to `ms` for QEMU to exit on its own; -ETIMEDOUT if it did not. */
static int qemu_wait_exit(struct qemu *q, long ms, int *status)
{
	long end = now_ms() + ms;

	while (now_ms() < end) {
		pid_t r = waitpid(q->pid, status, WNOHANG);

		if (r == q->pid) {
			q->pid = 0;
			return 0;
		}
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* Next complete line into `line`: 1, 0 at EOF, -ETIMEDOUT past `end`. */
static int qemu_line(struct qemu *q, char *line, size_t size, long end)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		long left = end - now_ms();
		ssize_t r;

		if (nl) {
			size_t n = nl - q->buf;

			snprintf(line, size, "%.*s", (int)n, q->buf);
			memmove(q->buf, nl + 1, q->len - n - 1);
			q->len -= n + 1;
			return 1;
		}
		if (q->eof)
			return 0;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		r = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len - 1);
		if (r <= 0)
			q->eof = true;
		else
			q->len += r;
		if (q->len == sizeof(q->buf) - 1) {	/* overlong: flush */
			q->buf[q->len++] = '\n';
		}
	}
}

static unsigned long field(const char *line, const char *key)
{
	const char *v = strstr(line, key);

	return v ? strtoul(v + strlen(key), NULL, 0) : 0;
}

/* Folds one line into `s`; non-firmware lines become diagnostics. */
static void account(struct seen *s, const char *line)
{
	unsigned long seq;
	unsigned int cpu;
	char ev[32];

	if (sscanf(line, "fw[%lu] cpu%u %31s", &seq, &cpu, ev) != 3) {
		tap_diag("qemu: %s", line);
		return;
	}
	if (seq != s->next_seq) {
		tap_diag("line %lu where %lu was due: %s", seq, s->next_seq,
			 line);
		s->gaps++;
	}
	s->next_seq = seq + 1;
	if (cpu >= MAX_CPUS)
		return;
	if (!strcmp(ev, "boot") && seq == 1) {
		s->boot = true;
		snprintf(s->boot_line, sizeof(s->boot_line), "%s", line);
	} else if (!strcmp(ev, "online")) {
		s->online[cpu] = true;
	} else if (!strcmp(ev, "hb")) {
		unsigned long hb = field(line, " seq=");

		if (s->hb_lines[cpu] && hb <= s->hb_seq[cpu])
			s->hb_not_increasing++;
		s->hb_seq[cpu] = hb;
		s->hb_lines[cpu]++;
	} else if (!strcmp(ev, "memcheck")) {
		s->mc_pass[cpu] = field(line, " pass=");
		if (field(line, " mismatches="))
			s->mc_bad++;
	} else if (!strcmp(ev, "mismatch")) {
		s->mismatch_lines++;
	} else if (!strcmp(ev, "panic")) {
		snprintf(s->panic_line, sizeof(s->panic_line), "%s", line);
	} else if (!strcmp(ev, "poweroff")) {
		s->poweroff = true;
	}
}

/* Reads lines until done(s) or the case's deadline; false on timeout. */
static bool run_until(struct qemu *q, struct seen *s,
		      bool (*done)(const struct seen *s))
{
	long end = now_ms() + CASE_TIMEOUT_MS;
	char line[LINE_MAX_LEN];
	int r;

	s->next_seq = 1;
	while ((r = qemu_line(q, line, sizeof(line), end)) > 0) {
		account(s, line);
		if (done(s))
			return true;
	}
	tap_diag("%s before the expected output", r ? "timed out" : "EOF");
	return false;
}

static bool hb_done(const struct seen *s)
{
	return s->hb_lines[0] >= 3 && s->hb_lines[1] >= 3;
}

static void test_heartbeat_two_cpus(void)
{
	struct seen s = { 0 };
	struct qemu q;

	REQUIRE_OK(qemu_start(&q, 2, "cpus=2 workload=heartbeat "
			      "serial_period_ms=100", false));
	CHECK(run_until(&q, &s, hb_done));
	qemu_stop(&q);
	CHECK(s.boot);
	CHECK(strstr(s.boot_line, " boot luvmm-fw abi=1 cpus=2 tsc_khz="));
	CHECK(s.online[1]);
	CHECK(s.hb_lines[0] >= 3);
	CHECK(s.hb_lines[1] >= 3);
	CHECK_EQ(s.hb_not_increasing, 0);
	CHECK_EQ(s.gaps, 0);
	CHECK(!s.panic_line[0]);
}

static bool mc_done(const struct seen *s)
{
	return s->mc_pass[1] >= 3;
}

static void test_memcheck_passes(void)
{
	struct seen s = { 0 };
	struct qemu q;

	REQUIRE_OK(qemu_start(&q, 2, "cpus=2 workload=heartbeat,memcheck "
			      "memcheck=16M@16M serial_period_ms=100", false));
	CHECK(run_until(&q, &s, mc_done));
	qemu_stop(&q);
	CHECK(s.boot);
	CHECK(s.mc_pass[1] >= 3);
	CHECK_EQ(s.mc_bad, 0);
	CHECK_EQ(s.mismatch_lines, 0);
	CHECK_EQ(s.gaps, 0);
	CHECK(!s.panic_line[0]);
}

/*
 * Through SeaBIOS each boot costs ~4-5 s here, and all five cases would
 * overrun the 30 s limit: without qboot only the first two run.
 */
static bool skip_without_qboot(void)
{
	if (have_qboot)
		return false;
	tap_skip("no %s: SeaBIOS boot too slow for every case in 30 s", QBOOT);
	return true;
}

static bool poweroff_done(const struct seen *s)
{
	return s->poweroff;
}

/* isa-debug-exit makes QEMU exit with (value << 1) | 1. */
static void test_poweroff_status(void)
{
	struct seen s = { 0 };
	struct qemu q;
	int status = 0;

	if (skip_without_qboot())
		return;
	REQUIRE_OK(qemu_start(&q, 2, "cpus=2 poweroff_ms=200 "
			      "poweroff_status=5", true));
	CHECK(run_until(&q, &s, poweroff_done));
	CHECK_EQ(qemu_wait_exit(&q, CASE_TIMEOUT_MS, &status), 0);
	qemu_stop(&q);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 5 << 1 | 1);
	CHECK_EQ(s.gaps, 0);
}

static bool panic_done(const struct seen *s)
{
	return s->panic_line[0];
}

struct fault_variant {
	const char *append;
	const char *expect[2];	/* substrings of the panic line */
};

static const struct fault_variant fault_variants[] = {
	{ "cpus=1 fault=ud", { " panic vector=6 err=0x0 ", " cs=0x2b" } },
	{ "cpus=1 fault=pf", { " panic vector=14 err=0x4 ",
			       " cr2=0x8000000000 " } },
};

static void check_fault(const struct fault_variant *v)
{
	struct seen s = { 0 };
	struct qemu q;
	size_t i;

	if (skip_without_qboot())
		return;
	REQUIRE_OK(qemu_start(&q, 1, v->append, false));
	CHECK(run_until(&q, &s, panic_done));
	qemu_stop(&q);
	for (i = 0; i < ARRAY_SIZE(v->expect); i++)
		if (!strstr(s.panic_line, v->expect[i]))
			tap_fail(__FILE__, __LINE__, "panic line \"%s\" lacks "
				 "\"%s\"", s.panic_line, v->expect[i]);
	CHECK_EQ(s.gaps, 0);
}

static void test_fault_ud(void)
{
	check_fault(&fault_variants[0]);
}

static void test_fault_pf(void)
{
	check_fault(&fault_variants[1]);
}

static const struct tap_case cases[] = {
	{ "qemu: boot, 2 cpus online, heartbeats", test_heartbeat_two_cpus },
	{ "qemu: memcheck 16 MiB, 3 passes, no mismatch",
	  test_memcheck_passes },
	{ "qemu: poweroff_ms exits via isa-debug-exit", test_poweroff_status },
	{ "qemu: fault=ud prints a panic line", test_fault_ud },
	{ "qemu: fault=pf prints a panic line", test_fault_pf },
};

int main(int argc, char **argv)
{
	const char *build = getenv("LUVMM_BUILD");
	int fd;

	if (!in_path(QEMU))
		tap_skip_all(QEMU " not installed");
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		tap_skip_all("/dev/kvm: %s", strerror(errno));
	close(fd);
	snprintf(fw_path, sizeof(fw_path), "%s/guest-fw.elf",
		 build ? build : "build");
	if (access(fw_path, R_OK))
		tap_bail("%s: %s (build it first)", fw_path, strerror(errno));
	have_qboot = !access(QBOOT, R_OK);
	if (!have_qboot)
		tap_diag("no %s: booting through SeaBIOS (slow)", QBOOT);
	signal(SIGPIPE, SIG_IGN);
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
