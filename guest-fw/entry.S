/* SPDX-License-Identifier: MIT */
/*
 * entry.S: everything guest-fw runs before C and below C: the Multiboot
 * header, the 32-bit Multiboot and 64-bit ELF entries, the static page
 * tables and GDT, the exception/interrupt stubs, the kcall gate, the drop
 * to CPL3 and the AP real-mode trampoline.
 *
 * CPL0 instructions cost ~1.5 us each on the target host, so nothing here
 * loops: page tables and the GDT are assembled into .data, and the paths
 * from reset to CPL3 are straight lines.
 */
#include "fw.h"

#define MB_FLAGS	0x00010002	/* bit 16: address fields, 1: mmap */
#define MB_MAGIC	0x1badb002
#define PTE_PWU_PS	0x87		/* present, writable, user, huge */
#define PTE_PWU		0x07
#define CR0_PE_ET_NE	0x00000031
#define CR0_PG		0x80000000
#define EFER_LME	0x100
#define AP_TRAMP	0x8000		/* LUVMM_AP_TRAMPOLINE */

/* ---- Multiboot v1 header: first bytes of the image --------------------- */
	.section .text.head, "ax"
	.code32
	.balign 4
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)
	.long	mb_header		/* header_addr */
	.long	__image_start		/* load_addr */
	.long	__load_end		/* load_end_addr */
	.long	__bss_end		/* bss_end_addr */
	.long	entry32			/* entry_addr */

/*
 * Multiboot entry: 32-bit protected mode, paging off, EAX = magic, EBX =
 * info. Enter long mode on the static 2 MiB-only tables, join entry64.
 */
	.globl	entry32
entry32:
	cli
	movl	%eax, %esi
	movl	%ebx, %edi
	lgdt	gdt_ptr
	movl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$pml4_2m, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$(CR0_PG | 1), %eax
	movl	%eax, %cr0
	ljmp	$SEL_KCODE64, $entry64_from32

	.code64
entry64_from32:
	/* upper halves are undefined after the mode switch */
	movl	%edi, %edi
	movl	%esi, %esi

/*
 * ELF64 entry (luvmm): long mode on luvmm's tables, RDI = Multiboot info,
 * RSI = magic. Switch to our own tables, GDT and stack, set up this CPU and
 * drop to CPL3 in bsp_main().
 */
	.globl	entry64
entry64:
	cli
	rdtsc
	movl	%eax, boot_tsc(%rip)
	movl	%edx, boot_tsc + 4(%rip)
	movq	%rdi, boot_mbinfo(%rip)
	movq	%rsi, boot_magic(%rip)
	movq	bsp_kstack_top(%rip), %rsp
	/* the BIOS leaves the 8259 routing the PIT to vector 8: mask it */
	movb	$0xff, %al
	outb	%al, $0x21
	outb	%al, $0xa1
	/* clears anything the loader set (SMEP, SMAP, TSD, PCIDE) */
	movl	$CR4_PAE, %eax
	movq	%rax, %cr4
	/* past 64 GiB: 1 GiB pages if CPUID 0x80000001 EDX[26] has them */
	movl	$0x80000001, %eax
	cpuid
	movl	$pml4_2m, %eax
	btl	$26, %edx
	jnc	1f
	movl	$pml4_1g, %eax
1:	movl	%eax, fw_cr3(%rip)
	movq	%rax, %cr3
	lgdt	gdt_ptr(%rip)
	pushq	$SEL_KCODE64
	leaq	2f(%rip), %rax
	pushq	%rax
	lretq
2:	movl	$SEL_KDATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	call	idt_init
	leaq	pcpus(%rip), %rbx
	movq	%rbx, %rdi
	call	cpu_init_cpl0
	movq	%rbx, %rdi
	leaq	bsp_main(%rip), %rsi
	jmp	enter_user

/* AP, arriving from the trampoline in long mode on fw_cr3. */
ap_entry64:
	movq	ap_boot_rsp(%rip), %rsp
	movq	ap_boot_pcpu(%rip), %rbx
	movq	%rbx, %rdi
	call	cpu_init_cpl0
	movq	%rbx, %rdi
	leaq	ap_main(%rip), %rsi
	jmp	enter_user

/*
 * Drop to CPL3: RDI = struct pcpu * (stays the first argument), RSI =
 * function, RAX = user stack top (from cpu_init_cpl0). IF=1, IOPL=0: port
 * access goes through the TSS bitmap only.
 */
enter_user:
	subq	$8, %rax		/* as if called: RSP % 16 == 8 */
	pushq	$(SEL_UDATA | 3)
	pushq	%rax
	pushq	$0x202
	pushq	$(SEL_UCODE64 | 3)
	pushq	%rsi
	iretq

/* ---- exception stubs: uniform frame (error code or 0, vector) ---------- */
	.text
	.balign	16
	.globl	isr_stubs
