/* SPDX-License-Identifier: MIT */
/* The OCI runtime state JSON that `ctnet oci-hook` reads on stdin. */
#include "fuzz.h"
#include "tools/ctnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct up_opts o = { .netns_fd = -1 };
	struct ctnet_err err;
	char fwbuf[1024];
	json_t *keep = NULL;
	bool need_pid = size && (data[0] & 1);

	if (oci_parse_state((const char *)data, size, need_pid, &o, fwbuf, sizeof(fwbuf), &keep,
			    &err) == 0) {
		FUZZ_ASSERT(ctnet_name_check(o.name, NULL) == 0);
		FUZZ_ASSERT(o.n_forwards <= NAT_MAX_FORWARDS);
		FUZZ_ASSERT(!need_pid || o.pid > 0);
		json_decref(keep);
	} else {
		FUZZ_ASSERT(err.msg[0]);
	}
	return 0;
}
