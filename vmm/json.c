// SPDX-License-Identifier: MIT
/*
 * json.c: strict JSON tokeniser and a bounded writer (see json.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

struct jp {
	const char *s;
	size_t len, pos;
	struct json_tok *t;
	unsigned max, n;
	int err;		/* -EINVAL or -E2BIG once failed */
};

static void ws(struct jp *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int fail(struct jp *p, int err)
{
	if (!p->err)
		p->err = err;
	return -1;
}

static int new_tok(struct jp *p, enum json_type type)
{
	if (p->n >= p->max)
		return fail(p, -E2BIG);
	p->t[p->n] = (struct json_tok){ .type = type, .start = (uint32_t)p->pos };
	return (int)p->n++;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/* Scan a string; the token is taken only once it is known to be valid,
 * so malformed input is -EINVAL even when tokens have run out. */
static int parse_string(struct jp *p)
{
	size_t start = ++p->pos;	/* past the opening quote */
	int i;

	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos];

		if (c == '"') {
			i = new_tok(p, JSON_STR);
			if (i < 0)
				return -1;
			p->t[i].start = (uint32_t)start;
			p->t[i].end = (uint32_t)p->pos++;
			p->t[i].next = p->n;
			return i;
		}
		if (c < 0x20)
			return fail(p, -EINVAL);
		if (c == '\\') {
			if (++p->pos >= p->len)
				break;
			c = (unsigned char)p->s[p->pos];
			if (c == 'u') {
				int k;

				for (k = 1; k <= 4; k++)
					if (p->pos + (size_t)k >= p->len ||
					    !is_hex(p->s[p->pos + (size_t)k]))
						return fail(p, -EINVAL);
				p->pos += 4;
			} else if (!strchr("\"\\/bfnrt", c)) {
				return fail(p, -EINVAL);
			}
		}
		p->pos++;
	}
	return fail(p, -EINVAL);
}

static void digits(struct jp *p)
{
	while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
		p->pos++;
}

static int parse_number(struct jp *p)
{
	size_t start = p->pos, d;
	int i;

	if (p->pos < p->len && p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len)
		return fail(p, -EINVAL);
	if (p->s[p->pos] == '0')
		p->pos++;
	else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9')
		digits(p);
	else
		return fail(p, -EINVAL);
	if (p->pos < p->len && p->s[p->pos] == '.') {
		d = ++p->pos;
		digits(p);
		if (p->pos == d)
			return fail(p, -EINVAL);
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		d = p->pos;
		digits(p);
		if (p->pos == d)
			return fail(p, -EINVAL);
	}
	i = new_tok(p, JSON_NUM);
	if (i < 0)
		return -1;
	p->t[i].start = (uint32_t)start;
	p->t[i].end = (uint32_t)p->pos;
	p->t[i].next = p->n;
	return i;
}

static int parse_literal(struct jp *p, const char *word, enum json_type type)
{
	size_t n = strlen(word);
	int i;

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n))
		return fail(p, -EINVAL);
	i = new_tok(p, type);
	if (i < 0)
		return -1;
	p->pos += n;
	p->t[i].end = (uint32_t)p->pos;
	p->t[i].next = p->n;
	return i;
}

static int parse_value(struct jp *p, unsigned depth);

static int parse_container(struct jp *p, unsigned depth, bool is_obj)
{
	char close = is_obj ? '}' : ']';
	int i;

	if (depth >= JSON_MAX_DEPTH)
		return fail(p, -E2BIG);
	i = new_tok(p, is_obj ? JSON_OBJ : JSON_ARR);
	if (i < 0)
		return -1;
	p->pos++;
	ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		goto done;
	}
	for (;;) {
		ws(p);
		if (is_obj) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, -EINVAL);
			if (parse_string(p) < 0)
				return -1;
			ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return fail(p, -EINVAL);
			p->pos++;
		}
		if (parse_value(p, depth + 1) < 0)
			return -1;
		p->t[i].count++;
		ws(p);
		if (p->pos >= p->len)
			return fail(p, -EINVAL);
		if (p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->s[p->pos] != close)
			return fail(p, -EINVAL);
		p->pos++;
		break;
	}
done:
	p->t[i].end = (uint32_t)p->pos;
	p->t[i].next = p->n;
	return i;
}

