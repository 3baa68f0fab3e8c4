// SPDX-License-Identifier: MIT
/*
 * ctl.c: control-socket server (on the main loop) and client (see ctl.h).
 *
 * Every client gets a line buffer and an output buffer. A request is
 * answered in full before the next line of that client is read; a reply
 * that does not fit the socket waits for POLLOUT. Malformed input gets an
 * error reply and the connection stays usable; an over-long line gets an
 * error reply and the connection is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"
#include "loop.h"
#include "util.h"

struct ctl_pending {
	struct ctl_client *c;	/* NULL once the client is gone */
};

struct ctl_client {
	struct loop_watch w;
	struct ctl_server *srv;
	struct ctl_pending *pending;	/* a deferred reply is owed */
	size_t in_len;
	size_t out_len, out_off;
	bool closing;		/* close once the output is flushed */
	bool eof;		/* the peer will send nothing more */
	bool unwatched;		/* off the loop: an owed reply finishes it */
	char in[CTL_LINE_MAX + 2];	/* a full line plus "\r\n" */
	char out[CTL_REPLY_MAX];
};

struct ctl_server {
	struct loop *loop;
	struct loop_watch listen;
	char path[108];
	const struct ctl_command *cmds;
	void *ctx;
	struct ctl_client *clients[CTL_MAX_CLIENTS];
	uint64_t requests, errors;
};

static void client_free(struct ctl_client *c)
{
	unsigned i;

	for (i = 0; c->srv && i < CTL_MAX_CLIENTS; i++)
		if (c->srv->clients[i] == c)
			c->srv->clients[i] = NULL;
	if (c->pending)
		c->pending->c = NULL;
	close(c->w.fd);
	free(c);
}

static void release_client(struct loop_watch *w)
{
	client_free(container_of(w, struct ctl_client, w));
}

static void reply_error(struct json_writer *w, const char *msg)
{
	jw_obj_begin(w);
	jw_kbool(w, "ok", false);
	jw_kstr(w, "error", msg);
	jw_obj_end(w);
}

/* Build the reply to one request line into c->out. */
static void dispatch(struct ctl_client *c, const char *line, size_t len)
{
	struct ctl_server *s = c->srv;
	struct json_tok tok[CTL_MAX_TOKENS];
	char err[256] = "", name[32];
	struct json_writer w;
	struct ctl_request req = { line, tok, 0, err, sizeof(err), c };
	const struct ctl_command *cmd;
	size_t off = 0;
	int n, ci, ret;

	s->requests++;
	jw_init(&w, c->out, sizeof(c->out) - 1);
	n = json_parse(line, len, tok, CTL_MAX_TOKENS, &off);
	if (n < 0) {
		snprintf(err, sizeof(err), n == -E2BIG ?
			 "request too complex (nesting or size) at byte %zu" :
			 "malformed JSON at byte %zu", off);
		goto fail;
	}
	req.ntok = n;
	if (tok[0].type != JSON_OBJ) {
		snprintf(err, sizeof(err), "request must be a JSON object");
		goto fail;
	}
	ci = json_obj_find(line, tok, 0, "cmd");
	if (ci < 0 || json_get_str(line, &tok[ci], name, sizeof(name)) < 0) {
		snprintf(err, sizeof(err), "request needs a string member \"cmd\"");
		goto fail;
	}
	for (cmd = s->cmds; cmd->name; cmd++)
		if (!strcmp(cmd->name, name))
			break;
	if (!cmd->name) {
		snprintf(err, sizeof(err), "unknown command \"%s\"", name);
		goto fail;
	}
	jw_obj_begin(&w);
	jw_kbool(&w, "ok", true);
	ret = cmd->fn(s->ctx, &req, &w);
	if (ret == CTL_DEFERRED) {
		c->out_len = 0;
		return;
	}
	if (ret) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s: %s", name, strerror(-ret));
		jw_init(&w, c->out, sizeof(c->out) - 1);
		goto fail;
	}
	jw_obj_end(&w);
	if (jw_finish(&w) < 0) {
		jw_init(&w, c->out, sizeof(c->out) - 1);
		snprintf(err, sizeof(err), "reply too long");
		goto fail;
	}
	goto out;
fail:
	s->errors++;
	reply_error(&w, err);
	if (jw_finish(&w) < 0)
		abort();	/* an error reply always fits */
out:
	c->out_len = w.len;
	c->out[c->out_len++] = '\n';
	c->out_off = 0;
}

