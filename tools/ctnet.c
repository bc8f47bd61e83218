/* SPDX-License-Identifier: MIT */
/* ctnet: the launcher. Only a dispatch table; each subcommand lives in its own file. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "caps.h"
#include "cli.h"
#include "ctnet.h"

int cmd_exec(struct ctnet_kern *kern, int argc, char **argv); /* exec.c */

static const struct {
	const char *name;
	int (*fn)(struct ctnet_kern *kern, int argc, char **argv);
	unsigned caps; /* kept after start-up; `run` keeps everything for CMD */
	unsigned need; /* required up front, named in the error when missing */
	const char *help;
} commands[] = {
	{ "up", cmd_up, CTNET_CAP_BPF | CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN | CTNET_CAP_SYS_PTRACE,
	  CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN, "bring a container's network up" },
	{ "down", cmd_down, CTNET_CAP_BPF | CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN, CTNET_CAP_NET_ADMIN,
	  "take it down again" },
	{ "repair", cmd_repair, CTNET_CAP_BPF | CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN | CTNET_CAP_SYS_PTRACE,
	  CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN, "put back what drifted in running containers" },
	{ "run", cmd_run, 0, CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN,
	  "run a command in a fresh namespace with the network up" },
	{ "apply", cmd_apply, CTNET_CAP_BPF | CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN | CTNET_CAP_SYS_PTRACE,
	  CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN, "make the containers those of a directory of .conf files" },
	{ "status", cmd_status, CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN | CTNET_CAP_SYS_PTRACE, 0, "show containers" },
	{ "gc", cmd_gc, CTNET_CAP_BPF | CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN | CTNET_CAP_SYS_PTRACE,
	  CTNET_CAP_NET_ADMIN, "remove what belongs to containers that are gone" },
	{ "doctor", cmd_doctor, CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN | CTNET_CAP_SYS_PTRACE,
	  CTNET_CAP_NET_ADMIN, "say why a container's traffic is dead" },
	{ "trace", cmd_trace, CTNET_CAP_NET_ADMIN, CTNET_CAP_NET_ADMIN,
	  "show who passes and who drops a container's packets" },
	{ "oci-hook", cmd_oci_hook, CTNET_CAP_BPF | CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN | CTNET_CAP_SYS_PTRACE,
	  CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN,
	  "OCI runtime hook: up|down with the state JSON on stdin" },
	{ "exec", cmd_exec, 0, CTNET_CAP_SYS_ADMIN, "run a command in a container's network namespace" },
	{ "watch", cmd_watch, CTNET_CAP_BPF | CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN | CTNET_CAP_SYS_PTRACE,
	  CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN, "put back what others remove (a daemon)" },
	/* dnsmasq (its child) binds port 53 and drops to its own user: it keeps everything. */
	{ "dns", cmd_dns, 0, 0, "answer containers' DNS queries (a daemon)" },
	/* Prints a text from a file and flags: needs no capability. */
	{ "bird-config", cmd_bird_config, 0, 0, "print this host's BIRD 2 configuration (BGP)" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: ctnet COMMAND [ARGS]...   (ctnet COMMAND --help for each)\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\nState: $CTNET_STATE_DIR (/var/lib/ctnet), $CTNET_RUN_DIR (/run/ctnet).\n");
}

int main(int argc, char **argv)
{
	struct ctnet_err err;

	ctnet_prog = "ctnet";
	if (argc < 2)
		return usage(stderr), CTNET_EXIT_USAGE;
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return usage(stdout), ctnet_cli_flush(0);
	if (!strcmp(argv[1], "--version"))
		return ctnet_cli_flush(ctnet_cli_version());
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		bool help = argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"));
		if (commands[i].caps && ctnet_caps_limit(commands[i].caps, &err) < 0)
			return ctnet_cli_fail(&err);
		if (!help && commands[i].need &&
		    ctnet_caps_require(commands[i].need, commands[i].name, &err) < 0)
			return ctnet_cli_fail(&err);
		/* The command's kernel connection: every call below talks to the kernel through it. */
		struct ctnet_kern kern;
		ctnet_kern_init(&kern);
		int rc = commands[i].fn(&kern, argc - 1, argv + 1);
		nat_release(&kern, true);
		return ctnet_cli_flush(rc);
	}
	return ctnet_cli_usage("unknown command \"%.40s\"", argv[1]);
}
