/* SPDX-License-Identifier: MIT */
#ifndef CTNET_NAME_H
#define CTNET_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Container names: [A-Za-z0-9][A-Za-z0-9_.-]*, at most this many bytes. */
#define CTNET_NAME_MAX 64
/* Interface names: IFNAMSIZ - 1. */
#define CTNET_IFNAME_MAX 15
/* Room for ctnet_show(). */
#define CTNET_SHOW_MAX 80

int ctnet_name_check(const char *name, struct ctnet_err *err);
/* Kernel interface name rules plus ours: 1-15 bytes of [A-Za-z0-9_.-], not "." or "..". */
int ctnet_ifname_check(const char *ifname, struct ctnet_err *err);

/*
 * A printable, bounded rendering of untrusted text for error messages: control bytes,
 * quotes, backslashes and non-ASCII as \xNN, cut with "..." past ~60 bytes. Returns buf.
 */
const char *ctnet_show(const char *s, char buf[CTNET_SHOW_MAX]);

/* FNV-1a 64, for stable short names. */
uint64_t ctnet_hash64(const void *data, size_t len);

#endif
