// SPDX-License-Identifier: MIT
/*
 * test_loader.c: vmm/loader.c on synthetic images built here: ELF64,
 * Multiboot v1 a.out-kludge flat images and Multiboot ELF32; the boot data
 * (GDT, identity page tables, Multiboot information, command line, memory
 * map); every rejection with its documented code; loader_load on files;
 * and a mutation fuzz loop that must never crash (also run under
 * `make sanitize`).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../guest-fw/abi.h"
#include "../vmm/loader.h"
#include "../vmm/mem.h"
#include "tap.h"

#define RAM		(64 * MiB)
#define LOAD		0x100000ULL
#define IMG_MAX		(64 * 1024)
#define ERRLEN		256

#define MB_ALIGN	(1u << 0)
#define MB_MEMINFO	(1u << 1)
#define MB_VIDEO	(1u << 2)
#define MB_AOUT		(1u << 16)

/* ---- image builders ------------------------------------------------------ */

struct seg {
	uint32_t type;
	uint64_t off, paddr, filesz, memsz;
};

struct img {
	uint8_t b[IMG_MAX];
	size_t size;
};

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

/* ELF64 with segments' data at their offsets (filled with a pattern). */
static void build_elf64(struct img *im, uint64_t entry, const struct seg *s,
			unsigned n)
{
	Elf64_Ehdr *e = (Elf64_Ehdr *)im->b;
	unsigned i;

	memset(im, 0, sizeof(*im));
	memcpy(e->e_ident, ELFMAG, SELFMAG);
	e->e_ident[EI_CLASS] = ELFCLASS64;
	e->e_ident[EI_DATA] = ELFDATA2LSB;
	e->e_ident[EI_VERSION] = EV_CURRENT;
	e->e_type = ET_EXEC;
	e->e_machine = EM_X86_64;
	e->e_version = EV_CURRENT;
	e->e_entry = entry;
	e->e_phoff = sizeof(*e);
	e->e_ehsize = sizeof(*e);
	e->e_phentsize = sizeof(Elf64_Phdr);
	e->e_phnum = (uint16_t)n;
	im->size = sizeof(*e) + n * sizeof(Elf64_Phdr);
	for (i = 0; i < n; i++) {
		Elf64_Phdr *ph = (Elf64_Phdr *)(im->b + sizeof(*e)) + i;

		ph->p_type = s[i].type;
		ph->p_offset = s[i].off;
		ph->p_vaddr = s[i].paddr;
		ph->p_paddr = s[i].paddr;
		ph->p_filesz = s[i].filesz;
		ph->p_memsz = s[i].memsz;
		ph->p_flags = PF_R | PF_X;
		if (s[i].type == PT_LOAD && s[i].off <= IMG_MAX &&
		    s[i].filesz <= IMG_MAX - s[i].off) {
			fill(im->b + s[i].off, s[i].filesz, i + 1);
			im->size = MAX(im->size, s[i].off + s[i].filesz);
		}
	}
}

/* The standard test kernel: text at 1 MiB (0x300 bytes of file, 0x1000
 * in memory), data at 2 MiB. */
static void std_elf64(struct img *im)
{
	static const struct seg s[] = {
		{ PT_LOAD, 0x1000, LOAD, 0x300, 0x1000 },
		{ PT_NOTE, 0x100, 0, 0x10, 0x10 },
		{ PT_LOAD, 0x2000, 2 * MiB, 0x123, 0x123 },
	};

	build_elf64(im, LOAD + 0x10, s, ARRAY_SIZE(s));
}

static void put_mb_header(uint8_t *h, uint32_t flags)
{
	uint32_t w[3] = { MULTIBOOT_HEADER_MAGIC, flags,
			  (uint32_t)-(MULTIBOOT_HEADER_MAGIC + flags) };

	memcpy(h, w, sizeof(w));
}

/* A flat Multiboot image: header at hoff with the address fields. */
static void build_aout(struct img *im, size_t size, size_t hoff, uint32_t load_addr,
		       uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
	uint32_t a[5] = { (uint32_t)(load_addr + hoff), load_addr, load_end,
			  bss_end, entry };

	memset(im, 0, sizeof(*im));
	fill(im->b, size, 9);
	put_mb_header(im->b + hoff, MB_ALIGN | MB_MEMINFO | MB_AOUT);
	memcpy(im->b + hoff + 12, a, sizeof(a));
	im->size = size;
}

static void std_aout(struct img *im)
{
	build_aout(im, 0x2000, 0x40, LOAD, 0, LOAD + 0x3000, LOAD + 0x80);
}

/* Multiboot ELF32: the header (no address fields) right after the phdrs. */
static void build_elf32_mb(struct img *im, uint32_t flags, uint32_t entry,
			   uint32_t paddr, uint32_t filesz, uint32_t memsz)
{
	Elf32_Ehdr *e = (Elf32_Ehdr *)im->b;
	Elf32_Phdr *ph = (Elf32_Phdr *)(im->b + sizeof(*e));

	memset(im, 0, sizeof(*im));
	memcpy(e->e_ident, ELFMAG, SELFMAG);
	e->e_ident[EI_CLASS] = ELFCLASS32;
	e->e_ident[EI_DATA] = ELFDATA2LSB;
	e->e_ident[EI_VERSION] = EV_CURRENT;
	e->e_type = ET_EXEC;
	e->e_machine = EM_386;
	e->e_version = EV_CURRENT;
	e->e_entry = entry;
	e->e_phoff = sizeof(*e);
	e->e_ehsize = sizeof(*e);
	e->e_phentsize = sizeof(*ph);
	e->e_phnum = 1;
	ph->p_type = PT_LOAD;
	ph->p_offset = 0x1000;
	ph->p_paddr = ph->p_vaddr = paddr;
	ph->p_filesz = filesz;
	ph->p_memsz = memsz;
	put_mb_header(im->b + 0x60, flags);
	fill(im->b + 0x1000, filesz, 3);
	im->size = 0x1000 + filesz;
}

