/* SPDX-License-Identifier: MIT */
#ifndef CTNET_JSON_H
#define CTNET_JSON_H

#include <jansson.h>
#include <stdio.h>

/* The one JSON printer: 2-space indent, keys in insertion order, newline at the end.
 * Steals the reference to v. Returns 0 or -errno. */
int ctnet_json_print(FILE *f, json_t *v);

/* Shorthands that ignore allocation failure the way jansson's _new helpers do. */
void ctnet_json_set_str(json_t *obj, const char *key, const char *val);
void ctnet_json_set_int(json_t *obj, const char *key, long long val);

#endif
