/* SPDX-License-Identifier: MIT */
/*
 * abi.h: the contract between luvmm (host) and guest-fw (guest).
 *
 * Included by both sides: only fixed-width types, no host or guest headers
 * beyond <stdint.h>. Every layout is checked with _Static_assert. The
 * normative description is docs/guest-abi.md; keep the two in step.
 *
 * Ports (all guest-visible, reachable from CPL3 through the TSS I/O bitmap):
 *   0x3f8-0x3ff  COM1, a 16550A UART (IRQ 4). Human-readable lines.
 *   0x500        report port: a 32-bit OUT of the guest-physical address
 *                (below 4 GiB, 8-byte aligned) of a struct luvmm_report.
 *                luvmm reads the struct during the exit; the guest may reuse
 *                the buffer as soon as the OUT instruction retires.
 *   0x504        power-off port: an 8-bit (or wider) OUT; luvmm stops the VM
 *                and exits with the low 8 bits as its exit status.
 *   0x508        info port: a 32-bit IN returns LUVMM_INFO_MAGIC when the
 *                guest runs under luvmm (0xffffffff elsewhere).
 */
#ifndef LUVMM_GUEST_ABI_H
#define LUVMM_GUEST_ABI_H

#include <stdint.h>

#define LUVMM_PORT_COM1		0x3f8
#define LUVMM_COM1_IRQ		4
#define LUVMM_PORT_REPORT	0x500
#define LUVMM_PORT_POWEROFF	0x504
#define LUVMM_PORT_INFO		0x508
#define LUVMM_INFO_MAGIC	0x4c55564dU	/* "LUVM" */

#define LUVMM_REPORT_MAGIC	0x5256554cU	/* "LUVR" little-endian */
#define LUVMM_REPORT_VERSION	1

/* Report types (struct luvmm_report.type) and the meaning of arg[]. */
enum luvmm_report_type {
	/* Boot finished on the BSP. arg0 = cpus online, arg1 = TSC kHz the
	 * guest uses, arg2 = firmware ABI version (LUVMM_REPORT_VERSION). */
	LUVMM_REPORT_BOOT = 1,
	/* A vCPU entered its workload. arg0 = workload (enum luvmm_workload),
	 * arg1 = memcheck base (memcheck only), arg2 = memcheck size. */
	LUVMM_REPORT_WORKLOAD = 2,
	/* Heartbeat. arg0 = sequence number (1, 2, ... per vCPU),
	 * arg1 = largest TSC gap (cycles) seen since the previous heartbeat,
	 * arg2 = largest TSC gap seen since the workload started,
	 * arg3 = timer interrupts taken by this vCPU so far,
	 * arg4 = guest TSC when the report was made,
	 * arg5 = workload-specific progress (memcheck: passes completed). */
	LUVMM_REPORT_HEARTBEAT = 3,
	/* Memcheck finished a pass. arg0 = passes completed, arg1 = total
	 * mismatches so far, arg2 = generation just verified, arg3 = base,
	 * arg4 = size, arg5 = TSC cycles the pass took. */
	LUVMM_REPORT_MEMCHECK = 4,
	/* Memcheck found a word that does not hold its pattern.
	 * arg0 = guest-physical address, arg1 = expected, arg2 = found,
	 * arg3 = total mismatches so far. */
	LUVMM_REPORT_MISMATCH = 5,
	/* The guest hit an unexpected exception. arg0 = vector,
	 * arg1 = error code, arg2 = RIP, arg3 = CR2, arg4 = CS. */
	LUVMM_REPORT_PANIC = 6,
	/* Test stage marker. arg0 = stage number, arg1 = status (0 = ok). */
	LUVMM_REPORT_STAGE = 7,
	/* The guest rejected its command line. arg0 = offset of the
	 * offending token in the command line. */
	LUVMM_REPORT_BADCMDLINE = 8,
	/* DMA workload progress. arg0 = jobs completed and verified,
	 * arg1 = payload mismatches seen, arg2 = jobs that ended in a
	 * device fault, arg3 = map/unmap requests done, arg4 = map/unmap
	 * requests refused, arg5 = MSIs taken. */
	LUVMM_REPORT_DMA = 9,
	LUVMM_REPORT_TYPE_MAX
};

/*
 * LUVMM_REPORT_STAGE arg0 values, in the order the BSP reaches them.
 * arg1 is 0 unless noted.
 */
enum luvmm_stage {
	LUVMM_STAGE_CPL3 = 1,		/* BSP at CPL3, I/O bitmap set */
	LUVMM_STAGE_CMDLINE = 2,	/* command line parsed; arg1 = 1 if
					 * rejected (BADCMDLINE follows) */
	LUVMM_STAGE_TIMER = 3,		/* BSP's LAPIC timer running;
					 * arg1 = LAPIC timer kHz (0: off) */
	LUVMM_STAGE_APS = 4,		/* AP bring-up done; arg1 = APs that
					 * did not check in */
	LUVMM_STAGE_WORKLOADS = 5,	/* BOOT sent, workloads released */
	LUVMM_STAGE_POWEROFF = 6,	/* about to write the power-off port;
					 * arg1 = status written */
};

