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

/* ---- MSIs: routes, irqfds, ioeventfds ---------------------------------- */

/*
 * KVM_SET_GSI_ROUTING replaces the whole table, so it carries the irqchip
 * pins' default routes too (GSI 0-15: PIC and IOAPIC pin, 16-23: IOAPIC)
 * and then every MSI route set so far. Caller holds route_lock.
 */
static int set_routing_locked(struct vm *vm)
{
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[16 * 2 + 8 + VM_GSI_MAX];
	} t;
	unsigned n = 0, gsi;

	memset(&t, 0, sizeof(t));
	for (gsi = 0; gsi < VM_GSI_MSI_BASE; gsi++) {
		if (gsi < 16) {
			t.e[n].gsi = gsi;
			t.e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			t.e[n].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER :
						   KVM_IRQCHIP_PIC_SLAVE;
			t.e[n++].u.irqchip.pin = gsi % 8;
		}
		t.e[n].gsi = gsi;
		t.e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		t.e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		t.e[n++].u.irqchip.pin = gsi;
	}
	for (gsi = VM_GSI_MSI_BASE; gsi < VM_GSI_MAX; gsi++) {
		if (!vm->msi_route[gsi].data)
			continue;
		t.e[n].gsi = gsi;
		t.e[n].type = KVM_IRQ_ROUTING_MSI;
		t.e[n].u.msi.address_lo = (uint32_t)vm->msi_route[gsi].addr;
		t.e[n].u.msi.address_hi = (uint32_t)(vm->msi_route[gsi].addr >> 32);
		t.e[n++].u.msi.data = vm->msi_route[gsi].data;
	}
	t.r.nr = n;
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, &t) < 0)
		return -errno;
	return 0;
}

int vm_msi_route(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct vm_msi old;
	int ret;

	if (gsi < VM_GSI_MSI_BASE || gsi >= VM_GSI_MAX)
		return -EINVAL;
	pthread_mutex_lock(&vm->route_lock);
	old = vm->msi_route[gsi];
	vm->msi_route[gsi] = (struct vm_msi){ addr, data };
	ret = set_routing_locked(vm);
	if (ret)
		vm->msi_route[gsi] = old;
	pthread_mutex_unlock(&vm->route_lock);
	return ret;
}

int vm_irqfd(struct vm *vm, int fd, unsigned gsi, bool assign)
{
	struct kvm_irqfd r = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};

	if (ioctl(vm->vm_fd, KVM_IRQFD, &r) < 0)
		return -errno;
	return 0;
}

int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi m = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	/* 0: the guest blocked it; still "done" from our side */
	if (ioctl(vm->vm_fd, KVM_SIGNAL_MSI, &m) < 0)
		return -errno;
	return 0;
}

int vm_ioeventfd(struct vm *vm, uint16_t port, int fd, bool assign)
{
	struct kvm_ioeventfd r = {
		.addr = port,
		.len = 0,	/* any width */
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_PIO |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &r) < 0)
		return -errno;
	return 0;
}
