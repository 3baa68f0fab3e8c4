// SPDX-License-Identifier: MIT
/*
 * cmdline.c: what guest-fw learns from its loader: copies the Multiboot
 * command line and memory map into .bss, parses the command line into
 * struct fw_config, and checks the memcheck and dma regions against RAM.
 *
 * Runs at CPL3. The copy must come before fw touches any memory past its
 * image: QEMU puts the Multiboot info right after .bss.
 */
#include "fw.h"

#define MBI_FLAGS	0
#define MBI_MEM_LOWER	1
#define MBI_MEM_UPPER	2
#define MBI_CMDLINE	4
#define MBI_MMAP_LEN	11
#define MBI_MMAP_ADDR	12
#define MBF_MEM		(1u << 0)
#define MBF_CMDLINE	(1u << 2)
#define MBF_MMAP	(1u << 6)

#define FW_LOW_END	(4ULL << 20)	/* memcheck stays above this */
#define MC_ALIGN	4096ULL

static void mmap_add(uint64_t base, uint64_t len, uint32_t type)
{
	struct mem_range *r;

	if (boot.nmmap == BOOT_MMAP_MAX)
		return;
	r = &boot.mmap[boot.nmmap++];
	r->base = base;
	r->len = len;
	r->type = type;
	if (type == 1)
		boot.mem_bytes += len;
}

static void mmap_copy(uint32_t addr, uint32_t len)
{
	uint32_t off = 0;

	/* entry: u32 size (not counting itself), u64 base, u64 len, u32 type */
	while (off + 24 <= len) {
		const uint8_t *e = (const uint8_t *)(uint64_t)(addr + off);
		uint32_t size, type;
		uint64_t base, elen;

		memcpy(&size, e, 4);
		memcpy(&base, e + 4, 8);
		memcpy(&elen, e + 12, 8);
		memcpy(&type, e + 20, 4);
		mmap_add(base, elen, type);
		off += size + 4;
	}
}

void bootinfo_copy(void)
{
	const uint32_t *mbi = (const uint32_t *)boot_mbinfo;
	uint32_t flags;

	if (boot_magic != MULTIBOOT_BOOTLOADER_MAGIC || !mbi)
		return;
	flags = mbi[MBI_FLAGS];
	if ((flags & MBF_CMDLINE) && mbi[MBI_CMDLINE]) {
		const char *s = (const char *)(uint64_t)mbi[MBI_CMDLINE];
		size_t n = 0;

		while (s[n] && n < sizeof(boot.cmdline) - 1) {
			boot.cmdline[n] = s[n];
			n++;
		}
	}
	if (flags & MBF_MMAP) {
		mmap_copy(mbi[MBI_MMAP_ADDR], mbi[MBI_MMAP_LEN]);
	} else if (flags & MBF_MEM) {
		mmap_add(0, (uint64_t)mbi[MBI_MEM_LOWER] << 10, 1);
		mmap_add(1ULL << 20, (uint64_t)mbi[MBI_MEM_UPPER] << 10, 1);
	}
}

static bool tok_is(const char *s, size_t n, const char *word)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (word[i] != s[i])
			return false;
	return word[n] == '\0';
}

