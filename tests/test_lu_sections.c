// SPDX-License-Identifier: MIT
/*
 * test_lu_sections.c: the sections of both live-update records whose
 * writer and reader run without KVM, through today's code: config,
 * handoff and update (the prepare record: lu_prepare_write() and
 * lu_prepare_read()), and the device sections serial, report and
 * passthrough (each device's save and load ops, framed the way
 * devices_save() and devices_load() frame them).
 *
 * For each: encode -> decode -> equal, over a table of variants (empty,
 * typical, every field at its limit); every truncation of the payload
 * refused with -EBADMSG naming the section and the truncated field; every
 * single-bit flip, CRC re-sealed, refused naming the section or decoded
 * to a value that differs from the original (the validators accepted it,
 * and no payload bit was ignored); and the messages of the checks that
 * guard each field. The vm, irqchip, clock and vcpu sections need a KVM
 * VM to be written: tests/integration/test_state_live.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../vmm/config.h"
#include "../vmm/devices/devices.h"
#include "../vmm/devices/passthrough.h"
#include "../vmm/devices/report.h"
#include "../vmm/devices/serial.h"
#include "../vmm/liveupdate/handoff.h"
#include "../vmm/liveupdate/record.h"
#include "../vmm/log.h"
#include "../vmm/run.h"
#include "lu_rec.h"

#define PREP_CAP	(64 << 10)
#define DEV_CAP		(512 << 10)

/* ---- the prepare record: config, handoff, update --------------------------- */

struct prep {
	struct runner r;		/* only r.cfg is written */
	struct handoff h;		/* names and kinds to write */
	struct lu_update_info u;
	int fds[HANDOFF_MAX_FDS];	/* the fds h names, in order */
	unsigned nfds;
	int open[8];			/* the fds to close */
	unsigned nopen;
	/* decoded */
	struct lu_config_store cs;
	struct handoff h2;
	struct lu_update_info u2;
	/* strings of the written config */
	char kernel[CONFIG_PATH_MAX + 1], cmdline[CONFIG_CMDLINE_MAX + 1];
	char workload[CONFIG_WORKLOAD_MAX + 1], memcheck[CONFIG_MEMCHECK_MAX + 1];
	char serial_path[CONFIG_PATH_MAX + 1], api_path[CONFIG_API_PATH_MAX + 1];
	char report_log[CONFIG_PATH_MAX + 1], device[CONFIG_DEVICE_MAX + 1];
	uint8_t rec[PREP_CAP];
	size_t len;
};

static int new_fd(struct prep *p, uint8_t kind)
{
	int sv[2], fd = -1;

	switch (kind) {
	case HK_MEMFD:
		fd = memfd_create("prep", MFD_CLOEXEC);
		break;
	case HK_SOCKET:
		if (!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
			close(sv[1]);
			fd = sv[0];
		}
		break;
	case HK_EVENTFD:
		fd = eventfd(0, EFD_CLOEXEC);
		break;
	default:
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0 || p->nopen == ARRAY_SIZE(p->open))
		tap_bail("cannot open a handoff fd");
	p->open[p->nopen++] = fd;
	return fd;
}

static void add(struct prep *p, const char *name, uint8_t kind)
{
	if (handoff_add(&p->h, name, new_fd(p, kind), (enum handoff_kind)kind))
		tap_bail("handoff_add %s", name);
}

/* Small: one fd, no optional string, every number at its low end. */
static void fill_minimal(struct prep *p)
{
	struct config *c = &p->r.cfg;

	snprintf(p->kernel, sizeof(p->kernel), "k");
	c->kernel = p->kernel;
	c->ncpus = 1;
	c->mem_bytes = 2ULL << 20;
	c->serial = SERIAL_NONE;
	add(p, "ram", HK_MEMFD);
	p->u = (struct lu_update_info){ .state_cap = 4096 };
}

/* What a VM with everything configured sends: every kind of fd. */
static void fill_typical(struct prep *p)
{
	struct config *c = &p->r.cfg;

	snprintf(p->kernel, sizeof(p->kernel), "/boot/guest-fw.elf");
	snprintf(p->cmdline, sizeof(p->cmdline), "gap_log_us=500 poweroff_ms=0");
	snprintf(p->workload, sizeof(p->workload), "heartbeat,memcheck,dma");
	snprintf(p->memcheck, sizeof(p->memcheck), "4M@16M");
	snprintf(p->serial_path, sizeof(p->serial_path), "/var/log/vm.serial");
	snprintf(p->api_path, sizeof(p->api_path), "/run/luvmm/vm.sock");
	snprintf(p->report_log, sizeof(p->report_log), "/var/log/vm.reports");
	snprintf(p->device, sizeof(p->device), "soft,sim=/run/sim.sock,pgsize=4k");
	*c = (struct config){
		.kernel = p->kernel, .cmdline = p->cmdline, .workload = p->workload,
		.memcheck = p->memcheck, .boot = BOOT_MULTIBOOT, .ncpus = 3,
		.mem_bytes = 256ULL << 20, .hugetlb = true, .serial = SERIAL_FILE,
		.serial_path = p->serial_path, .api_path = p->api_path,
		.report_log = p->report_log, .device = p->device, .verbose = 2,
	};
	add(p, "ram", HK_MEMFD);
	add(p, "state", HK_MEMFD);
	add(p, "api", HK_SOCKET);
	add(p, "serial-out", HK_FILE);
	add(p, "pt-irq", HK_EVENTFD);
	add(p, "anything", HK_ANY);
	p->u = (struct lu_update_info){
		.mode = 1, .old_pid = 4242, .updates = 7, .state_offset = 65536,
		.state_cap = 1015808, .created_ns = 123456789, .t_hello_ns = 987654321,
	};
}

