/* SPDX-License-Identifier: MIT */
/*
 * Findings of `ctnet doctor`: data (a code, a severity, the object, the evidence, the fix)
 * that each module fills for what it owns and one printer in tools/doctor.c shows as a
 * table or as JSON. Nothing reads a finding's text back.
 */
#ifndef CTNET_FINDING_H
#define CTNET_FINDING_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum ctnet_severity {
	CTNET_SEV_NOTE,     /* worth knowing, nothing breaks */
	CTNET_SEV_DEGRADES, /* some traffic or some path suffers */
	CTNET_SEV_BLOCKS,   /* the container's traffic (or a forward) does not work */
};

struct ctnet_finding {
	enum ctnet_severity sev;
	char code[32];       /* stable identifier: "forward-policy-drop", "ip-forward-off" */
	char container[64];  /* the container it concerns, "" when host-wide */
	char object[160];    /* what is at fault: "ip filter FORWARD", "net.ipv4.ip_forward" */
	char evidence[512];  /* what was seen */
	char fix[1024];      /* the command that fixes it, "" when there is none to give */
};

struct ctnet_findings {
	size_t n, cap;
	struct ctnet_finding *v;
	bool oom; /* an add failed for memory: the list is incomplete */
};

/* Appends a finding; evidence is formatted. Returns 0 or -ENOMEM (sets f->oom). */
int ctnet_finding_add(struct ctnet_findings *f, enum ctnet_severity sev, const char *code,
		      const char *container, const char *object, const char *fix,
		      const char *evidence_fmt, ...) CTNET_PRINTF(7, 8);
/* Appends a copy of every finding of from (to->oom on failure). Returns 0 or -ENOMEM. */
int ctnet_findings_append(struct ctnet_findings *to, const struct ctnet_findings *from);
/* Most severe first; findings of one severity keep the order they were added in (the
 * order doctor documents; qsort alone promises no stability). 0, or -ENOMEM with the
 * order unchanged. */
int ctnet_findings_sort(struct ctnet_findings *f);
/* How many findings block. */
size_t ctnet_findings_blocking(const struct ctnet_findings *f);
const char *ctnet_severity_name(enum ctnet_severity s);
void ctnet_findings_free(struct ctnet_findings *f);

#endif
