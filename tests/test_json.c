// SPDX-License-Identifier: MIT
/*
 * test_json.c: vmm/json.c: the strict reader (valid documents, token
 * layout, every rejection with its byte offset, depth and token limits),
 * json_obj_find, the typed getters (unescaping, \u to UTF-8, bounds) and
 * the bounded writer (escaping, commas, overflow), plus a randomized
 * writer -> reader round trip.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../vmm/json.h"
#include "tap.h"

#define NTOK	64

static int parse(const char *s, struct json_tok *t, unsigned max, size_t *off)
{
	return json_parse(s, strlen(s), t, max, off);
}

/* ---- reader: accepted documents ------------------------------------------ */

static void parse_scalars(void)
{
	static const struct {
		const char *s;
		uint8_t type;
		uint32_t start, end;
	} c[] = {
		{ "null", JSON_NULL, 0, 4 },
		{ "true", JSON_BOOL, 0, 4 },
		{ "false", JSON_BOOL, 0, 5 },
		{ "0", JSON_NUM, 0, 1 },
		{ "-0", JSON_NUM, 0, 2 },
		{ "123", JSON_NUM, 0, 3 },
		{ "-12.5e+10", JSON_NUM, 0, 9 },
		{ "1E5", JSON_NUM, 0, 3 },
		{ "1e-5", JSON_NUM, 0, 4 },
		{ "0.000", JSON_NUM, 0, 5 },
		{ "  42 \t\r\n", JSON_NUM, 2, 4 },
		{ "\"\"", JSON_STR, 1, 1 },
		{ "\"abc\"", JSON_STR, 1, 4 },
		{ " \"a\\\"b\" ", JSON_STR, 2, 6 },
		{ "\"\x7f\xc3\xa9\"", JSON_STR, 1, 4 },	/* DEL and UTF-8 are plain */
	};
	struct json_tok t[4];
	size_t i, off;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		int n = parse(c[i].s, t, ARRAY_SIZE(t), &off);

		if (n != 1) {
			tap_fail(__FILE__, __LINE__, "parse(%s): expected 1 token, got %d", c[i].s, n);
			continue;
		}
		CHECK_EQ(t[0].type, c[i].type);
		CHECK_EQ(t[0].start, c[i].start);
		CHECK_EQ(t[0].end, c[i].end);
		CHECK_EQ(t[0].next, 1);
	}
}

/* Token layout of a nested document: types, spans, counts, next links. */
static void parse_nested_layout(void)
{
	const char *s = "{\"a\": [1, {\"b\": null}, []], \"c\": {}, \"d\": \"x\"}";
	struct json_tok t[NTOK];
	size_t off = 99;
	int n = parse(s, t, NTOK, &off);

	/* 0 obj, 1 "a", 2 arr, 3 1, 4 obj, 5 "b", 6 null, 7 arr,
	 * 8 "c", 9 obj, 10 "d", 11 "x" */
	REQUIRE_EQ(n, 12);
	CHECK_EQ(off, 99);	/* untouched on success */
	CHECK_EQ(t[0].type, JSON_OBJ);
	CHECK_EQ(t[0].count, 3);
	CHECK_EQ(t[0].start, 0);
	CHECK_EQ(t[0].end, strlen(s));
	CHECK_EQ(t[0].next, 12);
	CHECK_EQ(t[1].type, JSON_STR);
	CHECK(!memcmp(s + t[1].start, "a", t[1].end - t[1].start));
	CHECK_EQ(t[2].type, JSON_ARR);
	CHECK_EQ(t[2].count, 3);
	CHECK_EQ(t[2].next, 8);
	CHECK_EQ(s[t[2].start], '[');
	CHECK_EQ(s[t[2].end - 1], ']');
	CHECK_EQ(t[3].type, JSON_NUM);
	CHECK_EQ(t[4].type, JSON_OBJ);
	CHECK_EQ(t[4].count, 1);
	CHECK_EQ(t[4].next, 7);
	CHECK_EQ(t[6].type, JSON_NULL);
	CHECK_EQ(t[7].type, JSON_ARR);
	CHECK_EQ(t[7].count, 0);
	CHECK_EQ(t[7].next, 8);
	CHECK_EQ(t[9].type, JSON_OBJ);
	CHECK_EQ(t[9].count, 0);
	CHECK_EQ(t[11].type, JSON_STR);
	CHECK_EQ(t[11].next, 12);
}

static void parse_whitespace_everywhere(void)
{
	const char *s = " \t\r\n{ \"k\" \n: \t[ 1 , 2 ]\r, \"z\":true }\n ";
	struct json_tok t[NTOK];
	size_t off;

	CHECK_EQ(parse(s, t, NTOK, &off), 7);
	CHECK_EQ(parse("[ ]", t, NTOK, &off), 1);
	CHECK_EQ(parse("{ }", t, NTOK, &off), 1);
	CHECK_EQ(t[0].count, 0);
}

/* The reader never reads past len: a prefix of a valid text is parsed as
 * itself. */
