/* SPDX-License-Identifier: MIT */
/*
 * state.h: the live-update state record codec (docs/state-format.md is the
 * normative spec of the bytes).
 *
 * Writing: the old VMM fills a caller-provided buffer (the mapped state
 * memfd) with a lu_writer. Errors are sticky: after the first one every
 * call is a no-op and lu_writer_finish() reports it, so section writers
 * just emit fields and return.
 *
 *	lu_writer_init(&w, buf, cap);
 *	lu_writer_begin(&w);
 *	lu_section_begin(&w, LU_SEC_VCPU, 1, 0, vcpu->id);
 *	lu_put_u64(&w, regs->rip);
 *	...
 *	lu_section_end(&w);
 *	ret = lu_writer_finish(&w, &len);
 *
 * Reading: lu_stream_open() checks the header, the CRC and the framing of
 * every section before anything is interpreted; lu_stream_next() then
 * hands out the sections. A section owner decodes its payload with a
 * lu_dec into a scratch struct, checks fields with lu_check(), and ends
 * with lu_dec_finish(), which applies the version rules:
 *
 *	lu_dec_init(&d, r, sec);
 *	lu_get_u64(&d, "rip", &s.rip);
 *	lu_get_u8(&d, "mode", &s.mode);
 *	lu_check(&d, s.mode < 4, "mode", "value %u is not a mode", s.mode);
 *	if (d.version >= 2)			(field added in version 2)
 *		lu_get_u32(&d, "tsc_khz", &s.tsc_khz);
 *	else
 *		s.tsc_khz = 0;			(default written in the spec)
 *	ret = lu_dec_finish(&d, 2);
 *
 * Decoder errors are sticky too (the first one wins; later gets return the
 * error and store 0). The message, naming section type, instance and field,
 * lands in the reader: lu_reader_msg(r). Nothing in this module logs.
 *
 * Nothing here allocates or locks. A writer, reader or decoder belongs to
 * one thread at a time. Returns: 0 (or a count) on success, -EINVAL bad
 * argument or misuse, -ENOSPC buffer too small, -EBADMSG malformed record,
 * -ENOTSUP unknown major version, flag, section type or newer version with
 * a non-zero tail.
 */
#ifndef LUVMM_LIVEUPDATE_STATE_H
#define LUVMM_LIVEUPDATE_STATE_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../compiler.h"

/* ---- wire constants ------------------------------------------------------ */

#define LU_MAGIC		"LUVMMST"	/* 8 bytes with its NUL */
#define LU_MAGIC_LEN		8
#define LU_MAJOR		1
#define LU_MINOR		0
#define LU_HDR_LEN		24
#define LU_SEC_HDR_LEN		16
#define LU_TRAILER_LEN		8
#define LU_ALIGN		8
#define LU_MIN_LEN		(LU_HDR_LEN + LU_TRAILER_LEN)
/* A stream holds at most this many sections (a sanity bound). */
#define LU_MAX_SECTIONS		65536

/* Section flags. */
#define LU_SEC_F_OPTIONAL	0x0001u	/* a reader not knowing the type skips it */
#define LU_SEC_F_KNOWN		LU_SEC_F_OPTIONAL

/*
 * Section types. Adding one is one line here: X(enum suffix, value, name).
 * The name is what error messages print. Values never change or get reused.
 */
#define LU_SECTION_TYPES(X)						\
	X(VM,		1,		"vm")				\
	X(VCPU,		2,		"vcpu")				\
	X(IRQCHIP,	3,		"irqchip")			\
	X(CLOCK,	4,		"clock")			\
	X(HANDOFF,	5,		"handoff")			\
	X(CONFIG,	6,		"config")			\
	X(UPDATE,	7,		"update")			\
	X(DEVICE,	16,		"device")			\
	X(TEST,		0x7fff0000u,	"test")

enum lu_section_type {
#define LU_SEC_ENUM(sfx, val, name)	LU_SEC_##sfx = val,
	LU_SECTION_TYPES(LU_SEC_ENUM)
#undef LU_SEC_ENUM
};

/* Name of a section type, or NULL if this binary does not know it. */
const char *lu_section_name(uint32_t type);

/* ---- little-endian field access (STYLE §6.1) ----------------------------- */

static inline void put_le16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_le32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_le64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint16_t get_le16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline uint32_t get_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t get_le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/* ---- writer -------------------------------------------------------------- */

struct lu_writer {
	uint8_t *buf;
	size_t cap;		/* bytes of buf we may write */
	size_t pos;		/* bytes written so far */
	size_t lim;		/* puts may write up to here: pos outside a section */
	size_t sec;		/* offset of the open section's header */
	int err;		/* first error, sticky */
	uint8_t phase;		/* enum lu_writer_phase, private */
};

/*
 * Start writing into buf[0..cap). Nothing is written until
 * lu_writer_begin(). Never fails; a bad argument (NULL buf) becomes the
 * sticky error (-EINVAL).
 */
