/* SPDX-License-Identifier: MIT */
#ifndef CTNET_CLI_H
#define CTNET_CLI_H

#include "err.h"

#ifndef CTNET_VERSION
#define CTNET_VERSION "0.1.0"
#endif

/* Exit codes shared by every program. */
enum { CTNET_EXIT_OK = 0, CTNET_EXIT_FAIL = 1, CTNET_EXIT_USAGE = 2 };

/* Set once by main(); used as the "PROG: " prefix of every message. */
extern const char *ctnet_prog;

/* "PROG: msg" on stderr; returns CTNET_EXIT_FAIL. */
int ctnet_cli_fail(const struct ctnet_err *err);
/* "PROG: <formatted>" and "Try 'PROG --help'." on stderr; returns CTNET_EXIT_USAGE. */
int ctnet_cli_usage(const char *fmt, ...) CTNET_PRINTF(1, 2);
/* "PROG VERSION" on stdout; returns 0. */
int ctnet_cli_version(void);
struct out;
/* Ends the command's output o (out_end): rc, or CTNET_EXIT_FAIL (said on stderr) when it
 * could not be made (no memory for the JSON). Write errors are ctnet_cli_flush's. */
int ctnet_cli_out_end(struct out *o, int rc);
/* rc, or CTNET_EXIT_FAIL (said on stderr) when stdout could not be written. */
int ctnet_cli_flush(int rc);

#endif
