// SPDX-License-Identifier: MIT
/*
 * vm.c: VM lifetime, the vCPU pause handshake and exit requests.
 *
 * Lock order: vm->lock -> device locks -> iobus lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "vcpu.h"
#include "vm.h"

/* Capabilities luvmm cannot run without. */
static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
	{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
	{ KVM_CAP_XSAVE, "KVM_CAP_XSAVE" },
	{ KVM_CAP_GET_TSC_KHZ, "KVM_CAP_GET_TSC_KHZ" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
};

const char *vm_state_name(enum vm_state s)
{
	switch (s) {
	case VM_CREATED: return "created";
	case VM_RUNNING: return "running";
	case VM_PAUSED: return "paused";
	case VM_STOPPING: return "stopping";
	}
	return "?";
}

static int open_kvm(struct vm *vm, char *err, size_t errlen)
{
	unsigned i;
	int ret;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "/dev/kvm: %s", strerror(-ret));
		return ret;
	}
	ret = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm: API version %d, need %d", ret,
			 KVM_API_VERSION);
		return -ENOTSUP;
	}
	for (i = 0; i < ARRAY_SIZE(required_caps); i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			snprintf(err, errlen, "KVM lacks %s", required_caps[i].name);
			return -ENOTSUP;
		}
	}
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %d", vm->vcpu_mmap_size);
		return -ENOTSUP;
	}
	return 0;
}

static int create_vcpus(struct vm *vm, char *err, size_t errlen)
{
	unsigned i;
	int ret;

	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (i = 0; i < vm->ncpus; i++) {
		ret = vcpu_create(vm, i, &vm->vcpus[i]);
		if (ret) {
			snprintf(err, errlen, "vcpu%u: %s", i, strerror(-ret));
			return ret;
		}
	}
	for (i = 0; i < vm->ncpus; i++) {
		ret = vcpu_start_thread(vm->vcpus[i]);
		if (ret) {
			snprintf(err, errlen, "vcpu%u thread: %s", i, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static int register_eager(struct vm *vm)
{
	uint64_t done = 0;
	unsigned i;
	int ret = 0;

	for (i = 0; !ret && i < vm->mem.nslots; i++) {
		if (i && done + vm->mem.slots[i].size > VM_LAZY_EAGER)
			break;
		ret = mem_slot_register(&vm->mem, vm->vm_fd, i);
		done += vm->mem.slots[i].size;
	}
	return ret;
}

/* Device memory slots take the KVM slot ids after RAM's. */
static int register_devmem(struct vm *vm, const struct vm_params *p)
{
	unsigned i;

	if (p->ndevmem > VM_MAX_DEVMEM)
		return -EINVAL;
	for (i = 0; i < p->ndevmem; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = vm->mem.nslots + i,
			.guest_phys_addr = p->devmem[i].gpa,
			.memory_size = p->devmem[i].size,
			.userspace_addr = (uintptr_t)p->devmem[i].host,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return -errno;
	}
	return 0;
}

int vm_create(const struct vm_params *p, struct vm **out, char *err, size_t errlen)
{
	struct vm *vm;
	int ret;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->kvm_fd = vm->vm_fd = vm->event_fd = -1;
	vm->mem.fd = -1;
	vm->ncpus = p->ncpus;
	atomic_init(&vm->pause_req, true);	/* vCPU threads start parked */
	atomic_init(&vm->parked, 0);

	vm->state = VM_CREATED;
	vm->created_ns = util_now_ns();
	atomic_init(&vm->exit_status, -1);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	pthread_cond_init(&vm->slot_cond, NULL);
	pthread_mutex_init(&vm->route_lock, NULL);
	vm->lazy = p->lazy;
	vm->warm = p->warm;

	ret = iobus_init(&vm->pio, "pio");
	if (!ret)
		ret = iobus_init(&vm->mmio, "mmio");
	if (ret)
		goto err;
	vm->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->event_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-ret));
		goto err;
	}
	ret = open_kvm(vm, err, errlen);
	if (ret)
		goto err;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(-ret));
		goto err;
	}
	if (p->ram_fd >= 0)
		ret = mem_init_from_fd(&vm->mem, p->ram_fd, p->mem_bytes,
				       p->hugetlb, err, errlen);
	else
		ret = mem_init(&vm->mem, p->mem_bytes, p->hugetlb, err, errlen);
	if (ret)
		goto err;
	/*
	 * Memslots go in before the irqchip: on this host the first memslot
	 * change after KVM_CREATE_IRQCHIP costs 5-10 ms, before it a slot
	 * costs ~0.4 ms per GiB. Lazy (exec-mode restore): only the first
	 * VM_LAZY_EAGER bytes now, the rest after the vCPUs run.
	 */
	ret = p->lazy ? register_eager(vm) : mem_register_all(&vm->mem, vm->vm_fd);
	if (!ret)
		ret = register_devmem(vm, p);
	if (ret) {
		snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(-ret));
		goto err;
	}
	ret = vm_arch_create(vm, err, errlen);
	if (ret)
		goto err;
	ret = create_vcpus(vm, err, errlen);
	if (ret)
		goto err;
	*out = vm;
	return 0;
err:
	vm_destroy(vm);
	return ret;
}

