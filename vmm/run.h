/* SPDX-License-Identifier: MIT */
/*
 * run.h: the VMM process: a struct runner ties together the config, the
 * VM, its devices, the main loop and the control socket, and knows the
 * set-up and tear-down order. `luvmm run` boots a fresh VM with it; a live
 * update's new VMM (vmm/liveupdate/lu.c) builds one from what the old VMM
 * hands over.
 */
#ifndef LUVMM_RUN_H
#define LUVMM_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "loader.h"
#include "loop.h"

struct vm;
struct devices;
struct ctl_server;
struct handoff;
struct lu;

struct runner {
	struct config cfg;
	char self_path[4096];		/* this binary, the default update target */
	struct vm *vm;
	struct devices *devs;
	struct loop *loop;
	struct ctl_server *ctl;
	struct loop_watch sig_w, vm_w, tick_w;
	struct boot boot;
	int exit_status;
	bool keep_api_path;		/* a new VMM serves the socket now */
	struct lu *lu;			/* live-update state (lu.c) */
	uint64_t updates;		/* live updates this VM has been through */
};

/* Returns the process exit status (enum luvmm_exit or the guest's). */
int run_vm(const struct config *cfg);

void runner_init(struct runner *r);
/* The VM and its devices: fresh (h NULL) or from handed-over fds; lazy:
 * an exec-mode restore (vm_params.lazy). */
int __must_check runner_build(struct runner *r, struct handoff *h, int ram_fd,
			      bool lazy, char *err, size_t errlen);
/* Main loop, signals, device attach, and the control socket: bound anew,
 * or adopted from api_fd (>= 0) when serve_api; not served otherwise. */
int __must_check runner_services(struct runner *r, int api_fd, bool serve_api);
/* Start serving an adopted control socket (after a live update). */
int __must_check runner_serve_api(struct runner *r, int api_fd);
/* Run the main loop until something stops it. After a successful live
 * update it does not return: the old VMM retires (lu_retire). */
int runner_loop(struct runner *r);
/* Reverse of build + services. */
void runner_teardown(struct runner *r);

#endif
