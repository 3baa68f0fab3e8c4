/* SPDX-License-Identifier: MIT */
/* version.h: the luvmm release string (also in `luvmm version`). */
#ifndef LUVMM_VERSION_H
#define LUVMM_VERSION_H

#define LUVMM_VERSION	"0.1.0"

#endif
