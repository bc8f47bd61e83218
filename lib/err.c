/* SPDX-License-Identifier: MIT */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int verr(struct ctnet_err *err, int code, int sys, const char *fmt, va_list ap)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = EINVAL;
	if (!err)
		return -code;
	err->code = code;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (sys && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(code));
	return -code;
}

int ctnet_errf(struct ctnet_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = verr(err, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int ctnet_err_sys(struct ctnet_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = verr(err, code, 1, fmt, ap);
	va_end(ap);
	return r;
}

void ctnet_err_clear(struct ctnet_err *err)
{
	err->code = 0;
	err->msg[0] = '\0';
}

void ctnet_freep(void *p)
{
	free(*(void **)p);
}

void ctnet_closep(const int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
