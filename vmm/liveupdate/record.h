/* SPDX-License-Identifier: MIT */
/*
 * record.h: the two records of a live update (docs/state-format.md §9).
 *
 * The prepare record travels in the HELLO message, before the blackout:
 * the configuration (LU_SEC_CONFIG), the names of the handed-over fds
 * (LU_SEC_HANDOFF) and the update's parameters (LU_SEC_UPDATE). From it
 * the new VMM builds everything it can while the guest still runs.
 *
 * The state record is written in the blackout into the shared state memfd:
 * LU_SEC_VM, then irqchip and clock, every vCPU, every device. The new VMM
 * decodes and validates all of it into scratch before applying anything.
 */
#ifndef LUVMM_LIVEUPDATE_RECORD_H
#define LUVMM_LIVEUPDATE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../compiler.h"
#include "../config.h"

struct runner;
struct handoff;
struct vcpu;
struct vcpu_state;
struct vm_chip_state;

/* What LU_SEC_UPDATE carries. */
struct lu_update_info {
	uint8_t mode;			/* enum lu_mode */
	uint32_t old_pid;
	uint64_t updates;		/* updates the VM went through before this one */
	uint64_t state_offset;		/* where the state record goes in the memfd */
	uint64_t state_cap;		/* bytes available there */
	uint64_t created_ns;		/* the VM's creation time (uptime) */
	uint64_t t_hello_ns;		/* old VMM's CLOCK_MONOTONIC at HELLO */
};

/* Strings of a received config live here. */
struct lu_config_store {
	struct config cfg;
	char kernel[CONFIG_PATH_MAX + 1], cmdline[CONFIG_CMDLINE_MAX + 1];
	char workload[CONFIG_WORKLOAD_MAX + 1], memcheck[CONFIG_MEMCHECK_MAX + 1];
	char serial_path[CONFIG_PATH_MAX + 1], api_path[CONFIG_API_PATH_MAX + 1];
	char report_log[CONFIG_PATH_MAX + 1];
	char device[CONFIG_DEVICE_MAX + 1];
};

/* Prepare record into buf; 0 with *len, or -ENOSPC/-EINVAL. */
int __must_check lu_prepare_write(const struct runner *r, const struct handoff *h,
				  const struct lu_update_info *u, void *buf,
				  size_t cap, size_t *len);
/*
 * Decode a prepare record; binds the handoff names to fds[0..nfds). On
 * failure nothing is kept (the caller still owns fds) and msg says why.
 */
int __must_check lu_prepare_read(const void *buf, size_t len, struct lu_config_store *cs,
				 struct handoff *h, const int *fds, unsigned nfds,
				 struct lu_update_info *u, char *msg, size_t msglen);

/* The VM section's content. */
struct lu_vm_info {
	uint32_t ncpus;
	uint64_t mem_bytes;
	uint8_t hugetlb;
	uint32_t tsc_khz;
	uint8_t paused;
	uint64_t updates;		/* including this one */
	uint64_t created_ns;
	uint64_t paused_total_ns;
	uint8_t boot_mode;		/* enum boot_mode the guest was booted with */
};

/* Everything decoded from a state record, nothing applied yet. */
struct lu_loaded {
	struct lu_vm_info vm;
	struct vm_chip_state *chips;
	unsigned ncpus;
	struct vcpu_state **vcpus;	/* [ncpus], each present exactly once
					 * (the vCPUs' own decode buffers) */
};

/* The whole state record (vCPUs parked; paused_before: the guest was
 * paused before the update began, and stays paused after it). */
int __must_check lu_state_write(struct runner *r, bool paused_before, void *buf,
				size_t cap, size_t *len);

/*
 * The same record written in parts, so each vCPU thread can save its own
 * state on its own CPU as it stops: lu_vcpu_blob() encodes one vCPU's
 * section into blob (called on that vCPU's thread), lu_state_assemble()
 * writes the rest and joins the blobs in vCPU order.
 */
struct lu_blob {
	uint8_t *buf;
	size_t cap;
	size_t len;		/* bytes of whole sections after the header */
};
int __must_check lu_vcpu_blob(struct vcpu *v, struct lu_blob *b);
int __must_check lu_state_assemble(struct runner *r, bool paused_before,
				   const struct lu_blob *blobs, void *buf, size_t cap,
				   size_t *len);
/* Decoding space for a VM of ncpus vCPUs (allocate it before the blackout). */
struct lu_loaded *lu_loaded_create(unsigned ncpus);
/* Validate and decode it all against the pre-built VM into l. -EBADMSG/
 * -ENOTSUP with msg naming section, instance and field. */
int __must_check lu_state_read(struct runner *r, const void *buf, size_t len,
			       struct lu_loaded *l, char *msg, size_t msglen);
/* Apply to the parked, pre-built VM and devices. */
int __must_check lu_state_apply(struct runner *r, const struct lu_loaded *l);
/* The same in two steps: the VM-wide part (irqchip, clock, devices,
 * counters) first, then each vCPU with vcpu_state_restore(), possibly on
 * its own thread. */
int __must_check lu_state_apply_vm(struct runner *r, const struct lu_loaded *l);
void lu_loaded_free(struct lu_loaded *l);

#endif