static void parse_respects_len(void)
{
	const char *s = "[1,2]XYZ";
	struct json_tok t[NTOK];
	size_t off;

	CHECK_EQ(json_parse(s, 5, t, NTOK, &off), 3);
	CHECK_ERR(-EINVAL, json_parse(s, 4, t, NTOK, &off));
	CHECK_EQ(off, 4);
	CHECK_EQ(json_parse("12345", 2, t, NTOK, &off), 1);
	CHECK_EQ(t[0].end, 2);
	CHECK_EQ(json_parse("truex", 4, t, NTOK, &off), 1);
}

/* ---- reader: rejections --------------------------------------------------- */

struct bad_case {
	const char *s;
	size_t len;	/* 0: strlen */
	size_t off;
};

static void check_bad(const struct bad_case *c, size_t n, int want)
{
	struct json_tok t[NTOK];
	size_t i;

	for (i = 0; i < n; i++) {
		size_t off = 12345, len = c[i].len ? c[i].len : strlen(c[i].s);
		int ret = json_parse(c[i].s, len, t, NTOK, &off);

		if (ret != want || off != c[i].off)
			tap_fail(__FILE__, __LINE__, "parse(\"%s\"): expected %d at %zu, got %d at %zu",
				 c[i].s, want, c[i].off, ret, off);
	}
}

static void reject_malformed_with_offset(void)
{
	static const struct bad_case c[] = {
		{ "", 0, 0 },
		{ "   ", 0, 3 },
		{ "[1,]", 0, 3 },
		{ "[,1]", 0, 1 },
		{ "{\"a\":1,}", 0, 7 },
		{ "{\"a\" 1}", 0, 5 },
		{ "{\"a\":}", 0, 5 },
		{ "{1:2}", 0, 1 },
		{ "{'a':1}", 0, 1 },
		{ "{\"a\":1 \"b\":2}", 0, 7 },
		{ "[1 2]", 0, 3 },
		{ "[", 0, 1 },
		{ "{", 0, 1 },
		{ "{\"a\"", 0, 4 },
		{ "[1", 0, 2 },
		{ "]", 0, 0 },
		{ "}", 0, 0 },
		{ "[1}", 0, 2 },
		{ "{\"a\":1]", 0, 6 },
		/* trailing garbage after a complete value */
		{ "[1] x", 0, 4 },
		{ "1 2", 0, 2 },
		{ "{}{}", 0, 2 },
		{ "truex", 0, 4 },
		{ "nullnull", 0, 4 },
		/* literals */
		{ "tru", 0, 0 },
		{ "nul", 0, 0 },
		{ "True", 0, 0 },
		{ "NaN", 0, 0 },
		{ "Infinity", 0, 0 },
		{ "-Infinity", 0, 1 },
		/* numbers: JSON has no leading zeros, no bare dots, no plus */
		{ "01", 0, 1 },
		{ "-01", 0, 2 },
		{ "[01]", 0, 2 },
		{ "00", 0, 1 },
		{ "-", 0, 1 },
		{ "--1", 0, 1 },
		{ "+1", 0, 0 },
		{ ".5", 0, 0 },
		{ "1.", 0, 2 },
		{ "1.e5", 0, 2 },
		{ "1e", 0, 2 },
		{ "1e+", 0, 3 },
		{ "1E-", 0, 3 },
		{ "0x10", 0, 1 },
		{ "1.2.3", 0, 3 },
		/* white space JSON does not know */
		{ "\f1", 0, 0 },
		{ "\v1", 0, 0 },
		{ "\xef\xbb\xbf" "1", 0, 0 },	/* BOM */
	};

	check_bad(c, ARRAY_SIZE(c), -EINVAL);
}

static void reject_bad_strings(void)
{
	static const struct bad_case c[] = {
		{ "\"abc", 0, 4 },		/* unterminated */
		{ "\"", 0, 1 },
		{ "\"\\", 0, 2 },		/* ends in a backslash */
		{ "\"\\\"", 0, 3 },		/* the quote is escaped */
		{ "\"\\x\"", 0, 2 },
		{ "\"\\a\"", 0, 2 },
		{ "\"\\0\"", 0, 2 },
		{ "\"\\'\"", 0, 2 },
		{ "\"\\U0041\"", 0, 2 },
		{ "\"\\u12G4\"", 0, 2 },
		{ "\"\\u123\"", 0, 2 },
		{ "\"\\u12", 0, 2 },
		{ "\"a\x01" "b\"", 0, 2 },	/* control characters */
		{ "\"\x1f\"", 0, 1 },
		{ "\"a\tb\"", 0, 2 },
		{ "\"a\nb\"", 0, 2 },
		{ "\"a\0b\"", 5, 2 },		/* NUL inside */
		{ "{\"k\x02\":1}", 0, 3 },	/* in a key */
		{ "[\"ok\", \"bad\\q\"]", 0, 12 },
	};

	check_bad(c, ARRAY_SIZE(c), -EINVAL);
}

