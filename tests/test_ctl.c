// SPDX-License-Identifier: MIT
/*
 * test_ctl.c: the control socket (vmm/ctl.c). A server with a test command
 * table runs on a loop in a thread of this process; the test thread is the
 * client (ctl_call or a raw socket). Covers good and bad requests and their
 * error replies, pipelining, the line limit, the client limit, the socket
 * file (stale, live, not a socket, mode), deferred replies, teardown, and
 * ctl_call's own errors against fake servers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../vmm/ctl.h"
#include "../vmm/json.h"
#include "../vmm/log.h"
#include "../vmm/loop.h"
#include "../vmm/util.h"
#include "tap.h"

#define TIMEOUT_MS	3000
#define REPLY_MAX	(CTL_REPLY_MAX + 16)

/* ---- the server under test -------------------------------------------- */

struct srv {
	char dir[64], path[128];
	struct loop *loop;
	struct ctl_server *ctl;
	pthread_t thread;
	bool running;
	int loop_ret;
	struct loop_watch stop_w, kick_w;
	int stop_pipe[2], kick_pipe[2];
	unsigned counted;
	struct ctl_pending *pending;
	int fds_base;		/* open fds once the loop thread ran */
	bool no_settle;
};

static struct srv S;

static int cmd_echo(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	char arg[256];
	int i = json_obj_find(req->line, req->tok, 0, "arg");

	(void)ctx;
	if (i < 0 || json_get_str(req->line, &req->tok[i], arg, sizeof(arg)) < 0) {
		snprintf(req->err, req->errlen, "echo needs a string \"arg\"");
		return -EINVAL;
	}
	jw_kstr(w, "echo", arg);
	return 0;
}

static int cmd_count(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	struct srv *s = ctx;

	(void)req;
	jw_ku64(w, "n", ++s->counted);
	return 0;
}

static int cmd_fail(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	(void)ctx;
	jw_kstr(w, "partial", "must not appear");
	snprintf(req->err, req->errlen, "it broke: \"quoted\"");
	return -EIO;
}

static int cmd_failnomsg(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	(void)ctx;
	(void)req;
	(void)w;
	return -ENOENT;
}

static int cmd_big(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	static char big[CTL_REPLY_MAX + 100];

	(void)ctx;
	(void)req;
	memset(big, 'b', sizeof(big) - 1);
	jw_kstr(w, "big", big);
	return 0;
}

static int cmd_defer(void *ctx, const struct ctl_request *req, struct json_writer *w)
{
	struct srv *s = ctx;

	(void)w;
	s->pending = ctl_defer(req);
	return s->pending ? CTL_DEFERRED : -ENOMEM;
}

static const struct ctl_command cmds[] = {
	{ "echo", cmd_echo },
	{ "count", cmd_count },
	{ "fail", cmd_fail },
	{ "failnomsg", cmd_failnomsg },
	{ "big", cmd_big },
	{ "defer", cmd_defer },
	{ NULL, NULL },
};

static bool on_stop(struct loop_watch *w, int revents)
{
	(void)w;
	(void)revents;
	loop_stop(S.loop);
	return false;
}

/* The kick pipe answers the deferred request (on the loop thread). */
static bool on_kick(struct loop_watch *w, int revents)
{
	char c;

	(void)revents;
	if (read(w->fd, &c, 1) != 1)
		return true;
	if (S.pending) {
		struct ctl_pending *p = S.pending;

		S.pending = NULL;
		ctl_pending_reply(p, "{\"ok\":true,\"deferred\":1}");
	}
	return true;
}

static void *loop_thread(void *arg)
{
	(void)arg;
	S.loop_ret = loop_run(S.loop);
	return NULL;
}

static bool make_dir(void)
{
	snprintf(S.dir, sizeof(S.dir), "/tmp/test_ctl.XXXXXX");
	if (!mkdtemp(S.dir))
		return false;
	snprintf(S.path, sizeof(S.path), "%s/api.sock", S.dir);
	return true;
}

