/* SPDX-License-Identifier: MIT */
/*
 * loop.h: the main thread's event loop, on io_uring.
 *
 * Everything the main thread reacts to is an fd: the control socket and its
 * clients, a signalfd, timerfds, the VM's event fd, serial input. A watch
 * asks for one readiness callback at a time (a oneshot IORING_OP_POLL_ADD,
 * re-armed after the callback while the watch stays active). The ring is
 * created disabled, restricted to the opcodes the loop uses, then enabled.
 * Single-threaded: only the main thread calls these.
 */
#ifndef LUVMM_LOOP_H
#define LUVMM_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

struct loop;
struct loop_watch;

/*
 * revents is a poll(2) mask, or a negative errno if the poll failed.
 * Return true to keep watching; return false when the watch is finished:
 * the loop then never touches w again, so the callback may free it.
 */
typedef bool (*loop_fn)(struct loop_watch *w, int revents);

struct loop_watch {
	int fd;
	uint32_t events;	/* POLLIN, POLLOUT, ... */
	loop_fn fn;
	void *arg;
	/* Called once the loop no longer references an unwatched watch, when
	 * that could not happen inside loop_unwatch() itself. May be NULL. */
	void (*release)(struct loop_watch *w);
	bool active;		/* wanted by its owner */
	bool armed;		/* a poll is in flight */
	bool cancelling;	/* its removal is in flight */
};

/* -ENOTSUP names the missing opcode in the log. */
int __must_check loop_create(struct loop **out);
/* Waits (briefly) for unwatched watches to reach their release
 * callbacks, then cancels everything; active watches are not released. */
void loop_destroy(struct loop *l);
/* Start watching w->fd for w->events. */
int __must_check loop_watch(struct loop *l, struct loop_watch *w);
/*
 * Stop watching from outside w's own callback (inside it, return false).
 * Returns true if the loop holds no reference to w any more (the owner may
 * free it now), false if a cancellation is in flight: w->release(w) runs
 * when it completes.
 */
bool loop_unwatch(struct loop *l, struct loop_watch *w);
/* Dispatch callbacks until loop_stop(); returns 0 or a ring error. */
int __must_check loop_run(struct loop *l);
void loop_stop(struct loop *l);

/* A periodic timer as a watch on a timerfd. */
int __must_check loop_timer_init(struct loop_watch *w, uint64_t period_ns,
				 loop_fn fn, void *arg);
/* Consume the expirations of a timer watch; returns how many. */
uint64_t loop_timer_ack(struct loop_watch *w);

#endif
