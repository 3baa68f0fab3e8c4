// SPDX-License-Identifier: MIT
/*
 * test_dev_report.c: the guest report device (vmm/devices/report.c):
 * report validation, the per-vCPU counters each report type feeds, the
 * heartbeat sequence check, TSC conversion, the JSON-lines log, the DMA
 * workload's report (counters, metrics, live-update state), and the port
 * handler (report port from a non-vCPU thread, power-off, info).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "../vmm/devices/devices.h"
#include "../vmm/devices/report.h"
#include "../vmm/json.h"
#include "../vmm/liveupdate/state.h"
#include "../vmm/log.h"
#include "../vmm/mem.h"
#include "tap.h"

#define NCPUS	4
#define OFF_REPORT	(LUVMM_PORT_REPORT - LUVMM_PORT_REPORT)
#define OFF_POWEROFF	(LUVMM_PORT_POWEROFF - LUVMM_PORT_REPORT)
#define OFF_INFO	(LUVMM_PORT_INFO - LUVMM_PORT_REPORT)

static struct luvmm_report rep(unsigned cpu, uint16_t type, uint64_t a0,
			       uint64_t a1, uint64_t a2, uint64_t a3)
{
	return (struct luvmm_report){
		.magic = LUVMM_REPORT_MAGIC, .version = LUVMM_REPORT_VERSION,
		.type = type, .cpu = cpu, .arg = { a0, a1, a2, a3, 0x44, 0x55 },
	};
}

static void handle_validation(void)
{
	struct report_dev d;
	struct luvmm_report r;

	log_set_level(LOG_ERR);
	REQUIRE_OK(report_init(&d, NULL, NCPUS, 2000000, -1));
	CHECK_EQ(d.poweroff_status, -1);
	CHECK_EQ(d.cpu[0].workload, UINT32_MAX);
	r = rep(1, LUVMM_REPORT_HEARTBEAT, 1, 0, 0, 0);
	CHECK_ERR(0, report_handle(&d, 1, &r));
	CHECK_EQ(d.reports, 1);

	r = rep(1, LUVMM_REPORT_HEARTBEAT, 2, 0, 0, 0);
	r.magic ^= 1;
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	r = rep(1, LUVMM_REPORT_HEARTBEAT, 2, 0, 0, 0);
	r.version = 0;
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	r.version = LUVMM_REPORT_VERSION + 1;
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	r = rep(1, 0, 2, 0, 0, 0);
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	r = rep(1, LUVMM_REPORT_TYPE_MAX, 2, 0, 0, 0);
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	r = rep(1, 0xffff, 2, 0, 0, 0);
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	r = rep(1, LUVMM_REPORT_HEARTBEAT, 2, 0, 0, 0);
	r.reserved = 1;
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	r.reserved = 0x80000000u;
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	/* the reporting vCPU must be the one named inside */
	r = rep(2, LUVMM_REPORT_HEARTBEAT, 2, 0, 0, 0);
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	r = rep(NCPUS, LUVMM_REPORT_HEARTBEAT, 1, 0, 0, 0);
	CHECK_ERR(-EINVAL, report_handle(&d, NCPUS, &r));
	r = rep(UINT32_MAX, LUVMM_REPORT_HEARTBEAT, 1, 0, 0, 0);
	CHECK_ERR(-EINVAL, report_handle(&d, UINT32_MAX, &r));
	/* workload numbers are checked */
	r = rep(0, LUVMM_REPORT_WORKLOAD, LUVMM_WORKLOAD_MAX, 0, 0, 0);
	CHECK_ERR(-EINVAL, report_handle(&d, 0, &r));
	r = rep(0, LUVMM_REPORT_WORKLOAD, UINT64_MAX, 0, 0, 0);
	CHECK_ERR(-EINVAL, report_handle(&d, 0, &r));
	CHECK_EQ(d.cpu[0].workload, UINT32_MAX);
	/* nothing above was counted or applied */
	CHECK_EQ(d.reports, 1);
	CHECK_EQ(d.cpu[1].heartbeats, 1);
	CHECK_EQ(d.cpu[1].hb_seq, 1);
	/* every valid type is accepted */
	{
		uint16_t t;

		for (t = 1; t < LUVMM_REPORT_TYPE_MAX; t++) {
			r = rep(3, t, 0, 0, 0, 0);
			CHECK_ERR(0, report_handle(&d, 3, &r));
		}
		CHECK_EQ(d.reports, LUVMM_REPORT_TYPE_MAX);
	}
	report_fini(&d);
	report_fini(&d);
	log_set_level(LOG_INFO);
}

