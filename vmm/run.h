/* SPDX-License-Identifier: MIT */
/*
 * run.h: `luvmm run`: builds a VM from a struct config, boots it, serves
 * the control socket on the main loop until the guest powers off or is
 * shut down, then tears everything down in reverse.
 */
#ifndef LUVMM_RUN_H
#define LUVMM_RUN_H

struct config;

/* Returns the process exit status (enum luvmm_exit or the guest's). */
int run_vm(const struct config *cfg);

#endif
