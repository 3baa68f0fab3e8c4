// SPDX-License-Identifier: MIT
/*
 * loader.c: ELF64 and Multiboot v1 loading plus luvmm's boot data (see
 * loader.h and docs/guest-abi.md for the boot protocol).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../guest-fw/abi.h"
#include "loader.h"
#include "mem.h"

#define MB_SEARCH	8192
#define MB_FLAG_ALIGN	(1u << 0)
#define MB_FLAG_MEMINFO	(1u << 1)
#define MB_FLAG_VIDEO	(1u << 2)
#define MB_FLAG_AOUT	(1u << 16)
#define MB_SUPPORTED	(MB_FLAG_ALIGN | MB_FLAG_MEMINFO | MB_FLAG_AOUT)

/* Multiboot information flags luvmm provides */
#define MBI_MEM		(1u << 0)
#define MBI_CMDLINE	(1u << 2)
#define MBI_MMAP	(1u << 6)
#define MBI_LOADER_NAME	(1u << 9)

struct ld {
	struct mem *m;
	const uint8_t *img;
	size_t size;
	char *err;
	size_t errlen;
	struct boot *b;
};

__printf(3, 4) static int fail(struct ld *l, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->err, l->errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);	/* x86 host and guest are both little-endian */
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/*
 * Copy filesz bytes from the file at off to guest paddr and zero the rest
 * up to memsz, after checking both ranges.
 */
static int place(struct ld *l, uint64_t paddr, uint64_t off, uint64_t filesz,
		 uint64_t memsz, const char *what)
{
	uint8_t *dst;

	if (filesz > memsz)
		return fail(l, -ENOEXEC, "%s: file size 0x%" PRIx64 " exceeds memory size 0x%" PRIx64,
			    what, filesz, memsz);
	if (off > l->size || filesz > l->size - off)
		return fail(l, -ENOEXEC, "%s: file range [0x%" PRIx64 ", +0x%" PRIx64 ") is past the end of the %zu-byte file",
			    what, off, filesz, l->size);
	if (memsz == 0)
		return 0;
	if (paddr < LUVMM_BOOT_AREA_END)
		return fail(l, -ERANGE, "%s: guest range [0x%" PRIx64 ", +0x%" PRIx64 ") overlaps luvmm's boot area [0, 0x%llx)",
			    what, paddr, memsz, LUVMM_BOOT_AREA_END);
	dst = mem_gpa_to_hva(l->m, paddr, memsz);
	if (!dst)
		return fail(l, -ERANGE, "%s: guest range [0x%" PRIx64 ", +0x%" PRIx64 ") is not inside guest RAM",
			    what, paddr, memsz);
	memcpy(dst, l->img + off, filesz);
	memset(dst + filesz, 0, memsz - filesz);
	if (paddr < l->b->image_lo)
		l->b->image_lo = paddr;
	if (paddr + memsz > l->b->image_hi)
		l->b->image_hi = paddr + memsz;
	return 0;
}

static bool is_elf(const struct ld *l, unsigned cls)
{
	return l->size >= EI_NIDENT && !memcmp(l->img, ELFMAG, SELFMAG) &&
	       l->img[EI_CLASS] == cls;
}

