// SPDX-License-Identifier: MIT
/*
 * busguard.c: the SIGBUS guard of the device simulator. Owns the SIGBUS
 * handler and the per-thread chain of guards it jumps back to.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "busguard.h"

static __thread sigjmp_buf *guard;	/* innermost guard of this thread */
static __thread uintptr_t fault;	/* where the last caught SIGBUS hit */

static void on_sigbus(int sig, siginfo_t *si, void *uc __unused)
{
	sigjmp_buf *g = guard;

	if (g) {
		guard = NULL;
		fault = (uintptr_t)si->si_addr;
		siglongjmp(*g, 1);
	}
	/* not a guarded access: die of it as if nobody caught it */
	signal(sig, SIG_DFL);
}

int busguard_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	/* NODEFER: siglongjmp without restoring a mask keeps SIGBUS open */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

/*
 * After a siglongjmp out of on_sigbus: SIGBUS may still be blocked (a
 * sanitizer's wrapper around the handler may ignore SA_NODEFER), and a
 * blocked SIGBUS kills. Only on this rare path, so no mask save per guard.
 */
static void recover(sigjmp_buf *outer)
{
	sigset_t set;

	guard = outer;
	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/*
 * The signal fences keep the compiler from moving the guard's stores
 * across the access: it knows memmove does not read `guard`.
 */
int busguard_move(void *dst, const void *src, size_t n, uintptr_t *fault_addr)
{
	sigjmp_buf jb, *outer = guard;

	if (sigsetjmp(jb, 0)) {
		recover(outer);
		*fault_addr = fault;
		return -EFAULT;
	}
	guard = &jb;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memmove(dst, src, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	guard = outer;
	return 0;
}

bool busguard_run(void (*fn)(void *a, void *b), void *a, void *b)
{
	sigjmp_buf jb, *outer = guard;

	if (sigsetjmp(jb, 0)) {
		recover(outer);
		return false;
	}
	guard = &jb;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	fn(a, b);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	guard = outer;
	return true;
}
