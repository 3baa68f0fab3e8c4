// SPDX-License-Identifier: MIT
/*
 * harness.c: integration-test helpers (see harness.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../vmm/ctl.h"
#include "../../vmm/json.h"
#include "harness.h"

#define MAX_ARGS 64
#define MAX_LIVE 16

/* Every VMM a case started, so one left behind by a failed REQUIRE is
 * still stopped and its directory removed (tap teardown hook). */
static struct {
	pid_t pid;
	char dir[64];
} live[MAX_LIVE];

static void rm_dir(const char *dir);

/* h_vmm_start_stdout(): the next child's stdout (-1: /dev/null) */
static int spawn_stdout = -1;

static void track(const struct vmm *v)
{
	unsigned i, free_slot = MAX_LIVE;

	for (i = 0; i < MAX_LIVE; i++) {
		if (live[i].dir[0] && !strcmp(live[i].dir, v->dir)) {
			live[i].pid = v->pid;
			return;
		}
		if (!live[i].dir[0] && free_slot == MAX_LIVE)
			free_slot = i;
	}
	if (free_slot < MAX_LIVE) {
		live[free_slot].pid = v->pid;
		snprintf(live[free_slot].dir, sizeof(live[free_slot].dir), "%s", v->dir);
	}
}

static void untrack(const struct vmm *v)
{
	unsigned i;

	for (i = 0; i < MAX_LIVE; i++)
		if (live[i].dir[0] && !strcmp(live[i].dir, v->dir))
			live[i].dir[0] = '\0';
}

/* Reap every child that has exited (old VMMs after an update, ...). */
static void reap_all(void)
{
	int st;

	while (waitpid(-1, &st, WNOHANG) > 0)
		;
}

static void leftovers(void)
{
	unsigned i;

	for (i = 0; i < MAX_LIVE; i++) {
		if (!live[i].dir[0])
			continue;
		tap_diag("stopping VMM %d the case left running", (int)live[i].pid);
		if (live[i].pid > 0) {
			kill(live[i].pid, SIGKILL);
			waitpid(live[i].pid, NULL, 0);
		}
		rm_dir(live[i].dir);
		live[i].dir[0] = '\0';
	}
	reap_all();
}

uint64_t h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Let other processes run without sleeping a fixed time. */
static void pause_briefly(void)
{
	poll(NULL, 0, 5);
}

const char *h_build_path(const char *name, char *buf, size_t cap)
{
	const char *b = getenv("LUVMM_BUILD");

	snprintf(buf, cap, "%s/%s", b && *b ? b : "build", name);
	return buf;
}

void h_require_kvm(void)
{
	char p[256];
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	/* a transfer-mode update leaves the new VMM an orphan: adopt it */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	tap_set_teardown(leftovers);
	if (fd < 0)
		tap_skip_all("/dev/kvm not usable here: %s", strerror(errno));
	close(fd);
	if (access(h_build_path("luvmm", p, sizeof(p)), X_OK))
		tap_bail("%s missing: run make first", p);
	if (access(h_build_path("guest-fw.elf", p, sizeof(p)), R_OK))
		tap_bail("%s missing: run make first", p);
}

static int make_dir(struct vmm *v)
{
	memset(v, 0, sizeof(*v));
	v->pid = -1;
	snprintf(v->dir, sizeof(v->dir), "/tmp/luvmm-test.XXXXXX");
	if (!mkdtemp(v->dir))
		return -errno;
	snprintf(v->api, sizeof(v->api), "%s/api.sock", v->dir);
	snprintf(v->serial, sizeof(v->serial), "%s/serial.log", v->dir);
	snprintf(v->reports, sizeof(v->reports), "%s/reports.jsonl", v->dir);
	snprintf(v->err_log, sizeof(v->err_log), "%s/stderr.log", v->dir);
	return 0;
}