/*
 * LUVMM_REPORT_PANIC arg0 values above the exception range: conditions the
 * firmware detects itself (arg1-arg4 are 0).
 */
#define LUVMM_PANIC_NO_X2APIC	0x100	/* CPUID lacks x2APIC */

enum luvmm_workload {
	LUVMM_WORKLOAD_IDLE = 0,
	LUVMM_WORKLOAD_HEARTBEAT = 1,
	LUVMM_WORKLOAD_MEMCHECK = 2,
	LUVMM_WORKLOAD_DMA = 3,
	LUVMM_WORKLOAD_MAX
};

struct luvmm_report {
	uint32_t magic;		/* LUVMM_REPORT_MAGIC */
	uint16_t version;	/* LUVMM_REPORT_VERSION */
	uint16_t type;		/* enum luvmm_report_type */
	uint32_t cpu;		/* APIC ID of the reporting vCPU */
	uint32_t reserved;	/* must be 0 */
	uint64_t arg[6];
};
_Static_assert(sizeof(struct luvmm_report) == 64, "luvmm_report is 64 bytes");

/*
 * Memcheck pattern: the 64-bit word at guest-physical address `gpa` holds
 * luvmm_memcheck_word(gpa, gen) while generation `gen` is current. One pass
 * checks every word against `gen` and rewrites it for `gen + 1`.
 */
#define LUVMM_MEMCHECK_MUL	0x9e3779b97f4a7c15ULL
static inline uint64_t luvmm_memcheck_word(uint64_t gpa, uint64_t gen)
{
	return gpa ^ ((gen + 1) * LUVMM_MEMCHECK_MUL);
}

/*
 * Boot (luvmm side). guest-fw is an ELF64 file whose single PT_LOAD segment
 * starts at LUVMM_FW_LOAD_ADDR and also carries a Multiboot v1 header with
 * the address fields (flag 16), so the same file boots:
 *  - under luvmm as ELF64: long mode, paging identity-maps [0, 4 GiB) with
 *    2 MiB pages, flat 64-bit code selector 0x10 and data selector 0x18, RIP
 *    = e_entry, RSP = LUVMM_BOOT_STACK, RDI = guest-physical address of a
 *    Multiboot v1 information structure, RSI = 0x2BADB002, interrupts off;
 *  - under luvmm or any Multiboot v1 loader (QEMU -kernel): 32-bit protected
 *    mode, EAX = 0x2BADB002, EBX = Multiboot information structure.
 * Only the boot vCPU starts; the others wait for INIT/SIPI (guest-fw wakes
 * them itself). The command line (Multiboot cmdline) selects the workload:
 * see docs/guest-abi.md.
 */
#define LUVMM_FW_LOAD_ADDR	0x100000ULL
#define LUVMM_BOOT_GDT		0x500ULL
#define LUVMM_BOOT_PML4		0x1000ULL
#define LUVMM_BOOT_PDPT		0x2000ULL
#define LUVMM_BOOT_PD		0x3000ULL	/* 4 pages: 0x3000-0x6fff */
#define LUVMM_BOOT_MBINFO	0x7000ULL
#define LUVMM_BOOT_MMAP		0x7100ULL
#define LUVMM_BOOT_LOADER_NAME	0x7400ULL
#define LUVMM_BOOT_CMDLINE	0x7800ULL
#define LUVMM_BOOT_CMDLINE_MAX	2048
#define LUVMM_BOOT_STACK	0x80000ULL
#define LUVMM_BOOT_AREA_END	0x8000ULL	/* [0, this) is luvmm's */
#define LUVMM_AP_TRAMPOLINE	0x8000ULL	/* guest-fw's SIPI page */

/*
 * Paravirtual IOMMU (port 0x510). The guest asks the VMM to map or unmap
 * I/O virtual addresses of the DMA device: a 32-bit OUT of the guest-
 * physical address (below 4 GiB, 8-byte aligned) of a struct
 * luvmm_iommu_req; luvmm fills `status` before the OUT retires. The VMM
 * maps the guest RAM behind [gpa, gpa+len) at [iova, iova+len) through its
 * IOMMU backend (iommufd or soft), with iommufd's rules: 4 KiB aligned,
 * a map over an existing mapping fails, an unmap must cover whole earlier
 * mappings. A request made while the VMM rebuilds its IOMMU state after a
 * live update waits (only that vCPU) until the rebuild is done.
 * (virtio-iommu is the standard interface; this is the simple first step.)
 */
