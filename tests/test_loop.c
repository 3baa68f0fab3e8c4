// SPDX-License-Identifier: MIT
/*
 * test_loop.c: the io_uring event loop (vmm/loop.c): readiness callbacks
 * and re-arming, stopping a watch from its callback and from outside (the
 * release hook), timers, loop_stop, poll errors, more watches than ring
 * entries, and unwatch followed by watch again. Skips when io_uring is
 * unavailable.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../vmm/loop.h"
#include "../vmm/util.h"
#include "tap.h"

static struct loop *lp;

/* Create the loop or skip the case with the reason. */
static bool setup(void)
{
	int ret = loop_create(&lp);

	if (ret == -ENOSYS || ret == -EPERM || ret == -ENOTSUP || ret == -EACCES) {
		tap_skip("io_uring unavailable: %s", strerror(-ret));
		return false;
	}
	if (ret) {
		tap_fail(__FILE__, __LINE__, "loop_create: %s", strerror(-ret));
		return false;
	}
	return true;
}

struct pw {
	struct loop_watch w;
	int rfd, wfd;
	unsigned calls, neg, releases;
	int last;
	unsigned stop_after;	/* loop_stop on this call (0: never) */
	unsigned feed_until;	/* write a new byte while calls < this */
	bool consume, keep;
};

static bool pipe_watch(struct pw *p)
{
	int fds[2];

	memset(p, 0, sizeof(*p));
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK))
		return false;
	p->rfd = fds[0];
	p->wfd = fds[1];
	p->w.fd = p->rfd;
	p->w.events = POLLIN;
	p->w.arg = p;
	p->keep = true;
	p->consume = true;
	return true;
}

static void pipe_close(struct pw *p)
{
	util_close(&p->rfd);
	util_close(&p->wfd);
}

static bool on_pipe(struct loop_watch *w, int revents)
{
	struct pw *p = w->arg;
	char c;

	p->calls++;
	p->last = revents;
	if (revents < 0) {
		p->neg++;
	} else if (p->consume && (revents & POLLIN)) {
		if (read(p->rfd, &c, 1) != 1)
			tap_fail(__FILE__, __LINE__, "POLLIN without data");
	}
	if (p->calls < p->feed_until && write(p->wfd, "x", 1) != 1)
		tap_fail(__FILE__, __LINE__, "feed write failed");
	if (p->stop_after && p->calls == p->stop_after)
		loop_stop(lp);
	return p->keep;
}

static void on_release(struct loop_watch *w)
{
	struct pw *p = w->arg;

	p->releases++;
}

/* A timer that stops the loop after `stop_after` ticks and may run a hook. */
struct tick {
	struct loop_watch w;
	unsigned ticks, stop_after;
	uint64_t expirations;
	void (*hook)(struct tick *t);
	void *ctx;
};

static bool on_tick(struct loop_watch *w, int revents)
{
	struct tick *t = w->arg;

	if (revents < 0) {
		tap_fail(__FILE__, __LINE__, "timer poll failed: %d", revents);
		loop_stop(lp);
		return false;
	}
	t->expirations += loop_timer_ack(w);
	t->ticks++;
	if (t->hook)
		t->hook(t);
	if (t->ticks == t->stop_after)
		loop_stop(lp);
	return true;
}

static bool tick_start(struct tick *t, uint64_t ns, unsigned stop_after)
{
	int ret;

	memset(t, 0, sizeof(*t));
	ret = loop_timer_init(&t->w, ns, on_tick, t);
	if (ret) {
		tap_fail(__FILE__, __LINE__, "loop_timer_init: %s", strerror(-ret));
		return false;
	}
	t->stop_after = stop_after;
	t->w.arg = t;
	if (loop_watch(lp, &t->w)) {
		tap_fail(__FILE__, __LINE__, "loop_watch(timer) failed");
		return false;
	}
	return true;
}

static void create_destroy(void)
{
	if (!setup())
		return;
	loop_destroy(lp);
	loop_destroy(NULL);
}

/* One callback per readiness; the callback makes the next one. */
static void fires_once_per_readiness(void)
{
	struct pw p;
	char c;

	if (!setup())
		return;
	REQUIRE(pipe_watch(&p));
	p.w.fn = on_pipe;
	p.feed_until = 5;
	p.stop_after = 5;
	REQUIRE(write(p.wfd, "x", 1) == 1);
	REQUIRE_OK(loop_watch(lp, &p.w));
	CHECK(p.w.active);
	CHECK_ERR(0, loop_run(lp));
	CHECK_EQ(p.calls, 5);
	CHECK_EQ(p.neg, 0);
	CHECK(p.last & POLLIN);
	CHECK(read(p.rfd, &c, 1) < 0 && errno == EAGAIN);	/* all consumed */
	loop_destroy(lp);
	pipe_close(&p);
}

