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
#include <sys/types.h>

#include "compiler.h"

struct vm;
struct boot;
struct vcpu_arch;
struct vcpu_state;
struct lu_writer;
struct lu_reader;
struct lu_section;

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
	bool io_pending;	/* last exit was PIO/MMIO: KVM finishes it on
				 * the next KVM_RUN (vcpu thread only) */
	struct vcpu_arch *arch;	/* arch buffers (MSR list, ...) */
	struct vcpu_stats stats;
	/* timestamps of the last stop and start (CLOCK_MONOTONIC ns): when
	 * KVM_RUN returned for a pause request, when the thread counted
	 * itself parked, when it next entered KVM_RUN */
	uint64_t t_stopped, t_parked, t_entered;
	pid_t tid;		/* the vCPU thread's kernel id */
	unsigned hook_gen;	/* vm->hook_gen whose hook this thread ran */
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
void vcpu_arch_fini(struct vcpu *v);
/* Registers of the boot vCPU for the loaded image. */
int __must_check vcpu_arch_boot(struct vcpu *v, const struct boot *b);
/* Log registers after a fatal exit. */
void vcpu_arch_dump(struct vcpu *v);
/* Enter the guest once in a state that faults before fetching anything
 * (no guest memory is read or written) so KVM's first-entry work is done
 * before the state is restored. The state it leaves is overwritten. */
void vcpu_arch_warmup(struct vcpu *v);

/*
 * Live-update state (vcpu_state_x86.c). The vCPU must be parked.
 * save: append this vCPU's section (LU_SEC_VCPU, instance = id).
 * decode: validate one LU_SEC_VCPU section into the decode buffer of the
 * vCPU it names (owned by that vCPU: no allocation); nothing is applied.
 * -EBADMSG/-ENOTSUP with the reason in the reader's message.
 * restore: apply a decoded state to a parked vCPU; -errno names the step
 * in the log.
 */
int __must_check vcpu_state_save(struct vcpu *v, struct lu_writer *w);
int __must_check vcpu_state_decode(struct vm *vm, struct lu_reader *r,
				   const struct lu_section *sec,
				   struct vcpu_state **out);
int __must_check vcpu_state_restore(struct vcpu *v, const struct vcpu_state *s);
/* Make the VM's carried-MSR list the one in s (a lazily created VM did
 * not probe its own); resizes every vCPU's buffers. */
int __must_check vcpu_state_adopt_msrs(struct vm *vm, const struct vcpu_state *s);
/* Guest-physical addresses a vCPU in state s touches first (RIP, RSP,
 * page-table root, descriptor tables); returns how many it put in gpa. */
unsigned vcpu_state_hot_gpas(const struct vcpu_state *s, uint64_t *gpa, unsigned max);

#endif