static void nested(char *buf, unsigned depth, char open, char close)
{
	unsigned i;

	for (i = 0; i < depth; i++)
		buf[i] = open;
	for (i = 0; i < depth; i++)
		buf[depth + i] = close;
	buf[2 * depth] = '\0';
}

static void depth_limit(void)
{
	char buf[2 * (JSON_MAX_DEPTH + 2) + 1];
	struct json_tok t[NTOK];
	size_t off = 0;

	nested(buf, JSON_MAX_DEPTH, '[', ']');
	CHECK_EQ(parse(buf, t, NTOK, &off), JSON_MAX_DEPTH);
	nested(buf, JSON_MAX_DEPTH + 1, '[', ']');
	CHECK_ERR(-E2BIG, parse(buf, t, NTOK, &off));
	CHECK_EQ(off, JSON_MAX_DEPTH);
	nested(buf, JSON_MAX_DEPTH + 2, '[', ']');
	CHECK_ERR(-E2BIG, parse(buf, t, NTOK, &off));
	/* objects count too */
	{
		char s[16 * JSON_MAX_DEPTH];
		size_t n = 0;
		unsigned i;

		for (i = 0; i <= JSON_MAX_DEPTH; i++)
			n += (size_t)sprintf(s + n, "{\"k\":");
		n += (size_t)sprintf(s + n, "1");
		for (i = 0; i <= JSON_MAX_DEPTH; i++)
			s[n++] = '}';
		s[n] = '\0';
		CHECK_ERR(-E2BIG, parse(s, t, NTOK, &off));
		CHECK_EQ(off, 5 * JSON_MAX_DEPTH);
		/* one level less is fine */
		CHECK_EQ(parse(s + 5, t, NTOK, &off) > 0, 0);	/* unbalanced now */
		s[n - 1] = '\0';
		CHECK_EQ(parse(s + 5, t, NTOK, &off), 2 * JSON_MAX_DEPTH + 1);
	}
	/* a deep unclosed prefix fails on depth, not on recursion */
	{
		static char deep[100000];

		memset(deep, '[', sizeof(deep) - 1);
		CHECK_ERR(-E2BIG, parse(deep, t, NTOK, &off));
	}
}

static void token_limit(void)
{
	struct json_tok t[8];
	size_t off;

	CHECK_EQ(parse("[1,2,3]", t, 4, &off), 4);	/* exactly max */
	CHECK_ERR(-E2BIG, parse("[1,2,3]", t, 3, &off));
	CHECK_EQ(off, 6);	/* just past the value that found no token */
	CHECK_ERR(-E2BIG, parse("{\"a\":1}", t, 2, &off));
	CHECK_ERR(-E2BIG, parse("\"x\"", t, 0, &off));
	CHECK_EQ(parse("{\"a\":1}", t, 3, &off), 3);
}

/* Malformed input is -EINVAL, not -E2BIG, whatever max is. */
static void malformed_is_einval_even_without_tokens(void)
{
	struct json_tok t[2];
	size_t off = 77;

	CHECK_ERR(-EINVAL, parse("x", t, 1, &off));
	CHECK_EQ(off, 0);
	CHECK_ERR(-EINVAL, parse("]", t, 0, &off));
	CHECK_ERR(-EINVAL, parse("x", t, 0, &off));
	CHECK_ERR(-EINVAL, parse("-", t, 0, &off));
}

/* ---- json_obj_find ----------------------------------------------------------- */

static void obj_find_members(void)
{
	const char *s = "{\"a\":1,\"b\":{\"c\":[1,2,{\"d\":3}]},\"e\":\"x\",\"a\":2,\"a\\u0062\":5}";
	struct json_tok t[NTOK];
	size_t off;
	uint64_t v = 0;
	int n = parse(s, t, NTOK, &off), i;

	REQUIRE(n > 0);
	i = json_obj_find(s, t, 0, "a");
	REQUIRE(i > 0);
	CHECK_ERR(0, json_get_u64(s, &t[i], &v));
	CHECK_EQ(v, 1);			/* the first of duplicates */
	i = json_obj_find(s, t, 0, "e");
	REQUIRE(i > 0);
	CHECK_EQ(t[i].type, JSON_STR);
	CHECK(!memcmp(s + t[i].start, "x", 1));
	i = json_obj_find(s, t, 0, "b");
	REQUIRE(i > 0);
	CHECK_EQ(t[i].type, JSON_OBJ);
	CHECK_EQ(json_obj_find(s, t, (unsigned)i, "c"), i + 2);
	CHECK_ERR(-ENOENT, json_obj_find(s, t, 0, "c"));	/* not nested */
	CHECK_ERR(-ENOENT, json_obj_find(s, t, 0, "d"));
	CHECK_ERR(-ENOENT, json_obj_find(s, t, 0, ""));
	CHECK_ERR(-ENOENT, json_obj_find(s, t, 0, "ab"));	/* escaped key */
	CHECK_ERR(-ENOENT, json_obj_find(s, t, 0, "A"));
	CHECK_ERR(-EINVAL, json_obj_find(s, t, (unsigned)(i + 2), "x"));	/* array */
	CHECK_ERR(-EINVAL, json_obj_find(s, t, 1, "a"));	/* string */

	CHECK_EQ(parse("{}", t, NTOK, &off), 1);
	CHECK_ERR(-ENOENT, json_obj_find("{}", t, 0, "a"));
	CHECK_EQ(parse("{\"\":7}", t, NTOK, &off), 3);
	CHECK_EQ(json_obj_find("{\"\":7}", t, 0, ""), 2);
}

