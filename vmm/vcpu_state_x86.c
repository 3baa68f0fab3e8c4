// SPDX-License-Identifier: MIT
/*
 * vcpu_state_x86.c: one x86 vCPU's state as a LU_SEC_VCPU section:
 * general and special registers, XSAVE, XCRs, MSRs, LAPIC, pending events,
 * MP state, debug registers and the TSC offset. Writer, decoder and
 * restorer sit together; docs/state-format.md is the byte-level spec.
 *
 * Restore order (each step depends on the ones before): regs, XSAVE, XCRs,
 * sregs2, MSRs, TSC offset, MP state, LAPIC, TSC deadline (guest TSC
 * units, so after the offset and the LAPIC), events, debug registers.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "liveupdate/state.h"
#include "log.h"
#include "vcpu.h"
#include "vcpu_x86.h"
#include "vm.h"

#define VCPU_SEC_VERSION	1
#define LAPIC_SIZE		1024	/* the architectural register page */
#define MAX_MSRS		1024
#define MP_STATE_MAX		KVM_MP_STATE_AP_RESET_HOLD	/* highest known */
#define EVENT_FLAGS_KNOWN	(KVM_VCPUEVENT_VALID_NMI_PENDING |	\
				 KVM_VCPUEVENT_VALID_SIPI_VECTOR |	\
				 KVM_VCPUEVENT_VALID_SHADOW |		\
				 KVM_VCPUEVENT_VALID_SMM |		\
				 KVM_VCPUEVENT_VALID_PAYLOAD |		\
				 KVM_VCPUEVENT_VALID_TRIPLE_FAULT)

struct vcpu_state {
	uint32_t id;
	struct kvm_regs regs;
	struct kvm_sregs2 sregs;
	uint32_t xsave_len;
	uint8_t *xsave;			/* vm->xsave_size bytes (decoding only) */
	struct kvm_xcrs xcrs;
	uint32_t nmsrs;
	struct kvm_msr_entry msrs[MAX_MSRS];
	__u64 tsc_deadline;
	uint8_t lapic[LAPIC_SIZE];
	struct kvm_vcpu_events events;
	uint32_t mp_state;
	struct kvm_debugregs dregs;
	__u64 tsc_offset;
	uint32_t cpuid_crc;
};

/* The KVM_GET_MSRS buffer lists exactly the VM's carried MSRs. */

/* lu_get_u64() for the kernel's __u64 (unsigned long long) fields. */
static void get_u64(struct lu_dec *d, const char *field, __u64 *out)
{
	uint64_t v;

	lu_get_u64(d, field, &v);
	*out = v;
}

static void reset_msr_list(struct vcpu *v)
{
	const struct kvm_msr_list *l = v->vm->msrs;
	unsigned i;

	v->arch->msrs->nmsrs = l->nmsrs;
	for (i = 0; i < l->nmsrs; i++)
		v->arch->msrs->entries[i].index = l->indices[i];
}

int vcpu_arch_alloc_buffers(struct vcpu *v)
{
	struct vm *vm = v->vm;

	v->arch->msrs = calloc(1, sizeof(struct kvm_msrs) +
			       vm->msrs->nmsrs * sizeof(struct kvm_msr_entry));
	v->arch->xsave = calloc(1, vm->xsave_size);
	v->arch->scratch = calloc(1, sizeof(*v->arch->scratch));
	v->arch->incoming = calloc(1, sizeof(*v->arch->incoming));
	if (!v->arch->msrs || !v->arch->xsave || !v->arch->scratch || !v->arch->incoming)
		return -ENOMEM;
	v->arch->incoming->xsave = calloc(1, vm->xsave_size);
	if (!v->arch->incoming->xsave)
		return -ENOMEM;
	reset_msr_list(v);
	return 0;
}