static void heartbeat_sequence(void)
{
	static const struct {
		uint64_t seq;
		uint64_t breaks;
	} c[] = {
		{ 10, 0 },	/* the first one sets the base */
		{ 11, 0 }, { 12, 0 },
		{ 14, 1 },	/* one lost */
		{ 15, 1 },
		{ 15, 2 },	/* repeated */
		{ 1, 3 },	/* restarted */
		{ 2, 3 },
		{ UINT64_MAX, 4 },
		{ 0, 4 },	/* wraps: last + 1 */
	};
	struct report_dev d;
	struct luvmm_report r;
	size_t i;

	log_set_level(LOG_ERR);
	REQUIRE_OK(report_init(&d, NULL, NCPUS, 1000, -1));
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		r = rep(2, LUVMM_REPORT_HEARTBEAT, c[i].seq, 100 + i, 200 + i, 300 + i);
		CHECK_ERR(0, report_handle(&d, 2, &r));
		if (d.cpu[2].hb_seq_breaks != c[i].breaks)
			tap_fail(__FILE__, __LINE__, "seq %" PRIu64 ": %" PRIu64 " breaks, expected %" PRIu64,
				 c[i].seq, d.cpu[2].hb_seq_breaks, c[i].breaks);
	}
	CHECK_EQ(d.cpu[2].heartbeats, ARRAY_SIZE(c));
	CHECK_EQ(d.cpu[2].hb_seq, 0);
	CHECK_EQ(d.cpu[2].hb_gap_tsc, 100 + ARRAY_SIZE(c) - 1);
	CHECK_EQ(d.cpu[2].hb_maxgap_tsc, 200 + ARRAY_SIZE(c) - 1);
	CHECK_EQ(d.cpu[2].ticks, 300 + ARRAY_SIZE(c) - 1);
	/* other vCPUs have their own sequence */
	r = rep(1, LUVMM_REPORT_HEARTBEAT, 77, 0, 0, 0);
	CHECK_ERR(0, report_handle(&d, 1, &r));
	CHECK_EQ(d.cpu[1].hb_seq_breaks, 0);
	CHECK_EQ(d.cpu[1].heartbeats, 1);
	CHECK_EQ(d.cpu[0].heartbeats, 0);
	report_fini(&d);
	log_set_level(LOG_INFO);
}

static void counters_per_type(void)
{
	struct report_dev d;
	struct luvmm_report r;

	log_set_level(LOG_ERR);
	REQUIRE_OK(report_init(&d, NULL, NCPUS, 1000, -1));
	r = rep(0, LUVMM_REPORT_BOOT, 4, 2000000, LUVMM_REPORT_VERSION, 0);
	CHECK_ERR(0, report_handle(&d, 0, &r));
	CHECK_EQ(d.boots, 1);
	CHECK_EQ(d.cpus_online, 4);
	r = rep(1, LUVMM_REPORT_WORKLOAD, LUVMM_WORKLOAD_MEMCHECK, 16 * MiB, 32 * MiB, 0);
	CHECK_ERR(0, report_handle(&d, 1, &r));
	CHECK_EQ(d.cpu[1].workload, LUVMM_WORKLOAD_MEMCHECK);
	CHECK_EQ(d.cpu[1].mc_base, 16 * MiB);
	CHECK_EQ(d.cpu[1].mc_size, 32 * MiB);
	r = rep(1, LUVMM_REPORT_MEMCHECK, 3, 0, 2, 16 * MiB);
	CHECK_ERR(0, report_handle(&d, 1, &r));
	CHECK_EQ(d.cpu[1].mc_passes, 3);
	CHECK_EQ(d.cpu[1].mc_mismatches, 0);
	r = rep(1, LUVMM_REPORT_MISMATCH, 0x1234560, 0xaaaa, 0xbbbb, 1);
	CHECK_ERR(0, report_handle(&d, 1, &r));
	CHECK_EQ(d.cpu[1].mc_mismatches, 1);
	CHECK_EQ(d.cpu[1].last_mismatch_gpa, 0x1234560);
	r = rep(1, LUVMM_REPORT_MEMCHECK, 4, 1, 3, 16 * MiB);
	CHECK_ERR(0, report_handle(&d, 1, &r));
	CHECK_EQ(d.cpu[1].mc_passes, 4);
	CHECK_EQ(d.cpu[1].mc_mismatches, 1);
	r = rep(3, LUVMM_REPORT_PANIC, 14, 2, 0x1000, 0xdead);
	CHECK_ERR(0, report_handle(&d, 3, &r));
	CHECK_ERR(0, report_handle(&d, 3, &r));
	CHECK_EQ(d.cpu[3].panics, 2);
	r = rep(0, LUVMM_REPORT_STAGE, LUVMM_STAGE_TIMER, 0, 0, 0);
	CHECK_ERR(0, report_handle(&d, 0, &r));
	r = rep(0, LUVMM_REPORT_STAGE, LUVMM_STAGE_WORKLOADS, 0, 0, 0);
	CHECK_ERR(0, report_handle(&d, 0, &r));
	CHECK_EQ(d.stages, 2);
	CHECK_EQ(d.last_stage, LUVMM_STAGE_WORKLOADS);
	r = rep(0, LUVMM_REPORT_BADCMDLINE, 7, 0, 0, 0);
	CHECK_ERR(0, report_handle(&d, 0, &r));
	CHECK_EQ(d.reports, 10);
	CHECK_EQ(d.bad_reports, 0);
	CHECK_EQ(d.cpu[0].panics + d.cpu[1].panics + d.cpu[2].panics, 0);
	report_fini(&d);
	log_set_level(LOG_INFO);
}

