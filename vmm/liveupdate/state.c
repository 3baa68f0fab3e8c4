// SPDX-License-Identifier: MIT
/*
 * state.c: the generic state record codec: header, section framing and
 * trailer, the sticky-error writer, whole-stream validation, the section
 * decoder's slow paths and error messages, and the section-type names.
 * The contents of each section belong to its owner (vcpu.c, devices, ...).
 * docs/state-format.md is the normative description of the bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "crc32c.h"
#include "state.h"

/* Header field offsets. */
#define HDR_MAGIC	0
#define HDR_MAJOR	8
#define HDR_MINOR	10
#define HDR_FLAGS	12
#define HDR_TOTAL	16
/* Section header field offsets. */
#define SEC_TYPE	0
#define SEC_VERSION	4
#define SEC_FLAGS	6
#define SEC_INSTANCE	8
#define SEC_LEN		12

_Static_assert(LU_HDR_LEN == HDR_TOTAL + 8, "header layout");
_Static_assert(LU_SEC_HDR_LEN == SEC_LEN + 4, "section header layout");
_Static_assert(sizeof(LU_MAGIC) == LU_MAGIC_LEN, "magic is 8 bytes");
_Static_assert(LU_HDR_LEN % LU_ALIGN == 0 && LU_SEC_HDR_LEN % LU_ALIGN == 0 &&
	       LU_TRAILER_LEN % LU_ALIGN == 0, "8-byte framing");

enum lu_writer_phase {
	W_INIT,		/* lu_writer_begin() not called yet */
	W_TOP,		/* between sections */
	W_SECTION,	/* inside a section */
	W_DONE,		/* finished (or failed) */
};

static const struct {
	uint32_t type;
	const char *name;
} section_names[] = {
#define LU_SEC_NAME(sfx, val, str)	{ LU_SEC_##sfx, str },
	LU_SECTION_TYPES(LU_SEC_NAME)
#undef LU_SEC_NAME
};

const char *lu_section_name(uint32_t type)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(section_names); i++)
		if (section_names[i].type == type)
			return section_names[i].name;
	return NULL;
}

/* ---- writer -------------------------------------------------------------- */

static void w_fail(struct lu_writer *w, int err)
{
	if (!w->err)
		w->err = err;
	w->phase = W_DONE;
	w->lim = w->pos;	/* every later put overflows, i.e. is a no-op */
}

void lu_writer_overflow(struct lu_writer *w)
{
	w_fail(w, w->phase == W_SECTION ? -ENOSPC : -EINVAL);
}

void lu_writer_init(struct lu_writer *w, void *buf, size_t cap)
{
	*w = (struct lu_writer){ .buf = buf, .cap = cap, .phase = W_INIT };
	if (!buf)
		w_fail(w, -EINVAL);
}

void lu_writer_begin(struct lu_writer *w)
{
	uint8_t *h = w->buf;

	if (w->phase != W_INIT) {
		w_fail(w, -EINVAL);
		return;
	}
	if (w->cap < LU_MIN_LEN) {
		w_fail(w, -ENOSPC);
		return;
	}
	memcpy(h + HDR_MAGIC, LU_MAGIC, LU_MAGIC_LEN);
	put_le16(h + HDR_MAJOR, LU_MAJOR);
	put_le16(h + HDR_MINOR, LU_MINOR);
	put_le32(h + HDR_FLAGS, 0);
	put_le64(h + HDR_TOTAL, 0);	/* patched by lu_writer_finish() */
	w->pos = w->lim = LU_HDR_LEN;
	w->phase = W_TOP;
}

void lu_section_begin(struct lu_writer *w, uint32_t type, uint16_t version,
		      uint16_t flags, uint32_t instance)
{
	uint8_t *s;

	if (w->phase != W_TOP || version == 0 || (flags & ~LU_SEC_F_KNOWN)) {
		w_fail(w, -EINVAL);
		return;
	}
	if (w->cap - w->pos < LU_SEC_HDR_LEN) {
		w_fail(w, -ENOSPC);
		return;
	}
	s = w->buf + w->pos;
	put_le32(s + SEC_TYPE, type);
	put_le16(s + SEC_VERSION, version);
	put_le16(s + SEC_FLAGS, flags);
	put_le32(s + SEC_INSTANCE, instance);
	put_le32(s + SEC_LEN, 0);	/* patched by lu_section_end() */
	w->sec = w->pos;
	w->pos += LU_SEC_HDR_LEN;
	/* The payload length is a u32: a longer payload cannot be framed. */
	w->lim = w->pos + MIN(w->cap - w->pos, (size_t)UINT32_MAX);
	w->phase = W_SECTION;
}