/* Loop, temp dir and helper pipes; skips when io_uring is unavailable. */
static bool srv_prepare(void)
{
	int ret;

	memset(&S, 0, sizeof(S));
	S.stop_pipe[0] = S.stop_pipe[1] = S.kick_pipe[0] = S.kick_pipe[1] = -1;
	log_set_level(LOG_ERR);
	ret = loop_create(&S.loop);
	if (ret == -ENOSYS || ret == -EPERM || ret == -ENOTSUP) {
		tap_skip("io_uring unavailable: %s", strerror(-ret));
		return false;
	}
	if (ret || !make_dir()) {
		tap_fail(__FILE__, __LINE__, "setup failed: %d", ret);
		return false;
	}
	if (pipe2(S.stop_pipe, O_CLOEXEC | O_NONBLOCK) ||
	    pipe2(S.kick_pipe, O_CLOEXEC | O_NONBLOCK))
		return false;
	S.stop_w = (struct loop_watch){ .fd = S.stop_pipe[0], .events = POLLIN, .fn = on_stop };
	S.kick_w = (struct loop_watch){ .fd = S.kick_pipe[0], .events = POLLIN, .fn = on_kick };
	return !loop_watch(S.loop, &S.stop_w) && !loop_watch(S.loop, &S.kick_w);
}

static bool srv_listen(void)
{
	char err[256] = "";
	int ret = ctl_server_create(S.loop, S.path, cmds, &S, &S.ctl, err, sizeof(err));

	if (ret)
		tap_fail(__FILE__, __LINE__, "ctl_server_create: %d %s", ret, err);
	return !ret;
}

static bool srv_run(void)
{
	if (pthread_create(&S.thread, NULL, loop_thread, NULL)) {
		tap_fail(__FILE__, __LINE__, "pthread_create");
		return false;
	}
	S.running = true;
	S.fds_base = tap_count_fds();
	return true;
}

/* Loop + server, not yet running. */
static bool srv_create(void)
{
	return srv_prepare() && srv_listen();
}

static bool srv_start(void)
{
	return srv_create() && srv_run();
}

/*
 * Let the server see the hang-ups of the clients a case closed: until it
 * has, their fds are open and would show as leaks (bounded wait).
 */
static void settle(void)
{
	uint64_t deadline = util_now_ns() + 2000000000ULL;
	struct timespec ms = { 0, 1000000 };

	while (tap_count_fds() > S.fds_base && util_now_ns() < deadline)
		nanosleep(&ms, NULL);
}

/* Stop the loop thread (if any). */
static void srv_stop(void)
{
	if (!S.running)
		return;
	if (!S.no_settle)
		settle();
	if (write(S.stop_pipe[1], "s", 1) != 1)
		tap_fail(__FILE__, __LINE__, "cannot stop the loop");
	pthread_join(S.thread, NULL);
	S.running = false;
	CHECK_ERR(0, S.loop_ret);
}

static void srv_destroy(void)
{
	srv_stop();
	ctl_server_destroy(S.ctl, false);
	S.ctl = NULL;
	loop_destroy(S.loop);
	S.loop = NULL;
	util_close(&S.stop_pipe[0]);
	util_close(&S.stop_pipe[1]);
	util_close(&S.kick_pipe[0]);
	util_close(&S.kick_pipe[1]);
	unlink(S.path);
	rmdir(S.dir);
	log_set_level(LOG_INFO);
}

/* ---- clients ---------------------------------------------------------- */

/* Truncating copy into sun_path (our temp paths are short). */
static void set_sun_path(struct sockaddr_un *sa, const char *path)
{
	size_t n = MIN(strlen(path), sizeof(sa->sun_path) - 1);

	memcpy(sa->sun_path, path, n);
	sa->sun_path[n] = '\0';
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	set_sun_path(&sa, path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read one line (without '\n') within the timeout; -1 on EOF/timeout. */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	while (n + 1 < cap) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		buf[n] = '\0';	/* a string even when we give up */
		if (poll(&p, 1, TIMEOUT_MS) <= 0)
			return -1;
		r = read(fd, buf + n, 1);
		if (r <= 0) {
			buf[n] = '\0';
			return -1;
		}
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return (ssize_t)n;
		}
		n++;
	}
	buf[n] = '\0';
	return -1;
}

/* True once the peer closed (EOF) within the timeout. */
static bool sees_eof_within(int fd, int ms)
{
	char c;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, ms) <= 0)
			return false;
		if (read(fd, &c, 1) <= 0)
			return true;
	}
}

static bool sees_eof(int fd)
{
	return sees_eof_within(fd, TIMEOUT_MS);
}