static int spawn(struct vmm *v, const char *const *argv)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(v->err_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int nul = open("/dev/null", O_RDWR);

		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		if (nul >= 0) {
			dup2(nul, STDIN_FILENO);
			dup2(nul, STDOUT_FILENO);
		}
		if (spawn_stdout >= 0)
			dup2(spawn_stdout, STDOUT_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	v->pid = pid;
	track(v);
	return 0;
}

int h_vmm_spawn_raw(struct vmm *v, const char *const *args)
{
	const char *argv[MAX_ARGS];
	char bin[256];
	unsigned n = 0;
	int ret = make_dir(v);

	if (ret)
		return ret;
	argv[n++] = h_build_path("luvmm", bin, sizeof(bin));
	while (args && *args && n < MAX_ARGS - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	return spawn(v, argv);
}

int h_vmm_start(struct vmm *v, const char *const *args)
{
	char bin[256], fw[256], serial[160];
	const char *argv[MAX_ARGS];
	uint64_t deadline;
	unsigned n = 0;
	int ret = make_dir(v);

	if (ret)
		return ret;
	snprintf(serial, sizeof(serial), "file:%s", v->serial);
	argv[n++] = h_build_path("luvmm", bin, sizeof(bin));
	argv[n++] = "run";
	argv[n++] = "--kernel";
	argv[n++] = h_build_path("guest-fw.elf", fw, sizeof(fw));
	argv[n++] = "--api";
	argv[n++] = v->api;
	argv[n++] = "--serial";
	argv[n++] = serial;
	argv[n++] = "--report-log";
	argv[n++] = v->reports;
	while (args && *args && n < MAX_ARGS - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	ret = spawn(v, argv);
	if (ret)
		return ret;
	deadline = h_now_ms() + 10000;
	while (h_now_ms() < deadline) {
		char reply[512];

		if (!h_ctl(v, "{\"cmd\":\"status\"}", reply, sizeof(reply)))
			return 0;
		if (h_vmm_wait(v, 0) == 0) {
			tap_diag("luvmm exited early with status %d", v->status);
			h_diag_file(v->err_log, 20);
			return -ECHILD;
		}
		pause_briefly();
	}
	tap_diag("luvmm control socket did not come up");
	h_diag_file(v->err_log, 20);
	return -ETIMEDOUT;
}

int h_vmm_start_stdout(struct vmm *v, const char *const *args, int stdout_fd)
{
	int ret;

	spawn_stdout = stdout_fd;
	ret = h_vmm_start(v, args);
	spawn_stdout = -1;
	return ret;
}

int h_vmm_wait(struct vmm *v, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
	int st;

	if (v->exited)
		return 0;
	if (v->pid <= 0)
		return -ECHILD;
	for (;;) {
		pid_t r = waitpid(v->pid, &st, WNOHANG);

		if (r == v->pid) {
			v->exited = true;
			v->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return 0;
		}
		/* a VMM an older VMM started becomes ours (we are a subreaper)
		 * only when that one has exited: until then, keep waiting */
		if (r < 0 && (errno != ECHILD || kill(v->pid, 0) < 0))
			return -errno;
		if (h_now_ms() >= deadline)
			return -ETIMEDOUT;
		pause_briefly();
	}
}

static void rm_dir(const char *dir)
{
	char p[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

void h_vmm_cleanup(struct vmm *v)
{
	if (v->pid > 0 && !v->exited) {
		kill(v->pid, SIGKILL);
		h_vmm_wait(v, 5000);
	}
	untrack(v);
	if (v->dir[0])
		rm_dir(v->dir);
	v->dir[0] = '\0';
	reap_all();
}

int h_vmm_follow(struct vmm *v)
{
	struct vmm prev = *v;
	pid_t old;
	int ret = h_vmm_switch(v, &old);

	if (ret)
		return ret;
	if (old) {
		/* the old VMM exits on its own after handing over */
		prev.pid = old;
		if (h_vmm_wait(&prev, 10000))
			tap_diag("old VMM %d did not exit after the update", (int)old);
		else if (prev.status)
			tap_diag("old VMM %d exited with %d", (int)old, prev.status);
		v->status = prev.status;
	}
	reap_all();
	return 0;
}

int h_vmm_switch(struct vmm *v, pid_t *old)
{
	char reply[1024];
	uint64_t pid;
	int ret = h_ctl(v, "{\"cmd\":\"status\"}", reply, sizeof(reply));

	*old = 0;
	if (ret)
		return ret;
	ret = h_json_u64(reply, "pid", &pid);
	if (ret)
		return ret;
	if ((pid_t)pid != v->pid) {
		*old = v->pid;
		v->pid = (pid_t)pid;
		v->exited = false;
		track(v);
	}
	return 0;
}

int h_reap(pid_t pid, int timeout_ms, int *status)
{
	struct vmm one = { .pid = pid };
	int ret = h_vmm_wait(&one, timeout_ms);

	if (!ret)
		*status = one.status;
	return ret;
}

int h_ctl(struct vmm *v, const char *request, char *reply, size_t cap)
{
	return ctl_call(v->api, request, reply, cap, 10000);
}

bool h_ctl_ok(struct vmm *v, const char *cmd)
{
	char req[128], reply[4096];

	snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}", cmd);
	if (h_ctl(v, req, reply, sizeof(reply)))
		return false;
	if (strncmp(reply, "{\"ok\":true", 10)) {
		tap_diag("%s: %s", cmd, reply);
		return false;
	}
	return true;
}

static int parse_walk(const char *json, const char *path, struct json_tok *t,
		      unsigned max)
{
	size_t off;
	int n = json_parse(json, strlen(json), t, max, &off);

	if (n < 0)
		return n;
	return json_path(json, t, 0, path);
}

int h_json_u64(const char *json, const char *path, uint64_t *out)
{
	static struct json_tok t[4096];
	int i = parse_walk(json, path, t, 4096);

	if (i < 0)
		return i;
	return json_get_u64(json, &t[i], out) ? -EINVAL : 0;
}

int h_json_str(const char *json, const char *path, char *out, size_t cap)
{
	static struct json_tok t[4096];
	int i = parse_walk(json, path, t, 4096);

	if (i < 0)
		return i;
	return json_get_str(json, &t[i], out, cap) < 0 ? -EINVAL : 0;
}

int h_json_bool(const char *json, const char *path, bool *out)
{
	static struct json_tok t[4096];
	int i = parse_walk(json, path, t, 4096);

	if (i < 0)
		return i;
	return json_get_bool(json, &t[i], out) ? -EINVAL : 0;
}

/* A fresh `metrics` reply (static buffer), or NULL with *err. */
static const char *metrics_reply(struct vmm *v, int *err)
{
	static char reply[CTL_REPLY_MAX];

	*err = h_ctl(v, "{\"cmd\":\"metrics\"}", reply, sizeof(reply));
	return *err ? NULL : reply;
}

int h_metric_str(struct vmm *v, const char *path, char *out, size_t cap)
{
	int err;
	const char *m = metrics_reply(v, &err);

	return m ? h_json_str(m, path, out, cap) : err;
}

int h_metric_bool(struct vmm *v, const char *path, bool *out)
{
	int err;
	const char *m = metrics_reply(v, &err);

	return m ? h_json_bool(m, path, out) : err;
}

int h_metric(struct vmm *v, const char *path, uint64_t *out)
{
	int err;
	const char *m = metrics_reply(v, &err);

	return m ? h_json_u64(m, path, out) : err;
}

int h_wait_metric(struct vmm *v, const char *path, uint64_t min, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms, val = 0;

	while (h_now_ms() < deadline) {
		if (!h_metric(v, path, &val) && val >= min)
			return 0;
		if (h_vmm_wait(v, 0) == 0)
			return -ECHILD;
		pause_briefly();
	}
	tap_diag("%s stayed at %llu, wanted >= %llu", path,
		 (unsigned long long)val, (unsigned long long)min);
	return -ETIMEDOUT;
}

ssize_t h_read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

int h_wait_file(const char *path, const char *needle, int timeout_ms)
{
	static char buf[1 << 20];
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;

	while (h_now_ms() < deadline) {
		if (h_read_file(path, buf, sizeof(buf)) > 0 && strstr(buf, needle))
			return 0;
		pause_briefly();
	}
	return -ETIMEDOUT;
}

void h_diag_file(const char *path, int max_lines)
{
	static char buf[1 << 16];
	char *line, *save = NULL;
	int n = 0;

	if (h_read_file(path, buf, sizeof(buf)) < 0)
		return;
	tap_diag("--- %s", path);
	for (line = strtok_r(buf, "\n", &save); line && n < max_lines;
	     line = strtok_r(NULL, "\n", &save), n++)
		tap_diag("%s", line);
}

int h_ram_fd(struct vmm *v)
{
	char dir[64], link[340], target[256];
	struct dirent *e;
	int fd = -ENOENT;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)v->pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strstr(target, "memfd:luvmm-ram")) {
			fd = open(link, O_RDWR | O_CLOEXEC);
			if (fd < 0)
				fd = -errno;
			break;
		}
	}
	closedir(d);
	return fd;
}