void lu_section_end(struct lu_writer *w)
{
	size_t plen, pad;

	if (w->phase != W_SECTION) {
		w_fail(w, -EINVAL);
		return;
	}
	plen = w->pos - w->sec - LU_SEC_HDR_LEN;
	pad = ALIGN_UP(plen, LU_ALIGN) - plen;
	if (w->cap - w->pos < pad) {
		w_fail(w, -ENOSPC);
		return;
	}
	put_le32(w->buf + w->sec + SEC_LEN, (uint32_t)plen);
	memset(w->buf + w->pos, 0, pad);
	w->pos += pad;
	w->lim = w->pos;
	w->phase = W_TOP;
}

void lu_put_str(struct lu_writer *w, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT16_MAX) {
		w_fail(w, -EINVAL);
		return;
	}
	lu_put_u16(w, (uint16_t)n);
	lu_put_bytes(w, s, n);
}

void lu_writer_append(struct lu_writer *w, const void *sections, size_t len)
{
	if (w->phase != W_TOP || len % LU_ALIGN || (len && !sections)) {
		w_fail(w, -EINVAL);
		return;
	}
	if (w->cap - w->pos < len) {
		w_fail(w, -ENOSPC);
		return;
	}
	memcpy(w->buf + w->pos, sections, len);
	w->pos += len;
}

int lu_writer_finish(struct lu_writer *w, size_t *len)
{
	uint8_t *b = w->buf;
	size_t total;

	if (w->err)
		return w->err;
	if (w->phase != W_TOP || !len) {
		w_fail(w, -EINVAL);
		return w->err;
	}
	if (w->cap - w->pos < LU_TRAILER_LEN) {
		w_fail(w, -ENOSPC);
		return w->err;
	}
	total = w->pos + LU_TRAILER_LEN;
	put_le64(b + HDR_TOTAL, total);
	put_le32(b + w->pos, crc32c(0, b, w->pos));
	put_le32(b + w->pos + 4, 0);
	w->pos = w->lim = total;
	w->phase = W_DONE;
	*len = total;
	return 0;
}

/* ---- messages ------------------------------------------------------------ */

__printf(2, 3) static void r_msg(struct lu_reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->msg[0])
		return;		/* the first error is the one that matters */
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
}

/* "section \"vcpu\" instance 1" or "section 0x12345 instance 1". */
static void sec_label(char *buf, size_t size, uint32_t type, uint32_t instance)
{
	const char *name = lu_section_name(type);

	if (name)
		snprintf(buf, size, "section \"%s\" instance %u", name, instance);
	else
		snprintf(buf, size, "section 0x%x instance %u", type, instance);
}

/* ---- stream validation --------------------------------------------------- */

static int check_header(struct lu_reader *r, const uint8_t *b, size_t avail,
			size_t max)
{
	uint64_t total;
	uint32_t flags;

	/* Magic and major first: another major may frame differently. */
	if (avail < HDR_MINOR) {
		r_msg(r, "header: truncated (%zu bytes)", avail);
		return -EBADMSG;
	}
	if (memcmp(b + HDR_MAGIC, LU_MAGIC, LU_MAGIC_LEN)) {
		r_msg(r, "header: bad magic");
		return -EBADMSG;
	}
	r->major = get_le16(b + HDR_MAJOR);
	if (r->major != LU_MAJOR) {
		r_msg(r, "header: major version %u, this reader knows %u",
		      r->major, LU_MAJOR);
		return -ENOTSUP;
	}
	if (avail < LU_MIN_LEN) {
		r_msg(r, "header: truncated (%zu bytes, need at least %d)",
		      avail, LU_MIN_LEN);
		return -EBADMSG;
	}
	r->minor = get_le16(b + HDR_MINOR);
	total = get_le64(b + HDR_TOTAL);
	if (total < LU_MIN_LEN || total % LU_ALIGN) {
		r_msg(r, "header: bad total length %" PRIu64, total);
		return -EBADMSG;
	}
	if (total > max) {
		r_msg(r, "header: total length %" PRIu64 " exceeds the limit %zu",
		      total, max);
		return -EBADMSG;
	}
	if (total > avail) {
		r_msg(r, "header: total length %" PRIu64
		      " but only %zu bytes available (truncated)", total, avail);
		return -EBADMSG;
	}
	r->len = (size_t)total;
	if (crc32c(0, b, r->len - LU_TRAILER_LEN) !=
	    get_le32(b + r->len - LU_TRAILER_LEN)) {
		r_msg(r, "trailer: CRC mismatch");
		return -EBADMSG;
	}
	if (get_le32(b + r->len - 4)) {
		r_msg(r, "trailer: reserved field not zero");
		return -EBADMSG;
	}
	flags = get_le32(b + HDR_FLAGS);
	if (flags) {
		r_msg(r, "header: unknown flags 0x%x", flags);
		return -ENOTSUP;
	}
	return 0;
}

