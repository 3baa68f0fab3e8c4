/* SPDX-License-Identifier: MIT */
/*
 * vm.h: one KVM virtual machine: the /dev/kvm and VM fds, guest RAM, the
 * in-kernel irqchip and PIT, the I/O buses, the vCPUs and the devices.
 *
 * Threads: the main thread owns the vm (create, start, pause, resume,
 * destroy). vCPU threads run guest code and call device handlers through
 * the buses. A vCPU thread asks the main thread to end the VM with
 * vm_request_exit(), which wakes the main loop through vm->event_fd.
 *
 * Lock order: vm->lock -> device locks -> iobus lock. vm->lock only guards
 * the pause handshake (pause_req, parked) and is never held across KVM_RUN.
 */
#ifndef LUVMM_VM_H
#define LUVMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"
#include "iobus.h"
#include "mem.h"

struct vcpu;
struct devices;
struct kvm_cpuid2;
struct kvm_msr_list;

/* luvmm's exit statuses (docs/operations.md). A guest power-off exits
 * with the guest's byte instead. */
enum luvmm_exit {
	LUVMM_EXIT_OK = 0,
	LUVMM_EXIT_ERROR = 1,		/* internal or runtime error */
	LUVMM_EXIT_USAGE = 2,		/* bad command line */
	LUVMM_EXIT_IMAGE = 3,		/* kernel image missing or malformed */
	LUVMM_EXIT_RESOURCE = 4,	/* host resource: /dev/kvm, memory, socket */
	LUVMM_EXIT_GUEST_CRASH = 5,	/* triple fault or KVM internal error */
};

enum vm_state { VM_CREATED, VM_RUNNING, VM_PAUSED, VM_STOPPING };

/* Lazy VMs register this much RAM at creation, the rest later. */
#define VM_LAZY_EAGER	(256ULL * MiB)

/*
 * Device memory KVM maps into the guest next to RAM (a BAR that is plain
 * shared memory). It is registered with the RAM memslots, before the
 * irqchip exists, where a memslot is cheap.
 */
struct vm_devmem {
	uint64_t gpa;
	uint64_t size;		/* page multiple */
	void *host;		/* MAP_SHARED mapping of fd */
	int fd;			/* the memfd behind it (the device owns it) */
};

#define VM_MAX_DEVMEM	4

/* GSIs below VM_GSI_MSI_BASE are the irqchip's pins; MSI routes above. */
#define VM_GSI_MSI_BASE	24
#define VM_GSI_MAX	32

struct vm_params {
	unsigned ncpus;
	uint64_t mem_bytes;
	bool hugetlb;
	int ram_fd;		/* adopt this RAM memfd (live update), or -1 */
	/* exec-mode restore: register no memslot (vm_register_slot() later)
	 * and skip the MSR probe (the list comes from the state record) */
	bool lazy;
	/* a restore will follow: each vCPU thread enters the guest once,
	 * harmlessly, to pay KVM's first-entry cost before the blackout */
	bool warm;
	const struct vm_devmem *devmem;	/* [ndevmem] device memory slots */
	unsigned ndevmem;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	struct mem mem;
	struct iobus pio;
	struct iobus mmio;
	unsigned ncpus;
	struct vcpu **vcpus;
	int vcpu_mmap_size;
	uint32_t tsc_khz;
	struct kvm_cpuid2 *cpuid;	/* KVM_GET_SUPPORTED_CPUID, patched per vCPU */
	struct kvm_msr_list *msrs;	/* MSRs every vCPU can save and restore
					 * (probed on vcpu0, minus TSC/deadline) */
	bool msrs_probed;
	uint32_t xsave_size;		/* KVM_GET_XSAVE2 size, or 4096 */
	bool has_sregs2;
	bool has_tsc_offset;		/* KVM_VCPU_TSC_OFFSET attribute */
	bool lazy;			/* created by vm_params.lazy */
	bool warm;			/* vm_params.warm */
	unsigned warmed;		/* vCPUs done warming up (vm->lock) */
	struct devices *devs;

	pthread_mutex_t lock;		/* sleeping waits of the pause handshake */
	pthread_cond_t cond;
	atomic_bool pause_req;		/* vCPUs must park */
	atomic_uint parked;		/* vCPUs parked now */
	atomic_bool exit_req;		/* vCPU threads must return */
	/*
	 * The live-update park hook: every vCPU thread runs it once per arming
	 * (hook_gen), when it parks or, if parked already, when woken for it.
	 * The blackout's work happens on the vCPU threads themselves, each on
	 * the CPU its guest vCPU just left, so its critical path needs no
	 * cross-CPU wake-up (on a nested host waking a thread on another CPU
	 * can cost hundreds of microseconds).
	 */
	void (*park_hook)(struct vcpu *v, void *arg);
	void *hook_arg;
	atomic_uint hook_gen;		/* bumped by each arming */

	pthread_mutex_t route_lock;	/* msi_route (any thread) */
	struct vm_msi { uint64_t addr; uint32_t data; } msi_route[VM_GSI_MAX];
	pthread_cond_t slot_cond;	/* a memslot was registered (vm->lock) */
	atomic_uint_least64_t slot_sleeps;	/* vCPU waits for a late memslot */
	atomic_uint_least64_t slot_sleep_ns;