/* Common ELF program-header walk; 64-bit and 32-bit layouts differ. */
static int load_elf(struct ld *l, bool is64)
{
	unsigned ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	unsigned phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	const uint8_t *e = l->img;
	uint64_t phoff, entry;
	unsigned phnum, i, nload = 0;
	bool entry_ok = false;
	int ret;

	if (l->size < ehsize)
		return fail(l, -ENOEXEC, "ELF header truncated (%zu bytes)", l->size);
	if (e[EI_DATA] != ELFDATA2LSB || e[EI_VERSION] != EV_CURRENT)
		return fail(l, -ENOEXEC, "ELF: not little-endian version 1");
	if (le16(e + 18) != (is64 ? EM_X86_64 : EM_386))
		return fail(l, -ENOEXEC, "ELF: machine %u is not %s", le16(e + 18),
			    is64 ? "x86-64" : "i386");
	if (le16(e + 16) != ET_EXEC)
		return fail(l, -ENOEXEC, "ELF: type %u is not an executable (ET_EXEC)",
			    le16(e + 16));
	entry = is64 ? le64(e + 24) : le32(e + 24);
	phoff = is64 ? le64(e + 32) : le32(e + 28);
	if (le16(e + (is64 ? 54 : 42)) != phsize)
		return fail(l, -ENOEXEC, "ELF: program header size %u, expected %u",
			    le16(e + (is64 ? 54 : 42)), phsize);
	phnum = le16(e + (is64 ? 56 : 44));
	if (phnum == 0 || phnum > 64)
		return fail(l, -ENOEXEC, "ELF: %u program headers (1..64 supported)", phnum);
	if (phoff > l->size || (uint64_t)phnum * phsize > l->size - phoff)
		return fail(l, -ENOEXEC, "ELF: program headers past the end of the file");

	for (i = 0; i < phnum; i++) {
		const uint8_t *ph = l->img + phoff + (uint64_t)i * phsize;
		uint64_t off, paddr, filesz, memsz;
		char what[32];

		if (le32(ph) != PT_LOAD)
			continue;
		if (is64) {
			off = le64(ph + 8);
			paddr = le64(ph + 24);
			filesz = le64(ph + 32);
			memsz = le64(ph + 40);
		} else {
			off = le32(ph + 4);
			paddr = le32(ph + 12);
			filesz = le32(ph + 16);
			memsz = le32(ph + 20);
		}
		snprintf(what, sizeof(what), "ELF segment %u", i);
		if (paddr + memsz < paddr)
			return fail(l, -ENOEXEC, "%s: address range wraps", what);
		ret = place(l, paddr, off, filesz, memsz, what);
		if (ret)
			return ret;
		if (entry >= paddr && entry - paddr < memsz)
			entry_ok = true;
		nload++;
	}
	if (!nload)
		return fail(l, -ENOEXEC, "ELF: no loadable (PT_LOAD) segment");
	if (!entry_ok)
		return fail(l, -ENOEXEC, "ELF: entry point 0x%" PRIx64 " is outside every loaded segment",
			    entry);
	l->b->entry = entry;
	return 0;
}

/* Offset of a valid Multiboot v1 header in the first 8 KiB, or -1. */
static long find_multiboot(const struct ld *l)
{
	size_t off, lim = MIN(l->size, (size_t)MB_SEARCH);

	for (off = 0; off + 12 <= lim; off += 4) {
		const uint8_t *h = l->img + off;

		if (le32(h) == MULTIBOOT_HEADER_MAGIC &&
		    (uint32_t)(le32(h) + le32(h + 4) + le32(h + 8)) == 0)
			return (long)off;
	}
	return -1;
}

