/* SPDX-License-Identifier: MIT */
/* The only file that talks to libnftables. */
#include "nat_int.h"

#include <errno.h>
#include <jansson.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Buffered output and errors (libnftables never prints), no include paths. libnftables
 * 1.0.6 has no switch to turn DNS off on input; we only ever pass numeric addresses and
 * ports and quoted interface names, so it never resolves anything.
 */
static struct nft_ctx *ctx_new(bool json, struct ctnet_err *err)
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
	if (json)
		nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON);
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

/* One context per output mode for the whole process: creating one costs more than a small
 * transaction, and keeping its socket open lets nat_release() decide how it is closed. */
static struct nft_ctx *ctx_cache[2];
static bool deleted;

int nat_nft_run(const char *cmds, char **out, struct ctnet_err *err)
{
	bool json = out != NULL;
	struct nft_ctx *ctx = ctx_cache[json];
	char why[300];
	int r = 0;

	if (!ctx) {
		ctx = ctx_cache[json] = ctx_new(json, err);
		if (!ctx)
			return -ENOMEM;
	}
	if (nft_run_cmd_from_buffer(ctx, cmds) != 0) {
		first_error(nft_ctx_get_error_buffer(ctx), why, sizeof(why));
		r = ctnet_errf(err, error_code(why), "nftables table \"%s\": %s", NAT_TABLE, why);
	} else {
		if (out) {
			*out = strdup(nft_ctx_get_output_buffer(ctx));
			if (!*out)
				r = ctnet_err_sys(err, ENOMEM, "nftables output");
		}
		if (strstr(cmds, "delete ") || strstr(cmds, "flush "))
			deleted = true;
	}
	/* Reading a buffer rewinds it: leave both empty for the next command. */
	(void)nft_ctx_get_output_buffer(ctx);
	(void)nft_ctx_get_error_buffer(ctx);
	return r;
}

bool nat_nft_deleted(void)
{
	return deleted;
}

void nat_nft_close(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(ctx_cache); i++) {
		if (ctx_cache[i])
			nft_ctx_free(ctx_cache[i]);
		ctx_cache[i] = NULL;
	}
	deleted = false;
}

bool nat_nft_err_missing(const struct ctnet_err *err)
{
	return err->code == ENOENT;
}

void nat_kernel_free(struct nat_kernel *k)
{
	for (int s = 0; s < NAT_S_COUNT; s++) {
		for (size_t i = 0; i < k->n[s]; i++)
			free(k->elems[s][i].canon);
		free(k->elems[s]);
	}
	for (int c = 0; c < NAT_CHAINS; c++)
		free(k->comments[c]);
	*k = (struct nat_kernel){ 0 };
}

static int kelem_cmp(const void *a, const void *b)
{
	return strcmp(((const struct nat_kelem *)a)->canon, ((const struct nat_kelem *)b)->canon);
}

const struct nat_kelem *nat_kernel_find(const struct nat_kernel *k, int set, const char *canon)
{
	struct nat_kelem key = { .canon = (char *)canon };
	if (!k->n[set])
		return NULL;
	return bsearch(&key, k->elems[set], k->n[set], sizeof(key), kelem_cmp);
}