void vcpu_arch_free_buffers(struct vcpu *v)
{
	free(v->arch->msrs);
	free(v->arch->xsave);
	free(v->arch->scratch);
	if (v->arch->incoming)
		free(v->arch->incoming->xsave);
	free(v->arch->incoming);
}

/* ---- encoding helpers --------------------------------------------------- */

static void put_seg(struct lu_writer *w, const struct kvm_segment *s)
{
	lu_put_u64(w, s->base);
	lu_put_u32(w, s->limit);
	lu_put_u16(w, s->selector);
	lu_put_u8(w, s->type);
	lu_put_u8(w, s->present);
	lu_put_u8(w, s->dpl);
	lu_put_u8(w, s->db);
	lu_put_u8(w, s->s);
	lu_put_u8(w, s->l);
	lu_put_u8(w, s->g);
	lu_put_u8(w, s->avl);
	lu_put_u8(w, s->unusable);
}

static void get_seg(struct lu_dec *d, const char *field, struct kvm_segment *s)
{
	get_u64(d, field, &s->base);
	lu_get_u32(d, field, &s->limit);
	lu_get_u16(d, field, &s->selector);
	lu_get_u8(d, field, &s->type);
	lu_get_u8(d, field, &s->present);
	lu_get_u8(d, field, &s->dpl);
	lu_get_u8(d, field, &s->db);
	lu_get_u8(d, field, &s->s);
	lu_get_u8(d, field, &s->l);
	lu_get_u8(d, field, &s->g);
	lu_get_u8(d, field, &s->avl);
	lu_get_u8(d, field, &s->unusable);
	lu_check(d, s->type < 16 && s->present <= 1 && s->dpl < 4 && s->db <= 1 &&
		 s->s <= 1 && s->l <= 1 && s->g <= 1 && s->avl <= 1 &&
		 s->unusable <= 1, field, "descriptor bits out of range");
}

static void put_dtable(struct lu_writer *w, const struct kvm_dtable *t)
{
	lu_put_u64(w, t->base);
	lu_put_u16(w, t->limit);
}

static void get_dtable(struct lu_dec *d, const char *field, struct kvm_dtable *t)
{
	get_u64(d, field, &t->base);
	lu_get_u16(d, field, &t->limit);
}

/* kvm_regs field order on the wire (docs/state-format.md). */
#define REGS(X) X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) \
	X(r8) X(r9) X(r10) X(r11) X(r12) X(r13) X(r14) X(r15) X(rip) X(rflags)

/* ---- save ---------------------------------------------------------------- */

static int get_sregs2(struct vcpu *v, struct kvm_sregs2 *s2)
{
	struct kvm_sregs s;

	if (v->vm->has_sregs2)
		return ioctl(v->fd, KVM_GET_SREGS2, s2) < 0 ? -errno : 0;
	/* without SREGS2: the same fields, no PDPTRs */
	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	memset(s2, 0, sizeof(*s2));
	s2->cs = s.cs; s2->ds = s.ds; s2->es = s.es; s2->fs = s.fs;
	s2->gs = s.gs; s2->ss = s.ss; s2->tr = s.tr; s2->ldt = s.ldt;
	s2->gdt = s.gdt; s2->idt = s.idt;
	s2->cr0 = s.cr0; s2->cr2 = s.cr2; s2->cr3 = s.cr3; s2->cr4 = s.cr4;
	s2->cr8 = s.cr8; s2->efer = s.efer; s2->apic_base = s.apic_base;
	return 0;
}

