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

#include <stddef.h>

#include "compiler.h"
#include "json.h"

struct loop;
struct ctl_server;

#define CTL_LINE_MAX	4096		/* longest request line */
#define CTL_REPLY_MAX	(64 * 1024)	/* longest reply */
#define CTL_MAX_CLIENTS	16
#define CTL_MAX_TOKENS	128

struct ctl_request {
	const char *line;		/* the request text (not NUL-terminated) */
	const struct json_tok *tok;	/* tok[0] is the request object */
	int ntok;
	char *err;			/* handlers put a reason here on failure */
	size_t errlen;
};

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
/* Close clients and the listener; unlink the path if we created it. */
void ctl_server_destroy(struct ctl_server *s);

/*
 * Client: connect to path, send `request` (one JSON object, no newline),
 * read one reply line into reply (NUL-terminated). timeout_ms bounds the
 * whole exchange. Returns 0, -ECONNREFUSED/-ENOENT (no server),
 * -ETIMEDOUT, -EPROTO (no complete reply line), -E2BIG (reply too long).
 */
int __must_check ctl_call(const char *path, const char *request, char *reply,
			  size_t cap, int timeout_ms);

#endif