static void std_elf32(struct img *im)
{
	build_elf32_mb(im, MB_ALIGN | MB_MEMINFO, LOAD + 4, LOAD, 0x400, 0x800);
}

/* ---- fixture ------------------------------------------------------------- */

struct fx {
	struct mem m;
	struct boot b;
	char err[ERRLEN];
	struct img im;
};

static struct fx fx;

static bool fx_init(uint64_t ram)
{
	char err[ERRLEN];
	int ret = mem_init(&fx.m, ram, false, err, sizeof(err));

	if (ret) {
		tap_fail(__FILE__, __LINE__, "mem_init: %s", err);
		return false;
	}
	return true;
}

static int load(enum boot_mode mode, const char *cmdline)
{
	fx.err[0] = '\0';
	return loader_load_buf(&fx.m, fx.im.b, fx.im.size, mode, cmdline, &fx.b,
			       fx.err, sizeof(fx.err));
}

static uint8_t *gpa(uint64_t a, uint64_t len)
{
	return mem_gpa_to_hva(&fx.m, a, len);
}

static uint32_t rd32(uint64_t a)
{
	uint32_t v;

	memcpy(&v, gpa(a, 4), 4);
	return v;
}

static uint64_t rd64(uint64_t a)
{
	uint64_t v;

	memcpy(&v, gpa(a, 8), 8);
	return v;
}

/* Expect `want` (a negative errno) and a non-empty reason. */
#define CHECK_LOAD_FAILS(want, mode)					\
	do {								\
		int _r = load((mode), "");				\
		if (_r != (want))					\
			tap_fail(__FILE__, __LINE__, "expected %d, got %d (%s)", \
				 (want), _r, fx.err);			\
		else if (!fx.err[0])					\
			tap_fail(__FILE__, __LINE__, "no reason given for %d", _r); \
	} while (0)

/* ---- ELF64 -------------------------------------------------------------- */

static void elf64_loads_segments(void)
{
	uint8_t expect[0x300];

	if (!fx_init(RAM))
		return;
	std_elf64(&fx.im);
	/* dirty the bss first: the loader must zero it */
	memset(gpa(LOAD, 0x1000), 0xcc, 0x1000);
	REQUIRE_OK(load(BOOT_AUTO, "console=ttyS0"));
	CHECK_EQ(fx.b.mode, BOOT_ELF64);
	CHECK_EQ(fx.b.entry, LOAD + 0x10);
	CHECK_EQ(fx.b.image_lo, LOAD);
	CHECK_EQ(fx.b.image_hi, 2 * MiB + 0x123);
	fill(expect, 0x300, 1);
	CHECK(!memcmp(gpa(LOAD, 0x300), expect, 0x300));
	{
		static const uint8_t zero[0x1000 - 0x300];

		CHECK(!memcmp(gpa(LOAD + 0x300, sizeof(zero)), zero, sizeof(zero)));
	}
	CHECK_EQ(*gpa(LOAD + 0x1000, 1), 0);	/* nothing past memsz */
	fill(expect, 0x123, 3);
	CHECK(!memcmp(gpa(2 * MiB, 0x123), expect, 0x123));
	/* explicit mode gives the same */
	REQUIRE_OK(load(BOOT_ELF64, ""));
	CHECK_EQ(fx.b.mode, BOOT_ELF64);
	mem_fini(&fx.m);
}