static int get_all(struct vcpu *v, struct vcpu_state *s)
{
	struct vm *vm = v->vm;
	struct kvm_device_attr attr = {
		.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
		.addr = (uint64_t)(uintptr_t)&s->tsc_offset,
	};
	struct x86_msr1 dl = { .nmsrs = 1, .e.index = X86_MSR_TSC_DEADLINE };
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	int n;

	if (ioctl(v->fd, KVM_GET_REGS, &s->regs) < 0 || get_sregs2(v, &s->sregs) ||
	    ioctl(v->fd, vm->xsave_size > sizeof(struct kvm_xsave) ?
		  KVM_GET_XSAVE2 : KVM_GET_XSAVE, v->arch->xsave) < 0 ||
	    ioctl(v->fd, KVM_GET_XCRS, &s->xcrs) < 0)
		return -errno;
	n = ioctl(v->fd, KVM_GET_MSRS, v->arch->msrs);
	if (n != (int)vm->msrs->nmsrs)
		return n < 0 ? -errno : -EIO;
	if (ioctl(v->fd, KVM_GET_MSRS, &dl) != 1)
		dl.e.data = 0;
	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0 ||
	    ioctl(v->fd, KVM_GET_VCPU_EVENTS, &s->events) < 0 ||
	    ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0 ||
	    ioctl(v->fd, KVM_GET_DEBUGREGS, &s->dregs) < 0 ||
	    ioctl(v->fd, KVM_GET_DEVICE_ATTR, &attr) < 0)
		return -errno;
	s->tsc_deadline = dl.e.data;
	memcpy(s->lapic, lapic.regs, LAPIC_SIZE);
	s->mp_state = mp.mp_state;
	return 0;
}

int vcpu_state_save(struct vcpu *v, struct lu_writer *w)
{
	struct vm *vm = v->vm;
	struct vcpu_state *s = v->arch->scratch;	/* no allocation in the blackout */
	unsigned i;
	int ret;

	ret = get_all(v, s);
	if (ret)
		return ret;
	lu_section_begin(w, LU_SEC_VCPU, VCPU_SEC_VERSION, 0, v->id);
#define PUT_REG(r) lu_put_u64(w, s->regs.r);
	REGS(PUT_REG)
#undef PUT_REG
	put_seg(w, &s->sregs.cs);
	put_seg(w, &s->sregs.ds);
	put_seg(w, &s->sregs.es);
	put_seg(w, &s->sregs.fs);
	put_seg(w, &s->sregs.gs);
	put_seg(w, &s->sregs.ss);
	put_seg(w, &s->sregs.tr);
	put_seg(w, &s->sregs.ldt);
	put_dtable(w, &s->sregs.gdt);
	put_dtable(w, &s->sregs.idt);
	lu_put_u64(w, s->sregs.cr0);
	lu_put_u64(w, s->sregs.cr2);
	lu_put_u64(w, s->sregs.cr3);
	lu_put_u64(w, s->sregs.cr4);
	lu_put_u64(w, s->sregs.cr8);
	lu_put_u64(w, s->sregs.efer);
	lu_put_u64(w, s->sregs.apic_base);
	lu_put_u64(w, s->sregs.flags);
	for (i = 0; i < 4; i++)
		lu_put_u64(w, s->sregs.pdptrs[i]);
	/* the XSAVE area's layout is architectural: bytes as they are */
	lu_put_u32(w, vm->xsave_size);
	lu_put_bytes(w, v->arch->xsave, vm->xsave_size);
	lu_put_u32(w, s->xcrs.nr_xcrs);
	lu_put_u32(w, s->xcrs.flags);
	for (i = 0; i < s->xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++) {
		lu_put_u32(w, s->xcrs.xcrs[i].xcr);
		lu_put_u64(w, s->xcrs.xcrs[i].value);
	}
	lu_put_u32(w, vm->msrs->nmsrs);
	for (i = 0; i < vm->msrs->nmsrs; i++) {
		lu_put_u32(w, v->arch->msrs->entries[i].index);
		lu_put_u64(w, v->arch->msrs->entries[i].data);
	}
	lu_put_u64(w, s->tsc_deadline);
	/* the LAPIC register page's layout is architectural */
	lu_put_bytes(w, s->lapic, LAPIC_SIZE);
	lu_put_u8(w, s->events.exception.injected);
	lu_put_u8(w, s->events.exception.nr);
	lu_put_u8(w, s->events.exception.has_error_code);
	lu_put_u8(w, s->events.exception.pending);
	lu_put_u32(w, s->events.exception.error_code);
	lu_put_u8(w, s->events.interrupt.injected);
	lu_put_u8(w, s->events.interrupt.nr);
	lu_put_u8(w, s->events.interrupt.soft);
	lu_put_u8(w, s->events.interrupt.shadow);
	lu_put_u8(w, s->events.nmi.injected);
	lu_put_u8(w, s->events.nmi.pending);
	lu_put_u8(w, s->events.nmi.masked);
	lu_put_u32(w, s->events.sipi_vector);
	lu_put_u32(w, s->events.flags);
	lu_put_u8(w, s->events.smi.smm);
	lu_put_u8(w, s->events.smi.pending);
	lu_put_u8(w, s->events.smi.smm_inside_nmi);
	lu_put_u8(w, s->events.smi.latched_init);
	lu_put_u8(w, s->events.triple_fault.pending);
	lu_put_u8(w, s->events.exception_has_payload);
	lu_put_u64(w, s->events.exception_payload);
	lu_put_u32(w, s->mp_state);
	for (i = 0; i < 4; i++)
		lu_put_u64(w, s->dregs.db[i]);
	lu_put_u64(w, s->dregs.dr6);
	lu_put_u64(w, s->dregs.dr7);
	lu_put_u64(w, s->dregs.flags);
	lu_put_u64(w, s->tsc_offset);
	lu_put_u32(w, v->arch->cpuid_crc);
	lu_section_end(w);
	return lu_writer_error(w);
}