/* The last member after a large nested value is found (next links). */
static void obj_find_after_deep_value(void)
{
	char s[1024];
	struct json_tok t[NTOK];
	size_t off, n = 0;
	unsigned i;
	int idx;

	n += (size_t)sprintf(s + n, "{\"deep\":");
	for (i = 0; i < 5; i++)
		n += (size_t)sprintf(s + n, "[{\"x\":[1,2],\"y\":{}},");
	n += (size_t)sprintf(s + n, "0");
	for (i = 0; i < 5; i++)
		s[n++] = ']';
	n += (size_t)sprintf(s + n, ",\"last\":true}");
	REQUIRE(parse(s, t, NTOK, &off) > 0);
	idx = json_obj_find(s, t, 0, "last");
	REQUIRE(idx > 0);
	CHECK_EQ(t[idx].type, JSON_BOOL);
	CHECK_EQ(json_obj_find(s, t, 0, "x"), -ENOENT);
}

static void path_lookup(void)
{
	const char *s = "{\"guest\":{\"cpus\":[{\"id\":0},{\"id\":1,\"hb\":[7,8,9]}],"
			"\"n\":2},\"x\":true}";
	struct json_tok t[NTOK];
	size_t off;
	uint64_t v = 0;
	int i;

	REQUIRE(parse(s, t, NTOK, &off) > 0);
	CHECK_EQ(json_path(s, t, 0, ""), 0);
	i = json_path(s, t, 0, "guest.cpus.1.hb.2");
	REQUIRE(i > 0);
	CHECK_ERR(0, json_get_u64(s, &t[i], &v));
	CHECK_EQ(v, 9);
	i = json_path(s, t, 0, "guest.cpus.0.id");
	REQUIRE(i > 0);
	CHECK_ERR(0, json_get_u64(s, &t[i], &v));
	CHECK_EQ(v, 0);
	i = json_path(s, t, 0, "guest.n");
	REQUIRE(i > 0);
	CHECK_ERR(0, json_get_u64(s, &t[i], &v));
	CHECK_EQ(v, 2);
	CHECK_EQ(t[json_path(s, t, 0, "x")].type, JSON_BOOL);
	/* relative to another root */
	i = json_path(s, t, 0, "guest.cpus");
	REQUIRE(i > 0);
	CHECK_EQ(json_path(s, t, (unsigned)i, "1.id"), json_path(s, t, 0, "guest.cpus.1.id"));
	/* misses */
	CHECK_ERR(-ENOENT, json_path(s, t, 0, "guest.cpus.2"));
	CHECK_ERR(-ENOENT, json_path(s, t, 0, "guest.cpus.-1"));
	CHECK_ERR(-ENOENT, json_path(s, t, 0, "guest.cpus.1x"));
	CHECK_ERR(-ENOENT, json_path(s, t, 0, "guest.cpus..id"));
	CHECK_ERR(-ENOENT, json_path(s, t, 0, "guest.cpus.99999999999999999999999"));
	CHECK_ERR(-ENOENT, json_path(s, t, 0, "guest.n.more"));	/* through a number */
	CHECK_ERR(-ENOENT, json_path(s, t, 0, "nope"));
	CHECK_ERR(-ENOENT, json_path(s, t, 0, ".guest"));
	CHECK_ERR(-ENOENT, json_path(s, t, 0,
		"a_key_that_is_much_longer_than_any_buffer_could_hold_for_keys_abcdefgh"));
}

/* ---- getters ---------------------------------------------------------------- */

static int get_str_of(const char *doc, char *out, size_t cap)
{
	struct json_tok t[4];
	size_t off;
	int n = parse(doc, t, ARRAY_SIZE(t), &off);

	if (n < 0)
		return -1000 + n;
	return json_get_str(doc, &t[0], out, cap);
}

static void get_str_unescapes(void)
{
	static const struct {
		const char *doc, *want;
	} c[] = {
		{ "\"\"", "" },
		{ "\"plain\"", "plain" },
		{ "\"q\\\"b\\\\s\\/\"", "q\"b\\s/" },
		{ "\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t" },
		{ "\"\\u0041\\u0062\"", "Ab" },
		{ "\"\\u00e9\"", "\xc3\xa9" },
		{ "\"\\u00E9\"", "\xc3\xa9" },
		{ "\"\\u007f\\u0080\"", "\x7f\xc2\x80" },
		{ "\"\\u07ff\\u0800\"", "\xdf\xbf\xe0\xa0\x80" },
		{ "\"\\u20ac\"", "\xe2\x82\xac" },
		{ "\"\\uffff\"", "\xef\xbf\xbf" },
		{ "\"\\u0001\\u001f\"", "\x01\x1f" },
		{ "\"a\\u00e9b\\nc\"", "a\xc3\xa9" "b\nc" },
		{ "\"raw \xc3\xa9\"", "raw \xc3\xa9" },
	};
	char out[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		int n = get_str_of(c[i].doc, out, sizeof(out));

		if (n != (int)strlen(c[i].want) || strcmp(out, c[i].want))
			tap_fail(__FILE__, __LINE__, "get_str(%s): got %d", c[i].doc, n);
	}
}

