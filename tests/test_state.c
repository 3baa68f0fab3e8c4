// SPDX-License-Identifier: MIT
/*
 * test_state.c: the state record codec (vmm/liveupdate/state.c, crc32c.c):
 * CRC vectors, round trips, whole-stream validation, the version rules,
 * decoder bounds and messages, writer overflow and misuse.
 *
 * The loader here follows STYLE §6.5: decode every section into scratch,
 * apply to the "live" state only when the whole record validated.
 *
 * "test_state --write-corpus DIR" writes valid records into DIR as seeds
 * for fuzz/fuzz_state.c and exits.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../vmm/liveupdate/crc32c.h"
#include "../vmm/liveupdate/state.h"
#include "tap.h"

#define BUF_LEN		4096
#define MAX_REC		(1u << 20)
#define G_DEFAULT	0x5555555555555555ull	/* "g" when absent (version 1) */
#define TEST_VERSION	2			/* newest version we know */
#define MAX_LIVE	4

/* The test section. Version 1: a..items; version 2 appends g. */
struct test_sec {
	uint32_t instance;
	uint8_t a;		/* 0xff is reserved */
	bool b;
	uint16_t c;
	uint32_t d;
	uint64_t e;
	uint8_t f[6];
	char name[16];
	uint32_t n;		/* items used, <= 8 */
	uint32_t items[8];
	uint64_t g;		/* version 2 */
};

struct live {
	unsigned int n;
	struct test_sec sec[MAX_LIVE];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct test_sec sample(uint32_t instance)
{
	struct test_sec s = {
		.instance = instance,
		.a = (uint8_t)(0x10 + instance),
		.b = instance & 1,
		.c = (uint16_t)(0xbeef + instance),
		.d = 0xdeadbeef ^ instance,
		.e = 0x0123456789abcdefull + instance,
		.f = { 1, 2, 3, 4, 5, (uint8_t)instance },
		.n = instance % 9,
		.g = 0xfedcba9876543210ull - instance,
	};
	unsigned int i;

	snprintf(s.name, sizeof(s.name), "dev%u", instance);
	for (i = 0; i < s.n; i++)
		s.items[i] = 1000 * instance + i;
	return s;
}

/* Version 3 (unknown to the reader) appends a u64 "tail". */
static void test_sec_write(struct lu_writer *w, const struct test_sec *s,
			   uint16_t version, uint16_t flags, uint64_t tail)
{
	unsigned int i;

	lu_section_begin(w, LU_SEC_TEST, version, flags, s->instance);
	lu_put_u8(w, s->a);
	lu_put_bool(w, s->b);
	lu_put_u16(w, s->c);
	lu_put_u32(w, s->d);
	lu_put_u64(w, s->e);
	lu_put_bytes(w, s->f, sizeof(s->f));
	lu_put_str(w, s->name);
	lu_put_u32(w, s->n);
	for (i = 0; i < s->n; i++)
		lu_put_u32(w, s->items[i]);
	if (version >= 2)
		lu_put_u64(w, s->g);
	if (version >= 3)
		lu_put_u64(w, tail);
	lu_section_end(w);
}

/* Decode into scratch; *out is written only on success. */
static int test_sec_decode(struct lu_reader *r, const struct lu_section *sec,
			   struct test_sec *out)
{
	struct test_sec s = { .instance = sec->instance };
	struct lu_dec d;
	unsigned int i;
	int ret;

	lu_dec_init(&d, r, sec);
	lu_check(&d, sec->instance < MAX_LIVE, NULL, "instance out of range");
	lu_get_u8(&d, "a", &s.a);
	lu_check(&d, s.a != 0xff, "a", "value 0xff is reserved");
	lu_get_bool(&d, "b", &s.b);
	lu_get_u16(&d, "c", &s.c);
	lu_get_u32(&d, "d", &s.d);
	lu_get_u64(&d, "e", &s.e);
	lu_get_bytes(&d, "f", s.f, sizeof(s.f));
	lu_get_str(&d, "name", s.name, sizeof(s.name));
	if (!lu_get_count(&d, "n", ARRAY_SIZE(s.items), 4, &s.n))
		for (i = 0; i < s.n; i++)
			lu_get_u32(&d, "items", &s.items[i]);
	/* The older-version pattern: absent fields take the spec's default. */
	if (d.version >= 2)
		lu_get_u64(&d, "g", &s.g);
	else
		s.g = G_DEFAULT;
	ret = lu_dec_finish(&d, TEST_VERSION);
	if (ret)
		return ret;
	*out = s;
	return 0;
}

/* Validate and decode everything; touch *live only if all of it is good. */
static int load_all(struct lu_reader *r, const void *buf, size_t avail,
		    struct live *live)
{
	struct test_sec scratch[MAX_LIVE];
	struct lu_section s;
	unsigned int n = 0;
	int ret;