/* ---- decode -------------------------------------------------------------- */

static void get_u8_bool(struct lu_dec *d, const char *field, uint8_t *v)
{
	lu_get_u8(d, field, v);
	lu_check(d, *v <= 1, field, "%u is not 0 or 1", *v);
}

static void decode_events(struct lu_dec *d, struct kvm_vcpu_events *e)
{
	get_u8_bool(d, "exception.injected", &e->exception.injected);
	lu_get_u8(d, "exception.nr", &e->exception.nr);
	lu_check(d, e->exception.nr < 32, "exception.nr", "vector %u is not an exception",
		 e->exception.nr);
	get_u8_bool(d, "exception.has_error_code", &e->exception.has_error_code);
	get_u8_bool(d, "exception.pending", &e->exception.pending);
	lu_get_u32(d, "exception.error_code", &e->exception.error_code);
	get_u8_bool(d, "interrupt.injected", &e->interrupt.injected);
	lu_get_u8(d, "interrupt.nr", &e->interrupt.nr);
	get_u8_bool(d, "interrupt.soft", &e->interrupt.soft);
	lu_get_u8(d, "interrupt.shadow", &e->interrupt.shadow);
	lu_check(d, e->interrupt.shadow <= 3, "interrupt.shadow", "0x%x has unknown bits",
		 e->interrupt.shadow);
	get_u8_bool(d, "nmi.injected", &e->nmi.injected);
	get_u8_bool(d, "nmi.pending", &e->nmi.pending);
	get_u8_bool(d, "nmi.masked", &e->nmi.masked);
	lu_get_u32(d, "sipi_vector", &e->sipi_vector);
	lu_check(d, e->sipi_vector < 256, "sipi_vector", "%u is not a vector",
		 e->sipi_vector);
	lu_get_u32(d, "events.flags", &e->flags);
	lu_check(d, !(e->flags & ~EVENT_FLAGS_KNOWN), "events.flags",
		 "unknown bits 0x%x", e->flags & ~EVENT_FLAGS_KNOWN);
	get_u8_bool(d, "smi.smm", &e->smi.smm);
	get_u8_bool(d, "smi.pending", &e->smi.pending);
	get_u8_bool(d, "smi.smm_inside_nmi", &e->smi.smm_inside_nmi);
	get_u8_bool(d, "smi.latched_init", &e->smi.latched_init);
	get_u8_bool(d, "triple_fault.pending", &e->triple_fault.pending);
	get_u8_bool(d, "exception_has_payload", &e->exception_has_payload);
	get_u64(d, "exception_payload", &e->exception_payload);
}

