// SPDX-License-Identifier: MIT
/*
 * test_pt_vfio.c: the passthrough device with a VFIO device behind
 * iommufd, without KVM and without a kernel that has iommufd or VFIO. A
 * fake kernel (fake_iommufd.h) answers the ioctls; a regular file stands
 * in for the device cdev, so the BAR0 "region" is its bytes. The device is
 * driven through its unit seam (pt_alloc, pt_open, the PIO handlers and
 * its dev_ops), which needs guest RAM but no VM.
 *
 * Checked: the exact ioctl sequence of a boot (bind, BAR0 region info,
 * IOAS, HWPT, attach, MSI info, SET_IRQS with the interrupt eventfd), BAR0
 * mapped at the address the guest's memslot points to, the doorbell
 * register, map and unmap requests from a guest request struct, the
 * handoff table and record of a live update, and the new VMM's side: only
 * read-only ioctls before the rebuild, then change process, a new IOAS and
 * HWPT, the maps in IOVA order, the replace, the old HWPT then the old
 * IOAS destroyed, "validated": false; a refused change process keeping
 * the old tables; set-up failures; and the refusal on a host without
 * /dev/iommu. Tearing a device down never issues an ioctl.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../vmm/devices/devices.h"
#include "../vmm/devices/passthrough.h"
#include "../vmm/iommu/iommufd.h"
#include "../vmm/iommu/maplog.h"
#include "../vmm/json.h"
#include "../vmm/liveupdate/handoff.h"
#include "../vmm/liveupdate/state.h"
#include "../vmm/mem.h"
#include "../vmm/vm.h"
#include "fake_iommufd.h"
#include "tap.h"

#define PG		4096ULL
#define RAM_SIZE	(16 * MiB)
#define BAR_OFF		(16 * PG)	/* BAR0's offset in the "cdev" */
#define BAR_SIZE	(4 * PG)	/* larger than the guest's BAR0 */
#define REQ_GPA		0x1000u		/* the guest's request struct */
#define RW		(LUVMM_IOMMU_READ | LUVMM_IOMMU_WRITE)

/* ---- fixture ------------------------------------------------------------- */

struct fx {
	struct mem mem;
	char cdev[64];		/* a regular file standing in for the cdev */
	int file;		/* the test's own fd of it */
	struct device_spec spec;
	int status;		/* a scenario's result for the case */
};

static int fx_init(struct fx *f)
{
	char err[128];
	int ret;

	memset(f, 0, sizeof(*f));
	f->file = -1;
	ret = mem_init(&f->mem, RAM_SIZE, false, err, sizeof(err));
	if (ret)
		return ret;
	strcpy(f->cdev, "/tmp/luvmm-vfio-XXXXXX");
	f->file = mkstemp(f->cdev);
	if (f->file < 0 || ftruncate(f->file, BAR_OFF + BAR_SIZE)) {
		mem_fini(&f->mem);
		return -errno;
	}
	f->spec.kind = DEVICE_VFIO;
	snprintf(f->spec.path, sizeof(f->spec.path), "%s", f->cdev);
	return 0;
}

static void fx_fini(struct fx *f)
{
	mem_fini(&f->mem);
	if (f->file >= 0) {
		close(f->file);
		unlink(f->cdev);
	}
}

/* A fake kernel answering on any fd, with a BAR0 at BAR_OFF. */
static struct fake *fx_fake(void)
{
	struct fake *m = fk_reset(-1, -1);

	m->bar_offset = BAR_OFF;
	m->bar_size = BAR_SIZE;
	return m;
}

static void run(void (*scenario)(void *), struct fx *f)
{
	const char *why = "";

	if (!fk_run(scenario, f, &why))
		tap_skip("%s", why);
}

static uint32_t bar_word(struct fx *f, uint64_t off)
{
	uint32_t v = 0;

	if (pread(f->file, &v, sizeof(v), (off_t)(BAR_OFF + off)) != sizeof(v))
		return 0xdeadbeef;
	return v;
}

/* ---- driving the device -------------------------------------------------- */

/* Boot a device on the fake kernel (scenario thread); *placeholder: the
 * host address the BAR0 memslot would point at. */
static struct pt_dev *boot(struct fx *f, void **placeholder, int *ret)
{
	struct vm_devmem dm = { .fd = -1 };
	struct pt_dev *d = pt_alloc(1);