static void boot_data_written(void)
{
	uint64_t low;
	unsigned i, n;
	uint32_t mmap_len;

	if (!fx_init(RAM))
		return;
	std_elf64(&fx.im);
	REQUIRE_OK(load(BOOT_AUTO, "cpus=2 workload=heartbeat"));
	/* GDT: null, code32 (0x08), code64 (0x10), data (0x18) */
	CHECK_EQ(rd64(LUVMM_BOOT_GDT + 0x00), 0);
	CHECK_EQ(rd64(LUVMM_BOOT_GDT + 0x08), 0x00cf9b000000ffffULL);
	CHECK_EQ(rd64(LUVMM_BOOT_GDT + 0x10), 0x00af9b000000ffffULL);
	CHECK_EQ(rd64(LUVMM_BOOT_GDT + 0x18), 0x00cf93000000ffffULL);
	/* page tables: PML4[0] -> PDPT, PDPT[0..3] -> PDs, 2 MiB identity */
	CHECK_EQ(rd64(LUVMM_BOOT_PML4), LUVMM_BOOT_PDPT | 3);
	for (i = 1; i < 512; i++)
		if (rd64(LUVMM_BOOT_PML4 + 8 * i))
			tap_fail(__FILE__, __LINE__, "PML4[%u] not zero", i);
	for (i = 0; i < 4; i++)
		CHECK_EQ(rd64(LUVMM_BOOT_PDPT + 8 * i), (LUVMM_BOOT_PD + 4096ULL * i) | 3);
	for (i = 4; i < 512; i++)
		if (rd64(LUVMM_BOOT_PDPT + 8 * i))
			tap_fail(__FILE__, __LINE__, "PDPT[%u] not zero", i);
	for (i = 0; i < 2048; i++)
		if (rd64(LUVMM_BOOT_PD + 8 * i) != (((uint64_t)i << 21) | 0x83)) {
			tap_fail(__FILE__, __LINE__, "PD entry %u is 0x%" PRIx64, i,
				 rd64(LUVMM_BOOT_PD + 8 * i));
			break;
		}
	/* Multiboot information */
	low = mem_low_size(&fx.m);
	CHECK_EQ(rd32(LUVMM_BOOT_MBINFO + 0), (1u << 0) | (1u << 2) | (1u << 6) | (1u << 9));
	CHECK_EQ(rd32(LUVMM_BOOT_MBINFO + 4), 639);
	CHECK_EQ(rd32(LUVMM_BOOT_MBINFO + 8), (low - MiB) / 1024);
	CHECK_EQ(rd32(LUVMM_BOOT_MBINFO + 16), LUVMM_BOOT_CMDLINE);
	CHECK_EQ(rd32(LUVMM_BOOT_MBINFO + 48), LUVMM_BOOT_MMAP);
	CHECK_EQ(rd32(LUVMM_BOOT_MBINFO + 64), LUVMM_BOOT_LOADER_NAME);
	CHECK_STR((const char *)gpa(LUVMM_BOOT_CMDLINE, 1), "cpus=2 workload=heartbeat");
	CHECK_STR((const char *)gpa(LUVMM_BOOT_LOADER_NAME, 1), "luvmm");
	/* memory map: 24-byte entries (size field 20), RAM up to 64 MiB */
	mmap_len = rd32(LUVMM_BOOT_MBINFO + 44);
	REQUIRE_EQ(mmap_len % 24, 0);
	n = mmap_len / 24;
	REQUIRE_EQ(n, 4);
	{
		static const struct { uint64_t base, len; uint32_t type; } want[] = {
			{ 0, 0x9fc00, 1 },
			{ 0x9fc00, 0x400, 2 },
			{ 0xf0000, 0x10000, 2 },
			{ 0x100000, RAM - 0x100000, 1 },
		};

		for (i = 0; i < n; i++) {
			uint64_t e = LUVMM_BOOT_MMAP + 24 * i;

			CHECK_EQ(rd32(e), 20);
			CHECK_EQ(rd64(e + 4), want[i].base);
			CHECK_EQ(rd64(e + 12), want[i].len);
			CHECK_EQ(rd32(e + 20), want[i].type);
		}
	}
	mem_fini(&fx.m);
}

/* With RAM above 4 GiB the map gains a fifth entry and mem_upper stops at
 * the hole. */
static void boot_data_high_memory(void)
{
	uint64_t e = LUVMM_BOOT_MMAP + 4 * 24;

	if (!fx_init(5 * GiB))
		return;
	std_elf64(&fx.im);
	REQUIRE_OK(load(BOOT_AUTO, ""));
	CHECK_EQ(rd32(LUVMM_BOOT_MBINFO + 44), 5 * 24);
	CHECK_EQ(rd64(e + 4), MEM_HIGH_BASE);
	CHECK_EQ(rd64(e + 12), 2 * GiB);
	CHECK_EQ(rd32(e + 20), 1);
	CHECK_EQ(rd64(LUVMM_BOOT_MMAP + 3 * 24 + 12), 3 * GiB - MiB);
	CHECK_EQ(rd32(LUVMM_BOOT_MBINFO + 8), (3 * GiB - MiB) / 1024);
	CHECK_STR((const char *)gpa(LUVMM_BOOT_CMDLINE, 1), "");
	mem_fini(&fx.m);
}

static void cmdline_limits(void)
{
	char cl[LUVMM_BOOT_CMDLINE_MAX + 1];

	if (!fx_init(RAM))
		return;
	std_elf64(&fx.im);
	memset(cl, 'c', sizeof(cl));
	cl[LUVMM_BOOT_CMDLINE_MAX - 1] = '\0';
	REQUIRE_OK(load(BOOT_AUTO, cl));
	CHECK_EQ(strlen((const char *)gpa(LUVMM_BOOT_CMDLINE, 1)), LUVMM_BOOT_CMDLINE_MAX - 1);
	CHECK_EQ(*gpa(LUVMM_BOOT_CMDLINE + LUVMM_BOOT_CMDLINE_MAX - 1, 1), 0);
	cl[LUVMM_BOOT_CMDLINE_MAX - 1] = 'c';
	cl[LUVMM_BOOT_CMDLINE_MAX] = '\0';
	CHECK_ERR(-E2BIG, load(BOOT_AUTO, cl));
	CHECK(strstr(fx.err, "command line") != NULL);
	mem_fini(&fx.m);
}

