// SPDX-License-Identifier: MIT
/*
 * main.c: the luvmm command: `run` a VM, `ctl` a running one, `version`.
 * Signals are blocked here, before any thread exists, so every thread
 * inherits the mask; vCPU threads unblock only their kick signal.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "json.h"
#include "liveupdate/lu.h"
#include "log.h"
#include "run.h"
#include "util.h"
#include "vcpu.h"
#include "version.h"
#include "vm.h"

static const char usage[] =
	"usage: luvmm <command> [options]\n"
	"  run --kernel PATH [...]       boot a VM (luvmm run --help)\n"
	"  ctl --api PATH <request>      talk to a running luvmm:\n"
	"                                status, pause, resume, shutdown, metrics\n"
	"  update --api PATH [...]       live-update a running luvmm (luvmm update --help)\n"
	"  version                       print the version\n";

static const char update_usage[] =
	"usage: luvmm update --api PATH [options]\n"
	"  --mode transfer|exec   transfer (default): a new process takes over;\n"
	"                         exec: the same process execs the new binary\n"
	"  --binary PATH          the new luvmm (default: the running one's path)\n"
	"  --incoming PATH        transfer to a new VMM an operator started with\n"
	"                         `luvmm run --incoming PATH`\n"
	"  --timeout MS           how long the blackout may wait for the new VMM\n"
	"                         before rolling back (default 2000)\n"
	"  --fault NAME           test only: make the new VMM fail on purpose\n"
	"Prints the result as JSON (phases in microseconds and, when the guest\n"
	"heartbeats, the gap each vCPU saw); exits 0 on success, 1 on failure\n"
	"(rolled back), 4 when the VMM cannot be reached.\n";

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
	if (config_is_incoming(&cfg))
		return lu_incoming_main(&cfg);
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

/* Guest-visible gaps of the update just done: poll the (new) VMM until
 * every heartbeating vCPU has reported once after the restore. */
static void append_gaps(const char *api, uint64_t restores, char *out, size_t cap)
{
	static struct json_tok t[4096];
	static char m[CTL_REPLY_MAX];
	uint64_t deadline = util_now_ns() + 3000000000ULL;
	char arr[1024];

	/* the first heartbeats after the update carry the gap; asking for
	 * metrics right away would itself disturb the guest on a small host */
	poll(NULL, 0, 20);
	while (util_now_ns() < deadline) {
		size_t off, used = 0;
		uint64_t max = 0;
		int n, cpus, i;
		unsigned c;
		bool all = true;

		if (ctl_call(api, "{\"cmd\":\"metrics\"}", m, sizeof(m), 2000) ||
		    (n = json_parse(m, strlen(m), t, 4096, &off)) < 0 ||
		    (cpus = json_path(m, t, 0, "guest.cpus")) < 0)
			break;
		used = (size_t)snprintf(arr, sizeof(arr), "[");
		for (c = 0; c < t[cpus].count; c++) {
			char path[64], wl[32] = "";
			uint64_t gap = 0, at = 0;

			snprintf(path, sizeof(path), "guest.cpus.%u.workload", c);
			i = json_path(m, t, 0, path);
			if (i >= 0 && json_get_str(m, &t[i], wl, sizeof(wl)) < 0)
				wl[0] = '\0';
			snprintf(path, sizeof(path), "guest.cpus.%u.update_gap_restore", c);
			i = json_path(m, t, 0, path);
			if (i < 0 || json_get_u64(m, &t[i], &at))
				at = 0;
			snprintf(path, sizeof(path), "guest.cpus.%u.update_gap_us", c);
			i = json_path(m, t, 0, path);
			if (i < 0 || json_get_u64(m, &t[i], &gap))
				gap = 0;
			if (!strcmp(wl, "idle") || !strcmp(wl, "none")) {
				used += (size_t)snprintf(arr + used, sizeof(arr) - used,
							 "%snull", c ? "," : "");
				continue;
			}
			if (at != restores + 1)
				all = false;
			max = MAX(max, gap);
			used += (size_t)snprintf(arr + used, sizeof(arr) - used, "%s%llu",
						 c ? "," : "", (unsigned long long)gap);
			if (used >= sizeof(arr))
				return;
		}
		if (all) {
			size_t len = strlen(out);

			if (len && out[len - 1] == '}')
				snprintf(out + len - 1, cap - len + 1,
					 ",\"guest_gap_us\":%s],\"guest_gap_max_us\":%llu}",
					 arr, (unsigned long long)max);
			return;
		}
		poll(NULL, 0, 5);
	}
}

