/* SPDX-License-Identifier: MIT */
/* The only file that talks to libnftables. */
#include "nat_int.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Buffered output and errors (libnftables never prints), no include paths. libnftables
 * 1.0.6 has no switch to turn DNS off on input; we only ever pass numeric addresses and
 * ports and quoted interface names, so it never resolves anything.
 */
static struct nft_ctx *ctx_new(struct ctnet_err *err)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		ctnet_errf(err, ENOMEM, "nftables: cannot create a context");
		return NULL;
	}
	nft_ctx_clear_include_paths(ctx);
	if (nft_ctx_buffer_output(ctx) || nft_ctx_buffer_error(ctx)) {
		nft_ctx_free(ctx);
		ctnet_errf(err, ENOMEM, "nftables: cannot buffer output");
		return NULL;
	}
	return ctx;
}

/* The kernel's reason, one line: "Error: Could not process rule: No such file or directory". */
static void first_error(const char *buf, char *out, size_t len)
{
	const char *p = buf ? strstr(buf, "Error: ") : NULL;
	size_t n;
	if (!p) {
		snprintf(out, len, "%s", "failed");
		return;
	}
	p += 7;
	n = strcspn(p, "\n");
	if (n >= len)
		n = len - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	for (char *q = out; *q; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
			*q = '?';
}

static int error_code(const char *msg)
{
	if (strstr(msg, "No such file or directory") || strstr(msg, "does not exist"))
		return ENOENT;
	if (strstr(msg, "File exists"))
		return EEXIST;
	if (strstr(msg, "Operation not permitted"))
		return EPERM;
	return EIO;
}

/* One context for the whole process: creating one costs more than a small transaction,
 * and keeping its socket open lets nat_release() decide how it is closed. */
static struct nft_ctx *ctx_cache;
static bool deleted;

int nat_nft_run(const char *cmds, struct ctnet_err *err)
{
	char why[300];
	int r = 0;

	if (!ctx_cache && !(ctx_cache = ctx_new(err)))
		return -ENOMEM;
	if (nft_run_cmd_from_buffer(ctx_cache, cmds) != 0) {
		first_error(nft_ctx_get_error_buffer(ctx_cache), why, sizeof(why));
		r = ctnet_errf(err, error_code(why), "nftables table \"%s\": %s", NAT_TABLE, why);
	} else if (strstr(cmds, "delete ") || strstr(cmds, "flush ")) {
		deleted = true;
	}
	/* Reading a buffer rewinds it: leave both empty for the next command. */
	(void)nft_ctx_get_output_buffer(ctx_cache);
	(void)nft_ctx_get_error_buffer(ctx_cache);
	return r;
}

bool nat_nft_deleted(void)
{
	return deleted;
}

void nat_nft_close(void)
{
	if (ctx_cache)
		nft_ctx_free(ctx_cache);
	ctx_cache = NULL;
	deleted = false;
}
