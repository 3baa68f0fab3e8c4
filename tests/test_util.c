// SPDX-License-Identifier: MIT
/*
 * test_util.c: vmm/util.c: size and integer parsing (suffixes, hex,
 * overflow, junk), size formatting, fd I/O that retries (pipes, short
 * reads and writes, EINTR, EOF), util_close and the monotonic clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../vmm/util.h"
#include "tap.h"

#define TiB	(1024ULL * GiB)

struct size_case {
	const char *s;
	int ret;
	uint64_t v;
};

static void check_sizes(const struct size_case *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t v = 0x5a5a5a5a;
		int ret = util_parse_size(c[i].s, &v);

		if (ret != c[i].ret)
			tap_fail(__FILE__, __LINE__, "parse_size(\"%s\"): expected %d, got %d",
				 c[i].s, c[i].ret, ret);
		else if (!ret && v != c[i].v)
			tap_fail(__FILE__, __LINE__, "parse_size(\"%s\"): expected %" PRIu64 ", got %" PRIu64,
				 c[i].s, c[i].v, v);
		else if (ret && v != 0x5a5a5a5a)
			tap_fail(__FILE__, __LINE__, "parse_size(\"%s\") failed but wrote *out",
				 c[i].s);
	}
}

static void parse_size_plain_and_suffixes(void)
{
	static const struct size_case c[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "4096", 0, 4096 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "1B", 0, 1 },
		{ "1K", 0, KiB }, { "1k", 0, KiB }, { "1KiB", 0, KiB },
		{ "1KB", 0, KiB }, { "1Ki", 0, KiB }, { "3kiB", 0, 3 * KiB },
		{ "2M", 0, 2 * MiB }, { "2m", 0, 2 * MiB }, { "2MiB", 0, 2 * MiB },
		{ "2MB", 0, 2 * MiB },
		{ "256M", 0, 256 * MiB },
		{ "3G", 0, 3 * GiB }, { "3g", 0, 3 * GiB }, { "3GiB", 0, 3 * GiB },
		{ "3GB", 0, 3 * GiB },
		{ "1T", 0, TiB }, { "1t", 0, TiB }, { "1TiB", 0, TiB },
		{ "1TB", 0, TiB },
		{ "16777215T", 0, 16777215ULL * TiB },
		{ "17179869183G", 0, 17179869183ULL * GiB },
	};

	check_sizes(c, ARRAY_SIZE(c));
}

static void parse_size_hex(void)
{
	static const struct size_case c[] = {
		{ "0x0", 0, 0 },
		{ "0x1000", 0, 4096 },
		{ "0XfF", 0, 255 },
		{ "0xDEADbeef", 0, 0xdeadbeef },
		{ "0xffffffffffffffff", 0, UINT64_MAX },
		/* hex takes no suffix: "B" is a digit, "0x1B" is 27 */
		{ "0x1B", 0, 0x1b },
		{ "0x10M", -EINVAL, 0 },
		{ "0x", -EINVAL, 0 },
		{ "0xg", -EINVAL, 0 },
		{ "0x10000000000000000", -ERANGE, 0 },
	};

	check_sizes(c, ARRAY_SIZE(c));
}

static void parse_size_overflow(void)
{
	static const struct size_case c[] = {
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999", -ERANGE, 0 },
		{ "16777216T", -ERANGE, 0 },		/* 2^64 */
		{ "17179869184G", -ERANGE, 0 },		/* 2^64 */
		{ "18014398509481984K", -ERANGE, 0 },	/* 2^64 */
		{ "18014398509481983K", 0, 18014398509481983ULL * KiB },
		{ "1000000000000000000000000000000000000", -ERANGE, 0 },
	};

	check_sizes(c, ARRAY_SIZE(c));
}

/* Leading zeros do not make a small number overflow. */
static void parse_size_leading_zeros(void)
{
	static const struct size_case c[] = {
		{ "00", 0, 0 },
		{ "0004K", 0, 4 * KiB },
		{ "00000000000000000000000000000001", 0, 1 },		/* 32 digits */
		{ "0000000000000000000000000000000000000000256M", 0, 256 * MiB },
	};

	check_sizes(c, ARRAY_SIZE(c));
}