	ret = lu_stream_open(r, buf, avail, MAX_REC);
	if (ret)
		return ret;
	while ((ret = lu_stream_next(r, &s)) > 0) {
		if (s.type != LU_SEC_TEST) {
			ret = lu_stream_unhandled(r, &s);
			if (ret)
				return ret;
			continue;
		}
		if (n == MAX_LIVE)
			return -EBADMSG;
		ret = test_sec_decode(r, &s, &scratch[n]);
		if (ret)
			return ret;
		n++;
	}
	memcpy(live->sec, scratch, n * sizeof(scratch[0]));
	live->n = n;
	return 0;
}

/* A record with test sections for instances 0..count-1 (version 2). */
static size_t build(uint8_t *buf, size_t cap, unsigned int count)
{
	struct lu_writer w;
	unsigned int i;
	size_t len = 0;

	lu_writer_init(&w, buf, cap);
	lu_writer_begin(&w);
	for (i = 0; i < count; i++) {
		struct test_sec s = sample(i);

		test_sec_write(&w, &s, TEST_VERSION, 0, 0);
	}
	if (lu_writer_finish(&w, &len))
		tap_bail("build: writer failed");
	return len;
}

/* A record with one section of the given header and raw payload. */
static size_t build_raw(uint8_t *buf, uint32_t type, uint16_t version,
			uint16_t flags, uint32_t instance, const void *payload,
			size_t plen)
{
	struct lu_writer w;
	size_t len = 0;

	lu_writer_init(&w, buf, BUF_LEN);
	lu_writer_begin(&w);
	lu_section_begin(&w, type, version, flags, instance);
	lu_put_bytes(&w, payload, plen);
	lu_section_end(&w);
	if (lu_writer_finish(&w, &len))
		tap_bail("build_raw: writer failed");
	return len;
}

/* The payload bytes of sample(instance) at a version (tail 0 for v3). */
static size_t sample_payload(uint8_t *out, uint32_t instance, uint16_t version,
			     uint64_t tail)
{
	uint8_t buf[BUF_LEN];
	struct test_sec s = sample(instance);
	struct lu_writer w;
	struct lu_section sec;
	struct lu_reader r;
	size_t len;

	lu_writer_init(&w, buf, sizeof(buf));
	lu_writer_begin(&w);
	test_sec_write(&w, &s, version, 0, tail);
	if (lu_writer_finish(&w, &len) || lu_stream_open(&r, buf, len, len) ||
	    lu_stream_next(&r, &sec) != 1)
		tap_bail("sample_payload failed");
	memcpy(out, sec.payload, sec.len);
	return sec.len;
}

/* After patching a header or section field: recompute the trailer CRC. */
static void fix_crc(uint8_t *b)
{
	size_t total = get_le64(b + 16);

	put_le32(b + total - 8, crc32c(0, b, total - 8));
}

static bool msg_has(const struct lu_reader *r, const char *s)
{
	if (strstr(lu_reader_msg(r), s))
		return true;
	tap_diag("message \"%s\" lacks \"%s\"", lu_reader_msg(r), s);
	return false;
}

static bool test_sec_eq(const struct test_sec *a, const struct test_sec *b)
{
	return a->instance == b->instance && a->a == b->a && a->b == b->b &&
	       a->c == b->c && a->d == b->d && a->e == b->e &&
	       !memcmp(a->f, b->f, sizeof(a->f)) && !strcmp(a->name, b->name) &&
	       a->n == b->n &&
	       !memcmp(a->items, b->items, a->n * sizeof(a->items[0])) &&
	       a->g == b->g;
}

/* Expect load_all() to fail with err and leave live untouched. */
static void expect_reject(const uint8_t *b, size_t avail, int err,
			  const char *file, int line)
{
	struct live live, before;
	struct lu_reader r;
	int ret;

	memset(&live, 0x5a, sizeof(live));
	before = live;
	ret = load_all(&r, b, avail, &live);
	if (ret != err)
		tap_fail(file, line, "expected %d, got %d (%s)", err, ret,
			 lu_reader_msg(&r));
	else if (!lu_reader_msg(&r)[0])
		tap_fail(file, line, "rejected without a message");
	if (memcmp(&live, &before, sizeof(live)))
		tap_fail(file, line, "live state changed by a rejected record");
}
#define EXPECT_REJECT(b, avail, err) expect_reject(b, avail, err, __FILE__, __LINE__)

/* ---- CRC ----------------------------------------------------------------- */

static void crc_known_vectors(void)
{
	static const struct {
		uint8_t fill;	/* 0, 0xff, or 1/2 for up/down counting */
		uint32_t crc;
	} rfc3720[] = {	/* RFC 3720 B.4: 32-byte buffers */
		{ 0x00, 0x8a9136aa }, { 0xff, 0x62a8ab43 },
		{ 1, 0x46dd794e }, { 2, 0x113fdb5c },
	};
	uint32_t (*impl[])(uint32_t, const void *, size_t) = {
		crc32c_sw, crc32c_hw, crc32c,
	};
	uint8_t b[32];
	size_t i, k, j;

	for (k = 0; k < ARRAY_SIZE(impl); k++) {
		if (impl[k] == crc32c_hw && !crc32c_hw_available()) {
			tap_diag("no SSE4.2: hardware CRC not tested");
			continue;
		}
		CHECK_EQ(impl[k](0, "123456789", 9), 0xe3069283);
		CHECK_EQ(impl[k](0, NULL, 0), 0);
		CHECK_EQ(impl[k](impl[k](0, "1234", 4), "56789", 5), 0xe3069283);
		for (i = 0; i < ARRAY_SIZE(rfc3720); i++) {
			for (j = 0; j < sizeof(b); j++)
				b[j] = rfc3720[i].fill == 1 ? (uint8_t)j :
				       rfc3720[i].fill == 2 ? (uint8_t)(31 - j) :
				       rfc3720[i].fill;
			CHECK_EQ(impl[k](0, b, sizeof(b)), rfc3720[i].crc);
		}
	}
}

static void crc_hw_matches_sw(void)
{
	static uint8_t b[3 * 8192 + 64];
	unsigned int iter;
	size_t i;

	if (!crc32c_hw_available()) {
		tap_skip("CPU lacks SSE4.2");
		return;
	}
	tap_rng_seed();
	for (i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)tap_rng();
	/* Every length around the 3-lane block boundaries, then random. */
	for (i = 0; i <= 3 * 256 * 3 + 16; i++)
		CHECK_EQ(crc32c_hw(0x1234, b + (i & 7), i),
			 crc32c_sw(0x1234, b + (i & 7), i));
	for (iter = 0; iter < 2000; iter++) {
		size_t off = tap_rng() % 64, n = tap_rng() % (sizeof(b) - 64);
		uint32_t seed = (uint32_t)tap_rng();

		if (crc32c_hw(seed, b + off, n) != crc32c_sw(seed, b + off, n)) {
			tap_fail(__FILE__, __LINE__, "hw != sw: off %zu len %zu",
				 off, n);
			return;
		}
	}
}

static double crc_mbps(uint32_t (*fn)(uint32_t, const void *, size_t),
		       const uint8_t *b, size_t n, unsigned int reps)
{
	volatile uint32_t sink = 0;
	unsigned int i;
	double t0 = now_s();

	for (i = 0; i < reps; i++)
		sink += fn(i, b, n);
	(void)sink;
	return (double)n * reps / (now_s() - t0) / 1e6;
}

/* Informational: throughput lines for the notes, no thresholds. */
static void crc_and_writer_speed(void)
{
	static uint8_t b[1 << 20], rec[64 << 10], xsave[4096];
	struct lu_writer w;
	unsigned int i, j, k, reps = 2000;
	size_t len = 0;
	double t0, t1;

	memset(b, 0x3c, sizeof(b));
	tap_diag("crc32c sw: %.0f MB/s (20 KiB), %.0f MB/s (1 MiB)",
		 crc_mbps(crc32c_sw, b, 20 << 10, 2000),
		 crc_mbps(crc32c_sw, b, sizeof(b), 20));
	if (crc32c_hw_available())
		tap_diag("crc32c hw: %.0f MB/s (20 KiB), %.0f MB/s (1 MiB)",
			 crc_mbps(crc32c_hw, b, 20 << 10, 20000),
			 crc_mbps(crc32c_hw, b, sizeof(b), 200));

	/* A ~20 KB record: 2 "vcpus" (4 KiB xsave + 700 u64) + 8 small ones. */
	t0 = now_s();
	for (i = 0; i < reps; i++) {
		lu_writer_init(&w, rec, sizeof(rec));
		lu_writer_begin(&w);
		for (j = 0; j < 2; j++) {
			lu_section_begin(&w, LU_SEC_VCPU, 1, 0, j);
			lu_put_bytes(&w, xsave, sizeof(xsave));
			for (k = 0; k < 700; k++)
				lu_put_u64(&w, (uint64_t)k * i);
			lu_section_end(&w);
		}
		for (j = 0; j < 8; j++) {
			lu_section_begin(&w, LU_SEC_DEVICE, 1, 0, j);
			for (k = 0; k < 16; k++)
				lu_put_u32(&w, k ^ i);
			lu_section_end(&w);
		}
		REQUIRE_OK(lu_writer_finish(&w, &len));
	}
	t1 = now_s();
	tap_diag("writer: %zu-byte record in %.2f us (puts + CRC)", len,
		 (t1 - t0) / reps * 1e6);
}

/* ---- round trips ---------------------------------------------------------- */

static void roundtrip_all_field_types(void)
{
	uint8_t buf[BUF_LEN];
	struct test_sec in = sample(7), out;
	struct lu_writer w;
	struct lu_reader r;
	struct lu_section sec;
	size_t len = 0;

	in.b = true;
	in.instance = 3;
	lu_writer_init(&w, buf, sizeof(buf));
	lu_writer_begin(&w);
	test_sec_write(&w, &in, TEST_VERSION, 0, 0);
	REQUIRE_OK(lu_writer_finish(&w, &len));
	CHECK_EQ(len % 8, 0);
	CHECK_EQ(get_le64(buf + 16), len);

	REQUIRE_OK(lu_stream_open(&r, buf, len, len));
	CHECK_EQ(r.major, LU_MAJOR);
	CHECK_EQ(r.minor, LU_MINOR);
	CHECK_EQ(r.nsections, 1);
	REQUIRE_EQ(lu_stream_next(&r, &sec), 1);
	CHECK_EQ(sec.type, LU_SEC_TEST);
	CHECK_EQ(sec.version, TEST_VERSION);
	CHECK_EQ(sec.instance, 3);
	CHECK_EQ(sec.offset, LU_HDR_LEN);
	REQUIRE_OK(test_sec_decode(&r, &sec, &out));
	CHECK(test_sec_eq(&in, &out));
	CHECK_EQ(lu_stream_next(&r, &sec), 0);
	CHECK_STR(lu_reader_msg(&r), "");
}

static void roundtrip_many_sections(void)
{
	uint8_t buf[BUF_LEN];
	struct live live = { 0 };
	struct lu_reader r;
	struct lu_section sec;
	unsigned int i, n = 0;
	size_t len = build(buf, sizeof(buf), MAX_LIVE);

	REQUIRE_OK(load_all(&r, buf, len, &live));
	REQUIRE_EQ(live.n, MAX_LIVE);
	for (i = 0; i < MAX_LIVE; i++) {
		struct test_sec want = sample(i);

		CHECK(test_sec_eq(&live.sec[i], &want));
	}
	CHECK_EQ(r.nsections, MAX_LIVE);
	lu_stream_rewind(&r);
	while (lu_stream_next(&r, &sec) > 0)
		CHECK_EQ(sec.instance, n++);
	CHECK_EQ(n, MAX_LIVE);
}

static void empty_record_and_empty_section(void)
{
	uint8_t buf[BUF_LEN];
	struct lu_writer w;
	struct lu_reader r;
	struct lu_section sec;
	size_t len = 0;

	lu_writer_init(&w, buf, sizeof(buf));
	lu_writer_begin(&w);
	REQUIRE_OK(lu_writer_finish(&w, &len));
	CHECK_EQ(len, LU_MIN_LEN);
	REQUIRE_OK(lu_stream_open(&r, buf, len, len));
	CHECK_EQ(lu_stream_next(&r, &sec), 0);

	len = build_raw(buf, LU_SEC_VM, 1, 0, 0, NULL, 0);
	CHECK_EQ(len, LU_MIN_LEN + LU_SEC_HDR_LEN);
	REQUIRE_OK(lu_stream_open(&r, buf, len, len));
	REQUIRE_EQ(lu_stream_next(&r, &sec), 1);
	CHECK_EQ(sec.type, LU_SEC_VM);
	CHECK_EQ(sec.len, 0);
}

static void section_names(void)
{
	CHECK_STR(lu_section_name(LU_SEC_VM), "vm");
	CHECK_STR(lu_section_name(LU_SEC_VCPU), "vcpu");
	CHECK_STR(lu_section_name(LU_SEC_IRQCHIP), "irqchip");
	CHECK_STR(lu_section_name(LU_SEC_CLOCK), "clock");
	CHECK_STR(lu_section_name(LU_SEC_DEVICE), "device");
	CHECK_STR(lu_section_name(LU_SEC_TEST), "test");
	CHECK(lu_section_name(0) == NULL);
	CHECK(lu_section_name(LU_SEC_TEST + 1) == NULL);
}

/* ---- whole-stream validation --------------------------------------------- */

static void every_truncation_rejected(void)
{
	uint8_t buf[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 3), cut;

	for (cut = 0; cut < len; cut++) {
		/* An exact-size copy: ASan catches any read past the cut. */
		uint8_t *copy = malloc(cut ? cut : 1);

		REQUIRE(copy);
		memcpy(copy, buf, cut);
		EXPECT_REJECT(copy, cut, -EBADMSG);
		free(copy);
		if (tap_case_failures()) {
			tap_diag("first failure at length %zu", cut);
			return;
		}
	}
}

/* Each payload prefix, framed and CRC'd correctly: the decoder must object. */
static void every_payload_truncation_rejected(void)
{
	uint8_t payload[BUF_LEN], buf[BUF_LEN];
	size_t plen = sample_payload(payload, 3, TEST_VERSION, 0), cut;

	for (cut = 0; cut < plen; cut++) {
		size_t len = build_raw(buf, LU_SEC_TEST, TEST_VERSION, 0, 3,
				       payload, cut);
		struct lu_reader r;
		struct live live;

		EXPECT_REJECT(buf, len, -EBADMSG);
		(void)load_all(&r, buf, len, &live);
		CHECK(msg_has(&r, "section \"test\" instance 3 field \""));
		if (tap_case_failures()) {
			tap_diag("first failure at payload length %zu", cut);
			return;
		}
	}
}

static void every_bit_flip_rejected(void)
{
	uint8_t buf[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 2), bit;

	for (bit = 0; bit < len * 8; bit++) {
		struct live live, before;
		struct lu_reader r;
		int ret;

		memset(&live, 0x5a, sizeof(live));
		before = live;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ret = load_all(&r, buf, len, &live);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		/* -ENOTSUP only where the major version sits. */
		if (ret != -EBADMSG && !(ret == -ENOTSUP && bit / 8 >= 8 &&
					 bit / 8 < 10))
			tap_fail(__FILE__, __LINE__, "bit %zu: got %d", bit, ret);
		CHECK(!memcmp(&live, &before, sizeof(live)));
		if (tap_case_failures())
			return;
	}
}

static void bad_crc(void)
{
	uint8_t buf[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 1);
	struct lu_reader r;

	buf[len - 8] ^= 1;
	EXPECT_REJECT(buf, len, -EBADMSG);
	CHECK_ERR(-EBADMSG, lu_stream_open(&r, buf, len, len));
	CHECK(msg_has(&r, "CRC"));
	buf[len - 8] ^= 1;
	/* The reserved trailer word is covered by the check, not the CRC. */
	buf[len - 1] = 1;
	CHECK_ERR(-EBADMSG, lu_stream_open(&r, buf, len, len));
	CHECK(msg_has(&r, "reserved"));
}

static void bad_magic(void)
{
	uint8_t buf[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 1);
	struct lu_reader r;

	buf[7] = 'X';	/* the magic's NUL */
	EXPECT_REJECT(buf, len, -EBADMSG);
	CHECK_ERR(-EBADMSG, lu_stream_open(&r, buf, len, len));
	CHECK(msg_has(&r, "magic"));
}

static void other_major_rejected(void)
{
	static const uint16_t majors[] = { 0, LU_MAJOR + 1, 0xffff };
	uint8_t buf[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 1), i;
	struct lu_reader r;

	for (i = 0; i < ARRAY_SIZE(majors); i++) {
		put_le16(buf + 8, majors[i]);
		fix_crc(buf);
		EXPECT_REJECT(buf, len, -ENOTSUP);
		CHECK_ERR(-ENOTSUP, lu_stream_open(&r, buf, len, len));
		CHECK(msg_has(&r, "major version"));
	}
	/* Checked before length and CRC: another major may frame differently. */
	CHECK_ERR(-ENOTSUP, lu_stream_open(&r, buf, 12, 12));
}

static void higher_minor_accepted(void)
{
	uint8_t buf[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 2);
	struct live live = { 0 };
	struct lu_reader r;

	put_le16(buf + 10, LU_MINOR + 7);
	fix_crc(buf);
	REQUIRE_OK(load_all(&r, buf, len, &live));
	CHECK_EQ(r.minor, LU_MINOR + 7);
	CHECK_EQ(live.n, 2);
}

static void header_flags_rejected(void)
{
	uint8_t buf[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 1);
	unsigned int bit;
	struct lu_reader r;

	for (bit = 0; bit < 32; bit++) {
		put_le32(buf + 12, 1u << bit);
		fix_crc(buf);
		EXPECT_REJECT(buf, len, -ENOTSUP);
	}
	CHECK_ERR(-ENOTSUP, lu_stream_open(&r, buf, len, len));
	CHECK(msg_has(&r, "header: unknown flags 0x80000000"));
}

static void total_length_checks(void)
{
	uint8_t buf[BUF_LEN], copy[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 2);
	struct lu_reader r;
	struct live live = { 0 };

	/* Larger than what is available, or than the caller's limit. */
	CHECK_ERR(-EBADMSG, lu_stream_open(&r, buf, len - 8, len));
	CHECK(msg_has(&r, "truncated"));
	CHECK_ERR(-EBADMSG, lu_stream_open(&r, buf, len, len - 8));
	CHECK(msg_has(&r, "exceeds the limit"));

	/* Buffer larger than the record (a page-sized memfd): ignored tail. */
	memset(buf + len, 0xee, 64);
	REQUIRE_OK(load_all(&r, buf, len + 64, &live));
	CHECK_EQ(live.n, 2);

	/* Header claims more than was written, CRC fixed where it now sits. */
	memcpy(copy, buf, sizeof(copy));
	put_le64(copy + 16, len + 8);
	fix_crc(copy);
	EXPECT_REJECT(copy, len + 8, -EBADMSG);

	/* Header claims less: the CRC then lies inside the last section. */
	memcpy(copy, buf, sizeof(copy));
	put_le64(copy + 16, len - 16);
	EXPECT_REJECT(copy, len, -EBADMSG);
	fix_crc(copy);		/* ...and even with a CRC that matches there */
	EXPECT_REJECT(copy, len, -EBADMSG);

	/* Not a multiple of 8, below the minimum, absurdly large. */
	memcpy(copy, buf, sizeof(copy));
	put_le64(copy + 16, len - 4);
	EXPECT_REJECT(copy, len, -EBADMSG);
	put_le64(copy + 16, 16);
	EXPECT_REJECT(copy, len, -EBADMSG);
	put_le64(copy + 16, UINT64_MAX - 7);
	EXPECT_REJECT(copy, len, -EBADMSG);
}

static void section_length_overflow(void)
{
	static const uint32_t bad[] = { 0xffffffff, 0x80000000, 0 };
	uint8_t buf[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 2), i;
	struct lu_reader r;
	uint32_t orig = get_le32(buf + LU_HDR_LEN + 12);
	/* Room after the first section header: payloads + second section. */
	uint32_t room = (uint32_t)(len - LU_TRAILER_LEN - LU_HDR_LEN -
				   LU_SEC_HDR_LEN);

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		put_le32(buf + LU_HDR_LEN + 12, bad[i] ? bad[i] : room + 1);
		fix_crc(buf);
		EXPECT_REJECT(buf, len, -EBADMSG);
	}
	CHECK_ERR(-EBADMSG, lu_stream_open(&r, buf, len, len));
	CHECK(msg_has(&r, "section \"test\" instance 0 at offset 24: payload length"));
	/* Exactly to the trailer: framing passes, the decoder objects. */
	put_le32(buf + LU_HDR_LEN + 12, room);
	fix_crc(buf);
	EXPECT_REJECT(buf, len, -EBADMSG);
	put_le32(buf + LU_HDR_LEN + 12, orig);
	fix_crc(buf);
	CHECK_ERR(0, lu_stream_open(&r, buf, len, len));
}

