/* SPDX-License-Identifier: MIT */
/* ctnet oci-hook up|down: the OCI runtime state JSON on stdin (createRuntime / poststop). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ctnet.h"
#include "json.h"

#define OCI_STATE_MAX (1 << 20)

/* Annotations ctnet reads; everything else in the state is ignored. */
static int apply_annotations(json_t *ann, struct ct_spec *s, struct ctnet_err *err)
{
	const char *key;
	json_t *v;

	if (!ann)
		return 0;
	if (!json_is_object(ann))
		return ctnet_errf(err, EINVAL, "OCI state: \"annotations\" is not an object");
	json_object_foreach(ann, key, v) {
		const char *val = json_string_value(v);
		int rc = 0;
		if (strncmp(key, "ctnet.", 6))
			continue;
		if (!val)
			return ctnet_errf(err, EINVAL, "OCI annotation \"%.40s\": not a string", key);
		if (!strcmp(key, "ctnet.forward")) {
			char buf[1024];
			if (strlen(val) >= sizeof(buf))
				return ctnet_errf(err, E2BIG, "OCI annotation ctnet.forward: too long");
			snprintf(buf, sizeof(buf), "%s", val);
			for (char *save = NULL, *p = strtok_r(buf, ",", &save); p && rc == 0;
			     p = strtok_r(NULL, ",", &save))
				rc = ct_spec_add_forward(s, p, err);
		} else if (!strcmp(key, "ctnet.ipv6")) {
			s->ipv6 = !strcmp(val, "true") || !strcmp(val, "1");
		} else if (!strcmp(key, "ctnet.bridge")) {
			if ((rc = ctnet_ifname_check(val, err)) == 0)
				snprintf(s->bridge, sizeof(s->bridge), "%s", val);
		} else if (!strcmp(key, "ctnet.pool")) {
			rc = ctnet_cidr_parse(val, "pool", &s->pool, err);
			s->has_pool = rc == 0;
		} else if (!strcmp(key, "ctnet.delay") || !strcmp(key, "ctnet.jitter") ||
			   !strcmp(key, "ctnet.loss") || !strcmp(key, "ctnet.rate")) {
			rc = ct_spec_set_impair(s, key + 6, val, err);
		} else if (!strcmp(key, "ctnet.extra-veth")) {
			char buf[1024];
			if (strlen(val) >= sizeof(buf))
				return ctnet_errf(err, E2BIG, "OCI annotation ctnet.extra-veth: too long");
			snprintf(buf, sizeof(buf), "%s", val);
			for (char *save = NULL, *p = strtok_r(buf, ";", &save); p && rc == 0;
			     p = strtok_r(NULL, ";", &save))
				rc = ct_spec_add_extra_veth(s, p, err);
		} else if (!strcmp(key, "ctnet.host-address")) {
			rc = ctnet_addr_parse(val, AF_INET, CTNET_ADDR_PREFIX_OK, "host address", &s->host, err);
		} else if (!strcmp(key, "ctnet.local-address")) {
			rc = ctnet_addr_parse(val, AF_INET, CTNET_ADDR_PREFIX_OK, "local address", &s->local, err);
		} else {
			char shown[CTNET_SHOW_MAX];
			return ctnet_errf(err, EINVAL, "OCI annotation \"%s\": unknown ctnet option",
					  ctnet_show(key, shown));
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Reads and checks the state document; fills the spec (pid for up). */
int oci_parse_state(const char *text, size_t len, bool need_pid, struct ct_spec *s,
		    struct ctnet_err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *id, *pid;
	int rc;

	ct_spec_init(s, NULL);
	if (!root)
		return ctnet_errf(err, EINVAL, "OCI state: malformed JSON at line %d: %.80s", jerr.line,
				  jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return ctnet_errf(err, EINVAL, "OCI state: not a JSON object");
	}
	id = json_object_get(root, "id");
	if (!json_is_string(id)) {
		json_decref(root);
		return ctnet_errf(err, EINVAL, "OCI state: missing \"id\"");
	}
	rc = ctnet_name_check(json_string_value(id), err);
	if (rc == 0) {
		snprintf(s->name, sizeof(s->name), "%s", json_string_value(id));
		snprintf(s->origin, sizeof(s->origin), "oci");
		snprintf(s->runtime_id, sizeof(s->runtime_id), "%s", json_string_value(id));
	}
	if (rc == 0 && need_pid) {
		pid = json_object_get(root, "pid");
		if (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
		    json_integer_value(pid) > 4194304) {
			rc = ctnet_errf(err, EINVAL, "OCI state: missing or invalid \"pid\"");
		} else {
			s->netns_kind = CT_NETNS_PID;
			s->pid = (pid_t)json_integer_value(pid);
		}
	}
	if (rc == 0)
		rc = apply_annotations(json_object_get(root, "annotations"), s, err);
	json_decref(root);
	return rc;
}

int cmd_oci_hook(struct ctnet_kern *kern, int argc, char **argv)
{
	_cleanup_free_ char *buf = NULL; /* the state as read from stdin: the hook's, no static */
	static struct ct_spec spec;
	static struct ct_record rec;
	struct ctnet_err err;
	bool up;
	size_t len = 0;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: ctnet oci-hook up|down   (OCI runtime state JSON on stdin)\n"
		       "As a createRuntime hook, `up` brings up the network of container \"id\" in the\n"
		       "namespace of \"pid\"; as a poststop hook, `down` removes it. Annotations:\n"
		       "ctnet.forward=tcp:8080:80[,...], ctnet.ipv6=true, ctnet.bridge=BR, ctnet.pool=CIDR,\n"
		       "ctnet.host-address=A, ctnet.local-address=B, ctnet.delay/jitter/loss/rate=VALUE,\n"
		       "ctnet.extra-veth=SPEC[;SPEC...].\n");
		return 0;
	}
	if (argc != 2 || (strcmp(argv[1], "up") && strcmp(argv[1], "down")))
		return ctnet_cli_usage("oci-hook: expected up or down");
	up = !strcmp(argv[1], "up");
	if (!(buf = malloc(OCI_STATE_MAX + 1))) {
		ctnet_errf(&err, ENOMEM, "OCI state: out of memory");
		return ctnet_cli_fail(&err);
	}
	while (len < OCI_STATE_MAX) {
		size_t n = fread(buf + len, 1, OCI_STATE_MAX - len, stdin);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(stdin) || (len == OCI_STATE_MAX && fgetc(stdin) != EOF)) {
		ctnet_errf(&err, EINVAL, "OCI state: unreadable or larger than %d bytes", OCI_STATE_MAX);
		return ctnet_cli_fail(&err);
	}
	if (oci_parse_state(buf, len, up, &spec, &err) < 0)
		return ctnet_cli_fail(&err);
	if (up && up_host(kern, &spec, &err) < 0)
		return ctnet_cli_fail(&err);
	if ((up ? ct_up(kern, &spec, &rec, NULL, &err) : ct_down(kern, spec.name, false, NULL, &err)) < 0)
		return ctnet_cli_fail(&err);
	return 0;
}
