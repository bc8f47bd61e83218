/* SPDX-License-Identifier: MIT */
#ifndef CTNET_ERR_H
#define CTNET_ERR_H

#include <errno.h>
#include <stdlib.h>

#include <stddef.h>

/* Library functions return 0 or -errno and fill one of these; only main() prints. */
struct ctnet_err {
	int code;      /* positive errno, 0 when unset */
	char msg[512]; /* "what failed \"object\": why", without the program name */
};

#define CTNET_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Sets msg to the formatted text; returns -code. */
int ctnet_errf(struct ctnet_err *err, int code, const char *fmt, ...) CTNET_PRINTF(3, 4);
/* Sets msg to the formatted text followed by ": strerror(code)"; returns -code. */
int ctnet_err_sys(struct ctnet_err *err, int code, const char *fmt, ...) CTNET_PRINTF(3, 4);
void ctnet_err_clear(struct ctnet_err *err);

/* __attribute__((cleanup)) helpers, crun-style. */
void ctnet_freep(void *p);
void ctnet_closep(const int *fd);
#define _cleanup_free_ __attribute__((cleanup(ctnet_freep)))
#define _cleanup_close_ __attribute__((cleanup(ctnet_closep)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Room for one more element in array v of n used and cap allocated (doubling, first when
 * empty): 0, or -ENOMEM with v untouched. CTNET_GROW(d->v, d->n, d->cap, 16) < 0 -> oom.
 */
#define CTNET_GROW(v, n, cap, first)                                                         \
	__extension__({                                                                      \
		int grow_r_ = 0;                                                             \
		if ((n) >= (cap)) {                                                          \
			size_t grow_c_ = (cap) ? (cap) * 2 : (first);                        \
			__typeof__(v) grow_p_ = realloc((v), grow_c_ * sizeof(*(v)));        \
			if (grow_p_) {                                                       \
				(v) = grow_p_;                                               \
				(cap) = grow_c_;                                             \
			} else {                                                             \
				grow_r_ = -ENOMEM;                                           \
			}                                                                    \
		}                                                                            \
		grow_r_;                                                                     \
	})

#endif
