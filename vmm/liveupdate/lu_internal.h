/* SPDX-License-Identifier: MIT */
/*
 * lu_internal.h: what the live-update files share (lu.c: the old VMM's
 * side and metrics; lu_incoming.c: the new VMM's side; lu_exec.c: exec
 * mode). Not for use outside vmm/liveupdate/.
 */
#ifndef LUVMM_LIVEUPDATE_LU_INTERNAL_H
#define LUVMM_LIVEUPDATE_LU_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../loop.h"
#include "handoff.h"
#include "lu.h"
#include "record.h"

struct ctl_pending;
struct runner;

/* The shared state memfd: the state record starts at LU_STATE_OFFSET; in
 * exec mode the prepare record and the exec block sit before it. */
#define LU_STATE_SIZE		(2u << 20)
#define LU_EXEC_BLOCK		(60u << 10)	/* exec mode: timings, lengths */
#define LU_STATE_OFFSET		(64u << 10)
/* room for one state record; exec mode keeps a second copy after it, the
 * only other copy of the guest's vCPU state once the old image is gone */
#define LU_STATE_CAP		((LU_STATE_SIZE - LU_STATE_OFFSET) / 2)
#define LU_BACKUP_OFFSET	(LU_STATE_OFFSET + LU_STATE_CAP)
/*
 * The commit word (docs/update-protocol.md §2.13): a u64 in the state memfd,
 * (attempt << 32) | state, that decides who runs the guest after GO. The
 * old VMM opens it (LU_COMMIT_GO) before the blackout; the new VMM takes
 * it (GO -> TAKEN) just before it releases its vCPUs, and runs none if it
 * cannot; the old VMM closes it (GO -> ABORTED) before it rolls back, and
 * resumes nothing if it cannot. Both sides compare-and-swap it.
 */
#define LU_COMMIT_OFFSET	(LU_STATE_OFFSET - 64)
#define LU_COMMIT_PAGE		(LU_COMMIT_OFFSET & ~4095u)
enum lu_commit_state {
	LU_COMMIT_IDLE = 0,	/* never opened: an old VMM without the word */
	LU_COMMIT_GO = 1,	/* open: the new VMM may take the guest */
	LU_COMMIT_TAKEN = 2,	/* the new VMM runs the guest */
	LU_COMMIT_ABORTED = 3,	/* the old VMM rolled back */
};
#define LU_COMMIT_WORD(attempt, state)	(((uint64_t)(attempt) << 32) | (state))
#define LU_COMMIT_STATE(word)		((uint32_t)(word))

#define LU_PREBUILD_TIMEOUT_MS	10000
#define LU_BLACKOUT_TIMEOUT_MS	2000

/* What the last update did (metrics, the update reply). */
struct lu_result {
	bool valid;
	bool ok;
	bool rolled_back;		/* !ok: the guest runs on the old code;
					 * !ok && !rolled_back: it was lost */
	enum lu_mode mode;
	char error[256];
	struct lu_phases ph;
	uint64_t slot_sleeps;		/* exec mode: vCPU sleeps on late memslots */
	uint64_t slot_sleep_us;
	uint64_t late_slots_us;		/* exec mode: registering the late slots */
	pid_t new_pid;
};

struct lu {
	/* an update in flight on the old side */
	bool busy;
	enum lu_mode mode;
	int sock;			/* SEQPACKET to the new VMM */
	pid_t child;			/* spawned new VMM, or -1 */
	pid_t peer_pid;			/* an operator-started new VMM (SO_PEERCRED), or 0 */
	int peer_pidfd;			/* ... and its pidfd, or -1 */
	struct ctl_pending *reply;
	struct loop_watch sock_w;	/* READY / ERROR / EOF before the blackout */
	struct loop_watch timer_w;	/* pre-build timeout */
	int blackout_timeout_ms;	/* GO -> RUNNING, and exec's watchdog */
	int prepare_timeout_ms;		/* HELLO -> READY */
	char fault[32];			/* test-only: what the new VMM should break */
	uint64_t t_hello, t_ready;
	struct handoff ho;		/* as sent (the old VMM keeps its fds) */

