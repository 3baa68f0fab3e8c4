// SPDX-License-Identifier: MIT
/*
 * test_iobus.c: vmm/iobus.c: registration (overlap, adjacency, bad
 * ranges), dispatch to the right handler with the right offset, the
 * unhandled path (all-ones reads, dropped writes, the counter, accesses
 * that cross a range's end), unregistering, and a randomized table checked
 * against a brute-force model.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../vmm/iobus.h"
#include "tap.h"

/* What a handler saw last. */
struct dev {
	unsigned id;
	unsigned calls;
	uint64_t off;
	uint32_t len;
	bool is_write;
	uint8_t wdata[8];
};

static void handler(void *priv, uint64_t off, uint8_t *data, uint32_t len,
		    bool is_write)
{
	struct dev *d = priv;

	d->calls++;
	d->off = off;
	d->len = len;
	d->is_write = is_write;
	if (is_write)
		memcpy(d->wdata, data, MIN(len, 8u));
	else
		memset(data, (int)(0x10 + d->id), len);
}

static void other_handler(void *priv, uint64_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	handler(priv, off, data, len, is_write);
}

static void register_and_overlap(void)
{
	struct iobus bus;
	struct dev a = { 0 };

	REQUIRE_OK(iobus_init(&bus, "pio"));
	CHECK_ERR(0, iobus_register(&bus, 0x100, 0x10, handler, &a, "a"));
	/* every kind of overlap */
	CHECK_ERR(-EEXIST, iobus_register(&bus, 0x100, 0x10, handler, &a, "same"));
	CHECK_ERR(-EEXIST, iobus_register(&bus, 0x0f8, 0x10, handler, &a, "head"));
	CHECK_ERR(-EEXIST, iobus_register(&bus, 0x108, 0x10, handler, &a, "tail"));
	CHECK_ERR(-EEXIST, iobus_register(&bus, 0x104, 0x4, handler, &a, "inside"));
	CHECK_ERR(-EEXIST, iobus_register(&bus, 0x000, 0x1000, handler, &a, "around"));
	CHECK_ERR(-EEXIST, iobus_register(&bus, 0x10f, 0x1, handler, &a, "last byte"));
	CHECK_ERR(-EEXIST, iobus_register(&bus, 0x0ff, 0x2, handler, &a, "first byte"));
	CHECK_EQ(bus.n, 1);
	/* adjacent on both sides is fine */
	CHECK_ERR(0, iobus_register(&bus, 0x110, 0x10, handler, &a, "after"));
	CHECK_ERR(0, iobus_register(&bus, 0x0f0, 0x10, handler, &a, "before"));
	CHECK_ERR(-EEXIST, iobus_register(&bus, 0x0f8, 0x20, handler, &a, "spans two"));
	CHECK_EQ(bus.n, 3);
	CHECK_EQ(bus.r[0].base, 0x0f0);
	CHECK_EQ(bus.r[1].base, 0x100);
	CHECK_EQ(bus.r[2].base, 0x110);
	iobus_fini(&bus);
}

static void bad_ranges(void)
{
	struct iobus bus;
	struct dev a = { 0 };

	REQUIRE_OK(iobus_init(&bus, "mmio"));
	CHECK_ERR(-EINVAL, iobus_register(&bus, 0x100, 0, handler, &a, "empty"));
	CHECK_ERR(-EINVAL, iobus_register(&bus, UINT64_MAX, 2, handler, &a, "wraps"));
	CHECK_ERR(-EINVAL, iobus_register(&bus, 1, UINT64_MAX, handler, &a, "wraps"));
	CHECK_ERR(-EINVAL, iobus_register(&bus, 0x100, 4, NULL, &a, "no fn"));
	CHECK_EQ(bus.n, 0);
	/* the top of the address space, ending exactly at 2^64 - 1 */
	CHECK_ERR(0, iobus_register(&bus, UINT64_MAX - 0xfff, 0xfff, handler, &a, "top"));
	CHECK_ERR(0, iobus_register(&bus, 0, 1, handler, &a, "zero"));
	CHECK_EQ(bus.n, 2);
	iobus_fini(&bus);
}