/* Parsed reply: ok flag, and the "error" string if any. */
struct reply {
	char text[REPLY_MAX];
	struct json_tok tok[64];
	int ntok;
	bool ok;
	char error[512];
};

static bool parse_reply(struct reply *r)
{
	size_t off;
	int i;

	r->ntok = json_parse(r->text, strlen(r->text), r->tok, ARRAY_SIZE(r->tok), &off);
	r->error[0] = '\0';
	if (r->ntok < 1 || r->tok[0].type != JSON_OBJ)
		return false;
	i = json_obj_find(r->text, r->tok, 0, "ok");
	if (i < 0 || json_get_bool(r->text, &r->tok[i], &r->ok))
		return false;
	i = json_obj_find(r->text, r->tok, 0, "error");
	if (i >= 0 && json_get_str(r->text, &r->tok[i], r->error, sizeof(r->error)) < 0)
		return false;
	return true;
}

static struct reply R;

/* ctl_call + parse; returns ctl_call's result. */
static int call(const char *req)
{
	int ret = ctl_call(S.path, req, R.text, sizeof(R.text), TIMEOUT_MS);

	if (!ret && !parse_reply(&R))
		tap_fail(__FILE__, __LINE__, "reply is not a JSON object with \"ok\": %.200s", R.text);
	return ret;
}

#define CHECK_ERROR_REPLY(req, needle)					\
	do {								\
		CHECK_ERR(0, call(req));				\
		CHECK(!R.ok);						\
		if (!strstr(R.error, (needle)))				\
			tap_fail(__FILE__, __LINE__, "%s: error \"%s\" lacks \"%s\"", \
				 (req), R.error, (needle));		\
	} while (0)

/* ---- cases -------------------------------------------------------------- */

/* Run body with a started (or only created) server; always tear down. */
static void with_server(void (*body)(void), bool start)
{
	if (start ? srv_start() : srv_create())
		body();
	srv_destroy();
}

#define SERVER_CASE(name, start)					\
	static void name(void)						\
	{								\
		with_server(name##_body, (start));			\
	}

static void good_command_body(void)
{
	char s[64];
	int i;

	CHECK_ERR(0, call("{\"cmd\":\"echo\",\"arg\":\"hi \\\"there\\\"\"}"));
	CHECK(R.ok);
	i = json_obj_find(R.text, R.tok, 0, "echo");
	REQUIRE(i > 0);
	CHECK(json_get_str(R.text, &R.tok[i], s, sizeof(s)) > 0);
	CHECK_STR(s, "hi \"there\"");
	CHECK_EQ(R.error[0], '\0');
	/* white space and member order do not matter */
	CHECK_ERR(0, call("  { \"arg\" : \"x\" , \"cmd\" : \"echo\" }  "));
	CHECK(R.ok);
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));
	CHECK(R.ok);
	CHECK_EQ(S.counted, 1);
}
SERVER_CASE(good_command, true)

static void error_replies_body(void)
{
	CHECK_ERROR_REPLY("{\"cmd\":\"nope\"}", "unknown command");
	CHECK(strstr(R.error, "nope") != NULL);
	CHECK_ERROR_REPLY("{\"cmd\":\"echo\"}", "echo needs");
	CHECK_ERROR_REPLY("[1,2]", "must be a JSON object");
	CHECK_ERROR_REPLY("\"cmd\"", "must be a JSON object");
	CHECK_ERROR_REPLY("42", "must be a JSON object");
	CHECK_ERROR_REPLY("{\"x\":1}", "\"cmd\"");
	CHECK_ERROR_REPLY("{\"cmd\":5}", "\"cmd\"");
	CHECK_ERROR_REPLY("{\"cmd\":null}", "\"cmd\"");
	CHECK_ERROR_REPLY("{}", "\"cmd\"");
	/* a handler's own reason; what it wrote before failing is dropped */
	CHECK_ERROR_REPLY("{\"cmd\":\"fail\"}", "it broke: \"quoted\"");
	CHECK(!strstr(R.text, "partial"));
	CHECK_ERROR_REPLY("{\"cmd\":\"failnomsg\"}", "failnomsg: ");
	CHECK(strstr(R.error, strerror(ENOENT)) != NULL);
	CHECK_ERROR_REPLY("{\"cmd\":\"big\"}", "reply too long");
	/* the server is still fine after all that */
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));
	CHECK(R.ok);
}
SERVER_CASE(error_replies, true)