static void nonzero_padding_rejected(void)
{
	uint8_t buf[BUF_LEN];
	size_t len = build_raw(buf, LU_SEC_TEST, 1, 0, 0, "abc", 3), i;
	struct lu_reader r;

	for (i = 3; i < 8; i++) {
		buf[LU_HDR_LEN + LU_SEC_HDR_LEN + i] = 0x80;
		fix_crc(buf);
		EXPECT_REJECT(buf, len, -EBADMSG);
		buf[LU_HDR_LEN + LU_SEC_HDR_LEN + i] = 0;
	}
	buf[LU_HDR_LEN + LU_SEC_HDR_LEN + 7] = 1;
	fix_crc(buf);
	CHECK_ERR(-EBADMSG, lu_stream_open(&r, buf, len, len));
	CHECK(msg_has(&r, "padding byte 4 not zero"));
}

static void section_reserved_flags_rejected(void)
{
	uint8_t buf[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 1);
	unsigned int bit;
	struct lu_reader r;

	for (bit = 1; bit < 16; bit++) {
		put_le16(buf + LU_HDR_LEN + 6, (uint16_t)(1u << bit));
		fix_crc(buf);
		EXPECT_REJECT(buf, len, -ENOTSUP);
	}
	CHECK_ERR(-ENOTSUP, lu_stream_open(&r, buf, len, len));
	CHECK(msg_has(&r, "unknown flags 0x8000"));
}