static void decode_sregs(struct lu_dec *d, struct kvm_sregs2 *s)
{
	unsigned i;

	get_seg(d, "cs", &s->cs);
	get_seg(d, "ds", &s->ds);
	get_seg(d, "es", &s->es);
	get_seg(d, "fs", &s->fs);
	get_seg(d, "gs", &s->gs);
	get_seg(d, "ss", &s->ss);
	get_seg(d, "tr", &s->tr);
	get_seg(d, "ldt", &s->ldt);
	get_dtable(d, "gdt", &s->gdt);
	get_dtable(d, "idt", &s->idt);
	get_u64(d, "cr0", &s->cr0);
	get_u64(d, "cr2", &s->cr2);
	get_u64(d, "cr3", &s->cr3);
	get_u64(d, "cr4", &s->cr4);
	get_u64(d, "cr8", &s->cr8);
	lu_check(d, s->cr8 < 16, "cr8", "0x%llx above 15", (unsigned long long)s->cr8);
	get_u64(d, "efer", &s->efer);
	get_u64(d, "apic_base", &s->apic_base);
	get_u64(d, "sregs.flags", &s->flags);
	lu_check(d, !(s->flags & ~(uint64_t)KVM_SREGS2_FLAGS_PDPTRS_VALID),
		 "sregs.flags", "unknown bits 0x%llx", (unsigned long long)s->flags);
	for (i = 0; i < 4; i++)
		get_u64(d, "pdptrs", &s->pdptrs[i]);
}

static void decode_msrs(struct lu_dec *d, struct vcpu_state *s)
{
	uint32_t i;

	lu_get_count(d, "msrs.count", MAX_MSRS, 12, &s->nmsrs);
	for (i = 0; i < s->nmsrs && !d->err; i++) {
		lu_get_u32(d, "msrs.index", &s->msrs[i].index);
		get_u64(d, "msrs.data", &s->msrs[i].data);
		lu_check(d, s->msrs[i].index != X86_MSR_TSC &&
			 s->msrs[i].index != X86_MSR_TSC_DEADLINE, "msrs.index",
			 "MSR 0x%x travels in its own field", s->msrs[i].index);
	}
}

int vcpu_state_decode(struct vm *vm, struct lu_reader *r, const struct lu_section *sec,
		      struct vcpu_state **out)
{
	struct vcpu_state *s;
	struct lu_dec d;
	uint32_t i;
	int ret;

