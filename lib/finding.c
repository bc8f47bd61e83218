/* SPDX-License-Identifier: MIT */
#include "finding.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctnet_finding_add(struct ctnet_findings *f, enum ctnet_severity sev, const char *code,
		      const char *container, const char *object, const char *fix,
		      const char *evidence_fmt, ...)
{
	va_list ap;

	if (CTNET_GROW(f->v, f->n, f->cap, 16) < 0) {
		f->oom = true;
		return -ENOMEM;
	}
	struct ctnet_finding *x = &f->v[f->n++];
	memset(x, 0, sizeof(*x));
	x->sev = sev;
	snprintf(x->code, sizeof(x->code), "%s", code);
	snprintf(x->container, sizeof(x->container), "%s", container ? container : "");
	snprintf(x->object, sizeof(x->object), "%s", object ? object : "");
	snprintf(x->fix, sizeof(x->fix), "%s", fix ? fix : "");
	va_start(ap, evidence_fmt);
	vsnprintf(x->evidence, sizeof(x->evidence), evidence_fmt, ap);
	va_end(ap);
	return 0;
}

int ctnet_findings_append(struct ctnet_findings *to, const struct ctnet_findings *from)
{
	for (size_t i = 0; i < from->n; i++) {
		if (CTNET_GROW(to->v, to->n, to->cap, 16) < 0) {
			to->oom = true;
			return -ENOMEM;
		}
		to->v[to->n++] = from->v[i];
	}
	to->oom |= from->oom;
	return 0;
}

size_t ctnet_findings_blocking(const struct ctnet_findings *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n; i++)
		n += f->v[i].sev == CTNET_SEV_BLOCKS;
	return n;
}

const char *ctnet_severity_name(enum ctnet_severity s)
{
	switch (s) {
	case CTNET_SEV_BLOCKS: return "blocks";
	case CTNET_SEV_DEGRADES: return "degrades";
	default: return "note";
	}
}

void ctnet_findings_free(struct ctnet_findings *f)
{
	free(f->v);
	*f = (struct ctnet_findings){ 0 };
}
