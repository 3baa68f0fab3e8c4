/* SPDX-License-Identifier: MIT */
/*
 * lu.h: live update. The old VMM's side (the `update` control request:
 * start the new VMM, hand over, stop, save, wait for RUNNING or roll back,
 * retire) and the new VMM's side (receive, pre-build, load, run). The
 * protocol is docs/update-protocol.md; the bytes are docs/state-format.md.
 */
#ifndef LUVMM_LIVEUPDATE_LU_H
#define LUVMM_LIVEUPDATE_LU_H

#include <stdbool.h>
#include <stdint.h>

#include "../compiler.h"

struct runner;
struct ctl_request;
struct json_writer;
struct config;

enum lu_mode { LU_TRANSFER = 0, LU_EXEC = 1 };

/* `luvmm version --abi` prints this; exec mode refuses a binary that
 * does not (it would lose the guest). */
#define LU_ABI_VERSION	1
#define LU_ABI_STRING	"luvmm-live-update 1"

/* Phase timings of one update, in microseconds (0: not reached). */
struct lu_phases {
	uint64_t prebuild, stop, save, handover, load, run, blackout, teardown;
};

/* {"cmd":"update", "mode":"transfer"|"exec", "binary":PATH,
 *  "incoming":PATH, "timeout_ms":N}: answered when the update is over. */
int lu_cmd_update(void *ctx, const struct ctl_request *req, struct json_writer *w);
/* "update" member of metrics: the last update's outcome and phases. */
void lu_metrics(struct runner *r, struct json_writer *w);
/* Release live-update state (teardown). */
void lu_fini(struct runner *r);
/* After a successful update the old VMM's main loop ends: is that why? */
bool lu_retiring(const struct runner *r);
/* Destroy the old VM (timed, reported to the new VMM) and exit 0. */
__noreturn void lu_retire(struct runner *r);

/*
 * New VMM entry (from `luvmm run --incoming PATH`, `--incoming-fd N` or
 * `--incoming-exec FD`): returns the process exit status.
 */
int lu_incoming_main(const struct config *args);

const char *lu_mode_name(enum lu_mode m);

#endif
