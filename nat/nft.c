/* SPDX-License-Identifier: MIT */
/*
 * The only file that talks to libnftables. It is loaded with dlopen() the first time a
 * table has to be created or rebuilt: the everyday path (element batches, netlink reads)
 * never needs it, and linking it (with libnftnl, libxtables and libgmp behind it) cost every
 * ctnet process ~0.4 ms of loader time before main(), a sixth of a whole `ctnet up`.
 */
#include "nat_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Buffered output and errors (libnftables never prints), no include paths. libnftables
 * 1.0.6 has no switch to turn DNS off on input; we only ever pass numeric addresses and
 * ports and quoted interface names, so it never resolves anything.
 */
#define NFT_SONAME "libnftables.so.1"

/* The six entry points we use, typed from the library's own header. */
static struct {
	void *handle;
	__typeof__(nft_ctx_new) *ctx_new;
	__typeof__(nft_ctx_free) *ctx_free;
	__typeof__(nft_ctx_clear_include_paths) *clear_include_paths;
	__typeof__(nft_ctx_buffer_output) *buffer_output;
	__typeof__(nft_ctx_buffer_error) *buffer_error;
	__typeof__(nft_ctx_get_output_buffer) *get_output_buffer;
	__typeof__(nft_ctx_get_error_buffer) *get_error_buffer;
	__typeof__(nft_run_cmd_from_buffer) *run_cmd_from_buffer;
} lib;

static int lib_load(struct ctnet_err *err)
{
	void *h;
	const char *why;

	if (lib.handle)
		return 0;
	h = dlopen(NFT_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return ctnet_errf(err, ENOENT, "nftables: cannot load %s (%s); install libnftables1",
				  NFT_SONAME, (why = dlerror()) ? why : "not found");
#define SYM(field, name)                                                                      \
	do {                                                                                  \
		*(void **)&lib.field = dlsym(h, name);                                        \
		if (!lib.field) {                                                             \
			dlclose(h);                                                           \
			return ctnet_errf(err, ENOSYS, "nftables: %s has no %s", NFT_SONAME,  \
					  name);                                              \
		}                                                                             \
	} while (0)
	SYM(ctx_new, "nft_ctx_new");
	SYM(ctx_free, "nft_ctx_free");
	SYM(clear_include_paths, "nft_ctx_clear_include_paths");
	SYM(buffer_output, "nft_ctx_buffer_output");
	SYM(buffer_error, "nft_ctx_buffer_error");
	SYM(get_output_buffer, "nft_ctx_get_output_buffer");
	SYM(get_error_buffer, "nft_ctx_get_error_buffer");
	SYM(run_cmd_from_buffer, "nft_run_cmd_from_buffer");
#undef SYM
	lib.handle = h;
	return 0;
}

static struct nft_ctx *ctx_new(struct ctnet_err *err)
{
	struct nft_ctx *ctx;

	if (lib_load(err) < 0)
		return NULL;
	ctx = lib.ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		ctnet_errf(err, ENOMEM, "nftables: cannot create a context");
		return NULL;
	}
	lib.clear_include_paths(ctx);
	if (lib.buffer_output(ctx) || lib.buffer_error(ctx)) {
		lib.ctx_free(ctx);
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

static void ctx_free(void *ctx)
{
	lib.ctx_free(ctx);
}

/* One context per kernel connection (struct ctnet_kern): creating one costs more than a
 * small transaction, and keeping its socket open lets nat_release() decide how it is closed. */
int nat_nft_run(struct ctnet_kern *kern, const char *cmds, struct ctnet_err *err)
{
	char why[300];
	int r = 0;

	if (kern->pid != getpid())
		ctnet_kern_forked(kern);
	if (!kern->nft) {
		if (!(kern->nft = ctx_new(err)))
			return err->code ? -err->code : -ENOMEM;
		kern->nft_free = ctx_free;
	}
	if (lib.run_cmd_from_buffer(kern->nft, cmds) != 0) {
		first_error(lib.get_error_buffer(kern->nft), why, sizeof(why));
		r = ctnet_errf(err, error_code(why), "nftables table \"%s\": %s", NAT_TABLE, why);
	} else if (strstr(cmds, "delete ") || strstr(cmds, "flush ")) {
		kern->nf_deleted = true;
	}
	/* Reading a buffer rewinds it: leave both empty for the next command. */
	(void)lib.get_output_buffer(kern->nft);
	(void)lib.get_error_buffer(kern->nft);
	return r;
}
