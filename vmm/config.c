// SPDX-License-Identifier: MIT
/*
 * config.c: `luvmm run` option parsing and validation (see config.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "iommu/iommu.h"
#include "mem.h"
#include "util.h"

const char config_run_usage[] =
	"usage: luvmm run --kernel PATH [options]\n"
	"  --kernel PATH        ELF64 kernel or Multiboot v1 image (guest-fw.elf)\n"
	"  --cmdline STR        kernel command line\n"
	"  --boot MODE          auto (default), elf64 or multiboot\n"
	"  --cpus N             vCPUs, 1..64 (default 1)\n"
	"  --memory SIZE        guest RAM, e.g. 256M, 16G (default 256M)\n"
	"  --hugetlb            back RAM with 2M huge pages (needs vm.nr_hugepages)\n"
	"  --workload LIST      guest-fw workloads per vCPU: heartbeat,memcheck,dma,idle\n"
	"  --memcheck SIZE@BASE guest-fw memcheck region (default 16M@16M)\n"
	"  --serial MODE        stdio (default), file:PATH, pty or none\n"
	"  --api PATH           control socket (unix, mode 0600)\n"
	"  --report-log PATH    append every guest report as a JSON line\n"
	"  --device SPEC        a DMA device for the guest: soft[,sim=PATH][,pgsize=max|2m|4k]\n"
	"                       (luvmm-devsim behind the soft IOMMU) or vfio,path=PATH\n"
	"  -v, --verbose        more logging (repeat for debug)\n"
	"  --incoming PATH      be the new VMM of a live update: wait on PATH for the\n"
	"                       running VMM (`luvmm update --incoming PATH`)\n";

__printf(3, 4) static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_serial(struct config *cfg, const char *v, char *err, size_t errlen)
{
	if (!strcmp(v, "stdio"))
		cfg->serial = SERIAL_STDIO;
	else if (!strcmp(v, "pty"))
		cfg->serial = SERIAL_PTY;
	else if (!strcmp(v, "none"))
		cfg->serial = SERIAL_NONE;
	else if (!strncmp(v, "file:", 5) && v[5])
		cfg->serial = SERIAL_FILE;
	else
		return bad(err, errlen, "--serial: '%s' is not stdio, file:PATH, pty or none", v);
	cfg->serial_path = cfg->serial == SERIAL_FILE ? v + 5 : NULL;
	return 0;
}

/* Guest-fw command-line values travel inside a space-separated string. */
static int check_token(const char *flag, const char *v, char *err, size_t errlen)
{
	if (!*v || strpbrk(v, " \t\n\r\"'"))
		return bad(err, errlen, "%s: '%s' must be non-empty with no spaces or quotes",
			   flag, v);
	return 0;
}

/* A comma-separated list of guest-fw workload names, one per vCPU. */
static int check_workloads(const char *v, char *err, size_t errlen)
{
	static const char *const names[] = { "heartbeat", "memcheck", "dma", "idle" };
	const char *p = v;
	int ret = check_token("--workload", v, err, errlen);

	while (!ret && *p) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < ARRAY_SIZE(names); i++)
			if (strlen(names[i]) == n && !strncmp(p, names[i], n))
				break;
		if (i == ARRAY_SIZE(names))
			return bad(err, errlen, "--workload: '%.*s' is not heartbeat, memcheck, dma or idle",
				   (int)n, p);
		p += n;
		if (*p == ',' && !*++p)
			return bad(err, errlen, "--workload: empty name after ','");
	}
	return ret;
}

/* One "key=value" item of a --device spec into buf; -EINVAL if too long. */
static int device_value(const char *item, size_t n, const char *key, char *buf,
			size_t size)
{
	size_t k = strlen(key);

	if (n <= k + 1 || strncmp(item, key, k) || item[k] != '=')
		return 1;	/* not this key */
	if (n - k - 1 >= size)
		return -EINVAL;
	memcpy(buf, item + k + 1, n - k - 1);
	buf[n - k - 1] = '\0';
	return 0;
}

