// SPDX-License-Identifier: MIT
/*
 * lu_checks.c: shared checks of the live-update tests (see lu_checks.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lu_checks.h"

long lu_check_serial(const char *path)
{
	static char buf[8 << 20];
	char *line, *next;
	long expect = 1, n = 0;
	ssize_t len = h_read_file(path, buf, sizeof(buf));

	if (len < 0) {
		tap_diag("%s: cannot read", path);
		return -1;
	}
	for (line = buf; (next = strchr(line, '\n')); line = next + 1) {
		long got;

		*next = '\0';
		if (strncmp(line, "fw[", 3))
			continue;	/* not a guest-fw line */
		got = strtol(line + 3, NULL, 10);
		if (got != expect) {
			tap_diag("serial: line %ld where %ld was due: \"%s\"", got, expect, line);
			return -1;
		}
		expect++;
		n++;
	}
	return n;
}

long lu_check_heartbeats(const char *path, unsigned ncpus)
{
	static char buf[32 << 20];
	uint64_t last[64] = { 0 };
	char *line, *next;
	long n = 0;
	ssize_t len = h_read_file(path, buf, sizeof(buf));

	if (len < 0 || ncpus > 64) {
		tap_diag("%s: cannot read", path);
		return -1;
	}
	for (line = buf; (next = strchr(line, '\n')); line = next + 1) {
		unsigned long cpu;
		uint64_t seq;
		char *p;

		*next = '\0';
		if (!strstr(line, "\"type\":\"heartbeat\""))
			continue;
		p = strstr(line, "\"cpu\":");
		if (!p)
			continue;
		cpu = strtoul(p + 6, NULL, 10);
		p = strstr(line, "\"arg\":[");
		if (!p || cpu >= ncpus)
			continue;
		seq = strtoull(p + 7, NULL, 10);
		if (seq != last[cpu] + 1) {
			tap_diag("report log: cpu%lu heartbeat %" PRIu64 " after %" PRIu64,
				 cpu, seq, last[cpu]);
			return -1;
		}
		last[cpu] = seq;
		n++;
	}
	return n;
}

bool lu_update(struct vmm *v, const char *mode, const char *fault, int timeout_ms,
	       bool want_ok, char *reply, size_t cap)
{
	char req[256];
	int n, ret;

	n = snprintf(req, sizeof(req), "{\"cmd\":\"update\",\"mode\":\"%s\"", mode);
	if (fault)
		n += snprintf(req + n, sizeof(req) - (size_t)n, ",\"fault\":\"%s\"", fault);
	if (timeout_ms > 0)
		n += snprintf(req + n, sizeof(req) - (size_t)n, ",\"timeout_ms\":%d",
			      timeout_ms);
	snprintf(req + n, sizeof(req) - (size_t)n, "}");
	ret = h_ctl(v, req, reply, cap);
	if (ret) {
		tap_diag("update %s: %s", mode, strerror(-ret));
		return false;
	}
	if (!strncmp(reply, "{\"ok\":true", 10) != want_ok) {
		tap_diag("update %s%s%s: %s", mode, fault ? " fault=" : "", fault ? fault : "",
			 reply);
		return false;
	}
	return true;
}

/* Everything the guest could notice, checked after the updates. */
void lu_check_guest_intact(struct vmm *vm, uint64_t ticks_before)
{
	uint64_t v;
	long n;

	CHECK_ERR(0, h_metric(vm, "guest.cpus.0.hb_seq_breaks", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.cpus.1.hb_seq_breaks", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.cpus.1.memcheck_mismatches", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.cpus.0.panics", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, h_metric(vm, "guest.bad_reports", &v));
	CHECK_EQ(v, 0);
	/* timer interrupts keep coming after the last update */
	CHECK_ERR(0, h_wait_metric(vm, "guest.cpus.0.ticks", ticks_before + 20, 5000));
	/* the memcheck vCPU finishes passes after the last update */
	CHECK_ERR(0, h_metric(vm, "guest.cpus.1.memcheck_passes", &v));
	CHECK_ERR(0, h_wait_metric(vm, "guest.cpus.1.memcheck_passes", v + 2, 10000));
	/* let the serial line of the last second come out, then read */
	CHECK_ERR(0, h_vmm_wait(vm, 0) == 0 ? -ECHILD : 0);
	n = lu_check_serial(vm->serial);
	CHECK(n > 0);
	tap_diag("%ld serial lines in order", n);
	n = lu_check_heartbeats(vm->reports, 2);
	CHECK(n > 0);
	tap_diag("%ld heartbeats in order", n);
}
