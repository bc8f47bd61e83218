/* SPDX-License-Identifier: MIT */
#include "name.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int ctnet_name_check(const char *name, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	size_t n;

	if (!name || !*name)
		return ctnet_errf(err, EINVAL, "invalid container name \"\": empty");
	n = strnlen(name, CTNET_NAME_MAX + 1);
	if (n > CTNET_NAME_MAX)
		return ctnet_errf(err, EINVAL, "invalid container name \"%s\": longer than %d bytes",
				  ctnet_show(name, shown), CTNET_NAME_MAX);
	if (!alnum(name[0]))
		return ctnet_errf(err, EINVAL,
				  "invalid container name \"%s\": must start with a letter or digit",
				  ctnet_show(name, shown));
	for (size_t i = 1; i < n; i++)
		if (!name_char(name[i]))
			return ctnet_errf(err, EINVAL,
					  "invalid container name \"%s\": only A-Z a-z 0-9 _ . - allowed",
					  ctnet_show(name, shown));
	return 0;
}

int ctnet_ifname_check(const char *ifname, struct ctnet_err *err)
{
	char shown[CTNET_SHOW_MAX];
	size_t n;

	if (!ifname || !*ifname)
		return ctnet_errf(err, EINVAL, "invalid interface name \"\": empty");
	n = strnlen(ifname, CTNET_IFNAME_MAX + 1);
	if (n > CTNET_IFNAME_MAX)
		return ctnet_errf(err, EINVAL, "invalid interface name \"%s\": longer than %d bytes",
				  ctnet_show(ifname, shown), CTNET_IFNAME_MAX);
	if (!strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return ctnet_errf(err, EINVAL, "invalid interface name \"%s\"", ifname);
	/* "-x" would read as an option to ip, nft and every admin script. */
	if (ifname[0] == '-')
		return ctnet_errf(err, EINVAL, "invalid interface name \"%s\": starts with '-'",
				  ctnet_show(ifname, shown));
	for (size_t i = 0; i < n; i++)
		if (!name_char(ifname[i]))
			return ctnet_errf(err, EINVAL,
					  "invalid interface name \"%s\": only A-Z a-z 0-9 _ . - allowed",
					  ctnet_show(ifname, shown));
	return 0;
}

const char *ctnet_show(const char *s, char buf[CTNET_SHOW_MAX])
{
	size_t o = 0;
	if (!s) {
		snprintf(buf, CTNET_SHOW_MAX, "(null)");
		return buf;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (o + 8 >= CTNET_SHOW_MAX) {
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, CTNET_SHOW_MAX - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

uint64_t ctnet_hash64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