static void tsc_conversion(void)
{
	struct report_dev d;
	static const struct {
		uint32_t khz;
		uint64_t tsc;
	} c[] = {
		{ 1000, 1 }, { 1000, 999 }, { 2500000, 2500 }, { 2500000, 2499 },
		{ 2500000, 2500000000ULL }, { 3000000, 1ULL << 60 },
		{ 1, UINT64_MAX / 1000 }, { 2999999, 123456789012345ULL },
		{ 4000000, UINT64_MAX },
	};
	size_t i;

	REQUIRE_OK(report_init(&d, NULL, 1, 0, -1));
	CHECK_EQ(report_tsc_to_us(&d, 123456), 0);	/* no TSC rate known */
	report_fini(&d);
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		unsigned __int128 want = (unsigned __int128)c[i].tsc * 1000 / c[i].khz;

		REQUIRE_OK(report_init(&d, NULL, 1, c[i].khz, -1));
		if (report_tsc_to_us(&d, c[i].tsc) != (uint64_t)want)
			tap_fail(__FILE__, __LINE__, "%" PRIu64 " cycles at %u kHz: got %" PRIu64 ", want %" PRIu64,
				 c[i].tsc, c[i].khz, report_tsc_to_us(&d, c[i].tsc), (uint64_t)want);
		report_fini(&d);
	}
	REQUIRE_OK(report_init(&d, NULL, 1, 2000000, -1));
	CHECK_EQ(report_tsc_to_us(&d, 2000000000ULL), 1000000);
	CHECK_EQ(report_tsc_to_us(&d, 0), 0);
	report_fini(&d);
}