int config_parse_device(const char *spec, struct device_spec *out, char *err,
			size_t errlen)
{
	const char *p = spec;
	char pg[8] = "";
	size_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	n = strcspn(p, ",");
	if (n == 4 && !strncmp(p, "soft", 4))
		out->kind = DEVICE_SOFT;
	else if (n == 4 && !strncmp(p, "vfio", 4))
		out->kind = DEVICE_VFIO;
	else
		return bad(err, errlen, "--device: '%.*s' is not soft or vfio", (int)n, p);
	for (p += n; *p == ','; p += n) {
		p++;
		n = strcspn(p, ",");
		ret = 1;
		if (out->kind == DEVICE_SOFT) {
			ret = device_value(p, n, "sim", out->sim, sizeof(out->sim));
			if (ret > 0)
				ret = device_value(p, n, "pgsize", pg, sizeof(pg));
		} else {
			ret = device_value(p, n, "path", out->path, sizeof(out->path));
		}
		if (ret < 0)
			return bad(err, errlen, "--device: value of '%.*s' is too long",
				   (int)n, p);
		if (ret > 0)
			return bad(err, errlen, "--device: unknown item '%.*s' for %s",
				   (int)n, p, out->kind == DEVICE_SOFT ? "soft" : "vfio");
	}
	if (*p)
		return bad(err, errlen, "--device: trailing '%s'", p);
	if (!pg[0] || !strcmp(pg, "max"))
		out->pgsize = 0;
	else if (!strcmp(pg, "2m"))
		out->pgsize = IOMMU_HWPT_MAX_2M;
	else if (!strcmp(pg, "4k"))
		out->pgsize = IOMMU_HWPT_MAX_4K;
	else
		return bad(err, errlen, "--device: pgsize '%s' is not max, 2m or 4k", pg);
	if (out->kind == DEVICE_VFIO && !out->path[0])
		return bad(err, errlen, "--device: vfio needs path=/dev/vfio/devices/vfioN");
	return 0;
}

/* Values a live update carries must fit its record (config.h). */
static int check_len(const char *flag, const char *v, size_t max, char *err,
		     size_t errlen)
{
	if (v && strlen(v) > max)
		return bad(err, errlen, "%s: %zu bytes, at most %zu (a live update carries no more)",
			   flag, strlen(v), max);
	return 0;
}

static int check_lengths(const struct config *cfg, char *err, size_t errlen)
{
	int ret;

	ret = check_len("--kernel", cfg->kernel, CONFIG_PATH_MAX, err, errlen);
	if (!ret)
		ret = check_len("--cmdline", cfg->cmdline, CONFIG_CMDLINE_MAX, err, errlen);
	if (!ret)
		ret = check_len("--workload", cfg->workload, CONFIG_WORKLOAD_MAX, err, errlen);
	if (!ret)
		ret = check_len("--memcheck", cfg->memcheck, CONFIG_MEMCHECK_MAX, err, errlen);
	if (!ret)
		ret = check_len("--serial file:", cfg->serial_path, CONFIG_PATH_MAX, err, errlen);
	if (!ret)
		ret = check_len("--report-log", cfg->report_log, CONFIG_PATH_MAX, err, errlen);
	if (!ret)
		ret = check_len("--device", cfg->device, CONFIG_DEVICE_MAX, err, errlen);
	return ret;
}