static void parse_size_junk(void)
{
	static const struct size_case c[] = {
		{ "", -EINVAL, 0 },
		{ "K", -EINVAL, 0 },
		{ "M", -EINVAL, 0 },
		{ "B", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ "-1G", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1 ", -EINVAL, 0 },
		{ "1 G", -EINVAL, 0 },
		{ "1X", -EINVAL, 0 },
		{ "1KK", -EINVAL, 0 },
		{ "1KiBB", -EINVAL, 0 },
		{ "1iB", -EINVAL, 0 },		/* "i" needs a unit letter */
		{ "1i", -EINVAL, 0 },
		{ "1kb", -EINVAL, 0 },		/* only "B" */
		{ "1BB", -EINVAL, 0 },
		{ "1.5G", -EINVAL, 0 },
		{ "1e3", -EINVAL, 0 },
		{ "0x1 ", -EINVAL, 0 },
		{ "12abc", -EINVAL, 0 },
	};
	uint64_t v = 7;

	check_sizes(c, ARRAY_SIZE(c));
	CHECK_ERR(-EINVAL, util_parse_size(NULL, &v));
	CHECK_EQ(v, 7);
}

static void parse_u64_ranges(void)
{
	static const struct {
		const char *s;
		uint64_t min, max;
		int ret;
		uint64_t v;
	} c[] = {
		{ "5", 1, 10, 0, 5 },
		{ "1", 1, 10, 0, 1 },
		{ "10", 1, 10, 0, 10 },
		{ "0", 1, 10, -ERANGE, 0 },
		{ "11", 1, 10, -ERANGE, 0 },
		{ "0x10", 0, 100, 0, 16 },
		{ "0XA", 0, 100, 0, 10 },
		{ "0x65", 0, 100, -ERANGE, 0 },
		{ "0", 0, 0, 0, 0 },
		{ "18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX },
		{ "0xffffffffffffffff", 0, UINT64_MAX, 0, UINT64_MAX },
		{ "18446744073709551616", 0, UINT64_MAX, -ERANGE, 0 },
		{ "0x1ffffffffffffffff", 0, UINT64_MAX, -ERANGE, 0 },
		{ "", 0, 10, -EINVAL, 0 },
		{ "0x", 0, 10, -EINVAL, 0 },
		{ "-1", 0, 10, -EINVAL, 0 },
		{ "+1", 0, 10, -EINVAL, 0 },
		{ " 1", 0, 10, -EINVAL, 0 },
		{ "1 ", 0, 10, -EINVAL, 0 },
		{ "1a", 0, 100, -EINVAL, 0 },
		{ "a", 0, 100, -EINVAL, 0 },
		{ "1K", 0, 10000, -EINVAL, 0 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		uint64_t v = 0x5a5a;
		int ret = util_parse_u64(c[i].s, c[i].min, c[i].max, &v);

		if (ret != c[i].ret)
			tap_fail(__FILE__, __LINE__, "parse_u64(\"%s\", %" PRIu64 ", %" PRIu64 "): expected %d, got %d",
				 c[i].s, c[i].min, c[i].max, c[i].ret, ret);
		else if (!ret && v != c[i].v)
			tap_fail(__FILE__, __LINE__, "parse_u64(\"%s\"): expected %" PRIu64 ", got %" PRIu64,
				 c[i].s, c[i].v, v);
		else if (ret && v != 0x5a5a)
			tap_fail(__FILE__, __LINE__, "parse_u64(\"%s\") failed but wrote *out", c[i].s);
	}
	{
		uint64_t v = 3;

		CHECK_ERR(-EINVAL, util_parse_u64(NULL, 0, 10, &v));
		CHECK_EQ(v, 3);
	}
}

static void fmt_size_values(void)
{
	static const struct {
		uint64_t v;
		const char *s;
	} c[] = {
		{ 0, "0" },
		{ 1, "1" },
		{ 1023, "1023" },
		{ 1024, "1K" },
		{ 1536, "1536" },
		{ 4096, "4K" },
		{ 2 * MiB, "2M" },
		{ 256 * MiB, "256M" },
		{ 3 * GiB + 4096, "3145732K" },
		{ 16 * GiB, "16G" },
		{ TiB, "1T" },
		{ 1024 * TiB, "1024T" },
		{ UINT64_MAX, "18446744073709551615" },
		{ 16777215ULL * TiB, "16777215T" },
	};
	char buf[32];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		memset(buf, 'x', sizeof(buf));
		CHECK(util_fmt_size(c[i].v, buf, sizeof(buf)) == buf);
		CHECK_STR(buf, c[i].s);
	}
}

/* fmt_size output parses back to the same number. */
static void fmt_size_parse_round_trip(void)
{
	static const uint64_t v[] = { 0, 1, 4095, 4096, 2 * MiB, 3 * GiB,
				      5 * TiB, 3 * GiB + 4096, UINT64_MAX };
	char buf[32];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(v); i++) {
		uint64_t back = 1;

		util_fmt_size(v[i], buf, sizeof(buf));
		CHECK_ERR(0, util_parse_size(buf, &back));
		CHECK_EQ(back, v[i]);
	}
}

static void fmt_size_small_buffer(void)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	util_fmt_size(256 * MiB, buf, 3);
	CHECK_STR(buf, "25");
	CHECK_EQ(buf[3], 'x');
	memset(buf, 'x', sizeof(buf));
	util_fmt_size(123456789, buf, 1);
	CHECK_STR(buf, "");
	CHECK_EQ(buf[1], 'x');
}