	*ret = -ENOMEM;
	if (!d)
		return NULL;
	d->iommufd_path = "/dev/null";
	*ret = pt_vfio_premap(&f->spec, "/dev/null", NULL, &dm);
	if (*ret == 1) {
		if (placeholder)
			*placeholder = dm.host;
		*ret = pt_open(d, &f->spec, &f->mem, &dm, 1, NULL);
	}
	devices_premap_release(&dm, 1);	/* what pt_open() did not take */
	if (*ret) {
		passthrough_ops.destroy(d);
		return NULL;
	}
	return d;
}

/* One paravirtual IOMMU request, as the guest makes it; its status. */
static uint32_t request(struct fx *f, struct pt_dev *d, uint32_t op,
			uint32_t prot, uint64_t iova, uint64_t gpa, uint64_t len)
{
	struct luvmm_iommu_req *q = mem_gpa_to_hva(&f->mem, REQ_GPA, sizeof(*q));
	uint32_t port_value = REQ_GPA;

	*q = (struct luvmm_iommu_req){ .op = op, .prot = prot, .iova = iova,
				       .gpa = gpa, .len = len, .status = 0xdead };
	pt_iommu_io(d, 0, (uint8_t *)&port_value, 4, true);
	return q->status;
}

/* Does the log from entry `from` on hold exactly these requests? */
static bool log_is(const struct fake *S, unsigned int from,
		   const unsigned long *reqs, unsigned int n)
{
	unsigned int i;
	bool ok = S->n_log == from + n;

	for (i = 0; ok && i < n; i++)
		ok = S->log[from + i].req == reqs[i];
	if (ok)
		return true;
	tap_diag("expected %u requests from entry %u, got %u:", n, from,
		 S->n_log - from);
	for (i = from; i < S->n_log; i++)
		tap_diag("  %s (fd %d) = %d", fk_req_name(S->log[i].req),
			 S->log[i].fd, S->log[i].ret);
	return false;
}

static void metrics(struct pt_dev *d, char *buf, size_t cap)
{
	struct json_writer w;

	jw_init(&w, buf, cap);
	jw_obj_begin(&w);
	pt_iommu_metrics(d, &w);
	jw_obj_end(&w);
	if (jw_finish(&w) < 0)
		snprintf(buf, cap, "(metrics overflow)");
}

static bool has(const char *s, const char *needle)
{
	if (strstr(s, needle))
		return true;
	tap_diag("\"%s\" not in %s", needle, s);
	return false;
}

/* ---- boot ------------------------------------------------------------------ */

static void boot_scenario(void *arg)
{
	static const unsigned long seq[] = {
		LUVMM_VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_GET_REGION_INFO,
		LUVMM_IOMMU_IOAS_ALLOC, LUVMM_IOMMU_HWPT_ALLOC,
		LUVMM_VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_GET_IRQ_INFO,
		VFIO_DEVICE_SET_IRQS,
	};
	const struct luvmm_vfio_device_bind_iommufd *bind;
	const struct luvmm_iommu_hwpt_alloc *ha;
	const struct luvmm_vfio_device_attach_iommufd_pt *at;
	const struct vfio_region_info *ri;
	const struct fake *S;
	struct fx *f = arg;
	void *placeholder = NULL;
	struct pt_dev *d;
	int ifd, ret;

	d = boot(f, &placeholder, &ret);
	REQUIRE_OK(ret);
	ifd = iommufd_fd(d->io);
	S = fk_now();
	CHECK(log_is(S, 0, seq, ARRAY_SIZE(seq)));
	bind = (const void *)fk_log_at(S, 0)->b;
	CHECK_EQ(fk_log_at(S, 0)->fd, d->vfio_fd);
	CHECK_EQ(bind->iommufd, ifd);
	CHECK_EQ(d->dev_id, S->dev_id);
	ri = (const void *)fk_log_at(S, 1)->b;
	CHECK_EQ(fk_log_at(S, 1)->fd, d->vfio_fd);
	CHECK_EQ(ri->index, VFIO_PCI_BAR0_REGION_INDEX);
	CHECK_EQ(fk_log_at(S, 2)->fd, ifd);
	ha = (const void *)fk_log_at(S, 3)->b;
	CHECK_EQ(fk_log_at(S, 3)->fd, ifd);
	CHECK_EQ(ha->dev_id, d->dev_id);
	CHECK_EQ(ha->pt_id, d->ioas_id);
	CHECK_EQ(ha->flags, 0);
	CHECK_EQ(ha->data_type, LUVMM_IOMMU_HWPT_DATA_NONE);
	at = (const void *)fk_log_at(S, 4)->b;
	CHECK_EQ(fk_log_at(S, 4)->fd, d->vfio_fd);
	CHECK_EQ(at->pt_id, d->hwpt_id);
	CHECK_EQ(S->attached, d->hwpt_id);
	CHECK_EQ(fk_log_at(S, 6)->fd, d->vfio_fd);
	CHECK_EQ(S->irq.index, VFIO_PCI_MSI_IRQ_INDEX);
	CHECK_EQ(S->irq.flags, VFIO_IRQ_SET_DATA_EVENTFD |
		 VFIO_IRQ_SET_ACTION_TRIGGER);
	CHECK_EQ(S->irq.start, 0);
	CHECK_EQ(S->irq.count, 1);
	CHECK(d->irq_fd >= 0);
	CHECK_EQ(S->irq_fds[0], d->irq_fd);
	CHECK_EQ(d->state, PT_READY);

	/* BAR0: the device's region, where the memslot's placeholder was */
	CHECK(placeholder != NULL && (void *)d->bar == placeholder);
	CHECK_EQ(d->bar_size, LUVMM_DMA_BAR0_SIZE);
	((volatile uint32_t *)(void *)d->bar)[0] = LUVMM_DMA_MAGIC;
	CHECK_EQ(bar_word(f, 0), LUVMM_DMA_MAGIC);
	CHECK_EQ(d->doorbell_fd, -1);	/* no ioeventfd for a VFIO device */

	/* the doorbell port becomes a write of the doorbell register */
	{
		uint32_t v = 0x1234, r = 77;

		pt_doorbell_io(d, 0, (uint8_t *)&v, 4, true);
		CHECK_EQ(bar_word(f, PT_VFIO_DOORBELL), PT_VFIO_DOORBELL_VALUE);
		pt_doorbell_io(d, 0, (uint8_t *)&r, 4, false);
		CHECK_EQ(r, 0);
	}
	/* tearing down says nothing to the kernel */
	S = fk_now();
	ret = (int)S->n_log;
	passthrough_ops.destroy(d);
	CHECK_EQ(fk_now()->n_log, ret);
}