static void malformed_json_offsets_body(void)
{
	static const struct {
		const char *req;
		const char *msg;
	} c[] = {
		{ "{\"cmd\":", "malformed JSON at byte 7" },
		{ "{\"cmd\":\"echo\",}", "malformed JSON at byte 14" },
		{ "{\"cmd\" \"echo\"}", "malformed JSON at byte 7" },
		{ "{\"cmd\":\"e\x01\"}", "malformed JSON at byte 9" },
		{ "{\"cmd\":\"count\"} x", "malformed JSON at byte 16" },
		{ "nonsense", "malformed JSON at byte 0" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(c); i++)
		CHECK_ERROR_REPLY(c[i].req, c[i].msg);
	/* too many tokens or too deep */
	{
		char req[1024];
		size_t n = (size_t)sprintf(req, "{\"cmd\":\"count\",\"a\":[");
		unsigned k;

		for (k = 0; k < 200; k++)
			n += (size_t)sprintf(req + n, "%s1", k ? "," : "");
		sprintf(req + n, "]}");
		CHECK_ERROR_REPLY(req, "too complex");
		n = (size_t)sprintf(req, "{\"cmd\":\"count\",\"a\":");
		for (k = 0; k < 20; k++)
			req[n++] = '[';
		for (k = 0; k < 20; k++)
			req[n++] = ']';
		sprintf(req + n, "}");
		CHECK_ERROR_REPLY(req, "too complex");
	}
	CHECK_EQ(S.counted, 0);
}
SERVER_CASE(malformed_json_offsets, true)

/* Two requests in one write (and CRLF, blank lines) get two replies, in
 * order; a request split over writes is put together. */
static void pipelined_requests_body(void)
{
	static const char two[] = "{\"cmd\":\"count\"}\n\n{\"cmd\":\"echo\",\"arg\":\"b\"}\r\n";
	char line[512];
	int fd;

	fd = raw_connect(S.path);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, two, sizeof(two) - 1) == (ssize_t)sizeof(two) - 1);
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK_STR(line, "{\"ok\":true,\"n\":1}");
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK_STR(line, "{\"ok\":true,\"echo\":\"b\"}");
	/* split in three writes */
	REQUIRE(write(fd, "{\"cmd\":", 7) == 7);
	REQUIRE(write(fd, "\"cou", 4) == 4);
	REQUIRE(write(fd, "nt\"}\n", 5) == 5);
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK_STR(line, "{\"ok\":true,\"n\":2}");
	/* a malformed line in between does not break the connection */
	REQUIRE(write(fd, "oops\n{\"cmd\":\"count\"}\n", 21) == 21);
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK(strstr(line, "\"ok\":false") != NULL);
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK_STR(line, "{\"ok\":true,\"n\":3}");
	close(fd);
}
SERVER_CASE(pipelined_requests, true)

/* A line over the limit: an error reply, then the connection closes. */
static void overlong_line_body(void)
{
	static char big[CTL_LINE_MAX + 1000];
	char line[512];
	int fd;

	fd = raw_connect(S.path);
	REQUIRE(fd >= 0);
	memset(big, ' ', sizeof(big));
	REQUIRE(write(fd, big, sizeof(big)) == (ssize_t)sizeof(big));
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK(strstr(line, "\"ok\":false") != NULL);
	CHECK(strstr(line, "longer than") != NULL);
	CHECK(sees_eof(fd));
	close(fd);
	/* others are not affected */
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));
	CHECK(R.ok);
}
SERVER_CASE(overlong_line, true)

/* CTL_LINE_MAX is the longest request line: one of exactly that many bytes
 * (newline not counted) is served. */