/* Every string at its longest, 253 fds, the numbers at their high end. */
static void fill_limits(struct prep *p)
{
	struct config *c = &p->r.cfg;
	char name[32];
	unsigned i;
	int fd;

	memset(p->kernel, 'k', CONFIG_PATH_MAX);
	memset(p->cmdline, 'c', CONFIG_CMDLINE_MAX);
	memset(p->workload, 'w', CONFIG_WORKLOAD_MAX);
	memset(p->memcheck, 'm', CONFIG_MEMCHECK_MAX);
	memset(p->serial_path, 's', CONFIG_PATH_MAX);
	memset(p->api_path, 'a', CONFIG_API_PATH_MAX);
	memset(p->report_log, 'r', CONFIG_PATH_MAX);
	/* a spec config_parse_device() takes, 511 bytes long */
	strcpy(p->device, "soft");
	for (i = 0; i < 45; i++)
		strcat(p->device, ",pgsize=max");
	strcat(p->device, ",sim=/abcdef");
	*c = (struct config){
		.kernel = p->kernel, .cmdline = p->cmdline, .workload = p->workload,
		.memcheck = p->memcheck, .boot = BOOT_ELF64, .ncpus = CONFIG_MAX_CPUS,
		.mem_bytes = UINT64_MAX, .hugetlb = false, .serial = SERIAL_FILE,
		.serial_path = p->serial_path, .api_path = p->api_path,
		.report_log = p->report_log, .device = p->device, .verbose = 15,
	};
	fd = new_fd(p, HK_ANY);
	for (i = 0; i < HANDOFF_MAX_FDS; i++) {
		snprintf(name, sizeof(name), "entry-%03u-%021u", i, i);
		if (handoff_add(&p->h, name, fd, HK_ANY))
			tap_bail("handoff_add %s", name);
	}
	p->u = (struct lu_update_info){
		.mode = 1, .old_pid = UINT32_MAX, .updates = UINT64_MAX,
		.state_offset = UINT64_MAX & ~4095ULL, .state_cap = 1ULL << 30,
		.created_ns = UINT64_MAX, .t_hello_ns = UINT64_MAX,
	};
}

static const struct {
	const char *name;
	void (*fill)(struct prep *p);
} prep_variants[] = {
	{ "minimal", fill_minimal },
	{ "typical", fill_typical },
	{ "limits", fill_limits },
};

static struct prep *prep_create(void (*fill)(struct prep *p))
{
	struct prep *p = calloc(1, sizeof(*p));
	unsigned i;

	if (!p)
		tap_bail("out of memory");
	handoff_init(&p->h);
	p->r.cfg.incoming_fd = p->r.cfg.incoming_exec_fd = -1;
	fill(p);
	for (i = 0; i < p->h.n; i++)
		p->fds[i] = p->h.e[i].fd;
	p->nfds = p->h.n;
	if (lu_prepare_write(&p->r, &p->h, &p->u, p->rec, sizeof(p->rec), &p->len))
		tap_bail("lu_prepare_write failed");
	return p;
}

static void prep_destroy(struct prep *p)
{
	unsigned i;

	for (i = 0; i < p->nopen; i++)
		close(p->open[i]);
	free(p);
}

static int prep_decode(void *ctx, const uint8_t *rec, size_t len, char *msg, size_t cap)
{
	struct prep *p = ctx;

	return lu_prepare_read(rec, len, &p->cs, &p->h2, p->fds, p->nfds, &p->u2, msg, cap);
}

static bool handoff_eq(const struct handoff *a, const struct handoff *b)
{
	unsigned i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->e[i].name, b->e[i].name) || a->e[i].kind != b->e[i].kind ||
		    a->e[i].fd != b->e[i].fd)
			return false;
	return true;
}

static bool update_eq(const struct lu_update_info *a, const struct lu_update_info *b)
{
	return a->mode == b->mode && a->old_pid == b->old_pid && a->updates == b->updates &&
	       a->state_offset == b->state_offset && a->state_cap == b->state_cap &&
	       a->created_ns == b->created_ns && a->t_hello_ns == b->t_hello_ns;
}

