/* SPDX-License-Identifier: MIT */
/*
 * softhw.h: the "hardware" side of the soft IOMMU, shared by luvmm and
 * luvmm-devsim (the device simulator, a separate process that stands in
 * for a DMA-capable device behind an IOMMU and outlives VMM updates).
 *
 * Memory both sides map (memfds, passed by SCM_RIGHTS):
 *  - phys slots (iopt.h): guest RAM (read-write for DMA) and I/O page
 *    table pools (read-only for the device);
 *  - the context page: the device-table entry the device translates
 *    through, and the root-change handshake;
 *  - BAR0: the device's registers, also mapped into the guest
 *    (guest-fw/abi.h, struct luvmm_dma_bar).
 * Events: the doorbell eventfd (the VMM's KVM ioeventfd on the doorbell
 * port signals it) and the interrupt eventfd (the device signals it; the
 * VMM's KVM irqfd turns it into the guest's MSI).
 *
 * Setup protocol on a SOCK_SEQPACKET unix socket the simulator listens on
 * (or one end of a socketpair it was started with): each message is a
 * 16-byte header (u32 magic SOFTHW_MAGIC, u16 version 1, u16 type, u32
 * payload length, u32 0), a payload, and maybe fds. Every request gets one
 * SOFTHW_REPLY (same header, type SOFTHW_REPLY): payload i32 status (0 or
 * -errno) then type-specific bytes. All little-endian, packed.
 *
 * The simulator validates every message and answers a bad one with an
 * error status, closing any fds that came with it, then keeps serving:
 *   -EBADMSG  short or empty message, bad magic, nonzero reserved word,
 *             payload length not what the header or the type says
 *   -ENOTSUP  other version, unknown type (SOFTHW_REPLY included)
 *   -EINVAL   wrong number of fds, an fd of the wrong kind (not a memfd,
 *             not an eventfd), a memfd of a bad size, slot > IOPT_SLOT_MAX,
 *             unknown slot kind
 *   -EEXIST / -ENOENT / -ENOSPC  slot taken / not mapped / too many slots
 * A message longer than SOFTHW_MSG_MAX or with more than SOFTHW_FDS_MAX fds
 * is -EBADMSG.
 */
#ifndef LUVMM_IOMMU_SOFTHW_H
#define LUVMM_IOMMU_SOFTHW_H

#include <stdint.h>

#define SOFTHW_MAGIC	0x4d49534cU	/* "LSIM" */
#define SOFTHW_VERSION	1
#define SOFTHW_HDR_SIZE	16
#define SOFTHW_MSG_MAX	256	/* header + payload, either direction */
#define SOFTHW_FDS_MAX	8

enum softhw_msg {
	/* payload u32 slot, u32 kind (enum softhw_slot_kind); 1 fd (memfd).
	 * The simulator maps it: RAM read-write, at the size it has now (a
	 * nonzero 4 KiB multiple; DMA beyond it faults), pools read-only
	 * through iopt_pool_open() (shrink-sealed; they may grow: it
	 * follows). -EEXIST if the slot is taken. */
	SOFTHW_ADD_SLOT = 1,
	/* payload u32 slot. The simulator unmaps it. The VMM sends it only
	 * after the device acknowledged a root that does not use it. */
	SOFTHW_DEL_SLOT = 2,
	/* no payload; 4 fds: context memfd, BAR0 memfd (each at least
	 * 4 KiB), doorbell eventfd, interrupt eventfd. Starts the device. A
	 * second ATTACH replaces the first (a VMM restarted without live
	 * update): jobs already taken finish on the old fds, then the
	 * device runs on the new ones. BAR0 gets magic and version only if
	 * it lacks them, so job slots in use survive a re-ATTACH. The
	 * device is the doorbell's only reader and sets it O_NONBLOCK. */
	SOFTHW_ATTACH = 3,
	/* no payload; reply: struct softhw_stats fields in order, u64 each
	 * (the counters, DTE, GEN and ACK are 0 before the first ATTACH) */
	SOFTHW_STATS = 4,
	/* reply to any request */
	SOFTHW_REPLY = 5,
};

enum softhw_slot_kind {
	SOFTHW_SLOT_RAM = 1,	/* DMA target memory */
	SOFTHW_SLOT_POOL = 2,	/* I/O page-table pool (iopt_pool) */
};

/* Phys slot numbers luvmm uses (iopt.h PA = slot << 39 | offset). */
#define SOFTHW_SLOT_GUEST_RAM	1
#define SOFTHW_SLOT_POOL_FIRST	8	/* pools: 8, 9, 10, ... (one per tree) */
#define SOFTHW_SLOT_POOL_LAST	71	/* 64 pools at most */
/* The max_bytes both sides give iopt_pool_create()/iopt_pool_open(): the
 * VA each reserves per pool (room for 1 TiB mapped at 4 KiB). */
#define SOFTHW_POOL_MAX		(4ULL << 30)

/*
 * The context page (4 KiB memfd), u64 words, little-endian:
 *   [SOFTHW_CTX_DTE] the device-table entry: iopt root word (IOPT_ROOT_V |
 *        root PA) or 0 (all DMA blocked: a counted fault). The VMM writes
 *        it with iopt_root_publish() and then bumps GEN (release).
 *   [SOFTHW_CTX_GEN] generation of the DTE, bumped by the VMM.
 *   [SOFTHW_CTX_ACK] the device writes the GEN it has seen once no DMA
 *        that loaded an older DTE is still running (release): after that,
 *        tables only an older DTE reached may be freed. Each job loads
 *        GEN (acquire), then the DTE, once at its start and walks that
 *        root for all its accesses; ACK is stored after the job ends.
 *   [SOFTHW_CTX_FAULTS...] counters the device keeps (see softhw_stats).
 */
#define SOFTHW_CTX_SIZE		4096
#define SOFTHW_CTX_DTE		0
#define SOFTHW_CTX_GEN		1
#define SOFTHW_CTX_ACK		2
#define SOFTHW_CTX_JOBS		8	/* jobs completed (DONE) */
#define SOFTHW_CTX_FAULTS	9	/* jobs ended FAULT (bad job included) */
#define SOFTHW_CTX_XLATES	10	/* translations (one per 4 KiB page) */
#define SOFTHW_CTX_BYTES	11	/* bytes moved */
#define SOFTHW_CTX_MSIS		12	/* interrupts raised */
#define SOFTHW_CTX_LAST_FAULT	13	/* IOVA of the last fault */
#define SOFTHW_CTX_LAST_ERR	14	/* its -errno, as u64 (sign-extended) */

/* The device polls for a root change at least this often while idle. */
#define SOFTHW_IDLE_POLL_MS	1

/* struct softhw_stats as u64 words in a STATS reply, after the status */
#define SOFTHW_STATS_WORDS	11

struct softhw_stats {
	uint64_t jobs, faults, xlates, bytes, msis, last_fault, last_err;
	uint64_t slots;		/* phys slots mapped */
	uint64_t dte, gen, ack;
};
_Static_assert(sizeof(struct softhw_stats) == 8 * SOFTHW_STATS_WORDS,
	       "softhw_stats is SOFTHW_STATS_WORDS u64s");

#endif