static int load_multiboot(struct ld *l, size_t hoff)
{
	const uint8_t *h = l->img + hoff;
	uint32_t flags = le32(h + 4), unknown = flags & 0xffff & ~MB_SUPPORTED;
	uint32_t header_addr, load_addr, load_end, bss_end, entry;
	uint64_t text_off, load_size;
	int ret;

	if (flags & MB_FLAG_VIDEO)
		return fail(l, -ENOTSUP, "Multiboot: the image requires a video mode (flag 2), which luvmm does not provide");
	if (unknown)
		return fail(l, -ENOTSUP, "Multiboot: required flag bits 0x%x are not supported",
			    unknown);
	if (!(flags & MB_FLAG_AOUT)) {
		if (!is_elf(l, ELFCLASS32))
			return fail(l, -ENOEXEC, "Multiboot: no address fields (flag 16) and not an ELF32 file");
		ret = load_elf(l, false);
		if (ret)
			return ret;
		goto check_entry;
	}
	if (hoff + 32 > l->size)
		return fail(l, -ENOEXEC, "Multiboot: header address fields truncated");
	header_addr = le32(h + 12);
	load_addr = le32(h + 16);
	load_end = le32(h + 20);
	bss_end = le32(h + 24);
	entry = le32(h + 28);
	if (load_addr > header_addr || header_addr - load_addr > hoff)
		return fail(l, -ENOEXEC, "Multiboot: header_addr 0x%x / load_addr 0x%x inconsistent with header offset 0x%zx",
			    header_addr, load_addr, hoff);
	text_off = hoff - (header_addr - load_addr);
	if (load_end) {
		if (load_end <= load_addr)
			return fail(l, -ENOEXEC, "Multiboot: load_end_addr 0x%x <= load_addr 0x%x",
				    load_end, load_addr);
		load_size = load_end - load_addr;
	} else {
		load_size = l->size - text_off;
	}
	if (bss_end && bss_end < load_addr + load_size)
		return fail(l, -ENOEXEC, "Multiboot: bss_end_addr 0x%x below the end of the loaded image",
			    bss_end);
	ret = place(l, load_addr, text_off, load_size,
		    bss_end ? bss_end - load_addr : load_size, "Multiboot image");
	if (ret)
		return ret;
	l->b->entry = entry;
check_entry:
	if (l->b->entry < l->b->image_lo || l->b->entry >= l->b->image_hi)
		return fail(l, -ENOEXEC, "Multiboot: entry 0x%" PRIx64 " is outside the loaded image",
			    l->b->entry);
	if (l->b->image_hi > (1ULL << 32))
		return fail(l, -ERANGE, "Multiboot: image above 4 GiB");
	return 0;
}

/* GDT: null, 32-bit code (0x08), 64-bit code (0x10), flat data (0x18). */
static void write_gdt(uint8_t *g)
{
	put64(g + 0x00, 0);
	put64(g + 0x08, 0x00cf9b000000ffffULL);
	put64(g + 0x10, 0x00af9b000000ffffULL);
	put64(g + 0x18, 0x00cf93000000ffffULL);
}

/* Identity map of [0, 4 GiB) with 2 MiB pages for the ELF64 entry. */
static void write_page_tables(struct mem *m)
{
	uint8_t *pml4 = mem_gpa_to_hva(m, LUVMM_BOOT_PML4, 4096);
	uint8_t *pdpt = mem_gpa_to_hva(m, LUVMM_BOOT_PDPT, 4096);
	uint8_t *pd = mem_gpa_to_hva(m, LUVMM_BOOT_PD, 4 * 4096);
	unsigned i;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	put64(pml4, LUVMM_BOOT_PDPT | 3);
	for (i = 0; i < 4; i++)
		put64(pdpt + 8 * i, (LUVMM_BOOT_PD + 4096ULL * i) | 3);
	for (i = 0; i < 2048; i++)
		put64(pd + 8 * i, ((uint64_t)i << 21) | 0x83);
}

static unsigned add_mmap(uint8_t *p, unsigned n, uint64_t base, uint64_t len,
			 uint32_t type)
{
	uint8_t *e = p + n * 24;

	put32(e, 20);
	put64(e + 4, base);
	put64(e + 12, len);
	put32(e + 20, type);
	return n + 1;
}

