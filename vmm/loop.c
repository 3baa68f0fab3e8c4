// SPDX-License-Identifier: MIT
/*
 * loop.c: io_uring event loop of the main thread (see loop.h).
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_ENTRIES	64
/* user_data of POLL_REMOVE requests: their CQEs carry nothing we need */
#define LOOP_REMOVE_TAG	1ULL

struct loop {
	struct io_uring ring;
	bool stop;
	unsigned pending;	/* SQEs prepared but not submitted */
	unsigned cancelling;	/* watches whose poll is being removed */
};

static const struct {
	int op;
	const char *name;
} loop_ops[] = {
	{ IORING_OP_POLL_ADD, "POLL_ADD" },
	{ IORING_OP_POLL_REMOVE, "POLL_REMOVE" },
};

static int restrict_ring(struct loop *l)
{
	struct io_uring_restriction res[ARRAY_SIZE(loop_ops)];
	struct io_uring_probe *probe;
	unsigned i;
	int ret;

	probe = io_uring_get_probe_ring(&l->ring);
	if (!probe)
		return -ENOTSUP;
	for (i = 0; i < ARRAY_SIZE(loop_ops); i++) {
		if (!io_uring_opcode_supported(probe, loop_ops[i].op)) {
			log_err("io_uring: the kernel lacks IORING_OP_%s", loop_ops[i].name);
			io_uring_free_probe(probe);
			return -ENOTSUP;
		}
	}
	io_uring_free_probe(probe);
	memset(res, 0, sizeof(res));
	for (i = 0; i < ARRAY_SIZE(loop_ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = (uint8_t)loop_ops[i].op;
	}
	/*
	 * The raw register call: Debian's liburing 2.3 declares
	 * io_uring_register_restrictions() and io_uring_enable_rings() but
	 * does not export them.
	 */
	ret = io_uring_register(l->ring.ring_fd, IORING_REGISTER_RESTRICTIONS,
				res, ARRAY_SIZE(res));
	if (ret < 0)
		return ret;
	return io_uring_register(l->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
				 NULL, 0);
}

int loop_create(struct loop **out)
{
	struct io_uring_params p;
	struct loop *l;
	int ret;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	ret = io_uring_queue_init_params(LOOP_ENTRIES, &l->ring, &p);
	if (ret < 0) {
		free(l);
		return ret;
	}
	ret = restrict_ring(l);
	if (ret < 0) {
		io_uring_queue_exit(&l->ring);
		free(l);
		return ret;
	}
	*out = l;
	return 0;
}

static void complete(struct loop *l, struct io_uring_cqe *cqe);

void loop_destroy(struct loop *l)
{
	struct __kernel_timespec ts = { .tv_nsec = 200 * 1000 * 1000 };
	struct io_uring_cqe *cqe;

	if (!l)
		return;
	/* let every cancelled watch reach its release callback: owners
	 * (control-socket clients, ...) free their memory there */
	l->stop = false;
	while (l->cancelling) {
		io_uring_submit(&l->ring);
		if (io_uring_wait_cqe_timeout(&l->ring, &cqe, &ts))
			break;
		complete(l, cqe);
		io_uring_cqe_seen(&l->ring, cqe);
	}
	io_uring_queue_exit(&l->ring);
	free(l);
}

static struct io_uring_sqe *get_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		/* ring full of unsubmitted entries: flush and retry once */
		io_uring_submit(&l->ring);
		l->pending = 0;
		sqe = io_uring_get_sqe(&l->ring);
	}
	if (sqe)
		l->pending++;
	return sqe;
}

static int arm(struct loop *l, struct loop_watch *w)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, w->fd, w->events);
	io_uring_sqe_set_data(sqe, w);
	w->armed = true;
	return 0;
}

int loop_watch(struct loop *l, struct loop_watch *w)
{
	w->active = true;
	if (w->armed)
		return 0;
	return arm(l, w);
}

bool loop_unwatch(struct loop *l, struct loop_watch *w)
{
	struct io_uring_sqe *sqe;

	w->active = false;
	if (!w->armed)
		return true;
	if (!w->cancelling) {
		sqe = get_sqe(l);
		if (sqe) {
			io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)w);
			io_uring_sqe_set_data64(sqe, LOOP_REMOVE_TAG);
		}
		w->cancelling = true;
		l->cancelling++;
	}
	return false;
}

static void complete(struct loop *l, struct io_uring_cqe *cqe)
{
	struct loop_watch *w;

	if (cqe->user_data == LOOP_REMOVE_TAG)
		return;
	w = io_uring_cqe_get_data(cqe);
	w->armed = false;
	if (w->cancelling) {
		w->cancelling = false;
		l->cancelling--;
		/* watched again before the cancellation landed: keep going */
		if (w->active && cqe->res == -ECANCELED) {
			if (arm(l, w) < 0)
				log_err("loop: cannot re-arm watch on fd %d", w->fd);
			return;
		}
	}
	if (!w->active) {
		if (w->release)
			w->release(w);
		return;
	}
	if (!w->fn(w, cqe->res)) {
		/* w may be gone */
		return;
	}
	if (!w->armed && arm(l, w) < 0)
		log_err("loop: cannot re-arm watch on fd %d", w->fd);
}

int loop_run(struct loop *l)
{
	struct io_uring_cqe *cqe;
	unsigned head, n;
	int ret;

	while (!l->stop) {
		ret = io_uring_submit_and_wait(&l->ring, 1);
		l->pending = 0;
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			return ret;
		n = 0;
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			complete(l, cqe);
			n++;
			if (l->stop)
				break;
		}
		io_uring_cq_advance(&l->ring, n);
	}
	l->stop = false;	/* a later loop_run() runs again */
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

int loop_timer_init(struct loop_watch *w, uint64_t period_ns, loop_fn fn, void *arg)
{
	struct itimerspec its = {
		.it_interval = { (time_t)(period_ns / 1000000000ULL),
				 (long)(period_ns % 1000000000ULL) },
	};

	its.it_value = its.it_interval;
	memset(w, 0, sizeof(*w));
	w->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (w->fd < 0)
		return -errno;
	if (timerfd_settime(w->fd, 0, &its, NULL) < 0) {
		int ret = -errno;

		close(w->fd);
		w->fd = -1;
		return ret;
	}
	w->events = POLLIN;
	w->fn = fn;
	w->arg = arg;
	return 0;
}

uint64_t loop_timer_ack(struct loop_watch *w)
{
	uint64_t n = 0;

	if (read(w->fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}