/* One scenario against the fake kernel, with its fixture. */
static void run_fx(void (*scenario)(void *))
{
	struct fx f;

	REQUIRE_OK(fx_init(&f));
	fx_fake();
	run(scenario, &f);
	fx_fini(&f);
}

static void vfio_boot(void)
{
	run_fx(boot_scenario);
}

/* ---- requests ---------------------------------------------------------------- */

static void request_scenario(void *arg)
{
	const struct luvmm_iommu_ioas_map_file *mf;
	const struct luvmm_iommu_ioas_unmap *um;
	const struct fake *S;
	struct fx *f = arg;
	struct pt_dev *d;
	char m[4096], hwpt[32];
	unsigned int n0;
	int ret;

	d = boot(f, NULL, &ret);
	REQUIRE_OK(ret);
	n0 = fk_now()->n_log;
	CHECK_EQ(request(f, d, LUVMM_IOMMU_MAP, RW, 0x100000, 0x200000, 2 * PG), 0);
	S = fk_now();
	REQUIRE_EQ(S->n_log, n0 + 1);
	CHECK_EQ(fk_log_at(S, n0)->req, LUVMM_IOMMU_IOAS_MAP_FILE);
	CHECK_EQ(fk_log_at(S, n0)->fd, iommufd_fd(d->io));
	mf = (const void *)fk_log_at(S, n0)->b;
	CHECK_EQ(mf->ioas_id, d->ioas_id);
	CHECK_EQ(mf->fd, f->mem.fd);	/* guest RAM by memfd and offset */
	CHECK_EQ(mf->start, 0x200000);
	CHECK_EQ(mf->length, 2 * PG);
	CHECK_EQ(mf->iova, 0x100000);
	CHECK_EQ(mf->flags, LUVMM_IOMMU_IOAS_MAP_FIXED_IOVA |
		 LUVMM_IOMMU_IOAS_MAP_READABLE | LUVMM_IOMMU_IOAS_MAP_WRITEABLE);
	CHECK_EQ(maplog_count(d->log), 1);

	/* the kernel's answers reach the guest; bad requests never reach it */
	CHECK_EQ(request(f, d, LUVMM_IOMMU_MAP, LUVMM_IOMMU_READ, 0x101000,
			 0x300000, PG), EEXIST);
	n0 = fk_now()->n_log;
	CHECK_EQ(request(f, d, LUVMM_IOMMU_MAP, 0, 0x400000, 0x300000, PG),
		 EINVAL);
	CHECK_EQ(request(f, d, LUVMM_IOMMU_MAP, RW, 0x400000, RAM_SIZE, PG),
		 EINVAL);
	CHECK_EQ(fk_now()->n_log, n0);
	CHECK_EQ(request(f, d, LUVMM_IOMMU_UNMAP, 0, 0x100000, 0, PG), ENOENT);
	CHECK_EQ(request(f, d, LUVMM_IOMMU_UNMAP, 0, 0x100000, 0, 2 * PG), 0);
	S = fk_now();
	um = (const void *)fk_log_at(S, S->n_log - 1)->b;
	CHECK_EQ(fk_log_at(S, S->n_log - 1)->req, LUVMM_IOMMU_IOAS_UNMAP);
	CHECK_EQ(um->ioas_id, d->ioas_id);
	CHECK_EQ(um->iova, 0x100000);
	CHECK_EQ(um->length, 2 * PG);
	CHECK_EQ(maplog_count(d->log), 0);
	CHECK_EQ(d->maps, 1);
	CHECK_EQ(d->unmaps, 1);
	CHECK_EQ(d->refused, 4);

	metrics(d, m, sizeof(m));
	CHECK(has(m, "\"iommu\":\"iommufd\""));
	CHECK(has(m, "\"state\":\"ready\""));
	CHECK(has(m, "\"refused\":4"));
	snprintf(hwpt, sizeof(hwpt), "\"hwpt\":%u", d->hwpt_id);
	CHECK(has(m, hwpt));
	passthrough_ops.destroy(d);
}