static void line_of_max_length_body(void)
{
	static char req[CTL_LINE_MAX + 2];
	char line[512];
	size_t n;
	int fd;

	n = (size_t)sprintf(req, "{\"cmd\":\"count\"");
	memset(req + n, ' ', CTL_LINE_MAX - 1 - n);
	req[CTL_LINE_MAX - 1] = '}';
	req[CTL_LINE_MAX] = '\n';
	/* one byte less is certainly fine */
	fd = raw_connect(S.path);
	REQUIRE(fd >= 0);
	memmove(req + n, req + n + 1, CTL_LINE_MAX - n);
	CHECK(write(fd, req, CTL_LINE_MAX) == CTL_LINE_MAX);
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK_STR(line, "{\"ok\":true,\"n\":1}");
	close(fd);
	/* the limit itself: 4096 bytes and the newline */
	n = (size_t)sprintf(req, "{\"cmd\":\"count\"");
	memset(req + n, ' ', CTL_LINE_MAX - 1 - n);
	req[CTL_LINE_MAX - 1] = '}';
	req[CTL_LINE_MAX] = '\n';
	fd = raw_connect(S.path);
	REQUIRE(fd >= 0);
	CHECK(write(fd, req, CTL_LINE_MAX + 1) == CTL_LINE_MAX + 1);
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK_STR(line, "{\"ok\":true,\"n\":2}");
	close(fd);
}
SERVER_CASE(line_of_max_length, true)

static void client_limit_body(void)
{
	int fds[CTL_MAX_CLIENTS], extra, i, tries;
	char line[512];

	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		fds[i] = raw_connect(S.path);
		REQUIRE(fds[i] >= 0);
		/* a round trip proves the server took it */
		REQUIRE(write(fds[i], "{\"cmd\":\"count\"}\n", 16) == 16);
		REQUIRE(read_line(fds[i], line, sizeof(line)) > 0);
		CHECK(strstr(line, "\"ok\":true") != NULL);
	}
	extra = raw_connect(S.path);
	REQUIRE(extra >= 0);
	CHECK(read_line(extra, line, sizeof(line)) > 0);
	CHECK_STR(line, "{\"ok\":false,\"error\":\"too many clients\"}");
	CHECK(sees_eof(extra));
	close(extra);
	/* one leaves: a newcomer gets in (once the server saw the close) */
	close(fds[0]);
	for (tries = 0; tries < 200; tries++) {
		CHECK_ERR(0, call("{\"cmd\":\"echo\",\"arg\":\"in\"}"));
		if (R.ok)
			break;
	}
	CHECK(R.ok);
	for (i = 1; i < CTL_MAX_CLIENTS; i++)
		close(fds[i]);
}
SERVER_CASE(client_limit, true)

static void socket_file_mode_body(void)
{
	struct stat st;

	REQUIRE(lstat(S.path, &st) == 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 07777, 0600);
}
SERVER_CASE(socket_file_mode, false)

static int bind_at(const char *path, bool do_listen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	set_sun_path(&sa, path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (do_listen && listen(fd, 4) < 0)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A socket file left by a server that died is replaced. */
static void stale_socket_replaced(void)
{
	int fd;

	if (!srv_prepare())
		goto out;
	fd = bind_at(S.path, true);		/* a server that died ... */
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);			/* ... and left its file */
	CHECK_ERR(-ECONNREFUSED, ctl_call(S.path, "{}", R.text, sizeof(R.text), 100));
	if (!srv_listen() || !srv_run())
		goto out;
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));
	CHECK(R.ok);
out:
	srv_destroy();
}

/* Live update hands the listening socket over: the new server adopts it. */
static void adopt_listening_socket(void)
{
	struct stat st;
	int fd;

	if (!srv_prepare())
		goto out;
	fd = bind_at(S.path, true);
	if (fd < 0) {
		tap_fail(__FILE__, __LINE__, "bind: %s", strerror(errno));
		goto out;
	}
	CHECK_ERR(0, ctl_server_adopt(S.loop, fd, S.path, cmds, &S, &S.ctl));
	CHECK_EQ(ctl_server_fd(S.ctl), fd);
	CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
	if (!srv_run())
		goto out;
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));
	CHECK(R.ok);
	srv_stop();
	ctl_server_destroy(S.ctl, true);	/* the socket lives on */
	S.ctl = NULL;
	CHECK(lstat(S.path, &st) == 0);
	CHECK(fcntl(fd, F_GETFD) == -1);	/* the fd was the server's */
	CHECK_ERR(-EBADF, ctl_server_adopt(S.loop, -1, S.path, cmds, &S, &S.ctl));
out:
	srv_destroy();
}

static unsigned ticks_left;

static bool on_tick_stop(struct loop_watch *w, int revents)
{
	(void)revents;
	loop_timer_ack(w);
	if (--ticks_left == 0)
		loop_stop(S.loop);
	return true;
}

