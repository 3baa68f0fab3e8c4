/* SPDX-License-Identifier: MIT */
/*
 * proto.h: the device simulator's side of the setup protocol
 * (vmm/iommu/softhw.h): receiving one message from a connection,
 * validating it as hostile input, applying it to the slots and the engine,
 * and sending the one reply. Main thread only.
 */
#ifndef LUVMM_DEVSIM_PROTO_H
#define LUVMM_DEVSIM_PROTO_H

#include <stdbool.h>

#include "../vmm/compiler.h"
#include "engine.h"
#include "slots.h"

struct proto {
	struct slots *slots;
	struct engine *engine;
};

/*
 * Read one message from conn (a unix SOCK_SEQPACKET socket) and answer it.
 * Returns 0 when a message was served, whatever status it got (the fds
 * that came with a bad message are closed); -EAGAIN when nothing was
 * queued; -EPIPE when the peer hung up; another -errno when the socket
 * failed. *attached is set to true when the message was a successful
 * ATTACH, else left alone.
 */
int __must_check proto_serve(struct proto *p, int conn, bool *attached);

#endif