/* RFC 8259 §7: characters outside the BMP are escaped as a UTF-16
 * surrogate pair; the result must be their one 4-byte UTF-8 sequence, and
 * a lone surrogate cannot be expressed in UTF-8 at all. */
static void get_str_surrogates(void)
{
	char out[64] = "";
	int n;

	n = get_str_of("\"\\ud83d\\ude00\"", out, sizeof(out));	/* U+1F600 */
	CHECK_EQ(n, 4);
	CHECK(!strcmp(out, "\xf0\x9f\x98\x80"));
	n = get_str_of("\"x\\uD834\\uDD1Ey\"", out, sizeof(out));	/* U+1D11E */
	CHECK_EQ(n, 6);
	CHECK(!strcmp(out, "x\xf0\x9d\x84\x9ey"));
	CHECK_ERR(-EINVAL, get_str_of("\"\\ud800\"", out, sizeof(out)));
	CHECK_ERR(-EINVAL, get_str_of("\"\\udc00\\ud800\"", out, sizeof(out)));
	CHECK_ERR(-EINVAL, get_str_of("\"\\ud800x\"", out, sizeof(out)));
}

static void get_str_rejects_nul_and_non_strings(void)
{
	struct json_tok t[4];
	char out[16] = "unchanged";
	size_t off;

	CHECK_ERR(-EINVAL, get_str_of("\"\\u0000\"", out, sizeof(out)));
	CHECK_ERR(-EINVAL, get_str_of("\"ab\\u0000cd\"", out, sizeof(out)));
	REQUIRE(parse("12", t, 4, &off) == 1);
	CHECK_ERR(-EINVAL, json_get_str("12", &t[0], out, sizeof(out)));
	REQUIRE(parse("[\"a\"]", t, 4, &off) == 2);
	CHECK_ERR(-EINVAL, json_get_str("[\"a\"]", &t[0], out, sizeof(out)));
	CHECK_EQ(json_get_str("[\"a\"]", &t[1], out, sizeof(out)), 1);
}

static void get_str_small_buffers(void)
{
	char out[8];

	memset(out, 'z', sizeof(out));
	CHECK_EQ(get_str_of("\"abc\"", out, 4), 3);
	CHECK_STR(out, "abc");
	CHECK_ERR(-E2BIG, get_str_of("\"abc\"", out, 3));
	CHECK_ERR(-E2BIG, get_str_of("\"abc\"", out, 1));
	CHECK_EQ(get_str_of("\"\"", out, 1), 0);
	CHECK_STR(out, "");
	/* escapes count by their output size */
	CHECK_EQ(get_str_of("\"\\n\"", out, 2), 1);
	CHECK_ERR(-E2BIG, get_str_of("\"\\n\"", out, 1));
	CHECK_EQ(get_str_of("\"\\u00e9\"", out, 3), 2);
	CHECK_ERR(-E2BIG, get_str_of("\"\\u00e9\"", out, 2));
	CHECK_EQ(get_str_of("\"\\u20ac\"", out, 4), 3);
	CHECK_ERR(-E2BIG, get_str_of("\"\\u20ac\"", out, 3));
	CHECK_ERR(-E2BIG, get_str_of("\"a\\u0041\"", out, 2));
	/* never writes past cap */
	memset(out, 'z', sizeof(out));
	CHECK_ERR(-E2BIG, get_str_of("\"abcdefgh\"", out, 4));
	CHECK_EQ(out[4], 'z');
	memset(out, 'z', sizeof(out));
	CHECK_ERR(-E2BIG, get_str_of("\"ab\\u20ac\"", out, 4));
	CHECK_EQ(out[4], 'z');
}

static void get_u64_values(void)
{
	static const struct {
		const char *doc;
		int ret;
		uint64_t v;
	} c[] = {
		{ "0", 0, 0 },
		{ "7", 0, 7 },
		{ "123456789", 0, 123456789 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "18446744073709551620", -ERANGE, 0 },
		{ "99999999999999999999", -ERANGE, 0 },
		{ "100000000000000000000000", -ERANGE, 0 },
		{ "-1", -EINVAL, 0 },
		{ "-0", -EINVAL, 0 },
		{ "1.0", -EINVAL, 0 },
		{ "1.5", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "1E0", -EINVAL, 0 },
		{ "\"1\"", -EINVAL, 0 },
		{ "true", -EINVAL, 0 },
		{ "null", -EINVAL, 0 },
		{ "[1]", -EINVAL, 0 },
	};
	struct json_tok t[4];
	size_t i, off;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		uint64_t v = 0xabcd;
		int ret;

		if (parse(c[i].doc, t, ARRAY_SIZE(t), &off) < 1) {
			tap_fail(__FILE__, __LINE__, "parse(%s) failed", c[i].doc);
			continue;
		}
		ret = json_get_u64(c[i].doc, &t[0], &v);
		if (ret != c[i].ret || (!ret && v != c[i].v) || (ret && v != 0xabcd))
			tap_fail(__FILE__, __LINE__, "get_u64(%s): expected %d/%" PRIu64 ", got %d/%" PRIu64,
				 c[i].doc, c[i].ret, c[i].v, ret, v);
	}
}

