/* SPDX-License-Identifier: MIT */
/* Impairment values in tc's syntax ("50ms", "0.1%", "8mbit"): parsed strictly, no kernel. */
#include "netd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct unit {
	const char *name;
	uint64_t mult;
};

/*
 * DIGITS[.DIGITS] in s[0..len) times mult, which must come out whole and at most max.
 * -EINVAL: not a number; -EDOM: not whole; -ERANGE: above max.
 */
static int scaled(const char *s, size_t len, uint64_t mult, uint64_t max, uint64_t *out)
{
	unsigned __int128 ip = 0, fp = 0, den = 1, v;
	size_t i = 0, nint = 0, nfrac = 0;

	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nint++) {
		ip = ip * 10 + (unsigned)(s[i] - '0');
		if (ip > max)
			ip = (unsigned __int128)max + 1; /* saturate: only "above max" matters */
	}
	if (i < len && s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nfrac++) {
			if (nfrac < 24) {
				fp = fp * 10 + (unsigned)(s[i] - '0');
				den *= 10;
			} else if (s[i] != '0') {
				return -EDOM;
			}
		}
		if (nfrac == 0)
			return -EINVAL;
	}
	if (i != len || nint == 0)
		return -EINVAL;
	if (ip > max)
		return -ERANGE;
	if ((fp * mult) % den)
		return -EDOM;
	v = ip * mult + fp * mult / den;
	if (v > max)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

/* Splits s into number and unit, looks the unit up (case-insensitively) and scales. */
static int with_unit(const char *s, const struct unit *units, size_t nunits, uint64_t max,
		     uint64_t *out, const struct unit **which)
{
	size_t n = strspn(s, "0123456789.");

	for (size_t k = 0; k < nunits; k++) {
		if (!strcasecmp(s + n, units[k].name)) {
			*which = &units[k];
			return scaled(s, n, units[k].mult, max, out);
		}
	}
	return -EINVAL;
}

static const struct unit time_units[] = {
	{ "s", 1000000 }, { "sec", 1000000 }, { "secs", 1000000 },
	{ "ms", 1000 },   { "msec", 1000 },   { "msecs", 1000 },
	{ "us", 1 },      { "usec", 1 },      { "usecs", 1 },
};

int netd_impair_parse_time(const char *s, const char *what, uint32_t *us, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	const struct unit *u = NULL;
	uint64_t v = 0;
	int r;

	if (!what)
		what = "delay";
	if (!strcmp(s, "0")) {
		*us = 0;
		return 0;
	}
	r = with_unit(s, time_units, ARRAY_SIZE(time_units), NETD_IMPAIR_DELAY_MAX_US, &v, &u);
	if (r == -EINVAL)
		return ctnet_errf(err, EINVAL,
				  "invalid %s \"%s\": expected a time such as 50ms, 1.5ms, 100us or 1s",
				  what, ctnet_show(s, shown));
	if (r == -EDOM)
		return ctnet_errf(err, EINVAL, "invalid %s \"%s\": not a whole number of microseconds",
				  what, ctnet_show(s, shown));
	if (r == -ERANGE)
		return ctnet_errf(err, ERANGE, "invalid %s \"%s\": above the maximum %us", what,
				  ctnet_show(s, shown), NETD_IMPAIR_DELAY_MAX_US / 1000000);
	*us = (uint32_t)v;
	return 0;
}

int netd_impair_parse_delay(const char *s, uint32_t *us, struct ctnet_err *err)
{
	return netd_impair_parse_time(s, "delay", us, err);
}

int netd_impair_parse_loss(const char *s, uint32_t *ppm, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	size_t n = strlen(s);
	uint64_t v = 0;
	int r;

	if (n && s[n - 1] == '%')
		n--;
	/* Scaled against a large max first, so 101% is "above 100%", not a syntax error. */
	r = scaled(s, n, 10000, UINT64_MAX / 2, &v);
	if (r == 0 && v > NETD_IMPAIR_LOSS_MAX_PPM)
		r = -ERANGE;
	if (r == -EINVAL)
		return ctnet_errf(err, EINVAL, "invalid loss \"%s\": expected a percentage such as 1%%, 0.1%% or 100%%",
				  ctnet_show(s, shown));
	if (r == -EDOM)
		return ctnet_errf(err, EINVAL, "invalid loss \"%s\": finer than 0.0001%%",
				  ctnet_show(s, shown));
	if (r == -ERANGE)
		return ctnet_errf(err, ERANGE, "invalid loss \"%s\": above 100%%", ctnet_show(s, shown));
	*ppm = (uint32_t)v;
	return 0;
}

static const struct unit rate_units[] = {
	{ "bit", 1 },
	{ "kbit", 1000ull },
	{ "mbit", 1000000ull },
	{ "gbit", 1000000000ull },
	{ "tbit", 1000000000000ull },
	{ "kibit", 1ull << 10 },
	{ "mibit", 1ull << 20 },
	{ "gibit", 1ull << 30 },
	{ "tibit", 1ull << 40 },
	{ "bps", 8 },
	{ "kbps", 8000ull },
	{ "mbps", 8000000ull },
	{ "gbps", 8000000000ull },
	{ "tbps", 8000000000000ull },
	{ "kibps", 8ull << 10 },
	{ "mibps", 8ull << 20 },
	{ "gibps", 8ull << 30 },
	{ "tibps", 8ull << 40 },
};

