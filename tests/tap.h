/* SPDX-License-Identifier: MIT */
/*
 * tap.h: the TAP harness every luvmm test binary uses.
 *
 * A binary lists its cases in a table and hands it to tap_main(), which
 * prints the plan, runs each case with a fresh fixture, prints one
 * "ok"/"not ok" line per case and exits 0 only if every case passed.
 * Inside a case, CHECK_* record a failure (with file:line, expected and
 * actual values) and go on; REQUIRE* record it and end the case. After each
 * case the harness checks that the number of open fds is back to where it
 * was before the case: a leak fails the case.
 */
#ifndef LUVMM_TAP_H
#define LUVMM_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../vmm/compiler.h"

struct tap_case {
	const char *name;
	void (*fn)(void);
};

/* Run every case whose name contains argv[1] (all without it); exits. */
__noreturn void tap_main(int argc, char **argv, const struct tap_case *cases,
			 size_t n);

/* Whole binary cannot run: print "1..0 # SKIP <reason>" and exit 0. */
__noreturn __printf(1, 2) void tap_skip_all(const char *fmt, ...);
/* Unrecoverable: print "Bail out! <reason>" and exit 1. */
__noreturn __printf(1, 2) void tap_bail(const char *fmt, ...);
/* A "# ..." diagnostic line. */
__printf(1, 2) void tap_diag(const char *fmt, ...);
/* A xorshift64 stream for randomized cases: seeded from $TEST_SEED, or
 * from the clock (the seed is printed, to repeat a failing run). */
void tap_rng_seed(void);
uint64_t tap_rng(void);
/* Mark the running case skipped with a reason (the caller then returns). */
__printf(1, 2) void tap_skip(const char *fmt, ...);
/* Record a failure of the running case with a located diagnostic. */
__printf(3, 4) void tap_fail(const char *file, int line, const char *fmt, ...);
/* Run fn after every case, before the fd-leak check (e.g. to stop child
 * processes a case left behind after a failed REQUIRE). */
void tap_set_teardown(void (*fn)(void));
/* Number of fds open in this process (for leak checks). */
int tap_count_fds(void);
/* Failures recorded so far in the running case. */
int tap_case_failures(void);

#define CHECK(cond)							\
	do {								\
		if (!(cond))						\
			tap_fail(__FILE__, __LINE__, "check failed: %s", #cond); \
	} while (0)

#define REQUIRE(cond)							\
	do {								\
		if (!(cond)) {						\
			tap_fail(__FILE__, __LINE__, "required: %s", #cond); \
			return;						\
		}							\
	} while (0)

#define CHECK_EQ(actual, expected)					\
	do {								\
		unsigned long long _a = (unsigned long long)(actual);	\
		unsigned long long _e = (unsigned long long)(expected);	\
		if (_a != _e)						\
			tap_fail(__FILE__, __LINE__,			\
				 "%s: expected %lld (0x%llx), got %lld (0x%llx)", \
				 #actual, (long long)_e, _e, (long long)_a, _a); \
	} while (0)

#define REQUIRE_EQ(actual, expected)					\
	do {								\
		unsigned long long _a = (unsigned long long)(actual);	\
		unsigned long long _e = (unsigned long long)(expected);	\
		if (_a != _e) {						\
			tap_fail(__FILE__, __LINE__,			\
				 "%s: expected %lld (0x%llx), got %lld (0x%llx)", \
				 #actual, (long long)_e, _e, (long long)_a, _a); \
			return;						\
		}							\
	} while (0)

#define CHECK_STR(actual, expected)					\
	do {								\
		const char *_a = (actual), *_e = (expected);		\
		if (!_a || strcmp(_a, _e))				\
			tap_fail(__FILE__, __LINE__, "%s: expected \"%s\", got \"%s\"", \
				 #actual, _e, _a ? _a : "(null)");	\
	} while (0)

/* expr must evaluate to the negative errno `err` (0 for success). */
#define CHECK_ERR(err, expr)						\
	do {								\
		long _e = (err), _r = (long)(expr);			\
		if (_r != _e)						\
			tap_fail(__FILE__, __LINE__,			\
				 "%s: expected %ld (%s), got %ld (%s)", #expr, \
				 _e, _e ? strerror((int)-_e) : "ok", _r,	\
				 _r < 0 ? strerror((int)-_r) : "ok");	\
	} while (0)

#define REQUIRE_OK(expr)						\
	do {								\
		long _r = (long)(expr);					\
		if (_r < 0) {						\
			tap_fail(__FILE__, __LINE__, "%s: %ld (%s)", #expr, \
				 _r, strerror((int)-_r));		\
			return;						\
		}							\
	} while (0)

#define TAP_CASE(fn)	{ #fn, fn }

#endif
