// SPDX-License-Identifier: MIT
/*
 * test_lu_oldrec.c: records an older luvmm wrote, loaded by today's code.
 *
 * tests/data/old-c32b005-prepare.bin and old-c32b005-state.bin were
 * written by commit c32b005 during an exec-mode update of a 2-vCPU
 * guest-fw VM (tests/data/README.md: how, and how to make them again).
 * That commit wrote the config section at version 1 (no "device") and the
 * report device section at version 1 (no DMA state); today's readers know
 * version 2 of both and must give the missing fields their defaults.
 *
 * The prepare record goes through lu_prepare_read() with fds of the kinds
 * its handoff table names. The state record goes through lu_state_read(),
 * the new VMM's loader, against a VM of the same shape assembled without
 * KVM: the decoders only compare against the VM's numbers (vCPU count,
 * RAM size, TSC rate, XSAVE size) and decode into buffers the vCPUs and
 * devices own, so no ioctl is involved until the apply step, which is not
 * run here. Then every truncation and every bit flip of every section.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../vmm/config.h"
#include "../vmm/devices/devices.h"
#include "../vmm/devices/report.h"
#include "../vmm/json.h"
#include "../vmm/liveupdate/handoff.h"
#include "../vmm/liveupdate/record.h"
#include "../vmm/log.h"
#include "../vmm/run.h"
#include "../vmm/vcpu.h"
#include "../vmm/vcpu_x86.h"
#include "../vmm/vm.h"
#include "lu_rec.h"

#define PREP_FILE	"old-c32b005-prepare.bin"
#define STATE_FILE	"old-c32b005-state.bin"

/* What the generating run was (tests/data/make-old-records.sh). */
#define OLD_DIR		"/tmp/luvmm-oldrec"
#define OLD_NCPUS	2
#define OLD_MEM		(64ULL << 20)
#define OLD_PID		27995
#define OLD_CREATED_NS	10120006199050ULL
#define OLD_HELLO_NS	10120146552614ULL
/* The generating host's numbers: the reading VM must match them. */
#define OLD_TSC_KHZ	2445404
#define OLD_XSAVE_SIZE	4096
/* guest-fw as that commit built it: loaded at [0x100000, 0x25600c) */
#define FW_LO		0x100000
#define FW_HI		0x25600c

/* The handoff table of an exec-mode update, in order. */
static const struct {
	const char *name;
	uint8_t kind;
} old_table[] = {
	{ "ram", HK_MEMFD }, { "state", HK_MEMFD }, { "api", HK_SOCKET },
	{ "serial-out", HK_FILE }, { "report-log", HK_FILE },
	{ "ctl-reply", HK_SOCKET }, { "old-exe", HK_FILE }, { "guardian", HK_FILE },
};
#define OLD_NFDS	ARRAY_SIZE(old_table)

/* ---- the files ----------------------------------------------------------- */

/* tests/data: $LUVMM_TEST_DATA, next to $LUVMM_BUILD, or from this binary
 * (<root>/<build>/tests/test_lu_oldrec). */
static void data_path(const char *name, char *buf, size_t cap)
{
	const char *env = getenv("LUVMM_TEST_DATA"), *build = getenv("LUVMM_BUILD");
	char exe[4096], tmp[4096];
	ssize_t n;

	if (env) {
		snprintf(buf, cap, "%s/%s", env, name);
		return;
	}
	if (build) {
		snprintf(tmp, sizeof(tmp), "%s", build);
		snprintf(buf, cap, "%s/tests/data/%s", dirname(tmp), name);
		if (!access(buf, R_OK))
			return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(buf, cap, "%s/../../tests/data/%s", dirname(exe), name);
		if (!access(buf, R_OK))
			return;
	}
	snprintf(buf, cap, "tests/data/%s", name);
}