static bool prep_changed(void *ctx, const struct lu_section *sec, size_t off)
{
	struct prep *p = ctx;

	(void)off;
	switch (sec->type) {
	case LU_SEC_CONFIG:
		return !config_eq(&p->cs.cfg, &p->r.cfg);
	case LU_SEC_HANDOFF:
		return !handoff_eq(&p->h2, &p->h);
	default:
		return !update_eq(&p->u2, &p->u);
	}
}

static void prepare_round_trip(void)
{
	char msg[REC_MSG_LEN];
	unsigned v;

	for (v = 0; v < ARRAY_SIZE(prep_variants); v++) {
		struct prep *p = prep_create(prep_variants[v].fill);

		tap_diag("%s: prepare record of %zu bytes", prep_variants[v].name, p->len);
		CHECK_ERR(0, prep_decode(p, p->rec, p->len, msg, sizeof(msg)));
		if (!config_eq(&p->cs.cfg, &p->r.cfg))
			tap_fail(__FILE__, __LINE__, "%s: config differs", prep_variants[v].name);
		if (!handoff_eq(&p->h2, &p->h))
			tap_fail(__FILE__, __LINE__, "%s: handoff differs", prep_variants[v].name);
		if (!update_eq(&p->u2, &p->u))
			tap_fail(__FILE__, __LINE__, "%s: update differs", prep_variants[v].name);
		prep_destroy(p);
	}
}

static void prepare_truncations(void)
{
	unsigned v;

	for (v = 0; v < ARRAY_SIZE(prep_variants); v++) {
		struct prep *p = prep_create(prep_variants[v].fill);

		REC_CHECK_TRUNCATIONS(p->rec, p->len, -1, prep_decode, p);
		prep_destroy(p);
	}
}

static void prepare_bit_flips(void)
{
	struct prep *p = prep_create(fill_typical);
	struct rec_flips f;
	unsigned i;

	for (i = 0; i < 3; i++) {
		f = REC_CHECK_FLIPS(p->rec, p->len, (int)i, true, prep_decode, prep_changed, p);
		tap_diag("section %u: %lu flips refused, %lu accepted", i, f.refused, f.accepted);
		CHECK(f.refused > 0);
		CHECK(f.accepted > 0);
	}
	prep_destroy(p);
}

/* Write p's values again (the writer does not validate) and expect the
 * reader to refuse them with exactly want. */
static void expect_refused(struct prep *p, const char *want, const char *file, int line)
{
	char msg[REC_MSG_LEN] = "";
	int ret;

	if (lu_prepare_write(&p->r, &p->h, &p->u, p->rec, sizeof(p->rec), &p->len))
		tap_bail("lu_prepare_write failed");
	ret = prep_decode(p, p->rec, p->len, msg, sizeof(msg));
	if (ret != -EBADMSG || strcmp(msg, want))
		tap_fail(file, line, "expected -EBADMSG \"%s\", got %d \"%s\"", want, ret, msg);
}
#define EXPECT_REFUSED(p, want) expect_refused(p, want, __FILE__, __LINE__)