int netd_impair_parse_rate(const char *s, uint64_t *bps, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	const struct unit *u = NULL;
	uint64_t v = 0;
	int r = with_unit(s, rate_units, ARRAY_SIZE(rate_units), UINT64_MAX / 2, &v, &u);

	if (r == 0 && v > NETD_IMPAIR_RATE_MAX)
		r = -ERANGE;
	if (r == -EINVAL)
		return ctnet_errf(err, EINVAL,
				  "invalid rate \"%s\": expected a rate such as 10mbit, 1gbit or 500kbit",
				  ctnet_show(s, shown));
	if (r == -EDOM)
		return ctnet_errf(err, EINVAL, "invalid rate \"%s\": not a whole number of bits per second",
				  ctnet_show(s, shown));
	if (r == -ERANGE)
		return ctnet_errf(err, ERANGE, "invalid rate \"%s\": above the maximum 10gbit",
				  ctnet_show(s, shown));
	if (r == 0 && v % 8)
		return ctnet_errf(err, EINVAL, "invalid rate \"%s\": not a whole number of bytes per second",
				  ctnet_show(s, shown));
	if (v < NETD_IMPAIR_RATE_MIN)
		return ctnet_errf(err, ERANGE, "invalid rate \"%s\": below the minimum 8bit (1 byte/s)",
				  ctnet_show(s, shown));
	*bps = v;
	return 0;
}

int netd_impair_check(const struct netd_impair *im, struct ctnet_err *err)
{
	char a[NETD_IMPAIR_STRLEN], b[NETD_IMPAIR_STRLEN];

	if (!im->set)
		return 0;
	if (im->delay_us > NETD_IMPAIR_DELAY_MAX_US)
		return ctnet_errf(err, ERANGE, "delay %s above the maximum %us",
				  netd_impair_format_time(im->delay_us, a), NETD_IMPAIR_DELAY_MAX_US / 1000000);
	if (im->jitter_us && !im->delay_us)
		return ctnet_errf(err, EINVAL, "jitter %s needs a delay",
				  netd_impair_format_time(im->jitter_us, a));
	if (im->jitter_us > im->delay_us)
		return ctnet_errf(err, EINVAL, "jitter %s is larger than the delay %s",
				  netd_impair_format_time(im->jitter_us, a),
				  netd_impair_format_time(im->delay_us, b));
	if (im->loss_ppm > NETD_IMPAIR_LOSS_MAX_PPM)
		return ctnet_errf(err, ERANGE, "loss %s above 100%%",
				  netd_impair_format_loss(im->loss_ppm, a));
	if (im->rate_bps && (im->rate_bps < NETD_IMPAIR_RATE_MIN || im->rate_bps > NETD_IMPAIR_RATE_MAX ||
			     im->rate_bps % 8))
		return ctnet_errf(err, ERANGE, "rate %s outside 8bit..10gbit or not whole bytes",
				  netd_impair_format_rate(im->rate_bps, a));
	return 0;
}

bool netd_impair_active(const struct netd_impair *im)
{
	return im->set && (im->delay_us || im->jitter_us || im->loss_ppm || im->rate_bps);
}

bool netd_impair_equal(const struct netd_impair *a, const struct netd_impair *b)
{
	if (!netd_impair_active(a) || !netd_impair_active(b))
		return netd_impair_active(a) == netd_impair_active(b);
	return a->delay_us == b->delay_us && a->jitter_us == b->jitter_us &&
	       a->loss_ppm == b->loss_ppm && a->rate_bps == b->rate_bps;
}

/* v / div with up to `digits` decimals, trailing zeros dropped, then unit. */
static const char *decimal(uint64_t v, uint64_t div, int digits, const char *unit,
			   char buf[NETD_IMPAIR_STRLEN])
{
	uint64_t frac = v % div;
	int n = snprintf(buf, NETD_IMPAIR_STRLEN, "%llu", (unsigned long long)(v / div));

	if (frac) {
		char f[24];
		snprintf(f, sizeof(f), "%0*llu", digits, (unsigned long long)frac);
		for (int k = (int)strlen(f) - 1; k >= 0 && f[k] == '0'; k--)
			f[k] = '\0';
		n += snprintf(buf + n, NETD_IMPAIR_STRLEN - (size_t)n, ".%s", f);
	}
	snprintf(buf + n, NETD_IMPAIR_STRLEN - (size_t)n, "%s", unit);
	return buf;
}

const char *netd_impair_format_time(uint32_t us, char buf[NETD_IMPAIR_STRLEN])
{
	if (us && us % 1000000 == 0)
		return decimal(us, 1000000, 6, "s", buf);
	if (us >= 1000)
		return decimal(us, 1000, 3, "ms", buf);
	return decimal(us, 1, 0, "us", buf);
}

const char *netd_impair_format_loss(uint32_t ppm, char buf[NETD_IMPAIR_STRLEN])
{
	return decimal(ppm, 10000, 4, "%", buf);
}

const char *netd_impair_format_rate(uint64_t bps, char buf[NETD_IMPAIR_STRLEN])
{
	if (bps && bps % 1000000000 == 0)
		return decimal(bps, 1000000000, 9, "gbit", buf);
	if (bps && bps % 1000000 == 0)
		return decimal(bps, 1000000, 6, "mbit", buf);
	if (bps && bps % 1000 == 0)
		return decimal(bps, 1000, 3, "kbit", buf);
	return decimal(bps, 1, 0, "bit", buf);
}