/*
 * The main loop can outlive the control server (live update destroys it
 * with keep_path and goes on): once ctl_server_destroy() returned, the
 * loop must not touch the freed server. Runs in a child; a use after free
 * shows as a crash here, or as an ASan report under `make sanitize`.
 */
static void loop_runs_after_destroy(void)
{
	pid_t pid;
	int status = 0;

	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct loop_watch t;

		/* freed memory reads 0xff: a stale pointer is noticed
		 * without a sanitizer too (ASan ignores this and reports) */
		mallopt(M_PERTURB, 0xff);
		if (!srv_create())
			_exit(2);
		ctl_server_destroy(S.ctl, false);
		S.ctl = NULL;
		ticks_left = 3;
		rmdir(S.dir);			/* the socket file is gone already */
		if (loop_timer_init(&t, 2000000, on_tick_stop, NULL) || loop_watch(S.loop, &t))
			_exit(3);
		_exit(loop_run(S.loop) ? 4 : 0);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		tap_fail(__FILE__, __LINE__, "the loop crashed with signal %d", WTERMSIG(status));
	else
		CHECK_EQ(WEXITSTATUS(status), 0);
}

static void live_socket_refused_body(void)
{
	char err[256] = "";
	struct ctl_server *s2 = NULL;
	struct stat st;

	/* S's server is listening on S.path */
	CHECK_ERR(-EADDRINUSE, ctl_server_create(S.loop, S.path, cmds, &S, &s2, err, sizeof(err)));
	CHECK(strstr(err, S.path) != NULL);
	CHECK(s2 == NULL);
	CHECK(lstat(S.path, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));	/* undisturbed */
	CHECK(R.ok);
	/* a listener that is not ours counts as live too */
	{
		char p[160];
		int fd;

		snprintf(p, sizeof(p), "%s/other.sock", S.dir);
		fd = bind_at(p, true);
		REQUIRE(fd >= 0);
		CHECK_ERR(-EADDRINUSE, ctl_server_create(S.loop, p, cmds, &S, &s2, err, sizeof(err)));
		close(fd);
		unlink(p);
	}
}
SERVER_CASE(live_socket_refused, true)

static void not_a_socket_refused_body(void)
{
	char err[256] = "", p[160], buf[8] = "";
	struct ctl_server *s2 = NULL;
	int fd;

	snprintf(p, sizeof(p), "%s/file", S.dir);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "data", 4) == 4);
	close(fd);
	CHECK_ERR(-EEXIST, ctl_server_create(S.loop, p, cmds, &S, &s2, err, sizeof(err)));
	CHECK(strstr(err, "not a socket") != NULL);
	fd = open(p, O_RDONLY | O_CLOEXEC);	/* untouched */
	REQUIRE(fd >= 0);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	unlink(p);
	snprintf(p, sizeof(p), "%s/dir", S.dir);
	REQUIRE(mkdir(p, 0700) == 0);
	CHECK_ERR(-EEXIST, ctl_server_create(S.loop, p, cmds, &S, &s2, err, sizeof(err)));
	rmdir(p);
	/* too long for sun_path */
	memset(p, 'p', sizeof(p) - 1);
	p[0] = '/';
	p[sizeof(p) - 1] = '\0';
	CHECK_ERR(-ENAMETOOLONG, ctl_server_create(S.loop, p, cmds, &S, &s2, err, sizeof(err)));
	CHECK_ERR(-ENAMETOOLONG, ctl_call(p, "{}", R.text, sizeof(R.text), 100));
	/* a directory that does not exist */
	CHECK_ERR(-ENOENT, ctl_server_create(S.loop, "/nonexistent-dir/x.sock", cmds, &S, &s2,
					     err, sizeof(err)));
}
SERVER_CASE(not_a_socket_refused, false)

static void destroy_unlinks_unless_kept_body(void)
{
	struct stat st;
	char err[256];

	ctl_server_destroy(S.ctl, false);
	S.ctl = NULL;
	CHECK(lstat(S.path, &st) < 0 && errno == ENOENT);
	REQUIRE_OK(ctl_server_create(S.loop, S.path, cmds, &S, &S.ctl, err, sizeof(err)));
	ctl_server_destroy(S.ctl, true);
	S.ctl = NULL;
	CHECK(lstat(S.path, &st) == 0);
	ctl_server_destroy(NULL, false);
}
SERVER_CASE(destroy_unlinks_unless_kept, false)