/* Each check that guards a field of config, handoff and update. */
static void prepare_field_checks(void)
{
	struct prep *p = prep_create(fill_typical);
	const struct config good = p->r.cfg;
	const struct handoff hgood = p->h;
	const struct lu_update_info ugood = p->u;
	struct lu_section s[REC_MAX_SECTIONS];
	char msg[REC_MSG_LEN], *big = malloc(CONFIG_PATH_MAX + 2);

	REQUIRE(big);
	memset(big, 'x', CONFIG_PATH_MAX + 1);
	big[CONFIG_PATH_MAX + 1] = '\0';
#define CFG(field, value, want)						\
	do {								\
		p->r.cfg.field = value;					\
		EXPECT_REFUSED(p, "section \"config\" instance 0 " want);	\
		p->r.cfg = good;					\
	} while (0)
	CFG(boot, 3, "field \"boot\": 3 unknown");
	CFG(ncpus, 0, "field \"ncpus\": 0 outside 1..64");
	CFG(ncpus, 65, "field \"ncpus\": 65 outside 1..64");
	CFG(serial, 4, "field \"serial\": 4 unknown");
	CFG(serial, SERIAL_NONE, "field \"serial_path\": present exactly when serial is a file");
	CFG(serial_path, NULL, "field \"serial_path\": present exactly when serial is a file");
	CFG(verbose, 16, "field \"verbose\": 16 above 15");
	CFG(device, "soft,pgsize=8k", "field \"device\": 'soft,pgsize=8k' is not a device spec");
	CFG(kernel, big, "field \"kernel\": string of 4096 bytes, at most 4095 allowed");
	CFG(api_path, big + CONFIG_PATH_MAX - CONFIG_API_PATH_MAX,
	    "field \"api_path\": string of 108 bytes, at most 107 allowed");
#undef CFG
	free(big);

	strcpy(p->h.e[2].name, "ram");
	EXPECT_REFUSED(p, "section \"handoff\" instance 0 field \"name\": entry 2: bad or duplicate name \"ram\"");
	strcpy(p->h.e[2].name, "a pi");
	EXPECT_REFUSED(p, "section \"handoff\" instance 0 field \"name\": entry 2: bad or duplicate name \"a pi\"");
	p->h = hgood;
	p->h.e[3].kind = 6;
	EXPECT_REFUSED(p, "section \"handoff\" instance 0 field \"kind\": entry 3 (serial-out): kind 6 unknown");
	p->h.e[3].kind = HK_SOCKET;
	EXPECT_REFUSED(p, "section \"handoff\" instance 0 field \"kind\": entry 3 (serial-out): fd is not a socket");
	p->h.e[3].kind = HK_MEMFD;
	EXPECT_REFUSED(p, "section \"handoff\" instance 0 field \"kind\": entry 3 (serial-out): fd is not a memfd");
	p->h = hgood;
	p->nfds--;
	EXPECT_REFUSED(p, "section \"handoff\" instance 0 field \"count\": 6 names for 5 fds");
	p->nfds++;
	/* more entries than one SCM_RIGHTS message carries */
	REQUIRE_OK(lu_prepare_write(&p->r, &p->h, &p->u, p->rec, sizeof(p->rec), &p->len));
	REQUIRE_EQ(rec_sections(p->rec, p->len, s, REC_MAX_SECTIONS), 3);
	put_le32((uint8_t *)s[1].payload, HANDOFF_MAX_FDS + 1);
	rec_reseal(p->rec);
	CHECK_ERR(-EBADMSG, prep_decode(p, p->rec, p->len, msg, sizeof(msg)));
	CHECK_STR(msg, "section \"handoff\" instance 0 field \"count\": count 254 exceeds the maximum 253");

#define UPD(field, value, want)						\
	do {								\
		p->u.field = value;					\
		EXPECT_REFUSED(p, "section \"update\" instance 0 " want);	\
		p->u = ugood;						\
	} while (0)
	UPD(mode, 2, "field \"mode\": 2 unknown");
	UPD(state_offset, 65536 + 512, "field \"state_cap\": bad state area");
	UPD(state_cap, 4095, "field \"state_cap\": bad state area");
	UPD(state_cap, (1ULL << 30) + 1, "field \"state_cap\": bad state area");
#undef UPD
	/* and the good values still load */
	REQUIRE_OK(lu_prepare_write(&p->r, &p->h, &p->u, p->rec, sizeof(p->rec), &p->len));
	CHECK_ERR(0, prep_decode(p, p->rec, p->len, msg, sizeof(msg)));
	prep_destroy(p);
}

/* Each of the three exactly once, nothing else that is not optional. */
static void prepare_section_set(void)
{
	struct prep *p = prep_create(fill_typical);
	struct lu_section s[REC_MAX_SECTIONS];
	static uint8_t out[PREP_CAP];
	char msg[REC_MSG_LEN];
	struct lu_writer w;
	unsigned i, skip;
	size_t len;

	REQUIRE_EQ(rec_sections(p->rec, p->len, s, REC_MAX_SECTIONS), 3);
	for (skip = 0; skip < 4; skip++) {
		lu_writer_init(&w, out, sizeof(out));
		lu_writer_begin(&w);
		for (i = 0; i < 3; i++) {
			if (i == skip)
				continue;
			lu_section_begin(&w, s[i].type, s[i].version, 0, 0);
			lu_put_bytes(&w, s[i].payload, s[i].len);
			lu_section_end(&w);
		}
		if (skip == 3) {	/* config twice */
			lu_section_begin(&w, s[0].type, s[0].version, 0, 0);
			lu_put_bytes(&w, s[0].payload, s[0].len);
			lu_section_end(&w);
		}
		REQUIRE_OK(lu_writer_finish(&w, &len));
		CHECK_ERR(-EBADMSG, prep_decode(p, out, len, msg, sizeof(msg)));
		CHECK_STR(msg, skip == 0 ? "prepare record lacks its config section" :
			  skip == 1 ? "prepare record lacks its handoff section" :
			  skip == 2 ? "prepare record lacks its update section" :
			  "section \"config\" appears twice");
	}
	/* a state-record section in a prepare record */
	lu_writer_init(&w, out, sizeof(out));
	lu_writer_begin(&w);
	for (i = 0; i < 3; i++) {
		lu_section_begin(&w, s[i].type, s[i].version, 0, 0);
		lu_put_bytes(&w, s[i].payload, s[i].len);
		lu_section_end(&w);
	}
	lu_section_begin(&w, LU_SEC_VM, 1, 0, 0);
	lu_section_end(&w);
	REQUIRE_OK(lu_writer_finish(&w, &len));
	CHECK_ERR(-ENOTSUP, prep_decode(p, out, len, msg, sizeof(msg)));
	CHECK_STR(msg, "section \"vm\" instance 0: no loader for this section type");
	prep_destroy(p);
}

