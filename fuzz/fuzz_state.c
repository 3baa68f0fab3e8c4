// SPDX-License-Identifier: MIT
/*
 * fuzz_state.c: libFuzzer target for the state record reader
 * (vmm/liveupdate/state.c): lu_stream_open(), iteration, and decoding of
 * the test section through the lu_get_* API. Must never crash or read out
 * of bounds (built with ASan and UBSan), and a section that decodes must
 * re-encode to the same bytes (the encoding is canonical).
 *
 * Each input runs twice: as is (header, length and CRC checks), and as an
 * exact-size copy whose total length and CRC are patched to match, so
 * that mutations get past the CRC into the section walk and the decoders.
 *
 * The test section layout mirrors tests/test_state.c (version 2).
 */
#include <stdio.h>
#include <stdlib.h>

#include "../vmm/liveupdate/crc32c.h"
#include "../vmm/liveupdate/state.h"

#define MAX_REC		(1u << 20)
#define TEST_VERSION	2

struct test_sec {
	uint8_t a;
	bool b;
	uint16_t c;
	uint32_t d;
	uint64_t e;
	uint8_t f[6];
	char name[16];
	uint32_t n;
	uint32_t items[8];
	uint64_t g;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int decode_test(struct lu_reader *r, const struct lu_section *sec,
		       struct test_sec *s)
{
	struct lu_dec d;
	unsigned int i;

	memset(s, 0, sizeof(*s));
	lu_dec_init(&d, r, sec);
	lu_get_u8(&d, "a", &s->a);
	lu_check(&d, s->a != 0xff, "a", "value 0xff is reserved");
	lu_get_bool(&d, "b", &s->b);
	lu_get_u16(&d, "c", &s->c);
	lu_get_u32(&d, "d", &s->d);
	lu_get_u64(&d, "e", &s->e);
	lu_get_bytes(&d, "f", s->f, sizeof(s->f));
	lu_get_str(&d, "name", s->name, sizeof(s->name));
	if (!lu_get_count(&d, "n", ARRAY_SIZE(s->items), 4, &s->n))
		for (i = 0; i < s->n; i++)
			lu_get_u32(&d, "items", &s->items[i]);
	if (d.version >= 2)
		lu_get_u64(&d, "g", &s->g);
	return lu_dec_finish(&d, TEST_VERSION);
}

/* A decoded section must re-encode to its payload (plus a zero tail). */
static void check_canonical(const struct lu_section *sec,
			    const struct test_sec *s)
{
	static uint8_t buf[MAX_REC];
	const uint8_t *p = buf + LU_HDR_LEN + LU_SEC_HDR_LEN;
	struct lu_writer w;
	unsigned int i;
	size_t len, plen, k;

	lu_writer_init(&w, buf, sizeof(buf));
	lu_writer_begin(&w);
	lu_section_begin(&w, sec->type, sec->version, sec->flags,
			 sec->instance);
	lu_put_u8(&w, s->a);
	lu_put_bool(&w, s->b);
	lu_put_u16(&w, s->c);
	lu_put_u32(&w, s->d);
	lu_put_u64(&w, s->e);
	lu_put_bytes(&w, s->f, sizeof(s->f));
	lu_put_str(&w, s->name);
	lu_put_u32(&w, s->n);
	for (i = 0; i < s->n; i++)
		lu_put_u32(&w, s->items[i]);
	if (sec->version >= 2)
		lu_put_u64(&w, s->g);
	plen = w.pos - LU_HDR_LEN - LU_SEC_HDR_LEN;
	lu_section_end(&w);
	if (lu_writer_finish(&w, &len) || plen > sec->len ||
	    memcmp(p, sec->payload, plen)) {
		fprintf(stderr, "re-encoding differs (plen %zu, len %u)\n",
			plen, sec->len);
		abort();
	}
	for (k = plen; k < sec->len; k++)
		if (sec->payload[k])
			abort();	/* lu_dec_finish() let a tail through */
}

static void run(const uint8_t *buf, size_t avail)
{
	struct lu_reader r;
	struct lu_section sec;
	struct test_sec s;
	char name[32];

	if (lu_stream_open(&r, buf, avail, MAX_REC)) {
		if (!r.msg[0] || strnlen(r.msg, sizeof(r.msg)) == sizeof(r.msg))
			abort();	/* every rejection says why */
		return;
	}
	while (lu_stream_next(&r, &sec) > 0) {
		if (sec.offset + LU_SEC_HDR_LEN + sec.len > r.len)
			abort();
		if (sec.type == LU_SEC_TEST) {
			if (!decode_test(&r, &sec, &s))
				check_canonical(&sec, &s);
		} else if (sec.type == LU_SEC_DEVICE) {
			struct lu_dec d;
			uint64_t v;

			lu_dec_init(&d, &r, &sec);
			lu_get_str(&d, "name", name, sizeof(name));
			while (lu_dec_left(&d) >= 8)
				lu_get_u64(&d, "reg", &v);
			(void)lu_dec_finish(&d, 1);
		} else if (lu_stream_unhandled(&r, &sec)) {
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t total = size & ~(size_t)(LU_ALIGN - 1);
	uint8_t *copy;

	run(data, size);
	if (total < LU_MIN_LEN)
		return 0;
	copy = malloc(total);	/* exact size: ASan sees any overread */
	if (!copy)
		return 0;
	memcpy(copy, data, total);
	put_le64(copy + 16, total);
	put_le32(copy + total - 8, crc32c(0, copy, total - 8));
	run(copy, total);
	free(copy);
	return 0;
}