void lu_writer_init(struct lu_writer *w, void *buf, size_t cap);
/* Write the header. Once, first. -ENOSPC if cap < LU_MIN_LEN. */
void lu_writer_begin(struct lu_writer *w);
/*
 * Open a section. Sections do not nest; version is >= 1; flags only
 * LU_SEC_F_KNOWN bits (else -EINVAL). The payload is what the puts write
 * until lu_section_end().
 */
void lu_section_begin(struct lu_writer *w, uint32_t type, uint16_t version,
		      uint16_t flags, uint32_t instance);
/* Close the open section: patch its payload length, pad with zeros. */
void lu_section_end(struct lu_writer *w);
/*
 * Append whole sections (headers, payloads, padding) that another writer
 * encoded: bytes [LU_HDR_LEN, other.pos) of a writer that was begun and
 * has no section open. Lets parts of a record be written in parallel, one
 * writer each, and joined. Only between sections; len a multiple of 8
 * (else -EINVAL); -ENOSPC if it does not fit. The sections are not
 * re-validated here: the reader validates the joined record.
 */
void lu_writer_append(struct lu_writer *w, const void *sections, size_t len);

/*
 * Write the trailer (total length into the header, CRC-32C). On success
 * stores the record length in *len (a multiple of 8) and returns 0; else
 * the sticky error: -ENOSPC (buffer too small), -EINVAL (misuse: a put
 * outside a section, a section left open, no lu_writer_begin(), ...).
 * Afterwards the writer accepts nothing more.
 */
int __must_check lu_writer_finish(struct lu_writer *w, size_t *len);

/* The sticky error so far (0 if none). */
static inline int lu_writer_error(const struct lu_writer *w)
{
	return w->err;
}

/* Slow path of the puts: records -ENOSPC (or -EINVAL outside a section). */
void lu_writer_overflow(struct lu_writer *w);

/* Reserve n payload bytes; NULL (and the error recorded) if they don't fit. */
static inline uint8_t *lu_writer_room(struct lu_writer *w, size_t n)
{
	uint8_t *p;

	if (unlikely(w->lim - w->pos < n)) {
		lu_writer_overflow(w);
		return NULL;
	}
	p = w->buf + w->pos;
	w->pos += n;
	return p;
}

static inline void lu_put_u8(struct lu_writer *w, uint8_t v)
{
	uint8_t *p = lu_writer_room(w, 1);

	if (p)
		*p = v;
}

static inline void lu_put_bool(struct lu_writer *w, bool v)
{
	lu_put_u8(w, v ? 1 : 0);
}

static inline void lu_put_u16(struct lu_writer *w, uint16_t v)
{
	uint8_t *p = lu_writer_room(w, 2);

	if (p)
		put_le16(p, v);
}

static inline void lu_put_u32(struct lu_writer *w, uint32_t v)
{
	uint8_t *p = lu_writer_room(w, 4);

	if (p)
		put_le32(p, v);
}

static inline void lu_put_u64(struct lu_writer *w, uint64_t v)
{
	uint8_t *p = lu_writer_room(w, 8);

	if (p)
		put_le64(p, v);
}

/* n raw bytes (byte arrays whose layout is already defined byte by byte). */
static inline void lu_put_bytes(struct lu_writer *w, const void *src, size_t n)
{
	uint8_t *p = lu_writer_room(w, n);

	if (p && n)
		memcpy(p, src, n);
}

/* A string: u16 length, then the bytes, no NUL. -EINVAL if > 65535 bytes. */
void lu_put_str(struct lu_writer *w, const char *s);

/* ---- reader -------------------------------------------------------------- */

#define LU_MSG_LEN	192

struct lu_reader {
	const uint8_t *buf;
	size_t len;		/* the record's total length (validated) */
	size_t pos;		/* next section header, for lu_stream_next() */
	uint16_t major, minor;	/* from the header */
	uint32_t nsections;	/* sections in the record, skippable ones too */
	char msg[LU_MSG_LEN];	/* first error, "" if none */
};

/* One section as lu_stream_next() hands it out. */
struct lu_section {
	uint32_t type;
	uint16_t version;
	uint16_t flags;
	uint32_t instance;
	uint32_t len;		/* payload length, padding excluded */
	const uint8_t *payload;
	size_t offset;		/* of the section header in the record */
};

/*
 * Open the record at the start of buf[0..avail). avail is what may be read
 * (e.g. the mapped memfd size; bytes after the record are ignored); the
 * header's total length must be <= avail and <= max. Validates, in order:
 * magic, major version, total length, CRC, trailer, header flags, then the
 * framing of every section (lengths, padding, version, flags, type) without
 * looking at any payload. buf must stay mapped and unchanged while r is used.
 * Returns 0, -EINVAL (NULL r or buf), -EBADMSG (malformed), -ENOTSUP
 * (other major, header or section flag unknown, unknown non-optional
 * section type); the reason is in lu_reader_msg(r).
 */
int __must_check lu_stream_open(struct lu_reader *r, const void *buf,
				size_t avail, size_t max);
