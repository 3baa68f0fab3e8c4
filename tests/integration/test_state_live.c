// SPDX-License-Identifier: MIT
/*
 * test_state_live.c: the state-record sections only a KVM VM can write
 * (vm, irqchip, clock, vcpu), through today's writer and reader, in this
 * process: a VM boots guest-fw (2 vCPUs, heartbeat and memcheck) until
 * both vCPUs reported, is paused and saved (record A); a second VM of the
 * same shape on the same RAM decodes A with lu_state_read() and applies
 * it with lu_state_apply(), and saves itself (record B).
 *
 *  - round trip: B equals A section by section, except for what the
 *    restore is meant to change (listed at sections_match()); then the
 *    second VM runs and the guest carries on where it stopped;
 *  - every truncation of every section of A: -EBADMSG naming the section
 *    and the truncated field;
 *  - every bit flip of every section of A, CRC re-sealed: refused naming
 *    the section, or accepted (the field takes any value); and the
 *    messages of the checks of a few fields.
 * The config, handoff, update and device sections are in test_lu_sections.c
 * (no KVM needed), records of an older luvmm in test_lu_oldrec.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../vmm/devices/devices.h"
#include "../../vmm/json.h"
#include "../../vmm/liveupdate/record.h"
#include "../../vmm/log.h"
#include "../../vmm/run.h"
#include "../../vmm/vcpu.h"
#include "../../vmm/vm.h"
#include "../lu_rec.h"
#include "harness.h"

#define NCPUS		2
#define MEM		(64ULL << 20)
#define REC_CAP		(1 << 20)

struct live {
	struct runner r1, r2;		/* the saved VM, the restored one */
	char kernel[256];
	struct lu_loaded *l;
	uint8_t *a, *b;			/* records A (r1) and B (r2) */
	size_t alen, blen;
	uint64_t hb_seq, mc_passes;	/* the guest's progress at the save */
};

/* A number out of a VM's device metrics (the "guest" and "serial" keys). */
static int metric(struct runner *r, const char *path, uint64_t *v)
{
	return rec_dev_metric(r->devs, path, v, NULL);
}

static int wait_metric(struct runner *r, const char *path, uint64_t min, int timeout_ms)
{
	uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms, v = 0;

	while (h_now_ms() < deadline) {
		if (!metric(r, path, &v) && v >= min)
			return 0;
		poll(NULL, 0, 5);
	}
	tap_diag("%s stayed at %" PRIu64 ", wanted >= %" PRIu64, path, v, min);
	return -ETIMEDOUT;
}

static int build(struct live *x, struct runner *r, int ram_fd)
{
	char err[256];
	int ret;

	runner_init(r);
	r->cfg = (struct config){
		.kernel = x->kernel, .workload = "heartbeat,memcheck", .memcheck = "4M@16M",
		.ncpus = NCPUS, .mem_bytes = MEM, .serial = SERIAL_NONE,
		.incoming_fd = -1, .incoming_exec_fd = -1,
	};
	ret = runner_build(r, NULL, ram_fd, false, err, sizeof(err));
	if (ret)
		tap_diag("runner_build: %s", err);
	return ret;
}

static int boot(struct runner *r)
{
	char cmdline[512], err[256];
	int ret;

	snprintf(cmdline, sizeof(cmdline), "cpus=%u tsc_khz=%u workload=%s memcheck=%s",
		 NCPUS, r->vm->tsc_khz, r->cfg.workload, r->cfg.memcheck);
	ret = loader_load(&r->vm->mem, r->cfg.kernel, BOOT_AUTO, cmdline, &r->boot, err,
			  sizeof(err));
	if (ret) {
		tap_diag("loader: %s", err);
		return ret;
	}
	ret = vcpu_arch_boot(r->vm->vcpus[0], &r->boot);
	return ret ? ret : vm_start(r->vm);
}

static int read_a(void *ctx, const uint8_t *rec, size_t len, char *msg, size_t cap)
{
	struct live *x = ctx;

	return lu_state_read(&x->r2, rec, len, x->l, msg, cap);
}

/*
 * r1 boots and runs until both vCPUs reported, is paused and written to
 * A; r2 is built on the same RAM, not started. NULL (after a diagnostic)
 * if any of it fails.
 */
static struct live *live_setup(void)
{
	struct live *x = calloc(1, sizeof(*x));
	int fd;