/* ---- fd I/O -------------------------------------------------------------- */

#define BIG	(1u << 20)

struct chunk_writer {
	int fd;
	const uint8_t *buf;
	size_t len, chunk;
	int ret;
};

/* Writes buf in small pieces so the reader sees short reads. */
static void *chunk_writer_fn(void *arg)
{
	struct chunk_writer *cw = arg;
	size_t off = 0;

	cw->ret = 0;
	while (off < cw->len) {
		size_t n = MIN(cw->chunk, cw->len - off);

		if (write(cw->fd, cw->buf + off, n) != (ssize_t)n) {
			cw->ret = -1;
			break;
		}
		off += n;
	}
	return NULL;
}

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len);
	size_t i;

	for (i = 0; p && i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed + (i >> 9));
	return p;
}

static void read_all_short_reads(void)
{
	uint8_t *src = pattern(BIG, 1), *dst = calloc(1, BIG);
	struct chunk_writer cw;
	pthread_t t;
	int fds[2];

	REQUIRE(src && dst);
	REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
	cw = (struct chunk_writer){ .fd = fds[1], .buf = src, .len = BIG, .chunk = 1000 };
	REQUIRE(pthread_create(&t, NULL, chunk_writer_fn, &cw) == 0);
	CHECK_ERR(0, util_read_all(fds[0], dst, BIG));
	pthread_join(t, NULL);
	CHECK_EQ(cw.ret, 0);
	CHECK(!memcmp(src, dst, BIG));
	close(fds[0]);
	close(fds[1]);
	free(src);
	free(dst);
}