void vm_destroy(struct vm *vm)
{
	unsigned i;

	if (!vm)
		return;
	if (vm->vcpus) {
		atomic_store(&vm->exit_req, true);
		atomic_store(&vm->pause_req, false);
		pthread_mutex_lock(&vm->lock);
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
		for (i = 0; i < vm->ncpus; i++)
			vcpu_destroy(vm->vcpus[i]);
		free(vm->vcpus);
	}
	vm_arch_destroy(vm);
	/* RAM is unmapped after the VM fd closes so KVM never sees it go */
	util_close(&vm->vm_fd);
	mem_fini(&vm->mem);
	util_close(&vm->kvm_fd);
	util_close(&vm->event_fd);
	iobus_fini(&vm->mmio);
	iobus_fini(&vm->pio);
	pthread_cond_destroy(&vm->slot_cond);
	pthread_mutex_destroy(&vm->route_lock);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int vm_start(struct vm *vm)
{
	if (vm->state != VM_CREATED)
		return -EBUSY;
	vm->state = VM_PAUSED;
	vm_resume(vm);
	return 0;
}

void vm_arm_park_hook(struct vm *vm, void (*fn)(struct vcpu *v, void *arg), void *arg)
{
	vm->park_hook = fn;
	vm->hook_arg = arg;
	atomic_fetch_add_explicit(&vm->hook_gen, 1, memory_order_release);
	/* parked vCPUs are asleep: they run it when woken */
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

void vm_pause_with(struct vm *vm, void (*fn)(struct vcpu *v, void *arg), void *arg)
{
	unsigned i;

	vm->park_hook = fn;
	vm->hook_arg = arg;
	atomic_fetch_add_explicit(&vm->hook_gen, 1, memory_order_release);
	atomic_store(&vm->pause_req, true);
	for (i = 0; i < vm->ncpus; i++)
		vcpu_kick(vm->vcpus[i]);
	vm->paused_ns = util_now_ns();
	vm->state = VM_PAUSED;
}

void vm_release_vcpus(struct vm *vm)
{
	unsigned i;

	for (i = 0; i < vm->ncpus; i++)
		__atomic_store_n(&vm->vcpus[i]->run->immediate_exit, 0,
				 __ATOMIC_RELAXED);
	atomic_store_explicit(&vm->pause_req, false, memory_order_release);
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

static bool all_parked(struct vm *vm)
{
	return atomic_load_explicit(&vm->parked, memory_order_acquire) >= vm->ncpus;
}

void vm_pause(struct vm *vm)
{
	unsigned i;

	if (vm->state != VM_RUNNING)
		return;
	atomic_store(&vm->pause_req, true);
	for (i = 0; i < vm->ncpus; i++)
		vcpu_kick(vm->vcpus[i]);
	pthread_mutex_lock(&vm->lock);
	while (!all_parked(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	vm->paused_ns = util_now_ns();
	vm->state = VM_PAUSED;
}

void vm_resume(struct vm *vm)
{
	if (vm->state != VM_PAUSED)
		return;
	vm_release_vcpus(vm);
	if (vm->paused_ns)
		vm->paused_total_ns += util_now_ns() - vm->paused_ns;
	vm->paused_ns = 0;
	vm->state = VM_RUNNING;
}

void vm_request_exit(struct vm *vm, int status)
{
	int none = -1;
	uint64_t one = 1;

	if (atomic_compare_exchange_strong(&vm->exit_status, &none, status))
		if (write(vm->event_fd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow with one write: ignore */
		}
}

void vm_wait_warm(struct vm *vm)
{
	if (!vm->warm)
		return;
	pthread_mutex_lock(&vm->lock);
	while (vm->warmed < vm->ncpus && !atomic_load(&vm->exit_req))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

int vm_register_slot(struct vm *vm, unsigned i)
{
	int ret;

	if (atomic_load(&vm->mem.slots[i].registered))
		return 0;
	ret = mem_slot_register(&vm->mem, vm->vm_fd, i);
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->slot_cond);
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

void vm_ram_access_late(struct vm *vm, unsigned slot, uint64_t gpa, uint8_t *data,
			uint32_t len, bool is_write)
{
	struct mem_slot *s = &vm->mem.slots[slot];
	uint8_t *hva;

	if (!atomic_load_explicit(&s->registered, memory_order_acquire)) {
		uint64_t t0 = util_now_ns();

		pthread_mutex_lock(&vm->lock);
		while (!atomic_load(&s->registered) && !atomic_load(&vm->exit_req))
			pthread_cond_wait(&vm->slot_cond, &vm->lock);
		pthread_mutex_unlock(&vm->lock);
		atomic_fetch_add(&vm->slot_sleeps, 1);
		atomic_fetch_add(&vm->slot_sleep_ns, util_now_ns() - t0);
	}
	/* KVM took the exit before the slot existed: finish the access on
	 * the same memory KVM now maps */
	hva = mem_gpa_to_hva(&vm->mem, gpa, len);
	if (!hva)
		memset(data, 0xff, is_write ? 0 : len);
	else if (is_write)
		memcpy(hva, data, len);
	else
		memcpy(data, hva, len);
}

int vm_irq_line(struct vm *vm, unsigned irq, bool level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
		return -errno;
	return 0;
}