	int event_fd;			/* vCPU -> main: something needs the loop */
	atomic_int exit_status;		/* -1, or the status to exit with */
	enum vm_state state;		/* owned by the main thread */
	uint64_t created_ns;
	uint64_t paused_ns;		/* when the current pause began */
	uint64_t paused_total_ns;
};

/*
 * Create the VM: open /dev/kvm, check the capabilities luvmm needs, create
 * the VM with irqchip and PIT, guest RAM (new or adopted) and its memslots,
 * the I/O buses, and every vCPU with its thread parked. Nothing runs until
 * vm_start(). On failure everything built so far is released; a one-line
 * reason is left in err. -ENOENT/-EACCES for /dev/kvm, -ENOTSUP for a
 * missing KVM capability, mem_init()'s errors for RAM.
 */
int __must_check vm_create(const struct vm_params *p, struct vm **out,
			   char *err, size_t errlen);
/* Stop every vCPU thread, close every fd, free. Accepts NULL. */
void vm_destroy(struct vm *vm);

/* Let the vCPUs run for the first time. */
int __must_check vm_start(struct vm *vm);
/* Park every vCPU outside KVM_RUN; returns when all are parked.
 * Idempotent. Main thread only. */
void vm_pause(struct vm *vm);
/* Undo vm_pause(). Main thread only. */
void vm_resume(struct vm *vm);

/* Any thread: ask the main loop to stop the VM and exit with status. The
 * first request wins. */
void vm_request_exit(struct vm *vm, int status);

/* Arm the park hook for every vCPU; parked vCPUs are woken to run it. */
void vm_arm_park_hook(struct vm *vm, void (*fn)(struct vcpu *v, void *arg), void *arg);
/* Arm the park hook, then request a pause; returns at once: each vCPU
 * runs the hook as it parks, and main does not wait for them. */
void vm_pause_with(struct vm *vm, void (*fn)(struct vcpu *v, void *arg), void *arg);
/* The vCPU-side half of vm_resume() (vm->state is not touched: the main
 * thread sets it when it learns). Any thread. */
void vm_release_vcpus(struct vm *vm);

/* Wait until every vCPU thread finished its warm-up entry (vm_params.warm);
 * their state may be restored only after. */
void vm_wait_warm(struct vm *vm);

/* Register memslot i now (exec mode) and wake vCPUs waiting for it. */
int __must_check vm_register_slot(struct vm *vm, unsigned i);
/* A vCPU touched RAM in a slot not registered yet: wait until it is
 * (counted and timed), then do the access on the host mapping. */
void vm_ram_access_late(struct vm *vm, unsigned slot, uint64_t gpa, uint8_t *data,
			uint32_t len, bool is_write);

/* Raise or lower an ISA interrupt line on the in-kernel PIC/IOAPIC. */
int vm_irq_line(struct vm *vm, unsigned irq, bool level);

/*
 * MSIs (vm_x86.c). GSIs below VM_GSI_MSI_BASE are the irqchip's pins.
 * vm_msi_route: point GSI gsi (>= VM_GSI_MSI_BASE) at the MSI (addr, data),
 * keeping the pins' default routes; data 0 removes the route.
 * vm_irqfd: signalling fd raises gsi (assign) / stops it (!assign).
 * vm_signal_msi: inject one MSI now.
 * vm_ioeventfd: a guest write to port `port` (any width) signals fd
 * without an exit to userspace (assign), or no longer does.
 */
int vm_msi_route(struct vm *vm, unsigned gsi, uint64_t addr, uint32_t data);
int vm_irqfd(struct vm *vm, int fd, unsigned gsi, bool assign);
int vm_signal_msi(struct vm *vm, uint64_t addr, uint32_t data);
int vm_ioeventfd(struct vm *vm, uint16_t port, int fd, bool assign);

const char *vm_state_name(enum vm_state s);

/* Arch hooks (vm_x86.c). */
int __must_check vm_arch_create(struct vm *vm, char *err, size_t errlen);
void vm_arch_destroy(struct vm *vm);

/*
 * Live-update state of the VM-wide devices KVM models (vm_state_x86.c):
 * PIC, IOAPIC and PIT (LU_SEC_IRQCHIP) and kvmclock (LU_SEC_CLOCK).
 * save: vCPUs parked. decode: one section into the scratch struct (call
 * for each; vm_state_complete() checks both came). restore: apply.
 */
struct lu_writer;
struct lu_reader;
struct lu_section;
struct vm_chip_state;
int __must_check vm_state_save(struct vm *vm, struct lu_writer *w);
struct vm_chip_state *vm_state_alloc(void);
void vm_state_free(struct vm_chip_state *s);
void vm_state_reset(struct vm_chip_state *s);
int __must_check vm_state_decode(struct vm *vm, struct lu_reader *r,
				 const struct lu_section *sec, struct vm_chip_state *s);
/* -EBADMSG naming the missing section, in msg. */
int __must_check vm_state_complete(const struct vm_chip_state *s, char *msg, size_t len);
int __must_check vm_state_restore(struct vm *vm, const struct vm_chip_state *s);

#endif