/* Parse the section header at pos into *s (the caller checked it fits). */
static void parse_sec(const struct lu_reader *r, size_t pos,
		      struct lu_section *s)
{
	const uint8_t *h = r->buf + pos;

	s->type = get_le32(h + SEC_TYPE);
	s->version = get_le16(h + SEC_VERSION);
	s->flags = get_le16(h + SEC_FLAGS);
	s->instance = get_le32(h + SEC_INSTANCE);
	s->len = get_le32(h + SEC_LEN);
	s->payload = h + LU_SEC_HDR_LEN;
	s->offset = pos;
}

/* Check the framing of the section at pos; *next: where the next one starts. */
static int check_section(struct lu_reader *r, size_t pos, size_t end,
			 size_t *next)
{
	struct lu_section s;
	char label[96];
	size_t room, padded, i;

	if (end - pos < LU_SEC_HDR_LEN) {
		r_msg(r, "section header at offset %zu: truncated (%zu bytes left)",
		      pos, end - pos);
		return -EBADMSG;
	}
	parse_sec(r, pos, &s);
	sec_label(label, sizeof(label), s.type, s.instance);
	room = end - pos - LU_SEC_HDR_LEN;
	if (s.len > room) {
		r_msg(r, "%s at offset %zu: payload length %u exceeds the %zu bytes left",
		      label, pos, s.len, room);
		return -EBADMSG;
	}
	/* room is a multiple of 8, so the padding always fits. */
	padded = ALIGN_UP((size_t)s.len, LU_ALIGN);
	for (i = s.len; i < padded; i++) {
		if (s.payload[i]) {
			r_msg(r, "%s at offset %zu: padding byte %zu not zero",
			      label, pos, i - s.len);
			return -EBADMSG;
		}
	}
	if (s.version == 0) {
		r_msg(r, "%s at offset %zu: version 0", label, pos);
		return -EBADMSG;
	}
	if (s.flags & ~LU_SEC_F_KNOWN) {
		r_msg(r, "%s at offset %zu: unknown flags 0x%x", label, pos,
		      s.flags & ~LU_SEC_F_KNOWN);
		return -ENOTSUP;
	}
	if (!lu_section_name(s.type) && !(s.flags & LU_SEC_F_OPTIONAL)) {
		r_msg(r, "%s at offset %zu: unknown section type, not optional",
		      label, pos);
		return -ENOTSUP;
	}
	*next = pos + LU_SEC_HDR_LEN + padded;
	return 0;
}

int lu_stream_open(struct lu_reader *r, const void *buf, size_t avail,
		   size_t max)
{
	size_t pos, end;
	int ret;

	if (!r)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	if (!buf) {
		r_msg(r, "no buffer");
		return -EINVAL;
	}
	r->buf = buf;
	ret = check_header(r, buf, avail, max);
	if (ret)
		goto err;

	end = r->len - LU_TRAILER_LEN;
	for (pos = LU_HDR_LEN; pos < end; ) {
		ret = check_section(r, pos, end, &pos);
		if (ret)
			goto err;
		if (++r->nsections > LU_MAX_SECTIONS) {
			r_msg(r, "more than %d sections", LU_MAX_SECTIONS);
			ret = -EBADMSG;
			goto err;
		}
	}
	r->pos = LU_HDR_LEN;
	return 0;

err:
	/* Leave nothing to iterate over. */
	r->len = 0;
	r->pos = 0;
	r->nsections = 0;
	return ret;
}

int lu_stream_next(struct lu_reader *r, struct lu_section *sec)
{
	while (r->len && r->pos + LU_TRAILER_LEN < r->len) {
		parse_sec(r, r->pos, sec);
		r->pos += LU_SEC_HDR_LEN + ALIGN_UP((size_t)sec->len, LU_ALIGN);
		if (lu_section_name(sec->type))
			return 1;
		/* Unknown types passed lu_stream_open() only if optional. */
	}
	return 0;
}

