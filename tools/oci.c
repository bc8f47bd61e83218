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
static int apply_annotations(json_t *ann, struct up_opts *o, char *fwbuf, size_t fwlen,
			     struct ctnet_err *err)
{
	const char *key;
	json_t *v;

	if (!ann)
		return 0;
	if (!json_is_object(ann))
		return ctnet_errf(err, EINVAL, "OCI state: \"annotations\" is not an object");
	json_object_foreach(ann, key, v) {
		const char *s = json_string_value(v);
		if (strncmp(key, "ctnet.", 6))
			continue;
		if (!s)
			return ctnet_errf(err, EINVAL, "OCI annotation \"%.40s\": not a string", key);
		if (!strcmp(key, "ctnet.forward")) {
			if (strlen(s) >= fwlen)
				return ctnet_errf(err, E2BIG, "OCI annotation ctnet.forward: too long");
			snprintf(fwbuf, fwlen, "%s", s);
			for (char *save = NULL, *p = strtok_r(fwbuf, ",", &save); p;
			     p = strtok_r(NULL, ",", &save)) {
				if (o->n_forwards >= NAT_MAX_FORWARDS)
					return ctnet_errf(err, E2BIG, "OCI annotation ctnet.forward: too many");
				o->forwards[o->n_forwards++] = p;
			}
		} else if (!strcmp(key, "ctnet.ipv6")) {
			o->ipv6 = !strcmp(s, "true") || !strcmp(s, "1");
		} else if (!strcmp(key, "ctnet.bridge")) {
			o->bridge = s;
		} else if (!strcmp(key, "ctnet.pool")) {
			o->pool = s;
		} else if (!strcmp(key, "ctnet.host-address")) {
			o->host_address = s;
		} else if (!strcmp(key, "ctnet.local-address")) {
			o->local_address = s;
		} else {
			char shown[CTNET_SHOW_MAX];
			return ctnet_errf(err, EINVAL, "OCI annotation \"%s\": unknown ctnet option",
					  ctnet_show(key, shown));
		}
	}
	return 0;
}

/* Reads and checks the state document; fills id (and pid for up). */
int oci_parse_state(const char *text, size_t len, bool need_pid, struct up_opts *o,
		    char *fwbuf, size_t fwlen, json_t **keep, struct ctnet_err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *id, *pid;
	int rc;

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
	o->name = json_string_value(id);
	rc = ctnet_name_check(o->name, err);
	if (rc == 0 && need_pid) {
		pid = json_object_get(root, "pid");
		if (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
		    json_integer_value(pid) > 4194304)
			rc = ctnet_errf(err, EINVAL, "OCI state: missing or invalid \"pid\"");
		else
			o->pid = (pid_t)json_integer_value(pid);
	}
	if (rc == 0)
		rc = apply_annotations(json_object_get(root, "annotations"), o, fwbuf, fwlen, err);
	if (rc < 0) {
		json_decref(root);
		return rc;
	}
	*keep = root; /* o points into it */
	return 0;
}

int cmd_oci_hook(int argc, char **argv)
{
	static char buf[OCI_STATE_MAX + 1];
	char fwbuf[1024];
	struct up_opts o = { .netns_fd = -1 };
	struct ct_record rec;
	struct ctnet_err err;
	json_t *root = NULL;
	bool up;
	size_t len = 0;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: ctnet oci-hook up|down   (OCI runtime state JSON on stdin)\n"
		       "As a createRuntime hook, `up` brings up the network of container \"id\" in the\n"
		       "namespace of \"pid\"; as a poststop hook, `down` removes it. Annotations:\n"
		       "ctnet.forward=tcp:8080:80[,...], ctnet.ipv6=true, ctnet.bridge=BR, ctnet.pool=CIDR,\n"
		       "ctnet.host-address=A, ctnet.local-address=B.\n");
		return 0;
	}
	if (argc != 2 || (strcmp(argv[1], "up") && strcmp(argv[1], "down")))
		return ctnet_cli_usage("oci-hook: expected up or down");
	up = !strcmp(argv[1], "up");
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
	if (oci_parse_state(buf, len, up, &o, fwbuf, sizeof(fwbuf), &root, &err) < 0)
		return ctnet_cli_fail(&err);
	int rc = up ? ct_up(&o, &rec, &err) : ct_down(o.name, false, NULL, &err);
	json_decref(root);
	if (rc < 0)
		return ctnet_cli_fail(&err);
	return 0;
}