/* ---- device sections ---------------------------------------------------------- */

/*
 * A device's section as devices_save() frames it: name, then the device's
 * save op. Decoding as devices_load() does: the name must be the device's
 * (a VMM with other devices says so), then the device's load op.
 */
static size_t dev_record(const struct dev_ops *ops, void *priv, uint8_t *buf, size_t cap)
{
	struct lu_writer w;
	size_t len = 0;

	lu_writer_init(&w, buf, cap);
	lu_writer_begin(&w);
	lu_section_begin(&w, LU_SEC_DEVICE, ops->state_version,
			 ops->state_optional ? LU_SEC_F_OPTIONAL : 0, 0);
	lu_put_str(&w, ops->name);
	ops->save(priv, &w);
	lu_section_end(&w);
	if (lu_writer_finish(&w, &len))
		tap_bail("dev_record: %s does not fit", ops->name);
	return len;
}

struct devctx {
	const struct dev_ops *ops;
	void *priv;		/* decodes into this device's staging copy */
	bool (*changed)(struct devctx *c);
	const void *want;	/* the device that was saved */
};

static int dev_decode(void *ctx, const uint8_t *rec, size_t len, char *msg, size_t cap)
{
	struct devctx *c = ctx;
	struct lu_section sec;
	struct lu_reader r;
	struct lu_dec d;
	char name[32];
	int ret;

	ret = lu_stream_open(&r, rec, len, len);
	if (!ret && lu_stream_next(&r, &sec) != 1)
		ret = -EBADMSG;
	if (!ret) {
		lu_dec_init(&d, &r, &sec);
		lu_get_str(&d, "name", name, sizeof(name));
		if (!d.err && strcmp(name, c->ops->name))
			lu_dec_fail(&d, "name", "no device \"%s\" with state here", name);
		ret = d.err ? d.err : c->ops->load(c->priv, &d);
	}
	snprintf(msg, cap, "%s", lu_reader_msg(&r));
	return ret;
}

static bool dev_changed(void *ctx, const struct lu_section *sec, size_t off)
{
	struct devctx *c = ctx;

	(void)sec;
	/* the name: a flip there that decodes is not this device's section */
	return off < 2 + strlen(c->ops->name) || c->changed(c);
}

/* Round trip, every truncation, every flip of one saved device. */
static void dev_check(struct devctx *c, const char *variant, bool flips)
{
	static uint8_t rec[DEV_CAP];
	char msg[REC_MSG_LEN] = "";
	struct rec_flips f;
	size_t len = dev_record(c->ops, (void *)c->want, rec, sizeof(rec));

	if (dev_decode(c, rec, len, msg, sizeof(msg)) || c->changed(c))
		tap_fail(__FILE__, __LINE__, "%s %s: round trip: \"%s\"", c->ops->name,
			 variant, msg);
	REC_CHECK_TRUNCATIONS(rec, len, 0, dev_decode, c);
	if (flips) {
		f = REC_CHECK_FLIPS(rec, len, 0, true, dev_decode, dev_changed, c);
		tap_diag("%s %s: %zu bytes, %lu flips refused, %lu accepted",
			 c->ops->name, variant, len, f.refused, f.accepted);
		CHECK(f.refused > 0);
		CHECK(f.accepted > 0);
	}
	/* leave the good copy staged, for the caller's commit */
	CHECK_ERR(0, dev_decode(c, rec, len, msg, sizeof(msg)));
}

/* ---- serial ---- */

static bool serial_changed(struct devctx *c)
{
	const struct serial *a = c->priv, *b = c->want;
	const struct serial_regs *x = &a->staged, *y = &b->r;
	unsigned i;

	for (i = 0; i < y->rx_count; i++)
		if (x->rx[i] != y->rx[(y->rx_head + i) % SERIAL_FIFO])
			return true;
	return x->ier != y->ier || x->lcr != y->lcr || x->mcr != y->mcr ||
	       x->lsr_flags != y->lsr_flags || x->msr != y->msr || x->scr != y->scr ||
	       x->dll != y->dll || x->dlm != y->dlm || x->fcr != y->fcr ||
	       x->thri_pending != y->thri_pending || x->irq_level != y->irq_level ||
	       x->rx_count != y->rx_count || x->rx_head != 0 || x->tx_len != y->tx_len ||
	       memcmp(x->tx, y->tx, y->tx_len) || a->staged_tx_bytes != b->tx_bytes ||
	       a->staged_rx_bytes != b->rx_bytes || a->staged_rx_dropped != b->rx_dropped;
}

