/* SPDX-License-Identifier: MIT */
/*
 * harness.h: integration-test helpers. Start build/luvmm as a child
 * process with its control socket, serial output and report log in a
 * private temporary directory; talk to it over the socket; read numbers
 * out of its JSON replies; poke guest RAM through its memfd; wait for
 * conditions with a deadline (never a fixed sleep).
 */
#ifndef LUVMM_HARNESS_H
#define LUVMM_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../tap.h"

struct vmm {
	pid_t pid;
	char dir[64];		/* private temp dir, removed by vmm_cleanup */
	char api[128];
	char serial[128];
	char reports[128];
	char err_log[128];	/* luvmm's stderr */
	bool exited;
	int status;		/* exit status once exited (or 128+signal) */
};

/* Absolute path of a build artefact (LUVMM_BUILD or ./build). */
const char *h_build_path(const char *name, char *buf, size_t cap);
/* Skip the whole binary unless /dev/kvm and the built binaries exist. */
void h_require_kvm(void);

/*
 * Start `luvmm run --kernel <guest-fw.elf> --api .. --serial file:..
 * --report-log ..` plus args (NULL-terminated; may override --kernel),
 * then wait until the control socket answers. 0, or -errno with the
 * child's stderr shown as diagnostics.
 */
int h_vmm_start(struct vmm *v, const char *const *args);
/* h_vmm_start() with the child's stdout on stdout_fd instead of /dev/null. */
int h_vmm_start_stdout(struct vmm *v, const char *const *args, int stdout_fd);
/* Start luvmm with exactly these arguments after the binary (for bad-input
 * tests); does not wait for a socket. */
int h_vmm_spawn_raw(struct vmm *v, const char *const *args);
/* Wait up to timeout_ms for the VMM to exit (a descendant not yet
 * reparented to us is waited for too); 0 or -ETIMEDOUT, -ESRCH gone. */
int h_vmm_wait(struct vmm *v, int timeout_ms);
/* After a live update: follow the VMM to its new pid (status "pid"),
 * reaping the old process. 0 or -errno. */
int h_vmm_follow(struct vmm *v);
/* h_vmm_follow() without waiting for the old process: *old is its pid (to
 * h_reap() later), or 0 if the pid did not change (exec mode). */
int h_vmm_switch(struct vmm *v, pid_t *old);
/* Wait up to timeout_ms for a descendant to exit; 0 (its exit status in
 * *status, 128+signal if killed) or -errno. */
int h_reap(pid_t pid, int timeout_ms, int *status);
/* Kill (if running), reap and remove the temp dir. */
void h_vmm_cleanup(struct vmm *v);

/* One request; reply is one JSON line. 0 or -errno. */
int h_ctl(struct vmm *v, const char *request, char *reply, size_t cap);
/* `{"cmd":"<cmd>"}` and true if the reply says "ok":true. */
bool h_ctl_ok(struct vmm *v, const char *cmd);
/*
 * A number from a JSON document by dotted path; array elements by index:
 * "guest.cpus.1.hb_seq". -ENOENT if absent, -EINVAL if not a number.
 */
int h_json_u64(const char *json, const char *path, uint64_t *out);
int h_json_str(const char *json, const char *path, char *out, size_t cap);
int h_json_bool(const char *json, const char *path, bool *out);
/* h_json_u64 (_str, _bool) on a fresh `metrics` reply. */
int h_metric(struct vmm *v, const char *path, uint64_t *out);
int h_metric_str(struct vmm *v, const char *path, char *out, size_t cap);
int h_metric_bool(struct vmm *v, const char *path, bool *out);
/* Poll `metrics` until path >= min (or timeout). 0, -ETIMEDOUT. */
int h_wait_metric(struct vmm *v, const char *path, uint64_t min, int timeout_ms);

/* Whole file into buf (NUL-terminated); bytes read or -errno. */
ssize_t h_read_file(const char *path, char *buf, size_t cap);
/* Poll a file until it contains needle; 0 or -ETIMEDOUT. */
int h_wait_file(const char *path, const char *needle, int timeout_ms);
/* Show a file as # lines (for failure diagnostics). */
void h_diag_file(const char *path, int max_lines);

/* An fd for the running VMM's guest-RAM memfd (via /proc/PID/fd). */
int h_ram_fd(struct vmm *v);

uint64_t h_now_ms(void);

#endif
