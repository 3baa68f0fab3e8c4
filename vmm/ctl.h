/* SPDX-License-Identifier: MIT */
/*
 * ctl.h: the control socket. A unix stream socket (mode 0600) that takes
 * one JSON object per line, {"cmd": "<name>", ...}, and answers each with
 * one JSON object per line: {"ok": true, ...} or {"ok": false,
 * "error": "<one line>"}. The server runs on the main loop; commands are
 * a table of handlers supplied by the caller. The client side is used by
 * `luvmm ctl` and the tests.
 */
#ifndef LUVMM_CTL_H
#define LUVMM_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler.h"
#include "json.h"

struct loop;
struct ctl_server;

#define CTL_LINE_MAX	4096		/* longest request line */
#define CTL_REPLY_MAX	(64 * 1024)	/* longest reply */
#define CTL_MAX_CLIENTS	16
#define CTL_MAX_TOKENS	128

struct ctl_client;

struct ctl_request {
	const char *line;		/* the request text (not NUL-terminated) */
	const struct json_tok *tok;	/* tok[0] is the request object */
	int ntok;
	char *err;			/* handlers put a reason here on failure */
	size_t errlen;
	struct ctl_client *client;	/* for ctl_defer() */
};

/* A handler returns this to answer later through ctl_defer()'s handle. */
#define CTL_DEFERRED	1

/* A reply owed to a client; survives the client going away. */
struct ctl_pending;

/*
 * A command handler adds its members to the reply object (already holding
 * "ok": true) and returns 0, or returns a negative errno with a reason in
 * req->err, and the reply becomes {"ok": false, "error": reason}.
 */
struct ctl_command {
	const char *name;
	int (*fn)(void *ctx, const struct ctl_request *req, struct json_writer *w);
};

/*
 * Listen on path (an existing stale socket is replaced; a live one, or a
 * non-socket, is -EADDRINUSE / -EEXIST). The command table and ctx must
 * outlive the server.
 */
int __must_check ctl_server_create(struct loop *loop, const char *path,
				   const struct ctl_command *cmds, void *ctx,
				   struct ctl_server **out, char *err, size_t errlen);
/* Serve on an already listening socket (live update): the path is only
 * remembered, never bound again. */
int __must_check ctl_server_adopt(struct loop *loop, int fd, const char *path,
				  const struct ctl_command *cmds, void *ctx,
				  struct ctl_server **out);
/* The listening socket (to hand over). */
int ctl_server_fd(const struct ctl_server *s);
/* Close clients and the listener; unlink the path unless keep_path (the
 * socket lives on in the new VMM). */
void ctl_server_destroy(struct ctl_server *s, bool keep_path);

/*
 * Inside a handler: answer later. The client's further lines wait. Returns
 * NULL on allocation failure (answer now instead).
 */
struct ctl_pending *ctl_defer(const struct ctl_request *req);
/*
 * Send the owed reply: `json` is one JSON object without newline. Frees p.
 * If the client went away, the reply is dropped.
 */
void ctl_pending_reply(struct ctl_pending *p, const char *json);
/* The client's socket, -1 if it went away (exec mode hands it over). */
int ctl_pending_fd(const struct ctl_pending *p);
/* Forget the reply without sending (the socket was handed over). */
void ctl_pending_drop(struct ctl_pending *p);

/*
 * Client: connect to path, send `request` (one JSON object, no newline),
 * read one reply line into reply (NUL-terminated). timeout_ms bounds the
 * whole exchange. Returns 0, -ECONNREFUSED/-ENOENT (no server),
 * -ETIMEDOUT, -EPROTO (no complete reply line), -E2BIG (reply too long).
 */
int __must_check ctl_call(const char *path, const char *request, char *reply,
			  size_t cap, int timeout_ms);

#endif