/* Write what we can; true when everything is out. */
static bool flush_out(struct ctl_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->w.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return false;
			c->closing = true;	/* peer gone: drop the rest */
			c->out_off = c->out_len;
			return true;
		}
		c->out_off += (size_t)n;
	}
	c->out_len = c->out_off = 0;
	return true;
}

/* Answer every complete line in the input buffer, stopping if output
 * backs up. */
static void process_lines(struct ctl_client *c)
{
	char *nl;

	while (!c->out_len && !c->closing && !c->pending &&
	       (nl = memchr(c->in, '\n', c->in_len))) {
		size_t len = (size_t)(nl - c->in);

		if (len && c->in[len - 1] == '\r')
			len--;
		if (len)
			dispatch(c, c->in, len);
		memmove(c->in, nl + 1, c->in_len - (size_t)(nl + 1 - c->in));
		c->in_len -= (size_t)(nl + 1 - c->in);
		flush_out(c);
	}
	if (!c->out_len && !c->pending && c->in_len == sizeof(c->in)) {
		/* no newline in CTL_LINE_MAX + 2 bytes */
		struct json_writer w;

		jw_init(&w, c->out, sizeof(c->out) - 1);
		reply_error(&w, "request line longer than 4096 bytes");
		if (jw_finish(&w) >= 0) {
			c->out_len = w.len;
			c->out[c->out_len++] = '\n';
			flush_out(c);
		}
		c->closing = true;
	}
}

static bool on_client(struct loop_watch *w, int revents)
{
	struct ctl_client *c = container_of(w, struct ctl_client, w);
	ssize_t n;

	if (revents < 0)
		goto close;
	if (c->out_len && !flush_out(c))
		return true;	/* still waiting for POLLOUT */
	if (!c->closing && !c->eof && (revents & (POLLIN | POLLHUP | POLLERR))) {
		n = recv(c->w.fd, c->in + c->in_len, sizeof(c->in) - c->in_len,
			 MSG_DONTWAIT);
		if (n == 0)
			c->eof = true;	/* half-closed: still answer what came */
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			c->closing = true;
		else if (n > 0)
			c->in_len += (size_t)n;
	}
	process_lines(c);
	if (c->out_len) {
		c->w.events = POLLOUT;
		return true;
	}
	if (c->pending && !c->closing) {
		if (c->eof) {
			/* nothing to read any more: the owed reply ends it */
			c->unwatched = true;
			return false;
		}
		c->w.events = POLLIN;
		return true;
	}
	if (c->closing || c->eof)
		goto close;
	c->w.events = POLLIN;
	return true;
close:
	client_free(c);
	return false;
}

static bool on_accept(struct loop_watch *w, int revents)
{
	struct ctl_server *s = container_of(w, struct ctl_server, listen);
	struct ctl_client *c;
	unsigned i;
	int fd;

	if (revents < 0)
		return true;
	fd = accept4(s->listen.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return true;
	for (i = 0; i < CTL_MAX_CLIENTS && s->clients[i]; i++)
		;
	c = i < CTL_MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		static const char busy[] = "{\"ok\":false,\"error\":\"too many clients\"}\n";

		if (send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* it is going away anyway */
		}
		close(fd);
		return true;
	}
	c->srv = s;
	c->w = (struct loop_watch){ .fd = fd, .events = POLLIN, .fn = on_client,
				    .arg = c, .release = release_client };
	s->clients[i] = c;
	if (loop_watch(s->loop, &c->w)) {
		s->clients[i] = NULL;
		close(fd);
		free(c);
	}
	return true;
}

/* Is something answering on path? */
static bool socket_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return true;	/* cannot tell: do not remove it */
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
	       errno != ECONNREFUSED;
	close(fd);
	return live;
}

static int listen_on(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			return -EEXIST;
		}
		if (socket_live(&sa)) {
			snprintf(err, errlen, "%s: another luvmm is listening there", path);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);	/* the socket file is created 0600 */
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (ret < 0 || listen(fd, 16) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}

static void release_server(struct loop_watch *w)
{
	free(container_of(w, struct ctl_server, listen));
}

static int serve(struct loop *loop, int fd, const char *path,
		 const struct ctl_command *cmds, void *ctx, struct ctl_server **out)
{
	struct ctl_server *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->cmds = cmds;
	s->ctx = ctx;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->listen = (struct loop_watch){ .fd = fd, .events = POLLIN, .fn = on_accept,
					 .release = release_server };
	ret = loop_watch(loop, &s->listen);
	if (ret) {
		free(s);
		return ret;
	}
	*out = s;
	return 0;
}