/* Decimal or 0x hex, optionally K/M/G (binary) when with_suffix. */
static bool parse_num(const char *s, size_t n, bool with_suffix,
		      uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	unsigned int base = 10;
	size_t i = 0;

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (with_suffix && n > i) {
		switch (s[n - 1] | 0x20) {
		case 'k': mul = 1ULL << 10; n--; break;
		case 'm': mul = 1ULL << 20; n--; break;
		case 'g': mul = 1ULL << 30; n--; break;
		}
	}
	if (i == n)
		return false;
	for (; i < n; i++) {
		char c = s[i] | 0x20;
		unsigned int d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	if (v > UINT64_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

static bool parse_range(const char *s, size_t n, uint64_t lo, uint64_t hi,
			uint64_t *out)
{
	uint64_t v;

	if (!parse_num(s, n, false, &v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_workloads(const char *s, size_t n, struct fw_config *c)
{
	static const char *const names[LUVMM_WORKLOAD_MAX] = {
		[LUVMM_WORKLOAD_IDLE] = "idle",
		[LUVMM_WORKLOAD_HEARTBEAT] = "heartbeat",
		[LUVMM_WORKLOAD_MEMCHECK] = "memcheck",
		[LUVMM_WORKLOAD_DMA] = "dma",
	};
	size_t i = 0;

	c->nworkloads = 0;
	while (i <= n) {
		size_t j = i, w;

		while (j < n && s[j] != ',')
			j++;
		for (w = 0; w < LUVMM_WORKLOAD_MAX; w++)
			if (tok_is(s + i, j - i, names[w]))
				break;
		if (w == LUVMM_WORKLOAD_MAX || c->nworkloads == FW_MAX_CPUS)
			return false;
		c->workload[c->nworkloads++] = w;
		i = j + 1;
	}
	return true;
}

/* SIZE@BASE, both with an optional K/M/G suffix. */
static bool parse_region(const char *s, size_t n, uint64_t *size,
			 uint64_t *base)
{
	size_t at = 0;

	while (at < n && s[at] != '@')
		at++;
	if (at == n)
		return false;
	return parse_num(s, at, true, size) &&
	       parse_num(s + at + 1, n - at - 1, true, base);
}

/* One key=value token; false (with *why) if the value is bad. */
static bool parse_kv(const char *k, size_t kn, const char *v, size_t vn,
		     struct fw_config *c, bool *known)
{
	uint64_t x;

	*known = true;
	if (tok_is(k, kn, "cpus")) {
		if (!parse_range(v, vn, 1, FW_MAX_CPUS, &x))
			return false;
		c->cpus = x;
	} else if (tok_is(k, kn, "workload")) {
		return parse_workloads(v, vn, c);
	} else if (tok_is(k, kn, "memcheck")) {
		return parse_region(v, vn, &c->mc_size, &c->mc_base);
	} else if (tok_is(k, kn, "dma")) {
		return parse_region(v, vn, &c->dma_size, &c->dma_base);
	} else if (tok_is(k, kn, "dma_churn")) {
		return parse_range(v, vn, 0, 1000000000, &c->dma_churn);
	} else if (tok_is(k, kn, "dma_maps")) {
		return parse_range(v, vn, 0, DMA_MAX_MAPS, &c->dma_maps);
	} else if (tok_is(k, kn, "hb_period_us")) {
		return parse_range(v, vn, 1, 60000000, &c->hb_period_us);
	} else if (tok_is(k, kn, "serial_period_ms")) {
		return parse_range(v, vn, 0, 3600000, &c->serial_period_ms);
	} else if (tok_is(k, kn, "gap_log_us")) {
		return parse_range(v, vn, 0, 60000000, &c->gap_log_us);
	} else if (tok_is(k, kn, "timer_hz")) {
		return parse_range(v, vn, 0, 10000, &c->timer_hz);
	} else if (tok_is(k, kn, "tsc_khz")) {
		return parse_range(v, vn, 1000, 100000000, &c->tsc_khz);
	} else if (tok_is(k, kn, "poweroff_ms")) {
		c->has_poweroff = true;
		return parse_range(v, vn, 0, 86400000, &c->poweroff_ms);
	} else if (tok_is(k, kn, "poweroff_status")) {
		if (!parse_range(v, vn, 0, 255, &x))
			return false;
		c->poweroff_status = x;
	} else if (tok_is(k, kn, "fault")) {
		if (tok_is(v, vn, "ud"))
			c->fault = FAULT_UD;
		else if (tok_is(v, vn, "pf"))
			c->fault = FAULT_PF;
		else
			return false;
	} else {
		*known = false;
	}
	return true;
}

static void set_defaults(struct fw_config *c)
{
	memset(c, 0, sizeof(*c));
	c->cpus = 1;
	c->nworkloads = 1;
	c->workload[0] = LUVMM_WORKLOAD_HEARTBEAT;
	c->mc_base = 16ULL << 20;
	c->mc_size = 16ULL << 20;
	c->dma_base = 32ULL << 20;	/* right after memcheck's default */
	c->dma_size = 16ULL << 20;
	c->dma_churn = 16;
	c->hb_period_us = 2000;
	c->serial_period_ms = 1000;
	c->timer_hz = 100;
	c->err_off = -1;
	c->mc_off = -1;
	c->dma_off = -1;
}

/*
 * Space-separated key=value tokens. A leading word without '=' is the
 * image name some loaders (QEMU, GRUB) prepend: ignored. Unknown keys are
 * remembered for a warning; the first bad value stops parsing.
 */
void cmdline_parse(const char *s, struct fw_config *c)
{
	size_t i = 0;
	bool first = true;

	set_defaults(c);
	while (s[i]) {
		size_t start, eq = 0, end;
		bool known;

		while (s[i] == ' ')
			i++;
		if (!s[i])
			break;
		start = i;
		while (s[i] && s[i] != ' ') {
			if (!eq && s[i] == '=')
				eq = i;
			i++;
		}
		end = i;
		if (!eq) {
			known = first;	/* the image name: not a warning */
		} else if (!parse_kv(s + start, eq - start, s + eq + 1,
				     end - eq - 1, c, &known)) {
			c->err_off = start;
			return;
		} else if (tok_is(s + start, eq - start, "memcheck")) {
			c->mc_off = start;
		} else if (tok_is(s + start, eq - start, "dma")) {
			c->dma_off = start;
		}
		if (!known && c->nwarn < ARRAY_SIZE(c->warn_off))
			c->warn_off[c->nwarn++] = start;
		first = false;
	}
}

static bool in_ram(uint64_t base, uint64_t end)
{
	uint64_t cur = base;
	uint32_t i;
	bool moved = true;

	/* walk forward through available ranges until end is covered */
	while (cur < end && moved) {
		moved = false;
		for (i = 0; i < boot.nmmap; i++) {
			const struct mem_range *r = &boot.mmap[i];

			if (r->type == 1 && r->base <= cur &&
			    cur < r->base + r->len) {
				cur = r->base + r->len;
				moved = true;
			}
		}
	}
	return cur >= end;
}

/* The checks every workload region gets once its own rules passed. */
static const char *ram_check(uint64_t base, uint64_t size, bool gib_pages)
{
	uint64_t mapped = (uint64_t)(gib_pages ? MAP_1G_GIB : MAP_2M_GIB) << 30;

	if (base + size < base || base + size > mapped)
		return "beyond-page-tables";
	if (base < FW_LOW_END)
		return "overlaps-firmware";
	if (!in_ram(base, base + size))
		return "outside-ram";
	return NULL;
}

/* NULL if the memcheck region can be split into `parts`, else why not. */
const char *memcheck_region_check(const struct fw_config *c, uint32_t parts,
				  bool gib_pages)
{
	uint64_t base = c->mc_base, size = c->mc_size;

	if (base % MC_ALIGN || size % MC_ALIGN || size < parts * MC_ALIGN)
		return "unaligned-or-too-small";
	return ram_check(base, size, gib_pages);
}

const char *dma_region_check(const struct fw_config *c, bool gib_pages,
			     bool with_memcheck)
{
	uint64_t base = c->dma_base, size = c->dma_size;
	const char *why;

	if (base % DMA_ALIGN || size % DMA_ALIGN)
		return "unaligned";
	if (size < DMA_MIN_SIZE)
		return "too-small";
	if (size > DMA_MAX_SIZE)
		return "too-large";
	why = ram_check(base, size, gib_pages);
	if (why)
		return why;
	if (with_memcheck && base < c->mc_base + c->mc_size &&
	    c->mc_base < base + size)
		return "overlaps-memcheck";
	return NULL;
}
