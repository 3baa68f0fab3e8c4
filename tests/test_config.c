// SPDX-License-Identifier: MIT
/*
 * test_config.c: vmm/config.c, `luvmm run` option parsing: defaults, every
 * flag in both spellings, and every rejection (-EINVAL with a message that
 * names the flag). config_parse_run is called many times per process here,
 * so it must not carry getopt state from one call to the next.
 */
#include <errno.h>
#include <stdio.h>

#include "../vmm/config.h"
#include "../vmm/mem.h"
#include "tap.h"

#define MAX_ARGS	32

struct parsed {
	struct config cfg;
	char err[256];
	char *argv[MAX_ARGS + 1];
	int ret;
};

/* Parse a NULL-terminated list of arguments after "run". */
static int parse_list(struct parsed *p, const char *const *args)
{
	int argc = 0;

	memset(p, 0, sizeof(*p));
	p->argv[argc++] = (char *)"run";
	while (*args && argc < MAX_ARGS)
		p->argv[argc++] = (char *)*args++;
	p->argv[argc] = NULL;
	p->ret = config_parse_run(argc, p->argv, &p->cfg, p->err, sizeof(p->err));
	return p->ret;
}

#define PARSE(p, ...)	parse_list((p), (const char *const[]){ __VA_ARGS__, NULL })

