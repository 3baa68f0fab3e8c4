// SPDX-License-Identifier: MIT
/*
 * iobus.c: range table and dispatch for PIO and MMIO (see iobus.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iobus.h"
#include "log.h"

int iobus_init(struct iobus *bus, const char *name)
{
	int ret;

	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	ret = pthread_rwlock_init(&bus->lock, NULL);
	return -ret;
}

void iobus_fini(struct iobus *bus)
{
	if (!bus->name)
		return;
	free(bus->r);
	bus->r = NULL;
	pthread_rwlock_destroy(&bus->lock);
	bus->name = NULL;
}

/* Index of the first range whose end is above addr (may be n). */
static unsigned lower_bound(const struct iobus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		const struct iobus_range *r = &bus->r[mid];

		if (r->base + r->len <= addr)	/* no wrap: see register */
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int iobus_register(struct iobus *bus, uint64_t base, uint64_t len,
		   iobus_fn fn, void *priv, const char *name)
{
	unsigned i;
	int ret = 0;

	if (!len || base + len < base || !fn)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	i = lower_bound(bus, base);
	if ((i < bus->n && bus->r[i].base < base + len) ||
	    (i > 0 && bus->r[i - 1].base + bus->r[i - 1].len > base)) {
		ret = -EEXIST;
		goto out;
	}
	if (bus->n == bus->cap) {
		unsigned cap = bus->cap ? bus->cap * 2 : 16;
		struct iobus_range *r = realloc(bus->r, cap * sizeof(*r));

		if (!r) {
			ret = -ENOMEM;
			goto out;
		}
		bus->r = r;
		bus->cap = cap;
	}
	memmove(&bus->r[i + 1], &bus->r[i], (bus->n - i) * sizeof(*bus->r));
	bus->r[i] = (struct iobus_range){ base, len, fn, priv, name };
	bus->n++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int iobus_unregister(struct iobus *bus, uint64_t base, void *priv)
{
	unsigned i;
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	for (i = 0; i < bus->n; i++) {
		if (bus->r[i].base == base && bus->r[i].priv == priv) {
			memmove(&bus->r[i], &bus->r[i + 1],
				(bus->n - i - 1) * sizeof(*bus->r));
			bus->n--;
			ret = 0;
			break;
		}
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

bool iobus_access(struct iobus *bus, uint64_t addr, uint8_t *data,
		  uint32_t len, bool is_write)
{
	struct iobus_range hit;
	bool found = false;
	unsigned i;

	pthread_rwlock_rdlock(&bus->lock);
	i = lower_bound(bus, addr);
	if (i < bus->n && addr >= bus->r[i].base &&
	    addr - bus->r[i].base < bus->r[i].len) {
		hit = bus->r[i];
		found = true;
	}
	pthread_rwlock_unlock(&bus->lock);

	if (!found || len > hit.len - (addr - hit.base)) {
		__atomic_fetch_add(&bus->unhandled, 1, __ATOMIC_RELAXED);
		log_ratelimited(LOG_DEBUG, "%s: unhandled %s of %u bytes at 0x%llx",
				bus->name, is_write ? "write" : "read", len,
				(unsigned long long)addr);
		if (!is_write)
			memset(data, 0xff, len);
		return false;
	}
	hit.fn(hit.priv, addr - hit.base, data, len, is_write);
	return true;
}