static void serial_fill(struct serial *s, unsigned variant)
{
	struct serial_regs *r = &s->r;
	unsigned i;

	if (variant == 0)
		return;		/* as after reset */
	*r = (struct serial_regs){
		.ier = 0x0f, .lcr = 0x83, .mcr = 0x1f, .lsr_flags = 0x1e, .msr = 0xb0,
		.scr = 0x5a, .dll = 1, .dlm = 0x80, .fcr = 0xc9, .thri_pending = true,
		.irq_level = true,
	};
	/* the FIFO wraps around its end */
	r->rx_head = 13;
	r->rx_count = variant == 1 ? 7 : SERIAL_FIFO;
	for (i = 0; i < SERIAL_FIFO; i++)
		r->rx[i] = (uint8_t)(0xa0 + i);
	r->tx_len = variant == 1 ? 37 : SERIAL_TXBUF - 1;
	for (i = 0; i < r->tx_len; i++)
		r->tx[i] = (uint8_t)(i * 7);
	s->tx_bytes = 0x1122334455667788ULL;
	s->rx_bytes = 99;
	s->rx_dropped = UINT64_MAX;
}

static void serial_section(void)
{
	static const char *const variants[] = { "reset", "busy", "full" };
	struct serial want, got;
	struct devctx c = { &serial_ops, &got, serial_changed, &want };
	unsigned v;

	for (v = 0; v < ARRAY_SIZE(variants); v++) {
		serial_init(&want, -1, -1);
		serial_init(&got, -1, -1);
		serial_fill(&want, v);
		dev_check(&c, variants[v], v == 1);
		/* commit applies exactly the staged copy, the FIFO from 0 */
		serial_commit(&got);
		CHECK_EQ(got.r.rx_count, want.r.rx_count);
		CHECK_EQ(got.r.rx_head, 0);
		if (want.r.rx_count)
			CHECK_EQ(got.r.rx[0], want.r.rx[want.r.rx_head]);
		CHECK_EQ(got.tx_bytes, want.tx_bytes);
		CHECK_EQ(got.r.tx_len, want.r.tx_len);
		pthread_mutex_destroy(&want.lock);
		pthread_mutex_destroy(&got.lock);
	}
}

static void serial_field_checks(void)
{
	static uint8_t rec[DEV_CAP];
	static const struct {
		unsigned off;		/* in the payload, after the 8-byte name */
		uint8_t value;
		const char *msg;
	} t[] = {
		{ 0, 0x10, "field \"ier\": reserved bits 0x10" },
		{ 2, 0x20, "field \"mcr\": reserved bits 0x20" },
		{ 3, 0x01, "field \"lsr_flags\": 0x1 is not an error bit" },
		{ 8, 0x02, "field \"fcr\": reserved bits 0x2" },
		{ 9, 2, "field \"thri_pending\": boolean is 2, not 0 or 1" },
		{ 10, 2, "field \"irq_level\": boolean is 2, not 0 or 1" },
		{ 11, 17, "field \"rx_count\": 17 above 16" },
	};
	struct serial want, got;
	struct devctx c = { &serial_ops, &got, serial_changed, &want };
	char msg[REC_MSG_LEN], full[REC_MSG_LEN];
	struct lu_section s;
	size_t len;
	unsigned i;

	serial_init(&want, -1, -1);
	serial_init(&got, -1, -1);
	for (i = 0; i < ARRAY_SIZE(t); i++) {
		len = dev_record(&serial_ops, &want, rec, sizeof(rec));
		REQUIRE_EQ(rec_sections(rec, len, &s, 1), 1);
		((uint8_t *)s.payload)[8 + t[i].off] = t[i].value;
		rec_reseal(rec);
		snprintf(full, sizeof(full), "section \"device\" instance 0 %s", t[i].msg);
		CHECK_ERR(-EBADMSG, dev_decode(&c, rec, len, msg, sizeof(msg)));
		CHECK_STR(msg, full);
	}
	/* tx_len: the buffer holds 4095 */
	want.r.tx_len = SERIAL_TXBUF;
	len = dev_record(&serial_ops, &want, rec, sizeof(rec));
	CHECK_ERR(-EBADMSG, dev_decode(&c, rec, len, msg, sizeof(msg)));
	CHECK_STR(msg, "section \"device\" instance 0 field \"tx_len\": 4096 bytes, the buffer holds 4095");
	pthread_mutex_destroy(&want.lock);
	pthread_mutex_destroy(&got.lock);
}

/* ---- report ---- */

#define CPU_EQ(x, y) ((x)->workload == (y)->workload && (x)->hb_seq == (y)->hb_seq && \
	(x)->hb_gap_tsc == (y)->hb_gap_tsc && (x)->hb_maxgap_tsc == (y)->hb_maxgap_tsc && \
	(x)->hb_seq_breaks == (y)->hb_seq_breaks && (x)->heartbeats == (y)->heartbeats && \
	(x)->ticks == (y)->ticks && (x)->mc_passes == (y)->mc_passes && \
	(x)->mc_mismatches == (y)->mc_mismatches && (x)->mc_base == (y)->mc_base && \
	(x)->mc_size == (y)->mc_size && (x)->last_mismatch_gpa == (y)->last_mismatch_gpa && \
	(x)->panics == (y)->panics)

