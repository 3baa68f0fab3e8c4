// SPDX-License-Identifier: MIT
/*
 * vcpu_x86.c: x86 vCPU setup: per-vCPU CPUID (APIC ID, topology), the TSC
 * frequency, the saveable-MSR probe, and the boot vCPU's registers for the
 * ELF64 and Multiboot entry protocols (docs/guest-abi.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../guest-fw/abi.h"
#include "liveupdate/crc32c.h"
#include "loader.h"
#include "log.h"
#include "util.h"
#include "vcpu.h"
#include "vcpu_x86.h"
#include "vm.h"

#define CR0_PE	(1ULL << 0)
#define CR0_MP	(1ULL << 1)
#define CR0_ET	(1ULL << 4)
#define CR0_NE	(1ULL << 5)
#define CR0_WP	(1ULL << 16)
#define CR0_PG	(1ULL << 31)
#define CR4_PAE	(1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

/* Give this vCPU its own APIC ID and the VM's processor count. */
static void patch_cpuid(struct kvm_cpuid2 *c, unsigned id, unsigned ncpus)
{
	unsigned i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffffu) | (id << 24) |
				 (MIN(ncpus, 255u) << 16);
			e->edx |= 1u << 28;		/* HTT: count is valid */
			e->ecx |= 1u << 31;		/* hypervisor present */
			break;
		case 0xb:
		case 0x1f:
			e->edx = id;			/* x2APIC ID */
			break;
		default:
			break;
		}
	}
}

/* CRC-32C over the CPUID entries, field by field (the record's check that
 * a restored vCPU sees the same CPUID). */
static uint32_t cpuid_digest(const struct kvm_cpuid2 *c)
{
	uint32_t crc = 0;
	unsigned i;

	for (i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		uint32_t f[7] = { e->function, e->index, e->flags, e->eax,
				  e->ebx, e->ecx, e->edx };

		crc = crc32c(crc, f, sizeof(f));
	}
	return crc;
}

/* Does KVM let us read and write back this MSR on this vCPU? */
static bool msr_roundtrips(int fd, uint32_t index)
{
	struct x86_msr1 m = { .nmsrs = 1, .e.index = index };

	if (ioctl(fd, KVM_GET_MSRS, &m) != 1)
		return false;
	return ioctl(fd, KVM_SET_MSRS, &m) == 1;
}

/*
 * Keep the MSRs of KVM_GET_MSR_INDEX_LIST that round-trip on vcpu0, minus
 * the TSC (carried as the TSC offset) and the TSC deadline (restored after
 * the LAPIC). Runs once per VM, before any vCPU runs.
 */
static void probe_msrs(struct vm *vm, int fd)
{
	struct kvm_msr_list *l = vm->msrs;
	unsigned i, n = 0;

	for (i = 0; i < l->nmsrs; i++) {
		uint32_t idx = l->indices[i];

		if (idx == X86_MSR_TSC || idx == X86_MSR_TSC_DEADLINE)
			continue;
		if (msr_roundtrips(fd, idx))
			l->indices[n++] = idx;
		else
			log_dbg("MSR 0x%x cannot be saved and restored: left out", idx);
	}
	log_dbg("%u of %u MSRs carried across updates", n, l->nmsrs);
	l->nmsrs = n;
}

static void probe_caps(struct vm *vm, int fd)
{
	struct kvm_device_attr attr = {
		.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
	};
	int x = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	vm->xsave_size = x > (int)sizeof(struct kvm_xsave) ? (uint32_t)x :
			 (uint32_t)sizeof(struct kvm_xsave);
	vm->has_sregs2 = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SREGS2) > 0;
	vm->has_tsc_offset = ioctl(fd, KVM_HAS_DEVICE_ATTR, &attr) == 0;
}

