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

/* ---- reading the kernel's table: JSON into canonical element strings ---- */

static void canon_value(const json_t *v, struct nat_buf *b)
{
	if (json_is_string(v)) {
		nat_buf_printf(b, "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		nat_buf_printf(b, "%lld", (long long)json_integer_value(v));
	} else if (json_is_object(v) && json_object_get(v, "concat")) {
		const json_t *a = json_object_get(v, "concat");
		size_t i;
		const json_t *x;
		json_array_foreach(a, i, x) {
			if (i)
				nat_buf_printf(b, " . ");
			canon_value(x, b);
		}
	} else if (json_is_object(v) && json_object_get(v, "elem")) {
		canon_value(json_object_get(json_object_get(v, "elem"), "val"), b);
	} else {
		char *s = json_dumps(v, JSON_COMPACT);
		nat_buf_printf(b, "%s", s ? s : "?");
		free(s);
	}
}

static void elem_counter(const json_t *key, struct nat_kelem *ke)
{
	const json_t *c = json_object_get(json_object_get(key, "elem"), "counter");
	ke->packets = (uint64_t)json_integer_value(json_object_get(c, "packets"));
	ke->bytes = (uint64_t)json_integer_value(json_object_get(c, "bytes"));
}

static int kelem_cmp(const void *a, const void *b)
{
	return strcmp(((const struct nat_kelem *)a)->canon, ((const struct nat_kelem *)b)->canon);
}

static int read_set(struct nat_kernel *k, int s, const json_t *set, struct ctnet_err *err)
{
	const json_t *elems = json_object_get(set, "elem"), *e;
	size_t i;

	k->set[s] = true;
	if (!json_is_array(elems))
		return 0;
	k->elems[s] = calloc(json_array_size(elems) + 1, sizeof(struct nat_kelem));
	if (!k->elems[s])
		return ctnet_err_sys(err, ENOMEM, "read nftables set");
	json_array_foreach(elems, i, e) {
		struct nat_buf b = { 0 };
		struct nat_kelem *ke = &k->elems[s][k->n[s]];
		nat_buf_printf(&b, "%s ", nat_set_names[s]);
		if (json_is_array(e)) { /* map: [key, value] */
			canon_value(json_array_get(e, 0), &b);
			nat_buf_printf(&b, " : ");
			canon_value(json_array_get(e, 1), &b);
			elem_counter(json_array_get(e, 0), ke);
		} else {
			canon_value(e, &b);
			elem_counter(e, ke);
		}
		if (b.oom) {
			nat_buf_free(&b);
			return ctnet_err_sys(err, ENOMEM, "read nftables set");
		}
		ke->canon = b.p;
		k->n[s]++;
	}
	qsort(k->elems[s], k->n[s], sizeof(struct nat_kelem), kelem_cmp);
	return 0;
}

static int read_rule(struct nat_kernel *k, const json_t *rule)
{
	const char *chain = json_string_value(json_object_get(rule, "chain"));
	const char *comment = json_string_value(json_object_get(rule, "comment"));
	for (int c = 0; chain && c < NAT_CHAINS; c++) {
		if (strcmp(chain, nat_chain_names[c]))
			continue;
		struct nat_buf b = { 0 };
		nat_buf_printf(&b, "%s%s%s", k->comments[c] ? k->comments[c] : "",
			       k->comments[c] && *k->comments[c] ? "," : "", comment ? comment : "?");
		if (b.oom)
			return -ENOMEM;
		free(k->comments[c]);
		k->comments[c] = b.p;
	}
	return 0;
}

int nat_kernel_read(struct nat_kernel *k, struct ctnet_err *err)
{
	_cleanup_free_ char *out = NULL;
	struct ctnet_err e2 = { 0 };
	json_error_t jerr;
	json_t *root, *items, *it;
	size_t i;
	int r;

	*k = (struct nat_kernel){ 0 };
	r = nat_nft_run("list table " NAT_TABLE, &out, &e2);
	if (r == -ENOENT)
		return 0; /* no table: k->table stays false */
	if (r < 0) {
		*err = e2;
		return r;
	}
	root = json_loads(out, 0, &jerr);
	if (!root)
		return ctnet_errf(err, EIO, "nftables: cannot parse JSON output: %s", jerr.text);
	k->table = true;
	for (int c = 0; c < NAT_CHAINS; c++)
		k->comments[c] = strdup("");
	items = json_object_get(root, "nftables");
	json_array_foreach(items, i, it) {
		const json_t *o;
		if ((o = json_object_get(it, "set")) || (o = json_object_get(it, "map"))) {
			const char *sn = json_string_value(json_object_get(o, "name"));
			int s = sn ? nat_set_index(sn) : -1;
			if (s >= 0 && (r = read_set(k, s, o, err)) < 0)
				break;
		} else if ((o = json_object_get(it, "chain"))) {
			const char *n = json_string_value(json_object_get(o, "name"));
			for (int c = 0; n && c < NAT_CHAINS; c++)
				if (!strcmp(n, nat_chain_names[c]))
					k->chain[c] = true;
		} else if ((o = json_object_get(it, "rule"))) {
			if ((r = read_rule(k, o)) < 0) {
				ctnet_err_sys(err, ENOMEM, "read nftables rules");
				break;
			}
		}
	}
	json_decref(root);
	if (r < 0)
		nat_kernel_free(k);
	return r < 0 ? r : 0;
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

const struct nat_kelem *nat_kernel_find(const struct nat_kernel *k, int set, const char *canon)
{
	struct nat_kelem key = { .canon = (char *)canon };
	if (!k->n[set])
		return NULL;
	return bsearch(&key, k->elems[set], k->n[set], sizeof(key), kelem_cmp);
}