	int state_fd;			/* the state memfd, mapped at state */
	uint8_t *state;
	_Atomic uint64_t *commit;	/* the commit word, in the state memfd */
	void *commit_map;		/* new side: its page, mapped writable */
	uint32_t attempt;		/* old side: blackouts this process began */
	uint64_t commit_go;		/* new side: the word as GO found it (0: an
					 * old VMM that does not use it) */

	/*
	 * The blackout runs on the vCPU threads (vm park hook): on the old
	 * side each saves its own state as it stops, the last one joins the
	 * record, each sends GO to its counterpart in the new VMM over its
	 * own socket; on the new side each waits for its GO, vCPU 0 checks
	 * and decodes the record and restores the VM-wide state, each
	 * restores itself, and the last one releases them all.
	 */
	unsigned ncpus;
	int *go_sock;			/* [ncpus] per-vCPU GO channels */
	struct lu_blob *blob;		/* [ncpus] old side: each vCPU's section */
	bool was_paused;		/* the guest was paused before the update */
	uint64_t t[3];			/* stop requested, all parked, saved */
	atomic_uint arrived;		/* vCPUs that saved (old) / restored (new) */
	atomic_uint finished;		/* vCPUs done with the hook */
	atomic_int record;		/* old: 0 pending, 1 written, <0 failed */
	atomic_int decoded;		/* new: 0 pending, 1 done, <0 failed */
	atomic_int result;		/* 0 running, 1 done, <0 failed (+ err) */
	size_t record_len;
	char err[320];
	int hook_fd;			/* eventfd: hooks -> main thread */

	/* new side: vCPU threads inside the restore hook, and "no hook may
	 * start any more" (teardown waits for the first to drop to 0) */
	atomic_uint inhook;
	atomic_bool closing;

	/* new side: the old VMM's socket until it reports its teardown (its
	 * own fd, never lu->sock: the next update may begin before that) */
	struct loop_watch done_w;
	/* exec mode: the old image's teardown, set by the thread that ends it
	 * (it may outlive the reply); valid: last describes that update */
	_Atomic uint64_t exec_teardown_us;
	bool exec_teardown_valid;

	struct lu_result last;
};

/* Get (creating on first use) the runner's live-update state. */
struct lu *lu_get(struct runner *r);
/* Create and map the state memfd (populated now, not in the blackout). */
int lu_state_map(struct lu *lu, bool writable);
/* Unmap and close the state memfd. */
void lu_state_release(struct lu *lu);
/* Per-vCPU GO channels and save buffers for a VM of ncpus vCPUs. */
int lu_alloc_percpu(struct lu *lu, unsigned ncpus, bool blobs);
void lu_free_percpu(struct lu *lu);
/* Spin until *v != 0, *abort_flag or timeout, yielding the CPU; returns
 * *v (0: gave up). The waiters run on CPUs their guest vCPUs just left. */
int lu_spin_nonzero(atomic_int *v, atomic_bool *abort_flag, uint64_t timeout_ns);
/* Test-only faults the old VMM injects itself (not passed on). */
bool lu_fault_is_old_side(const char *fault);
/* Read and discard what the hooks signalled on lu->hook_fd. */
void lu_hook_drain(struct lu *lu);
/* Record the first failure of the hooks and tell the main thread. */
void lu_hook_fail(struct lu *lu, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Fill the handoff table with every fd the VM uses. */
int lu_collect_fds(struct runner *r, struct handoff *h);
/* The update reply / metrics object members for a result. */
struct json_writer;
void lu_result_json(const struct lu_result *res, struct json_writer *w);
/* 64-bit timestamps in a message payload. */
void lu_put_times(uint8_t *p, const uint64_t *t, unsigned n);
void lu_get_times(const uint8_t *p, uint64_t *t, unsigned n);

/* exec mode, old side (lu_exec.c): runs the whole update; on success it
 * does not return. */
int lu_exec_update(struct runner *r, const char *binary, char *err, size_t errlen);
/* exec mode, new side */
int lu_exec_incoming(struct runner *r, const struct config *args);

#endif