static void section_version_zero_rejected(void)
{
	uint8_t buf[BUF_LEN];
	size_t len = build(buf, sizeof(buf), 1);

	put_le16(buf + LU_HDR_LEN + 4, 0);
	fix_crc(buf);
	EXPECT_REJECT(buf, len, -EBADMSG);
}

static void unknown_section_type(void)
{
	uint8_t buf[BUF_LEN];
	struct test_sec s0 = sample(0), s1 = sample(1);
	struct live live = { 0 };
	struct lu_writer w;
	struct lu_reader r;
	struct lu_section sec;
	unsigned int n;
	size_t len = 0;

	/* Not optional: the whole record is refused. */
	len = build_raw(buf, LU_SEC_TEST + 1, 1, 0, 3, "x", 1);
	EXPECT_REJECT(buf, len, -ENOTSUP);
	CHECK_ERR(-ENOTSUP, lu_stream_open(&r, buf, len, len));
	CHECK(msg_has(&r, "section 0x7fff0001 instance 3 at offset 24: unknown section type"));

	/* Optional: skipped, the sections around it load. */
	lu_writer_init(&w, buf, sizeof(buf));
	lu_writer_begin(&w);
	test_sec_write(&w, &s0, TEST_VERSION, 0, 0);
	lu_section_begin(&w, LU_SEC_TEST + 1, 9, LU_SEC_F_OPTIONAL, 0);
	lu_put_u64(&w, 42);
	lu_section_end(&w);
	test_sec_write(&w, &s1, TEST_VERSION, 0, 0);
	REQUIRE_OK(lu_writer_finish(&w, &len));
	REQUIRE_OK(load_all(&r, buf, len, &live));
	CHECK_EQ(r.nsections, 3);
	CHECK_EQ(live.n, 2);
	CHECK(test_sec_eq(&live.sec[1], &s1));
	/* lu_stream_next() itself never hands out the unknown one. */
	lu_stream_rewind(&r);
	for (n = 0; lu_stream_next(&r, &sec) > 0; n++)
		CHECK_EQ(sec.type, LU_SEC_TEST);
	CHECK_EQ(n, 2);
}