	if (!x)
		return NULL;
	runner_init(&x->r1);	/* a teardown may come before the builds */
	runner_init(&x->r2);
	h_build_path("guest-fw.elf", x->kernel, sizeof(x->kernel));
	x->a = malloc(REC_CAP);
	x->b = malloc(REC_CAP);
	x->l = lu_loaded_create(NCPUS);
	if (!x->a || !x->b || !x->l || build(x, &x->r1, -1) || boot(&x->r1) ||
	    wait_metric(&x->r1, "guest.cpus.1.memcheck_passes", 1, 10000) ||
	    wait_metric(&x->r1, "guest.cpus.0.heartbeats", 3, 10000))
		return x;
	vm_pause(x->r1.vm);
	if (metric(&x->r1, "guest.cpus.0.hb_seq", &x->hb_seq) ||
	    metric(&x->r1, "guest.cpus.1.memcheck_passes", &x->mc_passes) ||
	    lu_state_write(&x->r1, false, x->a, REC_CAP, &x->alen))
		return x;
	fd = dup(x->r1.vm->mem.fd);
	if (fd >= 0 && build(x, &x->r2, fd))
		close(fd);
	return x;
}

static bool live_ok(const struct live *x)
{
	return x && x->alen && x->r2.vm;
}

static void live_teardown(struct live *x)
{
	if (!x)
		return;
	runner_teardown(&x->r2);
	runner_teardown(&x->r1);
	lu_loaded_free(x->l);
	free(x->a);
	free(x->b);
	free(x);
}

/* Payload bytes [from, to) of both sections equal; a diagnostic if not. */
static bool same(const struct lu_section *a, const struct lu_section *b, size_t from,
		 size_t to, const char *what)
{
	size_t i;

	for (i = from; i < to; i++) {
		if (a->payload[i] != b->payload[i]) {
			tap_diag("%s: byte %zu differs (0x%02x, restored 0x%02x)", what, i,
				 a->payload[i], b->payload[i]);
			return false;
		}
	}
	return true;
}

/* Where a vcpu section's LAPIC page starts (docs/state-format.md §9.8). */
static size_t lapic_offset(const struct lu_section *s)
{
	size_t xcrs = 448 + get_le32(s->payload + 444);
	size_t msrs = xcrs + 8 + 12 * (size_t)get_le32(s->payload + xcrs);

	return msrs + 4 + 12 * (size_t)get_le32(s->payload + msrs) + 8;
}

/*
 * B against A. What the restore changes on purpose: the vm section's
 * update count (+1: B is the next update), the PIT channels'
 * count_load_time (KVM_SET_PIT2 reloads each counter now), kvmclock (time
 * went on), the LAPIC timer's current count (TMCCT: KVM computes it from
 * the time left whenever it is read, and the restore restarts the timer)
 * and the report device's restore count (+1). Everything else, the rest
 * of both vCPUs included, comes back byte for byte as it was saved.
 */
static void sections_match(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	struct lu_section sa[REC_MAX_SECTIONS], sb[REC_MAX_SECTIONS];
	unsigned n = rec_sections(a, alen, sa, REC_MAX_SECTIONS), i, c;
	const struct lu_section *x, *y;
	size_t tmcct;

	REQUIRE_EQ(rec_sections(b, blen, sb, REC_MAX_SECTIONS), n);
	REQUIRE_EQ(n, 3 + NCPUS + 3);
	for (i = 0; i < n; i++) {
		x = &sa[i];
		y = &sb[i];
		CHECK_EQ(y->type, x->type);
		CHECK_EQ(y->version, x->version);
		CHECK_EQ(y->instance, x->instance);
		REQUIRE_EQ(y->len, x->len);
		switch (x->type) {
		case LU_SEC_VM:
			CHECK(same(x, y, 0, 18, "vm"));
			CHECK_EQ(get_le64(y->payload + 18), get_le64(x->payload + 18) + 1);
			CHECK(same(x, y, 26, x->len, "vm"));
			break;
		case LU_SEC_IRQCHIP:
			for (c = 0; c < 3; c++)
				CHECK(same(x, y, c ? 248 + 24 * c : 0, 248 + 24 * c + 16,
					   "irqchip"));
			CHECK(same(x, y, 320, 324, "irqchip"));
			break;
		case LU_SEC_CLOCK:
			CHECK(get_le64(y->payload) >= get_le64(x->payload));
			CHECK(same(x, y, 8, 12, "clock flags"));
			break;
		case LU_SEC_VCPU:
			tmcct = lapic_offset(x) + 0x390;
			CHECK(same(x, y, 0, tmcct, "vcpu"));
			CHECK(same(x, y, tmcct + 4, x->len, "vcpu"));
			break;
		default:	/* device: name, then its payload */
			if (!memcmp(x->payload + 2, "report", 6)) {
				CHECK(same(x, y, 0, 8 + 48, "report"));
				CHECK_EQ(get_le64(y->payload + 8 + 48),
					 get_le64(x->payload + 8 + 48) + 1);
				CHECK(same(x, y, 8 + 56, x->len, "report"));
			} else {
				CHECK(same(x, y, 0, x->len, "device"));
			}
		}
	}
}

