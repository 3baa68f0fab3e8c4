/* SPDX-License-Identifier: MIT */
/*
 * lu_rec.h: record surgery for the tests of the live-update sections
 * (test_lu_oldrec.c, test_lu_sections.c, integration/test_state_live.c).
 * Header only, so that each test binary stays one file plus the harness.
 *
 * A test hands in a whole record and a decode function (its loader:
 * lu_prepare_read(), lu_state_read(), a device's load op) and gets:
 *   - every truncation of a section's payload, the record re-framed around
 *     it: the loader must say -EBADMSG, naming the section and a field
 *     that is "truncated";
 *   - every single-bit flip of a section's payload, with the CRC re-sealed:
 *     the loader must refuse it with -EBADMSG naming the section, or accept
 *     it, and then (if the test can see the decoded value) the value must
 *     differ from the original: no payload bit is ignored;
 *   - every flip with the CRC left alone: refused as a CRC mismatch.
 */
#ifndef LUVMM_TESTS_LU_REC_H
#define LUVMM_TESTS_LU_REC_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vmm/config.h"
#include "../vmm/devices/devices.h"
#include "../vmm/json.h"
#include "../vmm/liveupdate/crc32c.h"
#include "../vmm/liveupdate/state.h"
#include "tap.h"

static inline bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Every field of the config section the same (what a round trip keeps). */
static inline bool config_eq(const struct config *a, const struct config *b)
{
	return str_eq(a->kernel, b->kernel) && str_eq(a->cmdline, b->cmdline) &&
	       str_eq(a->workload, b->workload) && str_eq(a->memcheck, b->memcheck) &&
	       a->boot == b->boot && a->ncpus == b->ncpus && a->mem_bytes == b->mem_bytes &&
	       a->hugetlb == b->hugetlb && a->serial == b->serial &&
	       str_eq(a->serial_path, b->serial_path) && str_eq(a->api_path, b->api_path) &&
	       str_eq(a->report_log, b->report_log) && str_eq(a->device, b->device) &&
	       a->verbose == b->verbose;
}

/*
 * A number out of the devices' metrics object, by dotted path. is_null
 * (may be NULL): set when the value is JSON null, which is then 0 with *v
 * untouched; without it a null is an error. 0 or -errno.
 */
static inline int rec_dev_metric(struct devices *d, const char *path, uint64_t *v,
				 bool *is_null)
{
	static char buf[16384];
	struct json_tok t[512];
	struct json_writer w;
	size_t off;
	int n, i;

	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w);
	devices_metrics(d, &w);
	jw_obj_end(&w);
	if (jw_finish(&w) < 0)
		return -ENOSPC;
	n = json_parse(buf, strlen(buf), t, ARRAY_SIZE(t), &off);
	if (n < 0)
		return n;
	i = json_path(buf, t, 0, path);
	if (i < 0)
		return i;
	if (is_null) {
		*is_null = t[i].type == JSON_NULL;
		if (*is_null)
			return 0;
	}
	return json_get_u64(buf, &t[i], v);
}

#define REC_MAX_SECTIONS	16
#define REC_MSG_LEN		256
#define REC_MAX_FAILS		5	/* failures shown per check, then counted */

/* Decode a whole record: 0, or a negative errno with the reason in msg. */
typedef int (*rec_decode_fn)(void *ctx, const uint8_t *rec, size_t len, char *msg,
			     size_t cap);
/* After an accepted flip of payload byte off of sec: did what the loader
 * decoded change? NULL: the test cannot see the decoded value. */
typedef bool (*rec_changed_fn)(void *ctx, const struct lu_section *sec, size_t off);

/* The counts of one flip run. */
struct rec_flips {
	unsigned long refused, accepted;
};

/* After patching bytes of a record: its CRC over [0, total - 8) again. */
static inline void rec_reseal(uint8_t *rec)
{
	size_t total = get_le64(rec + 16);

	put_le32(rec + total - 8, crc32c(0, rec, total - 8));
}

/* The sections of a record in order (at most max); bails if it is bad. */
static inline unsigned rec_sections(const uint8_t *rec, size_t len,
				    struct lu_section *out, unsigned max)
{
	struct lu_reader r;
	unsigned n = 0;

	if (lu_stream_open(&r, rec, len, len))
		tap_bail("rec_sections: %s", lu_reader_msg(&r));
	while (n < max && lu_stream_next(&r, &out[n]) == 1)
		n++;
	return n;
}

/* "section \"vcpu\" instance 1", as the codec names a section. */
static inline void rec_label(char *buf, size_t cap, const struct lu_section *s)
{
	const char *name = lu_section_name(s->type);

	if (name)
		snprintf(buf, cap, "section \"%s\" instance %u", name, s->instance);
	else
		snprintf(buf, cap, "section 0x%x instance %u", s->type, s->instance);
}

/*
 * The record again, every section as it was except that section k keeps
 * only the first keep bytes of its payload. Length written to out, or 0.
 */
static inline size_t rec_cut(const uint8_t *rec, size_t len, unsigned k, size_t keep,
			     uint8_t *out, size_t cap)
{
	struct lu_section s[REC_MAX_SECTIONS];
	unsigned n = rec_sections(rec, len, s, REC_MAX_SECTIONS), i;
	struct lu_writer w;
	size_t olen = 0;

	lu_writer_init(&w, out, cap);
	lu_writer_begin(&w);
	for (i = 0; i < n; i++) {
		lu_section_begin(&w, s[i].type, s[i].version, s[i].flags, s[i].instance);
		lu_put_bytes(&w, s[i].payload, i == k ? keep : s[i].len);
		lu_section_end(&w);
	}
	return lu_writer_finish(&w, &olen) ? 0 : olen;
}

