/* SPDX-License-Identifier: MIT */
#include "cli.h"
#include "out.h"

#include <errno.h>
#include <string.h>

#include <stdarg.h>
#include <stdio.h>

const char *ctnet_prog = "ctnet";

int ctnet_cli_fail(const struct ctnet_err *err)
{
	fprintf(stderr, "%s: %s\n", ctnet_prog, err->msg[0] ? err->msg : "failed");
	return CTNET_EXIT_FAIL;
}

int ctnet_cli_usage(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", ctnet_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", ctnet_prog);
	return CTNET_EXIT_USAGE;
}

int ctnet_cli_version(void)
{
	printf("%s %s\n", ctnet_prog, CTNET_VERSION);
	return CTNET_EXIT_OK;
}

int ctnet_cli_flush(int rc)
{
	/* Output that did not reach its reader (a full disk, a closed pipe) is a failure. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		int e = errno ? errno : EIO;
		fprintf(stderr, "%s: write the output: %s\n", ctnet_prog, strerror(e));
		return rc == CTNET_EXIT_USAGE ? rc : CTNET_EXIT_FAIL;
	}
	return rc;
}

int ctnet_cli_out_end(struct out *o, int rc)
{
	int r = out_end(o);
	if (r < 0) {
		fprintf(stderr, "%s: print the output: %s\n", ctnet_prog, strerror(-r));
		return rc == CTNET_EXIT_USAGE ? rc : CTNET_EXIT_FAIL;
	}
	return rc;
}