/* The whole file (malloc'd); bails if it cannot be read. */
static uint8_t *load(const char *name, size_t *len)
{
	char path[4096];
	uint8_t *buf = malloc(1 << 20);
	FILE *f;

	data_path(name, path, sizeof(path));
	f = fopen(path, "rb");
	if (!buf || !f)
		tap_bail("cannot read %s (set LUVMM_TEST_DATA to tests/data)", path);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* ---- the prepare record --------------------------------------------------- */

struct prep {
	int fds[OLD_NFDS];
	struct lu_config_store cs, cs0;		/* decoded; the first decode */
	struct handoff h, h0;
	struct lu_update_info u, u0;
};

static void prep_open_fds(struct prep *p)
{
	int sv[2], i;

	p->fds[0] = memfd_create("ram", MFD_CLOEXEC);
	p->fds[1] = memfd_create("state", MFD_CLOEXEC);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		tap_bail("socketpair: %s", strerror(errno));
	p->fds[2] = sv[0];
	p->fds[5] = sv[1];
	for (i = 3; i < (int)OLD_NFDS; i++)
		if (i != 5)
			p->fds[i] = open("/dev/null", O_WRONLY | O_CLOEXEC);
	for (i = 0; i < (int)OLD_NFDS; i++)
		if (p->fds[i] < 0)
			tap_bail("cannot open the handoff fds");
}

static void prep_close_fds(struct prep *p)
{
	unsigned i;

	for (i = 0; i < OLD_NFDS; i++)
		close(p->fds[i]);
}

static int prep_decode(void *ctx, const uint8_t *rec, size_t len, char *msg, size_t cap)
{
	struct prep *p = ctx;

	return lu_prepare_read(rec, len, &p->cs, &p->h, p->fds, OLD_NFDS, &p->u, msg, cap);
}

static bool prep_changed(void *ctx, const struct lu_section *sec, size_t off)
{
	struct prep *p = ctx;
	unsigned i;

	(void)off;
	switch (sec->type) {
	case LU_SEC_CONFIG:
		return !config_eq(&p->cs.cfg, &p->cs0.cfg);
	case LU_SEC_HANDOFF:
		for (i = 0; i < p->h.n; i++)
			if (strcmp(p->h.e[i].name, p->h0.e[i].name) ||
			    p->h.e[i].kind != p->h0.e[i].kind)
				return true;
		return p->h.n != p->h0.n;
	default:
		return memcmp(&p->u, &p->u0, sizeof(p->u)) != 0;
	}
}

/* A copy of a config store whose strings point into the copy. */
static void store_copy(struct lu_config_store *dst, const struct lu_config_store *src)
{
	*dst = *src;
#define REBASE(f) dst->cfg.f = src->cfg.f ? dst->f : NULL;
	REBASE(kernel) REBASE(cmdline) REBASE(workload) REBASE(memcheck)
	REBASE(serial_path) REBASE(api_path) REBASE(report_log) REBASE(device)
#undef REBASE
}

/* Decode the untouched record once: the reference for prep_changed(). */
static struct prep *prep_setup(uint8_t **rec, size_t *len)
{
	struct prep *p = calloc(1, sizeof(*p));
	char msg[REC_MSG_LEN];

	if (!p)
		tap_bail("out of memory");
	*rec = load(PREP_FILE, len);
	prep_open_fds(p);
	if (prep_decode(p, *rec, *len, msg, sizeof(msg)))
		tap_bail("the old prepare record does not load: %s", msg);
	store_copy(&p->cs0, &p->cs);
	p->h0 = p->h;
	p->u0 = p->u;
	return p;
}

static void prep_teardown(struct prep *p, uint8_t *rec)
{
	prep_close_fds(p);
	free(p);
	free(rec);
}

static void old_prepare_record_loads(void)
{
	struct prep *p = calloc(1, sizeof(*p));
	const struct config *c = &p->cs.cfg;
	char msg[REC_MSG_LEN];
	uint8_t *rec;
	size_t len;
	unsigned i;

	REQUIRE(p);
	rec = load(PREP_FILE, &len);
	CHECK_EQ(len, 392);
	prep_open_fds(p);
	CHECK_ERR(0, prep_decode(p, rec, len, msg, sizeof(msg)));
	CHECK_STR(c->kernel, OLD_DIR "/guest-fw.elf");
	CHECK(c->cmdline == NULL);
	CHECK_STR(c->workload, "heartbeat,memcheck");
	CHECK_STR(c->memcheck, "4M@16M");
	CHECK_EQ(c->boot, BOOT_AUTO);
	CHECK_EQ(c->ncpus, OLD_NCPUS);
	CHECK_EQ(c->mem_bytes, OLD_MEM);
	CHECK_EQ(c->hugetlb, false);
	CHECK_EQ(c->serial, SERIAL_FILE);
	CHECK_STR(c->serial_path, OLD_DIR "/serial.log");
	CHECK_STR(c->api_path, OLD_DIR "/api.sock");
	CHECK_STR(c->report_log, OLD_DIR "/reports.jsonl");
	CHECK_EQ(c->verbose, 0);
	/* config version 1 has no "device": the default is none */
	CHECK(c->device == NULL);
	CHECK_EQ(p->cs.device[0], '\0');

	REQUIRE_EQ(p->h.n, OLD_NFDS);
	for (i = 0; i < OLD_NFDS; i++) {
		CHECK_STR(p->h.e[i].name, old_table[i].name);
		CHECK_EQ(p->h.e[i].kind, old_table[i].kind);
		CHECK_EQ(p->h.e[i].fd, p->fds[i]);
	}
	CHECK_EQ(p->u.mode, 1);		/* exec */
	CHECK_EQ(p->u.old_pid, OLD_PID);
	CHECK_EQ(p->u.updates, 0);
	CHECK_EQ(p->u.state_offset, 65536);
	CHECK_EQ(p->u.state_cap, 1015808);
	CHECK_EQ(p->u.created_ns, OLD_CREATED_NS);
	CHECK_EQ(p->u.t_hello_ns, OLD_HELLO_NS);
	prep_teardown(p, rec);	/* h owns the fds now: they are the same ones */
}

static void old_prepare_record_truncations(void)
{
	uint8_t *rec;
	size_t len;
	struct prep *p = prep_setup(&rec, &len);

	REC_CHECK_TRUNCATIONS(rec, len, -1, prep_decode, p);
	prep_teardown(p, rec);
}

static void old_prepare_record_bit_flips(void)
{
	struct lu_section s[REC_MAX_SECTIONS];
	char msg[REC_MSG_LEN];
	struct rec_flips f;
	uint8_t *rec;
	size_t len;
	struct prep *p = prep_setup(&rec, &len);
	unsigned i;

	/* the CRC catches every one */
	f = REC_CHECK_FLIPS(rec, len, -1, false, prep_decode, NULL, p);
	CHECK_EQ(f.accepted, 0);
	CHECK_EQ(f.refused, 8 * (172 + 83 + 45));
	/* re-sealed, each section's validation answers */
	REQUIRE_EQ(rec_sections(rec, len, s, REC_MAX_SECTIONS), 3);
	for (i = 0; i < 3; i++) {
		f = REC_CHECK_FLIPS(rec, len, (int)i, true, prep_decode, prep_changed, p);
		tap_diag("%s: %lu flips refused, %lu accepted", lu_section_name(s[i].type),
			 f.refused, f.accepted);
		CHECK(f.refused > 0);
		CHECK(f.accepted > 0);
	}
	/* config: boot at 2 + 30 + 2 + 0 + 2 + 18 + 2 + 6 = 62 */
	CHECK_EQ(s[0].payload[62], BOOT_AUTO);
	CHECK_ERR(-EBADMSG, rec_flip_one(rec, len, &s[0], 62, 2, prep_decode, p, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"config\" instance 0 field \"boot\": 4 unknown");
	/* handoff: the kind of "ram" (after count and the 5-byte name) */
	CHECK_EQ(s[1].payload[9], HK_MEMFD);
	CHECK_ERR(-EBADMSG, rec_flip_one(rec, len, &s[1], 9, 1, prep_decode, p, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"handoff\" instance 0 field \"kind\": entry 0 (ram): fd is not a socket");
	/* update: state_offset no longer page aligned */
	CHECK_ERR(-EBADMSG, rec_flip_one(rec, len, &s[2], 13, 0, prep_decode, p, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"update\" instance 0 field \"state_cap\": bad state area");
	prep_teardown(p, rec);
}

/* ---- the state record: a VM of the old shape, without KVM ----------------- */

struct fake {
	struct runner r;
	struct vm vm;
	struct vcpu vcpu[OLD_NCPUS];
	struct vcpu_arch arch[OLD_NCPUS];
	struct vcpu *vcpus[OLD_NCPUS];
	struct lu_loaded *l;
	struct lu_vm_info vm0;		/* the first decode's vm section */
};

static struct fake *fake_create(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct dev_env env;
	unsigned i;

	if (!f)
		tap_bail("out of memory");
	runner_init(&f->r);
	f->r.cfg.serial = SERIAL_NONE;
	f->r.cfg.ncpus = OLD_NCPUS;
	f->r.cfg.mem_bytes = OLD_MEM;
	f->r.cfg.incoming_fd = f->r.cfg.incoming_exec_fd = -1;
	f->vm.kvm_fd = f->vm.vm_fd = f->vm.event_fd = f->vm.mem.fd = -1;
	f->vm.ncpus = OLD_NCPUS;
	f->vm.vcpus = f->vcpus;
	f->vm.mem.size = OLD_MEM;
	f->vm.tsc_khz = OLD_TSC_KHZ;
	f->vm.xsave_size = OLD_XSAVE_SIZE;
	f->vm.msrs = calloc(1, sizeof(*f->vm.msrs));
	if (!f->vm.msrs || iobus_init(&f->vm.pio, "pio") || iobus_init(&f->vm.mmio, "mmio"))
		tap_bail("fake VM");
	for (i = 0; i < OLD_NCPUS; i++) {
		f->vcpu[i].vm = &f->vm;
		f->vcpu[i].id = i;
		f->vcpu[i].fd = -1;
		f->vcpu[i].arch = &f->arch[i];
		f->vcpus[i] = &f->vcpu[i];
		if (vcpu_arch_alloc_buffers(&f->vcpu[i]))
			tap_bail("vCPU buffers");
	}
	env = (struct dev_env){ .vm = &f->vm, .cfg = &f->r.cfg };
	if (devices_create(&env, &f->r.devs))
		tap_bail("devices on the fake VM");
	f->r.vm = &f->vm;
	f->l = lu_loaded_create(OLD_NCPUS);
	if (!f->l)
		tap_bail("out of memory");
	return f;
}

static void fake_destroy(struct fake *f)
{
	unsigned i;

	lu_loaded_free(f->l);
	devices_destroy(f->r.devs);
	for (i = 0; i < OLD_NCPUS; i++)
		vcpu_arch_free_buffers(&f->vcpu[i]);
	free(f->vm.msrs);
	iobus_fini(&f->vm.pio);
	iobus_fini(&f->vm.mmio);
	free(f);
}

static int state_decode(void *ctx, const uint8_t *rec, size_t len, char *msg, size_t cap)
{
	struct fake *f = ctx;

	return lu_state_read(&f->r, rec, len, f->l, msg, cap);
}

static bool state_changed(void *ctx, const struct lu_section *sec, size_t off)
{
	struct fake *f = ctx;

	(void)off;
	/* only the vm section's result is visible here; the others decode
	 * into the vCPUs' and the chips' private buffers */
	if (sec->type != LU_SEC_VM)
		return true;
	return memcmp(&f->l->vm, &f->vm0, sizeof(f->vm0)) != 0;
}

static struct fake *state_setup(uint8_t **rec, size_t *len)
{
	struct fake *f = fake_create();
	char msg[REC_MSG_LEN];

	*rec = load(STATE_FILE, len);
	if (state_decode(f, *rec, *len, msg, sizeof(msg)))
		tap_bail("the old state record does not load: %s", msg);
	f->vm0 = f->l->vm;
	return f;
}

static void old_state_record_loads(void)
{
	struct lu_section s[REC_MAX_SECTIONS];
	static const struct {
		uint32_t type;
		uint16_t version;
		uint32_t len;
	} want[] = {
		{ LU_SEC_VM, 1, 43 }, { LU_SEC_IRQCHIP, 1, 324 }, { LU_SEC_CLOCK, 1, 28 },
		{ LU_SEC_VCPU, 1, 6177 }, { LU_SEC_VCPU, 1, 6177 },
		{ LU_SEC_DEVICE, 1, 46 }, { LU_SEC_DEVICE, 1, 268 },
	};
	uint64_t gpa[6], v;
	bool null;
	uint8_t *rec;
	size_t len;
	struct fake *f = state_setup(&rec, &len);
	const struct lu_vm_info *vm = &f->l->vm;
	unsigned i, n;

	CHECK_EQ(len, 13240);
	n = rec_sections(rec, len, s, REC_MAX_SECTIONS);
	REQUIRE_EQ(n, ARRAY_SIZE(want));
	for (i = 0; i < n; i++) {
		CHECK_EQ(s[i].type, want[i].type);
		CHECK_EQ(s[i].version, want[i].version);
		CHECK_EQ(s[i].len, want[i].len);
		CHECK_EQ(s[i].flags, 0);
	}
	CHECK_EQ(s[4].instance, 1);
	/* no passthrough section: that commit had no such device, and today's
	 * loader accepts the record without it (the device stays fresh) */

	CHECK_EQ(vm->ncpus, OLD_NCPUS);
	CHECK_EQ(vm->mem_bytes, OLD_MEM);
	CHECK_EQ(vm->hugetlb, 0);
	CHECK_EQ(vm->tsc_khz, OLD_TSC_KHZ);
	CHECK_EQ(vm->paused, 0);
	CHECK_EQ(vm->updates, 1);
	CHECK_EQ(vm->created_ns, OLD_CREATED_NS);
	CHECK_EQ(vm->paused_total_ns, 0);
	CHECK_EQ(vm->boot_mode, BOOT_ELF64);
	for (i = 0; i < OLD_NCPUS; i++) {
		REQUIRE(f->l->vcpus[i] != NULL);
		CHECK_EQ(vcpu_state_hot_gpas(f->l->vcpus[i], gpa, 6), 6);
		tap_diag("vcpu%u: rip 0x%" PRIx64 " rsp 0x%" PRIx64, i, gpa[0], gpa[1]);
		CHECK(gpa[0] >= FW_LO && gpa[0] < FW_HI);	/* in guest-fw */
		CHECK(gpa[1] >= FW_LO && gpa[1] < FW_HI);	/* its stacks */
	}
	CHECK_EQ(gpa[0], 0x102e86);	/* vCPU 1's rip as written */

	/* the devices' staged state, applied: what the guest would see */
	devices_commit(f->r.devs);
	CHECK_ERR(0, rec_dev_metric(f->r.devs, "serial.tx_bytes", &v, &null));
	CHECK_EQ(v, 311);
	CHECK_ERR(0, rec_dev_metric(f->r.devs, "guest.reports", &v, &null));
	CHECK_EQ(v, 116);
	CHECK_ERR(0, rec_dev_metric(f->r.devs, "guest.restores", &v, &null));
	CHECK_EQ(v, 1);		/* 0 written, + this restore */
	CHECK_ERR(0, rec_dev_metric(f->r.devs, "guest.cpus.1.memcheck_passes", &v, &null));
	CHECK_EQ(v, 55);
	CHECK_ERR(0, rec_dev_metric(f->r.devs, "guest.cpus.0.hb_seq", &v, &null));
	CHECK_EQ(v, 29);
	/* report version 1 has no DMA state: no DMA vCPU, counters 0 */
	CHECK_ERR(0, rec_dev_metric(f->r.devs, "guest.dma.cpu", &v, &null));
	CHECK(null);
	CHECK_ERR(0, rec_dev_metric(f->r.devs, "guest.dma.jobs", &v, &null));
	CHECK_EQ(v, 0);
	CHECK_ERR(0, rec_dev_metric(f->r.devs, "guest.dma.reports", &v, &null));
	CHECK_EQ(v, 0);
	fake_destroy(f);
	free(rec);
}

/* The report section on its own, through the device's decoder. */
static void old_report_v1_loads_without_dma(void)
{
	struct lu_section s[REC_MAX_SECTIONS];
	struct report_dev d;
	struct lu_reader r;
	struct lu_dec dec;
	char name[32];
	uint8_t *rec;
	size_t len;

	rec = load(STATE_FILE, &len);
	REQUIRE_EQ(rec_sections(rec, len, s, REC_MAX_SECTIONS), 7);
	REQUIRE_OK(lu_stream_open(&r, rec, len, len));
	REQUIRE_OK(report_init(&d, NULL, OLD_NCPUS, OLD_TSC_KHZ, -1));
	/* a DMA state from before, which the version 1 section must clear */
	d.staged_dma.cpu = 1;
	d.staged_dma.jobs = 99;
	lu_dec_init(&dec, &r, &s[6]);
	CHECK_ERR(0, lu_get_str(&dec, "name", name, sizeof(name)));
	CHECK_STR(name, "report");
	CHECK_EQ(dec.version, 1);
	CHECK_ERR(0, report_load(&d, &dec));
	CHECK_EQ(d.staged_dma.cpu, UINT32_MAX);
	CHECK_EQ(d.staged_dma.jobs, 0);
	CHECK_EQ(d.staged_dma.reports, 0);
	CHECK_EQ(d.staged_counts[0], 116);	/* reports */
	CHECK_EQ(d.staged_counts[2], 5);	/* stages */
	CHECK_EQ(d.staged_counts[5], 2);	/* cpus_online */
	REQUIRE(d.staged != NULL);
	CHECK_EQ(d.staged[0].workload, LUVMM_WORKLOAD_HEARTBEAT);
	CHECK_EQ(d.staged[1].workload, LUVMM_WORKLOAD_MEMCHECK);
	CHECK_EQ(d.staged[1].mc_base, 16ULL << 20);
	CHECK_EQ(d.staged[1].mc_size, 4ULL << 20);
	CHECK_EQ(d.staged[1].mc_mismatches, 0);
	report_commit(&d);
	CHECK_EQ(d.dma.cpu, UINT32_MAX);
	CHECK_EQ(d.restores, 1);
	report_fini(&d);
	free(rec);
}

/*
 * lu_state_read() starts afresh each time: a record read but not applied
 * (the caller gave up after the read) leaves nothing behind. It used to
 * leave the devices' staged flags set, and the next read of the same
 * record failed with 'device "serial" appears twice'.
 */
static void state_read_twice(void)
{
	char msg[REC_MSG_LEN] = "";
	uint8_t *rec;
	size_t len;
	struct fake *f = state_setup(&rec, &len);

	CHECK_ERR(0, state_decode(f, rec, len, msg, sizeof(msg)));
	CHECK_STR(msg, "");
	CHECK_EQ(f->l->vm.updates, 1);
	fake_destroy(f);
	free(rec);
}

static void old_state_record_truncations(void)
{
	uint8_t *rec;
	size_t len;
	struct fake *f = state_setup(&rec, &len);

	REC_CHECK_TRUNCATIONS(rec, len, -1, state_decode, f);
	fake_destroy(f);
	free(rec);
}

static void old_state_record_bit_flips(void)
{
	struct lu_section s[REC_MAX_SECTIONS];
	static const char *const names[] = {
		"vm", "irqchip", "clock", "vcpu 0", "vcpu 1", "serial", "report",
	};
	char msg[REC_MSG_LEN];
	struct rec_flips f;
	uint8_t *rec;
	size_t len;
	struct fake *fk = state_setup(&rec, &len);
	unsigned i, n = rec_sections(rec, len, s, REC_MAX_SECTIONS);

	REQUIRE_EQ(n, ARRAY_SIZE(names));
	for (i = 0; i < n; i++) {
		f = REC_CHECK_FLIPS(rec, len, (int)i, false, state_decode, NULL, fk);
		CHECK_EQ(f.refused, 8ULL * s[i].len);
		f = REC_CHECK_FLIPS(rec, len, (int)i, true, state_decode, state_changed, fk);
		tap_diag("%s: %lu flips refused, %lu accepted", names[i], f.refused,
			 f.accepted);
		CHECK(f.refused > 0);
		CHECK(f.accepted > 0);
	}
	/* a few validated fields, with the message the loader gives */
	CHECK_ERR(-EBADMSG, rec_flip_one(rec, len, &s[0], 0, 0, state_decode, fk, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"vm\" instance 0 field \"ncpus\": 3, the new VM has 2");
	CHECK_ERR(-EBADMSG, rec_flip_one(rec, len, &s[1], 52, 0, state_decode, fk, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"irqchip\" instance 0 field \"ioapic.pins\": 25, expected 24");
	CHECK_ERR(-EBADMSG, rec_flip_one(rec, len, &s[2], 8, 0, state_decode, fk, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"clock\" instance 0 field \"flags\": unknown bits 0xf");
	/* vCPU 1: xsave.size at 444 */
	CHECK_ERR(-EBADMSG, rec_flip_one(rec, len, &s[4], 444, 0, state_decode, fk, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"vcpu\" instance 1 field \"xsave.size\": 4097 bytes, this host's KVM uses 4096");
	/* the device name: "serial" -> "serian" */
	CHECK_ERR(-EBADMSG, rec_flip_one(rec, len, &s[5], 7, 3, state_decode, fk, msg,
					 sizeof(msg)));
	CHECK_STR(msg, "section \"device\" instance 0 field \"name\": no device \"seriad\" with state here");
	/* report: ncpus (after the name and 7 counters) */
	CHECK_ERR(-EBADMSG, rec_flip_one(rec, len, &s[6], 8 + 56, 0, state_decode, fk, msg,
					 sizeof(msg)));
	CHECK(strstr(msg, "section \"device\" instance 0 field \"ncpus\""));
	fake_destroy(fk);
	free(rec);
}

static const struct tap_case cases[] = {
	TAP_CASE(old_prepare_record_loads),
	TAP_CASE(old_prepare_record_truncations),
	TAP_CASE(old_prepare_record_bit_flips),
	TAP_CASE(old_state_record_loads),
	TAP_CASE(old_report_v1_loads_without_dma),
	TAP_CASE(state_read_twice),
	TAP_CASE(old_state_record_truncations),
	TAP_CASE(old_state_record_bit_flips),
};

int main(int argc, char **argv)
{
	log_set_level(LOG_ERR);
	crc32c_init();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
