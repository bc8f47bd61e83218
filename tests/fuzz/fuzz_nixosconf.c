/* SPDX-License-Identifier: MIT */
/* nixos-container config files (and the lease files that share the format). */
#include "fuzz.h"
#include "nixosconf.h"

static int count_kv(const char *key, const char *value, void *data, struct ctnet_err *err)
{
	(void)err;
	FUZZ_ASSERT(key[0] && strlen(value) <= NIXOSCONF_VALUE_MAX);
	++*(size_t *)data;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nixosconf c;
	struct ctnet_err err;
	size_t n = 0;
	if (nixosconf_parse((const char *)data, size, "fuzz.conf", &c, &err) < 0)
		FUZZ_ASSERT(err.msg[0] && err.code > 0);
	else
		FUZZ_ASSERT(strlen(c.host_port) <= NIXOSCONF_VALUE_MAX);
	nixosconf_parse_kv((const char *)data, size, "fuzz.conf", count_kv, &n, &err);
	return 0;
}
