/* SPDX-License-Identifier: MIT */
/*
 * log.h: one-line diagnostics on stderr: timestamp, level, thread, message.
 *
 * Logging never changes errno. Debug lines are compiled in and enabled at
 * run time (log_set_level(LOG_DEBUG), the -v flag). Hot paths use the
 * _once and _ratelimited forms.
 */
#ifndef LUVMM_LOG_H
#define LUVMM_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
/* Prefix every line with this program tag ("luvmm", "luvmm-new", ...). */
void log_set_tag(const char *tag);
__printf(2, 3) void log_msg(enum log_level level, const char *fmt, ...);

#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_dbg(...)							\
	do {								\
		if (log_enabled(LOG_DEBUG))				\
			log_msg(LOG_DEBUG, __VA_ARGS__);		\
	} while (0)

/* Log at most once per call site. */
#define log_once(level, ...)						\
	do {								\
		static int _logged;					\
		if (!__atomic_exchange_n(&_logged, 1, __ATOMIC_RELAXED)) \
			log_msg(level, __VA_ARGS__);			\
	} while (0)

/* At most one line per second per call site; counts what it dropped. */
bool log_ratelimit(uint64_t *last_ns, uint32_t *missed);
#define log_ratelimited(level, ...)					\
	do {								\
		static uint64_t _last;					\
		static uint32_t _missed;				\
		if (log_enabled(level) && log_ratelimit(&_last, &_missed)) \
			log_msg(level, __VA_ARGS__);			\
	} while (0)

#endif
