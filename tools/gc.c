/* SPDX-License-Identifier: MIT */
/* ctnet gc: the engine is launch/gc.c; this parses the flag and says what it removed. */
#include <stdio.h>
#include <string.h>

#include "../launch/gc.h"
#include "cli.h"
#include "ctnet.h"
#include "out.h"

static const char *plural(int n)
{
	return n == 1 ? "" : "s";
}

/* What a module's sweep removed: a line, or {"event", "count", "dir"}. */
static void swept_out(struct out *o, const struct ctnet_swept *s)
{
	static const char *const kinds[] = {
		[CTNET_DEBRIS_TEMP] = "temp-files", [CTNET_DEBRIS_LOCK] = "lock-files",
		[CTNET_DEBRIS_ATTACHMENT] = "cni-attachments", [CTNET_DEBRIS_CLAIM] = "port-claims",
		[CTNET_DEBRIS_DNS] = "dns-files",
	};
	static const char *const nouns[] = {
		[CTNET_DEBRIS_TEMP] = "temp file", [CTNET_DEBRIS_LOCK] = "lock file",
		[CTNET_DEBRIS_ATTACHMENT] = "CNI attachment file", [CTNET_DEBRIS_CLAIM] = "host-port claim",
		[CTNET_DEBRIS_DNS] = "DNS file",
	};
	static const char *const whose[] = {
		[CTNET_DEBRIS_LOCK] = "gone containers", [CTNET_DEBRIS_ATTACHMENT] = "gone containers",
		[CTNET_DEBRIS_CLAIM] = "interrupted forward changes",
	};
	bool temp = s->kind == CTNET_DEBRIS_TEMP, dns = s->kind == CTNET_DEBRIS_DNS;

	out_str(o, PRINT_JSON, "event", NULL, kinds[s->kind]);
	out_int(o, PRINT_ANY, "count", "removed %lld ", s->n);
	out_text(o, "%s%s", nouns[s->kind], plural(s->n));
	out_str(o, temp || dns ? PRINT_ANY : PRINT_JSON, "dir",
		temp ? " of killed writers in %s\n" : " of gone containers in %s\n", s->dir);
	if (!temp && !dns)
		out_text(o, " of %s\n", whose[s->kind]);
}

/* One event: what was removed, a line on stdout or a JSON object; what failed on stderr. */
static void event_out(const struct ct_gc_event *ev, void *data)
{
	static const char *const orphans[] = {
		[CT_GC_LEASE] = "lease", [CT_GC_NAT_ENTRIES] = "NAT entries", [CT_GC_LINK] = "link"
	};
	struct out *o = data;

	if (ev->kind == CT_GC_FAILED) {
		fprintf(stderr, "%s: gc: %s\n", ctnet_prog, ev->err->msg);
		return;
	}
	out_open_object(o, NULL);
	switch (ev->kind) {
	case CT_GC_CONTAINER:
		out_str(o, PRINT_JSON, "event", NULL, "container");
		out_str(o, PRINT_ANY, "name", "removed container %s", ev->name);
		out_str(o, PRINT_ANY, "why", " (%s)", ev->why);
		out_bool(o, PRINT_JSON, "lease_kept", ev->lease_kept);
		out_text(o, "%s\n", ev->lease_kept ? ", lease kept" : "");
		break;
	case CT_GC_ORPHAN:
		out_str(o, PRINT_JSON, "event", NULL, "orphan");
		out_str(o, PRINT_ANY, "what", "removed %s", orphans[ev->orphan]);
		out_str(o, PRINT_ANY, "name", " of %s (no container record)\n", ev->name);
		break;
	case CT_GC_SWEPT:
		swept_out(o, &ev->swept);
		break;
	case CT_GC_NAT_TABLE:
		out_str(o, PRINT_JSON, "event", NULL, "nat-table");
		out_int(o, PRINT_ANY, "differences", "restored the NAT table (%lld difference", ev->n);
		out_text(o, "%s)\n", plural(ev->n));
		break;
	case CT_GC_LEASES_KEPT:
		out_str(o, PRINT_JSON, "event", NULL, "leases-kept");
		out_int(o, PRINT_ANY, "count", "kept %lld lease", ev->n);
		out_text(o, "%s of containers not running (ctnet gc --leases or ctnet-ipam release NAME frees them)\n",
			 plural(ev->n));
		break;
	case CT_GC_TRACE:
		out_str(o, PRINT_JSON, "event", NULL, "trace-chains");
		out_int(o, PRINT_ANY, "count", "removed %lld trace chain", ev->n);
		out_text(o, "%s of a killed ctnet trace\n", plural(ev->n));
		break;
	case CT_GC_FAILED:
		break;
	}
	out_close_object(o);
}

int cmd_gc(struct ctnet_kern *kern, int argc, char **argv)
{
	struct ct_gc_opts opts = { 0 };
	struct ct_gc_result res;
	struct ctnet_err err;
	bool json = false;
	struct out o;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: ctnet gc [--leases] [--json]\n"
		       "Remove what belongs to containers that are gone (dead PID, vanished namespace,\n"
		       "earlier boot, interrupted up or down): links, NAT entries, records, CNI\n"
		       "attachments, lock files and temp files of killed writers, saying what was\n"
		       "removed. A container whose namespace or process is alive is kept, whatever of\n"
		       "its network is missing (`ctnet up` repairs it). Leases of containers that can\n"
		       "come back under their name are kept, so they get the addresses they had (after\n"
		       "a reboot too); those of CNI attachments and `ctnet run` are released (their\n"
		       "names never return). --leases also releases the leases of containers that are\n"
		       "not running. --json: the events (what was removed, and why) and the count as\n"
		       "JSON.\n");
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--leases"))
			opts.leases = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else
			return ctnet_cli_usage("gc: takes only --leases and --json");
	}
	out_init(&o, stdout, json ? OUT_JSON : OUT_TEXT);
	out_open_object(&o, NULL);
	out_open_array(&o, "events");
	if (ct_gc(kern, &opts, event_out, &o, &res, &err) < 0) {
		out_end(&o);
		return ctnet_cli_fail(&err);
	}
	out_close_array(&o);
	out_int(&o, PRINT_ANY, "removed", "gc: removed %lld\n", res.removed);
	out_int(&o, PRINT_JSON, "failed", NULL, res.failed);
	out_close_object(&o);
	return ctnet_cli_out_end(&o, res.failed ? 1 : 0);
}
