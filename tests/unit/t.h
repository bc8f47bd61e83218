/* Tiny unit-test helpers: PASS/FAIL lines counted by tests/run.sh. */
#ifndef CTNET_T_H
#define CTNET_T_H

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;

#define T_OK(what, cond)                                                                   \
	do {                                                                               \
		if (cond) {                                                                \
			printf("PASS %s\n", what);                                         \
			t_pass++;                                                          \
		} else {                                                                   \
			printf("FAIL %s: %s is false (%s:%d)\n", what, #cond, __FILE__,    \
			       __LINE__);                                                  \
			t_fail++;                                                          \
		}                                                                          \
	} while (0)

#define T_STREQ(what, got, want)                                                           \
	do {                                                                               \
		const char *g_ = (got), *w_ = (want);                                      \
		if (g_ && w_ && !strcmp(g_, w_)) {                                         \
			printf("PASS %s\n", what);                                         \
			t_pass++;                                                          \
		} else {                                                                   \
			printf("FAIL %s: saw \"%s\", expected \"%s\"\n", what,             \
			       g_ ? g_ : "(null)", w_ ? w_ : "(null)");                    \
			t_fail++;                                                          \
		}                                                                          \
	} while (0)

static inline int t_done(void)
{
	printf("# %d passed, %d failed\n", t_pass, t_fail);
	return t_fail ? 1 : 0;
}

#endif
