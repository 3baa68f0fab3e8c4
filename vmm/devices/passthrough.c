// SPDX-License-Identifier: MIT
/*
 * passthrough.c: the DMA device the guest sees (guest-fw/abi.h "The DMA
 * device"), whichever backend is behind it (struct pt_backend: the device
 * simulator behind the soft IOMMU in pt_soft.c, a VFIO device behind
 * iommufd in pt_vfio.c). Owns BAR0 (a KVM memslot over the device's
 * registers), the doorbell port, the MSI (a GSI route and an irqfd on the
 * device's interrupt eventfd), and the device's part of a live update:
 * the fds it hands over, the small record section, and what it does once
 * the vCPUs run again.
 *
 * Without --device the device is inert: the paravirtual IOMMU port still
 * answers, with ENODEV, so a guest learns there is nothing to map for.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../iommu/iommufd.h"
#include "../json.h"
#include "../liveupdate/handoff.h"
#include "../liveupdate/state.h"
#include "../log.h"
#include "../util.h"
#include "../vm.h"
#include "devices.h"
#include "passthrough.h"

#define PT_STATE_VERSION	1

/* ---- BAR0 ------------------------------------------------------------------ */

static int pt_premap(const struct config *cfg, struct handoff *h,
		     struct vm_devmem *dm)
{
	struct device_spec spec;
	char err[160];

	if (!cfg->device)
		return 0;
	if (config_parse_device(cfg->device, &spec, err, sizeof(err))) {
		log_err("passthrough: %s", err);
		return -EINVAL;
	}
	if (spec.kind == DEVICE_VFIO)
		return pt_vfio_premap(&spec, IOMMUFD_DEV_PATH, h, dm);
	return pt_soft_premap(h, dm);
}

/* Take over the BAR0 region premap made. */
static int take_bar(struct pt_dev *d, struct vm_devmem *dm, unsigned ndm)
{
	unsigned i;

	for (i = 0; i < ndm; i++) {
		if (dm[i].gpa != LUVMM_DMA_BAR0 || !dm[i].host)
			continue;
		d->bar = dm[i].host;
		d->bar_size = dm[i].size;
		if (d->spec.kind == DEVICE_VFIO)
			d->vfio_fd = dm[i].fd;
		else
			d->bar_fd = dm[i].fd;
		dm[i].host = NULL;
		dm[i].fd = -1;
		return 0;
	}
	log_err("passthrough: BAR0 was not mapped before the VM was built");
	return -ENOENT;
}

/* ---- doorbell and MSI --------------------------------------------------------- */

/*
 * A doorbell that reached us: soft, no ioeventfd yet (right after an exec
 * update), so signal the simulator's eventfd ourselves; vfio, always: the
 * device's doorbell is a BAR0 register (PT_VFIO_DOORBELL).
 */
void pt_doorbell_io(void *priv, uint64_t off, uint8_t *data, uint32_t len,
		    bool is_write)
{
	struct pt_dev *d = priv;

	(void)off;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (d->be)
		d->be->ring(d);
}

static uint64_t msi_addr(uint32_t dest)
{
	return 0xfee00000ULL | ((uint64_t)(dest & 0xff) << 12);
}

/* Route the MSI as programmed (vector 0: none). msi_lock held. */
static int msi_apply_locked(struct pt_dev *d)
{
	unsigned gsi = VM_GSI_MSI_BASE;
	int ret;

	if (!d->msi_vec) {
		if (d->irqfd_on)
			(void)vm_irqfd(d->vm, d->irq_fd, gsi, false);
		d->irqfd_on = false;
		return vm_msi_route(d->vm, gsi, 0, 0);
	}
	ret = vm_msi_route(d->vm, gsi, msi_addr(d->msi_dest), d->msi_vec);
	if (!ret && !d->irqfd_on) {
		ret = vm_irqfd(d->vm, d->irq_fd, gsi, true);
		d->irqfd_on = !ret;
	}
	return ret;
}

