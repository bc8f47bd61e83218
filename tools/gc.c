/* SPDX-License-Identifier: MIT */
/* ctnet gc: the engine is launch/gc.c; this parses the flag and says what it removed. */
#include <stdio.h>
#include <string.h>

#include "../launch/gc.h"
#include "cli.h"
#include "ctnet.h"

static const char *plural(int n)
{
	return n == 1 ? "" : "s";
}

static void print_swept(const struct ctnet_swept *s)
{
	switch (s->kind) {
	case CTNET_DEBRIS_TEMP:
		printf("removed %d temp file%s of killed writers in %s\n", s->n, plural(s->n), s->dir);
		break;
	case CTNET_DEBRIS_LOCK:
		printf("removed %d lock file%s of gone containers\n", s->n, plural(s->n));
		break;
	case CTNET_DEBRIS_ATTACHMENT:
		printf("removed %d CNI attachment file%s of gone containers\n", s->n, plural(s->n));
		break;
	case CTNET_DEBRIS_CLAIM:
		printf("removed %d host-port claim%s of interrupted forward changes\n", s->n, plural(s->n));
		break;
	case CTNET_DEBRIS_DNS:
		printf("removed %d DNS file%s of gone containers in %s\n", s->n, plural(s->n), s->dir);
		break;
	}
}

/* One line per event: what was removed on stdout, what failed on stderr. */
static void print_event(const struct ct_gc_event *ev, void *data)
{
	static const char *const orphans[] = {
		[CT_GC_LEASE] = "lease", [CT_GC_NAT_ENTRIES] = "NAT entries", [CT_GC_LINK] = "link"
	};
	(void)data;
	switch (ev->kind) {
	case CT_GC_CONTAINER:
		printf("removed container %s (%s)%s\n", ev->name, ev->why, ev->lease_kept ? ", lease kept" : "");
		break;
	case CT_GC_ORPHAN:
		printf("removed %s of %s (no container record)\n", orphans[ev->orphan], ev->name);
		break;
	case CT_GC_SWEPT:
		print_swept(&ev->swept);
		break;
	case CT_GC_NAT_TABLE:
		printf("restored the NAT table (%d difference%s)\n", ev->n, plural(ev->n));
		break;
	case CT_GC_LEASES_KEPT:
		printf("kept %d lease%s of containers not running (ctnet gc --leases or ctnet-ipam release NAME frees them)\n",
		       ev->n, plural(ev->n));
		break;
	case CT_GC_TRACE:
		printf("removed %d trace chain%s of a killed ctnet trace\n", ev->n, plural(ev->n));
		break;
	case CT_GC_FAILED:
		fprintf(stderr, "%s: gc: %s\n", ctnet_prog, ev->err->msg);
		break;
	}
}

int cmd_gc(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ct_gc_opts opts = { 0 };
	struct ct_gc_result res;
	struct ctnet_err err;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: ctnet gc [--leases]\n"
		       "Remove what belongs to containers that are gone (dead PID, vanished namespace,\n"
		       "earlier boot, interrupted up or down): links, NAT entries, records, CNI\n"
		       "attachments, lock files and temp files of killed writers, saying what was\n"
		       "removed. A container whose namespace or process is alive is kept, whatever of\n"
		       "its network is missing (`ctnet up` repairs it). Leases are kept, so a container\n"
		       "that comes back (after a reboot too) gets the addresses it had; --leases also\n"
		       "releases the leases of containers that are not running.\n");
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--leases"))
		opts.leases = true;
	else if (argc > 1)
		return ctnet_cli_usage("gc: takes only --leases");
	if (ct_gc(kern, &opts, print_event, NULL, &res, &err) < 0)
		return ctnet_cli_fail(&err);
	printf("gc: removed %d\n", res.removed);
	return res.failed ? 1 : 0;
}
