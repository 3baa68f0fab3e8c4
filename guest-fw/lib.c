// SPDX-License-Identifier: MIT
/*
 * lib.c: the few libc pieces guest-fw needs (memcpy, memset, strlen, which
 * GCC may also emit calls to) and a small printf-style formatter.
 *
 * Runs at CPL3 only. The formatter knows %s %c %d %u %x %% with an optional
 * '0' flag, a width, and the l/ll/z length modifiers; that is all the
 * serial grammar needs.
 */
#include "fw.h"

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	/* rep movsb: native at CPL3 and never turned back into a call */
	asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;

	asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

size_t strlen(const char *s)
{
	const char *e = s;

	while (*e)
		e++;
	return e - s;
}

struct out {
	char *buf;
	size_t size;
	size_t len;	/* would-be length, may exceed size */
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_num(struct out *o, uint64_t v, unsigned int base, bool neg,
		    unsigned int width, char pad)
{
	char tmp[24];
	unsigned int n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		tmp[n++] = '-';
	while (width > n) {
		put(o, pad);
		width--;
	}
	while (n)
		put(o, tmp[--n]);
}

static uint64_t get_arg(va_list *ap, unsigned int lmod, bool is_signed,
			bool *neg)
{
	int64_t s;

	*neg = false;
	if (!is_signed) {
		if (lmod)
			return va_arg(*ap, uint64_t);
		return va_arg(*ap, unsigned int);
	}
	s = lmod ? va_arg(*ap, int64_t) : va_arg(*ap, int);
	if (s < 0) {
		*neg = true;
		return -(uint64_t)s;
	}
	return s;
}

int vsnfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };
	va_list aq;

	va_copy(aq, ap);
	for (; *fmt; fmt++) {
		unsigned int width = 0, lmod = 0;
		char pad = ' ';
		const char *s;
		uint64_t v;
		bool neg;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lmod++;
			fmt++;
		}
		switch (*fmt) {
		case 's':
			s = va_arg(aq, const char *);
			while (*s)
				put(&o, *s++);
			break;
		case 'c':
			put(&o, (char)va_arg(aq, int));
			break;
		case 'd':
		case 'u':
		case 'x':
			v = get_arg(&aq, lmod, *fmt == 'd', &neg);
			put_num(&o, v, *fmt == 'x' ? 16 : 10, neg, width, pad);
			break;
		case '%':
			put(&o, '%');
			break;
		default:	/* unknown conversion, or a trailing '%' */
			va_end(aq);
			goto done;
		}
	}
	va_end(aq);
done:
	if (size)
		buf[MIN(o.len, size - 1)] = '\0';
	return (int)o.len;
}

int snfmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnfmt(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