static void dispatch_offsets(void)
{
	struct iobus bus;
	struct dev a = { .id = 1 }, b = { .id = 2 };
	uint8_t data[8];

	REQUIRE_OK(iobus_init(&bus, "pio"));
	REQUIRE_OK(iobus_register(&bus, 0x3f8, 8, handler, &a, "com1"));
	REQUIRE_OK(iobus_register(&bus, 0x500, 12, other_handler, &b, "report"));

	memset(data, 0, sizeof(data));
	CHECK(iobus_access(&bus, 0x3fd, data, 1, false));
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.off, 5);
	CHECK_EQ(a.len, 1);
	CHECK_EQ(a.is_write, false);
	CHECK_EQ(data[0], 0x11);
	CHECK_EQ(data[1], 0);	/* only len bytes */
	CHECK_EQ(b.calls, 0);

	memcpy(data, "\x01\x02\x03\x04", 4);
	CHECK(iobus_access(&bus, 0x508, data, 4, true));
	CHECK_EQ(b.calls, 1);
	CHECK_EQ(b.off, 8);
	CHECK_EQ(b.len, 4);
	CHECK_EQ(b.is_write, true);
	CHECK(!memcmp(b.wdata, "\x01\x02\x03\x04", 4));
	CHECK_EQ(a.calls, 1);

	/* first and last byte of a range */
	CHECK(iobus_access(&bus, 0x500, data, 1, false));
	CHECK_EQ(b.off, 0);
	CHECK(iobus_access(&bus, 0x50b, data, 1, false));
	CHECK_EQ(b.off, 11);
	/* an access that ends exactly at the range end */
	CHECK(iobus_access(&bus, 0x508, data, 4, false));
	CHECK(iobus_access(&bus, 0x3f8, data, 8, false));
	CHECK_EQ(a.off, 0);
	CHECK_EQ(a.len, 8);
	CHECK_EQ(bus.unhandled, 0);
	iobus_fini(&bus);
}

static void unhandled_accesses(void)
{
	struct iobus bus;
	struct dev a = { .id = 1 }, b = { .id = 2 };
	uint8_t data[8];

	REQUIRE_OK(iobus_init(&bus, "pio"));
	REQUIRE_OK(iobus_register(&bus, 0x100, 4, handler, &a, "a"));
	REQUIRE_OK(iobus_register(&bus, 0x104, 4, handler, &b, "b"));

	memset(data, 0x55, sizeof(data));
	CHECK(!iobus_access(&bus, 0x80, data, 4, false));
	CHECK(!memcmp(data, "\xff\xff\xff\xff\x55", 5));
	CHECK_EQ(bus.unhandled, 1);

	memset(data, 0x55, sizeof(data));
	CHECK(!iobus_access(&bus, 0x108, data, 2, false));	/* just past b */
	CHECK(!memcmp(data, "\xff\xff\x55", 3));
	CHECK(!iobus_access(&bus, 0xff, data, 1, false));	/* just before a */
	CHECK_EQ(bus.unhandled, 3);

	/* writes are dropped, data untouched */
	memset(data, 0x77, sizeof(data));
	CHECK(!iobus_access(&bus, 0x200, data, 8, true));
	CHECK(!memcmp(data, "\x77\x77\x77\x77\x77\x77\x77\x77", 8));
	CHECK_EQ(bus.unhandled, 4);

	/* crossing the end of a range (even into an adjacent one) */
	memset(data, 0x55, sizeof(data));
	CHECK(!iobus_access(&bus, 0x102, data, 4, false));
	CHECK(!memcmp(data, "\xff\xff\xff\xff", 4));
	CHECK(!iobus_access(&bus, 0x107, data, 2, true));
	CHECK(!iobus_access(&bus, 0x100, data, 8, false));
	CHECK_EQ(bus.unhandled, 7);
	CHECK_EQ(a.calls, 0);
	CHECK_EQ(b.calls, 0);

	/* an empty bus */
	iobus_fini(&bus);
	REQUIRE_OK(iobus_init(&bus, "mmio"));
	CHECK(!iobus_access(&bus, 0, data, 1, false));
	CHECK(!iobus_access(&bus, UINT64_MAX, data, 8, false));
	CHECK_EQ(data[7], 0xff);
	CHECK_EQ(bus.unhandled, 2);
	iobus_fini(&bus);
}

static void top_of_address_space(void)
{
	struct iobus bus;
	struct dev a = { .id = 1 };
	uint8_t data[8];

	REQUIRE_OK(iobus_init(&bus, "mmio"));
	REQUIRE_OK(iobus_register(&bus, UINT64_MAX - 7, 7, handler, &a, "top"));
	CHECK(iobus_access(&bus, UINT64_MAX - 1, data, 1, false));
	CHECK_EQ(a.off, 6);
	CHECK(!iobus_access(&bus, UINT64_MAX - 1, data, 2, false));
	CHECK(!iobus_access(&bus, UINT64_MAX, data, 1, false));
	CHECK(!iobus_access(&bus, UINT64_MAX - 3, data, 8, false));
	CHECK_EQ(a.calls, 1);
	iobus_fini(&bus);
}

