/* SPDX-License-Identifier: MIT */
/* The launcher: composes ipam, netd and nat in-process. One file per subcommand. */
#ifndef CTNET_TOOLS_H
#define CTNET_TOOLS_H

#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "../launch/launch.h"
#include "addr.h"
#include "err.h"
#include "name.h"

/* The command line of up / run: the spec plus what only the CLI has. */
struct up_cli {
	struct ct_spec spec;
	const char *config; /* --config FILE, read after the flags (the flags win) */
	bool json;
};
/* Parses the shared up options; returns 0, or an exit code (2) after printing usage. */
int up_parse_opt(int opt, const char *arg, struct up_cli *o);
/* Parses options and NAME (up to "--"); 0 to go on, -1 after --help, or an exit code. */
int up_parse_args(int argc, char **argv, struct up_cli *o, void (*usage)(void));
/* Names the container (NAME) and reads --config: what every front-end of up does last. */
int up_finish(struct up_cli *o, const char *name, struct ctnet_err *err);
/* The host config (ctnet.conf(5)) read once: its defaults into spec, its NAT lists
 * recorded and applied (ct_host_apply). What every front-end of up does before ct_up. */
int up_host(struct ctnet_kern *kern, struct ct_spec *spec, struct ctnet_err *err);
void up_usage(void);
extern const char up_short_opts[];
extern const struct option up_long_opts[];
struct out;
/* The record, with what an up repaired or changed (stderr, one line each; in --json); the
 * exit code. */
int print_record(const struct ct_record *rec, const struct ct_report *rep, bool json);
/* What an up repaired or changed (rep NULL: nothing), as the JSON array "changes"; with
 * name, also a line each for people ("NAME: repaired WHAT"), else the caller says it on
 * stderr. */
void report_out(struct out *o, const char *name, const struct ct_report *rep);

int cmd_up(struct ctnet_kern *kern, int argc, char **argv);
int cmd_down(struct ctnet_kern *kern, int argc, char **argv);
int cmd_repair(struct ctnet_kern *kern, int argc, char **argv);
int cmd_run(struct ctnet_kern *kern, int argc, char **argv);
int cmd_status(struct ctnet_kern *kern, int argc, char **argv);
int cmd_apply(struct ctnet_kern *kern, int argc, char **argv);
int cmd_gc(struct ctnet_kern *kern, int argc, char **argv);
int cmd_oci_hook(struct ctnet_kern *kern, int argc, char **argv);
int cmd_watch(struct ctnet_kern *kern, int argc, char **argv);
int cmd_dns(struct ctnet_kern *kern, int argc, char **argv);
int cmd_bird_config(struct ctnet_kern *kern, int argc, char **argv); /* bird.c */
struct out;
/* A daemon's event (watch.c): "PROG: EVENT OBJECT: MESSAGE", or a JSON object per line
 * (time, event, object, message); written at once (a log is read as it comes). */
void daemon_log_line(struct out *o, const char *prog, const char *event, const char *object, const char *msg);
/* A daemon's process (watch.c): as many descriptors as allowed (a socket per container
 * namespace, dnsmasq's per address), no SIGPIPE, and SIGTERM, SIGINT, SIGHUP (and
 * extra_signal, unless 0) as a descriptor for the engine: the signalfd, or -errno. */
int daemon_process_setup(int extra_signal, struct ctnet_err *err);
/* The OCI state document (id, pid, ctnet.* annotations) into a spec. */
int oci_parse_state(const char *text, size_t len, bool need_pid, struct ct_spec *s,
		    struct ctnet_err *err);

/* doctor.c */
struct ctnet_findings;
/* The cheap subset (ip_forward, foreign drop-policy forward chains): for up and status. */
int doctor_quick(struct ctnet_kern *kern, const char *host_ifname, struct ctnet_findings *out, struct ctnet_err *err);
/* One warning line on stderr when doctor_quick finds a blocker. */
void doctor_warn(struct ctnet_kern *kern, const char *host_ifname);
int cmd_doctor(struct ctnet_kern *kern, int argc, char **argv);
int cmd_trace(struct ctnet_kern *kern, int argc, char **argv);

#endif
