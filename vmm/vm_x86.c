// SPDX-License-Identifier: MIT
/*
 * vm_x86.c: x86 parts of VM creation: the in-kernel irqchip (PIC, IOAPIC,
 * LAPICs) and PIT, the supported CPUID table, the TSC frequency, and the
 * list of MSRs a vCPU can save and restore.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"
#include "vcpu.h"
#include "vm.h"

#define CPUID_MAX_ENTRIES	256
#define MSR_LIST_MAX		1024

/* KVM on VMX needs these three pages below 4 GiB, outside RAM; harmless on
 * other backends. */
#define X86_TSS_ADDR		0xfffbd000ULL
#define X86_IDENTITY_MAP_ADDR	0xfffbc000ULL

static int get_cpuid(struct vm *vm, char *err, size_t errlen)
{
	size_t sz = sizeof(struct kvm_cpuid2) +
		    CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);

	vm->cpuid = calloc(1, sz);
	if (!vm->cpuid)
		return -ENOMEM;
	vm->cpuid->nent = CPUID_MAX_ENTRIES;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, vm->cpuid) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

static int get_msr_list(struct vm *vm, char *err, size_t errlen)
{
	vm->msrs = calloc(1, sizeof(struct kvm_msr_list) + MSR_LIST_MAX * sizeof(__u32));
	if (!vm->msrs)
		return -ENOMEM;
	vm->msrs->nmsrs = MSR_LIST_MAX;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, vm->msrs) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "KVM_GET_MSR_INDEX_LIST: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

int vm_arch_create(struct vm *vm, char *err, size_t errlen)
{
	struct kvm_pit_config pit = { .flags = 0 };
	__u64 ident = X86_IDENTITY_MAP_ADDR;
	int ret;

	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, X86_TSS_ADDR) < 0)
		log_dbg("KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		log_dbg("KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		ret = -errno;
		snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(-ret));
		return ret;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		ret = -errno;
		snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(-ret));
		return ret;
	}
	ret = get_cpuid(vm, err, errlen);
	if (ret)
		return ret;
	return get_msr_list(vm, err, errlen);
}

void vm_arch_destroy(struct vm *vm)
{
	free(vm->cpuid);
	vm->cpuid = NULL;
	free(vm->msrs);
	vm->msrs = NULL;
}