static void unregister_ranges(void)
{
	struct iobus bus;
	struct dev a = { .id = 1 }, b = { .id = 2 };
	uint8_t data[4];

	REQUIRE_OK(iobus_init(&bus, "pio"));
	REQUIRE_OK(iobus_register(&bus, 0x10, 4, handler, &a, "a"));
	REQUIRE_OK(iobus_register(&bus, 0x20, 4, handler, &b, "b"));
	CHECK_ERR(-ENOENT, iobus_unregister(&bus, 0x10, &b));	/* wrong owner */
	CHECK_ERR(-ENOENT, iobus_unregister(&bus, 0x11, &a));	/* not the base */
	CHECK_ERR(-ENOENT, iobus_unregister(&bus, 0x30, &a));
	CHECK_ERR(0, iobus_unregister(&bus, 0x10, &a));
	CHECK_ERR(-ENOENT, iobus_unregister(&bus, 0x10, &a));	/* twice */
	CHECK(!iobus_access(&bus, 0x10, data, 1, false));
	CHECK(iobus_access(&bus, 0x20, data, 1, false));
	CHECK_EQ(b.calls, 1);
	/* the range can be taken again, by someone else */
	CHECK_ERR(0, iobus_register(&bus, 0x0e, 4, handler, &b, "b2"));
	CHECK(iobus_access(&bus, 0x11, data, 1, false));
	CHECK_EQ(b.off, 3);
	CHECK_EQ(a.calls, 0);
	iobus_fini(&bus);
}

static void fini_twice_and_zeroed(void)
{
	struct iobus bus;

	memset(&bus, 0, sizeof(bus));
	iobus_fini(&bus);
	REQUIRE_OK(iobus_init(&bus, "pio"));
	iobus_fini(&bus);
	iobus_fini(&bus);
	CHECK(!bus.r);
}

/* ---- randomized: the sorted table against a brute-force model ------------ */

#define NR	300

struct model {
	uint64_t base, len;
	struct dev d;
	bool live;
};

static int brute(const struct model *m, unsigned n, uint64_t addr)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (m[i].live && addr >= m[i].base && addr - m[i].base < m[i].len)
			return (int)i;
	return -1;
}

static void random_table_matches_model(void)
{
	static struct model m[NR];
	struct iobus bus;
	unsigned i, n = 0, iter, registered = 0;
	uint64_t unhandled = 0;

	tap_rng_seed();
	memset(m, 0, sizeof(m));
	REQUIRE_OK(iobus_init(&bus, "pio"));
	/* random, often colliding, ranges in random order */
	for (iter = 0; iter < 4 * NR && n < NR; iter++) {
		uint64_t base = tap_rng() % 0x10000, len = 1 + tap_rng() % 64;
		bool overlaps = false;
		int ret;

		for (i = 0; i < n; i++)
			if (base < m[i].base + m[i].len && m[i].base < base + len)
				overlaps = true;
		ret = iobus_register(&bus, base, len, handler, &m[n].d, "r");
		if (ret != (overlaps ? -EEXIST : 0)) {
			tap_fail(__FILE__, __LINE__, "register [0x%" PRIx64 ", +%" PRIu64 "): got %d, model says %s",
				 base, len, ret, overlaps ? "overlap" : "free");
			break;
		}
		if (!ret) {
			m[n] = (struct model){ base, len, { .id = n }, true };
			n++;
			registered++;
		}
	}
	/* drop a third of them */
	for (i = 0; i < n; i += 3) {
		CHECK_ERR(0, iobus_unregister(&bus, m[i].base, &m[i].d));
		m[i].live = false;
	}
	for (i = 1; i < bus.n; i++)
		if (bus.r[i - 1].base + bus.r[i - 1].len > bus.r[i].base)
			tap_fail(__FILE__, __LINE__, "table not sorted/disjoint at %u", i);
	for (iter = 0; iter < 200000; iter++) {
		uint64_t addr = tap_rng() % 0x10100;
		uint32_t len = 1u << (tap_rng() % 4);
		uint8_t data[8];
		int want = brute(m, n, addr);
		bool fits = want >= 0 && len <= m[want].len - (addr - m[want].base);
		unsigned before = want >= 0 ? m[want].d.calls : 0;
		bool got = iobus_access(&bus, addr, data, len, tap_rng() & 1);

		if (got != fits) {
			tap_fail(__FILE__, __LINE__, "access 0x%" PRIx64 "/%u: got %d, model %d",
				 addr, len, got, fits);
			break;
		}
		if (!fits) {
			unhandled++;
			continue;
		}
		if (m[want].d.calls != before + 1 || m[want].d.off != addr - m[want].base) {
			tap_fail(__FILE__, __LINE__, "access 0x%" PRIx64 " went to the wrong range",
				 addr);
			break;
		}
	}
	CHECK_EQ(bus.unhandled, unhandled);
	tap_diag("%u ranges registered, %u left", registered, bus.n);
	iobus_fini(&bus);
}

static const struct tap_case cases[] = {
	TAP_CASE(register_and_overlap),
	TAP_CASE(bad_ranges),
	TAP_CASE(dispatch_offsets),
	TAP_CASE(unhandled_accesses),
	TAP_CASE(top_of_address_space),
	TAP_CASE(unregister_ranges),
	TAP_CASE(fini_twice_and_zeroed),
	TAP_CASE(random_table_matches_model),
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
