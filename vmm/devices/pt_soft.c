// SPDX-License-Identifier: MIT
/*
 * pt_soft.c: the passthrough device's soft backend (struct pt_backend):
 * the device simulator process (luvmm-devsim) behind the soft IOMMU. Owns
 * starting or reaching the simulator, BAR0 as a memfd the simulator and
 * the guest share, the doorbell eventfd the simulator waits on, the soft
 * IOMMU context with its context page and table pools, and which of them
 * a live update hands over.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "../iommu/softhw.h"
#include "../json.h"
#include "../liveupdate/handoff.h"
#include "../log.h"
#include "../mem.h"
#include "../util.h"
#include "../vm.h"
#include "passthrough.h"

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

int pt_soft_premap(struct handoff *h, struct vm_devmem *dm)
{
	int fd, ret;

	if (h) {
		fd = pt_take_fd(h, "pt-bar", HK_MEMFD);
		if (fd < 0)
			return fd;
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

/* ---- the backend ------------------------------------------------------------ */

/* The simulator and the device's eventfds: new, or the old VMM's. */
static int device_fds(struct pt_dev *d, struct handoff *h)
{
	int ret;

	if (h) {
		d->sim_fd = pt_take_fd(h, "pt-sim", HK_SOCKET);
		d->doorbell_fd = pt_take_fd(h, "pt-doorbell", HK_EVENTFD);
		d->irq_fd = pt_take_fd(h, "pt-irq", HK_EVENTFD);
		return d->sim_fd < 0 || d->doorbell_fd < 0 || d->irq_fd < 0 ? -EBADF : 0;
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

static int soft_open(struct pt_dev *d, struct handoff *h)
{
	char err[192];
	int ctx_fd = -1, ret;

	ret = device_fds(d, h);
	if (ret)
		return ret;
	if (h) {
		ctx_fd = pt_take_fd(h, "pt-ctx", HK_MEMFD);
		d->old_pool_fd = pt_take_fd(h, "pt-pool", HK_MEMFD);
		if (ctx_fd < 0 || d->old_pool_fd < 0) {
			util_close(&ctx_fd);
			return -EBADF;
		}
	}
	ret = soft_iommu_create(d->sim_fd, ctx_fd, &d->io, err, sizeof(err));
	util_close(&ctx_fd);
	if (ret) {
		log_err("passthrough: %s", err);
		return ret;
	}
	ret = soft_iommu_add_file(d->io, d->mem->fd, SOFTHW_SLOT_GUEST_RAM,
				  d->mem->size, h != NULL);
	if (!ret)
		ret = soft_iommu_bind(d->io, &d->dev_id);
	if (ret)
		log_err("passthrough: IOMMU: %s", strerror(-ret));
	return ret;
}

static int soft_start(struct pt_dev *d)
{
	int ret;

	ret = soft_iommu_attach_sim(d->io, d->bar_fd, d->doorbell_fd, d->irq_fd);
	if (ret)
		log_err("passthrough: starting the device simulator: %s",
			strerror(-ret));
	return ret;
}

/* The device walks the tables the old VMM built: wrap them read-only. */
static int soft_adopt(struct pt_dev *d, struct replay_params *p, char *err,
		      size_t errlen)
{
	p->old_ioas = 0;
	return soft_iommu_adopt_hwpt(d->io, d->dev_id, d->old_pool_fd,
				     &p->old_hwpt, err, errlen);
}

static void soft_ring(struct pt_dev *d)
{
	uint64_t one = 1;

	if (d->doorbell_fd >= 0 && write(d->doorbell_fd, &one, 8) != 8)
		log_dbg("passthrough: doorbell: %s", strerror(errno));
}

static int soft_export(struct pt_dev *d, struct handoff *h)
{
	uint32_t slot;
	int pool_fd, ret;

	if (soft_iommu_hwpt_pool(d->io, d->hwpt_id, &pool_fd, &slot)) {
		log_err("passthrough: the IOMMU tables cannot be handed over");
		return -ENODEV;
	}
	ret = handoff_add(h, "pt-sim", d->sim_fd, HK_SOCKET);
	if (!ret)
		ret = handoff_add(h, "pt-bar", d->bar_fd, HK_MEMFD);
	if (!ret)
		ret = handoff_add(h, "pt-doorbell", d->doorbell_fd, HK_EVENTFD);
	if (!ret)
		ret = handoff_add(h, "pt-ctx", soft_iommu_ctx_fd(d->io), HK_MEMFD);
	if (!ret)
		ret = handoff_add(h, "pt-pool", pool_fd, HK_MEMFD);
	return ret;
}

/* Drop freed tables the device no longer walks. */
static void soft_tick(struct pt_dev *d)
{
	soft_iommu_reclaim(d->io);
}

static void soft_metrics(struct pt_dev *d, struct json_writer *w)
{
	struct soft_iommu_dev_stats st;

	/* the rebuild thread owns the objects until the gate opens */
	if (d->state != PT_REBUILDING && d->hwpt_id)
		jw_ku64(w, "table_pages", soft_iommu_hwpt_tables(d->io, d->hwpt_id));
	soft_iommu_dev_stats(d->io, &st);
	jw_key(w, "device");
	jw_obj_begin(w);
	jw_ku64(w, "jobs", st.jobs);
	jw_ku64(w, "faults", st.faults);
	jw_ku64(w, "translations", st.xlates);
	jw_ku64(w, "bytes", st.bytes);
	jw_ku64(w, "msis", st.msis);
	jw_ku64(w, "last_fault_iova", st.last_fault);
	jw_key(w, "last_error");
	jw_i64(w, st.last_err);
	jw_ku64(w, "generation", st.gen);
	jw_ku64(w, "acked", st.ack);
	jw_obj_end(w);
}

const struct pt_backend pt_soft_backend = {
	.name = "soft",
	.open = soft_open,
	.start = soft_start,
	.adopt = soft_adopt,
	.ring = soft_ring,
	.export = soft_export,
	.tick = soft_tick,
	.metrics = soft_metrics,
};