/* Tearing down with clients connected (run.c: ctl_server_destroy, then
 * loop_destroy) releases their fds and memory. */
static void destroy_with_clients_connected_body(void)
{
	char line[256];
	int fd;

	fd = raw_connect(S.path);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "{\"cmd\":\"count\"}\n", 16) == 16);
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	S.no_settle = true;	/* this client stays */
	srv_destroy();
	CHECK(sees_eof_within(fd, 500));		/* the server side is closed */
	close(fd);
	return;
}
SERVER_CASE(destroy_with_clients_connected, true)

static void deferred_reply_body(void)
{
	char line[256];
	int fd;

	fd = raw_connect(S.path);
	REQUIRE(fd >= 0);
	/* the second request waits behind the deferred one */
	REQUIRE(write(fd, "{\"cmd\":\"defer\"}\n{\"cmd\":\"count\"}\n", 32) == 32);
	{
		struct pollfd p = { .fd = fd, .events = POLLIN };

		CHECK_EQ(poll(&p, 1, 50), 0);	/* nothing yet */
	}
	CHECK_EQ(S.counted, 0);
	REQUIRE(write(S.kick_pipe[1], "k", 1) == 1);
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK_STR(line, "{\"ok\":true,\"deferred\":1}");
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK_STR(line, "{\"ok\":true,\"n\":1}");
	/* the client leaves before its answer: dropped, nothing breaks */
	REQUIRE(write(fd, "{\"cmd\":\"defer\"}\n", 16) == 16);
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));	/* the loop moved on */
	close(fd);
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));
	REQUIRE(write(S.kick_pipe[1], "k", 1) == 1);
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));
	CHECK(R.ok);
	CHECK(S.pending == NULL);
}
SERVER_CASE(deferred_reply, true)

/* A client that shuts down its sending side after the request (socat,
 * "nc -N") still waits for the answer, also a deferred one. */
static void half_closed_client_body(void)
{
	char line[256];
	int fd;

	fd = raw_connect(S.path);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "{\"cmd\":\"defer\"}\n", 16) == 16);
	CHECK(shutdown(fd, SHUT_WR) == 0);
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));	/* the server saw it all */
	CHECK(write(S.kick_pipe[1], "k", 1) == 1);
	CHECK(read_line(fd, line, sizeof(line)) > 0);
	CHECK_STR(line, "{\"ok\":true,\"deferred\":1}");
	close(fd);
	CHECK_ERR(0, call("{\"cmd\":\"count\"}"));
	CHECK(S.pending == NULL);
}
SERVER_CASE(half_closed_client, true)

/* ---- ctl_call against fake servers -------------------------------------- */

static void call_nowhere(void)
{
	char reply[64];

	if (!make_dir())
		REQUIRE(0);
	snprintf(S.path, sizeof(S.path), "%s/none.sock", S.dir);
	CHECK_ERR(-ENOENT, ctl_call(S.path, "{}", reply, sizeof(reply), 100));
	rmdir(S.dir);
}

struct fake {
	int lfd;
	const char *reply;	/* written after one line was read */
	size_t len;
};

static void *fake_server(void *arg)
{
	struct fake *f = arg;
	char c;
	int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return NULL;
	while (read(fd, &c, 1) == 1 && c != '\n')
		;
	if (f->len && write(fd, f->reply, f->len) != (ssize_t)f->len)
		tap_diag("fake server: short write");
	close(fd);
	return NULL;
}

static int fake_call(const char *reply, size_t len, char *out, size_t cap)
{
	struct fake f = { -1, reply, len };
	pthread_t t;
	int ret;

	f.lfd = bind_at(S.path, true);
	if (f.lfd < 0)
		return -1000;
	pthread_create(&t, NULL, fake_server, &f);
	ret = ctl_call(S.path, "{\"cmd\":\"x\"}", out, cap, TIMEOUT_MS);
	pthread_join(t, NULL);
	close(f.lfd);
	unlink(S.path);
	return ret;
}