static void get_bool_values(void)
{
	struct json_tok t[4];
	size_t off;
	bool b = false;

	REQUIRE(parse("true", t, 4, &off) == 1);
	CHECK_ERR(0, json_get_bool("true", &t[0], &b));
	CHECK_EQ(b, true);
	REQUIRE(parse("false", t, 4, &off) == 1);
	CHECK_ERR(0, json_get_bool("false", &t[0], &b));
	CHECK_EQ(b, false);
	b = true;
	REQUIRE(parse("null", t, 4, &off) == 1);
	CHECK_ERR(-EINVAL, json_get_bool("null", &t[0], &b));
	REQUIRE(parse("1", t, 4, &off) == 1);
	CHECK_ERR(-EINVAL, json_get_bool("1", &t[0], &b));
	REQUIRE(parse("\"true\"", t, 4, &off) == 1);
	CHECK_ERR(-EINVAL, json_get_bool("\"true\"", &t[0], &b));
	CHECK_EQ(b, true);
}

/* ---- writer ---------------------------------------------------------------- */

static void writer_document(void)
{
	char buf[256];
	struct json_writer w;
	int n;

	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w);
	jw_ku64(&w, "a", 1);
	jw_key(&w, "b");
	jw_arr_begin(&w);
	jw_bool(&w, true);
	jw_bool(&w, false);
	jw_null(&w);
	jw_str(&w, "x");
	jw_arr_end(&w);
	jw_key(&w, "c");
	jw_obj_begin(&w);
	jw_key(&w, "d");
	jw_i64(&w, -5);
	jw_key(&w, "e");
	jw_fixed3(&w, 1234);
	jw_obj_end(&w);
	jw_kstr(&w, "f", "");
	jw_kbool(&w, "g", false);
	jw_obj_end(&w);
	n = jw_finish(&w);
	CHECK_STR(buf, "{\"a\":1,\"b\":[true,false,null,\"x\"],\"c\":{\"d\":-5,\"e\":1.234},\"f\":\"\",\"g\":false}");
	CHECK_EQ(n, strlen(buf));
}

static void writer_commas_in_nesting(void)
{
	char buf[256];
	struct json_writer w;

	jw_init(&w, buf, sizeof(buf));
	jw_arr_begin(&w);
	jw_arr_begin(&w);
	jw_arr_end(&w);
	jw_arr_begin(&w);
	jw_u64(&w, 1);
	jw_arr_end(&w);
	jw_obj_begin(&w);
	jw_key(&w, "a");
	jw_arr_begin(&w);
	jw_obj_begin(&w);
	jw_obj_end(&w);
	jw_obj_begin(&w);
	jw_obj_end(&w);
	jw_arr_end(&w);
	jw_key(&w, "b");
	jw_obj_begin(&w);
	jw_obj_end(&w);
	jw_obj_end(&w);
	jw_u64(&w, 2);
	jw_arr_end(&w);
	CHECK(jw_finish(&w) > 0);
	CHECK_STR(buf, "[[],[1],{\"a\":[{},{}],\"b\":{}},2]");
}

static void writer_numbers(void)
{
	char buf[256];
	struct json_writer w;

	jw_init(&w, buf, sizeof(buf));
	jw_arr_begin(&w);
	jw_u64(&w, 0);
	jw_u64(&w, UINT64_MAX);
	jw_i64(&w, INT64_MIN);
	jw_i64(&w, INT64_MAX);
	jw_fixed3(&w, 0);
	jw_fixed3(&w, 5);
	jw_fixed3(&w, 1000);
	jw_fixed3(&w, UINT64_MAX);
	jw_arr_end(&w);
	CHECK(jw_finish(&w) > 0);
	CHECK_STR(buf, "[0,18446744073709551615,-9223372036854775808,9223372036854775807,"
		  "0.000,0.005,1.000,18446744073709551.615]");
}

static void writer_escaping(void)
{
	char buf[256];
	struct json_writer w;

	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w);
	jw_kstr(&w, "k\"\\", "q\"b\\s/\n\x01\x1f\x7f\xc3\xa9\t\r");
	jw_obj_end(&w);
	CHECK(jw_finish(&w) > 0);
	CHECK_STR(buf, "{\"k\\\"\\\\\":\"q\\\"b\\\\s/\\u000a\\u0001\\u001f\x7f\xc3\xa9\\u0009\\u000d\"}");
}

