/* SPDX-License-Identifier: MIT */
/*
 * busguard.h: surviving SIGBUS. Guest RAM, the context page and BAR0 are
 * memfds of another process (the VMM), which may shrink them under the
 * simulator's mappings; touching a page past the new end raises SIGBUS.
 * Accesses that can hit such a page run under a guard that turns the
 * signal into an error return instead of a crash. Guards nest and are
 * per thread; a SIGBUS outside any guard kills the process as usual.
 */
#ifndef LUVMM_DEVSIM_BUSGUARD_H
#define LUVMM_DEVSIM_BUSGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../vmm/compiler.h"

/* Install the process-wide SIGBUS handler: 0 or -errno. */
int __must_check busguard_install(void);

/*
 * memmove(dst, src, n); -EFAULT if a page of either vanished, with the
 * faulting address in *fault_addr (bytes before it may have been moved).
 */
int __must_check busguard_move(void *dst, const void *src, size_t n,
			       uintptr_t *fault_addr);

/* fn(a, b) under a guard: false if it hit a vanished page. */
bool __must_check busguard_run(void (*fn)(void *a, void *b), void *a,
			       void *b);

#endif