/*
 * Next section in record order, skipping optional sections of unknown
 * types. Returns 1 with *sec filled, 0 at the end. Only after a successful
 * lu_stream_open().
 */
int __must_check lu_stream_next(struct lu_reader *r, struct lu_section *sec);
/* Back to the first section. */
void lu_stream_rewind(struct lu_reader *r);
/*
 * For a loader that meets a section type it has no code for: 0 if the
 * section is optional (skip it), else -ENOTSUP with the message set.
 */
int __must_check lu_stream_unhandled(struct lu_reader *r,
				     const struct lu_section *sec);

/* The first error's text ("" if none). Valid while r lives. */
static inline const char *lu_reader_msg(const struct lu_reader *r)
{
	return r->msg;
}

/* ---- section decoder ----------------------------------------------------- */

struct lu_dec {
	const uint8_t *p;	/* next payload byte */
	const uint8_t *end;	/* end of payload */
	uint32_t type;
	uint32_t instance;
	uint16_t version;	/* of the section as written */
	uint16_t flags;
	int err;		/* first error, sticky */
	struct lu_reader *r;	/* gets the error message */
};

/* Decode sec's payload; messages go to r. */
void lu_dec_init(struct lu_dec *d, struct lu_reader *r,
		 const struct lu_section *sec);

/* Payload bytes not yet consumed. */
static inline size_t lu_dec_left(const struct lu_dec *d)
{
	return (size_t)(d->end - d->p);
}

/* Slow path: records "truncated" for field and stops the decoder. */
void lu_dec_truncated(struct lu_dec *d, const char *field, size_t need);

/* Take n bytes for field; NULL (error recorded) if fewer are left. */
static inline const uint8_t *lu_dec_take(struct lu_dec *d, const char *field,
					 size_t n)
{
	const uint8_t *p = d->p;

	if (unlikely(lu_dec_left(d) < n)) {
		lu_dec_truncated(d, field, n);
		return NULL;
	}
	d->p = p + n;
	return p;
}

/*
 * The gets: read one field, named for messages. Return 0 or the sticky
 * error (-EBADMSG); on error *out is 0 (zeroed for bytes), never garbage.
 */
static inline int lu_get_u8(struct lu_dec *d, const char *field, uint8_t *out)
{
	const uint8_t *p = lu_dec_take(d, field, 1);

	*out = p ? *p : 0;
	return d->err;
}

static inline int lu_get_u16(struct lu_dec *d, const char *field,
			     uint16_t *out)
{
	const uint8_t *p = lu_dec_take(d, field, 2);

	*out = p ? get_le16(p) : 0;
	return d->err;
}

static inline int lu_get_u32(struct lu_dec *d, const char *field,
			     uint32_t *out)
{
	const uint8_t *p = lu_dec_take(d, field, 4);

	*out = p ? get_le32(p) : 0;
	return d->err;
}

static inline int lu_get_u64(struct lu_dec *d, const char *field,
			     uint64_t *out)
{
	const uint8_t *p = lu_dec_take(d, field, 8);

	*out = p ? get_le64(p) : 0;
	return d->err;
}

static inline int lu_get_bytes(struct lu_dec *d, const char *field, void *out,
			       size_t n)
{
	const uint8_t *p = lu_dec_take(d, field, n);

	if (p && n)
		memcpy(out, p, n);
	else if (!p)
		memset(out, 0, n);
	return d->err;
}

/* A u8 that must be 0 or 1. */
int lu_get_bool(struct lu_dec *d, const char *field, bool *out);
/*
 * A lu_put_str() string into buf[0..size), NUL-terminated. The length must
 * be < size and the bytes must not contain NUL (else -EBADMSG).
 */
int lu_get_str(struct lu_dec *d, const char *field, char *buf, size_t size);
/*
 * A u32 element count that must be <= max, and whose elements
 * (count * elem_len bytes) must fit in what is left of the payload.
 */
int lu_get_count(struct lu_dec *d, const char *field, uint32_t max,
		 size_t elem_len, uint32_t *out);

/*
 * lu_check(d, cond, field, fmt, ...): if cond is false (and no error yet),
 * record -EBADMSG with the message
 *	section "<name>" instance <n> field "<field>": <fmt...>
 * Returns the sticky error. The slow path is out of line.
 */
#define lu_check(d, cond, field, ...)					\
	(likely(cond) ? (d)->err : lu_dec_fail((d), (field), __VA_ARGS__))

/* Record -EBADMSG for field (unless an error is already recorded). */
__printf(3, 4) int lu_dec_fail(struct lu_dec *d, const char *field,
			       const char *fmt, ...);

/*
 * End of a section's decoding. known_version is the newest version of the
 * section this reader knows. Returns the sticky error if any; else, if
 * the section is newer than known_version, the bytes left (fields added
 * after known_version) must all be zero (-ENOTSUP otherwise); if it is not
 * newer, no bytes may be left (-EBADMSG).
 */
int __must_check lu_dec_finish(struct lu_dec *d, uint16_t known_version);

#endif