/* With a log fd, each accepted report is one JSON line; bad ones none. */
static void json_log_lines(void)
{
	struct report_dev d;
	struct luvmm_report r;
	struct json_tok t[32];
	char buf[1024], name[32];
	size_t off;
	uint64_t v;
	ssize_t n;
	int fds[2], i, a;
	unsigned k;

	log_set_level(LOG_ERR);
	REQUIRE(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
	REQUIRE_OK(report_init(&d, NULL, NCPUS, 1000, fds[1]));
	r = rep(2, LUVMM_REPORT_MISMATCH, 0x1000, UINT64_MAX, 0, 9);
	CHECK_ERR(0, report_handle(&d, 2, &r));
	r.magic = 0;
	CHECK_ERR(-EINVAL, report_handle(&d, 2, &r));
	n = read(fds[0], buf, sizeof(buf) - 1);
	REQUIRE(n > 0);
	buf[n] = '\0';
	CHECK_EQ((char *)memchr(buf, '\n', (size_t)n) - buf, n - 1);	/* one line */
	REQUIRE(json_parse(buf, (size_t)n - 1, t, ARRAY_SIZE(t), &off) > 0);
	i = json_obj_find(buf, t, 0, "cpu");
	REQUIRE(i > 0);
	CHECK_ERR(0, json_get_u64(buf, &t[i], &v));
	CHECK_EQ(v, 2);
	i = json_obj_find(buf, t, 0, "type");
	REQUIRE(i > 0);
	CHECK(json_get_str(buf, &t[i], name, sizeof(name)) > 0);
	CHECK_STR(name, "mismatch");
	CHECK(json_obj_find(buf, t, 0, "t_us") > 0);
	a = json_obj_find(buf, t, 0, "arg");
	REQUIRE(a > 0);
	REQUIRE_EQ(t[a].count, 6);
	for (k = 0; k < 6; k++) {
		static const uint64_t want[6] = { 0x1000, UINT64_MAX, 0, 9, 0x44, 0x55 };

		CHECK_ERR(0, json_get_u64(buf, &t[a + 1 + k], &v));
		CHECK_EQ(v, want[k]);
	}
	report_fini(&d);
	close(fds[0]);
	close(fds[1]);
	log_set_level(LOG_INFO);
}

/* ---- the DMA workload's report --------------------------------------------- */

static struct luvmm_report dma_rep(unsigned cpu, uint64_t jobs, uint64_t mism,
				   uint64_t faults, uint64_t maps,
				   uint64_t refused, uint64_t msis)
{
	return (struct luvmm_report){
		.magic = LUVMM_REPORT_MAGIC, .version = LUVMM_REPORT_VERSION,
		.type = LUVMM_REPORT_DMA, .cpu = cpu,
		.arg = { jobs, mism, faults, maps, refused, msis },
	};
}

static void check_dma(const struct report_dev *d, unsigned cpu, uint64_t jobs,
		      uint64_t mism, uint64_t faults, uint64_t maps,
		      uint64_t refused, uint64_t msis, int line)
{
	const struct report_dma *m = &d->dma;

	if (m->cpu != cpu || m->jobs != jobs || m->mismatches != mism ||
	    m->faults != faults || m->maps != maps || m->refused != refused ||
	    m->msis != msis)
		tap_fail(__FILE__, line, "dma cpu %u jobs %" PRIu64 " mismatches %" PRIu64
			 " faults %" PRIu64 " maps %" PRIu64 " refused %" PRIu64 " msis %" PRIu64
			 ", expected %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			 " %" PRIu64, m->cpu, m->jobs, m->mismatches, m->faults, m->maps,
			 m->refused, m->msis, cpu, jobs, mism, faults, maps, refused, msis);
}

#define CHECK_DMA(d, ...) check_dma(d, __VA_ARGS__, __LINE__)

/* Accepted reports set the counters; WORKLOAD(dma) names the region. */
static void dma_counters(void)
{
	struct report_dev d;
	struct luvmm_report r;

	log_set_level(LOG_ERR);
	REQUIRE_OK(report_init(&d, NULL, NCPUS, 1000, -1));
	CHECK_EQ(d.dma.cpu, UINT32_MAX);
	CHECK_EQ(d.dma.reports, 0);
	r = rep(2, LUVMM_REPORT_WORKLOAD, LUVMM_WORKLOAD_DMA, 32 * MiB, 16 * MiB, 0);
	CHECK_ERR(0, report_handle(&d, 2, &r));
	CHECK_EQ(d.cpu[2].workload, LUVMM_WORKLOAD_DMA);
	CHECK_EQ(d.dma.base, 32 * MiB);
	CHECK_EQ(d.dma.size, 16 * MiB);
	CHECK_EQ(d.cpu[2].mc_base, 0);	/* not a memcheck region */
	CHECK_EQ(d.cpu[2].mc_size, 0);
	r = dma_rep(2, 0, 0, 0, 18, 0, 0);
	CHECK_ERR(0, report_handle(&d, 2, &r));
	CHECK_DMA(&d, 2, 0, 0, 0, 18, 0, 0);
	r = dma_rep(2, 1000, 0, 0, 143, 0, 61);
	CHECK_ERR(0, report_handle(&d, 2, &r));
	CHECK_DMA(&d, 2, 1000, 0, 0, 143, 0, 61);
	/* equal counters are fine (nothing finished in 50 ms) */
	CHECK_ERR(0, report_handle(&d, 2, &r));
	r = dma_rep(2, 2000, 1, 2, 300, 3, 122);
	CHECK_ERR(0, report_handle(&d, 2, &r));
	CHECK_DMA(&d, 2, 2000, 1, 2, 300, 3, 122);
	r = dma_rep(2, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX);
	CHECK_ERR(0, report_handle(&d, 2, &r));
	CHECK_EQ(d.dma.reports, 5);
	CHECK_EQ(d.reports, 6);
	CHECK_EQ(d.cpu[2].heartbeats, 0);
	report_fini(&d);
	log_set_level(LOG_INFO);
}

/* From a second vCPU, or with any counter going down: rejected, unapplied. */
static void dma_bad_reports(void)
{
	struct report_dev d;
	struct luvmm_report r;
	unsigned k;

	log_set_level(LOG_ERR);
	REQUIRE_OK(report_init(&d, NULL, NCPUS, 1000, -1));
	r = dma_rep(1, 10, 10, 10, 10, 10, 10);
	CHECK_ERR(0, report_handle(&d, 1, &r));
	r = dma_rep(3, 20, 20, 20, 20, 20, 20);
	CHECK_ERR(-EINVAL, report_handle(&d, 3, &r));
	r = dma_rep(0, 20, 20, 20, 20, 20, 20);
	CHECK_ERR(-EINVAL, report_handle(&d, 0, &r));
	for (k = 0; k < 6; k++) {
		r = dma_rep(1, 11, 11, 11, 11, 11, 11);
		r.arg[k] = 9;
		if (report_handle(&d, 1, &r) != -EINVAL)
			tap_fail(__FILE__, __LINE__, "arg%u going down was accepted", k);
	}
	/* the header rules hold for this type too */
	r = dma_rep(1, 11, 11, 11, 11, 11, 11);
	r.reserved = 1;
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	r = dma_rep(2, 11, 11, 11, 11, 11, 11);
	CHECK_ERR(-EINVAL, report_handle(&d, 1, &r));
	CHECK_DMA(&d, 1, 10, 10, 10, 10, 10, 10);
	CHECK_EQ(d.dma.reports, 1);
	CHECK_EQ(d.reports, 1);
	r = dma_rep(1, 11, 10, 10, 12, 10, 10);
	CHECK_ERR(0, report_handle(&d, 1, &r));
	CHECK_DMA(&d, 1, 11, 10, 10, 12, 10, 10);
	report_fini(&d);
	log_set_level(LOG_INFO);
}

/* metrics: guest.dma with every counter; cpu null before the first report. */
static void dma_metrics_json(void)
{
	static const struct {
		const char *path;
		uint64_t want;
	} c[] = {
		{ "guest.dma.cpu", 3 }, { "guest.dma.reports", 1 },
		{ "guest.dma.base", 32 * MiB }, { "guest.dma.size", 16 * MiB },
		{ "guest.dma.jobs", 5000 }, { "guest.dma.mismatches", 1 },
		{ "guest.dma.faults", 2 }, { "guest.dma.maps", 100018 },
		{ "guest.dma.refused", 4 }, { "guest.dma.msis", 777 },
	};
	struct report_dev d;
	struct luvmm_report r;
	struct json_writer w;
	struct json_tok t[256];
	char buf[8192], name[32];
	size_t off, i;
	uint64_t v;
	int k;

	log_set_level(LOG_ERR);
	REQUIRE_OK(report_init(&d, NULL, NCPUS, 1000, -1));
	REQUIRE(report_ops.metrics != NULL);
	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w);
	report_ops.metrics(&d, &w);
	jw_obj_end(&w);
	REQUIRE(jw_finish(&w) > 0);
	REQUIRE(json_parse(buf, strlen(buf), t, ARRAY_SIZE(t), &off) > 0);
	k = json_path(buf, t, 0, "guest.dma.cpu");
	REQUIRE(k > 0);
	CHECK_EQ(t[k].type, JSON_NULL);
	k = json_path(buf, t, 0, "guest.dma.jobs");
	REQUIRE(k > 0);
	CHECK_ERR(0, json_get_u64(buf, &t[k], &v));
	CHECK_EQ(v, 0);

	r = rep(3, LUVMM_REPORT_WORKLOAD, LUVMM_WORKLOAD_DMA, 32 * MiB, 16 * MiB, 0);
	CHECK_ERR(0, report_handle(&d, 3, &r));
	r = dma_rep(3, 5000, 1, 2, 100018, 4, 777);
	CHECK_ERR(0, report_handle(&d, 3, &r));
	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w);
	report_ops.metrics(&d, &w);
	jw_obj_end(&w);
	REQUIRE(jw_finish(&w) > 0);
	REQUIRE(json_parse(buf, strlen(buf), t, ARRAY_SIZE(t), &off) > 0);
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		k = json_path(buf, t, 0, c[i].path);
		if (k < 0 || json_get_u64(buf, &t[k], &v) || v != c[i].want)
			tap_fail(__FILE__, __LINE__, "%s: %d/%" PRIu64 ", want %" PRIu64,
				 c[i].path, k, k < 0 ? 0 : v, c[i].want);
	}
	k = json_path(buf, t, 0, "guest.cpus.3.workload");
	REQUIRE(k > 0);
	CHECK(json_get_str(buf, &t[k], name, sizeof(name)) > 0);
	CHECK_STR(name, "dma");
	report_fini(&d);
	log_set_level(LOG_INFO);
}