static int parse_value(struct jp *p, unsigned depth)
{
	ws(p);
	if (p->pos >= p->len)
		return fail(p, -EINVAL);
	switch (p->s[p->pos]) {
	case '{':
		return parse_container(p, depth, true);
	case '[':
		return parse_container(p, depth, false);
	case '"':
		return parse_string(p);
	case 't':
		return parse_literal(p, "true", JSON_BOOL);
	case 'f':
		return parse_literal(p, "false", JSON_BOOL);
	case 'n':
		return parse_literal(p, "null", JSON_NULL);
	default:
		return parse_number(p);
	}
}

int json_parse(const char *s, size_t len, struct json_tok *t, unsigned max,
	       size_t *err_off)
{
	struct jp p = { .s = s, .len = len, .t = t, .max = max };

	if (len > UINT32_MAX) {
		*err_off = 0;
		return -E2BIG;
	}
	if (parse_value(&p, 0) >= 0) {
		ws(&p);
		if (p.pos == p.len)
			return (int)p.n;
		p.err = -EINVAL;	/* trailing bytes after the value */
	}
	*err_off = p.pos;
	return p.err ? p.err : -EINVAL;
}

static bool key_equals(const char *s, const struct json_tok *k, const char *key)
{
	size_t n = strlen(key);

	/* keys we look for never need escapes; an escaped key never matches */
	return k->end - k->start == n && !memcmp(s + k->start, key, n);
}

int json_obj_find(const char *s, const struct json_tok *t, unsigned obj,
		  const char *key)
{
	unsigned i = obj + 1, m;

	if (t[obj].type != JSON_OBJ)
		return -EINVAL;
	for (m = 0; m < t[obj].count; m++) {
		unsigned v = i + 1;

		if (key_equals(s, &t[i], key))
			return (int)v;
		i = t[v].next;
	}
	return -ENOENT;
}

int json_path(const char *s, const struct json_tok *t, unsigned root, const char *path)
{
	char key[64];
	int cur = (int)root;

	while (*path) {
		size_t n = strcspn(path, ".");

		if (n >= sizeof(key))
			return -ENOENT;
		memcpy(key, path, n);
		key[n] = '\0';
		path += n + (path[n] == '.');
		if (t[cur].type == JSON_OBJ) {
			cur = json_obj_find(s, t, (unsigned)cur, key);
			if (cur < 0)
				return -ENOENT;
		} else if (t[cur].type == JSON_ARR) {
			uint64_t idx = 0;
			unsigned i, el;
			size_t k;

			for (k = 0; k < n; k++) {
				if (key[k] < '0' || key[k] > '9' || idx > 1000000)
					return -ENOENT;
				idx = idx * 10 + (uint64_t)(key[k] - '0');
			}
			if (!n || idx >= t[cur].count)
				return -ENOENT;
			el = (unsigned)cur + 1;
			for (i = 0; i < idx; i++)
				el = t[el].next;
			cur = (int)el;
		} else {
			return -ENOENT;
		}
	}
	return cur;
}

static unsigned hexval(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned)(c - 'a' + 10);
	return (unsigned)(c - 'A' + 10);
}

/* Encode code point cp as UTF-8; returns bytes written or 0 if no room. */
static size_t put_utf8(char *out, size_t room, unsigned cp)
{
	if (cp >= 0x10000 && room >= 4) {
		out[0] = (char)(0xf0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[3] = (char)(0x80 | (cp & 0x3f));
		return 4;
	}
	if (cp >= 0x10000)
		return 0;
	if (cp < 0x80 && room >= 1) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800 && room >= 2) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp >= 0x800 && room >= 3) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	return 0;
}

static unsigned hex4(const char *h)
{
	return hexval(h[0]) << 12 | hexval(h[1]) << 8 | hexval(h[2]) << 4 | hexval(h[3]);
}

