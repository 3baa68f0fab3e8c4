// SPDX-License-Identifier: MIT
/*
 * devices.c: the device table and its lifetime helpers. Devices are
 * created in the order listed and destroyed in reverse.
 */
#include <errno.h>
#include <stdlib.h>

#include "../log.h"
#include "devices.h"

static const struct dev_ops *const device_table[] = {
	&serial_ops,
	&report_ops,
};

#define NDEV ARRAY_SIZE(device_table)

struct devices {
	void *priv[NDEV];
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
