/* SPDX-License-Identifier: MIT */
/*
 * config.h: the `luvmm run` command line, parsed and checked into a
 * struct config before anything is created. Every rejection carries a
 * one-line reason naming the flag.
 */
#ifndef LUVMM_CONFIG_H
#define LUVMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler.h"
#include "loader.h"

#define CONFIG_MAX_CPUS		64
/*
 * The longest values a live update can carry: the sizes of the new VMM's
 * buffers for the `config` section (docs/state-format.md §9.2). Longer
 * values are refused when parsing, not when the guest is being updated.
 */
#define CONFIG_PATH_MAX		4095	/* --kernel, --serial file:, --report-log */
#define CONFIG_CMDLINE_MAX	2047
#define CONFIG_WORKLOAD_MAX	255
#define CONFIG_MEMCHECK_MAX	63
#define CONFIG_API_PATH_MAX	107	/* sun_path */
#define CONFIG_DEVICE_MAX	511
#define CONFIG_DEFAULT_MEM	(256ULL << 20)

enum serial_mode {
	SERIAL_STDIO,		/* output to stdout (input from stdin if a tty) */
	SERIAL_FILE,		/* output appended to a file */
	SERIAL_PTY,		/* a new pseudo-terminal; its path is logged */
	SERIAL_NONE,		/* discarded */
};

/* --device: a DMA device passed through to the guest (docs/iommu.md). */
enum device_kind {
	DEVICE_NONE = 0,
	DEVICE_SOFT = 1,	/* luvmm-devsim behind the soft IOMMU */
	DEVICE_VFIO = 2,	/* a VFIO cdev behind iommufd */
};

struct device_spec {
	enum device_kind kind;
	char sim[108];		/* soft: simulator socket; "" = start one */
	char path[256];		/* vfio: /dev/vfio/devices/vfioN */
	unsigned int pgsize;	/* soft: IOMMU_HWPT_MAX_* for the tables this
				 * VMM builds at boot (simulates a build that
				 * lays tables out differently) */
};

struct config {
	const char *kernel;		/* --kernel PATH (required) */
	const char *cmdline;		/* --cmdline STR: passed to the guest */
	const char *workload;		/* --workload LIST: guest-fw cmdline sugar */
	const char *memcheck;		/* --memcheck SIZE@BASE: guest-fw sugar */
	enum boot_mode boot;		/* --boot auto|elf64|multiboot */
	unsigned ncpus;			/* --cpus N */
	uint64_t mem_bytes;		/* --memory SIZE */
	bool hugetlb;			/* --hugetlb */
	enum serial_mode serial;	/* --serial stdio|file:PATH|pty|none */
	const char *serial_path;
	const char *api_path;		/* --api PATH: control socket */
	const char *report_log;		/* --report-log PATH: JSON lines */
	const char *device;		/* --device SPEC (config_parse_device) */
	int verbose;			/* -v, repeatable */

	/* a live update's new VMM (no other flags but -v apply) */
	const char *incoming_path;	/* --incoming PATH: wait for the old VMM there */
	int incoming_fd;		/* --incoming-fd N: spawned by the old VMM */
	int incoming_exec_fd;		/* --incoming-exec FD: exec mode */
	unsigned handoff_base;		/* --handoff-base N: exec mode fd numbers */
	const char *fault;		/* --fault NAME: test-only fault injection */
	const char *rollback;		/* --rollback REASON: exec mode, back to the old binary */
};

/* Is this the new VMM of a live update? */
static inline bool config_is_incoming(const struct config *c)
{
	return c->incoming_path || c->incoming_fd >= 0 || c->incoming_exec_fd >= 0;
}

/* Fill cfg from argv (argv[0] is "run"). Returns 0, or -EINVAL with a
 * reason in err. Never exits, never prints. */
int __must_check config_parse_run(int argc, char **argv, struct config *cfg,
				  char *err, size_t errlen);
/*
 * Parse a --device spec: "soft[,sim=PATH][,pgsize=max|2m|4k]" or
 * "vfio,path=PATH". -EINVAL with a reason in err.
 */
int __must_check config_parse_device(const char *spec, struct device_spec *out,
				     char *err, size_t errlen);
/* The `luvmm run` usage text. */
extern const char config_run_usage[];

#endif