int config_parse_run(int argc, char **argv, struct config *cfg, char *err,
		     size_t errlen)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "cmdline", required_argument, NULL, 'c' },
		{ "boot", required_argument, NULL, 'b' },
		{ "cpus", required_argument, NULL, 'n' },
		{ "memory", required_argument, NULL, 'm' },
		{ "hugetlb", no_argument, NULL, 'H' },
		{ "workload", required_argument, NULL, 'w' },
		{ "memcheck", required_argument, NULL, 'M' },
		{ "serial", required_argument, NULL, 's' },
		{ "api", required_argument, NULL, 'a' },
		{ "report-log", required_argument, NULL, 'r' },
		{ "device", required_argument, NULL, 'D' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "incoming", required_argument, NULL, 'I' },
		{ "incoming-fd", required_argument, NULL, 'F' },
		{ "incoming-exec", required_argument, NULL, 'E' },
		{ "handoff-base", required_argument, NULL, 'B' },
		{ "fault", required_argument, NULL, 'X' },
		{ "rollback", required_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c, ret, others = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->incoming_fd = cfg->incoming_exec_fd = -1;
	cfg->ncpus = 1;
	cfg->mem_bytes = CONFIG_DEFAULT_MEM;
	cfg->serial = SERIAL_STDIO;

	optind = 0;	/* 0, not 1: glibc then also drops a half-read "-xv" */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":v", opts, NULL)) != -1) {
		others++;
		switch (c) {
		case 'k':
			cfg->kernel = optarg;
			break;
		case 'c':
			cfg->cmdline = optarg;
			break;
		case 'b':
			if (!strcmp(optarg, "auto"))
				cfg->boot = BOOT_AUTO;
			else if (!strcmp(optarg, "elf64"))
				cfg->boot = BOOT_ELF64;
			else if (!strcmp(optarg, "multiboot"))
				cfg->boot = BOOT_MULTIBOOT;
			else
				return bad(err, errlen, "--boot: '%s' is not auto, elf64 or multiboot",
					   optarg);
			break;
		case 'n':
			if (util_parse_u64(optarg, 1, CONFIG_MAX_CPUS, &v))
				return bad(err, errlen, "--cpus: '%s' is not a number in 1..%d",
					   optarg, CONFIG_MAX_CPUS);
			cfg->ncpus = (unsigned)v;
			break;
		case 'm':
			if (util_parse_size(optarg, &v) || v == 0)
				return bad(err, errlen, "--memory: bad size '%s' (use e.g. 256M, 4G)",
					   optarg);
			cfg->mem_bytes = v;
			break;
		case 'H':
			cfg->hugetlb = true;
			break;
		case 'w':
			ret = check_workloads(optarg, err, errlen);
			if (ret)
				return ret;
			cfg->workload = optarg;
			break;
		case 'M':
			ret = check_token("--memcheck", optarg, err, errlen);
			if (ret)
				return ret;
			cfg->memcheck = optarg;
			break;
		case 's':
			ret = parse_serial(cfg, optarg, err, errlen);
			if (ret)
				return ret;
			break;
		case 'a':
			cfg->api_path = optarg;
			break;
		case 'r':
			cfg->report_log = optarg;
			break;
		case 'D': {
			struct device_spec spec;

			if (cfg->device)
				return bad(err, errlen, "--device: only one device is supported");
			ret = config_parse_device(optarg, &spec, err, errlen);
			if (ret)
				return ret;
			cfg->device = optarg;
			break;
		}
		case 'v':
			cfg->verbose++;
			others--;	/* allowed with --incoming */
			break;
		case 'I':
			cfg->incoming_path = optarg;
			others--;
			break;
		case 'F':
		case 'E':
			if (util_parse_u64(optarg, 3, 65535, &v))
				return bad(err, errlen, "--%s: '%s' is not an fd number",
					   c == 'F' ? "incoming-fd" : "incoming-exec", optarg);
			*(c == 'F' ? &cfg->incoming_fd : &cfg->incoming_exec_fd) = (int)v;
			others--;
			break;
		case 'B':
			if (util_parse_u64(optarg, 3, 65535, &v))
				return bad(err, errlen, "--handoff-base: '%s' is not an fd number",
					   optarg);
			cfg->handoff_base = (unsigned)v;
			others--;
			break;
		case 'X':
			cfg->fault = optarg;
			others--;
			break;
		case 'R':
			cfg->rollback = optarg;
			others--;
			break;
		case ':':
			return bad(err, errlen, "option '%s' needs a value", argv[optind - 1]);
		default:
			/* a short option inside a cluster ("-xv") is named by
			 * optopt; argv[optind - 1] may be something else */
			if (optopt && strncmp(argv[optind - 1], "--", 2))
				return bad(err, errlen, "unknown option '-%c'", optopt);
			return bad(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (config_is_incoming(cfg)) {
		if (others)
			return bad(err, errlen, "--incoming takes its configuration from the running VMM: only -v may be added");
		if (!!cfg->incoming_path + (cfg->incoming_fd >= 0) +
		    (cfg->incoming_exec_fd >= 0) > 1)
			return bad(err, errlen, "give one of --incoming, --incoming-fd, --incoming-exec");
		return 0;
	}
	if (!cfg->kernel)
		return bad(err, errlen, "--kernel PATH is required");
	if (cfg->mem_bytes < MEM_MIN_SIZE || cfg->mem_bytes > MEM_MAX_SIZE)
		return bad(err, errlen, "--memory: must be between 2M and 1T");
	if (!IS_ALIGNED(cfg->mem_bytes, cfg->hugetlb ? 2 * MiB : 4 * KiB))
		return bad(err, errlen, "--memory: not a multiple of %s",
			   cfg->hugetlb ? "2M (--hugetlb)" : "4K");
	if (cfg->api_path && strlen(cfg->api_path) > CONFIG_API_PATH_MAX)
		return bad(err, errlen, "--api: path longer than %d bytes", CONFIG_API_PATH_MAX);
	return check_lengths(cfg, err, errlen);
}
