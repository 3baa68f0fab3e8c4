// SPDX-License-Identifier: MIT
/*
 * util.c: parsing, time and fd I/O helpers shared by the VMM modules.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return -EINVAL;
	}
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int util_parse_size(const char *s, uint64_t *out)
{
	char digits[32];
	uint64_t v, mult = 1;
	size_t n = 0;
	int ret;

	if (!s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return util_parse_u64(s, 0, UINT64_MAX, out);	/* no suffix */
	while (s[0] == '0' && s[1] >= '0' && s[1] <= '9')
		s++;	/* leading zeros do not count towards overflow */
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0 || n >= sizeof(digits))
		return n ? -ERANGE : -EINVAL;
	memcpy(digits, s, n);
	digits[n] = '\0';
	s += n;
	switch (*s) {
	case 'k': case 'K': mult = KiB; s++; break;
	case 'm': case 'M': mult = MiB; s++; break;
	case 'g': case 'G': mult = GiB; s++; break;
	case 't': case 'T': mult = 1024 * GiB; s++; break;
	default: break;
	}
	if (mult != 1 && *s == 'i')
		s++;
	if (*s == 'B')
		s++;
	if (*s)
		return -EINVAL;
	ret = util_parse_u64(digits, 0, UINT64_MAX, &v);
	if (ret)
		return ret;
	if (v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

uint64_t util_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int util_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int util_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void util_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

const char *util_fmt_size(uint64_t bytes, char *buf, size_t cap)
{
	static const char units[] = "KMGT";
	int i = -1;

	while (bytes && bytes % 1024 == 0 && i < 3) {
		bytes /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, cap, "%llu", (unsigned long long)bytes);
	else
		snprintf(buf, cap, "%llu%c", (unsigned long long)bytes, units[i]);
	return buf;
}