static bool report_changed(struct devctx *c)
{
	const struct report_dev *a = c->priv, *b = c->want;
	const uint64_t counts[7] = { b->reports, b->bad_reports, b->stages, b->last_stage,
				     b->boots, b->cpus_online, b->restores };
	unsigned i;

	if (!a->staged || memcmp(a->staged_counts, counts, sizeof(counts)) ||
	    memcmp(&a->staged_dma, &b->dma, sizeof(b->dma)))
		return true;
	for (i = 0; i < b->ncpus; i++)
		if (!CPU_EQ(&a->staged[i], &b->cpu[i]))
			return true;
	return false;
}

static void report_fill(struct report_dev *d, unsigned variant)
{
	unsigned i;

	if (variant == 0)
		return;		/* nothing reported yet */
	d->reports = 1000;
	d->bad_reports = 3;
	d->stages = 9;
	d->last_stage = 8;
	d->boots = 1;
	d->cpus_online = d->ncpus;
	d->restores = 41;
	for (i = 0; i < d->ncpus; i++) {
		struct report_cpu *c = &d->cpu[i];

		c->workload = i % LUVMM_WORKLOAD_MAX;
		c->hb_seq = 100 + i;
		c->hb_gap_tsc = 1ULL << 40;
		c->hb_maxgap_tsc = (1ULL << 41) + i;
		c->hb_seq_breaks = i;
		c->heartbeats = 100 + i;
		c->ticks = 5000 * i;
		c->mc_passes = 7;
		c->mc_mismatches = 0;
		c->mc_base = 16ULL << 20;
		c->mc_size = 4ULL << 20;
		c->last_mismatch_gpa = UINT64_MAX;
		c->panics = 0;
	}
	if (variant == 2)
		d->cpu[d->ncpus - 1].workload = UINT32_MAX;	/* never reported */
	d->dma = (struct report_dma){
		.cpu = d->ncpus - 1, .reports = 5, .base = 32ULL << 20, .size = 16ULL << 20,
		.jobs = 123456, .mismatches = 0, .faults = 2, .maps = 100018, .refused = 3,
		.msis = 4567,
	};
}

static void report_section(void)
{
	static const struct {
		const char *name;
		unsigned ncpus;
	} variants[] = { { "fresh", 1 }, { "dma", 2 }, { "64 vCPUs", 64 } };
	struct report_dev want, got;
	struct devctx c = { &report_ops, &got, report_changed, &want };
	unsigned v;

	for (v = 0; v < ARRAY_SIZE(variants); v++) {
		REQUIRE_OK(report_init(&want, NULL, variants[v].ncpus, 1000, -1));
		REQUIRE_OK(report_init(&got, NULL, variants[v].ncpus, 1000, -1));
		report_fill(&want, v);
		dev_check(&c, variants[v].name, v == 1);
		report_commit(&got);
		CHECK_EQ(got.restores, want.restores + 1);
		CHECK_EQ(got.dma.cpu, want.dma.cpu);
		CHECK_EQ(got.dma.jobs, want.dma.jobs);
		report_fini(&want);
		report_fini(&got);
	}
}

static void report_field_checks(void)
{
	static uint8_t rec[DEV_CAP];
	struct report_dev want, got;
	struct devctx c = { &report_ops, &got, report_changed, &want };
	char msg[REC_MSG_LEN];
	size_t len;

	REQUIRE_OK(report_init(&want, NULL, 2, 1000, -1));
	REQUIRE_OK(report_init(&got, NULL, 3, 1000, -1));
	len = dev_record(&report_ops, &want, rec, sizeof(rec));
	CHECK_ERR(-EBADMSG, dev_decode(&c, rec, len, msg, sizeof(msg)));
	CHECK_STR(msg, "section \"device\" instance 0 field \"ncpus\": 2 vCPUs, this VM has 3");
	report_fini(&got);
	REQUIRE_OK(report_init(&got, NULL, 2, 1000, -1));
	want.cpu[1].workload = LUVMM_WORKLOAD_MAX;
	len = dev_record(&report_ops, &want, rec, sizeof(rec));
	CHECK_ERR(-EBADMSG, dev_decode(&c, rec, len, msg, sizeof(msg)));
	CHECK_STR(msg, "section \"device\" instance 0 field \"workload\": vCPU 1: 4 unknown");
	want.cpu[1].workload = UINT32_MAX;
	want.dma.cpu = 2;	/* written as 3: a third vCPU */
	len = dev_record(&report_ops, &want, rec, sizeof(rec));
	CHECK_ERR(-EBADMSG, dev_decode(&c, rec, len, msg, sizeof(msg)));
	CHECK_STR(msg, "section \"device\" instance 0 field \"dma_cpu\": vCPU 2 + 1 of 2");
	report_fini(&want);
	report_fini(&got);
}