static void vfio_requests(void)
{
	run_fx(request_scenario);
}

/* ---- a live update ------------------------------------------------------------ */

struct old_ids {
	uint32_t dev, ioas, hwpt;
};

/* What an update does to the device: the old VMM exports and saves it,
 * the fds cross (dup, as SCM_RIGHTS would), the old one is destroyed,
 * the new one is built from the handoff and loads the record. */
static struct pt_dev *update(struct fx *f, struct pt_dev *d1, struct old_ids *ids)
{
	static uint8_t rec[4096];
	static const char *const names[] = { "pt-irq", "pt-vfio", "pt-iommufd",
					     "pt-maplog" };
	struct handoff *h1 = calloc(2, sizeof(*h1)), *h2 = h1 + 1;
	struct vm_devmem dm = { .fd = -1 };
	struct pt_dev *d2 = NULL;
	struct lu_writer w;
	struct lu_reader r;
	struct lu_section sec;
	struct lu_dec dec;
	char name[32];
	unsigned int i, n0;
	size_t len = 0;
	int ret;

	if (!h1)
		return NULL;
	*ids = (struct old_ids){ d1->dev_id, d1->ioas_id, d1->hwpt_id };
	handoff_init(h1);
	handoff_init(h2);
	CHECK_ERR(0, passthrough_ops.export(d1, h1));
	CHECK_EQ(h1->n, ARRAY_SIZE(names));
	for (i = 0; i < ARRAY_SIZE(names); i++)
		CHECK(handoff_get(h1, names[i], HK_ANY) >= 0);
	CHECK(handoff_get(h1, "pt-irq", HK_EVENTFD) == d1->irq_fd);
	CHECK(handoff_get(h1, "pt-vfio", HK_ANY) == d1->vfio_fd);
	CHECK(handoff_get(h1, "pt-iommufd", HK_ANY) == iommufd_fd(d1->io));
	for (i = 0; i < h1->n; i++)
		if (handoff_add(h2, h1->e[i].name,
				fcntl(h1->e[i].fd, F_DUPFD_CLOEXEC, 0),
				(enum handoff_kind)h1->e[i].kind))
			goto out;

	lu_writer_init(&w, rec, sizeof(rec));
	lu_writer_begin(&w);
	lu_section_begin(&w, LU_SEC_DEVICE, passthrough_ops.state_version, 0, 0);
	lu_put_str(&w, "passthrough");
	passthrough_ops.save(d1, &w);
	lu_section_end(&w);
	if (lu_writer_finish(&w, &len))
		goto out;

	/* the old VMM goes away without a word to the kernel */
	n0 = fk_now()->n_log;
	passthrough_ops.destroy(d1);
	CHECK_EQ(fk_now()->n_log, n0);

	d2 = pt_alloc(1);
	if (!d2)
		goto out;
	ret = pt_vfio_premap(&f->spec, "/nonexistent", h2, &dm);
	CHECK_EQ(ret, 1);
	if (ret == 1)
		ret = pt_open(d2, &f->spec, &f->mem, &dm, 1, h2);
	devices_premap_release(&dm, 1);
	CHECK_ERR(0, ret);
	if (!ret && (lu_stream_open(&r, rec, len, len) ||
		     lu_stream_next(&r, &sec) != 1))
		ret = -EBADMSG;
	if (!ret) {
		lu_dec_init(&dec, &r, &sec);
		ret = lu_get_str(&dec, "name", name, sizeof(name));
	}
	if (!ret)
		ret = passthrough_ops.load(d2, &dec);
	CHECK_ERR(0, ret);
	if (ret) {
		passthrough_ops.destroy(d2);
		d2 = NULL;
		goto out;
	}
	passthrough_ops.commit(d2);
out:
	handoff_close_all(h2);	/* anything the new device did not take */
	free(h1);
	return d2;
}