/*
 * Every truncation of section k's payload (all sections for k < 0):
 * -EBADMSG with a message that names the section and says which field
 * is truncated.
 */
static inline void rec_check_truncations(const uint8_t *rec, size_t len, int k,
					 rec_decode_fn decode, void *ctx,
					 const char *file, int line)
{
	struct lu_section s[REC_MAX_SECTIONS];
	unsigned n = rec_sections(rec, len, s, REC_MAX_SECTIONS), i, fails = 0;
	uint8_t *out = malloc(len);
	char msg[REC_MSG_LEN], label[96];
	size_t keep, olen;
	int ret;

	if (!out)
		tap_bail("rec_check_truncations: out of memory");
	for (i = 0; i < n; i++) {
		if (k >= 0 && i != (unsigned)k)
			continue;
		rec_label(label, sizeof(label), &s[i]);
		for (keep = 0; keep < s[i].len; keep++) {
			olen = rec_cut(rec, len, i, keep, out, len);
			if (!olen)
				tap_bail("rec_cut failed");
			msg[0] = '\0';
			ret = decode(ctx, out, olen, msg, sizeof(msg));
			if (ret == -EBADMSG && strstr(msg, label) &&
			    strstr(msg, " field \"") && strstr(msg, "truncated"))
				continue;
			if (++fails <= REC_MAX_FAILS)
				tap_fail(file, line, "%s cut to %zu of %u bytes: %d (%s)",
					 label, keep, s[i].len, ret, msg);
		}
	}
	if (fails > REC_MAX_FAILS)
		tap_fail(file, line, "%u truncations misjudged in all", fails);
	free(out);
}
#define REC_CHECK_TRUNCATIONS(rec, len, k, decode, ctx) \
	rec_check_truncations(rec, len, k, decode, ctx, __FILE__, __LINE__)

/*
 * Flip every bit of section k's payload (all sections for k < 0), one at
 * a time. sealed: the CRC is re-sealed, so the section's own validation
 * answers (refused naming the section, or accepted with changed() true);
 * otherwise the CRC must refuse every flip. rec is restored afterwards.
 */
static inline struct rec_flips rec_check_flips(uint8_t *rec, size_t len, int k, bool sealed,
					       rec_decode_fn decode, rec_changed_fn changed,
					       void *ctx, const char *file, int line)
{
	struct lu_section s[REC_MAX_SECTIONS];
	unsigned n = rec_sections(rec, len, s, REC_MAX_SECTIONS), i, bit, fails = 0;
	struct rec_flips f = { 0, 0 };
	char msg[REC_MSG_LEN], label[96];
	uint8_t trailer[LU_TRAILER_LEN], *p;
	size_t off;
	int ret;

	memcpy(trailer, rec + len - LU_TRAILER_LEN, LU_TRAILER_LEN);
	for (i = 0; i < n; i++) {
		if (k >= 0 && i != (unsigned)k)
			continue;
		rec_label(label, sizeof(label), &s[i]);
		for (off = 0; off < s[i].len; off++) {
			p = rec + (s[i].payload - rec) + off;
			for (bit = 0; bit < 8; bit++) {
				*p ^= (uint8_t)(1u << bit);
				if (sealed)
					rec_reseal(rec);
				msg[0] = '\0';
				ret = decode(ctx, rec, len, msg, sizeof(msg));
				*p ^= (uint8_t)(1u << bit);
				memcpy(rec + len - LU_TRAILER_LEN, trailer, LU_TRAILER_LEN);
				if (ret == 0 && sealed) {
					f.accepted++;
					if (!changed || changed(ctx, &s[i], off))
						continue;
					snprintf(msg, sizeof(msg), "accepted, decoded value unchanged");
				} else if (ret == -EBADMSG &&
					   strstr(msg, sealed ? label : "trailer: CRC mismatch")) {
					f.refused++;
					continue;
				}
				if (++fails <= REC_MAX_FAILS)
					tap_fail(file, line, "%s byte %zu bit %u: %d (%s)", label,
						 off, bit, ret, msg);
			}
		}
	}
	if (fails > REC_MAX_FAILS)
		tap_fail(file, line, "%u flips misjudged in all", fails);
	return f;
}
#define REC_CHECK_FLIPS(rec, len, k, sealed, decode, changed, ctx) \
	rec_check_flips(rec, len, k, sealed, decode, changed, ctx, __FILE__, __LINE__)

/*
 * One flip with the CRC re-sealed: the loader's verdict and message (for
 * checking the exact message a field's validation gives).
 */
static inline int rec_flip_one(uint8_t *rec, size_t len, const struct lu_section *s,
			       size_t off, unsigned bit, rec_decode_fn decode, void *ctx,
			       char *msg, size_t cap)
{
	uint8_t trailer[LU_TRAILER_LEN], *p = rec + (s->payload - rec) + off;
	int ret;

	memcpy(trailer, rec + len - LU_TRAILER_LEN, LU_TRAILER_LEN);
	*p ^= (uint8_t)(1u << bit);
	rec_reseal(rec);
	msg[0] = '\0';
	ret = decode(ctx, rec, len, msg, cap);
	*p ^= (uint8_t)(1u << bit);
	memcpy(rec + len - LU_TRAILER_LEN, trailer, LU_TRAILER_LEN);
	return ret;
}

#endif
