/* SPDX-License-Identifier: MIT */
/* Shared bits of the libFuzzer targets (tests/fuzz/fuzz_*.c, built by `make fuzz`). */
#ifndef CTNET_FUZZ_H
#define CTNET_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input as a NUL-terminated string (stops at an embedded NUL, as argv would). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A check that must hold whatever the input: abort so libFuzzer keeps the input. */
#define FUZZ_ASSERT(c)                                                                     \
	do {                                                                               \
		if (!(c))                                                                  \
			abort();                                                           \
	} while (0)

#endif