/* Unconsumed data keeps the fd ready: re-armed, it fires again. */
static void rearms_while_true(void)
{
	struct pw p;

	if (!setup())
		return;
	REQUIRE(pipe_watch(&p));
	p.w.fn = on_pipe;
	p.consume = false;
	p.stop_after = 3;
	REQUIRE(write(p.wfd, "x", 1) == 1);
	REQUIRE_OK(loop_watch(lp, &p.w));
	REQUIRE_OK(loop_watch(lp, &p.w));	/* twice: still one poll */
	CHECK_ERR(0, loop_run(lp));
	CHECK_EQ(p.calls, 3);
	loop_destroy(lp);
	pipe_close(&p);
}

static bool on_pipe_free(struct loop_watch *w, int revents)
{
	unsigned *calls = w->arg;

	(void)revents;
	(*calls)++;
	free(w);		/* allowed: we return false */
	return false;
}

/* Returning false ends the watch (and the callback may free it). */
static void false_stops_watch(void)
{
	struct loop_watch *w;
	struct tick t;
	unsigned calls = 0;
	int fds[2];

	if (!setup())
		return;
	REQUIRE(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
	REQUIRE(write(fds[1], "x", 1) == 1);	/* stays readable */
	w = calloc(1, sizeof(*w));
	REQUIRE(w);
	*w = (struct loop_watch){ .fd = fds[0], .events = POLLIN, .fn = on_pipe_free,
				  .arg = &calls };
	REQUIRE_OK(loop_watch(lp, w));
	REQUIRE(tick_start(&t, 2000000, 5));
	CHECK_ERR(0, loop_run(lp));
	CHECK_EQ(calls, 1);
	CHECK_EQ(t.ticks, 5);
	loop_destroy(lp);
	close(t.w.fd);
	close(fds[0]);
	close(fds[1]);
}

static void unwatch_hook(struct tick *t)
{
	struct pw *p = t->ctx;

	if (t->ticks == 1) {
		/* armed and in flight: a cancellation is needed */
		CHECK(!loop_unwatch(lp, &p->w));
		CHECK(!p->w.active);
		if (write(p->wfd, "x", 1) != 1)
			tap_fail(__FILE__, __LINE__, "write failed");
	}
}

/* From outside: no callback after loop_unwatch, release exactly once. */
static void unwatch_from_outside(void)
{
	struct pw p;
	struct tick t;

	if (!setup())
		return;
	REQUIRE(pipe_watch(&p));
	p.w.fn = on_pipe;
	p.w.release = on_release;
	REQUIRE_OK(loop_watch(lp, &p.w));
	REQUIRE(tick_start(&t, 2000000, 4));
	t.hook = unwatch_hook;
	t.ctx = &p;
	CHECK_ERR(0, loop_run(lp));
	CHECK_EQ(p.calls, 0);
	CHECK_EQ(p.releases, 1);
	CHECK(!p.w.armed);
	/* not armed any more: unwatch is immediate */
	CHECK(loop_unwatch(lp, &p.w));
	CHECK_EQ(p.releases, 1);
	loop_destroy(lp);
	close(t.w.fd);
	pipe_close(&p);
}

/* Unwatched before the loop ever ran: still released, never called. */
static void unwatch_before_run(void)
{
	struct pw p, never;
	struct tick t;

	if (!setup())
		return;
	REQUIRE(pipe_watch(&p));
	REQUIRE(pipe_watch(&never));
	p.w.fn = on_pipe;
	p.w.release = on_release;
	never.w.fn = on_pipe;
	REQUIRE(write(p.wfd, "x", 1) == 1);
	REQUIRE_OK(loop_watch(lp, &p.w));
	CHECK(!loop_unwatch(lp, &p.w));
	CHECK(loop_unwatch(lp, &never.w));	/* never watched */
	REQUIRE(tick_start(&t, 2000000, 3));
	CHECK_ERR(0, loop_run(lp));
	CHECK_EQ(p.calls, 0);
	CHECK_EQ(p.releases, 1);
	CHECK_EQ(never.calls, 0);
	loop_destroy(lp);
	close(t.w.fd);
	pipe_close(&p);
	pipe_close(&never);
}

static void rewatch_hook(struct tick *t)
{
	struct pw *p = t->ctx;

	if (t->ticks == 1) {
		/* the poll is in flight: unwatch starts a cancellation ... */
		CHECK(p->w.armed);
		CHECK(!loop_unwatch(lp, &p->w));
		/* ... and the owner changes its mind before it completes */
		if (loop_watch(lp, &p->w))
			tap_fail(__FILE__, __LINE__, "loop_watch failed");
		CHECK(p->w.active);
	}
	if (t->ticks == 3 && write(p->wfd, "x", 1) != 1)
		tap_fail(__FILE__, __LINE__, "write failed");
}

/*
 * Stop watching and start again (a detach/attach pair, e.g. rolling back
 * a failed live update) before the cancellation completed: the watch must
 * keep working and its callback must not see the cancellation of a poll
 * it still wants.
 */
static void unwatch_then_watch_again(void)
{
	struct pw p;
	struct tick t;

	if (!setup())
		return;
	REQUIRE(pipe_watch(&p));
	p.w.fn = on_pipe;
	REQUIRE_OK(loop_watch(lp, &p.w));
	REQUIRE(tick_start(&t, 2000000, 8));
	t.hook = rewatch_hook;
	t.ctx = &p;
	CHECK_ERR(0, loop_run(lp));
	CHECK_EQ(p.neg, 0);
	CHECK_EQ(p.calls, 1);
	CHECK(p.last > 0 && (p.last & POLLIN));
	loop_destroy(lp);
	close(t.w.fd);
	pipe_close(&p);
}

static void timer_fires(void)
{
	struct tick t;
	uint64_t t0 = util_now_ns(), dt;

	if (!setup())
		return;
	REQUIRE(tick_start(&t, 3000000, 4));
	CHECK_EQ(loop_timer_ack(&t.w), 0);	/* nothing expired yet */
	CHECK_ERR(0, loop_run(lp));
	dt = util_now_ns() - t0;
	CHECK_EQ(t.ticks, 4);
	CHECK(t.expirations >= 4);
	CHECK(dt >= 4 * 3000000ULL - 1000000ULL);	/* could not be early */
	CHECK(t.w.fd >= 0);
	loop_destroy(lp);
	close(t.w.fd);
}

static void timer_init_values(void)
{
	struct loop_watch w;

	memset(&w, 0xff, sizeof(w));
	REQUIRE_OK(loop_timer_init(&w, 1500000000ULL, on_tick, &w));
	CHECK(w.fd >= 0);
	CHECK_EQ(w.events, POLLIN);
	CHECK(w.fn == on_tick);
	CHECK(w.arg == &w);
	CHECK(!w.active);
	CHECK(!w.armed);
	CHECK(w.release == NULL);
	close(w.fd);
}

static void stop_before_run(void)
{
	if (!setup())
		return;
	loop_stop(lp);
	CHECK_ERR(0, loop_run(lp));
	loop_destroy(lp);
}

/* A poll that cannot be set up reports a negative errno. */
static void poll_error_is_negative(void)
{
	struct pw p;

	if (!setup())
		return;
	REQUIRE(pipe_watch(&p));
	close(p.rfd);
	p.rfd = -1;
	p.w.fd = 1000;			/* not open */
	p.w.fn = on_pipe;
	p.keep = false;
	p.stop_after = 1;
	REQUIRE_OK(loop_watch(lp, &p.w));
	CHECK_ERR(0, loop_run(lp));
	CHECK_EQ(p.calls, 1);
	CHECK_ERR(-EBADF, p.last);
	loop_destroy(lp);
	pipe_close(&p);
}

static void hangup_is_reported(void)
{
	struct pw p;

	if (!setup())
		return;
	REQUIRE(pipe_watch(&p));
	p.w.fn = on_pipe;
	p.keep = false;
	p.stop_after = 1;
	util_close(&p.wfd);
	REQUIRE_OK(loop_watch(lp, &p.w));
	CHECK_ERR(0, loop_run(lp));
	CHECK_EQ(p.calls, 1);
	CHECK(p.last > 0 && (p.last & POLLHUP));
	loop_destroy(lp);
	pipe_close(&p);
}

/* More watches than the ring has entries: all of them fire. */
#define MANY	150

static unsigned many_left;

static bool on_many(struct loop_watch *w, int revents)
{
	struct pw *p = w->arg;
	char c;

	p->calls++;
	p->last = revents;
	if (revents > 0 && read(p->rfd, &c, 1) != 1)
		tap_fail(__FILE__, __LINE__, "no data");
	if (--many_left == 0)
		loop_stop(lp);
	return false;
}

static void more_watches_than_entries(void)
{
	static struct pw p[MANY];
	unsigned i, bad = 0;

	if (!setup())
		return;
	many_left = MANY;
	for (i = 0; i < MANY; i++) {
		REQUIRE(pipe_watch(&p[i]));
		p[i].w.fn = on_many;
		REQUIRE(write(p[i].wfd, "x", 1) == 1);
		REQUIRE_OK(loop_watch(lp, &p[i].w));
	}
	CHECK_ERR(0, loop_run(lp));
	for (i = 0; i < MANY; i++)
		if (p[i].calls != 1 || !(p[i].last & POLLIN))
			bad++;
	CHECK_EQ(bad, 0);
	CHECK_EQ(many_left, 0);
	loop_destroy(lp);
	for (i = 0; i < MANY; i++)
		pipe_close(&p[i]);
}

static const struct tap_case cases[] = {
	TAP_CASE(create_destroy),
	TAP_CASE(fires_once_per_readiness),
	TAP_CASE(rearms_while_true),
	TAP_CASE(false_stops_watch),
	TAP_CASE(unwatch_from_outside),
	TAP_CASE(unwatch_before_run),
	TAP_CASE(unwatch_then_watch_again),
	TAP_CASE(timer_fires),
	TAP_CASE(timer_init_values),
	TAP_CASE(stop_before_run),
	TAP_CASE(poll_error_is_negative),
	TAP_CASE(hangup_is_reported),
	TAP_CASE(more_watches_than_entries),
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
