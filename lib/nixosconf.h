/* SPDX-License-Identifier: MIT */
#ifndef CTNET_NIXOSCONF_H
#define CTNET_NIXOSCONF_H

/*
 * Reader of nixos-container's config files (/etc/nixos-containers/NAME.conf): lines of
 * KEY=VALUE, values bare or in "..." / '...', '#' comments and blank lines skipped.
 * The file is parsed as data and never executed. Anything a shell would read differently
 * from us (unbalanced quotes, $, `, \, ;, spaces in a bare value, ...) is refused rather
 * than guessed at, as are NUL bytes, control bytes and non-ASCII. Duplicate keys: the
 * last wins, as in a shell. ctnet's own state files (records, leases, NAT state, CNI
 * attachments) use the same format, through the same reader and writer.
 */

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "err.h"
#include "name.h"

#define NIXOSCONF_SIZE_MAX (64 * 1024)
#define NIXOSCONF_VALUE_MAX 1024 /* longest value, without the NUL */

struct nixosconf {
	bool has_private_network;
	bool private_network;                 /* PRIVATE_NETWORK=1 */
	struct ctnet_addr host_address;       /* family 0 when absent or empty */
	struct ctnet_addr local_address;      /* may carry a prefix (bridge mode) */
	struct ctnet_addr host_address6;
	struct ctnet_addr local_address6;
	char host_bridge[CTNET_IFNAME_MAX + 1];  /* "" when absent */
	char host_port[NIXOSCONF_VALUE_MAX + 1]; /* "tcp:8080:80,udp:53:53" as written */
	char local_mac_address[32];
	char interfaces[NIXOSCONF_VALUE_MAX + 1]; /* space-separated */
	char macvlans[NIXOSCONF_VALUE_MAX + 1];   /* space-separated */
	char network_namespace_path[NIXOSCONF_VALUE_MAX + 1]; /* NixOS networkNamespace */
	bool has_auto_start, auto_start;          /* AUTO_START=0|1 */
	/* ctnet's own keys: link impairment (tc syntax) and NixOS extraVeths (space-separated
	 * IFNAME[,host-bridge=BR][,host-address=A]... specs). */
	char impair_delay[32], impair_jitter[32], impair_loss[32], impair_rate[32];
	char extra_veths[NIXOSCONF_VALUE_MAX + 1];
};

/*
 * Called for each KEY=VALUE line (value unquoted, NUL-terminated). A negative return stops
 * the parse and is returned; the parser prefixes err's message with the file and line.
 */
typedef int (*nixosconf_kv_cb)(const char *key, const char *value, void *data,
			       struct ctnet_err *err);

/*
 * The generic KEY=VALUE layer, for every file of this format ctnet reads. `file` says what
 * is read, as errors begin: `record "web"`, `nixos conf "/etc/nixos-containers/web.conf"`
 * (the message goes on with " line N: ...").
 */
int nixosconf_parse_kv(const char *text, size_t len, const char *file, nixosconf_kv_cb cb,
		       void *data, struct ctnet_err *err);

/* Parses text into *out (zeroed first); unknown keys are ignored. Errors begin
 * `nixos conf "SHOWN"`. */
int nixosconf_parse(const char *text, size_t len, const char *shown, struct nixosconf *out,
		    struct ctnet_err *err);

/*
 * Reads and parses dirfd/path (dirfd may be AT_FDCWD). Symlinks are followed (NixOS links
 * /etc files into the store) but only a regular file of at most NIXOSCONF_SIZE_MAX bytes
 * is read; the open is O_NONBLOCK so a FIFO cannot hang us.
 */
int nixosconf_read(int dirfd, const char *path, struct nixosconf *out, struct ctnet_err *err);

/*
 * Reads a whole regular file the same way into a malloc'ed, NUL-terminated buffer
 * (*out, length *len). For callers that parse with nixosconf_parse_kv.
 */
int nixosconf_slurp(int dirfd, const char *path, char **out, size_t *len, struct ctnet_err *err);
/* The same, with the open file's fstat in *st (may be NULL): one open for the owner check. */
struct stat;
int nixosconf_slurp_stat(int dirfd, const char *path, char **out, size_t *len, struct stat *st,
			 struct ctnet_err *err);

/*
 * The writer of the same format, for every KEY=VALUE file ctnet keeps (records, leases, NAT
 * state, CNI attachments): a value is written bare when the reader (and a shell) reads it
 * back as it is, in '...' otherwise; one that no quoting makes safe (control bytes,
 * non-ASCII, a ' with other specials, longer than NIXOSCONF_VALUE_MAX) is refused with
 * -EINVAL naming the key, never dropped. The first error sticks (o->error).
 */
struct ctnet_kv_out {
	char *p;
	size_t len, cap;
	const char *what; /* "record \"web\"" for messages */
	struct ctnet_err *err;
	int error;
};
int ctnet_kv_put(struct ctnet_kv_out *o, const char *key, const char *value);
int ctnet_kv_putf(struct ctnet_kv_out *o, const char *key, const char *fmt, ...) CTNET_PRINTF(3, 4);

#endif
