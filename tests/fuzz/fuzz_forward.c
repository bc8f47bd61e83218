/* SPDX-License-Identifier: MIT */
/* Port-forward specs (--forward, HOST_PORT, ctnet.forward): parse, print, parse again. */
#include "fuzz.h"
#include "nat/nat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_str(data, size), buf[64];
	struct nat_forward f, g;
	struct ctnet_err err;

	if (nat_forward_parse(s, &f, &err) == 0) {
		FUZZ_ASSERT(f.host_lo >= 1 && f.host_lo <= f.host_hi);
		FUZZ_ASSERT(f.host_hi - f.host_lo == f.container_hi - f.container_lo);
		nat_forward_str(&f, buf, sizeof(buf));
		FUZZ_ASSERT(nat_forward_parse(buf, &g, &err) == 0);
		FUZZ_ASSERT(!memcmp(&f, &g, sizeof(f)));
	} else {
		FUZZ_ASSERT(err.msg[0]);
	}
	free(s);
	return 0;
}