static void elf64_header_errors(void)
{
	Elf64_Ehdr *e = (Elf64_Ehdr *)fx.im.b;
	size_t n;

	if (!fx_init(RAM))
		return;
	/* truncated: every length below the header */
	for (n = 0; n < sizeof(Elf64_Ehdr); n++) {
		std_elf64(&fx.im);
		fx.im.size = n;
		CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
		CHECK_LOAD_FAILS(-ENOEXEC, BOOT_ELF64);
	}
	std_elf64(&fx.im);
	e->e_ident[EI_MAG0] = 0x7e;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_ident[EI_CLASS] = ELFCLASS32;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_ELF64);
	CHECK(strstr(fx.err, "ELF64") != NULL);
	std_elf64(&fx.im);
	e->e_ident[EI_CLASS] = 7;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_ident[EI_DATA] = ELFDATA2MSB;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_ident[EI_VERSION] = 2;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_machine = EM_386;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	CHECK(strstr(fx.err, "machine") != NULL);
	std_elf64(&fx.im);
	e->e_machine = EM_AARCH64;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_type = ET_DYN;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	CHECK(strstr(fx.err, "type") != NULL);
	std_elf64(&fx.im);
	e->e_type = ET_REL;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_phentsize = sizeof(Elf64_Phdr) + 8;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_phentsize = sizeof(Elf32_Phdr);
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_phnum = 0;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_phnum = 65;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_phnum = 0xffff;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	/* program headers outside the file */
	std_elf64(&fx.im);
	e->e_phoff = fx.im.size;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_phoff = fx.im.size - sizeof(Elf64_Phdr) * 3 + 1;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	std_elf64(&fx.im);
	e->e_phoff = UINT64_MAX - 8;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	/* header and phdrs only, segment data cut off */
	std_elf64(&fx.im);
	fx.im.size = 0x1000 + 0x2ff;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	mem_fini(&fx.m);
}

/* 64 program headers are fine, the loader just skips non-LOAD ones. */
static void elf64_max_phdrs(void)
{
	struct seg s[64];
	unsigned i;

	if (!fx_init(RAM))
		return;
	for (i = 0; i < 64; i++)
		s[i] = (struct seg){ PT_NOTE, 0, 0, 0, 0 };
	s[63] = (struct seg){ PT_LOAD, 0x2000, LOAD, 0x100, 0x100 };
	build_elf64(&fx.im, LOAD, s, 64);
	REQUIRE_OK(load(BOOT_AUTO, ""));
	CHECK_EQ(fx.b.image_lo, LOAD);
	CHECK_EQ(fx.b.image_hi, LOAD + 0x100);
	mem_fini(&fx.m);
}

static void elf64_segment_errors(void)
{
	static const struct {
		struct seg s;
		uint64_t entry;
		int ret;
		const char *what;
	} c[] = {
		{ { PT_LOAD, 0x1000, LOAD, 0x200, 0x100 }, LOAD, -ENOEXEC, "filesz > memsz" },
		{ { PT_LOAD, 0xf000, LOAD, 0x2000, 0x2000 }, LOAD, -ENOEXEC, "past file end" },
		{ { PT_LOAD, UINT64_MAX - 2, LOAD, 0x10, 0x10 }, LOAD, -ENOEXEC, "offset overflow" },
		{ { PT_LOAD, 0x1000, LOAD, UINT64_MAX, UINT64_MAX }, LOAD, -ENOEXEC, "filesz overflow" },
		{ { PT_LOAD, 0x1000, RAM, 0x10, 0x10 }, RAM, -ERANGE, "just past RAM" },
		{ { PT_LOAD, 0x1000, RAM - 0x10, 0x10, 0x11 }, RAM - 0x10, -ERANGE, "ends past RAM" },
		{ { PT_LOAD, 0x1000, 0x40000000, 0x10, 0x10 }, 0x40000000, -ERANGE, "far outside RAM" },
		{ { PT_LOAD, 0x1000, UINT64_MAX - 0xf, 0x10, 0x20 }, UINT64_MAX - 0xf, -ENOEXEC, "paddr wraps" },
		{ { PT_LOAD, 0x1000, 0, 0x10, 0x10 }, 0, -ERANGE, "at 0" },
		{ { PT_LOAD, 0x1000, 0x7000, 0x10, 0x10 }, 0x7000, -ERANGE, "MBI page" },
		{ { PT_LOAD, 0x1000, LUVMM_BOOT_AREA_END - 1, 0x10, 0x10 }, LUVMM_BOOT_AREA_END, -ERANGE, "last boot byte" },
		{ { PT_LOAD, 0x1000, LOAD, 0x10, 0x10 }, LOAD + 0x10, -ENOEXEC, "entry at end" },
		{ { PT_LOAD, 0x1000, LOAD, 0x10, 0x10 }, LOAD - 1, -ENOEXEC, "entry before" },
		{ { PT_LOAD, 0x1000, LOAD, 0, 0 }, LOAD, -ENOEXEC, "empty segment" },
		{ { PT_NOTE, 0x1000, LOAD, 0x10, 0x10 }, LOAD, -ENOEXEC, "no PT_LOAD" },
		{ { PT_LOAD, 0x1000, LUVMM_BOOT_AREA_END, 0x10, 0x10 }, LUVMM_BOOT_AREA_END, 0, "right after the boot area" },
		{ { PT_LOAD, 0x1000, RAM - 0x10, 0x10, 0x10 }, RAM - 1, 0, "last bytes of RAM" },
		{ { PT_LOAD, 0x1000, LOAD, 0, 0x10 }, LOAD + 0xf, 0, "bss only" },
	};
	size_t i;

	if (!fx_init(RAM))
		return;
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		int ret;

		build_elf64(&fx.im, c[i].entry, &c[i].s, 1);
		if (fx.im.size < 0x1000)
			fx.im.size = 0x1000;
		ret = load(BOOT_AUTO, "");
		if (ret != c[i].ret || (ret && !fx.err[0]))
			tap_fail(__FILE__, __LINE__, "%s: expected %d, got %d (%s)", c[i].what,
				 c[i].ret, ret, fx.err);
	}
	mem_fini(&fx.m);
}

/* The boot page tables map only [0, 4 GiB): an ELF64 kernel placed above
 * it could never run its first instruction. */