static void msi_io(void *priv, uint64_t off, uint8_t *data, uint32_t len,
		   bool is_write)
{
	struct pt_dev *d = priv;
	uint32_t v = 0;
	int ret;

	pthread_mutex_lock(&d->msi_lock);
	if (!is_write) {
		v = off == 0 ? d->msi_vec : d->msi_dest;
		memcpy(data, &v, MIN(len, 4u));
		pthread_mutex_unlock(&d->msi_lock);
		return;
	}
	memcpy(&v, data, MIN(len, 4u));
	if (len != 4 || (off == 0 && v && (v < 16 || v > 255)) ||
	    (off == 4 && v > 255)) {
		d->bad_requests++;
		pthread_mutex_unlock(&d->msi_lock);
		return;
	}
	if (off == 0)
		d->msi_vec = v;
	else
		d->msi_dest = v;
	ret = msi_apply_locked(d);
	pthread_mutex_unlock(&d->msi_lock);
	if (ret)
		log_err("passthrough: MSI route: %s", strerror(-ret));
}

/* MSIs raised while no irqfd of ours listened went to the old VM (or
 * nowhere): if the device has reported completions, raise one now. A
 * spurious MSI is harmless: the guest reads irq_status. */
static void msi_replay(struct pt_dev *d)
{
	uint32_t pending;

	if (!d->bar)
		return;
	pending = __atomic_load_n(&d->bar->irq_status, __ATOMIC_ACQUIRE);
	if (pending && d->msi_vec)
		(void)vm_signal_msi(d->vm, msi_addr(d->msi_dest), d->msi_vec);
}

/* ---- create / destroy --------------------------------------------------- */

int pt_take_fd(struct handoff *h, const char *name, enum handoff_kind kind)
{
	int fd = handoff_get(h, name, kind);

	if (fd >= 0)
		fd = handoff_take(h, name);
	if (fd < 0)
		log_err("passthrough: no usable \"%s\" fd in the handoff", name);
	return fd;
}

static void pt_destroy(void *priv)
{
	struct pt_dev *d = priv;

	if (!d)
		return;
	atomic_store(&d->stopping, true);
	pt_rebuild_join(d);
	pt_iommu_teardown(d);
	/* nothing is said to the device: a successor may drive it */
	if (d->bar)
		munmap(d->bar, d->bar_size);
	util_close(&d->bar_fd);
	util_close(&d->vfio_fd);
	util_close(&d->doorbell_fd);
	util_close(&d->irq_fd);
	util_close(&d->sim_fd);
	pthread_mutex_destroy(&d->msi_lock);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d->cpu);
	free(d);
}

struct pt_dev *pt_alloc(unsigned ncpus)
{
	struct pt_dev *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->cpu = calloc(MAX(ncpus, 1u), sizeof(*d->cpu));
	if (!d->cpu) {
		free(d);
		return NULL;
	}
	d->ncpus = ncpus;
	d->sim_fd = d->bar_fd = d->vfio_fd = d->doorbell_fd = d->irq_fd = -1;
	d->old_pool_fd = d->old_log_fd = -1;
	d->iommufd_path = IOMMUFD_DEV_PATH;
	pthread_mutex_init(&d->msi_lock, NULL);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	return d;
}

int pt_open(struct pt_dev *d, const struct device_spec *spec,
	    const struct mem *m, struct vm_devmem *dm, unsigned ndm,
	    struct handoff *h)
{
	int ret;

	if (spec->kind != DEVICE_SOFT && spec->kind != DEVICE_VFIO)
		return -EINVAL;
	d->spec = *spec;
	d->mem = m;
	d->incoming = h != NULL;
	d->be = spec->kind == DEVICE_VFIO ? &pt_vfio_backend : &pt_soft_backend;
	ret = take_bar(d, dm, ndm);
	if (!ret)
		ret = pt_iommu_setup(d, h);
	return ret;
}

static int register_ports(struct pt_dev *d)
{
	struct vm *vm = d->vm;
	int ret;

	ret = iobus_register(&vm->pio, LUVMM_PORT_IOMMU, 4, pt_iommu_io, d, "pv-iommu");
	if (ret || !d->bar)
		return ret;
	ret = iobus_register(&vm->pio, LUVMM_PORT_DMA_DOORBELL, 4, pt_doorbell_io, d,
			     "dma-doorbell");
	if (!ret)
		ret = iobus_register(&vm->pio, LUVMM_PORT_DMA_MSI_VEC, 8, msi_io, d,
				     "dma-msi");
	/* an exec-mode restore wires KVM after the vCPUs run (resumed); a
	 * VFIO device has no doorbell eventfd: its writes exit to us */
	if (!ret && !d->lazy && d->doorbell_fd >= 0) {
		ret = vm_ioeventfd(vm, LUVMM_PORT_DMA_DOORBELL, d->doorbell_fd, true);
		d->ioeventfd_on = !ret;
	}
	return ret;
}