/* A known type the loader has no code for: optional skips, else -ENOTSUP. */
static void unhandled_section(void)
{
	uint8_t buf[BUF_LEN];
	struct live live = { 0 };
	struct lu_reader r;
	size_t len;

	len = build_raw(buf, LU_SEC_CLOCK, 1, LU_SEC_F_OPTIONAL, 0, "abcd", 4);
	REQUIRE_OK(load_all(&r, buf, len, &live));
	CHECK_EQ(live.n, 0);
	len = build_raw(buf, LU_SEC_CLOCK, 1, 0, 2, "abcd", 4);
	EXPECT_REJECT(buf, len, -ENOTSUP);
	(void)load_all(&r, buf, len, &live);
	CHECK(msg_has(&r, "section \"clock\" instance 2: no loader"));
}

static void too_many_sections(void)
{
	size_t cap = LU_MIN_LEN + (LU_MAX_SECTIONS + 1) * LU_SEC_HDR_LEN;
	uint8_t *buf = malloc(cap);
	struct lu_writer w;
	struct lu_reader r;
	size_t len = 0;
	unsigned int i;

	REQUIRE(buf);
	lu_writer_init(&w, buf, cap);
	lu_writer_begin(&w);
	for (i = 0; i < LU_MAX_SECTIONS; i++) {
		lu_section_begin(&w, LU_SEC_VM, 1, LU_SEC_F_OPTIONAL, i);
		lu_section_end(&w);
	}
	CHECK_ERR(0, lu_writer_finish(&w, &len));
	CHECK_ERR(0, lu_stream_open(&r, buf, len, cap));
	CHECK_EQ(r.nsections, LU_MAX_SECTIONS);

	lu_writer_init(&w, buf, cap);
	lu_writer_begin(&w);
	for (i = 0; i <= LU_MAX_SECTIONS; i++) {
		lu_section_begin(&w, LU_SEC_VM, 1, LU_SEC_F_OPTIONAL, i);
		lu_section_end(&w);
	}
	CHECK_ERR(0, lu_writer_finish(&w, &len));
	CHECK_ERR(-EBADMSG, lu_stream_open(&r, buf, len, cap));
	CHECK(msg_has(&r, "more than 65536 sections"));
	free(buf);
}

