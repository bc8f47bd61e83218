/* SPDX-License-Identifier: MIT */
/* ctnet-cni: the CNI plugin's entry point. Environment and stdin in, result or the spec's
 * error object out (stdout), one line for humans on stderr; exit 0 or 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "cli.h"
#include "cni.h"
#include "json.h"

static void usage(void)
{
	printf("Usage: ctnet-cni   (a CNI plugin: CNI_COMMAND and friends in the environment,\n"
	       "                   the network config on stdin, the result on stdout)\n"
	       "Commands: ADD DEL CHECK VERSION (CNI 0.3.0-1.0.0), STATUS GC (CNI 1.1.0).\n"
	       "Network config: {\"cniVersion\":\"1.0.0\",\"name\":\"ctnet\",\"type\":\"ctnet-cni\",\n"
	       "  \"subnet\":\"10.233.0.0/16\",\"ipMasq\":true,\"bridge\":\"BR\",\"ipv6\":false,\"mtu\":1500}\n"
	       "and the portMappings capability (runtimeConfig.portMappings).\n"
	       "State: $CTNET_STATE_DIR (/var/lib/ctnet), $CTNET_RUN_DIR (/run/ctnet); see ctnet-cni(8).\n");
}

/* Bounded read of stdin; -EFBIG past CNI_CONF_MAX. */
static int read_stdin(char *buf, size_t *len)
{
	size_t n;
	*len = 0;
	while (*len < CNI_CONF_MAX && (n = fread(buf + *len, 1, CNI_CONF_MAX - *len, stdin)) > 0)
		*len += n;
	if (ferror(stdin))
		return -EIO;
	if (*len == CNI_CONF_MAX && fgetc(stdin) != EOF)
		return -EFBIG;
	buf[*len] = '\0';
	return 0;
}

/* Errors carry the config's cniVersion when it has a usable one. */
static const char *error_version(const struct cni_conf *conf, const char *text, size_t len,
				 char *buf, size_t buflen)
{
	json_t *root;
	const char *v;

	if (conf->version[0] && cni_version_num(conf->version) > 0)
		return conf->version;
	root = json_loadb(text, len, 0, NULL);
	v = json_string_value(json_object_get(root, "cniVersion"));
	if (v && cni_version_num(v) > 0 && strlen(v) < buflen) {
		snprintf(buf, buflen, "%s", v);
		v = buf;
	} else {
		v = NULL;
	}
	json_decref(root);
	return v;
}

int main(int argc, char **argv)
{
	static char text[CNI_CONF_MAX + 1];
	struct cni_conf conf = { 0 };
	struct cni_err ce = { 0 };
	struct cni_env env;
	struct ctnet_hostconf hc;
	json_t *result = NULL;
	char vbuf[16];
	size_t len = 0;
	unsigned removed;
	struct ctnet_kern kernel, *kern = &kernel;
	int rc;

	ctnet_kern_init(kern);
	ctnet_prog = "ctnet-cni";
	if (argc > 1) {
		if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
			return usage(), 0;
		if (!strcmp(argv[1], "--version"))
			return ctnet_cli_version();
		return ctnet_cli_usage("takes no arguments (CNI_COMMAND selects the command)");
	}
	rc = ctnet_caps_limit(CTNET_CAP_NET_ADMIN | CTNET_CAP_SYS_ADMIN | CTNET_CAP_SYS_PTRACE,
			      &ce.e);
	if (rc < 0) {
		cni_code(&ce, CNI_ERR_INTERNAL, rc);
		goto fail;
	}
	rc = read_stdin(text, &len);
	if (rc < 0) {
		rc = cni_errf(&ce, CNI_ERR_IO, "network config on stdin: %s",
			      rc == -EFBIG ? "larger than 1 MiB" : "unreadable");
		goto fail;
	}
	if ((rc = cni_env_read(&env, &ce)) < 0)
		goto fail;
	/* The host config once, at the edge; VERSION works without it. */
	if (env.command != CNI_VERSION && (rc = ctnet_hostconf_load(&hc, &ce.e)) < 0) {
		cni_code(&ce, CNI_ERR_CONFIG, rc);
		goto fail;
	}
	if ((rc = cni_conf_parse(text, len, env.command, &hc, &conf, &ce)) < 0)
		goto fail;

	switch (env.command) {
	case CNI_VERSION:
		result = cni_version_json(conf.version[0] ? conf.version : NULL);
		break;
	case CNI_ADD: rc = cni_add(kern, &env, &conf, &result, &ce); break;
	case CNI_DEL: rc = cni_del(kern, &env, &conf, &ce); break;
	case CNI_CHECK: rc = cni_check(kern, &env, &conf, &ce); break;
	case CNI_GC: rc = cni_gc(kern, &conf, &removed, &ce); break;
	case CNI_STATUS: rc = cni_status(kern, &conf, &ce); break;
	}
	if (rc < 0)
		goto fail;
	if (result && ctnet_json_print(stdout, result) < 0) {
		result = NULL;
		rc = cni_errf(&ce, CNI_ERR_IO, "write the result: %s", strerror(EIO));
		goto fail;
	}
	cni_conf_free(&conf);
	rc = fflush(stdout) == 0 ? 0 : CTNET_EXIT_FAIL;
	nat_release(kern, true);
	return rc;
fail:
	json_decref(result);
	ctnet_json_print(stdout, cni_err_json(&ce, error_version(&conf, text, len, vbuf, sizeof(vbuf))));
	ctnet_cli_fail(&ce.e);
	cni_conf_free(&conf);
	nat_release(kern, true);
	return CTNET_EXIT_FAIL;
}
