/* SPDX-License-Identifier: MIT */
/* Impairment values (tc syntax) and --extra-veth specs: strict parse, print, parse again. */
#include "fuzz.h"
#include "netd/netd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctnet_err err;
	char buf[NETD_EXTRA_VETH_STRLEN], t[NETD_IMPAIR_STRLEN];
	struct netd_extra_veth v, w;
	uint32_t us, us2, ppm, ppm2;
	uint64_t bps, bps2;

	char *s = fuzz_str(data, size);
	if (netd_impair_parse_delay(s, &us, &err) == 0) {
		FUZZ_ASSERT(us <= NETD_IMPAIR_DELAY_MAX_US);
		FUZZ_ASSERT(netd_impair_parse_delay(netd_impair_format_time(us, t), &us2, &err) == 0 && us == us2);
	}
	if (netd_impair_parse_loss(s, &ppm, &err) == 0) {
		FUZZ_ASSERT(ppm <= NETD_IMPAIR_LOSS_MAX_PPM);
		FUZZ_ASSERT(netd_impair_parse_loss(netd_impair_format_loss(ppm, t), &ppm2, &err) == 0 && ppm == ppm2);
	}
	if (netd_impair_parse_rate(s, &bps, &err) == 0) {
		FUZZ_ASSERT(bps >= NETD_IMPAIR_RATE_MIN && bps <= NETD_IMPAIR_RATE_MAX && bps % 8 == 0);
		FUZZ_ASSERT(netd_impair_parse_rate(netd_impair_format_rate(bps, t), &bps2, &err) == 0 && bps == bps2);
		struct netd_impair im = { .set = true, .rate_bps = bps };
		FUZZ_ASSERT(netd_impair_check(&im, &err) == 0);
	}
	if (netd_extra_veth_parse(s, &v, &err) == 0) {
		FUZZ_ASSERT(netd_extra_veth_format(&v, buf, sizeof(buf)) == 0);
		FUZZ_ASSERT(netd_extra_veth_parse(buf, &w, &err) == 0 && netd_extra_veth_equal(&v, &w));
	}
	free(s);
	return 0;
}