int json_get_str(const char *s, const struct json_tok *tok, char *out, size_t cap)
{
	size_t o = 0;
	uint32_t i;

	if (tok->type != JSON_STR || cap == 0)
		return -EINVAL;
	for (i = tok->start; i < tok->end; i++) {
		char c = s[i];

		if (c == '\\') {
			c = s[++i];
			switch (c) {
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				unsigned cp = hex4(s + i + 1);
				size_t n;

				i += 4;
				if (cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
					return -EINVAL;	/* NUL, lone low surrogate */
				if (cp >= 0xd800 && cp <= 0xdbff) {
					/* a high surrogate needs its low half next */
					unsigned lo;

					if (i + 6 >= tok->end || s[i + 1] != '\\' ||
					    s[i + 2] != 'u')
						return -EINVAL;
					lo = hex4(s + i + 3);
					if (lo < 0xdc00 || lo > 0xdfff)
						return -EINVAL;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					i += 6;
				}
				n = put_utf8(out + o, cap - 1 - o, cp);
				if (!n)
					return -E2BIG;
				o += n;
				continue;
			}
			default: break;	/* \" \\ \/ */
			}
		}
		if (o + 1 >= cap)
			return -E2BIG;
		out[o++] = c;
	}
	out[o] = '\0';
	return (int)o;
}

int json_get_u64(const char *s, const struct json_tok *tok, uint64_t *out)
{
	uint64_t v = 0;
	uint32_t i;

	if (tok->type != JSON_NUM || tok->end == tok->start)
		return -EINVAL;
	for (i = tok->start; i < tok->end; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;	/* sign, fraction or exponent */
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int json_get_bool(const char *s, const struct json_tok *tok, bool *out)
{
	if (tok->type != JSON_BOOL)
		return -EINVAL;
	*out = s[tok->start] == 't';
	return 0;
}

/* ---- writer ---------------------------------------------------------- */

void jw_init(struct json_writer *w, char *buf, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = cap;
}

static void put(struct json_writer *w, const char *p, size_t n)
{
	/* keep one byte for the terminating NUL */
	if (w->len + n + 1 > w->cap) {
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void putc_(struct json_writer *w, char c)
{
	put(w, &c, 1);
}

/* Comma before a value unless it is the first in its container or follows
 * a key. */
static void sep(struct json_writer *w)
{
	if (w->need_comma[w->depth])
		putc_(w, ',');
	w->need_comma[w->depth] = true;
}

static void open_(struct json_writer *w, char c)
{
	sep(w);
	putc_(w, c);
	if (w->depth + 1 < JSON_MAX_DEPTH) {
		w->depth++;
		w->need_comma[w->depth] = false;
	} else {
		w->overflow = true;
	}
}

static void close_(struct json_writer *w, char c)
{
	if (w->depth)
		w->depth--;
	putc_(w, c);
}

void jw_obj_begin(struct json_writer *w) { open_(w, '{'); }
void jw_obj_end(struct json_writer *w) { close_(w, '}'); }
void jw_arr_begin(struct json_writer *w) { open_(w, '['); }
void jw_arr_end(struct json_writer *w) { close_(w, ']'); }

static void put_escaped(struct json_writer *w, const char *v)
{
	putc_(w, '"');
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(w, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(w, esc, 6);
		} else {
			putc_(w, (char)c);
		}
	}
	putc_(w, '"');
}

void jw_key(struct json_writer *w, const char *key)
{
	sep(w);
	put_escaped(w, key);
	putc_(w, ':');
	/* the value that follows must not add a comma */
	w->need_comma[w->depth] = false;
}

void jw_str(struct json_writer *w, const char *v)
{
	sep(w);
	put_escaped(w, v);
}

void jw_u64(struct json_writer *w, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRIu64, v);

	sep(w);
	put(w, b, (size_t)n);
}

void jw_i64(struct json_writer *w, int64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%" PRId64, v);

	sep(w);
	put(w, b, (size_t)n);
}

void jw_fixed3(struct json_writer *w, uint64_t thousandths)
{
	char b[32];
	int n = snprintf(b, sizeof(b), "%" PRIu64 ".%03u", thousandths / 1000,
			 (unsigned)(thousandths % 1000));

	sep(w);
	put(w, b, (size_t)n);
}

void jw_bool(struct json_writer *w, bool v)
{
	sep(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct json_writer *w)
{
	sep(w);
	put(w, "null", 4);
}

void jw_kstr(struct json_writer *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_str(w, v);
}

void jw_ku64(struct json_writer *w, const char *k, uint64_t v)
{
	jw_key(w, k);
	jw_u64(w, v);
}

void jw_kbool(struct json_writer *w, const char *k, bool v)
{
	jw_key(w, k);
	jw_bool(w, v);
}

int jw_finish(struct json_writer *w)
{
	if (w->cap)
		w->buf[w->len < w->cap ? w->len : w->cap - 1] = '\0';
	return w->overflow ? -ENOSPC : (int)w->len;
}