	lu_dec_init(&d, r, sec);
	if (lu_check(&d, sec->instance < vm->ncpus, "instance", "vCPU %u but the VM has %u",
		     sec->instance, vm->ncpus))
		return d.err;
	/* decoded into the vCPU's own buffer, allocated with it: nothing is
	 * allocated (or faulted in) in the blackout */
	s = vm->vcpus[sec->instance]->arch->incoming;
	s->id = sec->instance;
#define GET_REG(reg) get_u64(&d, #reg, &s->regs.reg);
	REGS(GET_REG)
#undef GET_REG
	decode_sregs(&d, &s->sregs);
	lu_get_u32(&d, "xsave.size", &s->xsave_len);
	lu_check(&d, s->xsave_len == vm->xsave_size, "xsave.size",
		 "%u bytes, this host's KVM uses %u", s->xsave_len, vm->xsave_size);
	if (!d.err)
		lu_get_bytes(&d, "xsave", s->xsave, s->xsave_len);
	lu_get_u32(&d, "xcrs.count", &s->xcrs.nr_xcrs);
	lu_check(&d, s->xcrs.nr_xcrs <= KVM_MAX_XCRS, "xcrs.count", "%u above %d",
		 s->xcrs.nr_xcrs, KVM_MAX_XCRS);
	lu_get_u32(&d, "xcrs.flags", &s->xcrs.flags);
	lu_check(&d, s->xcrs.flags == 0, "xcrs.flags", "must be 0, is 0x%x", s->xcrs.flags);
	for (i = 0; i < s->xcrs.nr_xcrs && !d.err; i++) {
		lu_get_u32(&d, "xcrs.xcr", &s->xcrs.xcrs[i].xcr);
		get_u64(&d, "xcrs.value", &s->xcrs.xcrs[i].value);
	}
	decode_msrs(&d, s);
	get_u64(&d, "tsc_deadline", &s->tsc_deadline);
	lu_get_bytes(&d, "lapic", s->lapic, LAPIC_SIZE);
	decode_events(&d, &s->events);
	lu_get_u32(&d, "mp_state", &s->mp_state);
	lu_check(&d, s->mp_state <= MP_STATE_MAX, "mp_state", "%u unknown", s->mp_state);
	for (i = 0; i < 4; i++)
		get_u64(&d, "debugregs.db", &s->dregs.db[i]);
	get_u64(&d, "debugregs.dr6", &s->dregs.dr6);
	get_u64(&d, "debugregs.dr7", &s->dregs.dr7);
	get_u64(&d, "debugregs.flags", &s->dregs.flags);
	lu_check(&d, s->dregs.flags == 0, "debugregs.flags", "must be 0");
	get_u64(&d, "tsc_offset", &s->tsc_offset);
	lu_get_u32(&d, "cpuid_digest", &s->cpuid_crc);
	ret = lu_dec_finish(&d, VCPU_SEC_VERSION);
	if (ret)
		return ret;
	*out = s;
	return 0;
}

/* ---- restore --------------------------------------------------------------- */

static int set_sregs(struct vcpu *v, const struct kvm_sregs2 *s2)
{
	struct kvm_sregs s;

	if (v->vm->has_sregs2)
		return ioctl(v->fd, KVM_SET_SREGS2, s2) < 0 ? -errno : 0;
	memset(&s, 0, sizeof(s));
	s.cs = s2->cs; s.ds = s2->ds; s.es = s2->es; s.fs = s2->fs;
	s.gs = s2->gs; s.ss = s2->ss; s.tr = s2->tr; s.ldt = s2->ldt;
	s.gdt = s2->gdt; s.idt = s2->idt;
	s.cr0 = s2->cr0; s.cr2 = s2->cr2; s.cr3 = s2->cr3; s.cr4 = s2->cr4;
	s.cr8 = s2->cr8; s.efer = s2->efer; s.apic_base = s2->apic_base;
	return ioctl(v->fd, KVM_SET_SREGS, &s) < 0 ? -errno : 0;
}

static int set_msrs(struct vcpu *v, const struct vcpu_state *s)
{
	struct kvm_msrs *m = v->arch->msrs;
	int n;

	if (s->nmsrs > v->vm->msrs->nmsrs) {
		/* the buffer was sized for this VM's list: grow it once */
		m = realloc(m, sizeof(*m) + s->nmsrs * sizeof(m->entries[0]));
		if (!m)
			return -ENOMEM;
		v->arch->msrs = m;
	}
	m->nmsrs = s->nmsrs;
	memcpy(m->entries, s->msrs, s->nmsrs * sizeof(m->entries[0]));
	n = ioctl(v->fd, KVM_SET_MSRS, m);
	reset_msr_list(v);	/* the buffer is the save list again */
	if (n < 0)
		return -errno;
	if (n != (int)s->nmsrs) {
		log_err("vcpu%u: KVM refused MSR 0x%x (entry %d of %u)", v->id,
			s->msrs[n].index, n, s->nmsrs);
		return -EINVAL;
	}
	return 0;
}

