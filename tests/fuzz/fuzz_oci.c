/* SPDX-License-Identifier: MIT */
/* The OCI runtime state JSON that `ctnet oci-hook` reads on stdin, into a spec. */
#include "fuzz.h"
#include "tools/ctnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ct_spec s;
	struct ctnet_err err;
	bool need_pid = size && (data[0] & 1);

	if (oci_parse_state((const char *)data, size, need_pid, &s, &err) == 0) {
		FUZZ_ASSERT(ctnet_name_check(s.name, NULL) == 0);
		FUZZ_ASSERT(s.n_forwards <= NAT_MAX_FORWARDS);
		FUZZ_ASSERT(!need_pid || s.pid > 0);
	} else {
		FUZZ_ASSERT(err.msg[0]);
	}
	return 0;
}