static void elf64_above_4g_rejected(void)
{
	static const struct seg s = { PT_LOAD, 0x1000, MEM_HIGH_BASE, 0x100, 0x100 };

	if (!fx_init(5 * GiB))
		return;
	build_elf64(&fx.im, MEM_HIGH_BASE, &s, 1);
	CHECK_LOAD_FAILS(-ERANGE, BOOT_AUTO);
	mem_fini(&fx.m);
}

/* RAM that does not even hold the boot area and the usual load address. */
static void ram_too_small(void)
{
	static uint8_t ram[512 * 1024];
	struct mem m;
	struct boot b;
	char err[ERRLEN] = "";

	memset(&m, 0, sizeof(m));
	m.fd = -1;
	m.size = sizeof(ram);
	m.host = ram;
	m.nregions = 1;
	m.regions[0] = (struct mem_region){ 0, sizeof(ram), 0 };
	std_elf64(&fx.im);
	CHECK_ERR(-ERANGE, loader_load_buf(&m, fx.im.b, fx.im.size, BOOT_AUTO, "", &b,
					   err, sizeof(err)));
	CHECK(err[0] != '\0');
}

/* ---- Multiboot -------------------------------------------------------------- */

static void multiboot_aout_loads(void)
{
	uint8_t expect[0x2000];

	if (!fx_init(RAM))
		return;
	std_aout(&fx.im);
	memset(gpa(LOAD, 0x3001), 0xcc, 0x3001);
	REQUIRE_OK(load(BOOT_AUTO, "mb"));
	CHECK_EQ(fx.b.mode, BOOT_MULTIBOOT);
	CHECK_EQ(fx.b.entry, LOAD + 0x80);
	CHECK_EQ(fx.b.image_lo, LOAD);
	CHECK_EQ(fx.b.image_hi, LOAD + 0x3000);
	memcpy(expect, fx.im.b, sizeof(expect));
	CHECK(!memcmp(gpa(LOAD, 0x2000), expect, 0x2000));
	CHECK_EQ(*gpa(LOAD + 0x2000, 1), 0);		/* bss zeroed */
	CHECK_EQ(*gpa(LOAD + 0x2fff, 1), 0);
	CHECK_EQ(*gpa(LOAD + 0x3000, 1), 0xcc);		/* not past bss_end */
	CHECK_STR((const char *)gpa(LUVMM_BOOT_CMDLINE, 1), "mb");
	CHECK_EQ(rd32(LUVMM_BOOT_MBINFO + 16), LUVMM_BOOT_CMDLINE);
	REQUIRE_OK(load(BOOT_MULTIBOOT, ""));
	CHECK_EQ(fx.b.mode, BOOT_MULTIBOOT);
	CHECK_ERR(-ENOEXEC, load(BOOT_ELF64, ""));	/* not an ELF at all */
	mem_fini(&fx.m);
}

/* load_end_addr limits what is loaded; the header can sit after the start
 * of the loaded text (header_addr - load_addr < header offset). */
static void multiboot_aout_load_end_and_offset(void)
{
	uint8_t expect[0x800];

	if (!fx_init(RAM))
		return;
	build_aout(&fx.im, 0x2000, 0x100, LOAD, LOAD + 0x800, 0, LOAD);
	REQUIRE_OK(load(BOOT_AUTO, ""));
	CHECK_EQ(fx.b.image_hi, LOAD + 0x800);
	memcpy(expect, fx.im.b, sizeof(expect));
	CHECK(!memcmp(gpa(LOAD, 0x800), expect, 0x800));
	/* header_addr says the file starts 0x80 bytes into the image text */
	build_aout(&fx.im, 0x2000, 0x100, LOAD, 0, 0, LOAD);
	memcpy(fx.im.b + 0x100 + 12, &(uint32_t){ LOAD + 0x80 }, 4);
	REQUIRE_OK(load(BOOT_AUTO, ""));
	CHECK(!memcmp(gpa(LOAD, 0x100), fx.im.b + 0x80, 0x100));
	CHECK_EQ(fx.b.image_hi, LOAD + 0x2000 - 0x80);
	mem_fini(&fx.m);
}

static void multiboot_elf32_loads(void)
{
	uint8_t expect[0x400];

	if (!fx_init(RAM))
		return;
	std_elf32(&fx.im);
	memset(gpa(LOAD, 0x800), 0xcc, 0x800);
	REQUIRE_OK(load(BOOT_AUTO, ""));
	CHECK_EQ(fx.b.mode, BOOT_MULTIBOOT);
	CHECK_EQ(fx.b.entry, LOAD + 4);
	CHECK_EQ(fx.b.image_lo, LOAD);
	CHECK_EQ(fx.b.image_hi, LOAD + 0x800);
	fill(expect, sizeof(expect), 3);
	CHECK(!memcmp(gpa(LOAD, 0x400), expect, 0x400));
	CHECK_EQ(*gpa(LOAD + 0x400, 1), 0);
	CHECK_EQ(*gpa(LOAD + 0x7ff, 1), 0);
	CHECK_ERR(-ENOEXEC, load(BOOT_ELF64, ""));
	/* ELF32 without a Multiboot header is nothing we boot */
	memset(fx.im.b + 0x60, 0, 12);
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_MULTIBOOT);
	/* ELF32 errors go through the same checks */
	build_elf32_mb(&fx.im, MB_ALIGN, LOAD + 0x900, LOAD, 0x400, 0x800);
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	build_elf32_mb(&fx.im, MB_ALIGN, 0x7000, 0x7000, 0x400, 0x800);
	CHECK_LOAD_FAILS(-ERANGE, BOOT_AUTO);
	build_elf32_mb(&fx.im, MB_ALIGN, LOAD, LOAD, 0x400, 0x800);
	((Elf32_Ehdr *)fx.im.b)->e_machine = EM_X86_64;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	mem_fini(&fx.m);
}