isr_stubs:
	.set	vec, 0
	.rept	32
	.balign	16
	.if	(vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || \
		(vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || \
		(vec == 29) || (vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$vec
	jmp	trap_common
	.set	vec, vec + 1
	.endr

/* Saves only what C may clobber; trap_handler gets the frame. */
trap_common:
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	movq	%rsp, %rdi
	call	trap_handler
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rax
	addq	$16, %rsp
	iretq

/* LAPIC timer: count the tick, EOI. The whole handler is 12 instructions. */
	.globl	isr_timer
isr_timer:
	incq	%gs:PCPU_TICKS
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	movl	$MSR_X2APIC_EOI, %ecx
	xorl	%eax, %eax
	xorl	%edx, %edx
	wrmsr
	popq	%rdx
	popq	%rcx
	popq	%rax
	iretq

/* DMA device MSI: count it, EOI. Same shape as isr_timer. */
	.globl	isr_dma
isr_dma:
	incq	%gs:PCPU_MSIS
	pushq	%rax
	pushq	%rcx
	pushq	%rdx
	movl	$MSR_X2APIC_EOI, %ecx
	xorl	%eax, %eax
	xorl	%edx, %edx
	wrmsr
	popq	%rdx
	popq	%rcx
	popq	%rax
	iretq

	.globl	isr_spurious
isr_spurious:
	iretq

/*
 * kcall(nr, a, b) from CPL3: the #UD handler recognises this ud2 by its
 * address, does the privileged work and resumes after it with RAX (and RDX)
 * set. syscall and int n do not work from CPL3 on the target host;
 * exceptions do.
 */
	.globl	kcall, kcall_ud2
kcall:
kcall_ud2:
	ud2
	ret

/* ---- AP trampoline, copied to AP_TRAMP; SIPI vector AP_TRAMP >> 12 ----- */
	.section .rodata
	.code16
	.globl	ap_tramp_start, ap_tramp_end
ap_tramp_start:
	cli
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	ap_gdt_ptr - ap_tramp_start
	movl	$CR0_PE_ET_NE, %eax
	movl	%eax, %cr0
	ljmpl	$SEL_KCODE32, $(AP_TRAMP + ap_tramp32 - ap_tramp_start)
	.code32
ap_tramp32:
	movl	$SEL_KDATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	fw_cr3, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	$(CR0_PG | CR0_PE_ET_NE), %eax
	movl	%eax, %cr0
	ljmp	$SEL_KCODE64, $ap_entry64
	.balign	8
ap_gdt_ptr:
	.word	GDT_ENTRIES * 8 - 1
	.long	gdt
ap_tramp_end:
	.code64

/* ---- static tables ------------------------------------------------------ */
	.section .data.pagetables, "aw"
	.balign	4096
/*
 * [0, 64 GiB) with 2 MiB pages in both maps; pml4_1g adds [64, 512) GiB
 * with 1 GiB pages. 2 MiB below 64 GiB even when 1 GiB pages exist: on the
 * nested host this was written on, 1 GiB guest pages above 4 GiB fault.
 */
pml4_2m:
	.quad	pdpt_2m + PTE_PWU
	.fill	511, 8, 0
pml4_1g:
	.quad	pdpt_1g + PTE_PWU
	.fill	511, 8, 0
pdpt_2m:
	.set	i, 0
	.rept	MAP_2M_GIB
	.quad	pd_2m + i * 0x1000 + PTE_PWU
	.set	i, i + 1
	.endr
	.fill	512 - MAP_2M_GIB, 8, 0
pdpt_1g:
	.set	i, 0
	.rept	MAP_2M_GIB
	.quad	pd_2m + i * 0x1000 + PTE_PWU
	.set	i, i + 1
	.endr
	.rept	512 - MAP_2M_GIB
	.quad	(i << 30) | PTE_PWU_PS
	.set	i, i + 1
	.endr
pd_2m:
	.set	i, 0
	.rept	MAP_2M_GIB * 512
	.quad	(i << 21) | PTE_PWU_PS
	.set	i, i + 1
	.endr

	.data
	.balign	16
	.globl	gdt
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08 kernel code, 32-bit */
	.quad	0x00af9a000000ffff	/* 0x10 kernel code, 64-bit */
	.quad	0x00cf92000000ffff	/* 0x18 kernel data */
	.quad	0x00cff2000000ffff	/* 0x20 user data, DPL3 */
	.quad	0x00affa000000ffff	/* 0x28 user code, 64-bit, DPL3 */
	.fill	2 * FW_MAX_CPUS, 8, 0	/* 0x30: TSS descriptors */
	.balign	8
gdt_ptr:
	.word	GDT_ENTRIES * 8 - 1
	.quad	gdt

	.balign	8
	.globl	boot_mbinfo, boot_magic, boot_tsc, fw_cr3
	.globl	ap_boot_rsp, ap_boot_pcpu
boot_tsc:	.quad	0
boot_mbinfo:	.quad	0
boot_magic:	.quad	0
ap_boot_rsp:	.quad	0
ap_boot_pcpu:	.quad	0
fw_cr3:		.long	0

	.section .note.GNU-stack, "", @progbits