static void bad_arguments(void)
{
	uint8_t buf[BUF_LEN];
	struct lu_reader r;
	size_t len = build(buf, sizeof(buf), 1);

	CHECK_ERR(-EINVAL, lu_stream_open(NULL, buf, len, len));
	CHECK_ERR(-EINVAL, lu_stream_open(&r, NULL, len, len));
	CHECK(msg_has(&r, "no buffer"));
}

/* After a failed open there is nothing to iterate. */
static void no_sections_after_failed_open(void)
{
	uint8_t buf[BUF_LEN];
	struct lu_reader r;
	struct lu_section sec;
	size_t len = build(buf, sizeof(buf), 2);

	buf[len - 8] ^= 1;
	CHECK_ERR(-EBADMSG, lu_stream_open(&r, buf, len, len));
	lu_stream_rewind(&r);
	CHECK_EQ(lu_stream_next(&r, &sec), 0);
}

/* ---- section versions ----------------------------------------------------- */

static void older_version_gets_defaults(void)
{
	uint8_t buf[BUF_LEN];
	struct test_sec s = sample(2);
	struct live live = { 0 };
	struct lu_writer w;
	struct lu_reader r;
	size_t len = 0;

	lu_writer_init(&w, buf, sizeof(buf));
	lu_writer_begin(&w);
	test_sec_write(&w, &s, 1, 0, 0);
	REQUIRE_OK(lu_writer_finish(&w, &len));
	REQUIRE_OK(load_all(&r, buf, len, &live));
	REQUIRE_EQ(live.n, 1);
	s.g = G_DEFAULT;
	CHECK(test_sec_eq(&live.sec[0], &s));
}

static void newer_version_tail(void)
{
	uint8_t buf[BUF_LEN];
	struct test_sec s = sample(1);
	struct live live = { 0 };
	struct lu_writer w;
	struct lu_reader r;
	size_t len = 0;
	unsigned int byte;

	/* Zero tail: the newer writer's extra field is at its default. */
	lu_writer_init(&w, buf, sizeof(buf));
	lu_writer_begin(&w);
	test_sec_write(&w, &s, 3, 0, 0);
	REQUIRE_OK(lu_writer_finish(&w, &len));
	REQUIRE_OK(load_all(&r, buf, len, &live));
	CHECK(test_sec_eq(&live.sec[0], &s));

	/* Any non-zero tail byte: we would lose meaning, so refuse. */
	for (byte = 0; byte < 8; byte++) {
		lu_writer_init(&w, buf, sizeof(buf));
		lu_writer_begin(&w);
		test_sec_write(&w, &s, 3, 0, 1ull << (8 * byte));
		REQUIRE_OK(lu_writer_finish(&w, &len));
		EXPECT_REJECT(buf, len, -ENOTSUP);
	}
	(void)load_all(&r, buf, len, &live);
	CHECK_STR(lu_reader_msg(&r),
		  "section \"test\" instance 1: version 3 is newer than 2 and byte 7 of its 8-byte tail is not zero");
}

static void same_version_trailing_bytes(void)
{
	uint8_t payload[BUF_LEN], buf[BUF_LEN];
	size_t plen = sample_payload(payload, 1, 1, 0), len;
	struct lu_reader r;
	struct live live;

	/* A version-1 section carrying a version-2 field: not allowed. */
	memset(payload + plen, 0, 8);
	len = build_raw(buf, LU_SEC_TEST, 1, 0, 1, payload, plen + 8);
	EXPECT_REJECT(buf, len, -EBADMSG);
	(void)load_all(&r, buf, len, &live);
	CHECK(msg_has(&r, "8 unexpected bytes after the last field of version 1"));
}

