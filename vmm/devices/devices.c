// SPDX-License-Identifier: MIT
/*
 * devices.c: the device table and its lifetime helpers. Devices are
 * created in the order listed and destroyed in reverse.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../config.h"
#include "../liveupdate/state.h"
#include "../log.h"
#include "../vm.h"
#include "devices.h"

static const struct dev_ops *const device_table[] = {
	&serial_ops,
	&report_ops,
	&passthrough_ops,
};

#define NDEV ARRAY_SIZE(device_table)

struct devices {
	void *priv[NDEV];
	bool staged[NDEV];	/* load() accepted a section */
	unsigned created;
	unsigned attached;
};

int devices_create(const struct dev_env *env, struct devices **out)
{
	struct devices *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	for (d->created = 0; d->created < NDEV; d->created++) {
		ret = device_table[d->created]->create(env, &d->priv[d->created]);
		if (ret) {
			devices_destroy(d);
			return ret;
		}
	}
	/* test-only: every device built from a live update's handoff, then
	 * a failure that destroys them all (docs/update-protocol.md) */
	if (env->handoff && env->cfg->fault && !strcmp(env->cfg->fault, "error-devices")) {
		devices_destroy(d);
		return -EIO;
	}
	*out = d;
	return 0;
}

void devices_destroy(struct devices *d)
{
	if (!d)
		return;
	while (d->created--)
		device_table[d->created]->destroy(d->priv[d->created]);
	free(d);
}

int devices_attach(struct devices *d, struct loop *loop)
{
	int ret;

	for (d->attached = 0; d->attached < NDEV; d->attached++) {
		const struct dev_ops *ops = device_table[d->attached];

		if (!ops->attach)
			continue;
		ret = ops->attach(d->priv[d->attached], loop);
		if (ret) {
			devices_detach(d, loop);
			return ret;
		}
	}
	return 0;
}

void devices_detach(struct devices *d, struct loop *loop)
{
	if (!d)
		return;
	while (d->attached--) {
		const struct dev_ops *ops = device_table[d->attached];

		if (ops->detach)
			ops->detach(d->priv[d->attached], loop);
	}
	d->attached = 0;
}

void devices_tick(struct devices *d)
{
	unsigned i;

	for (i = 0; i < NDEV; i++)
		if (device_table[i]->tick)
			device_table[i]->tick(d->priv[i]);
}

void devices_metrics(struct devices *d, struct json_writer *w)
{
	unsigned i;

	for (i = 0; i < NDEV; i++)
		if (device_table[i]->metrics)
			device_table[i]->metrics(d->priv[i], w);
}

int devices_export(struct devices *d, struct handoff *h)
{
	unsigned i;
	int ret;

	for (i = 0; i < NDEV; i++) {
		if (!device_table[i]->export)
			continue;
		ret = device_table[i]->export(d->priv[i], h);
		if (ret)
			return ret;
	}
	return 0;
}

int devices_save(struct devices *d, struct lu_writer *w)
{
	unsigned i;

	for (i = 0; i < NDEV; i++) {
		const struct dev_ops *ops = device_table[i];

		if (!ops->save)
			continue;
		lu_section_begin(w, LU_SEC_DEVICE, ops->state_version,
				 ops->state_optional ? LU_SEC_F_OPTIONAL : 0, 0);
		lu_put_str(w, ops->name);
		ops->save(d->priv[i], w);
		lu_section_end(w);
	}
	return lu_writer_error(w);
}

int devices_load(struct devices *d, struct lu_reader *r, const struct lu_section *sec)
{
	char name[32];
	struct lu_dec dec;
	unsigned i;
	int ret;

	lu_dec_init(&dec, r, sec);
	lu_get_str(&dec, "name", name, sizeof(name));
	if (dec.err)
		return dec.err;
	for (i = 0; i < NDEV; i++)
		if (device_table[i]->load && !strcmp(device_table[i]->name, name))
			break;
	if (i == NDEV) {
		if (sec->flags & LU_SEC_F_OPTIONAL)
			return 0;
		return lu_dec_fail(&dec, "name", "no device \"%s\" with state here", name);
	}
	if (d->staged[i])
		return lu_dec_fail(&dec, "name", "device \"%s\" appears twice", name);
	ret = device_table[i]->load(d->priv[i], &dec);
	if (!ret)
		d->staged[i] = true;
	return ret;
}

int devices_loaded(struct devices *d, char *msg, size_t len)
{
	unsigned i;

	for (i = 0; i < NDEV; i++) {
		const struct dev_ops *ops = device_table[i];

		if (ops->load && !d->staged[i] &&
		    (!ops->state_optional ||
		     (ops->state_needed && ops->state_needed(d->priv[i])))) {
			snprintf(msg, len, "the record has no state for device \"%s\"",
				 device_table[i]->name);
			return -EBADMSG;
		}
	}
	return 0;
}

void devices_commit(struct devices *d)
{
	unsigned i;

	for (i = 0; i < NDEV; i++) {
		if (d->staged[i])
			device_table[i]->commit(d->priv[i]);
		d->staged[i] = false;
	}
}

void devices_abort(struct devices *d)
{
	unsigned i;

	for (i = 0; i < NDEV; i++)
		d->staged[i] = false;
}

int devices_premap(const struct config *cfg, struct handoff *h,
		   struct vm_devmem *dm, unsigned max, unsigned *n)
{
	unsigned i;
	int ret;

	*n = 0;
	for (i = 0; i < NDEV; i++) {
		if (!device_table[i]->premap)
			continue;
		if (*n == max) {
			devices_premap_release(dm, *n);
			return -ENOSPC;
		}
		ret = device_table[i]->premap(cfg, h, &dm[*n]);
		if (ret < 0) {
			devices_premap_release(dm, *n);
			return ret;
		}
		*n += (unsigned)ret;
	}
	return 0;
}

void devices_premap_release(struct vm_devmem *dm, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (dm[i].host)
			munmap(dm[i].host, dm[i].size);
		if (dm[i].fd >= 0)
			close(dm[i].fd);
		dm[i].host = NULL;
		dm[i].fd = -1;
	}
}

int devices_busy(struct devices *d, char *msg, size_t len)
{
	unsigned i;
	int ret;

	for (i = 0; i < NDEV; i++) {
		if (!device_table[i]->busy)
			continue;
		ret = device_table[i]->busy(d->priv[i], msg, len);
		if (ret)
			return ret;
	}
	return 0;
}

void devices_resumed(struct devices *d, bool new_vmm)
{
	unsigned i;

	for (i = 0; i < NDEV; i++)
		if (device_table[i]->resumed)
			device_table[i]->resumed(d->priv[i], new_vmm);
}
