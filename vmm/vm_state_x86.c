// SPDX-License-Identifier: MIT
/*
 * vm_state_x86.c: the in-kernel PIC, IOAPIC and PIT (LU_SEC_IRQCHIP) and
 * kvmclock (LU_SEC_CLOCK) as state-record sections: writer, decoder and
 * restorer side by side (docs/state-format.md).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "liveupdate/state.h"
#include "log.h"
#include "vm.h"

#define IRQCHIP_SEC_VERSION	1
#define CLOCK_SEC_VERSION	1
#define CLOCK_FLAGS_KNOWN	(KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | \
				 KVM_CLOCK_HOST_TSC)

struct vm_chip_state {
	bool has_irqchip, has_clock;
	struct kvm_pic_state pic[2];
	struct kvm_ioapic_state ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

struct vm_chip_state *vm_state_alloc(void)
{
	return calloc(1, sizeof(struct vm_chip_state));
}

void vm_state_reset(struct vm_chip_state *s)
{
	memset(s, 0, sizeof(*s));
}

void vm_state_free(struct vm_chip_state *s)
{
	free(s);
}

/* kvm_pic_state, field by field: 16 u8 */
#define PIC_FIELDS(X) X(last_irr) X(irr) X(imr) X(isr) X(priority_add) \
	X(irq_base) X(read_reg_select) X(poll) X(special_mask) X(init_state) \
	X(auto_eoi) X(rotate_on_auto_eoi) X(special_fully_nested_mode) X(init4) \
	X(elcr) X(elcr_mask)

#define PIT_FIELDS(X) X(latched_count, u16) X(count_latched, u8) \
	X(status_latched, u8) X(status, u8) X(read_state, u8) X(write_state, u8) \
	X(write_latch, u8) X(rw_mode, u8) X(mode, u8) X(bcd, u8) X(gate, u8)


/* lu_get_u64() for the kernel's __u64 (unsigned long long) fields. */
static void get_u64(struct lu_dec *d, const char *field, __u64 *out)
{
	uint64_t v;

	lu_get_u64(d, field, &v);
	*out = v;
}

static int get_chip(struct vm *vm, unsigned id, struct kvm_irqchip *c)
{
	memset(c, 0, sizeof(*c));
	c->chip_id = id;
	return ioctl(vm->vm_fd, KVM_GET_IRQCHIP, c) < 0 ? -errno : 0;
}