#define LUVMM_PORT_IOMMU	0x510

enum luvmm_iommu_op {
	LUVMM_IOMMU_MAP = 1,
	LUVMM_IOMMU_UNMAP = 2,
};

#define LUVMM_IOMMU_READ	(1u << 0)	/* the device may read */
#define LUVMM_IOMMU_WRITE	(1u << 1)	/* the device may write */

/* Status: 0 done, else a positive errno (EINVAL, EEXIST, ENOENT, ENOSPC,
 * ENODEV: no IOMMU device). */
struct luvmm_iommu_req {
	uint32_t op;		/* enum luvmm_iommu_op */
	uint32_t prot;		/* LUVMM_IOMMU_READ | _WRITE (map) */
	uint64_t iova;
	uint64_t gpa;		/* map: guest RAM to map */
	uint64_t len;
	uint32_t status;	/* written by luvmm */
	uint32_t reserved;	/* 0 */
};
_Static_assert(sizeof(struct luvmm_iommu_req) == 40, "luvmm_iommu_req is 40 bytes");

/*
 * The DMA device (luvmm-devsim, or a real device with the same interface
 * behind VFIO). BAR0 is one 4 KiB page at LUVMM_DMA_BAR0, plain memory
 * shared by the guest and the device (no exit on access). The doorbell is
 * an OUT to port 0x520 (any width, any value), which the device sees
 * through an eventfd. The MSI is programmed by two 32-bit OUTs: port 0x524
 * takes the vector (0: none), port 0x528 the destination APIC ID.
 *
 * BAR0 layout: a header, then LUVMM_DMA_SLOTS job slots. To submit, the
 * guest fills a free slot (status FREE or DONE/FAULT it consumed), sets its
 * status to SUBMITTED last (release), rings the doorbell. The device picks
 * SUBMITTED slots, marks them BUSY, performs the DMA through the IOMMU (every
 * access translated at its IOVA, page by page), writes `fault_iova`
 * and status DONE or FAULT, sets bit <slot> in irq_status, and raises the
 * MSI. The guest acknowledges by clearing the bits it saw with an atomic
 * AND on irq_status (the device sets bits with an atomic OR: the page is
 * the same memory for both).
 */
#define LUVMM_DMA_BAR0		0xe0000000ULL
#define LUVMM_DMA_BAR0_SIZE	4096
#define LUVMM_PORT_DMA_DOORBELL	0x520
#define LUVMM_PORT_DMA_MSI_VEC	0x524
#define LUVMM_PORT_DMA_MSI_DEST	0x528
#define LUVMM_DMA_MAGIC		0x414d444cU	/* "LDMA" */
#define LUVMM_DMA_SLOTS		16

enum luvmm_dma_op {
	LUVMM_DMA_COPY = 1,	/* len bytes from src_iova to dst_iova */
	LUVMM_DMA_FILL = 2,	/* len bytes of the 64-bit pattern at dst_iova */
};

enum luvmm_dma_status {
	LUVMM_DMA_FREE = 0,
	LUVMM_DMA_SUBMITTED = 1,
	LUVMM_DMA_BUSY = 2,
	LUVMM_DMA_DONE = 3,
	LUVMM_DMA_FAULT = 4,	/* a translation failed: fault_iova says where */
};

struct luvmm_dma_slot {
	uint32_t op;		/* enum luvmm_dma_op */
	uint32_t status;	/* enum luvmm_dma_status */
	uint64_t job;		/* the guest's job number, echoed in done_job */
	uint64_t src_iova;
	uint64_t dst_iova;
	uint64_t len;		/* 8-byte multiple, at most 1 MiB */
	uint64_t pattern;
	uint64_t fault_iova;
	uint64_t done_job;	/* = job when the device finished it */
};
_Static_assert(sizeof(struct luvmm_dma_slot) == 64, "luvmm_dma_slot is 64 bytes");

struct luvmm_dma_bar {
	uint32_t magic;		/* LUVMM_DMA_MAGIC, set by the device */
	uint32_t version;	/* 1 */
	uint32_t irq_status;	/* bit i: slot i finished (device sets) */
	uint32_t reserved;
	uint64_t jobs_done;	/* counters, device-written */
	uint64_t jobs_faulted;
	uint64_t bytes;
	uint8_t pad[24];
	struct luvmm_dma_slot slot[LUVMM_DMA_SLOTS];
};
_Static_assert(sizeof(struct luvmm_dma_bar) == 64 + 64 * LUVMM_DMA_SLOTS,
	       "luvmm_dma_bar layout");

#define MULTIBOOT_BOOTLOADER_MAGIC	0x2badb002U
#define MULTIBOOT_HEADER_MAGIC		0x1badb002U

#endif
