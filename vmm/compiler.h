/* SPDX-License-Identifier: MIT */
/*
 * compiler.h: small compiler helpers shared by every luvmm module.
 */
#ifndef LUVMM_COMPILER_H
#define LUVMM_COMPILER_H

#include <stddef.h>

#define __must_check	__attribute__((warn_unused_result))
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define __unused	__attribute__((unused))
#define __noreturn	__attribute__((noreturn))

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define ALIGN_UP(x, a)		(((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a)	((x) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a)	(((x) & ((__typeof__(x))(a) - 1)) == 0)

#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))

#define KiB	(1024ULL)
#define MiB	(1024ULL * KiB)
#define GiB	(1024ULL * MiB)

#endif
