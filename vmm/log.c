// SPDX-License-Identifier: MIT
/*
 * log.c: stderr logger. Owns the process-wide level and tag.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_level = LOG_INFO;
static const char *log_tag = "luvmm";

void log_set_level(enum log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

bool log_enabled(enum log_level level)
{
	return (int)level <= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void log_set_tag(const char *tag)
{
	log_tag = tag;
}

bool log_ratelimit(uint64_t *last_ns, uint32_t *missed)
{
	struct timespec ts;
	uint64_t now, last;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	last = __atomic_load_n(last_ns, __ATOMIC_RELAXED);
	if (last && now - last < 1000000000ULL) {
		__atomic_fetch_add(missed, 1, __ATOMIC_RELAXED);
		return false;
	}
	__atomic_store_n(last_ns, now, __ATOMIC_RELAXED);
	return true;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char buf[1024], thread[16] = "?";
	struct timespec ts;
	struct tm tm;
	int saved = errno;
	va_list ap;
	int n, m;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	pthread_getname_np(pthread_self(), thread, sizeof(thread));
	n = snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%06ld %s %s[%d/%s]: ",
		     tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000,
		     names[level], log_tag, (int)getpid(), thread);
	if (n < 0)
		n = 0;
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* one write per line so lines from threads and processes don't mix */
	if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved;
}
