/* SPDX-License-Identifier: MIT */
/*
 * vcpu_x86.h: what vcpu_x86.c and vcpu_state_x86.c share: the per-vCPU
 * arch buffers and a few MSR numbers. Not for use outside these two files.
 */
#ifndef LUVMM_VCPU_X86_H
#define LUVMM_VCPU_X86_H

#include <linux/kvm.h>
#include <stdint.h>

#define X86_MSR_TSC		0x10
#define X86_MSR_TSC_DEADLINE	0x6e0

struct vcpu;
struct vcpu_state;

/* struct kvm_msrs with room for exactly one entry (no flexible array in
 * the middle of a struct). */
struct x86_msr1 {
	__u32 nmsrs;
	__u32 pad;
	struct kvm_msr_entry e;
};
_Static_assert(__builtin_offsetof(struct x86_msr1, e) ==
	       __builtin_offsetof(struct kvm_msrs, entries), "kvm_msrs layout");

struct vcpu_arch {
	uint32_t cpuid_crc;		/* digest of the CPUID this vCPU was given */
	struct kvm_msrs *msrs;		/* KVM_GET_MSRS buffer for vm->msrs */
	void *xsave;			/* vm->xsave_size bytes */
	struct vcpu_state *scratch;	/* save buffer, allocated up front */
	struct vcpu_state *incoming;	/* decode buffer for a restore */
};

/* Allocate the save buffers once, off the critical path (vcpu_state_x86.c). */
int vcpu_arch_alloc_buffers(struct vcpu *v);
void vcpu_arch_free_buffers(struct vcpu *v);

#endif
