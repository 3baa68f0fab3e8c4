/* SPDX-License-Identifier: MIT */
/*
 * loader.h: kernel image loading. Reads an ELF64 kernel (64-bit entry) or
 * a Multiboot v1 image (ELF32 or a.out-kludge flat binary), checks every
 * header field against the file and guest RAM, copies it into guest memory
 * and writes luvmm's boot data (GDT, identity page tables, Multiboot
 * information with command line and memory map) into [0, 0x8000).
 * It only fills guest memory and a struct boot; vcpu_x86.c turns that into
 * the boot vCPU's registers.
 */
#ifndef LUVMM_LOADER_H
#define LUVMM_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "compiler.h"

struct mem;

enum boot_mode {
	BOOT_AUTO = 0,		/* ELF64 if the file is one, else Multiboot */
	BOOT_ELF64,		/* 64-bit entry, luvmm builds long mode */
	BOOT_MULTIBOOT,		/* 32-bit protected mode, Multiboot v1 */
};

struct boot {
	enum boot_mode mode;	/* resolved: ELF64 or MULTIBOOT */
	uint64_t entry;		/* guest-physical entry point */
	uint64_t image_lo;	/* lowest and highest loaded guest address */
	uint64_t image_hi;
};

#define LOADER_MAX_FILE	(512ULL << 20)

/*
 * Load `path` into guest memory and write the boot data with `cmdline`.
 * On failure returns a negative errno and a one-line reason in err:
 * -ENOENT/-EACCES (cannot open), -ENOEXEC (not a supported image, or a
 * malformed one), -ERANGE (does not fit guest RAM or overlaps luvmm's boot
 * area), -E2BIG (file or command line too long), -ENOTSUP (Multiboot
 * features luvmm does not provide).
 */
int __must_check loader_load(struct mem *m, const char *path, enum boot_mode mode,
			     const char *cmdline, struct boot *out,
			     char *err, size_t errlen);
/* The same from a buffer in memory (tests, fuzzing). */
int __must_check loader_load_buf(struct mem *m, const uint8_t *img, size_t size,
				 enum boot_mode mode, const char *cmdline,
				 struct boot *out, char *err, size_t errlen);
const char *loader_mode_name(enum boot_mode mode);

#endif
