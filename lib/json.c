/* SPDX-License-Identifier: MIT */
#include "json.h"

#include <errno.h>

int ctnet_json_print(FILE *f, json_t *v)
{
	int r = 0;
	if (!v)
		return -ENOMEM;
	if (json_dumpf(v, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 || fputc('\n', f) == EOF)
		r = -EIO;
	json_decref(v);
	return r;
}

void ctnet_json_set_str(json_t *obj, const char *key, const char *val)
{
	json_object_set_new(obj, key, val ? json_string(val) : json_null());
}

void ctnet_json_set_int(json_t *obj, const char *key, long long val)
{
	json_object_set_new(obj, key, json_integer(val));
}