static int write_boot_info(struct ld *l, const char *cmdline)
{
	struct mem *m = l->m;
	uint8_t *info = mem_gpa_to_hva(m, LUVMM_BOOT_MBINFO, 88);
	uint8_t *mm = mem_gpa_to_hva(m, LUVMM_BOOT_MMAP, 24 * 8);
	char *name = mem_gpa_to_hva(m, LUVMM_BOOT_LOADER_NAME, 16);
	char *cl = mem_gpa_to_hva(m, LUVMM_BOOT_CMDLINE, LUVMM_BOOT_CMDLINE_MAX);
	size_t cllen = strlen(cmdline);
	uint64_t low = mem_low_size(m), high = mem_high_size(m);
	unsigned n = 0;

	if (cllen >= LUVMM_BOOT_CMDLINE_MAX)
		return fail(l, -E2BIG, "command line is %zu bytes; at most %d fit",
			    cllen, LUVMM_BOOT_CMDLINE_MAX - 1);
	if (low < LUVMM_FW_LOAD_ADDR)
		return fail(l, -ERANGE, "guest RAM too small for the boot area");
	memcpy(cl, cmdline, cllen + 1);
	strcpy(name, "luvmm");

	n = add_mmap(mm, n, 0, 0x9fc00, 1);
	n = add_mmap(mm, n, 0x9fc00, 0x400, 2);
	n = add_mmap(mm, n, 0xf0000, 0x10000, 2);
	n = add_mmap(mm, n, 0x100000, low - 0x100000, 1);
	if (high)
		n = add_mmap(mm, n, MEM_HIGH_BASE, high, 1);

	memset(info, 0, 88);
	put32(info + 0, MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME);
	put32(info + 4, 639);
	put32(info + 8, (uint32_t)MIN((low - 0x100000) / 1024, 0xffffffffULL));
	put32(info + 16, (uint32_t)LUVMM_BOOT_CMDLINE);
	put32(info + 44, n * 24);
	put32(info + 48, (uint32_t)LUVMM_BOOT_MMAP);
	put32(info + 64, (uint32_t)LUVMM_BOOT_LOADER_NAME);

	write_gdt(mem_gpa_to_hva(m, LUVMM_BOOT_GDT, 32));
	write_page_tables(m);
	return 0;
}

int loader_load_buf(struct mem *m, const uint8_t *img, size_t size,
		    enum boot_mode mode, const char *cmdline, struct boot *out,
		    char *err, size_t errlen)
{
	struct ld l = { m, img, size, err, errlen, out };
	long mb;
	int ret;

	memset(out, 0, sizeof(*out));
	out->image_lo = UINT64_MAX;
	if (!mem_is_ram(m, 0, LUVMM_FW_LOAD_ADDR))
		return fail(&l, -ERANGE, "guest RAM does not cover the boot area");
	mb = find_multiboot(&l);
	if (mode == BOOT_AUTO)
		mode = is_elf(&l, ELFCLASS64) || mb < 0 ? BOOT_ELF64 : BOOT_MULTIBOOT;
	if (mode == BOOT_ELF64) {
		if (!is_elf(&l, ELFCLASS64))
			return fail(&l, -ENOEXEC, "not an ELF64 file%s",
				    mb < 0 ? " and no Multiboot v1 header in its first 8 KiB" : "");
		ret = load_elf(&l, true);
		/* the boot page tables identity-map only [0, 4 GiB) */
		if (!ret && out->image_hi > (1ULL << 32))
			return fail(&l, -ERANGE, "ELF: loaded image ends at 0x%" PRIx64 ", above the 4 GiB luvmm maps at entry",
				    out->image_hi);
	} else {
		if (mb < 0)
			return fail(&l, -ENOEXEC, "no Multiboot v1 header in the first 8 KiB");
		ret = load_multiboot(&l, (size_t)mb);
	}
	if (ret)
		return ret;
	out->mode = mode;
	return write_boot_info(&l, cmdline);
}

int loader_load(struct mem *m, const char *path, enum boot_mode mode,
		const char *cmdline, struct boot *out, char *err, size_t errlen)
{
	struct stat st;
	void *img;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return -ENOEXEC;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > LOADER_MAX_FILE) {
		close(fd);
		snprintf(err, errlen, "%s: size %lld outside (0, 512 MiB]", path,
			 (long long)st.st_size);
		return st.st_size ? -E2BIG : -ENOEXEC;
	}
	img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	ret = img == MAP_FAILED ? -errno : 0;
	close(fd);
	if (ret) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(-ret));
		return ret;
	}
	ret = loader_load_buf(m, img, (size_t)st.st_size, mode, cmdline, out,
			      err, errlen);
	munmap(img, (size_t)st.st_size);
	return ret;
}

const char *loader_mode_name(enum boot_mode mode)
{
	switch (mode) {
	case BOOT_ELF64: return "elf64";
	case BOOT_MULTIBOOT: return "multiboot";
	default: return "auto";
	}
}
