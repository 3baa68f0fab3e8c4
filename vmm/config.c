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
	"  --workload LIST      guest-fw workloads per vCPU: heartbeat,memcheck,idle\n"
	"  --memcheck SIZE@BASE guest-fw memcheck region (default 16M@16M)\n"
	"  --serial MODE        stdio (default), file:PATH, pty or none\n"
	"  --api PATH           control socket (unix, mode 0600)\n"
	"  --report-log PATH    append every guest report as a JSON line\n"
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
	static const char *const names[] = { "heartbeat", "memcheck", "idle" };
	const char *p = v;
	int ret = check_token("--workload", v, err, errlen);

	while (!ret && *p) {
		size_t n = strcspn(p, ","), i;

		for (i = 0; i < ARRAY_SIZE(names); i++)
			if (strlen(names[i]) == n && !strncmp(p, names[i], n))
				break;
		if (i == ARRAY_SIZE(names))
			return bad(err, errlen, "--workload: '%.*s' is not heartbeat, memcheck or idle",
				   (int)n, p);
		p += n;
		if (*p == ',' && !*++p)
			return bad(err, errlen, "--workload: empty name after ','");
	}
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
	if (cfg->api_path && strlen(cfg->api_path) >= 108)
		return bad(err, errlen, "--api: path longer than 107 bytes");
	return 0;
}
