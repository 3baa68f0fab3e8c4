/* SPDX-License-Identifier: MIT */
/*
 * devices.h: the device table. The core sees devices only through
 * struct dev_ops; vmm/devices/devices.c lists them in creation order.
 */
#ifndef LUVMM_DEVICES_H
#define LUVMM_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../compiler.h"

struct vm;
struct config;
struct loop;
struct json_writer;
struct handoff;
struct lu_writer;
struct lu_reader;
struct lu_section;
struct lu_dec;
struct vm_devmem;

/* What a device may use while it is created. */
struct dev_env {
	struct vm *vm;
	const struct config *cfg;
	/* Live update: the fds the old VMM handed over (device fds are
	 * found by name), or NULL on a fresh boot. */
	struct handoff *handoff;
	/* Device memory premap() made, registered with the VM; a device
	 * takes its region over (fd -1, host NULL left behind). */
	struct vm_devmem *devmem;
	unsigned ndevmem;
};

struct dev_ops {
	const char *name;
	/* Optional: before the VM exists, make the device memory KVM must
	 * map (dm; returns 1), or none (0), or -errno after logging why. */
	int (*premap)(const struct config *cfg, struct handoff *h,
		      struct vm_devmem *dm);
	/* Build the device, open its host resources and register its
	 * guest-visible ranges. Returns 0 or -errno after logging why. */
	int (*create)(const struct dev_env *env, void **priv);
	/* Release everything; accepts a half-built device. */
	void (*destroy)(void *priv);
	/* Optional: start using the main loop (input fds, timers). */
	int (*attach)(void *priv, struct loop *loop);
	/* Optional: undo attach (before destroy, main thread). */
	void (*detach)(void *priv, struct loop *loop);
	/* Optional: periodic housekeeping on the main thread (~10 Hz). */
	void (*tick)(void *priv);
	/* Optional: add this device's counters to the metrics object (the
	 * writer is positioned inside an object; add one key). */
	void (*metrics)(void *priv, struct json_writer *w);

	/* Live update (all optional; a device without save has no state).
	 * export: add the host fds the device uses to the handoff table.
	 * save: write the guest-visible state; vCPUs are parked. The caller
	 *   has opened a LU_SEC_DEVICE section and written the device name.
	 * load: decode the rest of the section (d is positioned after the
	 *   name) into a staging copy, finishing with lu_dec_finish(); apply
	 *   nothing.
	 * commit: apply the staged copy (cannot fail). */
	int (*export)(void *priv, struct handoff *h);
	void (*save)(void *priv, struct lu_writer *w);
	int (*load)(void *priv, struct lu_dec *d);
	void (*commit)(void *priv);
	/* Optional: may an update start now? 0, or -EBUSY with a reason. */
	int (*busy)(void *priv, char *msg, size_t len);
	/* Optional, main thread: the vCPUs run again after an update: in the
	 * new VMM once it runs the guest (new_vmm), in the old one after a
	 * rollback. Deferred work starts here (an IOMMU rebuild). */
	void (*resumed)(void *priv, bool new_vmm);
	/* newest LU_SEC_DEVICE version this device writes */
	uint16_t state_version;
	/* its section is marked optional (a VMM without this device skips
	 * it) and may be missing (a VMM without it wrote the record: the
	 * device keeps its fresh state) */
	bool state_optional;
	/* optional, with state_optional: this instance cannot do without
	 * its section after all (a VFIO device needs its iommufd ids) */
	bool (*state_needed)(void *priv);
};

struct devices;

/* Create every device in table order; on failure destroy those created. */
int __must_check devices_create(const struct dev_env *env, struct devices **out);
void devices_destroy(struct devices *d);
int __must_check devices_attach(struct devices *d, struct loop *loop);
void devices_detach(struct devices *d, struct loop *loop);
void devices_tick(struct devices *d);
void devices_metrics(struct devices *d, struct json_writer *w);

/* Device memory of every device (premap), before the VM is created;
 * release what no device took. */
int __must_check devices_premap(const struct config *cfg, struct handoff *h,
				struct vm_devmem *dm, unsigned max, unsigned *n);
void devices_premap_release(struct vm_devmem *dm, unsigned n);

/* Live update over the whole table. */
int __must_check devices_export(struct devices *d, struct handoff *h);
int __must_check devices_save(struct devices *d, struct lu_writer *w);
/* Stage one LU_SEC_DEVICE section (dispatch by device name). */
int __must_check devices_load(struct devices *d, struct lu_reader *r,
			      const struct lu_section *sec);
/* -EBADMSG if a device with state got no section (msg says which). */
int __must_check devices_loaded(struct devices *d, char *msg, size_t len);
void devices_commit(struct devices *d);
/* -EBUSY (msg says why) if some device cannot go through an update now. */
int devices_busy(struct devices *d, char *msg, size_t len);
void devices_resumed(struct devices *d, bool new_vmm);
/* Forget what load() staged (the record was rejected). */
void devices_abort(struct devices *d);

/* The devices (one file each). */
extern const struct dev_ops serial_ops;
extern const struct dev_ops report_ops;
extern const struct dev_ops passthrough_ops;

#endif