int vm_state_save(struct vm *vm, struct lu_writer *w)
{
	struct kvm_irqchip chip[3];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	unsigned i, c;
	int ret;

	for (i = 0; i < 3; i++) {
		ret = get_chip(vm, i, &chip[i]);
		if (ret)
			return ret;
	}
	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0 ||
	    ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		return -errno;

	lu_section_begin(w, LU_SEC_IRQCHIP, IRQCHIP_SEC_VERSION, 0, 0);
	for (i = 0; i < 2; i++) {
		const struct kvm_pic_state *p = &chip[i].chip.pic;
#define PUT_PIC(f) lu_put_u8(w, p->f);
		PIC_FIELDS(PUT_PIC)
#undef PUT_PIC
	}
	lu_put_u64(w, chip[2].chip.ioapic.base_address);
	lu_put_u32(w, chip[2].chip.ioapic.ioregsel);
	lu_put_u32(w, chip[2].chip.ioapic.id);
	lu_put_u32(w, chip[2].chip.ioapic.irr);
	lu_put_u32(w, KVM_IOAPIC_NUM_PINS);
	for (i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		lu_put_u64(w, chip[2].chip.ioapic.redirtbl[i].bits);
	for (c = 0; c < 3; c++) {
		const struct kvm_pit_channel_state *ch = &pit.channels[c];

		lu_put_u32(w, ch->count);
#define PUT_PIT(f, t) lu_put_##t(w, ch->f);
		PIT_FIELDS(PUT_PIT)
#undef PUT_PIT
		lu_put_u64(w, (uint64_t)ch->count_load_time);
	}
	lu_put_u32(w, pit.flags);
	lu_section_end(w);

	lu_section_begin(w, LU_SEC_CLOCK, CLOCK_SEC_VERSION, 0, 0);
	lu_put_u64(w, clock.clock);
	lu_put_u32(w, clock.flags);
	lu_put_u64(w, clock.realtime);
	lu_put_u64(w, clock.host_tsc);
	lu_section_end(w);
	return lu_writer_error(w);
}

static int decode_irqchip(struct lu_dec *d, struct vm_chip_state *s)
{
	uint32_t pins, c, i;

	for (i = 0; i < 2; i++) {
		struct kvm_pic_state *p = &s->pic[i];
#define GET_PIC(f) lu_get_u8(d, "pic." #f, &p->f);
		PIC_FIELDS(GET_PIC)
#undef GET_PIC
		lu_check(d, p->read_reg_select <= 1 && p->poll <= 1 &&
			 p->special_mask <= 1 && p->auto_eoi <= 1 &&
			 p->rotate_on_auto_eoi <= 1 && p->init4 <= 1 &&
			 p->special_fully_nested_mode <= 1 && p->init_state <= 3,
			 "pic", "PIC %u: a flag is out of range", i);
		lu_check(d, p->priority_add < 8, "pic.priority_add", "%u above 7",
			 p->priority_add);
	}
	get_u64(d, "ioapic.base_address", &s->ioapic.base_address);
	lu_get_u32(d, "ioapic.ioregsel", &s->ioapic.ioregsel);
	lu_get_u32(d, "ioapic.id", &s->ioapic.id);
	lu_get_u32(d, "ioapic.irr", &s->ioapic.irr);
	lu_get_u32(d, "ioapic.pins", &pins);
	lu_check(d, pins == KVM_IOAPIC_NUM_PINS, "ioapic.pins", "%u, expected %d",
		 pins, KVM_IOAPIC_NUM_PINS);
	for (i = 0; i < KVM_IOAPIC_NUM_PINS && !d->err; i++)
		get_u64(d, "ioapic.redirtbl", &s->ioapic.redirtbl[i].bits);
	for (c = 0; c < 3; c++) {
		struct kvm_pit_channel_state *ch = &s->pit.channels[c];
		__u64 t;

		lu_get_u32(d, "pit.count", &ch->count);
		lu_check(d, ch->count <= 0x10000, "pit.count", "channel %u: %u above 65536",
			 c, ch->count);
#define GET_PIT(f, t) lu_get_##t(d, "pit." #f, &ch->f);
		PIT_FIELDS(GET_PIT)
#undef GET_PIT
		/* KVM resets a channel's mode to 0xff ("never programmed") */
		lu_check(d, (ch->mode <= 5 || ch->mode == 0xff) && ch->rw_mode <= 3 &&
			 ch->bcd <= 1 && ch->gate <= 1, "pit.mode",
			 "channel %u: mode %u rw_mode %u bcd %u gate %u out of range", c,
			 ch->mode, ch->rw_mode, ch->bcd, ch->gate);
		get_u64(d, "pit.count_load_time", &t);
		ch->count_load_time = (int64_t)t;
	}
	lu_get_u32(d, "pit.flags", &s->pit.flags);
	lu_check(d, !(s->pit.flags & ~(uint32_t)KVM_PIT_FLAGS_HPET_LEGACY), "pit.flags",
		 "unknown bits 0x%x", s->pit.flags);
	return lu_dec_finish(d, IRQCHIP_SEC_VERSION);
}

static int decode_clock(struct lu_dec *d, struct vm_chip_state *s)
{
	get_u64(d, "clock", &s->clock.clock);
	lu_get_u32(d, "flags", &s->clock.flags);
	lu_check(d, !(s->clock.flags & ~(uint32_t)CLOCK_FLAGS_KNOWN), "flags",
		 "unknown bits 0x%x", s->clock.flags);
	get_u64(d, "realtime", &s->clock.realtime);
	get_u64(d, "host_tsc", &s->clock.host_tsc);
	return lu_dec_finish(d, CLOCK_SEC_VERSION);
}

int vm_state_decode(struct vm *vm, struct lu_reader *r, const struct lu_section *sec,
		    struct vm_chip_state *s)
{
	struct lu_dec d;
	int ret;

	(void)vm;
	lu_dec_init(&d, r, sec);
	lu_check(&d, sec->instance == 0, "instance", "%u, only 0 exists", sec->instance);
	if (sec->type == LU_SEC_IRQCHIP) {
		lu_check(&d, !s->has_irqchip, "instance", "a second irqchip section");
		ret = decode_irqchip(&d, s);
		s->has_irqchip = !ret;
	} else {
		lu_check(&d, !s->has_clock, "instance", "a second clock section");
		ret = decode_clock(&d, s);
		s->has_clock = !ret;
	}
	return ret;
}

int vm_state_complete(const struct vm_chip_state *s, char *msg, size_t len)
{
	if (!s->has_irqchip || !s->has_clock) {
		snprintf(msg, len, "the record has no %s section",
			 !s->has_irqchip ? "irqchip" : "clock");
		return -EBADMSG;
	}
	return 0;
}

int vm_state_restore(struct vm *vm, const struct vm_chip_state *s)
{
	struct kvm_irqchip chip;
	struct kvm_clock_data clock = s->clock;
	unsigned i;

	for (i = 0; i < 3; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = i;
		if (i < 2)
			chip.chip.pic = s->pic[i];
		else
			chip.chip.ioapic = s->ioapic;
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0) {
			log_err("restore irqchip %u: %s", i, strerror(errno));
			return -errno;
		}
	}
	if (ioctl(vm->vm_fd, KVM_SET_PIT2, &s->pit) < 0) {
		log_err("restore PIT: %s", strerror(errno));
		return -errno;
	}
	/* KVM_CLOCK_REALTIME lets KVM add the time that passed since the save;
	 * the other flags are output-only */
	clock.flags &= KVM_CLOCK_REALTIME;
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0) {
		log_err("restore kvmclock: %s", strerror(errno));
		return -errno;
	}
	return 0;
}
