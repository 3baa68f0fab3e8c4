// SPDX-License-Identifier: MIT
/*
 * handoff.c: named fd table and the SOCK_SEQPACKET message channel of a
 * live update (see handoff.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util.h"
#include "handoff.h"
#include "state.h"

#define HMSG_MAGIC	0x4f48554cU	/* "LUHO" */
#define HMSG_VERSION	1
#define HMSG_HDR	16

void handoff_init(struct handoff *h)
{
	memset(h, 0, sizeof(*h));
}

static bool good_name(const char *name)
{
	size_t n = strlen(name), i;

	if (!n || n >= HANDOFF_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] > '~')
			return false;
	return true;
}

static int find(const struct handoff *h, const char *name)
{
	unsigned i;

	for (i = 0; i < h->n; i++)
		if (!strcmp(h->e[i].name, name))
			return (int)i;
	return -ENOENT;
}

int handoff_add(struct handoff *h, const char *name, int fd, enum handoff_kind kind)
{
	if (!good_name(name) || fd < 0 || kind < HK_MEMFD || kind > HK_ANY)
		return -EINVAL;
	if (find(h, name) >= 0)
		return -EEXIST;
	if (h->n == HANDOFF_MAX_FDS)
		return -ENOSPC;
	snprintf(h->e[h->n].name, HANDOFF_NAME_MAX, "%s", name);
	h->e[h->n].kind = (uint8_t)kind;
	h->e[h->n].fd = fd;
	h->e[h->n].taken = false;
	h->n++;
	return 0;
}

/* "anon_inode:[eventfd]", "/memfd:luvmm-ram (deleted)", ... */
static bool link_has(int fd, const char *needle)
{
	char path[64], target[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	return strstr(target, needle) != NULL;
}

int handoff_check_kind(int fd, enum handoff_kind kind)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -EBADF;
	switch (kind) {
	case HK_MEMFD:
		return S_ISREG(st.st_mode) && st.st_nlink == 0 &&
		       link_has(fd, "memfd:") ? 0 : -EBADF;
	case HK_FILE:
		return S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) ||
		       S_ISCHR(st.st_mode) ? 0 : -EBADF;
	case HK_SOCKET:
		return S_ISSOCK(st.st_mode) ? 0 : -EBADF;
	case HK_EVENTFD:
		return link_has(fd, "[eventfd]") ? 0 : -EBADF;
	case HK_ANY:
		return 0;
	}
	return -EBADF;
}

int handoff_get(const struct handoff *h, const char *name, enum handoff_kind kind)
{
	int i = find(h, name);

	if (i < 0)
		return i;
	if (h->e[i].fd < 0 || h->e[i].taken || handoff_check_kind(h->e[i].fd, kind))
		return -EBADF;
	return h->e[i].fd;
}

int handoff_take(struct handoff *h, const char *name)
{
	int i = find(h, name), fd;

	if (i < 0)
		return i;
	fd = h->e[i].fd;
	if (fd < 0 || h->e[i].taken)
		return -ENOENT;
	if (h->keep) {
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		h->e[i].taken = true;
		return fd;
	}
	h->e[i].fd = -1;
	return fd;
}

int handoff_check_all(const struct handoff *h, char *msg, size_t len)
{
	unsigned i;

	for (i = 0; i < h->n; i++) {
		if (!handoff_check_kind(h->e[i].fd, (enum handoff_kind)h->e[i].kind))
			continue;
		snprintf(msg, len, "%s: fd is not a %s", h->e[i].name,
			 handoff_kind_name((enum handoff_kind)h->e[i].kind));
		return -EBADF;
	}
	return 0;
}

void handoff_close_all(struct handoff *h)
{
	unsigned i;

	for (i = 0; i < h->n; i++)
		util_close(&h->e[i].fd);
}

const char *handoff_kind_name(enum handoff_kind kind)
{
	switch (kind) {
	case HK_MEMFD: return "memfd";
	case HK_FILE: return "file";
	case HK_SOCKET: return "socket";
	case HK_EVENTFD: return "eventfd";
	case HK_ANY: return "any";
	}
	return "?";
}

const char *handoff_msg_name(enum handoff_msg type)
{
	switch (type) {
	case HMSG_HELLO: return "HELLO";
	case HMSG_READY: return "READY";
	case HMSG_GO: return "GO";
	case HMSG_RUNNING: return "RUNNING";
	case HMSG_ERROR: return "ERROR";
	case HMSG_DONE: return "DONE";
	}
	return "?";
}

