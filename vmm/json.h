/* SPDX-License-Identifier: MIT */
/*
 * json.h: a small, strict JSON reader and writer for the control socket.
 *
 * The reader tokenises one document into a caller-provided token array
 * (no allocation) and rejects anything malformed with the byte offset of
 * the problem: control-socket input is hostile. The writer appends to a
 * fixed buffer and records overflow instead of failing each call.
 */
#ifndef LUVMM_JSON_H
#define LUVMM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

struct json_tok {
	uint8_t type;		/* enum json_type */
	uint32_t start;		/* offset of the first byte (inside quotes for strings) */
	uint32_t end;		/* offset one past the last byte */
	uint32_t count;		/* members (objects: key+value pairs) or elements */
	uint32_t next;		/* index of the token after this whole subtree */
};

#define JSON_MAX_DEPTH	16

/*
 * Parse exactly one JSON value (surrounding white space allowed) from
 * s[0..len). Object members are stored as a key token (JSON_STR) followed by
 * the value's subtree. Returns the number of tokens, -EINVAL for malformed
 * input (*err_off = offset), -E2BIG when more than max tokens are needed or
 * nesting exceeds JSON_MAX_DEPTH.
 */
int __must_check json_parse(const char *s, size_t len, struct json_tok *t,
			    unsigned max, size_t *err_off);

/* Index of the value for `key` in object token obj, or -ENOENT. */
int json_obj_find(const char *s, const struct json_tok *t, unsigned obj,
		  const char *key);
/* Index of the value at a dotted path ("guest.cpus.1.hb_seq"; array
 * elements by number) below token `root`, or -ENOENT. */
int json_path(const char *s, const struct json_tok *t, unsigned root, const char *path);
/* Copy a string token out, unescaped and NUL-terminated. -EINVAL if not a
 * string or it holds \u0000, -E2BIG if it does not fit. */
int __must_check json_get_str(const char *s, const struct json_tok *tok,
			      char *out, size_t cap);
/* A non-negative integer token. -EINVAL if not one, -ERANGE if too big. */
int __must_check json_get_u64(const char *s, const struct json_tok *tok,
			      uint64_t *out);
int __must_check json_get_bool(const char *s, const struct json_tok *tok,
			       bool *out);

/* Writer. */
struct json_writer {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;		/* something did not fit: output is truncated */
	uint8_t depth;
	bool need_comma[JSON_MAX_DEPTH];
};

void jw_init(struct json_writer *w, char *buf, size_t cap);
void jw_obj_begin(struct json_writer *w);
void jw_obj_end(struct json_writer *w);
void jw_arr_begin(struct json_writer *w);
void jw_arr_end(struct json_writer *w);
/* Key of the next member of the current object. */
void jw_key(struct json_writer *w, const char *key);
void jw_str(struct json_writer *w, const char *v);
void jw_u64(struct json_writer *w, uint64_t v);
void jw_i64(struct json_writer *w, int64_t v);
void jw_bool(struct json_writer *w, bool v);
void jw_null(struct json_writer *w);
/* A number with three decimals (microseconds as milliseconds, ...). */
void jw_fixed3(struct json_writer *w, uint64_t thousandths);
/* key + value shorthands */
void jw_kstr(struct json_writer *w, const char *k, const char *v);
void jw_ku64(struct json_writer *w, const char *k, uint64_t v);
void jw_kbool(struct json_writer *w, const char *k, bool v);
/* NUL-terminate; returns the length or -ENOSPC if anything was cut. */
int __must_check jw_finish(struct json_writer *w);

#endif