/* ---- decoder helpers and messages ---------------------------------------- */

static int decode_raw(struct lu_reader *r, const void *payload, size_t plen,
		      struct test_sec *out)
{
	static uint8_t buf[BUF_LEN];
	struct lu_section sec;
	size_t len = build_raw(buf, LU_SEC_TEST, TEST_VERSION, 0, 1, payload,
			       plen);
	int ret = lu_stream_open(r, buf, len, len);

	if (ret)
		return ret;
	if (lu_stream_next(r, &sec) != 1)
		return -EBADMSG;
	return test_sec_decode(r, &sec, out);
}

static void truncation_message_names_field(void)
{
	uint8_t p[BUF_LEN];
	struct lu_reader r;
	struct test_sec out;

	sample_payload(p, 1, TEST_VERSION, 0);
	/* a b c d = 8 bytes, then 3 of e's 8. */
	CHECK_ERR(-EBADMSG, decode_raw(&r, p, 11, &out));
	CHECK_STR(lu_reader_msg(&r),
		  "section \"test\" instance 1 field \"e\": truncated (need 8 bytes, 3 left)");
}

static void check_message_names_field(void)
{
	uint8_t p[BUF_LEN];
	size_t plen = sample_payload(p, 1, TEST_VERSION, 0);
	struct lu_reader r;
	struct test_sec out;

	p[0] = 0xff;
	CHECK_ERR(-EBADMSG, decode_raw(&r, p, plen, &out));
	CHECK_STR(lu_reader_msg(&r),
		  "section \"test\" instance 1 field \"a\": value 0xff is reserved");
	p[0] = 1;
	p[1] = 2;
	CHECK_ERR(-EBADMSG, decode_raw(&r, p, plen, &out));
	CHECK_STR(lu_reader_msg(&r),
		  "section \"test\" instance 1 field \"b\": boolean is 2, not 0 or 1");
}

/* Offsets in sample(1)'s payload: name length at 22, bytes at 24 ("dev1"). */
static void string_checks(void)
{
	uint8_t p[BUF_LEN];
	size_t plen = sample_payload(p, 1, TEST_VERSION, 0);
	struct lu_reader r;
	struct test_sec out;

	CHECK_EQ(get_le16(p + 22), 4);
	p[25] = 0;
	CHECK_ERR(-EBADMSG, decode_raw(&r, p, plen, &out));
	CHECK(msg_has(&r, "field \"name\": string contains a NUL byte"));
	put_le16(p + 22, 16);
	CHECK_ERR(-EBADMSG, decode_raw(&r, p, plen, &out));
	CHECK(msg_has(&r, "field \"name\": string of 16 bytes, at most 15 allowed"));
	put_le16(p + 22, 15);
	CHECK_ERR(-EBADMSG, decode_raw(&r, p, 30, &out));
	CHECK(msg_has(&r, "field \"name\": truncated (need 15 bytes, 6 left)"));
}

/* sample(1) payload: n at 28 (after the 4-byte name), items from 32. */
static void count_checks(void)
{
	uint8_t p[BUF_LEN];
	size_t plen = sample_payload(p, 1, TEST_VERSION, 0);
	struct lu_reader r;
	struct test_sec out;

	CHECK_EQ(get_le32(p + 28), 1);
	put_le32(p + 28, 9);
	CHECK_ERR(-EBADMSG, decode_raw(&r, p, plen, &out));
	CHECK(msg_has(&r, "field \"n\": count 9 exceeds the maximum 8"));
	put_le32(p + 28, 4);	/* 16 bytes of items, only 4 + 8 left */
	CHECK_ERR(-EBADMSG, decode_raw(&r, p, plen, &out));
	CHECK(msg_has(&r, "field \"n\": truncated (4 elements of 4 bytes, 12 bytes left)"));
	put_le32(p + 28, 0xffffffff);
	CHECK_ERR(-EBADMSG, decode_raw(&r, p, plen, &out));
}

/* Sticky: after the first error, gets store 0 and the message stays. */
static void decoder_errors_are_sticky(void)
{
	uint8_t buf[BUF_LEN];
	size_t len = build_raw(buf, LU_SEC_VCPU, 4, 0, 1, "\x01\x02\x03", 3);
	struct lu_reader r;
	struct lu_section sec;
	struct lu_dec d;
	uint64_t v64 = 1;
	uint8_t v8 = 1, bytes[2] = { 9, 9 };

	REQUIRE_OK(lu_stream_open(&r, buf, len, len));
	REQUIRE_EQ(lu_stream_next(&r, &sec), 1);
	lu_dec_init(&d, &r, &sec);
	CHECK_EQ(d.version, 4);
	CHECK_ERR(-EBADMSG, lu_get_u64(&d, "cr0", &v64));
	CHECK_EQ(v64, 0);
	CHECK_ERR(-EBADMSG, lu_get_u8(&d, "cr2", &v8));	/* bytes were left */
	CHECK_EQ(v8, 0);
	CHECK_ERR(-EBADMSG, lu_get_bytes(&d, "x", bytes, 2));
	CHECK_EQ(bytes[0] | bytes[1], 0);
	CHECK_ERR(-EBADMSG, lu_check(&d, false, "cr3", "never shown"));
	CHECK_ERR(-EBADMSG, lu_dec_finish(&d, 4));
	CHECK_STR(lu_reader_msg(&r),
		  "section \"vcpu\" instance 1 field \"cr0\": truncated (need 8 bytes, 3 left)");
}

/* ---- writer ---------------------------------------------------------------- */

