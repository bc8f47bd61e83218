/* SPDX-License-Identifier: MIT */
/*
 * The files ctnet reads back from its state dirs, through the real readers: an ipam lease
 * (ipam_show), a NAT container file (nat_list_containers), the NAT config
 * (nat_store_config_read) and a launcher record (record_read). The first byte picks the
 * reader; the rest is the file.
 */
#include "fuzz.h"
#include "ipam/ipam.h"
#include "nat/nat_int.h"
#include "out.h"
#include "tools/ctnet.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static void mkdirs(const char *const *subs)
{
	char p[256];
	for (; *subs; subs++) {
		snprintf(p, sizeof(p), "%s/%s", root, *subs);
		if (mkdir(p, 0755) < 0 && access(p, F_OK) < 0)
			abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const subs[] = { "state", "state/ipam", "state/ipam/addr",
		"state/ipam/lease", "state/ipam/pool", "state/nat", "state/nat/containers",
		"state/nat/ports", "run", "run/containers", NULL };
	char env[128];
	(void)argc;
	(void)argv;
	snprintf(root, sizeof(root), "/tmp/ctnet-fuzz.XXXXXX");
	if (!mkdtemp(root) || chmod(root, 0755) < 0)
		abort();
	mkdirs(subs);
	snprintf(env, sizeof(env), "%s/state", root);
	setenv("CTNET_STATE_DIR", env, 1);
	snprintf(env, sizeof(env), "%s/run", root);
	setenv("CTNET_RUN_DIR", env, 1);
	return 0;
}

static void put(const char *sub, const uint8_t *data, size_t size)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s/f", root, sub);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
}

/* The file put() wrote, under the name the reader looks for. */
static int rename_into(const char *sub, const char *name)
{
	char from[256], to[256];
	snprintf(from, sizeof(from), "%s/%s/f", root, sub);
	snprintf(to, sizeof(to), "%s/%s/%s", root, sub, name);
	return rename(from, to);
}

static int nat_cb(const struct nat_container *c, void *data)
{
	(void)data;
	FUZZ_ASSERT(c->addr.family == AF_INET && c->n_forwards <= NAT_MAX_FORWARDS);
	FUZZ_ASSERT(ctnet_ifname_check(c->iface, NULL) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctnet_err err;
	if (!size)
		return 0;
	switch (data[0] % 4) {
	case 0: {
		struct ipam_lease l;
		put("state/ipam/lease", data + 1, size - 1);
		if (ipam_show("f", &l, &err) == 0)
			FUZZ_ASSERT(!strcmp(l.name, "f") && l.local.family == AF_INET);
		break;
	}
	case 1:
		put("state/nat/containers", data + 1, size - 1);
		nat_list_containers(nat_cb, NULL, &err);
		break;
	case 3: {
		struct nat_store s;
		struct nat_config cfg;
		put("state/nat", data + 1, size - 1);
		if (rename_into("state/nat", "config") == 0 &&
		    nat_store_open(&s, false, false, &err) == 0) {
			if (nat_store_config_read(&s, &cfg, &err) == 0) {
				FUZZ_ASSERT(cfg.exists && cfg.n_ext <= NAT_MAX_EXT);
				for (size_t i = 0; i < cfg.n_ext; i++)
					FUZZ_ASSERT(ctnet_ifname_check(cfg.ext[i], NULL) == 0);
			}
			nat_store_close(&s);
		}
		break;
	}
	default: {
		static struct ct_record r;
		put("run/containers", data + 1, size - 1);
		if (record_read("f", &r, &err) == 0) {
			FUZZ_ASSERT(!strcmp(r.spec.name, "f") && r.spec.n_forwards <= NAT_MAX_FORWARDS);
			struct out o;
			struct out_piece piece;
			out_capture(&o, OUT_JSON);
			out_open_object(&o, NULL);
			record_out(&o, &r);
			out_close_object(&o);
			out_capture_end(&o, &piece);
			out_piece_free(&piece);
		}
		break;
	}
	}
	return 0;
}
