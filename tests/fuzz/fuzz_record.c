/* SPDX-License-Identifier: MIT */
/*
 * The record codec: whatever record_parse accepts, record_format writes back (or refuses
 * with a message), and the written text parses to the same record (spec and allocation).
 */
#include "fuzz.h"
#include "launch/launch.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ct_record a, b;
	static char buf[32768];
	struct ctnet_err err;
	int n;

	if (record_parse((const char *)data, size, "web", &a, &err) < 0) {
		FUZZ_ASSERT(err.msg[0]);
		return 0;
	}
	n = record_format(&a, buf, sizeof(buf), &err);
	if (n < 0) {
		FUZZ_ASSERT(err.msg[0]);
		return 0;
	}
	FUZZ_ASSERT(record_parse(buf, (size_t)n, "web", &b, &err) == 0);
	FUZZ_ASSERT(ct_spec_diff(&a.spec, &b.spec) == 0);
	FUZZ_ASSERT(!strcmp(a.netns, b.netns) && a.pid == b.pid && a.lease == b.lease &&
		    a.pending == b.pending && a.stopping == b.stopping &&
		    !strcmp(a.host_ifname, b.host_ifname) && ctnet_addr_equal(&a.local, &b.local) &&
		    a.has_v6 == b.has_v6);
	return 0;
}