int ctl_server_adopt(struct loop *loop, int fd, const char *path,
		     const struct ctl_command *cmds, void *ctx, struct ctl_server **out)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return serve(loop, fd, path, cmds, ctx, out);
}

int ctl_server_fd(const struct ctl_server *s)
{
	return s->listen.fd;
}

int ctl_server_create(struct loop *loop, const char *path,
		      const struct ctl_command *cmds, void *ctx,
		      struct ctl_server **out, char *err, size_t errlen)
{
	int fd, ret;

	fd = listen_on(path, err, errlen);
	if (fd < 0)
		return fd;
	ret = serve(loop, fd, path, cmds, ctx, out);
	if (ret) {
		snprintf(err, errlen, "%s: cannot watch: %s", path, strerror(-ret));
		close(fd);
		unlink(path);
	}
	return ret;
}

void ctl_server_destroy(struct ctl_server *s, bool keep_path)
{
	unsigned i;

	if (!s)
		return;
	for (i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = s->clients[i];

		if (c && loop_unwatch(s->loop, &c->w))
			client_free(c);
		else if (c)
			c->srv = NULL;	/* freed by release_client() later */
		s->clients[i] = NULL;
	}
	close(s->listen.fd);
	if (!keep_path)
		unlink(s->path);
	/* freed now, or by release_server() when the loop lets go of it */
	if (loop_unwatch(s->loop, &s->listen))
		free(s);
}

/*
 * Replies are small: finish one now, waiting briefly if the socket is full,
 * rather than changing the events of a watch that may be armed.
 */
static void flush_sync(struct ctl_client *c)
{
	while (!flush_out(c)) {
		struct pollfd pfd = { .fd = c->w.fd, .events = POLLOUT };

		if (poll(&pfd, 1, 1000) <= 0) {
			c->closing = true;
			c->out_len = c->out_off = 0;
			break;
		}
	}
}

struct ctl_pending *ctl_defer(const struct ctl_request *req)
{
	struct ctl_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->c = req->client;
	req->client->pending = p;
	return p;
}

int ctl_pending_fd(const struct ctl_pending *p)
{
	return p->c ? p->c->w.fd : -1;
}

void ctl_pending_drop(struct ctl_pending *p)
{
	if (p->c)
		p->c->pending = NULL;
	free(p);
}

void ctl_pending_reply(struct ctl_pending *p, const char *json)
{
	struct ctl_client *c = p->c;
	size_t n = strlen(json);

	free(p);
	if (!c)
		return;
	c->pending = NULL;
	if (n + 1 > sizeof(c->out))
		n = sizeof(c->out) - 1;
	memcpy(c->out, json, n);
	c->out[n] = '\n';
	c->out_len = n + 1;
	c->out_off = 0;
	flush_sync(c);
	/* lines that waited behind the deferred request */
	process_lines(c);
	flush_sync(c);
	if (c->unwatched && !c->pending)
		client_free(c);
}

/* ---- client ---------------------------------------------------------- */

int ctl_call(const char *path, const char *request, char *reply, size_t cap,
	     int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t deadline = util_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	size_t len = 0;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	{
		/* a unix connect blocks while the server's backlog is full;
		 * the send timeout bounds it (and the request write) */
		struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		goto out;
	}
	ret = util_write_all(fd, request, strlen(request));
	if (!ret)
		ret = util_write_all(fd, "\n", 1);
	if (ret == -EAGAIN)
		ret = -ETIMEDOUT;
	if (ret)
		goto out;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = util_now_ns();
		ssize_t n;

		if (now >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		ret = poll(&p, 1, (int)((deadline - now) / 1000000ULL) + 1);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0) {
			ret = ret < 0 ? -errno : -ETIMEDOUT;
			break;
		}
		if (len + 1 >= cap) {
			ret = -E2BIG;
			break;
		}
		n = read(fd, reply + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = -EPROTO;
			break;
		}
		len += (size_t)n;
		reply[len] = '\0';
		if (memchr(reply, '\n', len)) {
			*(char *)memchr(reply, '\n', len) = '\0';
			ret = 0;
			break;
		}
	}
out:
	close(fd);
	return ret;
}