static void writer_output_parses(void)
{
	char buf[512], out[64];
	struct json_writer w;
	struct json_tok t[NTOK];
	size_t off;
	uint64_t v;
	int n, i;

	jw_init(&w, buf, sizeof(buf));
	jw_obj_begin(&w);
	jw_kstr(&w, "s", "tab\there \"quoted\" \x01");
	jw_ku64(&w, "n", 42);
	jw_key(&w, "l");
	jw_arr_begin(&w);
	jw_fixed3(&w, 999);
	jw_i64(&w, -1);
	jw_arr_end(&w);
	jw_obj_end(&w);
	n = jw_finish(&w);
	REQUIRE(n > 0);
	REQUIRE(json_parse(buf, (size_t)n, t, NTOK, &off) == 9);
	i = json_obj_find(buf, t, 0, "s");
	REQUIRE(i > 0);
	CHECK(json_get_str(buf, &t[i], out, sizeof(out)) > 0);
	CHECK_STR(out, "tab\there \"quoted\" \x01");
	i = json_obj_find(buf, t, 0, "n");
	REQUIRE(i > 0);
	CHECK_ERR(0, json_get_u64(buf, &t[i], &v));
	CHECK_EQ(v, 42);
}

/* Every capacity from 0 to the full length: -ENOSPC until it fits, never a
 * byte past cap, always NUL-terminated inside it. */
static void writer_overflow_every_capacity(void)
{
	char full[256], buf[300];
	struct json_writer w;
	size_t cap, want;

	jw_init(&w, full, sizeof(full));
	jw_obj_begin(&w);
	jw_kstr(&w, "name", "value with \"escapes\" \x02");
	jw_key(&w, "list");
	jw_arr_begin(&w);
	jw_u64(&w, 12345678901234ULL);
	jw_bool(&w, true);
	jw_null(&w);
	jw_arr_end(&w);
	jw_obj_end(&w);
	REQUIRE(jw_finish(&w) > 0);
	want = strlen(full);

	for (cap = 0; cap <= want + 2; cap++) {
		int n;

		memset(buf, '#', sizeof(buf));
		jw_init(&w, buf, cap);
		jw_obj_begin(&w);
		jw_kstr(&w, "name", "value with \"escapes\" \x02");
		jw_key(&w, "list");
		jw_arr_begin(&w);
		jw_u64(&w, 12345678901234ULL);
		jw_bool(&w, true);
		jw_null(&w);
		jw_arr_end(&w);
		jw_obj_end(&w);
		n = jw_finish(&w);
		if (cap <= want) {
			if (n != -ENOSPC || !w.overflow)
				tap_fail(__FILE__, __LINE__, "cap %zu: expected -ENOSPC, got %d", cap, n);
		} else if (n != (int)want || strcmp(buf, full)) {
			tap_fail(__FILE__, __LINE__, "cap %zu: expected %zu bytes, got %d", cap, want, n);
		}
		if (buf[cap] != '#')
			tap_fail(__FILE__, __LINE__, "cap %zu: byte past cap written", cap);
		if (cap && !memchr(buf, '\0', cap))
			tap_fail(__FILE__, __LINE__, "cap %zu: not NUL-terminated", cap);
	}
}

static void writer_depth_limit(void)
{
	char buf[256], deep[256];
	struct json_writer w;
	struct json_tok t[NTOK];
	size_t off;
	unsigned i;
	int n;

	/* as deep as the writer's stack goes: fine, and parses */
	jw_init(&w, buf, sizeof(buf));
	for (i = 0; i < JSON_MAX_DEPTH - 1; i++)
		jw_arr_begin(&w);
	jw_u64(&w, 1);
	jw_u64(&w, 2);
	for (i = 0; i < JSON_MAX_DEPTH - 1; i++)
		jw_arr_end(&w);
	n = jw_finish(&w);
	REQUIRE(n > 0);
	CHECK_EQ(json_parse(buf, (size_t)n, t, NTOK, &off), JSON_MAX_DEPTH + 1);

	/* deeper than anything the parser accepts: flagged, not corrupted */
	jw_init(&w, deep, sizeof(deep));
	for (i = 0; i < JSON_MAX_DEPTH + 4; i++)
		jw_arr_begin(&w);
	for (i = 0; i < JSON_MAX_DEPTH + 4; i++)
		jw_arr_end(&w);
	CHECK_ERR(-ENOSPC, jw_finish(&w));
}

static void writer_zero_capacity(void)
{
	struct json_writer w;
	char c = '#';

	jw_init(&w, &c, 0);
	jw_null(&w);
	CHECK_ERR(-ENOSPC, jw_finish(&w));
	CHECK_EQ(c, '#');
	jw_init(&w, &c, 1);
	CHECK_EQ(jw_finish(&w), 0);
	CHECK_EQ(c, '\0');
	jw_null(&w);
	CHECK_ERR(-ENOSPC, jw_finish(&w));
}