static void writer_overflow_every_capacity(void)
{
	uint8_t ref[BUF_LEN], buf[BUF_LEN];
	size_t total = build(ref, sizeof(ref), 3), cap, i;

	for (cap = 0; cap < total; cap++) {
		struct lu_writer w;
		size_t len = 12345;

		memset(buf, 0xa5, sizeof(buf));
		lu_writer_init(&w, buf, cap);
		lu_writer_begin(&w);
		for (i = 0; i < 3; i++) {
			struct test_sec s = sample((uint32_t)i);

			test_sec_write(&w, &s, TEST_VERSION, 0, 0);
		}
		/* Only the trailer is left to fail once the sections fit. */
		if (cap < total - LU_TRAILER_LEN)
			CHECK_ERR(-ENOSPC, lu_writer_error(&w));
		CHECK_ERR(-ENOSPC, lu_writer_finish(&w, &len));
		CHECK_EQ(len, 12345);
		for (i = cap; i < sizeof(buf); i++)
			if (buf[i] != 0xa5) {
				tap_fail(__FILE__, __LINE__,
					 "cap %zu: byte %zu written", cap, i);
				break;
			}
		if (tap_case_failures())
			return;
	}
}

static void writer_misuse(void)
{
	uint8_t buf[BUF_LEN];
	struct lu_writer w;
	size_t len;
	char *big;

#define FRESH()	do { lu_writer_init(&w, buf, sizeof(buf)); lu_writer_begin(&w); } while (0)
	lu_writer_init(&w, NULL, 0);
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));
	FRESH();
	lu_put_u32(&w, 1);			/* outside a section */
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));
	FRESH();
	lu_section_begin(&w, LU_SEC_VM, 1, 0, 0);
	lu_section_begin(&w, LU_SEC_VM, 1, 0, 1);	/* nested */
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));
	FRESH();
	lu_section_end(&w);			/* nothing open */
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));
	FRESH();
	lu_section_begin(&w, LU_SEC_VM, 1, 0, 0);
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));	/* left open */
	lu_writer_init(&w, buf, sizeof(buf));
	lu_section_begin(&w, LU_SEC_VM, 1, 0, 0);	/* no header */
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));
	FRESH();
	lu_writer_begin(&w);			/* twice */
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));
	FRESH();
	lu_section_begin(&w, LU_SEC_VM, 0, 0, 0);	/* version 0 */
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));
	FRESH();
	lu_section_begin(&w, LU_SEC_VM, 1, 2, 0);	/* reserved flag */
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));
	FRESH();
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, NULL));
	FRESH();
	CHECK_ERR(0, lu_writer_finish(&w, &len));
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));	/* twice */

	big = malloc(70000);
	REQUIRE(big);
	memset(big, 'x', 69999);
	big[69999] = '\0';
	FRESH();
	lu_section_begin(&w, LU_SEC_DEVICE, 1, 0, 0);
	lu_put_str(&w, big);			/* > 65535 bytes */
	CHECK_ERR(-EINVAL, lu_writer_finish(&w, &len));
	free(big);
#undef FRESH
}

/* --write-corpus DIR: seeds for fuzz/fuzz_state.c. */
static int write_corpus(const char *dir)
{
	static uint8_t buf[BUF_LEN];
	struct test_sec s1 = sample(1), s2 = sample(2);
	struct lu_writer w;
	size_t len = 0;
	char path[4096];
	FILE *f;
	int i;

	for (i = 0; i < 4; i++) {
		lu_writer_init(&w, buf, sizeof(buf));
		lu_writer_begin(&w);
		if (i == 1)
			test_sec_write(&w, &s1, 1, 0, 0);
		if (i >= 2)
			test_sec_write(&w, &s2, TEST_VERSION, 0, 0);
		if (i == 3) {
			test_sec_write(&w, &s1, 3, 0, 0);
			lu_section_begin(&w, LU_SEC_TEST + 1, 1,
					 LU_SEC_F_OPTIONAL, 7);
			lu_put_str(&w, "opt");
			lu_section_end(&w);
			lu_section_begin(&w, LU_SEC_DEVICE, 1, 0, 0);
			lu_put_str(&w, "serial0");
			lu_section_end(&w);
		}
		if (lu_writer_finish(&w, &len))
			return 1;
		snprintf(path, sizeof(path), "%s/seed-%d", dir, i);
		f = fopen(path, "wb");
		if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
			perror(path);
			return 1;
		}
	}
	return 0;
}

static const struct tap_case cases[] = {
	TAP_CASE(crc_known_vectors),
	TAP_CASE(crc_hw_matches_sw),
	TAP_CASE(crc_and_writer_speed),
	TAP_CASE(roundtrip_all_field_types),
	TAP_CASE(roundtrip_many_sections),
	TAP_CASE(empty_record_and_empty_section),
	TAP_CASE(section_names),
	TAP_CASE(every_truncation_rejected),
	TAP_CASE(every_payload_truncation_rejected),
	TAP_CASE(every_bit_flip_rejected),
	TAP_CASE(bad_crc),
	TAP_CASE(bad_magic),
	TAP_CASE(other_major_rejected),
	TAP_CASE(higher_minor_accepted),
	TAP_CASE(header_flags_rejected),
	TAP_CASE(total_length_checks),
	TAP_CASE(section_length_overflow),
	TAP_CASE(nonzero_padding_rejected),
	TAP_CASE(section_reserved_flags_rejected),
	TAP_CASE(section_version_zero_rejected),
	TAP_CASE(unknown_section_type),
	TAP_CASE(unhandled_section),
	TAP_CASE(too_many_sections),
	TAP_CASE(bad_arguments),
	TAP_CASE(no_sections_after_failed_open),
	TAP_CASE(older_version_gets_defaults),
	TAP_CASE(newer_version_tail),
	TAP_CASE(same_version_trailing_bytes),
	TAP_CASE(truncation_message_names_field),
	TAP_CASE(check_message_names_field),
	TAP_CASE(string_checks),
	TAP_CASE(count_checks),
	TAP_CASE(decoder_errors_are_sticky),
	TAP_CASE(writer_overflow_every_capacity),
	TAP_CASE(writer_misuse),
};

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write-corpus"))
		return write_corpus(argv[2]);
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