/* An ELF64 that also carries a Multiboot header (guest-fw) boots as ELF64
 * by default and as Multiboot when asked. */
static void elf64_with_multiboot_header(void)
{
	static const struct seg s = { PT_LOAD, 0x1000, LOAD, 0x1000, 0x1000 };
	uint32_t a[5] = { LOAD + 0x40, LOAD, LOAD + 0x1000, LOAD + 0x2000, LOAD + 0x20 };

	if (!fx_init(RAM))
		return;
	build_elf64(&fx.im, LOAD + 0x10, &s, 1);
	put_mb_header(fx.im.b + 0x1040, MB_ALIGN | MB_MEMINFO | MB_AOUT);
	memcpy(fx.im.b + 0x1040 + 12, a, sizeof(a));
	REQUIRE_OK(load(BOOT_AUTO, ""));
	CHECK_EQ(fx.b.mode, BOOT_ELF64);
	CHECK_EQ(fx.b.entry, LOAD + 0x10);
	REQUIRE_OK(load(BOOT_MULTIBOOT, ""));
	CHECK_EQ(fx.b.mode, BOOT_MULTIBOOT);
	CHECK_EQ(fx.b.entry, LOAD + 0x20);
	CHECK_EQ(fx.b.image_hi, LOAD + 0x2000);
	CHECK(!memcmp(gpa(LOAD, 0x1000), fx.im.b + 0x1000, 0x1000));
	mem_fini(&fx.m);
}

static void multiboot_flag_errors(void)
{
	static const struct {
		uint32_t flags;
		int ret;
	} c[] = {
		{ MB_AOUT | MB_VIDEO, -ENOTSUP },
		{ MB_AOUT | MB_ALIGN | MB_VIDEO, -ENOTSUP },
		{ MB_AOUT | (1u << 3), -ENOTSUP },
		{ MB_AOUT | (1u << 15), -ENOTSUP },
		{ MB_AOUT | (1u << 17), 0 },	/* optional bits are ignored */
		{ MB_AOUT | (1u << 31), 0 },
		{ MB_AOUT, 0 },
	};
	size_t i;

	if (!fx_init(RAM))
		return;
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		int ret;

		std_aout(&fx.im);
		put_mb_header(fx.im.b + 0x40, c[i].flags);
		ret = load(BOOT_AUTO, "");
		if (ret != c[i].ret || (ret && !fx.err[0]))
			tap_fail(__FILE__, __LINE__, "flags 0x%x: expected %d, got %d (%s)",
				 c[i].flags, c[i].ret, ret, fx.err);
	}
	std_aout(&fx.im);
	put_mb_header(fx.im.b + 0x40, MB_AOUT | MB_VIDEO);
	CHECK_LOAD_FAILS(-ENOTSUP, BOOT_AUTO);
	CHECK(strstr(fx.err, "video") != NULL);
	/* ELF32 kernels with unsupported flags too */
	build_elf32_mb(&fx.im, MB_VIDEO, LOAD, LOAD, 0x10, 0x10);
	CHECK_LOAD_FAILS(-ENOTSUP, BOOT_AUTO);
	mem_fini(&fx.m);
}

static void multiboot_header_search(void)
{
	uint32_t bad = 0;

	if (!fx_init(RAM))
		return;
	/* bad checksum: no header at all */
	std_aout(&fx.im);
	memcpy(fx.im.b + 0x48, &bad, 4);
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_MULTIBOOT);
	CHECK(strstr(fx.err, "Multiboot") != NULL);
	/* not 4-byte aligned */
	build_aout(&fx.im, 0x3000, 0x42, LOAD, 0, 0, LOAD);
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	/* the last aligned slot inside the first 8 KiB, and one past it */
	build_aout(&fx.im, 0x3000, 8192 - 32, LOAD, 0, 0, LOAD);
	CHECK_ERR(0, load(BOOT_AUTO, ""));
	CHECK_EQ(fx.b.mode, BOOT_MULTIBOOT);
	build_aout(&fx.im, 0x3000, 8192, LOAD, 0, 0, LOAD);
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	/* magic with a checksum that is off by one */
	std_aout(&fx.im);
	fx.im.b[0x48]++;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	/* empty and tiny buffers */
	fx.im.size = 0;
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_MULTIBOOT);
	fx.im.size = 11;
	put_mb_header(fx.im.b, MB_AOUT);
	CHECK_LOAD_FAILS(-ENOEXEC, BOOT_AUTO);
	mem_fini(&fx.m);
}