static void update_scenario(void *arg)
{
	static const unsigned long before[] = {
		LUVMM_IOMMU_OPTION, VFIO_DEVICE_GET_REGION_INFO,
	};
	static const unsigned long rebuild[] = {
		LUVMM_IOMMU_OPTION, LUVMM_IOMMU_IOAS_CHANGE_PROCESS, LUVMM_IOMMU_IOAS_ALLOC,
		LUVMM_IOMMU_HWPT_ALLOC, LUVMM_IOMMU_IOAS_MAP_FILE,
		LUVMM_IOMMU_IOAS_MAP_FILE, LUVMM_IOMMU_IOAS_MAP_FILE,
		LUVMM_VFIO_DEVICE_ATTACH_IOMMUFD_PT, LUVMM_IOMMU_DESTROY,
		LUVMM_IOMMU_DESTROY,
	};
	const struct luvmm_iommu_ioas_map_file *mf;
	const struct luvmm_iommu_destroy *ds;
	const struct luvmm_iommu_option *opt;
	const struct fake *S;
	struct fx *f = arg;
	struct pt_dev *d, *d2;
	struct old_ids old;
	struct handoff *h;
	char m[4096];
	unsigned int n0, i;
	int ret;

	d = boot(f, NULL, &ret);
	REQUIRE_OK(ret);
	/* three mappings, not in IOVA order */
	CHECK_EQ(request(f, d, LUVMM_IOMMU_MAP, LUVMM_IOMMU_READ, 0x300000,
			 0x300000, 2 * PG), 0);
	CHECK_EQ(request(f, d, LUVMM_IOMMU_MAP, RW, 0x100000, 0x100000, PG), 0);
	CHECK_EQ(request(f, d, LUVMM_IOMMU_MAP, LUVMM_IOMMU_WRITE, 0x200000,
			 0x600000, 4 * PG), 0);
	n0 = fk_now()->n_log;
	d2 = update(f, d, &old);
	REQUIRE(d2 != NULL);

	/* before the rebuild: read-only probes, nothing bound or wired */
	S = fk_now();
	CHECK(log_is(S, n0, before, ARRAY_SIZE(before)));
	opt = (const void *)fk_log_at(S, n0)->b;
	CHECK_EQ(opt->option_id, LUVMM_IOMMU_OPTION_RLIMIT_MODE);
	CHECK_EQ(opt->op, LUVMM_IOMMU_OPTION_OP_GET);
	CHECK_EQ(fk_log_at(S, n0)->fd, iommufd_fd(d2->io));
	CHECK_EQ(fk_log_at(S, n0 + 1)->fd, d2->vfio_fd);
	CHECK_EQ(S->set_irqs_calls, 1);	/* the wiring went with the eventfd */
	CHECK_EQ(d2->state, PT_REBUILDING);
	CHECK_EQ(d2->dev_id, old.dev);
	CHECK_EQ(d2->ioas_id, old.ioas);
	CHECK_EQ(d2->hwpt_id, old.hwpt);

	n0 = S->n_log;
	REQUIRE_OK(pt_rebuild_start(d2));
	pt_rebuild_join(d2);
	S = fk_now();
	CHECK(log_is(S, n0, rebuild, ARRAY_SIZE(rebuild)));
	/* first a read-only probe that the record's IOAS is one */
	opt = (const void *)fk_log_at(S, n0)->b;
	CHECK_EQ(opt->option_id, LUVMM_IOMMU_OPTION_HUGE_PAGES);
	CHECK_EQ(opt->op, LUVMM_IOMMU_OPTION_OP_GET);
	CHECK_EQ(opt->object_id, old.ioas);
	n0++;
	CHECK_EQ(S->change_process_calls, 1);
	CHECK_EQ(d2->state, PT_READY);
	CHECK(d2->ioas_id != old.ioas && fk_obj_at(S, d2->ioas_id) != NULL);
	CHECK(d2->hwpt_id != old.hwpt && fk_obj_at(S, d2->hwpt_id) != NULL);
	CHECK_EQ(((const struct luvmm_iommu_hwpt_alloc *)
		  (const void *)fk_log_at(S, n0 + 2)->b)->pt_id, d2->ioas_id);
	for (i = 0; i < 3; i++) {
		static const uint64_t iova[] = { 0x100000, 0x200000, 0x300000 };
		static const uint64_t start[] = { 0x100000, 0x600000, 0x300000 };
		static const uint64_t len[] = { PG, 4 * PG, 2 * PG };
		static const uint32_t flags[] = { 7, 3, 5 };

		mf = (const void *)fk_log_at(S, n0 + 3 + i)->b;
		CHECK_EQ(mf->ioas_id, d2->ioas_id);
		CHECK_EQ(mf->fd, f->mem.fd);
		CHECK_EQ(mf->iova, iova[i]);
		CHECK_EQ(mf->start, start[i]);
		CHECK_EQ(mf->length, len[i]);
		CHECK_EQ(mf->flags, flags[i]);
	}
	CHECK_EQ(fk_log_at(S, n0 + 6)->fd, d2->vfio_fd);
	CHECK_EQ(((const struct luvmm_vfio_device_attach_iommufd_pt *)
		  (const void *)fk_log_at(S, n0 + 6)->b)->pt_id, d2->hwpt_id);
	CHECK_EQ(S->attached, d2->hwpt_id);
	ds = (const void *)fk_log_at(S, n0 + 7)->b;
	CHECK_EQ(ds->id, old.hwpt);
	ds = (const void *)fk_log_at(S, n0 + 8)->b;
	CHECK_EQ(ds->id, old.ioas);
	CHECK(fk_obj_at(S, old.hwpt) == NULL && fk_obj_at(S, old.ioas) == NULL);

	metrics(d2, m, sizeof(m));
	CHECK(has(m, "\"state\":\"ready\""));
	CHECK(has(m, "\"ok\":true"));
	CHECK(has(m, "\"validated\":false"));
	CHECK(has(m, "\"mappings\":3"));

	/* served again, on the new objects; and ready for the next update */
	n0 = fk_now()->n_log;
	CHECK_EQ(request(f, d2, LUVMM_IOMMU_MAP, RW, 0x800000, 0x800000, PG), 0);
	S = fk_now();
	mf = (const void *)fk_log_at(S, n0)->b;
	CHECK_EQ(mf->ioas_id, d2->ioas_id);
	h = calloc(1, sizeof(*h));
	REQUIRE(h != NULL);
	handoff_init(h);
	CHECK_ERR(0, passthrough_ops.export(d2, h));
	CHECK_EQ(h->n, 4);
	free(h);
	passthrough_ops.destroy(d2);
}

