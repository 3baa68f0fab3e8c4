/* SPDX-License-Identifier: MIT */
/*
 * vcpu.h: one virtual CPU: its KVM fd, the shared kvm_run page, its
 * thread (named "vcpuN") and its exit handling.
 *
 * The thread parks whenever vm->pause_req is set; vm_pause() gets it out
 * of KVM_RUN with kvm_run->immediate_exit and the kick signal. Only the
 * vCPU thread touches the vCPU's registers while the VM runs; the main
 * thread may do so while the vCPU is parked.
 */
#ifndef LUVMM_VCPU_H
#define LUVMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

struct vm;
struct boot;

/* Counters read by the main thread for metrics (relaxed atomics). */
struct vcpu_stats {
	atomic_uint_least64_t exits;	/* every return from KVM_RUN */
	atomic_uint_least64_t pio;
	atomic_uint_least64_t mmio;
	atomic_uint_least64_t intr;	/* returned for a signal */
};

struct vcpu {
	struct vm *vm;
	unsigned id;		/* also the APIC ID */
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool has_thread;
	struct vcpu_stats stats;
};

/* The signal that kicks a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL	SIGUSR1

/* Create vCPU `id` on vm (fd, kvm_run mapping, CPUID). */
int __must_check vcpu_create(struct vm *vm, unsigned id, struct vcpu **out);
/* Start its thread; it parks at once if vm->pause_req is set. */
int __must_check vcpu_start_thread(struct vcpu *v);
/* Join the thread (vm->exit_req set and kicked first), unmap, close, free. */
void vcpu_destroy(struct vcpu *v);
/* Id of the vCPU whose thread calls this, or -1 on any other thread
 * (device handlers use it to know who made an access). */
int vcpu_current_id(void);
/* Make the vCPU leave KVM_RUN soon (any thread). */
void vcpu_kick(struct vcpu *v);
/* Install the (empty) kick handler; once per process. */
int __must_check vcpu_init_signals(void);

/* Arch hooks (vcpu_x86.c). */
int __must_check vcpu_arch_init(struct vcpu *v);
/* Registers of the boot vCPU for the loaded image. */
int __must_check vcpu_arch_boot(struct vcpu *v, const struct boot *b);
/* Log registers after a fatal exit. */
void vcpu_arch_dump(struct vcpu *v);

#endif
