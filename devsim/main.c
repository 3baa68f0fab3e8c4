// SPDX-License-Identifier: MIT
/*
 * main.c: luvmm-devsim, the device simulator: a separate process standing
 * in for a DMA-capable PCI device behind an IOMMU (docs/devsim.md). Owns
 * the command line, the process lifetime (signals, hang-ups), the
 * listening socket and the connections; proto.c serves their messages,
 * engine.c runs the device, slots.c holds the memory it reaches.
 *
 * Lifetime: like hardware it outlives the VMM that started it. With --fd
 * it leaves the VMM's session and exits when that connection hangs up,
 * i.e. when every process holding it (the VMM, and after a live update
 * its successor) closed it. With --socket it serves any number of
 * connections until SIGTERM/SIGINT/SIGHUP (or, with --exit-on-detach,
 * until the connection that attached the device hangs up).
 *
 * Exit status: 0 done, 1 error, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../vmm/log.h"
#include "../vmm/util.h"
#include "engine.h"
#include "proto.h"
#include "slots.h"

#define PROG		"luvmm-devsim"
#define CONNS_MAX	16
#define DELAY_MAX_US	60000000ULL	/* 60 s */

enum { EXIT_USAGE = 2 };

struct opts {
	const char *socket_path;
	int fd;				/* --fd, or -1 */
	uint64_t delay_us;
	bool exit_on_detach;
	bool verbose;
};

struct conn {
	int fd;
	bool primary;			/* the --fd connection */
	bool attached;			/* its last ATTACH is the device's */
};

struct sim {
	struct opts o;
	int sig_fd;
	int listen_fd;
	bool unlink_path;		/* we bound socket_path */
	struct conn conns[CONNS_MAX];
	unsigned int nconns;
	struct slots slots;
	struct engine *engine;
	struct proto proto;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " (--socket PATH | --fd N) [options]\n"
		"\n"
		"A simulated DMA device behind the soft IOMMU (docs/devsim.md).\n"
		"\n"
		"  --socket PATH     listen on a unix SOCK_SEQPACKET socket (mode 0600)\n"
		"  --fd N            serve an already-connected SOCK_SEQPACKET fd;\n"
		"                    exit when it hangs up\n"
		"  --exit-on-detach  (--socket) exit when the connection that\n"
		"                    attached the device hangs up\n"
		"  --delay-us N      sleep N microseconds before each job\n"
		"  -v, --verbose     log every setup message\n"
		"  -h, --help        this text\n"
		"\n"
		"Exit status: 0 done, 1 error, 2 usage.\n");
}

static __printf(1, 2) int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	return EXIT_USAGE;
}

/* 0: run; -1: --help printed; else an exit status. */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "delay-us", required_argument, NULL, 'd' },
		{ "exit-on-detach", no_argument, NULL, 'x' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket_path = optarg;
			break;
		case 'f':
			if (util_parse_u64(optarg, 0, INT_MAX, &v))
				return usage_error("--fd: bad fd '%s'", optarg);
			o->fd = (int)v;
			break;
		case 'd':
			if (util_parse_u64(optarg, 0, DELAY_MAX_US, &o->delay_us))
				return usage_error("--delay-us: bad value '%s'",
						   optarg);
			break;
		case 'x':
			o->exit_on_detach = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case ':':
			return usage_error("%s needs an argument",
					   argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->socket_path == (o->fd < 0))
		return usage_error("%s", "give exactly one of --socket and --fd");
	return 0;
}

/* ---- connections --------------------------------------------------------- */

static int conn_add(struct sim *s, int fd, bool primary)
{
	struct conn *c;

	if (s->nconns == CONNS_MAX)
		return -EMFILE;
	c = &s->conns[s->nconns++];
	c->fd = fd;
	c->primary = primary;
	c->attached = false;
	return 0;
}

/* Close connection i; true when the simulator should exit for it. */
static bool conn_drop(struct sim *s, unsigned int i)
{
	struct conn c = s->conns[i];

	log_dbg("conn %d: hung up", c.fd);
	close(c.fd);
	s->conns[i] = s->conns[--s->nconns];
	return c.primary || (c.attached && s->o.exit_on_detach);
}

static void conn_serve(struct sim *s, unsigned int i, bool *quit)
{
	bool attached = false;
	unsigned int k;
	int ret;

	ret = proto_serve(&s->proto, s->conns[i].fd, &attached);
	if (attached) {
		for (k = 0; k < s->nconns; k++)
			s->conns[k].attached = false;
		s->conns[i].attached = true;
	}
	if (ret == -EAGAIN)
		return;
	if (ret == -EPIPE) {
		*quit = conn_drop(s, i);
	} else if (ret) {
		log_warn("conn %d: %s: closing it", s->conns[i].fd,
			 strerror(-ret));
		*quit = conn_drop(s, i);
	}
}