static void vfio_update_rebuild(void)
{
	run_fx(update_scenario);
}

static void refused_scenario(void *arg)
{
	const struct fake *S;
	struct fx *f = arg;
	struct pt_dev *d, *d2;
	struct old_ids old;
	struct handoff *h;
	char m[4096];
	unsigned int n0;
	int ret;

	d = boot(f, NULL, &ret);
	REQUIRE_OK(ret);
	CHECK_EQ(request(f, d, LUVMM_IOMMU_MAP, RW, 0x100000, 0x100000, PG), 0);
	d2 = update(f, d, &old);
	REQUIRE(d2 != NULL);
	fk_fail(FK_FAIL_CHANGE_PROCESS, ENOMEM);
	n0 = fk_now()->n_log;
	REQUIRE_OK(pt_rebuild_start(d2));
	pt_rebuild_join(d2);
	S = fk_now();
	/* nothing built: the device stays on the old tables */
	CHECK_EQ(S->n_log, n0 + 2);
	CHECK_EQ(fk_log_at(S, n0)->req, LUVMM_IOMMU_OPTION);	/* the IOAS probe */
	CHECK_EQ(fk_log_at(S, n0 + 1)->req, LUVMM_IOMMU_IOAS_CHANGE_PROCESS);
	CHECK_EQ(fk_log_at(S, n0 + 1)->ret, -ENOMEM);
	CHECK_EQ(S->attached, old.hwpt);
	CHECK_EQ(d2->state, PT_DEGRADED);
	CHECK_EQ(d2->hwpt_id, old.hwpt);
	CHECK_EQ(d2->ioas_id, old.ioas);
	CHECK(has(d2->degraded_reason, "IOMMU_IOAS_CHANGE_PROCESS"));
	CHECK(has(d2->degraded_reason, "RLIMIT_MEMLOCK"));
	CHECK_EQ(request(f, d2, LUVMM_IOMMU_MAP, RW, 0x200000, 0x200000, PG), EIO);
	CHECK_EQ(fk_now()->n_log, n0 + 2);
	metrics(d2, m, sizeof(m));
	CHECK(has(m, "\"state\":\"degraded\""));
	CHECK(has(m, "\"ok\":false"));
	CHECK(has(m, "\"validated\":false"));
	/* the next update hands the same live objects and mappings over */
	h = calloc(1, sizeof(*h));
	REQUIRE(h != NULL);
	handoff_init(h);
	CHECK_ERR(0, passthrough_ops.export(d2, h));
	free(h);
	passthrough_ops.destroy(d2);
}

