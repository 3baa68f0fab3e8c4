// SPDX-License-Identifier: MIT
/*
 * proto.c: the setup protocol of the device simulator (softhw.h). Owns the
 * decoding and validation of requests, which are hostile input (any
 * length, any header, any number and kind of fds), their dispatch to the
 * slot table and the engine, and the encoding of replies.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../vmm/log.h"
#include "proto.h"

/* A received message. */
struct msg {
	uint8_t buf[SOFTHW_MSG_MAX];
	size_t len;
	bool truncated;			/* bytes or fds did not fit */
	int fds[SOFTHW_FDS_MAX];
	unsigned int nfds;		/* fds still open in fds[] */
	uint16_t type;
	const uint8_t *payload;
};

/* What each request carries. */
struct req_spec {
	const char *name;
	uint32_t payload;	/* bytes */
	unsigned int nfds;
};

static const struct req_spec req_specs[] = {
	[SOFTHW_ADD_SLOT] = { "ADD_SLOT", 8, 1 },
	[SOFTHW_DEL_SLOT] = { "DEL_SLOT", 4, 0 },
	[SOFTHW_ATTACH] = { "ATTACH", 0, 4 },
	[SOFTHW_STATS] = { "STATS", 0, 0 },
};

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static void msg_close_fds(struct msg *m)
{
	unsigned int i;

	for (i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

static void msg_take_fds(struct msg *m, struct msghdr *mh)
{
	struct cmsghdr *c;
	size_t i, n;
	int fd;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (m->nfds < SOFTHW_FDS_MAX)
				m->fds[m->nfds++] = fd;
			else
				close(fd);	/* cannot happen: buffer size */
		}
	}
}

/* An empty read is either an empty message or the end: ask the socket. */
static bool peer_gone(int conn)
{
	struct pollfd p = { .fd = conn, .events = POLLRDHUP };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP));
}

static int msg_recv(int conn, struct msg *m)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * SOFTHW_FDS_MAX)];
	} cbuf;
	struct iovec iov = { .iov_base = m->buf, .iov_len = sizeof(m->buf) };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = sizeof(cbuf.buf),
	};
	ssize_t n;

	do {
		n = recvmsg(conn, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	m->nfds = 0;
	msg_take_fds(m, &mh);
	m->len = (size_t)n;
	m->truncated = mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC);
	if (!n && !m->nfds && peer_gone(conn))
		return -EPIPE;
	return 0;
}

/* Header and shape checks, in the order softhw.h lists the errors. */
static int msg_check(struct msg *m)
{
	const struct req_spec *spec;
	const uint8_t *h = m->buf;

	if (m->truncated || m->len < SOFTHW_HDR_SIZE ||
	    get_le32(h) != SOFTHW_MAGIC)
		return -EBADMSG;
	if (get_le16(h + 4) != SOFTHW_VERSION)
		return -ENOTSUP;
	if (get_le32(h + 8) != m->len - SOFTHW_HDR_SIZE || get_le32(h + 12))
		return -EBADMSG;
	m->type = get_le16(h + 6);
	m->payload = h + SOFTHW_HDR_SIZE;
	if (m->type >= ARRAY_SIZE(req_specs) || !req_specs[m->type].name)
		return -ENOTSUP;
	spec = &req_specs[m->type];
	if (m->len - SOFTHW_HDR_SIZE != spec->payload)
		return -EBADMSG;
	if (m->nfds != spec->nfds)
		return -EINVAL;
	return 0;
}

static int reply_send(int conn, int status, const uint8_t *extra,
		      size_t extra_len)
{
	uint8_t buf[SOFTHW_MSG_MAX];
	size_t plen = 4 + extra_len;
	ssize_t n;

	put_le32(buf, SOFTHW_MAGIC);
	put_le16(buf + 4, SOFTHW_VERSION);
	put_le16(buf + 6, SOFTHW_REPLY);
	put_le32(buf + 8, (uint32_t)plen);
	put_le32(buf + 12, 0);
	put_le32(buf + SOFTHW_HDR_SIZE, (uint32_t)status);
	if (extra_len)
		memcpy(buf + SOFTHW_HDR_SIZE + 4, extra, extra_len);
	/* never block on a peer that does not read its replies */
	do {
		n = send(conn, buf, SOFTHW_HDR_SIZE + plen,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

static int do_add_slot(struct proto *p, struct msg *m)
{
	/* mapped or refused: either way this fd is not kept */
	return slots_add(p->slots, get_le32(m->payload),
			 get_le32(m->payload + 4), m->fds[0]);
}

static int do_attach(struct proto *p, struct msg *m, bool *attached)
{
	int ret;

	ret = engine_attach(p->engine, m->fds[0], m->fds[1], m->fds[2],
			    m->fds[3]);
	if (ret)
		return ret;
	m->fds[2] = m->fds[3] = -1;	/* the engine's now */
	*attached = true;
	return 0;
}

static size_t do_stats(struct proto *p, uint8_t *out)
{
	struct softhw_stats st;
	uint64_t w[SOFTHW_STATS_WORDS];
	size_t i;

	engine_get_stats(p->engine, &st);
	st.slots = slots_count(p->slots);
	memcpy(w, &st, sizeof(w));	/* the fields in order, all u64 */
	for (i = 0; i < SOFTHW_STATS_WORDS; i++)
		put_le64(out + 8 * i, w[i]);
	return sizeof(w);
}

/* -v: a line per message; else a line now and then for refusals. */
static void log_result(int conn, const struct msg *m, int ret)
{
	uint16_t type = m->len >= 8 ? get_le16(m->buf + 6) : 0;
	const char *name = "?";

	if (type < ARRAY_SIZE(req_specs) && req_specs[type].name)
		name = req_specs[type].name;
	if (log_enabled(LOG_DEBUG))
		log_dbg("conn %d: %s (type %u, %zu bytes, %u fds): %s", conn,
			name, type, m->len, m->nfds, ret ? strerror(-ret) : "ok");
	else if (ret)
		log_ratelimited(LOG_WARN,
				"conn %d: refused %s (type %u, %zu bytes, %u fds): %s",
				conn, name, type, m->len, m->nfds, strerror(-ret));
}

int proto_serve(struct proto *p, int conn, bool *attached)
{
	uint8_t extra[8 * SOFTHW_STATS_WORDS];
	size_t extra_len = 0;
	struct msg m;
	int ret;

	ret = msg_recv(conn, &m);
	if (ret)
		return ret;
	ret = msg_check(&m);
	if (!ret) {
		switch (m.type) {
		case SOFTHW_ADD_SLOT:
			ret = do_add_slot(p, &m);
			break;
		case SOFTHW_DEL_SLOT:
			ret = slots_del(p->slots, get_le32(m.payload));
			break;
		case SOFTHW_ATTACH:
			ret = do_attach(p, &m, attached);
			break;
		case SOFTHW_STATS:
			extra_len = do_stats(p, extra);
			break;
		}
	}
	log_result(conn, &m, ret);
	msg_close_fds(&m);
	ret = reply_send(conn, ret, extra, extra_len);
	if (ret && ret != -EPIPE && ret != -ECONNRESET)
		log_ratelimited(LOG_WARN, "conn %d: reply: %s", conn,
				strerror(-ret));
	/* a lost reply is the peer's problem; its hang-up comes next */
	return 0;
}
