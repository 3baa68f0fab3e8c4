// SPDX-License-Identifier: MIT
/*
 * vcpu.c: vCPU threads, the run loop and arch-neutral exit handling.
 */
#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "vcpu.h"
#include "vm.h"

static __thread int current_id = -1;

int vcpu_current_id(void)
{
	return current_id;
}

static void kick_handler(int sig)
{
	(void)sig;	/* only there to make KVM_RUN return EINTR */
}

int vcpu_init_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: a kicked KVM_RUN must return */
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vm *vm, unsigned id, struct vcpu **out)
{
	struct vcpu *v;
	int ret;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		ret = -errno;
		goto err_free;
	}
	v->run = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		v->run = NULL;
		goto err_close;
	}
	ret = vcpu_arch_init(v);
	if (ret)
		goto err_unmap;
	*out = v;
	return 0;

err_unmap:
	munmap(v->run, (size_t)vm->vcpu_mmap_size);
err_close:
	close(v->fd);
err_free:
	free(v);
	return ret;
}

static bool stay_parked(struct vm *vm)
{
	return atomic_load_explicit(&vm->pause_req, memory_order_acquire) &&
	       !atomic_load(&vm->exit_req);
}

/* Run the park hook once per arming (a live update's save or restore). */
static bool hook_due(struct vcpu *v)
{
	return atomic_load_explicit(&v->vm->hook_gen, memory_order_acquire) != v->hook_gen;
}

static void run_park_hook(struct vcpu *v)
{
	struct vm *vm = v->vm;

	if (!hook_due(v))
		return;
	v->hook_gen = atomic_load_explicit(&vm->hook_gen, memory_order_acquire);
	vm->park_hook(v, vm->hook_arg);
}

/* Count ourselves parked, run a due park hook, wait for resume. */
static void park(struct vcpu *v)
{
	struct vm *vm = v->vm;

	v->t_parked = util_now_ns();
	atomic_fetch_add_explicit(&vm->parked, 1, memory_order_acq_rel);
	run_park_hook(v);
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);	/* a sleeping vm_pause() */
	pthread_mutex_unlock(&vm->lock);
	while (stay_parked(vm)) {
		run_park_hook(v);
		pthread_mutex_lock(&vm->lock);
		if (stay_parked(vm) && !hook_due(v))
			pthread_cond_wait(&vm->cond, &vm->lock);
		pthread_mutex_unlock(&vm->lock);
	}
	atomic_fetch_sub_explicit(&vm->parked, 1, memory_order_release);
}

static bool pause_requested(struct vm *vm)
{
	return atomic_load_explicit(&vm->pause_req, memory_order_acquire);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;
	uint32_t i;

	atomic_fetch_add_explicit(&v->stats.pio, 1, memory_order_relaxed);
	for (i = 0; i < run->io.count; i++) {
		iobus_access(&v->vm->pio, run->io.port, data, run->io.size, out);
		data += run->io.size;
	}
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	int slot;

	atomic_fetch_add_explicit(&v->stats.mmio, 1, memory_order_relaxed);
	if (run->mmio.len > sizeof(run->mmio.data)) {
		log_ratelimited(LOG_WARN, "vcpu%u: MMIO of %u bytes ignored", v->id,
				run->mmio.len);
		return;
	}
	/* RAM reaches us only while its memslot is not registered yet */
	slot = mem_slot_find(&v->vm->mem, run->mmio.phys_addr);
	if (slot >= 0) {
		vm_ram_access_late(v->vm, (unsigned)slot, run->mmio.phys_addr,
				   run->mmio.data, run->mmio.len, run->mmio.is_write);
		return;
	}
	iobus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data,
		     run->mmio.len, run->mmio.is_write);
}

static void fatal_exit(struct vcpu *v, const char *why)
{
	log_err("vcpu%u: %s: the guest cannot continue", v->id, why);
	vcpu_arch_dump(v);
	vm_request_exit(v->vm, LUVMM_EXIT_GUEST_CRASH);
}

/* Returns false when the vCPU must stop running the guest. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char why[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_HLT:
		return true;
	case KVM_EXIT_SHUTDOWN:
		fatal_exit(v, "triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(why, sizeof(why), "VM entry failed, reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		fatal_exit(v, why);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(why, sizeof(why), "KVM internal error, suberror %u",
			 run->internal.suberror);
		fatal_exit(v, why);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
			vm_request_exit(v->vm, LUVMM_EXIT_OK);
			return false;
		}
		snprintf(why, sizeof(why), "system event %u", run->system_event.type);
		fatal_exit(v, why);
		return false;
	default:
		snprintf(why, sizeof(why), "unexpected exit reason %u", run->exit_reason);
		fatal_exit(v, why);
		return false;
	}
}

/*
 * KVM finishes an I/O exit (the IN data into a register, RIP past the
 * instruction) on the next KVM_RUN. A vCPU must not park with one
 * unfinished, or saved state would replay the instruction (a serial byte
 * written twice). With immediate_exit set, KVM_RUN finishes the I/O and
 * returns EINTR without running guest code.
 */
static void complete_pending_io(struct vcpu *v)
{
	if (!v->io_pending)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELAXED);
	if (ioctl(v->fd, KVM_RUN, 0) == 0)
		log_ratelimited(LOG_WARN, "vcpu%u: KVM_RUN ran with immediate_exit set",
				v->id);
	v->io_pending = false;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char name[16];
	sigset_t set;

	current_id = (int)v->id;
	v->tid = gettid();
	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (vm->warm) {
		vcpu_arch_warmup(v);
		pthread_mutex_lock(&vm->lock);
		vm->warmed++;
		pthread_cond_broadcast(&vm->cond);
		pthread_mutex_unlock(&vm->lock);
	}

	for (;;) {
		if (atomic_load(&vm->exit_req))
			break;
		if (__atomic_load_n(&v->run->immediate_exit, __ATOMIC_RELAXED) ||
		    pause_requested(vm)) {
			v->t_stopped = util_now_ns();
			complete_pending_io(v);
			park(v);
			v->t_entered = util_now_ns();
			continue;
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				atomic_fetch_add_explicit(&v->stats.intr, 1,
							  memory_order_relaxed);
				continue;
			}
			log_err("vcpu%u: KVM_RUN: %s", v->id, strerror(errno));
			vm_request_exit(vm, LUVMM_EXIT_ERROR);
			break;
		}
		atomic_fetch_add_explicit(&v->stats.exits, 1, memory_order_relaxed);
		if (!handle_exit(v))
			break;
		v->io_pending = v->run->exit_reason == KVM_EXIT_IO ||
				v->run->exit_reason == KVM_EXIT_MMIO;
	}
	/* a vCPU that stopped on its own still counts as parked */
	atomic_fetch_add(&vm->parked, 1);
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vcpu_start_thread(struct vcpu *v)
{
	int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (ret)
		return -ret;
	v->has_thread = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELAXED);
	if (v->has_thread)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	if (v->has_thread) {
		vcpu_kick(v);
		pthread_join(v->thread, NULL);
	}
	vcpu_arch_fini(v);
	if (v->run)
		munmap(v->run, (size_t)v->vm->vcpu_mmap_size);
	if (v->fd >= 0)
		close(v->fd);
	free(v);
}