static int pt_create(const struct dev_env *env, void **priv)
{
	struct pt_dev *d = pt_alloc(env->vm->ncpus);
	struct device_spec spec;
	char err[160];
	int ret;

	if (!d)
		return -ENOMEM;
	d->vm = env->vm;
	d->mem = &env->vm->mem;
	d->incoming = env->handoff != NULL;
	d->lazy = env->vm->lazy;
	d->fault = env->cfg->fault;
	if (env->cfg->device) {
		ret = config_parse_device(env->cfg->device, &spec, err, sizeof(err));
		if (ret)
			log_err("passthrough: %s", err);
		else
			ret = pt_open(d, &spec, &env->vm->mem, env->devmem,
				      env->ndevmem, env->handoff);
		if (ret)
			goto err;
	}
	ret = register_ports(d);
	if (ret) {
		log_err("passthrough: ports: %s", strerror(-ret));
		goto err;
	}
	*priv = d;
	return 0;
err:
	pt_destroy(d);
	return ret;
}

/* ---- live update ---------------------------------------------------------- */

static int pt_export(void *priv, struct handoff *h)
{
	struct pt_dev *d = priv;
	int ret;

	if (!d->be)
		return 0;
	ret = handoff_add(h, "pt-irq", d->irq_fd, HK_EVENTFD);
	if (!ret)
		ret = pt_iommu_export(d, h);
	return ret;
}

static int pt_busy(void *priv, char *msg, size_t len)
{
	struct pt_dev *d = priv;
	bool busy;

	pthread_mutex_lock(&d->lock);
	busy = d->state == PT_REBUILDING;
	pthread_mutex_unlock(&d->lock);
	if (!busy)
		return 0;
	snprintf(msg, len, "the IOMMU state of the last update is still being "
		 "rebuilt; try again in a moment");
	return -EBUSY;
}

static void pt_save(void *priv, struct lu_writer *w)
{
	struct pt_dev *d = priv;

	/* vCPUs are parked: no request is running */
	lu_put_u8(w, (uint8_t)d->spec.kind);
	lu_put_u8(w, d->state == PT_DEGRADED);
	lu_put_u32(w, d->msi_vec);
	lu_put_u32(w, d->msi_dest);
	lu_put_u32(w, d->ioas_id);
	lu_put_u32(w, d->hwpt_id);
	lu_put_u32(w, d->dev_id);
	lu_put_u64(w, d->maps);
	lu_put_u64(w, d->unmaps);
	lu_put_u64(w, d->refused);
}

static int pt_load(void *priv, struct lu_dec *dec)
{
	struct pt_dev *d = priv;
	struct pt_saved *s = &d->staged;

	lu_get_u8(dec, "kind", &s->kind);
	lu_check(dec, s->kind == d->spec.kind, "kind",
		 "device kind %u, but this VMM has %u", s->kind, d->spec.kind);
	lu_get_u8(dec, "degraded", &s->degraded);
	lu_check(dec, s->degraded <= 1, "degraded", "%u is not 0 or 1", s->degraded);
	lu_get_u32(dec, "msi_vec", &s->msi_vec);
	lu_check(dec, !s->msi_vec || (s->msi_vec >= 16 && s->msi_vec <= 255),
		 "msi_vec", "%u is not a vector", s->msi_vec);
	lu_get_u32(dec, "msi_dest", &s->msi_dest);
	lu_check(dec, s->msi_dest <= 255, "msi_dest", "%u above 255", s->msi_dest);
	lu_get_u32(dec, "ioas", &s->ioas);
	lu_get_u32(dec, "hwpt", &s->hwpt);
	lu_get_u32(dec, "dev", &s->dev);
	/* a VFIO device is still attached to these: the rebuild adopts them */
	lu_check(dec, s->kind != DEVICE_VFIO || (s->ioas && s->hwpt && s->dev),
		 "dev", "iommufd objects ioas %u hwpt %u dev %u: a VFIO device "
		 "needs all three", s->ioas, s->hwpt, s->dev);
	/* one id space: three objects, three ids */
	lu_check(dec, s->kind != DEVICE_VFIO ||
		 (s->ioas != s->hwpt && s->ioas != s->dev && s->hwpt != s->dev),
		 "dev", "iommufd objects ioas %u hwpt %u dev %u: not distinct",
		 s->ioas, s->hwpt, s->dev);
	lu_get_u64(dec, "maps", &s->maps);
	lu_get_u64(dec, "unmaps", &s->unmaps);
	lu_get_u64(dec, "refused", &s->refused);
	return lu_dec_finish(dec, PT_STATE_VERSION);
}

