/* SPDX-License-Identifier: MIT */
/* Between nat/lofwd.c (the programs: load, attach, pin) and nat/lofwdmap.c (the map). */
#ifndef CTNET_LOFWD_INT_H
#define CTNET_LOFWD_INT_H

#include <limits.h>
#include <stdbool.h>

#include "err.h"
#include "lofwd.h"

#define LOFWD_MAP_PIN "lofwd_map"

/* Where the programs attach (a cgroup v2 directory) and where they are pinned. */
struct lofwd_where {
	char cgroup[PATH_MAX], pin[PATH_MAX];
};
/* $CTNET_CGROUP or the cgroup v2 root; $CTNET_BPF_DIR or /sys/fs/bpf/ctnet. pin is filled
 * even when the cgroup is refused (-EOPNOTSUPP: no cgroup v2 there). */
int lofwd_where(struct lofwd_where *w, struct ctnet_err *err);
void lofwd_pin_path(const struct lofwd_where *w, const char *name, char *buf, size_t len);
/* Every pin there, the host's netns cookie written, each link attached to w's cgroup. */
bool lofwd_pins_ok(const struct lofwd_where *w);
/* Unpins (and so detaches) everything. */
void lofwd_unpin_all(const struct lofwd_where *w);
/* Loads, attaches and pins unless in place: 1 loaded afresh (empty map), 0 there, -errno. */
int lofwd_ensure(const struct lofwd_where *w, struct ctnet_err *err);

#endif