int handoff_send(int sock, enum handoff_msg type, const void *payload, size_t len,
		 const int *fds, unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * HANDOFF_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	uint8_t hdr[HMSG_HDR];
	struct iovec iov[2] = {
		{ hdr, sizeof(hdr) },
		{ (void *)payload, len },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (len > HANDOFF_MSG_MAX || nfds > HANDOFF_MAX_FDS)
		return -EMSGSIZE;
	put_le32(hdr, HMSG_MAGIC);
	put_le16(hdr + 4, HMSG_VERSION);
	put_le16(hdr + 6, (uint16_t)type);
	put_le32(hdr + 8, (uint32_t)len);
	put_le32(hdr + 12, 0);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(hdr) + len ? 0 : -EMSGSIZE;
}

static void close_fds(int *fds, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		close(fds[i]);
}

/* Pull the SCM_RIGHTS fds out of msg; -EBADMSG if more than room came. */
static int take_fds(struct msghdr *msg, int *fds, unsigned room, unsigned *got)
{
	struct cmsghdr *c;
	int ret = 0;

	*got = 0;
	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		unsigned n, i;
		int *p;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		p = (int *)CMSG_DATA(c);
		for (i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, p + i, sizeof(fd));
			if (*got < room) {
				fds[(*got)++] = fd;
			} else {
				close(fd);
				ret = -EBADMSG;
			}
		}
	}
	if (msg->msg_flags & MSG_CTRUNC)
		ret = -EBADMSG;
	return ret;
}

int handoff_recv(int sock, enum handoff_msg *type, void *buf, size_t cap,
		 int *fds, unsigned *nfds, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * HANDOFF_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	uint8_t hdr[HMSG_HDR];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { buf, cap } };
	struct msghdr msg = {
		.msg_iov = iov, .msg_iovlen = 2,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	unsigned room = nfds ? *nfds : 0, got = 0;
	struct pollfd p = { .fd = sock, .events = POLLIN };
	uint32_t len;
	ssize_t n;
	int ret;

	if (nfds)
		*nfds = 0;
	do {
		ret = poll(&p, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	ret = take_fds(&msg, fds, room, &got);
	if (n == 0 && !got)
		return -EPIPE;
	len = get_le32(hdr + 8);
	if (!ret && ((size_t)n < sizeof(hdr) || get_le32(hdr) != HMSG_MAGIC ||
		     get_le16(hdr + 4) != HMSG_VERSION || get_le32(hdr + 12) ||
		     (size_t)n - sizeof(hdr) != len))
		ret = (msg.msg_flags & MSG_TRUNC) ? -EMSGSIZE : -EBADMSG;
	if (ret) {
		close_fds(fds, got);
		return ret;
	}
	*type = (enum handoff_msg)get_le16(hdr + 6);
	if (nfds)
		*nfds = got;
	return (int)len;
}

void handoff_save(const struct handoff *h, struct lu_writer *w)
{
	unsigned i;

	lu_section_begin(w, LU_SEC_HANDOFF, 1, 0, 0);
	lu_put_u32(w, h->n);
	for (i = 0; i < h->n; i++) {
		lu_put_str(w, h->e[i].name);
		lu_put_u8(w, h->e[i].kind);
	}
	lu_section_end(w);
}

int handoff_load(struct handoff *h, struct lu_reader *r, const struct lu_section *sec,
		 const int *fds, unsigned nfds)
{
	struct handoff t;
	struct lu_dec d;
	uint32_t n, i;
	int ret;

	handoff_init(&t);
	lu_dec_init(&d, r, sec);
	lu_get_count(&d, "count", HANDOFF_MAX_FDS, 3, &n);
	lu_check(&d, n == nfds, "count", "%u names for %u fds", n, nfds);
	for (i = 0; i < n && !d.err; i++) {
		struct handoff_entry *e = &t.e[i];

		lu_get_str(&d, "name", e->name, sizeof(e->name));
		lu_get_u8(&d, "kind", &e->kind);
		lu_check(&d, e->kind >= HK_MEMFD && e->kind <= HK_ANY, "kind",
			 "entry %u (%s): kind %u unknown", i, e->name, e->kind);
		lu_check(&d, good_name(e->name) && find(&t, e->name) < 0, "name",
			 "entry %u: bad or duplicate name \"%s\"", i, e->name);
		if (!d.err) {
			e->fd = fds[i];
			t.n++;
		}
		lu_check(&d, !handoff_check_kind(fds[i], e->kind), "kind",
			 "entry %u (%s): fd is not a %s", i, e->name,
			 handoff_kind_name(e->kind));
	}
	ret = lu_dec_finish(&d, 1);
	if (ret)
		return ret;
	*h = t;
	return 0;
}