#define STEP(expr, what)						\
	do {								\
		if ((expr) < 0) {					\
			ret = -errno;					\
			log_err("vcpu%u: restore %s: %s", v->id, what,	\
				strerror(errno));			\
			return ret;					\
		}							\
	} while (0)

int vcpu_state_restore(struct vcpu *v, const struct vcpu_state *s)
{
	struct kvm_device_attr attr = {
		.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
		.addr = (uint64_t)(uintptr_t)&s->tsc_offset,
	};
	struct x86_msr1 dl = { .nmsrs = 1, .e.index = X86_MSR_TSC_DEADLINE,
			       .e.data = s->tsc_deadline };
	struct kvm_mp_state mp = { .mp_state = s->mp_state };
	struct kvm_lapic_state lapic;
	int ret;

	if (s->cpuid_crc != v->arch->cpuid_crc) {
		log_err("vcpu%u: CPUID differs from the saved vCPU's (digest 0x%08x, saved 0x%08x)",
			v->id, v->arch->cpuid_crc, s->cpuid_crc);
		return -ENOTSUP;
	}
	memcpy(v->arch->xsave, s->xsave, s->xsave_len);
	memcpy(lapic.regs, s->lapic, LAPIC_SIZE);
	STEP(ioctl(v->fd, KVM_SET_REGS, &s->regs), "regs");
	STEP(ioctl(v->fd, KVM_SET_XSAVE, v->arch->xsave), "xsave");
	STEP(ioctl(v->fd, KVM_SET_XCRS, &s->xcrs), "xcrs");
	ret = set_sregs(v, &s->sregs);
	if (ret) {
		log_err("vcpu%u: restore sregs: %s", v->id, strerror(-ret));
		return ret;
	}
	ret = set_msrs(v, s);
	if (ret)
		return ret;
	STEP(ioctl(v->fd, KVM_SET_DEVICE_ATTR, &attr), "TSC offset");
	STEP(ioctl(v->fd, KVM_SET_MP_STATE, &mp), "MP state");
	STEP(ioctl(v->fd, KVM_SET_LAPIC, &lapic), "LAPIC");
	if (ioctl(v->fd, KVM_SET_MSRS, &dl) != 1) {
		log_err("vcpu%u: restore TSC deadline: refused", v->id);
		return -EINVAL;
	}
	STEP(ioctl(v->fd, KVM_SET_VCPU_EVENTS, &s->events), "events");
	STEP(ioctl(v->fd, KVM_SET_DEBUGREGS, &s->dregs), "debug registers");
	return 0;
}

int vcpu_state_adopt_msrs(struct vm *vm, const struct vcpu_state *s)
{
	struct kvm_msr_list *l;
	unsigned i;

	l = realloc(vm->msrs, sizeof(*l) + s->nmsrs * sizeof(l->indices[0]));
	if (!l)
		return -ENOMEM;
	vm->msrs = l;
	l->nmsrs = s->nmsrs;
	for (i = 0; i < s->nmsrs; i++)
		l->indices[i] = s->msrs[i].index;
	for (i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		struct kvm_msrs *m = realloc(v->arch->msrs, sizeof(*m) +
					     s->nmsrs * sizeof(m->entries[0]));

		if (!m)
			return -ENOMEM;
		v->arch->msrs = m;
		reset_msr_list(v);
	}
	return 0;
}

unsigned vcpu_state_hot_gpas(const struct vcpu_state *s, uint64_t *gpa, unsigned max)
{
	/* identity-mapped guests (guest-fw) use these as physical
	 * addresses; for others they are a hint, and a late slot costs a
	 * counted sleep, not correctness */
	uint64_t cand[] = { s->regs.rip, s->regs.rsp, s->sregs.cr3 & ~0xfffULL,
			    s->sregs.gdt.base, s->sregs.idt.base, s->sregs.tr.base };
	unsigned i, n = 0;

	for (i = 0; i < ARRAY_SIZE(cand) && n < max; i++)
		gpa[n++] = cand[i];
	return n;
}