static void multiboot_aout_errors(void)
{
	static const struct {
		size_t size, hoff;
		uint32_t load_addr, load_end, bss_end, entry;
		uint32_t header_addr;	/* 0: load_addr + hoff */
		int ret;
		const char *what;
	} c[] = {
		{ 0x1000, 0xff0, LOAD, 0, 0, LOAD, 0, -ENOEXEC, "address fields truncated" },
		{ 0x1000, 0x40, LOAD, 0, 0, LOAD, LOAD - 4, -ENOEXEC, "header_addr < load_addr" },
		{ 0x1000, 0x40, LOAD, 0, 0, LOAD, LOAD + 0x44, -ENOEXEC, "header_addr past the offset" },
		{ 0x1000, 0x40, LOAD, LOAD, 0, LOAD, 0, -ENOEXEC, "load_end == load_addr" },
		{ 0x1000, 0x40, LOAD, LOAD - 1, 0, LOAD, 0, -ENOEXEC, "load_end < load_addr" },
		{ 0x1000, 0x40, LOAD, LOAD + 0x2000, 0, LOAD, 0, -ENOEXEC, "load_end past the file" },
		{ 0x1000, 0x40, LOAD, 0, LOAD + 0xfff, LOAD, 0, -ENOEXEC, "bss_end inside text" },
		{ 0x1000, 0x40, LOAD, 0, 0, LOAD + 0x1000, 0, -ENOEXEC, "entry at end" },
		{ 0x1000, 0x40, LOAD, 0, 0, LOAD - 1, 0, -ENOEXEC, "entry before" },
		{ 0x1000, 0x40, LOAD, 0, LOAD + 0x2000, LOAD + 0x1fff, 0, 0, "entry in bss" },
		{ 0x1000, 0x40, 0x7000, 0, 0, 0x7000, 0, -ERANGE, "boot area" },
		{ 0x1000, 0x40, 0x8000, 0, 0, 0x8000, 0, 0, "right after the boot area" },
		{ 0x1000, 0x40, RAM - 0x800, 0, 0, RAM - 0x800, 0, -ERANGE, "past RAM" },
		{ 0x1000, 0x40, 0xfffff000, 0, 0, 0xfffff000, 0, -ERANGE, "top of 4G" },
		{ 0x1000, 0x40, LOAD, 0, 0xffffffff, LOAD, 0, -ERANGE, "bss to 4G" },
	};
	size_t i;

	if (!fx_init(RAM))
		return;
	for (i = 0; i < ARRAY_SIZE(c); i++) {
		int ret;

		build_aout(&fx.im, c[i].size, c[i].hoff, c[i].load_addr, c[i].load_end,
			   c[i].bss_end, c[i].entry);
		if (c[i].header_addr)
			memcpy(fx.im.b + c[i].hoff + 12, &c[i].header_addr, 4);
		ret = load(BOOT_AUTO, "");
		if (ret != c[i].ret || (ret && !fx.err[0]))
			tap_fail(__FILE__, __LINE__, "%s: expected %d, got %d (%s)", c[i].what,
				 c[i].ret, ret, fx.err);
	}
	mem_fini(&fx.m);
}

/* ---- loader_load on files --------------------------------------------------- */

struct tmpdir {
	char path[64];
};

static bool tmpdir_make(struct tmpdir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/test_loader.XXXXXX");
	return mkdtemp(d->path) != NULL;
}

static void write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		tap_fail(__FILE__, __LINE__, "cannot write %s", path);
	if (fd >= 0)
		close(fd);
}

static void load_from_files(void)
{
	char p[128], q[128], e[128], big[128], noperm[128];
	struct tmpdir d;
	int fd, ret;

	if (!fx_init(RAM))
		return;
	REQUIRE(tmpdir_make(&d));
	snprintf(p, sizeof(p), "%s/kernel.elf", d.path);
	snprintf(q, sizeof(q), "%s/missing", d.path);
	snprintf(e, sizeof(e), "%s/empty", d.path);
	snprintf(big, sizeof(big), "%s/big", d.path);
	snprintf(noperm, sizeof(noperm), "%s/noperm", d.path);
	std_elf64(&fx.im);
	write_file(p, fx.im.b, fx.im.size);
	write_file(e, "", 0);

	CHECK_ERR(0, loader_load(&fx.m, p, BOOT_AUTO, "file", &fx.b, fx.err, sizeof(fx.err)));
	CHECK_EQ(fx.b.mode, BOOT_ELF64);
	CHECK_EQ(fx.b.entry, LOAD + 0x10);
	CHECK_STR((const char *)gpa(LUVMM_BOOT_CMDLINE, 1), "file");

	fx.err[0] = '\0';
	CHECK_ERR(-ENOENT, loader_load(&fx.m, q, BOOT_AUTO, "", &fx.b, fx.err, sizeof(fx.err)));
	CHECK(strstr(fx.err, "missing") != NULL);
	fx.err[0] = '\0';
	CHECK_ERR(-ENOEXEC, loader_load(&fx.m, e, BOOT_AUTO, "", &fx.b, fx.err, sizeof(fx.err)));
	CHECK(fx.err[0] != '\0');
	fx.err[0] = '\0';
	CHECK_ERR(-ENOEXEC, loader_load(&fx.m, d.path, BOOT_AUTO, "", &fx.b, fx.err, sizeof(fx.err)));
	CHECK(fx.err[0] != '\0');
	CHECK_ERR(-ENOTDIR, loader_load(&fx.m, "/dev/null/x", BOOT_AUTO, "", &fx.b, fx.err, sizeof(fx.err)));
	CHECK_ERR(-ENOEXEC, loader_load(&fx.m, "/dev/null", BOOT_AUTO, "", &fx.b, fx.err, sizeof(fx.err)));

	/* over the 512 MiB limit (sparse, costs no disk) */
	fd = open(big, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	REQUIRE(fd >= 0);
	ret = ftruncate(fd, (off_t)LOADER_MAX_FILE + 1);
	close(fd);
	if (!ret) {
		CHECK_ERR(-E2BIG, loader_load(&fx.m, big, BOOT_AUTO, "", &fx.b, fx.err, sizeof(fx.err)));
		CHECK(strstr(fx.err, "512") != NULL);
	}

	/* unreadable: -EACCES, unless we are root */
	write_file(noperm, fx.im.b, fx.im.size);
	chmod(noperm, 0);
	if (geteuid() != 0) {
		CHECK_ERR(-EACCES, loader_load(&fx.m, noperm, BOOT_AUTO, "", &fx.b, fx.err, sizeof(fx.err)));
	} else {
		/* root reads anything: ask as nobody, in a child */
		pid_t pid;
		int status = 0;

		chmod(d.path, 0755);
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
				_exit(100);
			ret = loader_load(&fx.m, noperm, BOOT_AUTO, "", &fx.b, fx.err,
					  sizeof(fx.err));
			_exit(ret == -EACCES ? 0 : 1);
		}
		REQUIRE(waitpid(pid, &status, 0) == pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 100)
			tap_diag("cannot drop to uid 65534: -EACCES not checked");
		else
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}

	unlink(p);
	unlink(e);
	unlink(big);
	unlink(noperm);
	rmdir(d.path);
	mem_fini(&fx.m);
}