/* Random strings (any byte but NUL) through the writer and back. */
static void round_trip_random_strings(void)
{
	static char buf[8192];
	unsigned iter;

	tap_rng_seed();
	for (iter = 0; iter < 5000; iter++) {
		char s[2][80], key[24], out[80];
		struct json_writer w;
		struct json_tok t[NTOK];
		size_t off, j;
		uint64_t num = tap_rng(), back = 0;
		unsigned k;
		int n, i;

		for (k = 0; k < 2; k++) {
			size_t len = tap_rng() % 80;

			for (j = 0; j < len; j++) {
				/* bias towards the interesting bytes */
				switch (tap_rng() % 4) {
				case 0: s[k][j] = (char)(1 + tap_rng() % 0x1f); break;
				case 1: s[k][j] = "\"\\/u"[tap_rng() % 4]; break;
				default: s[k][j] = (char)(1 + tap_rng() % 255); break;
				}
			}
			s[k][len] = '\0';
		}
		snprintf(key, sizeof(key), "k%u", iter);
		jw_init(&w, buf, sizeof(buf));
		jw_obj_begin(&w);
		jw_kstr(&w, key, s[0]);
		jw_key(&w, "arr");
		jw_arr_begin(&w);
		jw_str(&w, s[1]);
		jw_u64(&w, num);
		jw_arr_end(&w);
		jw_obj_end(&w);
		n = jw_finish(&w);
		if (n <= 0) {
			tap_fail(__FILE__, __LINE__, "iter %u: writer failed %d", iter, n);
			break;
		}
		if (json_parse(buf, (size_t)n, t, NTOK, &off) != 7) {
			tap_fail(__FILE__, __LINE__, "iter %u: output does not parse at %zu: %s",
				 iter, off, buf);
			break;
		}
		i = json_obj_find(buf, t, 0, key);
		if (i < 0 || json_get_str(buf, &t[i], out, sizeof(out)) != (int)strlen(s[0]) ||
		    strcmp(out, s[0])) {
			tap_fail(__FILE__, __LINE__, "iter %u: string 0 changed", iter);
			break;
		}
		i = json_obj_find(buf, t, 0, "arr");
		if (i < 0 || t[i].count != 2 ||
		    json_get_str(buf, &t[i + 1], out, sizeof(out)) != (int)strlen(s[1]) ||
		    strcmp(out, s[1]) || json_get_u64(buf, &t[i + 2], &back) || back != num) {
			tap_fail(__FILE__, __LINE__, "iter %u: array changed", iter);
			break;
		}
	}
}

/* Random byte soup never crashes the reader and errors carry an offset
 * inside the input. */
static void random_input_never_crashes(void)
{
	static const char alphabet[] = "{}[]\",:\\ u0123456789abcdef-+.eEtrufalsn\x01\t\n";
	char s[64];
	unsigned iter, ok = 0;

	tap_rng_seed();
	for (iter = 0; iter < 200000; iter++) {
		struct json_tok t[16];
		size_t len = tap_rng() % sizeof(s), j, off = 0;
		int n;

		for (j = 0; j < len; j++)
			s[j] = alphabet[tap_rng() % (sizeof(alphabet) - 1)];
		n = json_parse(s, len, t, ARRAY_SIZE(t), &off);
		if (n >= 0) {
			ok++;
			if (n == 0 || t[0].next != (uint32_t)n) {
				tap_fail(__FILE__, __LINE__, "iter %u: bad token tree", iter);
				break;
			}
		} else if ((n != -EINVAL && n != -E2BIG) || off > len) {
			tap_fail(__FILE__, __LINE__, "iter %u: ret %d off %zu len %zu", iter, n, off, len);
			break;
		}
	}
	tap_diag("%u of %u random inputs parsed", ok, iter);
}

static const struct tap_case cases[] = {
	TAP_CASE(parse_scalars),
	TAP_CASE(parse_nested_layout),
	TAP_CASE(parse_whitespace_everywhere),
	TAP_CASE(parse_respects_len),
	TAP_CASE(reject_malformed_with_offset),
	TAP_CASE(reject_bad_strings),
	TAP_CASE(depth_limit),
	TAP_CASE(token_limit),
	TAP_CASE(malformed_is_einval_even_without_tokens),
	TAP_CASE(obj_find_members),
	TAP_CASE(obj_find_after_deep_value),
	TAP_CASE(path_lookup),
	TAP_CASE(get_str_unescapes),
	TAP_CASE(get_str_surrogates),
	TAP_CASE(get_str_rejects_nul_and_non_strings),
	TAP_CASE(get_str_small_buffers),
	TAP_CASE(get_u64_values),
	TAP_CASE(get_bool_values),
	TAP_CASE(writer_document),
	TAP_CASE(writer_commas_in_nesting),
	TAP_CASE(writer_numbers),
	TAP_CASE(writer_escaping),
	TAP_CASE(writer_output_parses),
	TAP_CASE(writer_overflow_every_capacity),
	TAP_CASE(writer_depth_limit),
	TAP_CASE(writer_zero_capacity),
	TAP_CASE(round_trip_random_strings),
	TAP_CASE(random_input_never_crashes),
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
