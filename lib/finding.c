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

struct sort_key {
	enum ctnet_severity sev;
	size_t i; /* where it was added: the tie-break */
};

static int key_cmp(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;
	if (x->sev != y->sev)
		return x->sev > y->sev ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

int ctnet_findings_sort(struct ctnet_findings *f)
{
	struct sort_key *k;
	struct ctnet_finding *v;

	if (f->n < 2)
		return 0;
	k = malloc(f->n * sizeof(*k));
	v = malloc(f->n * sizeof(*v));
	if (!k || !v) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	for (size_t i = 0; i < f->n; i++)
		k[i] = (struct sort_key){ f->v[i].sev, i };
	qsort(k, f->n, sizeof(*k), key_cmp);
	for (size_t i = 0; i < f->n; i++)
		v[i] = f->v[k[i].i];
	free(k);
	free(f->v);
	f->v = v;
	f->cap = f->n;
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
