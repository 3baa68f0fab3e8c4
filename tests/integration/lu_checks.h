/* SPDX-License-Identifier: MIT */
/*
 * lu_checks.h: checks the live-update tests share: the guest's serial
 * lines are numbered without a gap or a repeat, every heartbeat in the
 * report log follows its predecessor, and an update request's reply.
 */
#ifndef LUVMM_LU_CHECKS_H
#define LUVMM_LU_CHECKS_H

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

/* Serial: every complete line "fw[N] ..." has N = previous + 1, starting
 * at 1. Returns the number of lines checked, or -1 after a diagnostic. */
long lu_check_serial(const char *path);
/* Report log: per vCPU, heartbeat seq numbers go 1, 2, 3, ... without a
 * break; returns the heartbeats checked, or -1 after a diagnostic. */
long lu_check_heartbeats(const char *path, unsigned ncpus);

/* {"cmd":"update","mode":mode[,"fault":fault][,"timeout_ms":N]}; returns
 * true if the reply's ok matches want_ok. The reply is left in reply. */
bool lu_update(struct vmm *v, const char *mode, const char *fault, int timeout_ms,
	       bool want_ok, char *reply, size_t cap);

/*
 * Everything a guest running heartbeat (vCPU 0) and memcheck (vCPU 1)
 * could notice after updates: no heartbeat break, no memcheck mismatch or
 * panic, timer ticks and memcheck passes still coming, serial lines and
 * report-log heartbeats in order. Waits for the VMM's exit (the caller
 * shut it down or lets h_vmm_wait time out first).
 */
void lu_check_guest_intact(struct vmm *vm, uint64_t ticks_before);

#endif