/* Expect -EINVAL and a message containing `needle`. */
#define CHECK_REJECT(p, needle, ...)					\
	do {								\
		int _r = PARSE((p), __VA_ARGS__);			\
		if (_r != -EINVAL)					\
			tap_fail(__FILE__, __LINE__, "%s: expected -EINVAL, got %d", \
				 #__VA_ARGS__, _r);			\
		else if (!strstr((p)->err, (needle)))			\
			tap_fail(__FILE__, __LINE__, "%s: message \"%s\" lacks \"%s\"", \
				 #__VA_ARGS__, (p)->err, (needle));	\
	} while (0)

static void defaults(void)
{
	struct parsed p;

	REQUIRE_OK(PARSE(&p, "--kernel", "fw.elf"));
	CHECK_STR(p.cfg.kernel, "fw.elf");
	CHECK_EQ(p.cfg.ncpus, 1);
	CHECK_EQ(p.cfg.mem_bytes, CONFIG_DEFAULT_MEM);
	CHECK_EQ(p.cfg.mem_bytes, 256 * MiB);
	CHECK_EQ(p.cfg.boot, BOOT_AUTO);
	CHECK_EQ(p.cfg.serial, SERIAL_STDIO);
	CHECK(!p.cfg.serial_path);
	CHECK(!p.cfg.hugetlb);
	CHECK(!p.cfg.cmdline);
	CHECK(!p.cfg.workload);
	CHECK(!p.cfg.memcheck);
	CHECK(!p.cfg.api_path);
	CHECK(!p.cfg.report_log);
	CHECK_EQ(p.cfg.verbose, 0);
	CHECK(!config_is_incoming(&p.cfg));
}

static void every_flag(void)
{
	struct parsed p;

	REQUIRE_OK(PARSE(&p, "--kernel", "k.elf", "--cmdline", "a b=c",
			 "--boot", "multiboot", "--cpus", "4", "--memory", "1G",
			 "--hugetlb", "--workload", "heartbeat,memcheck,idle",
			 "--memcheck", "16M@16M", "--serial", "file:/tmp/out.log",
			 "--api", "/run/luvmm.sock", "--report-log", "/tmp/r.jsonl",
			 "-v", "--verbose"));
	CHECK_STR(p.cfg.kernel, "k.elf");
	CHECK_STR(p.cfg.cmdline, "a b=c");
	CHECK_EQ(p.cfg.boot, BOOT_MULTIBOOT);
	CHECK_EQ(p.cfg.ncpus, 4);
	CHECK_EQ(p.cfg.mem_bytes, GiB);
	CHECK(p.cfg.hugetlb);
	CHECK_STR(p.cfg.workload, "heartbeat,memcheck,idle");
	CHECK_STR(p.cfg.memcheck, "16M@16M");
	CHECK_EQ(p.cfg.serial, SERIAL_FILE);
	CHECK_STR(p.cfg.serial_path, "/tmp/out.log");
	CHECK_STR(p.cfg.api_path, "/run/luvmm.sock");
	CHECK_STR(p.cfg.report_log, "/tmp/r.jsonl");
	CHECK_EQ(p.cfg.verbose, 2);
}

static void equals_form_and_order(void)
{
	struct parsed p;

	REQUIRE_OK(PARSE(&p, "--cpus=64", "-vvv", "--memory=0x10000000",
			 "--kernel=/x", "--boot=elf64", "--serial=none"));
	CHECK_STR(p.cfg.kernel, "/x");
	CHECK_EQ(p.cfg.ncpus, 64);
	CHECK_EQ(p.cfg.mem_bytes, 256 * MiB);
	CHECK_EQ(p.cfg.boot, BOOT_ELF64);
	CHECK_EQ(p.cfg.serial, SERIAL_NONE);
	CHECK_EQ(p.cfg.verbose, 3);
	/* the last of a repeated flag wins */
	REQUIRE_OK(PARSE(&p, "--kernel", "a", "--kernel", "b", "--cpus", "2",
			 "--cpus", "3", "--serial", "file:x", "--serial", "pty"));
	CHECK_STR(p.cfg.kernel, "b");
	CHECK_EQ(p.cfg.ncpus, 3);
	CHECK_EQ(p.cfg.serial, SERIAL_PTY);
	CHECK(!p.cfg.serial_path);
}

static void boot_modes(void)
{
	struct parsed p;

	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--boot", "auto"));
	CHECK_EQ(p.cfg.boot, BOOT_AUTO);
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--boot", "elf64"));
	CHECK_EQ(p.cfg.boot, BOOT_ELF64);
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--boot", "multiboot"));
	CHECK_EQ(p.cfg.boot, BOOT_MULTIBOOT);
	CHECK_REJECT(&p, "--boot", "--kernel", "k", "--boot", "elf32");
	CHECK_REJECT(&p, "--boot", "--kernel", "k", "--boot", "");
	CHECK_REJECT(&p, "--boot", "--kernel", "k", "--boot", "ELF64");
	CHECK_STR(loader_mode_name(BOOT_AUTO), "auto");
	CHECK_STR(loader_mode_name(BOOT_ELF64), "elf64");
	CHECK_STR(loader_mode_name(BOOT_MULTIBOOT), "multiboot");
}

static void cpus(void)
{
	static const char *const bad[] = { "0", "65", "abc", "", "-1", "+2",
					   "1.5", "2x", "0x41", "99999999999999999999" };
	struct parsed p;
	size_t i;

	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--cpus", "1"));
	CHECK_EQ(p.cfg.ncpus, 1);
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--cpus", "64"));
	CHECK_EQ(p.cfg.ncpus, CONFIG_MAX_CPUS);
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--cpus", "0x10"));
	CHECK_EQ(p.cfg.ncpus, 16);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_REJECT(&p, "--cpus", "--kernel", "k", "--cpus", bad[i]);
		if (!strstr(p.err, bad[i]))
			tap_fail(__FILE__, __LINE__, "message \"%s\" does not quote \"%s\"",
				 p.err, bad[i]);
	}
}

static void memory(void)
{
	static const char *const bad[] = { "abc", "0", "", "-1G", "1X", "1.5G",
					   "1M", "2T", "4097", "18446744073709551616" };
	struct parsed p;
	size_t i;

	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--memory", "16G"));
	CHECK_EQ(p.cfg.mem_bytes, 16 * GiB);
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--memory", "2M"));
	CHECK_EQ(p.cfg.mem_bytes, MEM_MIN_SIZE);
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--memory", "1T"));
	CHECK_EQ(p.cfg.mem_bytes, MEM_MAX_SIZE);
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--memory", "3145732K"));
	CHECK_EQ(p.cfg.mem_bytes, 3 * GiB + 4096);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_REJECT(&p, "--memory", "--kernel", "k", "--memory", bad[i]);
	/* huge pages need 2M multiples */
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--hugetlb", "--memory", "4M"));
	CHECK_REJECT(&p, "--memory", "--kernel", "k", "--hugetlb", "--memory", "3M");
	CHECK_REJECT(&p, "--memory", "--memory", "3M", "--hugetlb", "--kernel", "k");
}

static void serial_modes(void)
{
	static const char *const bad[] = { "file:", "file", "tcp:1234", "",
					   "STDIO", "stdio:", "ptyx" };
	struct parsed p;
	size_t i;

	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--serial", "stdio"));
	CHECK_EQ(p.cfg.serial, SERIAL_STDIO);
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--serial", "pty"));
	CHECK_EQ(p.cfg.serial, SERIAL_PTY);
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--serial", "none"));
	CHECK_EQ(p.cfg.serial, SERIAL_NONE);
	CHECK(!p.cfg.serial_path);
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--serial", "file:a:b"));
	CHECK_EQ(p.cfg.serial, SERIAL_FILE);
	CHECK_STR(p.cfg.serial_path, "a:b");
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_REJECT(&p, "--serial", "--kernel", "k", "--serial", bad[i]);
}

static void workloads(void)
{
	static const char *const good[] = { "heartbeat", "memcheck", "idle",
					    "heartbeat,memcheck,idle", "idle,idle" };
	static const char *const bad[] = { "foo", "heartbeat,", ",idle", "",
					   "heart beat", "heartbeat,,idle",
					   "Heartbeat", "heartbeats", "idle,x",
					   "idle\"", "heartbeat;idle" };
	struct parsed p;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		CHECK_ERR(0, PARSE(&p, "--kernel", "k", "--workload", good[i]));
		CHECK_STR(p.cfg.workload, good[i]);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_REJECT(&p, "--workload", "--kernel", "k", "--workload", bad[i]);
	CHECK_REJECT(&p, "'x'", "--kernel", "k", "--workload", "idle,x");
}

static void memcheck_token(void)
{
	struct parsed p;

	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--memcheck", "16M@16M"));
	CHECK_STR(p.cfg.memcheck, "16M@16M");
	CHECK_REJECT(&p, "--memcheck", "--kernel", "k", "--memcheck", "");
	CHECK_REJECT(&p, "--memcheck", "--kernel", "k", "--memcheck", "16M @16M");
	CHECK_REJECT(&p, "--memcheck", "--kernel", "k", "--memcheck", "16M@16M'");
	CHECK_REJECT(&p, "--memcheck", "--kernel", "k", "--memcheck", "1\t2");
}

/* A valid --workload list of exactly len (>= 13) bytes. */
static void workload_list(char *v, size_t len)
{
	static const char *const tails[] = { "idle,idle", "heartbeat,idle",
					     "dma,dma,dma", "dma,memcheck" };
	size_t n = 0, r;

	while (len - n > 12) {
		memcpy(v + n, "dma,", 4);
		n += 4;
	}
	r = len - n;			/* 9..12 */
	if (r == 10) {			/* no list of 10: end on 14 */
		n -= 4;
		r = 14;
	}
	snprintf(v + n, len - n + 1, "%s", tails[r == 14 ? 1 : r - 9]);
}

/* Every string a live update carries has the record's limit, checked when
 * parsing: the limit itself is accepted, one byte more is refused. */
static void update_limits(void)
{
	static const struct {
		const char *flag, *prefix;
		size_t max;
	} lim[] = {
		{ "--workload", "", CONFIG_WORKLOAD_MAX },
		{ "--memcheck", "", CONFIG_MEMCHECK_MAX },
		{ "--cmdline", "", CONFIG_CMDLINE_MAX },
		{ "--kernel", "", CONFIG_PATH_MAX },
		{ "--report-log", "", CONFIG_PATH_MAX },
		{ "--serial", "file:", CONFIG_PATH_MAX },
	};
	static char v[CONFIG_PATH_MAX + 16];
	struct parsed p;
	size_t i, n, len;

	for (i = 0; i < ARRAY_SIZE(lim); i++) {
		for (len = lim[i].max; len <= lim[i].max + 1; len++) {
			n = (size_t)snprintf(v, sizeof(v), "%s", lim[i].prefix);
			if (!strcmp(lim[i].flag, "--workload")) {
				workload_list(v + n, len);
			} else {
				memset(v + n, 'x', len);
				v[n + len] = '\0';
			}
			CHECK_EQ(strlen(v) - n, len);
			if (len == lim[i].max) {
				if (PARSE(&p, "--kernel", "k", lim[i].flag, v))
					tap_fail(__FILE__, __LINE__, "%s of %zu bytes refused: %s",
						 lim[i].flag, len, p.err);
			} else {
				CHECK_REJECT(&p, "at most", "--kernel", "k", lim[i].flag, v);
				CHECK(strstr(p.err, lim[i].flag) != NULL);
			}
		}
	}
}

static void cmdline_and_paths(void)
{
	char api[120];
	struct parsed p;

	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--cmdline", ""));
	CHECK_STR(p.cfg.cmdline, "");
	memset(api, 'a', sizeof(api));
	api[107] = '\0';
	REQUIRE_OK(PARSE(&p, "--kernel", "k", "--api", api));
	CHECK_EQ(strlen(p.cfg.api_path), 107);
	api[107] = 'a';
	api[108] = '\0';
	CHECK_REJECT(&p, "--api", "--kernel", "k", "--api", api);
}

static void unknown_flags(void)
{
	struct parsed p;

	CHECK_REJECT(&p, "--bogus", "--kernel", "k", "--bogus");
	CHECK_REJECT(&p, "--bogus", "--bogus=1", "--kernel", "k");
	CHECK_REJECT(&p, "-x", "--kernel", "k", "-x");
	CHECK_REJECT(&p, "--hugetlb", "--kernel", "k", "--hugetlb=yes");
}

/* An unknown letter in a cluster of short options is named, not the
 * previous argument. */
static void unknown_flag_in_cluster(void)
{
	struct parsed p;

	CHECK_REJECT(&p, "x", "--kernel", "k", "-xv");
	CHECK(!strstr(p.err, "'run'"));
	CHECK(!strstr(p.err, "'k'"));
}

static void missing_values(void)
{
	static const char *const flags[] = { "--kernel", "--cmdline", "--boot",
					     "--cpus", "--memory", "--workload",
					     "--memcheck", "--serial", "--api",
					     "--report-log" };
	struct parsed p;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(flags); i++)
		CHECK_REJECT(&p, flags[i], "--kernel", "k", flags[i]);
}