static void *drain_fn(void *arg)
{
	struct chunk_writer *cw = arg;	/* fd to read, buf is the destination */
	uint8_t *dst = (uint8_t *)(uintptr_t)cw->buf;
	size_t off = 0;

	while (off < cw->len) {
		ssize_t n = read(cw->fd, dst + off, MIN(cw->chunk, cw->len - off));

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	cw->ret = (int)(off == cw->len);
	return NULL;
}

/* 1 MiB through a 64 KiB pipe: write() blocks and returns in pieces. */
static void write_all_big_through_pipe(void)
{
	uint8_t *src = pattern(BIG, 2), *dst = calloc(1, BIG);
	struct chunk_writer cw;
	pthread_t t;
	int fds[2];

	REQUIRE(src && dst);
	REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
	cw = (struct chunk_writer){ .fd = fds[0], .buf = dst, .len = BIG, .chunk = 777 };
	REQUIRE(pthread_create(&t, NULL, drain_fn, &cw) == 0);
	CHECK_ERR(0, util_write_all(fds[1], src, BIG));
	pthread_join(t, NULL);
	CHECK_EQ(cw.ret, 1);
	CHECK(!memcmp(src, dst, BIG));
	close(fds[0]);
	close(fds[1]);
	free(src);
	free(dst);
}

static void on_usr1(int sig)
{
	(void)sig;
}

struct intr_writer {
	int fd;
	const uint8_t *buf;
	size_t len;
	int ret;
	volatile int done;	/* only read after join, or as a hint */
};

static void *intr_writer_fn(void *arg)
{
	struct intr_writer *iw = arg;

	iw->ret = util_write_all(iw->fd, iw->buf, iw->len);
	__atomic_store_n(&iw->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Signals without SA_RESTART interrupt the blocked writer (EINTR or a short
 * count) and the reader (EINTR): both must retry and lose nothing.
 */
static void write_read_all_survive_eintr(void)
{
	uint8_t *src = pattern(BIG, 3), *dst = calloc(1, BIG);
	struct sigaction sa = { .sa_handler = on_usr1 }, old;
	struct intr_writer iw;
	size_t off = 0;
	unsigned kicks = 0;
	pthread_t t;
	int fds[2];

	REQUIRE(src && dst);
	REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
	sigemptyset(&sa.sa_mask);
	REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
	iw = (struct intr_writer){ .fd = fds[1], .buf = src, .len = BIG };
	REQUIRE(pthread_create(&t, NULL, intr_writer_fn, &iw) == 0);
	while (off < BIG) {
		size_t n = MIN((size_t)4093, BIG - off);

		if (!__atomic_load_n(&iw.done, __ATOMIC_ACQUIRE)) {
			pthread_kill(t, SIGUSR1);
			kicks++;
		}
		if (util_read_all(fds[0], dst + off, n))
			break;
		off += n;
	}
	pthread_join(t, NULL);
	sigaction(SIGUSR1, &old, NULL);
	CHECK_EQ(off, BIG);
	CHECK_ERR(0, iw.ret);
	CHECK(!memcmp(src, dst, BIG));
	CHECK(kicks > 0);
	close(fds[0]);
	close(fds[1]);
	free(src);
	free(dst);
}

static void read_all_eof_is_epipe(void)
{
	char buf[20] = "";
	int fds[2];

	REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
	REQUIRE(write(fds[1], "0123456789", 10) == 10);
	close(fds[1]);
	CHECK_ERR(-EPIPE, util_read_all(fds[0], buf, sizeof(buf)));
	CHECK(!memcmp(buf, "0123456789", 10));	/* what came is kept */
	CHECK_ERR(-EPIPE, util_read_all(fds[0], buf, 1));
	CHECK_ERR(0, util_read_all(fds[0], buf, 0));
	close(fds[0]);
}

static void read_all_exact_then_zero(void)
{
	char buf[10];
	int fds[2];

	REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
	REQUIRE(write(fds[1], "abcdefghij", 10) == 10);
	CHECK_ERR(0, util_read_all(fds[0], buf, 4));
	CHECK(!memcmp(buf, "abcd", 4));
	CHECK_ERR(0, util_read_all(fds[0], buf, 6));
	CHECK(!memcmp(buf, "efghij", 6));
	close(fds[0]);
	close(fds[1]);
}

static void write_all_errors(void)
{
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	char buf[4] = "abc";
	int fds[2];

	REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
	close(fds[0]);
	CHECK_ERR(-EPIPE, util_write_all(fds[1], buf, 3));
	CHECK_ERR(0, util_write_all(fds[1], buf, 0));
	close(fds[1]);
	signal(SIGPIPE, old);
	CHECK_ERR(-EBADF, util_write_all(fds[1], buf, 3));
	CHECK_ERR(-EBADF, util_read_all(fds[1], buf, 3));
	CHECK_ERR(-EBADF, util_write_all(-1, buf, 1));
}

/* A non-blocking fd that is full reports -EAGAIN instead of spinning. */
static void write_all_nonblocking_full(void)
{
	uint8_t *src = pattern(BIG, 4);
	int fds[2];

	REQUIRE(src);
	REQUIRE(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
	CHECK_ERR(-EAGAIN, util_write_all(fds[1], src, BIG));
	/* the reader gets what is there (one pipe's worth), then -EAGAIN */
	CHECK_ERR(-EAGAIN, util_read_all(fds[0], src, BIG));
	close(fds[0]);
	close(fds[1]);
	free(src);
}

static void close_sets_minus_one(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), copy;

	REQUIRE(fd >= 0);
	copy = fd;
	util_close(&fd);
	CHECK_EQ(fd, -1);
	CHECK(fcntl(copy, F_GETFD) == -1 && errno == EBADF);
	util_close(&fd);
	CHECK_EQ(fd, -1);
	fd = -5;
	util_close(&fd);
	CHECK_EQ(fd, -1);
}

static void clock_is_monotonic(void)
{
	uint64_t a = util_now_ns(), b, us;
	unsigned i;

	CHECK(a > 0);
	for (i = 0; i < 1000; i++) {
		b = util_now_ns();
		if (b < a)
			tap_fail(__FILE__, __LINE__, "clock went back: %" PRIu64 " < %" PRIu64, b, a);
		a = b;
	}
	us = util_now_us();
	b = util_now_ns();
	CHECK(us <= b / 1000);
	CHECK(us + 1000000 > b / 1000);
}

static const struct tap_case cases[] = {
	TAP_CASE(parse_size_plain_and_suffixes),
	TAP_CASE(parse_size_hex),
	TAP_CASE(parse_size_overflow),
	TAP_CASE(parse_size_leading_zeros),
	TAP_CASE(parse_size_junk),
	TAP_CASE(parse_u64_ranges),
	TAP_CASE(fmt_size_values),
	TAP_CASE(fmt_size_parse_round_trip),
	TAP_CASE(fmt_size_small_buffer),
	TAP_CASE(read_all_short_reads),
	TAP_CASE(write_all_big_through_pipe),
	TAP_CASE(write_read_all_survive_eintr),
	TAP_CASE(read_all_eof_is_epipe),
	TAP_CASE(read_all_exact_then_zero),
	TAP_CASE(write_all_errors),
	TAP_CASE(write_all_nonblocking_full),
	TAP_CASE(close_sets_minus_one),
	TAP_CASE(clock_is_monotonic),
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