static void call_errors_from_fake_servers(void)
{
	static char big[600];
	char out[256];

	if (!make_dir())
		REQUIRE(0);
	CHECK_ERR(0, fake_call("{\"ok\":true}\nextra", 17, out, sizeof(out)));
	CHECK_STR(out, "{\"ok\":true}");
	CHECK_ERR(-EPROTO, fake_call("{\"ok\":true", 10, out, sizeof(out)));
	CHECK_ERR(-EPROTO, fake_call("", 0, out, sizeof(out)));
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	CHECK_ERR(-E2BIG, fake_call(big, sizeof(big), out, sizeof(out)));
	/* fits: the line, its newline and the NUL */
	big[254] = '\n';
	CHECK_ERR(0, fake_call(big, 255, out, sizeof(out)));
	CHECK_EQ(strlen(out), 254);
	rmdir(S.dir);
}

/* A server that accepts the connection and never answers. */
static void call_times_out(void)
{
	char reply[64];
	uint64_t t0, dt;
	int lfd;

	if (!make_dir())
		REQUIRE(0);
	lfd = bind_at(S.path, true);
	REQUIRE(lfd >= 0);
	t0 = util_now_ns();
	CHECK_ERR(-ETIMEDOUT, ctl_call(S.path, "{\"cmd\":\"x\"}", reply, sizeof(reply), 150));
	dt = util_now_ns() - t0;
	CHECK(dt >= 140 * 1000000ULL);
	CHECK(dt < 2000 * 1000000ULL);
	CHECK_ERR(-ETIMEDOUT, ctl_call(S.path, "{}", reply, sizeof(reply), 0));
	close(lfd);
	unlink(S.path);
	rmdir(S.dir);
}

/*
 * timeout_ms bounds the whole exchange, connecting included: a server
 * whose loop is stuck with a full accept backlog must not hang the client.
 */
static void call_times_out_on_full_backlog(void)
{
	pid_t pid;
	int status = 0, lfd, filler;

	if (!make_dir())
		REQUIRE(0);
	lfd = bind_at(S.path, false);
	REQUIRE(lfd >= 0);
	REQUIRE(listen(lfd, 0) == 0);
	filler = raw_connect(S.path);		/* takes the only backlog slot */
	REQUIRE(filler >= 0);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		char reply[64];
		int ret;

		alarm(3);			/* the verdict if ctl_call hangs */
		ret = ctl_call(S.path, "{}", reply, sizeof(reply), 200);
		_exit(ret == -ETIMEDOUT ? 0 : 1);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		tap_fail(__FILE__, __LINE__, "ctl_call with a 200 ms timeout still blocked after 3 s (signal %d)",
			 WTERMSIG(status));
	else
		CHECK_EQ(WEXITSTATUS(status), 0);
	close(filler);
	close(lfd);
	unlink(S.path);
	rmdir(S.dir);
}

/* A reply with a NUL byte before its newline must not crash the client. */
static void call_survives_nul_in_reply(void)
{
	char out[64];
	pid_t pid;
	int status = 0;

	if (!make_dir())
		REQUIRE(0);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		int ret = fake_call("{\"ok\":\0true}\n", 13, out, sizeof(out));

		_exit(ret == 0 || ret == -EPROTO ? 0 : 1);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		tap_fail(__FILE__, __LINE__, "ctl_call died with signal %d", WTERMSIG(status));
	else
		CHECK_EQ(WEXITSTATUS(status), 0);
	unlink(S.path);
	rmdir(S.dir);
}

static const struct tap_case cases[] = {
	TAP_CASE(good_command),
	TAP_CASE(error_replies),
	TAP_CASE(malformed_json_offsets),
	TAP_CASE(pipelined_requests),
	TAP_CASE(overlong_line),
	TAP_CASE(line_of_max_length),
	TAP_CASE(client_limit),
	TAP_CASE(socket_file_mode),
	TAP_CASE(stale_socket_replaced),
	TAP_CASE(adopt_listening_socket),
	TAP_CASE(live_socket_refused),
	TAP_CASE(not_a_socket_refused),
	TAP_CASE(destroy_unlinks_unless_kept),
	TAP_CASE(destroy_with_clients_connected),
	TAP_CASE(loop_runs_after_destroy),
	TAP_CASE(deferred_reply),
	TAP_CASE(half_closed_client),
	TAP_CASE(call_nowhere),
	TAP_CASE(call_errors_from_fake_servers),
	TAP_CASE(call_times_out),
	TAP_CASE(call_times_out_on_full_backlog),
	TAP_CASE(call_survives_nul_in_reply),
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