int vcpu_arch_init(struct vcpu *v)
{
	struct vm *vm = v->vm;
	size_t sz = sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]);
	struct kvm_cpuid2 *c;
	int ret = 0, khz;

	v->arch = calloc(1, sizeof(*v->arch));
	c = malloc(sz);
	if (!v->arch || !c) {
		free(c);
		return -ENOMEM;
	}
	memcpy(c, vm->cpuid, sz);
	patch_cpuid(c, v->id, vm->ncpus);
	v->arch->cpuid_crc = cpuid_digest(c);
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
		ret = -errno;
	free(c);
	if (ret)
		return ret;
	khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
	if (khz <= 0)
		return khz < 0 ? -errno : -ENOTSUP;
	vm->tsc_khz = (uint32_t)khz;
	if (!vm->msrs_probed) {
		probe_caps(vm, v->fd);
		/* exec-mode restore: ~200 ioctls saved; the list comes from
		 * the record (vcpu_state_adopt_msrs) */
		if (!vm->lazy)
			probe_msrs(vm, v->fd);
		vm->msrs_probed = true;
	}
	return vcpu_arch_alloc_buffers(v);
}

void vcpu_arch_fini(struct vcpu *v)
{
	if (!v->arch)
		return;
	vcpu_arch_free_buffers(v);
	free(v->arch);
	v->arch = NULL;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool l, bool db)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = db;
	s->s = 1;
	s->l = l;
	s->g = 1;
}

int vcpu_arch_boot(struct vcpu *v, const struct boot *b)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	bool lm = b->mode == BOOT_ELF64;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	if (lm) {
		seg(&sregs.cs, 0x10, 0xb, true, false);
		sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
		sregs.cr3 = LUVMM_BOOT_PML4;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
	} else {
		seg(&sregs.cs, 0x08, 0xb, false, true);
		sregs.cr0 = CR0_PE | CR0_ET;
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.efer = 0;
	}
	seg(&sregs.ds, 0x18, 0x3, false, true);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = LUVMM_BOOT_GDT;
	sregs.gdt.limit = 4 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	/* a usable busy TSS and an LDT keep VM entry checks happy */
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.type = 11;
	sregs.tr.present = 1;
	sregs.tr.limit = 0x67;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.type = 2;
	sregs.ldt.present = 1;
	sregs.ldt.limit = 0xffff;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = b->entry;
	if (lm) {
		regs.rsp = LUVMM_BOOT_STACK;
		regs.rdi = LUVMM_BOOT_MBINFO;
		regs.rsi = MULTIBOOT_BOOTLOADER_MAGIC;
	} else {
		regs.rax = MULTIBOOT_BOOTLOADER_MAGIC;
		regs.rbx = LUVMM_BOOT_MBINFO;
	}
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

void vcpu_arch_warmup(struct vcpu *v)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	uint64_t t0 = util_now_ns();

	/* protected mode, paging off, a code segment of limit 0 and no IDT:
	 * the first fetch is a #GP, then #DF, then a triple fault, all before
	 * any memory access (so no A/D bit lands in guest page tables) */
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return;
	seg(&sregs.cs, 0x08, 0xb, false, true);
	sregs.cs.limit = 0;
	sregs.cs.g = 0;
	seg(&sregs.ds, 0x18, 0x3, false, true);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 = CR0_PE | CR0_ET;
	sregs.cr3 = sregs.cr4 = sregs.efer = 0;
	sregs.idt.base = sregs.idt.limit = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 2;
	regs.rip = 0x10;
	if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0 ||
	    ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return;
	if (ioctl(v->fd, KVM_RUN, 0) < 0 || v->run->exit_reason != KVM_EXIT_SHUTDOWN)
		log_dbg("vcpu%u: warm-up ended with %s / exit %u", v->id, strerror(errno),
			v->run->exit_reason);
	log_dbg("vcpu%u: warm-up entry took %" PRIu64 " us", v->id,
		(util_now_ns() - t0) / 1000);
}

void vcpu_arch_dump(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		log_err("vcpu%u: cannot read registers: %s", v->id, strerror(errno));
		return;
	}
	log_err("vcpu%u: rip=0x%llx rsp=0x%llx rflags=0x%llx cs=0x%x cr0=0x%llx cr2=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx",
		v->id, r.rip, r.rsp, r.rflags, s.cs.selector, s.cr0, s.cr2, s.cr3,
		s.cr4, s.efer);
	log_err("vcpu%u: rax=0x%llx rbx=0x%llx rcx=0x%llx rdx=0x%llx rsi=0x%llx rdi=0x%llx",
		v->id, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi);
}