/* ---- mutation fuzz ---------------------------------------------------------- */

static bool documented(int ret)
{
	return ret == 0 || ret == -ENOEXEC || ret == -ERANGE || ret == -E2BIG ||
	       ret == -ENOTSUP;
}

static void mutate(struct img *im, size_t base_size)
{
	unsigned k, n = 1 + (unsigned)(tap_rng() % 6);

	for (k = 0; k < n; k++) {
		size_t at = tap_rng() % 2 ? tap_rng() % 128 : tap_rng() % base_size;

		switch (tap_rng() % 6) {
		case 0:
			im->b[at] ^= (uint8_t)(1u << (tap_rng() % 8));
			break;
		case 1:
			im->b[at] = (uint8_t)tap_rng();
			break;
		case 2:		/* an interesting 32-bit value */
		{
			static const uint32_t v[] = { 0, 1, 0x7fffffff, 0x80000000, 0xffffffff,
						      0x100000, 0x8000, 0x7ff8, RAM, 0x40 };
			if (at + 4 <= base_size)
				memcpy(im->b + at, &v[tap_rng() % ARRAY_SIZE(v)], 4);
			break;
		}
		case 3:
			if (at + 8 <= base_size) {
				uint64_t x = tap_rng();

				memcpy(im->b + at, &x, 8);
			}
			break;
		case 4:
			im->size = tap_rng() % (base_size + 1);
			break;
		default:
			im->b[at] = 0xff;
			break;
		}
	}
}

static void fuzz_one(void (*build)(struct img *), const char *name, unsigned iters)
{
	static struct img base;
	unsigned i, ok = 0;

	build(&base);
	for (i = 0; i < iters; i++) {
		enum boot_mode mode = (enum boot_mode)(tap_rng() % 3);
		int ret;

		memcpy(&fx.im, &base, sizeof(base));
		mutate(&fx.im, base.size);
		ret = load(mode, tap_rng() % 8 ? "fuzz" : "");
		if (!documented(ret)) {
			tap_fail(__FILE__, __LINE__, "%s iter %u: undocumented %d (%s)", name, i,
				 ret, fx.err);
			break;
		}
		if (ret) {
			if (!fx.err[0]) {
				tap_fail(__FILE__, __LINE__, "%s iter %u: %d without a reason",
					 name, i, ret);
				break;
			}
			continue;
		}
		ok++;
		if (fx.b.entry < fx.b.image_lo || fx.b.entry >= fx.b.image_hi ||
		    fx.b.image_lo < LUVMM_BOOT_AREA_END ||
		    !mem_is_ram(&fx.m, fx.b.image_lo, fx.b.image_hi - fx.b.image_lo) ||
		    (fx.b.mode != BOOT_ELF64 && fx.b.mode != BOOT_MULTIBOOT)) {
			tap_fail(__FILE__, __LINE__, "%s iter %u: accepted a bad layout: entry 0x%" PRIx64 " [0x%" PRIx64 ", 0x%" PRIx64 ")",
				 name, i, fx.b.entry, fx.b.image_lo, fx.b.image_hi);
			break;
		}
	}
	tap_diag("%s: %u of %u mutants loaded", name, ok, i);
}

static void fuzz_mutated_images(void)
{
	tap_rng_seed();
	if (!fx_init(RAM))
		return;
	fuzz_one(std_elf64, "elf64", 20000);
	fuzz_one(std_aout, "multiboot a.out", 20000);
	fuzz_one(std_elf32, "multiboot elf32", 20000);
	mem_fini(&fx.m);
}

static const struct tap_case cases[] = {
	TAP_CASE(elf64_loads_segments),
	TAP_CASE(boot_data_written),
	TAP_CASE(boot_data_high_memory),
	TAP_CASE(cmdline_limits),
	TAP_CASE(elf64_header_errors),
	TAP_CASE(elf64_max_phdrs),
	TAP_CASE(elf64_segment_errors),
	TAP_CASE(elf64_above_4g_rejected),
	TAP_CASE(ram_too_small),
	TAP_CASE(multiboot_aout_loads),
	TAP_CASE(multiboot_aout_load_end_and_offset),
	TAP_CASE(multiboot_elf32_loads),
	TAP_CASE(elf64_with_multiboot_header),
	TAP_CASE(multiboot_flag_errors),
	TAP_CASE(multiboot_header_search),
	TAP_CASE(multiboot_aout_errors),
	TAP_CASE(load_from_files),
	TAP_CASE(fuzz_mutated_images),
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
