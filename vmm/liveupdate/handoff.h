/* SPDX-License-Identifier: MIT */
/*
 * handoff.h: the named fd table a live update hands to the new VMM, and
 * the message channel that carries it.
 *
 * Every host resource the VM uses (guest-RAM memfd, serial output, report
 * log, control-socket listener, state-record memfd, ...) is entered under
 * a name with the kind of file it must be. The table travels as one
 * SCM_RIGHTS message over a SOCK_SEQPACKET unix socket (transfer mode) or
 * as inherited fds (exec mode); the receiver checks every fd's kind before
 * anything uses it. The bytes never hold fd numbers: the state record
 * names fds by table index (docs/state-format.md).
 *
 * Messages: u32 magic "LUHO", u16 version, u16 type, u32 payload length,
 * u32 reserved, then the payload; one message per packet.
 */
#ifndef LUVMM_LIVEUPDATE_HANDOFF_H
#define LUVMM_LIVEUPDATE_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../compiler.h"

/* fds in a table: the SCM_RIGHTS limit of one message (the kernel's
 * SCM_MAX_FD). A transfer-mode update of a 64-vCPU VM needs 64 GO
 * channels plus RAM, state, control socket, serial, report log and the
 * device's fds. */
#define HANDOFF_MAX_FDS		253
_Static_assert(HANDOFF_MAX_FDS <= 253, "SCM_RIGHTS carries at most 253 fds");
#define HANDOFF_NAME_MAX	32
#define HANDOFF_MSG_MAX		(256 * 1024)

enum handoff_kind {
	HK_MEMFD = 1,		/* anonymous shared memory (memfd) */
	HK_FILE = 2,		/* regular file, pipe, tty, pty or /dev/null */
	HK_SOCKET = 3,		/* any socket */
	HK_EVENTFD = 4,
	HK_ANY = 5,		/* no check beyond "open" */
};

struct handoff_entry {
	char name[HANDOFF_NAME_MAX];
	uint8_t kind;		/* enum handoff_kind */
	int fd;
	bool taken;		/* keep: handed out as a duplicate */
};

struct handoff {
	unsigned n;
	/*
	 * Exec mode before the commit: handoff_take() hands out a duplicate
	 * (close-on-exec) and the table keeps the original, so that whatever
	 * a failed restore closes, a rollback image still finds every fd it
	 * was given. handoff_close_all() after the commit drops the originals.
	 */
	bool keep;
	struct handoff_entry e[HANDOFF_MAX_FDS];
};

enum handoff_msg {
	HMSG_HELLO = 1,		/* old -> new: prepare record + the fds */
	HMSG_READY = 2,		/* new -> old: pre-built, waiting for GO */
	HMSG_GO = 3,		/* old -> new: the state record is written */
	HMSG_RUNNING = 4,	/* new -> old: vCPUs run in the new VMM */
	HMSG_ERROR = 5,		/* either way: a one-line reason */
	HMSG_DONE = 6,		/* old -> new: old VM torn down (timings) */
};

void handoff_init(struct handoff *h);
/* Add fd under name (< 32 bytes, unique). The table does not own fd until
 * received. -EINVAL bad name, -EEXIST duplicate, -ENOSPC full. */
int __must_check handoff_add(struct handoff *h, const char *name, int fd,
			     enum handoff_kind kind);
/* The fd entered under name, checked against kind: -ENOENT missing,
 * -EBADF wrong kind of file or already taken. Only to look at: the fd to
 * keep is what handoff_take() returns. */
int handoff_get(const struct handoff *h, const char *name, enum handoff_kind kind);
/* Take an fd out of the table (the caller owns it now; with keep, a
 * duplicate of it); -ENOENT if missing or already taken, -errno if the
 * duplicate cannot be made. */
int handoff_take(struct handoff *h, const char *name);
/* Is fd the kind it claims to be? 0 or -EBADF. */
int handoff_check_kind(int fd, enum handoff_kind kind);
/* Check every entry's fd against its kind (before handing the table
 * over): 0, or -EBADF with "<name>: fd is not a <kind>" in msg. */
int handoff_check_all(const struct handoff *h, char *msg, size_t len);
/* Close every fd still in the table (received tables own their fds). */
void handoff_close_all(struct handoff *h);
const char *handoff_kind_name(enum handoff_kind kind);

/*
 * Send one message with optional fds. -EMSGSIZE if payload or fds exceed
 * the limits; -errno from sendmsg.
 */
int __must_check handoff_send(int sock, enum handoff_msg type, const void *payload,
			      size_t len, const int *fds, unsigned nfds);
/*
 * Receive one message, waiting at most timeout_ms (-1: forever). Received
 * fds are close-on-exec. Returns the payload length with *type set, or
 * -ETIMEDOUT, -EPIPE (peer closed), -EBADMSG (bad magic, version, length
 * or truncated control data: any fds that came are closed), -EMSGSIZE.
 * nfds: in, the room in fds; out, how many arrived.
 */
int __must_check handoff_recv(int sock, enum handoff_msg *type, void *buf,
			      size_t cap, int *fds, unsigned *nfds, int timeout_ms);
const char *handoff_msg_name(enum handoff_msg type);

/*
 * The table's names and kinds as a state-record section (LU_SEC_HANDOFF),
 * entry i matching the i-th fd of the HELLO message.
 */
struct lu_writer;
struct lu_reader;
struct lu_section;
void handoff_save(const struct handoff *h, struct lu_writer *w);
/* Decode a LU_SEC_HANDOFF section and bind it to fds[0..nfds): checks
 * the count and every fd's kind. On success h owns the fds. */
int __must_check handoff_load(struct handoff *h, struct lu_reader *r,
			      const struct lu_section *sec, const int *fds,
			      unsigned nfds);

#endif