/* The record names the HWPT where the IOAS belongs: the probe refuses it
 * before any accounting moves, and nothing is built or destroyed. */
static void bad_ioas_scenario(void *arg)
{
	const struct fake *S;
	struct fx *f = arg;
	struct pt_dev *d, *d2;
	struct old_ids old;
	unsigned int n0;
	int ret;

	d = boot(f, NULL, &ret);
	REQUIRE_OK(ret);
	CHECK_EQ(request(f, d, LUVMM_IOMMU_MAP, RW, 0x100000, 0x100000, PG), 0);
	d2 = update(f, d, &old);
	REQUIRE(d2 != NULL);
	d2->ioas_id = old.hwpt;		/* what a hostile record could say */
	n0 = fk_now()->n_log;
	REQUIRE_OK(pt_rebuild_start(d2));
	pt_rebuild_join(d2);
	S = fk_now();
	CHECK_EQ(S->n_log, n0 + 1);
	CHECK_EQ(fk_log_at(S, n0)->req, LUVMM_IOMMU_OPTION);
	CHECK_EQ(fk_log_at(S, n0)->ret, -ENOENT);
	CHECK_EQ(S->change_process_calls, 0);
	CHECK_EQ(S->attached, old.hwpt);
	CHECK(fk_obj_at(S, old.hwpt) != NULL && fk_obj_at(S, old.ioas) != NULL);
	CHECK_EQ(d2->state, PT_DEGRADED);
	CHECK(has(d2->degraded_reason, "is not an IOAS"));
	passthrough_ops.destroy(d2);
}

static void vfio_update_bad_ioas_refused(void)
{
	run_fx(bad_ioas_scenario);
}

static void vfio_update_change_process_refused(void)
{
	run_fx(refused_scenario);
}

/* ---- failures ----------------------------------------------------------------- */

static void failing_boot(void *arg)
{
	struct fx *f = arg;
	struct pt_dev *d;

	d = boot(f, NULL, &f->status);
	if (d)
		passthrough_ops.destroy(d);
}

static void vfio_setup_failures(void)
{
	static const struct {
		const char *name;
		int fail;		/* FK_FAIL_BIND, or -1 */
		uint32_t bar_flags;
		uint64_t bar_size;
		uint32_t msi_count;
		int err;
	} v[] = {
		{ "bind refused", FK_FAIL_BIND, 0, BAR_SIZE, 1, -EBUSY },
		{ "BAR0 not mmappable", -1, VFIO_REGION_INFO_FLAG_READ |
		  VFIO_REGION_INFO_FLAG_WRITE, BAR_SIZE, 1, -ENOTSUP },
		{ "BAR0 smaller than the guest's", -1, 0, PG / 2, 1, -ERANGE },
		{ "no MSI", -1, 0, BAR_SIZE, 0, -ENOTSUP },
	};
	struct fx f;
	unsigned int i;

	REQUIRE_OK(fx_init(&f));
	for (i = 0; i < ARRAY_SIZE(v); i++) {
		struct fake *m = fx_fake();

		if (v[i].fail >= 0)
			m->fail[v[i].fail] = -v[i].err;
		if (v[i].bar_flags)
			m->bar_flags = v[i].bar_flags;
		m->bar_size = v[i].bar_size;
		m->msi_count = v[i].msi_count;
		f.status = 0;
		run(failing_boot, &f);
		if (f.status != v[i].err)
			tap_fail(__FILE__, __LINE__, "%s: expected %d, got %d",
				 v[i].name, v[i].err, f.status);
	}
	fx_fini(&f);
}