/* The JSON-lines log names the type "dma" and carries the six args. */
static void dma_log_line(void)
{
	struct report_dev d;
	struct luvmm_report r;
	struct json_tok t[32];
	char buf[1024], name[32];
	size_t off;
	uint64_t v;
	ssize_t n;
	int fds[2], i, a;

	log_set_level(LOG_ERR);
	REQUIRE(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
	REQUIRE_OK(report_init(&d, NULL, NCPUS, 1000, fds[1]));
	r = dma_rep(1, 64, 0, 0, 22, 0, 9);
	CHECK_ERR(0, report_handle(&d, 1, &r));
	n = read(fds[0], buf, sizeof(buf) - 1);
	REQUIRE(n > 0);
	buf[n] = '\0';
	REQUIRE(json_parse(buf, (size_t)n - 1, t, ARRAY_SIZE(t), &off) > 0);
	i = json_obj_find(buf, t, 0, "type");
	REQUIRE(i > 0);
	CHECK(json_get_str(buf, &t[i], name, sizeof(name)) > 0);
	CHECK_STR(name, "dma");
	a = json_obj_find(buf, t, 0, "arg");
	REQUIRE(a > 0);
	REQUIRE_EQ(t[a].count, 6);
	CHECK_ERR(0, json_get_u64(buf, &t[a + 1 + 3], &v));
	CHECK_EQ(v, 22);
	report_fini(&d);
	close(fds[0]);
	close(fds[1]);
	log_set_level(LOG_INFO);
}

#define REC_LEN		8192
#define DMA_TAIL	(4 + 9 * 8)	/* version 2's part: u32 cpu + 1, 9 u64 */

/* One device section (name + report_save) at a version, cut by `cut` bytes. */
static size_t dev_record(struct report_dev *d, uint8_t *out, uint16_t version,
			 size_t cut)
{
	uint8_t tmp[REC_LEN];
	struct lu_writer w;
	struct lu_reader r;
	struct lu_section sec;
	size_t len = 0;

	lu_writer_init(&w, tmp, sizeof(tmp));
	lu_writer_begin(&w);
	lu_section_begin(&w, LU_SEC_DEVICE, report_ops.state_version, 0, 0);
	lu_put_str(&w, "report");
	report_save(d, &w);
	lu_section_end(&w);
	if (lu_writer_finish(&w, &len) || lu_stream_open(&r, tmp, len, len) ||
	    lu_stream_next(&r, &sec) != 1 || sec.len < cut)
		tap_bail("dev_record: cannot build the record");
	lu_writer_init(&w, out, REC_LEN);
	lu_writer_begin(&w);
	lu_section_begin(&w, LU_SEC_DEVICE, version, 0, 0);
	lu_put_bytes(&w, sec.payload, sec.len - cut);
	lu_section_end(&w);
	if (lu_writer_finish(&w, &len))
		tap_bail("dev_record: cannot write the record");
	return len;
}

/* Decode a dev_record() into d (load only; the caller commits). */
static int dev_load(struct report_dev *d, const uint8_t *rec, size_t len)
{
	struct lu_reader r;
	struct lu_section sec;
	struct lu_dec dec;
	char name[16];

	if (lu_stream_open(&r, rec, len, len) || lu_stream_next(&r, &sec) != 1)
		return -EIO;
	lu_dec_init(&dec, &r, &sec);
	if (lu_get_str(&dec, "name", name, sizeof(name)))
		return -EIO;
	return report_load(d, &dec);
}

static bool tail_is_zero(const uint8_t *rec, size_t len)
{
	struct lu_reader r;
	struct lu_section sec;
	size_t i;

	if (lu_stream_open(&r, rec, len, len) || lu_stream_next(&r, &sec) != 1 ||
	    sec.len < DMA_TAIL)
		return false;
	for (i = sec.len - DMA_TAIL; i < sec.len; i++)
		if (sec.payload[i])
			return false;
	return true;
}

/* Live update: the DMA counters survive save/load; older and bad sections. */
static void dma_state(void)
{
	static uint8_t rec[REC_LEN];
	struct report_dev a, b;
	struct luvmm_report r;
	size_t len, i;

	log_set_level(LOG_ERR);
	REQUIRE_EQ(report_ops.state_version, 2);
	REQUIRE_OK(report_init(&a, NULL, NCPUS, 1000, -1));
	REQUIRE_OK(report_init(&b, NULL, NCPUS, 1000, -1));

	/* no DMA workload: the version 2 tail is all zero (a version 1 reader
	 * accepts it), and loading it keeps "none" */
	len = dev_record(&a, rec, report_ops.state_version, 0);
	CHECK(tail_is_zero(rec, len));
	REQUIRE_OK(dev_load(&b, rec, len));
	report_commit(&b);
	CHECK_EQ(b.dma.cpu, UINT32_MAX);

	r = rep(1, LUVMM_REPORT_WORKLOAD, LUVMM_WORKLOAD_DMA, 32 * MiB, 16 * MiB, 0);
	CHECK_ERR(0, report_handle(&a, 1, &r));
	r = dma_rep(1, 123456, 1, 2, 100018, 3, 4567);
	CHECK_ERR(0, report_handle(&a, 1, &r));
	len = dev_record(&a, rec, report_ops.state_version, 0);
	CHECK(!tail_is_zero(rec, len));
	REQUIRE_OK(dev_load(&b, rec, len));
	report_commit(&b);
	CHECK_DMA(&b, 1, 123456, 1, 2, 100018, 3, 4567);
	CHECK_EQ(b.dma.reports, 1);
	CHECK_EQ(b.dma.base, 32 * MiB);
	CHECK_EQ(b.dma.size, 16 * MiB);
	CHECK_EQ(b.cpu[1].workload, LUVMM_WORKLOAD_DMA);
	/* the restored device goes on checking against the saved counters */
	r = dma_rep(1, 123455, 1, 2, 100018, 3, 4567);
	CHECK_ERR(-EINVAL, report_handle(&b, 1, &r));
	r = dma_rep(2, 123457, 1, 2, 100018, 3, 4567);
	CHECK_ERR(-EINVAL, report_handle(&b, 2, &r));

	/* a version 1 section (no DMA part) loads with the defaults */
	len = dev_record(&a, rec, 1, DMA_TAIL);
	REQUIRE_OK(dev_load(&b, rec, len));
	report_commit(&b);
	CHECK_EQ(b.dma.cpu, UINT32_MAX);
	CHECK_EQ(b.dma.jobs, 0);
	CHECK_EQ(b.dma.reports, 0);
	/* version 1 with the tail still there: bytes after the last field */
	len = dev_record(&a, rec, 1, 0);
	CHECK_ERR(-EBADMSG, dev_load(&b, rec, len));
	/* every truncation of the tail */
	for (i = 1; i <= DMA_TAIL; i++) {
		len = dev_record(&a, rec, report_ops.state_version, i);
		if (dev_load(&b, rec, len) != -EBADMSG)
			tap_fail(__FILE__, __LINE__, "tail cut by %zu accepted", i);
	}
	/* a DMA vCPU this VM does not have */
	a.dma.cpu = NCPUS;
	len = dev_record(&a, rec, report_ops.state_version, 0);
	CHECK_ERR(-EBADMSG, dev_load(&b, rec, len));
	a.dma.cpu = NCPUS - 1;
	len = dev_record(&a, rec, report_ops.state_version, 0);
	REQUIRE_OK(dev_load(&b, rec, len));
	report_commit(&b);
	CHECK_EQ(b.dma.cpu, NCPUS - 1);
	report_fini(&a);
	report_fini(&b);
	log_set_level(LOG_INFO);
}

/* ---- the port handler ------------------------------------------------------ */

static void io(struct report_dev *d, uint64_t off, void *data, uint32_t len, bool w)
{
	report_io(d, off, data, len, w);
}

static void info_port(void)
{
	struct report_dev d;
	uint32_t v;
	uint8_t b[8];
	unsigned off;

	REQUIRE_OK(report_init(&d, NULL, 1, 1000, -1));
	v = 0;
	io(&d, OFF_INFO, &v, 4, false);
	CHECK_EQ(v, LUVMM_INFO_MAGIC);
	memset(b, 0xee, sizeof(b));
	io(&d, OFF_INFO, b, 1, false);
	CHECK_EQ(b[0], LUVMM_INFO_MAGIC & 0xff);
	CHECK_EQ(b[1], 0xee);
	memset(b, 0xee, sizeof(b));
	io(&d, OFF_INFO, b, 2, false);
	CHECK_EQ(b[0] | b[1] << 8, LUVMM_INFO_MAGIC & 0xffff);
	/* writes to it do nothing */
	v = 0x12345678;
	io(&d, OFF_INFO, &v, 4, true);
	v = 0;
	io(&d, OFF_INFO, &v, 4, false);
	CHECK_EQ(v, LUVMM_INFO_MAGIC);
	/* the report and power-off ports read as 0, the gaps as all-ones */
	v = 0x55555555;
	io(&d, OFF_REPORT, &v, 4, false);
	CHECK_EQ(v, 0);
	v = 0x55555555;
	io(&d, OFF_POWEROFF, &v, 4, false);
	CHECK_EQ(v, 0);
	for (off = 0; off < 12; off++) {
		if (off == OFF_REPORT || off == OFF_POWEROFF || off == OFF_INFO)
			continue;
		b[0] = 0;
		io(&d, off, b, 1, false);
		if (b[0] != 0xff)
			tap_fail(__FILE__, __LINE__, "port 0x%x read 0x%x", LUVMM_PORT_REPORT + off, b[0]);
	}
	CHECK_EQ(d.poweroff_status, -1);
	report_fini(&d);
}

static void poweroff_port(void)
{
	struct report_dev d;
	uint32_t v;

	log_set_level(LOG_ERR);
	REQUIRE_OK(report_init(&d, NULL, 1, 1000, -1));
	CHECK(d.vm == NULL);
	v = 42;
	io(&d, OFF_POWEROFF, &v, 1, true);
	CHECK_EQ(d.poweroff_status, 42);
	v = 7;
	io(&d, OFF_POWEROFF, &v, 1, true);
	CHECK_EQ(d.poweroff_status, 42);	/* the first status wins */
	report_fini(&d);

	REQUIRE_OK(report_init(&d, NULL, 1, 1000, -1));
	v = 0x1ff;
	io(&d, OFF_POWEROFF, &v, 4, true);
	CHECK_EQ(d.poweroff_status, 0xff);	/* low 8 bits */
	report_fini(&d);

	REQUIRE_OK(report_init(&d, NULL, 1, 1000, -1));
	v = 0;
	io(&d, OFF_POWEROFF, &v, 2, true);
	CHECK_EQ(d.poweroff_status, 0);
	report_fini(&d);
	log_set_level(LOG_INFO);
}

/* report_io reads the struct from guest RAM; outside a vCPU thread there
 * is no reporting vCPU, so every report counts as bad. */
static void report_port_outside_vcpu(void)
{
	struct report_dev d;
	struct mem m;
	struct luvmm_report r = rep(0, LUVMM_REPORT_HEARTBEAT, 1, 0, 0, 0);
	char err[256];
	uint32_t gpa;

	log_set_level(LOG_ERR);
	REQUIRE_OK(mem_init(&m, 64 * MiB, false, err, sizeof(err)));
	if (report_init(&d, &m, 1, 1000, -1)) {
		mem_fini(&m);
		REQUIRE(0);
	}
	memcpy(mem_gpa_to_hva(&m, 0x10000, sizeof(r)), &r, sizeof(r));
	gpa = 0x10000;
	io(&d, OFF_REPORT, &gpa, 4, true);
	CHECK_EQ(d.bad_reports, 1);
	CHECK_EQ(d.reports, 0);
	CHECK_EQ(d.cpu[0].heartbeats, 0);
	/* misaligned, outside RAM, straddling its end */
	memcpy(mem_gpa_to_hva(&m, 0x10004, sizeof(r)), &r, sizeof(r));
	gpa = 0x10004;
	io(&d, OFF_REPORT, &gpa, 4, true);
	CHECK_EQ(d.bad_reports, 2);
	gpa = 0xfee00000;
	io(&d, OFF_REPORT, &gpa, 4, true);
	CHECK_EQ(d.bad_reports, 3);
	gpa = 64 * MiB - 32;
	io(&d, OFF_REPORT, &gpa, 4, true);
	CHECK_EQ(d.bad_reports, 4);
	gpa = 64 * MiB - 64;	/* fits exactly: still bad (no vCPU) */
	io(&d, OFF_REPORT, &gpa, 4, true);
	CHECK_EQ(d.bad_reports, 5);
	/* only 32-bit writes are reports */
	gpa = 0x10000;
	io(&d, OFF_REPORT, &gpa, 2, true);
	io(&d, OFF_REPORT, &gpa, 1, true);
	CHECK_EQ(d.bad_reports, 5);
	CHECK_EQ(d.reports, 0);
	CHECK_EQ(d.poweroff_status, -1);
	report_fini(&d);
	mem_fini(&m);
	log_set_level(LOG_INFO);
}

/* vCPU threads report concurrently: no update is lost. */
struct hb_thread {
	struct report_dev *d;
	unsigned cpu;
	int fails;
};

static void *hb_fn(void *arg)
{
	struct hb_thread *h = arg;
	uint64_t s;

	for (s = 1; s <= 20000; s++) {
		struct luvmm_report r = rep(h->cpu, LUVMM_REPORT_HEARTBEAT, s, s, s, s);

		if (report_handle(h->d, h->cpu, &r))
			h->fails++;
	}
	return NULL;
}

static void concurrent_reporters(void)
{
	struct report_dev d;
	struct hb_thread h[NCPUS];
	pthread_t t[NCPUS];
	unsigned i;

	REQUIRE_OK(report_init(&d, NULL, NCPUS, 1000, -1));
	for (i = 0; i < NCPUS; i++) {
		h[i] = (struct hb_thread){ &d, i, 0 };
		REQUIRE(pthread_create(&t[i], NULL, hb_fn, &h[i]) == 0);
	}
	for (i = 0; i < NCPUS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(d.reports, NCPUS * 20000);
	for (i = 0; i < NCPUS; i++) {
		CHECK_EQ(h[i].fails, 0);
		CHECK_EQ(d.cpu[i].heartbeats, 20000);
		CHECK_EQ(d.cpu[i].hb_seq_breaks, 0);
		CHECK_EQ(d.cpu[i].hb_seq, 20000);
	}
	report_fini(&d);
}

static const struct tap_case cases[] = {
	TAP_CASE(handle_validation),
	TAP_CASE(heartbeat_sequence),
	TAP_CASE(counters_per_type),
	TAP_CASE(tsc_conversion),
	TAP_CASE(json_log_lines),
	TAP_CASE(dma_counters),
	TAP_CASE(dma_bad_reports),
	TAP_CASE(dma_metrics_json),
	TAP_CASE(dma_log_line),
	TAP_CASE(dma_state),
	TAP_CASE(info_port),
	TAP_CASE(poweroff_port),
	TAP_CASE(report_port_outside_vcpu),
	TAP_CASE(concurrent_reporters),
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