void lu_stream_rewind(struct lu_reader *r)
{
	if (r->len)
		r->pos = LU_HDR_LEN;
}

int lu_stream_unhandled(struct lu_reader *r, const struct lu_section *sec)
{
	char label[96];

	if (sec->flags & LU_SEC_F_OPTIONAL)
		return 0;
	sec_label(label, sizeof(label), sec->type, sec->instance);
	r_msg(r, "%s: no loader for this section type", label);
	return -ENOTSUP;
}

/* ---- section decoder ----------------------------------------------------- */

void lu_dec_init(struct lu_dec *d, struct lu_reader *r,
		 const struct lu_section *sec)
{
	*d = (struct lu_dec){
		.p = sec->payload,
		.end = sec->payload + sec->len,
		.type = sec->type,
		.instance = sec->instance,
		.version = sec->version,
		.flags = sec->flags,
		.r = r,
	};
}

/* Record the first error of d: err, and a message about field. */
__printf(4, 0) static int d_vfail(struct lu_dec *d, int err, const char *field,
				  const char *fmt, va_list ap)
{
	char label[96], what[LU_MSG_LEN];

	if (d->err)
		return d->err;
	d->err = err;
	d->p = d->end;		/* every later get fails without reading */
	if (d->r) {
		sec_label(label, sizeof(label), d->type, d->instance);
		vsnprintf(what, sizeof(what), fmt, ap);
		if (field)
			r_msg(d->r, "%s field \"%s\": %s", label, field, what);
		else
			r_msg(d->r, "%s: %s", label, what);
	}
	return err;
}

__printf(4, 5) static int d_fail(struct lu_dec *d, int err, const char *field,
				 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = d_vfail(d, err, field, fmt, ap);
	va_end(ap);
	return err;
}

int lu_dec_fail(struct lu_dec *d, const char *field, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = d_vfail(d, -EBADMSG, field, fmt, ap);
	va_end(ap);
	return err;
}

void lu_dec_truncated(struct lu_dec *d, const char *field, size_t need)
{
	d_fail(d, -EBADMSG, field, "truncated (need %zu bytes, %zu left)",
	       need, lu_dec_left(d));
}

int lu_get_bool(struct lu_dec *d, const char *field, bool *out)
{
	uint8_t v;

	lu_get_u8(d, field, &v);
	*out = v == 1;
	return lu_check(d, v <= 1, field, "boolean is %u, not 0 or 1", v);
}

int lu_get_str(struct lu_dec *d, const char *field, char *buf, size_t size)
{
	const uint8_t *p;
	uint16_t n;

	if (size)
		buf[0] = '\0';
	if (lu_get_u16(d, field, &n))
		return d->err;
	if (n >= size)
		return lu_dec_fail(d, field, "string of %u bytes, at most %zu allowed",
				   n, size ? size - 1 : 0);
	p = lu_dec_take(d, field, n);
	if (!p)
		return d->err;
	if (memchr(p, '\0', n))
		return lu_dec_fail(d, field, "string contains a NUL byte");
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

int lu_get_count(struct lu_dec *d, const char *field, uint32_t max,
		 size_t elem_len, uint32_t *out)
{
	uint32_t n;

	if (lu_get_u32(d, field, &n))
		goto fail;
	if (n > max) {
		lu_dec_fail(d, field, "count %u exceeds the maximum %u", n, max);
		goto fail;
	}
	/* Divide rather than multiply: no overflow. */
	if (elem_len && n > lu_dec_left(d) / elem_len) {
		lu_dec_fail(d, field, "truncated (%u elements of %zu bytes, %zu bytes left)",
			    n, elem_len, lu_dec_left(d));
		goto fail;
	}
	*out = n;
	return 0;

fail:
	*out = 0;
	return d->err;
}

int lu_dec_finish(struct lu_dec *d, uint16_t known_version)
{
	size_t left = lu_dec_left(d), i;

	if (d->err)
		return d->err;
	if (d->version > known_version) {
		for (i = 0; i < left; i++)
			if (d->p[i])
				return d_fail(d, -ENOTSUP, NULL,
					      "version %u is newer than %u and byte %zu of its %zu-byte tail is not zero",
					      d->version, known_version, i, left);
		return 0;
	}
	if (left)
		return d_fail(d, -EBADMSG, NULL,
			      "%zu unexpected bytes after the last field of version %u",
			      left, d->version);
	return 0;
}
