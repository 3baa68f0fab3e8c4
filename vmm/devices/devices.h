/* SPDX-License-Identifier: MIT */
/*
 * devices.h: the device table. The core sees devices only through
 * struct dev_ops; vmm/devices/devices.c lists them in creation order.
 */
#ifndef LUVMM_DEVICES_H
#define LUVMM_DEVICES_H

#include "../compiler.h"

struct vm;
struct config;
struct loop;
struct json_writer;

/* What a device may use while it is created. */
struct dev_env {
	struct vm *vm;
	const struct config *cfg;
};

struct dev_ops {
	const char *name;
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
};

struct devices;

/* Create every device in table order; on failure destroy those created. */
int __must_check devices_create(const struct dev_env *env, struct devices **out);
void devices_destroy(struct devices *d);
int __must_check devices_attach(struct devices *d, struct loop *loop);
void devices_detach(struct devices *d, struct loop *loop);
void devices_tick(struct devices *d);
void devices_metrics(struct devices *d, struct json_writer *w);

/* The devices (one file each). */
extern const struct dev_ops serial_ops;
extern const struct dev_ops report_ops;

#endif
