// SPDX-License-Identifier: MIT
/*
 * passthrough.c: the DMA device the guest sees (guest-fw/abi.h "The DMA
 * device"), whichever backend is behind it. Owns BAR0 (shared memory
 * KVM maps as a memslot), the doorbell (a KVM ioeventfd on its port), the
 * MSI (a GSI route and an irqfd), the simulator process it may start, and
 * the device's part of a live update: the fds it hands over, the small
 * record section, and what it does once the vCPUs run again.
 *
 * Without --device the device is inert: the paravirtual IOMMU port still
 * answers, with ENODEV, so a guest learns there is nothing to map for.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../iommu/iommu.h"
#include "../iommu/soft.h"
#include "../json.h"
#include "../liveupdate/handoff.h"
#include "../liveupdate/state.h"
#include "../log.h"
#include "../util.h"
#include "../vm.h"
#include "devices.h"
#include "passthrough.h"

#define PT_STATE_VERSION	1

/* ---- the simulator process ---------------------------------------------- */

/* Connect to a simulator listening on path. */
static int sim_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* build/luvmm-devsim next to this binary, or $LUVMM_DEVSIM. */
static int sim_binary(char *buf, size_t size)
{
	const char *env = getenv("LUVMM_DEVSIM");
	char *slash;
	ssize_t n;

	if (env && *env) {
		snprintf(buf, size, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", buf, size - 16);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	snprintf(slash ? slash + 1 : buf, size - (size_t)(slash ? slash + 1 - buf : 0),
		 "luvmm-devsim");
	return 0;
}

/*
 * Start a simulator on one end of a socket pair. It runs in its own
 * session, reparented away from us (double fork), so it outlives this
 * VMM as hardware outlives a kexec; it exits when every holder of the
 * other end (this VMM and any it hands the fd to) has closed it.
 */
static int sim_spawn(void)
{
	char bin[4096];
	int sv[2], status, ret;
	pid_t pid;

	ret = sim_binary(bin, sizeof(bin));
	if (ret)
		return ret;
	if (access(bin, X_OK)) {
		ret = -errno;
		log_err("passthrough: device simulator %s: %s", bin, strerror(-ret));
		return ret;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto err;
	}
	if (pid == 0) {
		/* only async-signal-safe calls from here on */
		if (fork() != 0)
			_exit(0);
		setsid();
		if (dup2(sv[1], 3) < 0)
			_exit(127);
		fcntl(3, F_SETFD, 0);
		syscall(SYS_close_range, 4U, ~0U, 0U);
		execl(bin, "luvmm-devsim", "--fd", "3", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	close(sv[1]);
	return sv[0];
err:
	close(sv[0]);
	close(sv[1]);
	return ret;
}

/* ---- BAR0 ------------------------------------------------------------------ */

static int bar_map(int fd, struct vm_devmem *dm)
{
	void *p = mmap(NULL, LUVMM_DMA_BAR0_SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	*dm = (struct vm_devmem){ LUVMM_DMA_BAR0, LUVMM_DMA_BAR0_SIZE, p, fd };
	return 1;
}

static int pt_premap(const struct config *cfg, struct handoff *h,
		     struct vm_devmem *dm)
{
	int fd, ret;

	if (!cfg->device)
		return 0;
	if (h) {
		fd = handoff_get(h, "pt-bar", HK_MEMFD);
		if (fd < 0) {
			log_err("passthrough: no usable \"pt-bar\" fd in the handoff");
			return fd;
		}
		handoff_take(h, "pt-bar");
	} else {
		fd = memfd_create("luvmm-bar0", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, LUVMM_DMA_BAR0_SIZE) < 0 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
			ret = -errno;
			log_err("passthrough: BAR0 memfd: %s", strerror(-ret));
			if (fd >= 0)
				close(fd);
			return ret;
		}
	}
	if (lseek(fd, 0, SEEK_END) != LUVMM_DMA_BAR0_SIZE) {
		log_err("passthrough: BAR0 memfd is not %d bytes", LUVMM_DMA_BAR0_SIZE);
		close(fd);
		return -EBADF;
	}
	ret = bar_map(fd, dm);
	if (ret < 0) {
		log_err("passthrough: BAR0 mmap: %s", strerror(-ret));
		close(fd);
	}
	return ret;
}

/* ---- doorbell and MSI --------------------------------------------------------- */

/* A doorbell that reached us (no ioeventfd yet): ring the device ourselves. */
static void doorbell_io(void *priv, uint64_t off, uint8_t *data, uint32_t len,
			bool is_write)
{
	struct pt_dev *d = priv;
	uint64_t one = 1;

	(void)off;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (d->doorbell_fd >= 0 && write(d->doorbell_fd, &one, 8) != 8)
		log_dbg("passthrough: doorbell: %s", strerror(errno));
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
	uint32_t pending = __atomic_load_n(&d->bar->irq_status, __ATOMIC_ACQUIRE);

	if (pending && d->msi_vec)
		(void)vm_signal_msi(d->vm, msi_addr(d->msi_dest), d->msi_vec);
}

/* ---- create / destroy --------------------------------------------------- */

static int take_fd(struct handoff *h, const char *name, enum handoff_kind kind)
{
	int fd = handoff_get(h, name, kind);

	if (fd < 0) {
		log_err("passthrough: no usable \"%s\" fd in the handoff", name);
		return fd;
	}
	return handoff_take(h, name);
}

static int device_fds(struct pt_dev *d, const struct dev_env *env)
{
	char err[160];
	int ret;

	if (env->handoff) {
		d->sim_fd = take_fd(env->handoff, "pt-sim", HK_SOCKET);
		d->doorbell_fd = take_fd(env->handoff, "pt-doorbell", HK_EVENTFD);
		d->irq_fd = take_fd(env->handoff, "pt-irq", HK_EVENTFD);
		return d->sim_fd < 0 || d->doorbell_fd < 0 || d->irq_fd < 0 ? -EBADF : 0;
	}
	if (config_parse_device(env->cfg->device, &d->spec, err, sizeof(err)) ||
	    d->spec.kind != DEVICE_SOFT) {
		log_err("passthrough: %s", d->spec.kind == DEVICE_VFIO ?
			"vfio devices need /dev/iommu and /dev/vfio: not on this host" : err);
		return -ENODEV;
	}
	d->sim_fd = d->spec.sim[0] ? sim_connect(d->spec.sim) : sim_spawn();
	if (d->sim_fd < 0) {
		ret = d->sim_fd;
		log_err("passthrough: device simulator%s%s: %s", d->spec.sim[0] ? " " : "",
			d->spec.sim, strerror(-ret));
		return ret;
	}
	d->doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return d->doorbell_fd < 0 || d->irq_fd < 0 ? -errno : 0;
}

/* Take over the BAR0 region premap() made. */
static int take_bar(struct pt_dev *d, const struct dev_env *env)
{
	unsigned i;

	for (i = 0; i < env->ndevmem; i++) {
		struct vm_devmem *dm = &env->devmem[i];

		if (dm->gpa == LUVMM_DMA_BAR0 && dm->host) {
			d->bar = dm->host;
			d->bar_fd = dm->fd;
			dm->host = NULL;
			dm->fd = -1;
			return 0;
		}
	}
	log_err("passthrough: BAR0 was not mapped before the VM was built");
	return -ENOENT;
}

static void pt_destroy(void *priv)
{
	struct pt_dev *d = priv;

	if (!d)
		return;
	atomic_store(&d->stopping, true);
	pt_rebuild_join(d);
	pt_iommu_teardown(d);
	/* nothing is said to the simulator: a successor may drive it */
	if (d->bar)
		munmap(d->bar, LUVMM_DMA_BAR0_SIZE);
	util_close(&d->bar_fd);
	util_close(&d->doorbell_fd);
	util_close(&d->irq_fd);
	util_close(&d->sim_fd);
	pthread_mutex_destroy(&d->msi_lock);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d->cpu);
	free(d);
}

static int register_ports(struct pt_dev *d)
{
	struct vm *vm = d->vm;
	int ret;

	ret = iobus_register(&vm->pio, LUVMM_PORT_IOMMU, 4, pt_iommu_io, d, "pv-iommu");
	if (ret || !d->bar)
		return ret;
	ret = iobus_register(&vm->pio, LUVMM_PORT_DMA_DOORBELL, 4, doorbell_io, d,
			     "dma-doorbell");
	if (!ret)
		ret = iobus_register(&vm->pio, LUVMM_PORT_DMA_MSI_VEC, 8, msi_io, d,
				     "dma-msi");
	/* an exec-mode restore wires KVM after the vCPUs run (resumed) */
	if (!ret && !d->lazy) {
		ret = vm_ioeventfd(vm, LUVMM_PORT_DMA_DOORBELL, d->doorbell_fd, true);
		d->ioeventfd_on = !ret;
	}
	return ret;
}

static int pt_create(const struct dev_env *env, void **priv)
{
	struct pt_dev *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	d->vm = env->vm;
	d->sim_fd = d->bar_fd = d->doorbell_fd = d->irq_fd = -1;
	d->old_pool_fd = d->old_log_fd = -1;
	d->incoming = env->handoff != NULL;
	d->lazy = env->vm->lazy;
	d->fault = env->cfg->fault;
	pthread_mutex_init(&d->msi_lock, NULL);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->cpu = calloc(env->vm->ncpus, sizeof(*d->cpu));
	if (!d->cpu) {
		ret = -ENOMEM;
		goto err;
	}
	if (env->cfg->device) {
		ret = config_parse_device(env->cfg->device, &d->spec, d->degraded_reason,
					  sizeof(d->degraded_reason));
		if (!ret)
			ret = take_bar(d, env);
		if (!ret)
			ret = device_fds(d, env);
		if (!ret)
			ret = pt_iommu_setup(d, env->handoff);
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

	if (d->spec.kind == DEVICE_NONE)
		return 0;
	ret = handoff_add(h, "pt-sim", d->sim_fd, HK_SOCKET);
	if (!ret)
		ret = handoff_add(h, "pt-bar", d->bar_fd, HK_MEMFD);
	if (!ret)
		ret = handoff_add(h, "pt-doorbell", d->doorbell_fd, HK_EVENTFD);
	if (!ret)
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
	d->maps = d->staged.maps;
	d->unmaps = d->staged.unmaps;
	d->refused = d->staged.refused;
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

	if (d->spec.kind == DEVICE_NONE)
		return;
	if (!new_vmm) {
		msi_replay(d);	/* a rollback: our irqfd never went away */
		return;
	}
	if (!d->ioeventfd_on) {
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

	if (d->spec.kind == DEVICE_NONE)
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

	if (d->spec.kind != DEVICE_NONE)
		pt_iommu_tick(d);
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
};