static void pt_commit(void *priv)
{
	struct pt_dev *d = priv;

	d->msi_vec = d->staged.msi_vec;
	d->msi_dest = d->staged.msi_dest;
	pthread_mutex_lock(&d->lock);
	d->maps = d->staged.maps;
	d->unmaps = d->staged.unmaps;
	d->refused = d->staged.refused;
	if (d->spec.kind == DEVICE_VFIO) {
		/* the kernel objects the device still uses (soft: this VMM's
		 * own context names its objects afresh) */
		d->dev_id = d->staged.dev;
		d->ioas_id = d->staged.ioas;
		d->hwpt_id = d->staged.hwpt;
	}
	pthread_mutex_unlock(&d->lock);
}

/*
 * After an update, in the new VMM: the MSI route and irqfd on our VM. The
 * kernel lets one VM at a time bind an irqfd to an eventfd, so this waits
 * (bounded) while the old VM still holds it; its teardown is under way.
 * MSIs raised meanwhile went to the old VM: msi_replay() makes up for
 * them. Runs on the rebuild thread, off the critical path.
 */
int pt_msi_rewire(struct pt_dev *d)
{
	uint64_t end = util_now_ns() + 10ULL * 1000000000;
	int ret;

	if (!d->vm)	/* a unit test's device: no VM to wire */
		return 0;
	for (;;) {
		pthread_mutex_lock(&d->msi_lock);
		ret = d->msi_vec ? msi_apply_locked(d) : 0;
		pthread_mutex_unlock(&d->msi_lock);
		if (ret != -EBUSY || util_now_ns() > end ||
		    atomic_load(&d->stopping))
			break;
		usleep(1000);
	}
	if (ret)
		log_err("passthrough: MSI after the update: %s", strerror(-ret));
	msi_replay(d);
	return ret;
}

static void pt_resumed(void *priv, bool new_vmm)
{
	struct pt_dev *d = priv;
	int ret;

	if (!d->be)
		return;
	if (!new_vmm) {
		msi_replay(d);	/* a rollback: our irqfd never went away */
		return;
	}
	if (!d->ioeventfd_on && d->doorbell_fd >= 0) {
		ret = vm_ioeventfd(d->vm, LUVMM_PORT_DMA_DOORBELL, d->doorbell_fd, true);
		d->ioeventfd_on = !ret;
		if (ret)	/* doorbells still reach the device, by exit */
			log_warn("passthrough: doorbell ioeventfd: %s", strerror(-ret));
	}
	if (pt_rebuild_start(d))
		log_err("passthrough: cannot start the IOMMU rebuild");
}

/* ---- metrics and housekeeping --------------------------------------------- */

static void pt_metrics(void *priv, struct json_writer *w)
{
	struct pt_dev *d = priv;

	if (!d->be)
		return;
	jw_key(w, "passthrough");
	jw_obj_begin(w);
	jw_kstr(w, "kind", d->spec.kind == DEVICE_SOFT ? "soft" : "vfio");
	jw_ku64(w, "msi_vector", d->msi_vec);
	jw_ku64(w, "bad_requests", d->bad_requests);
	pt_iommu_metrics(d, w);
	jw_obj_end(w);
}

static void pt_tick(void *priv)
{
	struct pt_dev *d = priv;

	if (d->be)
		pt_iommu_tick(d);
}

/* A VFIO device cannot go on without the iommufd ids its section carries;
 * the simulator's device starts from its fresh state. */
static bool pt_state_needed(void *priv)
{
	const struct pt_dev *d = priv;

	return d->be == &pt_vfio_backend;
}

const struct dev_ops passthrough_ops = {
	.name = "passthrough",
	.premap = pt_premap,
	.create = pt_create,
	.destroy = pt_destroy,
	.tick = pt_tick,
	.metrics = pt_metrics,
	.export = pt_export,
	.save = pt_save,
	.load = pt_load,
	.commit = pt_commit,
	.busy = pt_busy,
	.resumed = pt_resumed,
	.state_version = PT_STATE_VERSION,
	.state_optional = true,
	.state_needed = pt_state_needed,
};
