// SPDX-License-Identifier: MIT
/*
 * main.c: the luvmm command: `run` a VM, `ctl` a running one, `version`.
 * Signals are blocked here, before any thread exists, so every thread
 * inherits the mask; vCPU threads unblock only their kick signal.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "json.h"
#include "log.h"
#include "run.h"
#include "vcpu.h"
#include "version.h"
#include "vm.h"

static const char usage[] =
	"usage: luvmm <command> [options]\n"
	"  run --kernel PATH [...]       boot a VM (luvmm run --help)\n"
	"  ctl --api PATH <request>      talk to a running luvmm:\n"
	"                                status, pause, resume, shutdown, metrics\n"
	"  version                       print the version\n";

static void block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int cmd_run(int argc, char **argv)
{
	struct config cfg;
	char err[256];

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(config_run_usage, stdout);
		return 0;
	}
	if (config_parse_run(argc, argv, &cfg, err, sizeof(err))) {
		fprintf(stderr, "luvmm run: %s\n%s", err, config_run_usage);
		return LUVMM_EXIT_USAGE;
	}
	if (cfg.verbose)
		log_set_level(cfg.verbose > 1 ? LOG_DEBUG : LOG_INFO);
	block_signals();
	return run_vm(&cfg);
}

static int cmd_ctl(int argc, char **argv)
{
	static const char *const known[] = { "status", "pause", "resume",
					     "shutdown", "metrics" };
	const char *api = NULL, *what;
	char req[512], reply[CTL_REPLY_MAX];
	unsigned i;
	int ret;

	for (i = 1; i + 1 < (unsigned)argc && !strcmp(argv[i], "--api"); i += 2)
		api = argv[i + 1];
	if (!api || i + 1 != (unsigned)argc) {
		fprintf(stderr, "usage: luvmm ctl --api PATH <status|pause|resume|shutdown|metrics|JSON>\n");
		return LUVMM_EXIT_USAGE;
	}
	what = argv[i];
	if (what[0] == '{') {
		snprintf(req, sizeof(req), "%s", what);	/* a raw request */
	} else {
		for (i = 0; i < ARRAY_SIZE(known); i++)
			if (!strcmp(what, known[i]))
				break;
		if (i == ARRAY_SIZE(known)) {
			fprintf(stderr, "luvmm ctl: unknown request '%s'\n", what);
			return LUVMM_EXIT_USAGE;
		}
		snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}", what);
	}
	ret = ctl_call(api, req, reply, sizeof(reply), 10000);
	if (ret) {
		fprintf(stderr, "luvmm ctl: %s: %s\n", api, strerror(-ret));
		return LUVMM_EXIT_RESOURCE;
	}
	puts(reply);
	/* exit 1 when the VMM answered with an error */
	return strstr(reply, "\"ok\":true") == reply + 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return LUVMM_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ctl"))
		return cmd_ctl(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("luvmm %s\n", LUVMM_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	fprintf(stderr, "luvmm: unknown command '%s'\n%s", argv[1], usage);
	return LUVMM_EXIT_USAGE;
}