static void missing_kernel(void)
{
	struct parsed p;

	CHECK_REJECT(&p, "--kernel", "--cpus", "2");
	CHECK_REJECT(&p, "--kernel", "-v");
	{
		char *argv[] = { (char *)"run", NULL };
		char err[128] = "";
		struct config cfg;

		CHECK_ERR(-EINVAL, config_parse_run(1, argv, &cfg, err, sizeof(err)));
		CHECK(strstr(err, "--kernel") != NULL);
	}
}

static void stray_arguments(void)
{
	struct parsed p;

	CHECK_REJECT(&p, "extra", "--kernel", "k", "extra");
	CHECK_REJECT(&p, "extra", "extra", "--kernel", "k");
	CHECK_REJECT(&p, "fw.elf", "fw.elf");
	/* "--" ends the options; what follows is still stray */
	CHECK_REJECT(&p, "--cpus", "--kernel", "k", "--", "--cpus");
}

/* A failed parse (stopped inside "-vx") must not leak into the next one. */
static void no_state_between_calls(void)
{
	struct parsed p;

	CHECK_ERR(-EINVAL, PARSE(&p, "--kernel", "k", "-xvvv"));
	REQUIRE_OK(PARSE(&p, "--kernel", "k2"));
	CHECK_EQ(p.cfg.verbose, 0);
	CHECK_STR(p.cfg.kernel, "k2");
	CHECK_ERR(-EINVAL, PARSE(&p, "--kernel", "k", "-vxv"));
	REQUIRE_OK(PARSE(&p, "--cpus", "2", "--kernel", "k3"));
	CHECK_EQ(p.cfg.verbose, 0);
	CHECK_EQ(p.cfg.ncpus, 2);
}

