/* SPDX-License-Identifier: MIT */
/* Addresses, prefixes, CIDRs, ports and numbers: strict parse and print round trip. */
#include "fuzz.h"
#include "addr.h"

#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int fams[] = { 0, AF_INET, AF_INET6 };
	struct ctnet_addr a, b;
	struct ctnet_err err;
	char buf[CTNET_ADDR_STRLEN];
	unsigned long v;
	uint16_t port;

	if (!size)
		return 0;
	int fam = fams[data[0] % 3], mode = (data[0] >> 2) % 3;
	char *s = fuzz_str(data + 1, size - 1);
	if (ctnet_addr_parse(s, fam, mode, "fuzz", &a, &err) == 0) {
		FUZZ_ASSERT(a.family == AF_INET || a.family == AF_INET6);
		FUZZ_ASSERT(a.prefix >= -1 && a.prefix <= ctnet_addr_max_prefix(a.family));
		FUZZ_ASSERT(mode != CTNET_ADDR_NOPREFIX || a.prefix == -1);
		FUZZ_ASSERT(mode != CTNET_ADDR_PREFIX_REQ || a.prefix >= 0);
		ctnet_addr_cidr_str(&a, buf);
		FUZZ_ASSERT(ctnet_addr_parse(buf, a.family, CTNET_ADDR_PREFIX_OK, "again", &b, &err) == 0);
		FUZZ_ASSERT(ctnet_addr_equal(&a, &b) && a.prefix == b.prefix);
	}
	if (ctnet_cidr_parse(s, "fuzz", &a, &err) == 0)
		FUZZ_ASSERT(a.prefix >= 0 && ctnet_addr_in(&a, &a));
	if (ctnet_port_parse(s, &port, &err) == 0)
		FUZZ_ASSERT(port >= 1);
	if (ctnet_uint_parse(s, 5, 70000, "n", &v, &err) == 0)
		FUZZ_ASSERT(v >= 5 && v <= 70000);
	free(s);
	return 0;
}
