// SPDX-License-Identifier: MIT
/*
 * tap.c: TAP output, case runner and fd-leak check for the test binaries.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tap.h"

static int case_failures;
static bool case_skipped;
static char skip_reason[256];
static void (*case_teardown)(void);

void tap_set_teardown(void (*fn)(void))
{
	case_teardown = fn;
}

int tap_case_failures(void)
{
	return case_failures;
}

int tap_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory stream's own fd */
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

void tap_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	case_failures++;
	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

void tap_skip(const char *fmt, ...)
{
	va_list ap;

	case_skipped = true;
	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
}

void tap_skip_all(const char *fmt, ...)
{
	va_list ap;

	fputs("1..0 # SKIP ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	exit(0);
}

void tap_bail(const char *fmt, ...)
{
	va_list ap;

	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	exit(1);
}

void tap_main(int argc, char **argv, const struct tap_case *cases, size_t n)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	size_t i, planned = 0, num = 0;
	int failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < n; i++)
		if (!filter || strstr(cases[i].name, filter))
			planned++;
	printf("1..%zu\n", planned);
	for (i = 0; i < n; i++) {
		int fds_before, fds_after;

		if (filter && !strstr(cases[i].name, filter))
			continue;
		num++;
		case_failures = 0;
		case_skipped = false;
		fds_before = tap_count_fds();
		cases[i].fn();
		if (case_teardown)
			case_teardown();
		fds_after = tap_count_fds();
		if (!case_skipped && fds_after != fds_before)
			tap_fail(__FILE__, __LINE__, "fd leak: %d open before, %d after",
				 fds_before, fds_after);
		if (case_skipped && !case_failures) {
			printf("ok %zu - %s # SKIP %s\n", num, cases[i].name,
			       skip_reason);
		} else if (case_failures) {
			printf("not ok %zu - %s\n", num, cases[i].name);
			failed++;
		} else {
			printf("ok %zu - %s\n", num, cases[i].name);
		}
	}
	exit(failed ? 1 : 0);
}

static uint64_t rng_state = 1;

void tap_rng_seed(void)
{
	const char *env = getenv("TEST_SEED");

	rng_state = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)clock();
	if (!rng_state)
		rng_state = 1;
	tap_diag("seed=%" PRIu64 " (set TEST_SEED to repeat)", rng_state);
}

uint64_t tap_rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}