/* ---- passthrough ---- */

static bool pt_changed(struct devctx *c)
{
	const struct pt_dev *a = c->priv, *b = c->want;
	const struct pt_saved *x = &a->staged;

	return x->kind != b->spec.kind || x->degraded != (b->state == PT_DEGRADED) ||
	       x->msi_vec != b->msi_vec || x->msi_dest != b->msi_dest ||
	       x->ioas != b->ioas_id || x->hwpt != b->hwpt_id || x->dev != b->dev_id ||
	       x->maps != b->maps || x->unmaps != b->unmaps || x->refused != b->refused;
}

static void passthrough_section(void)
{
	static const char *const variants[] = { "none", "soft", "vfio degraded" };
	struct pt_dev *want = calloc(1, sizeof(*want)), *got = calloc(1, sizeof(*got));
	struct devctx c = { &passthrough_ops, got, pt_changed, want };
	unsigned v;

	REQUIRE(want && got);
	CHECK(passthrough_ops.state_optional);
	for (v = 0; v < ARRAY_SIZE(variants); v++) {
		memset(want, 0, sizeof(*want));
		memset(got, 0, sizeof(*got));
		if (v == 1) {
			want->spec.kind = DEVICE_SOFT;
			want->msi_vec = 16;
			want->msi_dest = 1;
			want->ioas_id = 3;
			want->hwpt_id = 4;
			want->dev_id = 5;
			want->maps = 100018;
			want->unmaps = 99990;
			want->refused = 3;
		} else if (v == 2) {
			want->spec.kind = DEVICE_VFIO;
			want->state = PT_DEGRADED;
			want->msi_vec = 255;
			want->msi_dest = 255;
			/* distinct, as a VFIO device's must be */
			want->ioas_id = UINT32_MAX;
			want->hwpt_id = UINT32_MAX - 1;
			want->dev_id = UINT32_MAX - 2;
			want->maps = want->unmaps = want->refused = UINT64_MAX;
		}
		got->spec.kind = want->spec.kind;
		dev_check(&c, variants[v], v == 1);
	}
	free(want);
	free(got);
}

static void passthrough_field_checks(void)
{
	static uint8_t rec[DEV_CAP];
	struct pt_dev *want = calloc(1, sizeof(*want)), *got = calloc(1, sizeof(*got));
	struct devctx c = { &passthrough_ops, got, pt_changed, want };
	char msg[REC_MSG_LEN];
	size_t len;

	REQUIRE(want && got);
	want->spec.kind = DEVICE_SOFT;
	len = dev_record(&passthrough_ops, want, rec, sizeof(rec));
	CHECK_ERR(-EBADMSG, dev_decode(&c, rec, len, msg, sizeof(msg)));
	CHECK_STR(msg, "section \"device\" instance 0 field \"kind\": device kind 1, but this VMM has 0");
	got->spec.kind = DEVICE_SOFT;
	want->msi_vec = 15;
	len = dev_record(&passthrough_ops, want, rec, sizeof(rec));
	CHECK_ERR(-EBADMSG, dev_decode(&c, rec, len, msg, sizeof(msg)));
	CHECK_STR(msg, "section \"device\" instance 0 field \"msi_vec\": 15 is not a vector");
	want->msi_vec = 256;
	len = dev_record(&passthrough_ops, want, rec, sizeof(rec));
	CHECK_ERR(-EBADMSG, dev_decode(&c, rec, len, msg, sizeof(msg)));
	CHECK_STR(msg, "section \"device\" instance 0 field \"msi_vec\": 256 is not a vector");
	want->msi_vec = 0;
	want->msi_dest = 256;
	len = dev_record(&passthrough_ops, want, rec, sizeof(rec));
	CHECK_ERR(-EBADMSG, dev_decode(&c, rec, len, msg, sizeof(msg)));
	CHECK_STR(msg, "section \"device\" instance 0 field \"msi_dest\": 256 above 255");
	free(want);
	free(got);
}

static const struct tap_case cases[] = {
	TAP_CASE(prepare_round_trip),
	TAP_CASE(prepare_truncations),
	TAP_CASE(prepare_bit_flips),
	TAP_CASE(prepare_field_checks),
	TAP_CASE(prepare_section_set),
	TAP_CASE(serial_section),
	TAP_CASE(serial_field_checks),
	TAP_CASE(report_section),
	TAP_CASE(report_field_checks),
	TAP_CASE(passthrough_section),
	TAP_CASE(passthrough_field_checks),
};

int main(int argc, char **argv)
{
	log_set_level(LOG_ERR);
	crc32c_init();
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