/* A number at a dotted path of a JSON document: 0 or -errno. */
static int h_metric_u64(const char *doc, const char *path, uint64_t *out)
{
	static struct json_tok t[4096];
	size_t off;
	int i = json_parse(doc, strlen(doc), t, 4096, &off);

	if (i >= 0)
		i = json_path(doc, t, 0, path);
	if (i < 0)
		return i;
	return json_get_u64(doc, &t[i], out);
}

static int cmd_update(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "api", required_argument, NULL, 'a' },
		{ "mode", required_argument, NULL, 'm' },
		{ "binary", required_argument, NULL, 'b' },
		{ "incoming", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "fault", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char reply[CTL_REPLY_MAX];
	const char *api = NULL;
	char req[8192], metrics[CTL_REPLY_MAX];
	struct json_writer w;
	uint64_t restores = 0, timeout = 0;
	int c, ret;

	jw_init(&w, req, sizeof(req));
	jw_obj_begin(&w);
	jw_kstr(&w, "cmd", "update");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			api = optarg;
			break;
		case 'm':
			jw_kstr(&w, "mode", optarg);
			break;
		case 'b':
			jw_kstr(&w, "binary", optarg);
			break;
		case 'i':
			jw_kstr(&w, "incoming", optarg);
			break;
		case 'f':
			jw_kstr(&w, "fault", optarg);
			break;
		case 't':
			if (util_parse_u64(optarg, 1, 60000, &timeout)) {
				fprintf(stderr, "luvmm update: --timeout: '%s' is not 1..60000\n",
					optarg);
				return LUVMM_EXIT_USAGE;
			}
			jw_ku64(&w, "timeout_ms", timeout);
			break;
		case 'h':
			fputs(update_usage, stdout);
			return 0;
		default:
			fprintf(stderr, "luvmm update: bad option '%s'\n%s", argv[optind - 1],
				update_usage);
			return LUVMM_EXIT_USAGE;
		}
	}
	jw_obj_end(&w);
	if (!api || optind < argc || jw_finish(&w) < 0) {
		fputs(update_usage, stderr);
		return LUVMM_EXIT_USAGE;
	}
	if (!ctl_call(api, "{\"cmd\":\"metrics\"}", metrics, sizeof(metrics), 5000) &&
	    h_metric_u64(metrics, "guest.restores", &restores))
		restores = 0;
	ret = ctl_call(api, req, reply, sizeof(reply) - 256, 70000);
	if (ret) {
		fprintf(stderr, "luvmm update: %s: %s\n", api, strerror(-ret));
		return LUVMM_EXIT_RESOURCE;
	}
	if (!strncmp(reply, "{\"ok\":true", 10)) {
		append_gaps(api, restores, reply, sizeof(reply));
		puts(reply);
		return 0;
	}
	puts(reply);
	return 1;
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
	if (!strcmp(argv[1], "update"))
		return cmd_update(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		/* --abi: what an exec-mode update checks before it execs us */
		if (argc > 2 && !strcmp(argv[2], "--abi"))
			printf("%s\n", LU_ABI_STRING);
		else
			printf("luvmm %s (live-update protocol %d)\n", LUVMM_VERSION,
			       LU_ABI_VERSION);
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
