/* SPDX-License-Identifier: MIT */
/*
 * A daemon's pid file (`ctnet watch`, `ctnet dns`): a file in the run dir holding the pid,
 * locked (flock) for as long as the daemon keeps the descriptor open. Whether it is held
 * tells a running daemon from one that exited, whatever the file says.
 */
#ifndef CTNET_PIDFILE_H
#define CTNET_PIDFILE_H

#include <sys/types.h>

#include "err.h"

/* Takes $CTNET_RUN_DIR/file: the descriptor to keep open (and locked) until exit, or
 * -EBUSY ("another WHAT is running (pid N)") when someone holds it, or -errno. */
int ctnet_pidfile_take(const char *file, const char *what, struct ctnet_err *err);
/* Whether a daemon holds $CTNET_RUN_DIR/file (1, *pid set), not (0), or -errno. */
int ctnet_pidfile_held(const char *file, pid_t *pid);

#endif