static void round_trip_and_run(void)
{
	struct live *x = live_setup();
	char msg[REC_MSG_LEN] = "";
	uint64_t v;

	REQUIRE(live_ok(x));
	tap_diag("record A: %zu bytes; guest at heartbeat %" PRIu64 ", memcheck pass %" PRIu64,
		 x->alen, x->hb_seq, x->mc_passes);
	CHECK_ERR(0, lu_state_read(&x->r2, x->a, x->alen, x->l, msg, sizeof(msg)));
	if (msg[0])
		tap_diag("%s", msg);
	REQUIRE_OK(lu_state_apply(&x->r2, x->l));
	CHECK_EQ(x->r2.updates, 1);
	CHECK_EQ(x->r2.boot.mode, BOOT_ELF64);
	REQUIRE_OK(lu_state_write(&x->r2, false, x->b, REC_CAP, &x->blen));
	CHECK_EQ(x->blen, x->alen);
	sections_match(x->a, x->alen, x->b, x->blen);

	/* the restored guest carries on: no heartbeat lost, memory intact */
	CHECK_ERR(0, metric(&x->r2, "guest.cpus.0.hb_seq", &v));
	CHECK_EQ(v, x->hb_seq);
	REQUIRE_OK(vm_start(x->r2.vm));
	CHECK_ERR(0, wait_metric(&x->r2, "guest.cpus.0.hb_seq", x->hb_seq + 5, 10000));
	CHECK_ERR(0, wait_metric(&x->r2, "guest.cpus.1.memcheck_passes", x->mc_passes + 2,
				 10000));
	CHECK_ERR(0, metric(&x->r2, "guest.cpus.0.hb_seq_breaks", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, metric(&x->r2, "guest.cpus.1.memcheck_mismatches", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, metric(&x->r2, "guest.cpus.0.panics", &v));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, metric(&x->r2, "guest.restores", &v));
	CHECK_EQ(v, 1);
	live_teardown(x);
}

static void every_truncation(void)
{
	struct live *x = live_setup();

	REQUIRE(live_ok(x));
	REC_CHECK_TRUNCATIONS(x->a, x->alen, -1, read_a, x);
	live_teardown(x);
}

static void every_bit_flip(void)
{
	struct live *x = live_setup();
	struct lu_section s[REC_MAX_SECTIONS];
	char msg[REC_MSG_LEN];
	struct rec_flips f;
	unsigned i, n;
	size_t len;

	REQUIRE(live_ok(x));
	n = rec_sections(x->a, x->alen, s, REC_MAX_SECTIONS);
	for (i = 0; i < n; i++) {
		f = REC_CHECK_FLIPS(x->a, x->alen, (int)i, true, read_a, NULL, x);
		tap_diag("section %u (%s): %lu flips refused, %lu accepted", i,
			 lu_section_name(s[i].type), f.refused, f.accepted);
		CHECK(f.refused > 0);
	}
	/* and what a few of the checks say (vm, irqchip, clock, vcpu 1) */
	CHECK_ERR(-EBADMSG, rec_flip_one(x->a, x->alen, &s[0], 4, 0, read_a, x, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"vm\" instance 0 field \"mem_bytes\": 67108865, the new VM has 67108864");
	CHECK_ERR(-EBADMSG, rec_flip_one(x->a, x->alen, &s[0], 42, 2, read_a, x, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"vm\" instance 0 field \"boot_mode\": 5 unknown");
	CHECK_EQ(s[1].payload[4] & 8, 0);	/* PIC master priority_add */
	CHECK_ERR(-EBADMSG, rec_flip_one(x->a, x->alen, &s[1], 4, 3, read_a, x, msg,
					 sizeof(msg)));
	CHECK(strstr(msg, "section \"irqchip\" instance 0 field \"pic.priority_add\": "));
	CHECK_ERR(-EBADMSG, rec_flip_one(x->a, x->alen, &s[2], 8, 4, read_a, x, msg,
					 sizeof(msg)));
	CHECK(strstr(msg, "section \"clock\" instance 0 field \"flags\": unknown bits"));
	len = s[4].len;
	CHECK_EQ(get_le32(s[4].payload + len - 72), 0);	/* mp_state: running */
	CHECK_ERR(-EBADMSG, rec_flip_one(x->a, x->alen, &s[4], len - 72, 4, read_a, x, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"vcpu\" instance 1 field \"mp_state\": 16 unknown");
	CHECK_ERR(-EBADMSG, rec_flip_one(x->a, x->alen, &s[4], 380, 4, read_a, x, msg,
					 sizeof(msg)));
	CHECK(strstr(msg, "section \"vcpu\" instance 1 field \"cr8\": "));
	/* the record itself is still good */
	CHECK_ERR(0, read_a(x, x->a, x->alen, msg, sizeof(msg)));
	live_teardown(x);
}

static const struct tap_case cases[] = {
	TAP_CASE(round_trip_and_run),
	TAP_CASE(every_truncation),
	TAP_CASE(every_bit_flip),
};

int main(int argc, char **argv)
{
	h_require_kvm();
	log_set_level(LOG_ERR);
	crc32c_init();
	if (vcpu_init_signals())
		tap_bail("vcpu_init_signals failed");
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