static void accept_one(struct sim *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_ratelimited(LOG_WARN, "accept: %s", strerror(errno));
		return;
	}
	if (conn_add(s, fd, false)) {
		log_ratelimited(LOG_WARN, "%u connections open: refusing one",
				CONNS_MAX);
		close(fd);
		return;
	}
	log_dbg("conn %d: connected", fd);
}

/* The poll loop: 0 when told to stop, or a negative errno. */
static int sim_run(struct sim *s)
{
	struct pollfd p[2 + CONNS_MAX];
	struct signalfd_siginfo si;
	unsigned int i, n, nc;
	bool quit = false;

	while (!quit) {
		p[0] = (struct pollfd){ .fd = s->sig_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		nc = s->nconns;
		for (i = 0; i < nc; i++)
			p[2 + i] = (struct pollfd){ .fd = s->conns[i].fd,
						    .events = POLLIN };
		n = 2 + nc;
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[0].revents & POLLIN) {
			if (read(s->sig_fd, &si, sizeof(si)) == sizeof(si))
				log_info("signal %u: exiting", si.ssi_signo);
			return 0;
		}
		/* from the last, so dropping one moves only served ones */
		for (i = nc; i-- > 0 && !quit;) {
			if (p[2 + i].revents & POLLIN)
				conn_serve(s, i, &quit);
			else if (p[2 + i].revents)
				quit = conn_drop(s, i);
		}
		if (!quit && (p[1].revents & POLLIN))
			accept_one(s);
	}
	return 0;
}

/* ---- setup --------------------------------------------------------------- */

static int listen_on(struct sim *s, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, ret;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);	/* the socket is born 0600 */
	ret = bind(fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (ret < 0) {
		ret = -errno;
		goto err_close;
	}
	s->unlink_path = true;
	if (chmod(path, 0600) < 0 || listen(fd, CONNS_MAX) < 0) {
		ret = -errno;
		goto err_close;
	}
	s->listen_fd = fd;
	return 0;

err_close:
	close(fd);
	return ret;
}

static int take_fd(struct sim *s, int fd)
{
	int type, domain;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return errno == ENOTSOCK ? -ENOTSOCK : -errno;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -errno;
	if (domain != AF_UNIX || type != SOCK_SEQPACKET)
		return -EPROTOTYPE;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	/* a signal to the VMM's process group must not reach the device */
	if (setsid() < 0 && errno != EPERM)
		return -errno;
	return conn_add(s, fd, true);
}

/* Signals: SIGTERM/SIGINT (and SIGHUP with --socket) through a signalfd. */
static int signals_setup(struct sim *s)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (s->o.socket_path)
		sigaddset(&set, SIGHUP);
	else
		signal(SIGHUP, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return s->sig_fd < 0 ? -errno : 0;
}

static void sim_fini(struct sim *s)
{
	unsigned int i;

	engine_destroy(s->engine);	/* stops the thread first */
	slots_fini(&s->slots);
	for (i = 0; i < s->nconns; i++)
		close(s->conns[i].fd);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->unlink_path)
		unlink(s->o.socket_path);
	if (s->sig_fd >= 0)
		close(s->sig_fd);
}

static int sim_setup(struct sim *s)
{
	int ret;

	ret = signals_setup(s);
	if (ret) {
		log_err("signals: %s", strerror(-ret));
		return ret;
	}
	if (s->o.socket_path) {
		ret = listen_on(s, s->o.socket_path);
		if (ret) {
			log_err("listen on %s: %s", s->o.socket_path,
				strerror(-ret));
			return ret;
		}
	} else {
		ret = take_fd(s, s->o.fd);
		if (ret) {
			log_err("--fd %d: %s", s->o.fd,
				ret == -ENOTSOCK || ret == -EPROTOTYPE ||
				ret == -EBADF ?
				"not a unix SOCK_SEQPACKET socket" :
				strerror(-ret));
			return ret;
		}
	}
	ret = slots_init(&s->slots);
	if (!ret)
		ret = engine_create(&s->slots, s->o.delay_us, &s->engine);
	if (ret) {
		log_err("device: %s", strerror(-ret));
		return ret;
	}
	s->proto.slots = &s->slots;
	s->proto.engine = s->engine;
	return 0;
}

int main(int argc, char **argv)
{
	static struct sim s;	/* the slot table is large */
	int ret;

	log_set_tag(PROG);
	ret = parse_args(argc, argv, &s.o);
	if (ret)
		return ret < 0 ? 0 : ret;
	if (s.o.verbose)
		log_set_level(LOG_DEBUG);
	s.sig_fd = s.listen_fd = -1;
	ret = sim_setup(&s);
	if (!ret) {
		log_dbg("serving %s%s", s.o.socket_path ? "socket " : "fd",
			s.o.socket_path ? s.o.socket_path : "");
		ret = sim_run(&s);
		if (ret)
			log_err("poll: %s", strerror(-ret));
	}
	sim_fini(&s);
	return ret ? 1 : 0;
}