/* The new VMM of a live update takes everything from the old one. */
static void incoming_flags(void)
{
	struct parsed p;

	REQUIRE_OK(PARSE(&p, "--incoming", "/run/lu.sock", "-v"));
	CHECK(config_is_incoming(&p.cfg));
	CHECK_STR(p.cfg.incoming_path, "/run/lu.sock");
	CHECK(!p.cfg.kernel);			/* not needed */
	CHECK_EQ(p.cfg.verbose, 1);
	REQUIRE_OK(PARSE(&p, "--incoming-fd", "5"));
	CHECK_EQ(p.cfg.incoming_fd, 5);
	CHECK(config_is_incoming(&p.cfg));
	REQUIRE_OK(PARSE(&p, "--incoming-exec", "7", "--handoff-base", "100"));
	CHECK_EQ(p.cfg.incoming_exec_fd, 7);
	CHECK_EQ(p.cfg.handoff_base, 100);
	CHECK_REJECT(&p, "--incoming", "--incoming", "x", "--cpus", "2");
	CHECK_REJECT(&p, "--incoming", "--incoming", "x", "--kernel", "k");
	CHECK_REJECT(&p, "one of", "--incoming", "x", "--incoming-fd", "5");
	CHECK_REJECT(&p, "--incoming-fd", "--incoming-fd", "2");	/* stdio */
	CHECK_REJECT(&p, "--incoming-fd", "--incoming-fd", "x");
	CHECK_REJECT(&p, "--incoming-exec", "--incoming-exec", "65536");
	CHECK_REJECT(&p, "--handoff-base", "--incoming-exec", "7", "--handoff-base", "-1");
}