/* This host has no /dev/iommu: the real path refuses, saying so. */
static void vfio_refused_without_iommufd(void)
{
	struct vm_devmem dm = { .fd = -1 };
	struct device_spec spec = { .kind = DEVICE_VFIO };
	struct handoff *h = calloc(1, sizeof(*h));
	struct pt_dev *d;

	REQUIRE(h != NULL);
	snprintf(spec.path, sizeof(spec.path), "/nonexistent/vfio7");
	CHECK_ERR(-ENODEV, pt_vfio_premap(&spec, "/nonexistent/iommu", NULL,
					  &dm));
	if (access(IOMMUFD_DEV_PATH, F_OK))
		CHECK_ERR(-ENODEV, pt_vfio_premap(&spec, IOMMUFD_DEV_PATH,
						  NULL, &dm));
	CHECK_ERR(-ENOENT, pt_vfio_premap(&spec, "/dev/null", NULL, &dm));
	/* an update whose handoff lacks the device */
	handoff_init(h);
	CHECK_ERR(-ENOENT, pt_vfio_premap(&spec, "/dev/null", h, &dm));
	CHECK(dm.host == NULL && dm.fd == -1);
	free(h);
	/* no device kind, no device */
	d = pt_alloc(1);
	REQUIRE(d != NULL);
	spec.kind = DEVICE_NONE;
	CHECK_ERR(-EINVAL, pt_open(d, &spec, NULL, NULL, 0, NULL));
	passthrough_ops.destroy(d);
}

/* A record for a VFIO device must name the objects it is attached to. */
/* a's section, encoded, then decoded into b: the load's result; the
 * reader's message in msg. */
static int save_load(struct pt_dev *a, struct pt_dev *b, char *msg, size_t cap)
{
	static uint8_t rec[1024];
	struct lu_writer w;
	struct lu_reader r;
	struct lu_section sec;
	struct lu_dec dec;
	char name[32];
	size_t len = 0;
	int ret;

	lu_writer_init(&w, rec, sizeof(rec));
	lu_writer_begin(&w);
	lu_section_begin(&w, LU_SEC_DEVICE, passthrough_ops.state_version, 0, 0);
	lu_put_str(&w, "passthrough");
	passthrough_ops.save(a, &w);
	lu_section_end(&w);
	ret = lu_writer_finish(&w, &len);
	if (!ret)
		ret = lu_stream_open(&r, rec, len, len);
	if (!ret && lu_stream_next(&r, &sec) != 1)
		ret = -EIO;
	if (ret)
		return ret;
	lu_dec_init(&dec, &r, &sec);
	ret = lu_get_str(&dec, "name", name, sizeof(name));
	if (!ret)
		ret = passthrough_ops.load(b, &dec);
	snprintf(msg, cap, "%s", lu_reader_msg(&r));
	return ret;
}

static void vfio_record_needs_ids(void)
{
	struct pt_dev *a = pt_alloc(1), *b = pt_alloc(1);
	char msg[256];

	REQUIRE(a && b);
	a->spec.kind = b->spec.kind = DEVICE_VFIO;
	a->dev_id = 1;
	a->ioas_id = 2;		/* hwpt 0: missing */
	CHECK_ERR(-EBADMSG, save_load(a, b, msg, sizeof(msg)));
	CHECK(has(msg, "needs all three"));
	/* all three, but two the same id: refused too */
	a->hwpt_id = a->ioas_id;
	CHECK_ERR(-EBADMSG, save_load(a, b, msg, sizeof(msg)));
	CHECK(has(msg, "not distinct"));
	/* three distinct ids: accepted */
	a->hwpt_id = 3;
	CHECK_ERR(0, save_load(a, b, msg, sizeof(msg)));
	/* and a record without the section at all is refused for a VFIO
	 * device (devices_loaded()), not for the simulator's or none */
	REQUIRE(passthrough_ops.state_needed != NULL);
	CHECK(!passthrough_ops.state_needed(b));
	b->be = &pt_soft_backend;
	CHECK(!passthrough_ops.state_needed(b));
	b->be = &pt_vfio_backend;
	CHECK(passthrough_ops.state_needed(b));
	b->be = NULL;
	passthrough_ops.destroy(a);
	passthrough_ops.destroy(b);
}

static const struct tap_case cases[] = {
	{ "vfio boot: bind, BAR0, IOAS, HWPT, attach, MSI; doorbell",
	  vfio_boot },
	{ "vfio requests: map and unmap through iommufd", vfio_requests },
	{ "vfio update: handoff, record, rebuild, replace, not validated",
	  vfio_update_rebuild },
	{ "vfio update: change process refused keeps the old tables",
	  vfio_update_change_process_refused },
	{ "vfio update: a record's IOAS id that is no IOAS is refused",
	  vfio_update_bad_ioas_refused },
	{ "vfio set-up failures: bind, BAR0, MSI", vfio_setup_failures },
	{ "vfio refused without /dev/iommu or the cdev",
	  vfio_refused_without_iommufd },
	{ "vfio record: iommufd ids required", vfio_record_needs_ids },
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