/* The error buffer is always a terminated string, even when short. */
static void short_error_buffer(void)
{
	char *argv[] = { (char *)"run", (char *)"--cpus", (char *)"0", NULL };
	char err[8];
	struct config cfg;

	memset(err, 'z', sizeof(err));
	CHECK_ERR(-EINVAL, config_parse_run(3, argv, &cfg, err, sizeof(err)));
	CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	CHECK(!strncmp(err, "--cpus", 6));
}

static void usage_mentions_every_flag(void)
{
	static const char *const flags[] = { "--kernel", "--cmdline", "--boot",
					     "--cpus", "--memory", "--hugetlb",
					     "--workload", "--memcheck", "--serial",
					     "--api", "--report-log", "--verbose" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(flags); i++)
		if (!strstr(config_run_usage, flags[i]))
			tap_fail(__FILE__, __LINE__, "usage lacks %s", flags[i]);
}

static const struct tap_case cases[] = {
	TAP_CASE(defaults),
	TAP_CASE(every_flag),
	TAP_CASE(equals_form_and_order),
	TAP_CASE(boot_modes),
	TAP_CASE(cpus),
	TAP_CASE(memory),
	TAP_CASE(serial_modes),
	TAP_CASE(workloads),
	TAP_CASE(memcheck_token),
	TAP_CASE(update_limits),
	TAP_CASE(cmdline_and_paths),
	TAP_CASE(unknown_flags),
	TAP_CASE(unknown_flag_in_cluster),
	TAP_CASE(missing_values),
	TAP_CASE(missing_kernel),
	TAP_CASE(stray_arguments),
	TAP_CASE(no_state_between_calls),
	TAP_CASE(incoming_flags),
	TAP_CASE(short_error_buffer),
	TAP_CASE(usage_mentions_every_flag),
};

int main(int argc, char **argv)
{
	tap_main(argc, argv, cases, ARRAY_SIZE(cases));
}
