/* SPDX-License-Identifier: MIT */
/* What a runtime hands ctnet-cni: the environment, the network config; and error objects. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../ipam/ipam.h"
#include "cni.h"
#include "json.h"

static const char *const supported_versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };

int cni_code(struct cni_err *ce, unsigned code, int rc)
{
	if (!ce->code)
		ce->code = code;
	return rc;
}

int cni_errf(struct cni_err *ce, unsigned code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ce->e.msg, sizeof(ce->e.msg), fmt, ap);
	va_end(ap);
	ce->e.code = EINVAL;
	ce->code = code;
	return -EINVAL;
}

json_t *cni_err_json(const struct cni_err *ce, const char *version)
{
	json_t *o = json_object();
	ctnet_json_set_str(o, "cniVersion", version && *version ? version : CNI_VERSION_LATEST);
	json_object_set_new(o, "code", json_integer(ce->code ? ce->code : CNI_ERR_INTERNAL));
	json_object_set_new(o, "msg", json_string(ce->e.msg[0] ? ce->e.msg : "failed"));
	json_object_set_new(o, "details",
			    json_string(ce->e.code > 0 ? strerror(ce->e.code) : ""));
	return o;
}

int cni_version_num(const char *v)
{
	unsigned a, b, c;
	int n = 0;
	if (!v || sscanf(v, "%3u.%3u.%3u%n", &a, &b, &c, &n) != 3 || v[n] || a > 99 || b > 99 ||
	    c > 99)
		return -1;
	return (int)(a * 10000 + b * 100 + c);
}

static bool version_supported(const char *v)
{
	for (size_t i = 0; i < ARRAY_SIZE(supported_versions); i++)
		if (!strcmp(v, supported_versions[i]))
			return true;
	return false;
}

json_t *cni_version_json(const char *requested)
{
	json_t *o = json_object(), *list = json_array();
	ctnet_json_set_str(o, "cniVersion",
			    requested && version_supported(requested) ? requested : CNI_VERSION_LATEST);
	for (size_t i = 0; i < ARRAY_SIZE(supported_versions); i++)
		json_array_append_new(list, json_string(supported_versions[i]));
	json_object_set_new(o, "supportedVersions", list);
	return o;
}

static const char *const command_names[] = {
	[CNI_ADD] = "ADD", [CNI_DEL] = "DEL", [CNI_CHECK] = "CHECK",
	[CNI_VERSION] = "VERSION", [CNI_STATUS] = "STATUS", [CNI_GC] = "GC",
};

const char *cni_command_name(enum cni_command c)
{
	return command_names[c];
}

/* CNI_ARGS: "K=V;K=V" with printable keys and values; K8S_POD_NAME, K8S_POD_NAMESPACE, IP
 * and MAC are read, other keys ignored. */
/* KEY's value in "K=V;K=V" into out ("" when absent; cut at len - 1). */
static void args_value(const char *args, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	out[0] = '\0';
	for (const char *p = args; *p;) {
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			snprintf(out, len, "%.*s", (int)(n - klen - 1), p + klen + 1);
			return;
		}
		p += n + (end ? 1 : 0);
	}
}

static int args_check(const char *s, struct cni_err *ce)
{
	char shown[CTNET_SHOW_MAX];
	if (strlen(s) > CNI_ARGS_MAX)
		return cni_errf(ce, CNI_ERR_ENV, "CNI_ARGS: longer than %d bytes", CNI_ARGS_MAX);
	for (const char *p = s; *p;) {
		const char *end = strchr(p, ';'), *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p);
		eq = memchr(p, '=', n);
		if (!eq || eq == p)
			return cni_errf(ce, CNI_ERR_ENV, "CNI_ARGS \"%s\": expected KEY=VALUE;...",
					ctnet_show(s, shown));
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
				return cni_errf(ce, CNI_ERR_ENV,
						"CNI_ARGS \"%s\": control or non-ASCII byte",
						ctnet_show(s, shown));
		p += n + (end ? 1 : 0);
	}
	return 0;
}

static int env_missing(const char *var, const char *v, enum cni_command c, struct cni_err *ce)
{
	if (v && *v)
		return 0;
	return cni_errf(ce, CNI_ERR_ENV, "%s: missing (needed by %s)", var, cni_command_name(c));
}

int cni_env_read(struct cni_env *env, struct cni_err *ce)
{
	char shown[CTNET_SHOW_MAX];
	const char *cmd = getenv("CNI_COMMAND");
	size_t i;
	int rc;

	memset(env, 0, sizeof(*env));
	if (!cmd || !*cmd)
		return cni_errf(ce, CNI_ERR_ENV, "CNI_COMMAND: missing");
	for (i = 0; i < ARRAY_SIZE(command_names); i++)
		if (!strcmp(cmd, command_names[i]))
			break;
	if (i == ARRAY_SIZE(command_names))
		return cni_errf(ce, CNI_ERR_ENV, "CNI_COMMAND \"%s\": unknown command",
				ctnet_show(cmd, shown));
	env->command = (enum cni_command)i;
	env->container_id = getenv("CNI_CONTAINERID");
	env->netns = getenv("CNI_NETNS");
	env->ifname = getenv("CNI_IFNAME");
	env->args = getenv("CNI_ARGS");
	env->path = getenv("CNI_PATH");
	if (env->netns && !*env->netns)
		env->netns = NULL;
	if (env->args) {
		/* The names a user knows: podman and kubelet pass the container's (or pod's). */
		args_value(env->args, "K8S_POD_NAME", env->pod_name, sizeof(env->pod_name));
		args_value(env->args, "K8S_POD_NAMESPACE", env->pod_namespace, sizeof(env->pod_namespace));
		/* podman's --ip and --mac-address, and what its network reload asks again */
		args_value(env->args, "IP", env->ip, sizeof(env->ip));
		args_value(env->args, "MAC", env->mac, sizeof(env->mac));
	}
	if (env->args && (rc = args_check(env->args, ce)) < 0)
		return rc;
	if (env->command != CNI_ADD && env->command != CNI_DEL && env->command != CNI_CHECK)
		return 0;

	if ((rc = env_missing("CNI_CONTAINERID", env->container_id, env->command, ce)) < 0 ||
	    (rc = env_missing("CNI_IFNAME", env->ifname, env->command, ce)) < 0)
		return rc;
	if (env->command != CNI_DEL &&
	    (rc = env_missing("CNI_NETNS", env->netns, env->command, ce)) < 0)
		return rc;
	/* The spec's rule for container IDs; ctnet_name_check's is the same bar the length. */
	const char *id = env->container_id;
	bool ok = strlen(id) <= CNI_ID_MAX && ((id[0] >= 'a' && id[0] <= 'z') ||
					       (id[0] >= 'A' && id[0] <= 'Z') ||
					       (id[0] >= '0' && id[0] <= '9'));
	for (const char *p = id + 1; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		     (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-';
	if (!ok)
		return cni_errf(ce, CNI_ERR_ENV,
				"CNI_CONTAINERID \"%s\": must be [A-Za-z0-9][A-Za-z0-9_.-]*, at most %d bytes",
				ctnet_show(id, shown), CNI_ID_MAX);
	if (ctnet_ifname_check(env->ifname, &ce->e) < 0)
		return cni_code(ce, CNI_ERR_ENV, -EINVAL); /* the message names CNI_IFNAME's value */
	if (env->netns && (env->netns[0] != '/' || strlen(env->netns) >= PATH_MAX ||
			   strpbrk(env->netns, "\n\r")))
		return cni_errf(ce, CNI_ERR_ENV, "CNI_NETNS \"%s\": not an absolute path",
				ctnet_show(env->netns, shown));
	return 0;
}

/* --- the network config --- */

static int conf_bool(json_t *root, const char *key, bool def, bool *out, struct cni_err *ce)
{
	json_t *v = json_object_get(root, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"%s\" must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

static const char *conf_str(json_t *root, const char *key, bool required, struct cni_err *ce,
			    int *rc)
{
	json_t *v = json_object_get(root, key);
	*rc = 0;
	if (!v && !required)
		return NULL;
	if (!json_is_string(v)) {
		*rc = cni_errf(ce, CNI_ERR_CONFIG, "network config: \"%s\" %s", key,
			       v ? "must be a string" : "is missing");
		return NULL;
	}
	return json_string_value(v);
}

/*
 * A portMappings entry's member, its key matched without regard to case as Go's encoding/json
 * does: containerd 1.6's CRI plugin (go-cni) sends "HostPort", "ContainerPort", "Protocol",
 * "HostIP", which Debian's portmap plugin accepts. An exact match wins.
 */
static json_t *member(json_t *m, const char *key)
{
	json_t *v = json_object_get(m, key);
	const char *k;

	if (v)
		return v;
	json_object_foreach(m, k, v)
		if (!strcasecmp(k, key))
			return v;
	return NULL;
}

static int port_num(json_t *m, const char *key, bool required, long long *out, struct cni_err *ce)
{
	json_t *v = member(m, key);
	if (!v && !required) {
		*out = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
		return cni_errf(ce, CNI_ERR_CONFIG,
				"runtimeConfig.portMappings: \"%s\" must be a port 1-65535", key);
	*out = json_integer_value(v);
	return 0;
}

/* runtimeConfig.portMappings: [{hostPort, containerPort, protocol, hostIP}] */
static int conf_ports(json_t *root, struct cni_conf *c, struct cni_err *ce)
{
	char shown[CTNET_SHOW_MAX];
	json_t *rt = json_object_get(root, "runtimeConfig"), *pm, *m;
	size_t i;
	int rc;

	c->ports_stated = json_is_true(json_object_get(json_object_get(root, "capabilities"), "portMappings"));
	if (!rt)
		return 0;
	if (!json_is_object(rt))
		return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"runtimeConfig\" must be an object");
	pm = json_object_get(rt, "portMappings");
	c->ports_stated |= pm != NULL;
	if (!pm || json_is_null(pm))
		return 0;
	if (!json_is_array(pm))
		return cni_errf(ce, CNI_ERR_CONFIG, "runtimeConfig.portMappings must be an array");
	if (json_array_size(pm) > NAT_MAX_FORWARDS)
		return cni_errf(ce, CNI_ERR_CONFIG, "runtimeConfig.portMappings: more than %d",
				NAT_MAX_FORWARDS);
	json_array_foreach(pm, i, m) {
		struct cni_port p = { 0 };
		long long hp, cp;
		const char *proto = "tcp", *hip = NULL;
		json_t *v;

		if (!json_is_object(m))
			return cni_errf(ce, CNI_ERR_CONFIG, "runtimeConfig.portMappings[%zu]: not an object", i);
		if ((rc = port_num(m, "hostPort", true, &hp, ce)) < 0 ||
		    (rc = port_num(m, "containerPort", true, &cp, ce)) < 0)
			return rc;
		if ((v = member(m, "protocol")) && !json_is_null(v)) {
			if (!json_is_string(v))
				return cni_errf(ce, CNI_ERR_CONFIG, "runtimeConfig.portMappings[%zu]: \"protocol\" must be a string", i);
			proto = json_string_value(v);
		}
		if (strcasecmp(proto, "tcp") && strcasecmp(proto, "udp"))
			return cni_errf(ce, CNI_ERR_CONFIG,
					"runtimeConfig.portMappings[%zu]: protocol \"%s\": only tcp and udp",
					i, ctnet_show(proto, shown));
		snprintf(p.spec, sizeof(p.spec), "%s:%lld:%lld", strcasecmp(proto, "tcp") ? "udp" : "tcp",
			 hp, cp);
		if (nat_forward_parse(p.spec, &p.fwd, &ce->e) < 0)
			return cni_code(ce, CNI_ERR_CONFIG, -EINVAL);
		if ((v = member(m, "hostIP")) && !json_is_null(v)) {
			if (!json_is_string(v))
				return cni_errf(ce, CNI_ERR_CONFIG, "runtimeConfig.portMappings[%zu]: \"hostIP\" must be a string", i);
			hip = json_string_value(v);
		}
		if (hip && *hip && strcmp(hip, "0.0.0.0") && strcmp(hip, "::")) {
			if (ctnet_addr_parse(hip, 0, CTNET_ADDR_NOPREFIX, "hostIP", &p.fwd.host_ip,
					     &ce->e) < 0)
				return cni_code(ce, CNI_ERR_CONFIG, -EINVAL);
			p.fwd.has_host_ip = true;
		}
		/* Runtimes repeat identical mappings (one per pod IP family): keep one. */
		bool dup = false;
		for (size_t j = 0; j < c->n_ports; j++)
			dup |= !memcmp(&c->ports[j].fwd, &p.fwd, sizeof(p.fwd));
		if (!dup)
			c->ports[c->n_ports++] = p;
	}
	return 0;
}

/* runtimeConfig.ips (one address, a prefix allowed and not used) and runtimeConfig.mac: the
 * "ips" and "mac" capabilities. Checked against the subnet when the spec is made. */
static int conf_statics(json_t *root, struct cni_conf *c, struct cni_err *ce)
{
	char shown[CTNET_SHOW_MAX];
	json_t *rt = json_object_get(root, "runtimeConfig"), *ips, *v;
	size_t i;

	ips = json_object_get(rt, "ips");
	if (ips && !json_is_null(ips) && !json_is_array(ips))
		return cni_errf(ce, CNI_ERR_CONFIG, "runtimeConfig.ips must be an array");
	json_array_foreach(ips, i, v) {
		struct ctnet_addr a;
		if (!json_is_string(v))
			return cni_errf(ce, CNI_ERR_CONFIG, "runtimeConfig.ips[%zu]: not a string", i);
		if (ctnet_addr_parse(json_string_value(v), 0, CTNET_ADDR_PREFIX_OK, "runtimeConfig.ips", &a,
				     &ce->e) < 0)
			return cni_code(ce, CNI_ERR_CONFIG, -EINVAL);
		/* podman's reload repeats an address given with --ip (its own and the current) */
		if (c->has_ip && ctnet_addr_equal(&a, &c->ip))
			continue;
		if (c->has_ip)
			return cni_errf(ce, CNI_ERR_CONFIG,
					"runtimeConfig.ips: more than one address (ctnet-cni gives one)");
		c->ip = a;
		c->has_ip = true;
	}
	v = json_object_get(rt, "mac");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof(c->mac))
			return cni_errf(ce, CNI_ERR_CONFIG, "runtimeConfig.mac \"%s\": not a MAC",
					ctnet_show(json_is_string(v) ? json_string_value(v) : "?", shown));
		snprintf(c->mac, sizeof(c->mac), "%s", json_string_value(v));
	}
	return 0;
}

/*
 * "stateDir" and "runDir": ctnet's state dirs for this network. Runtimes do not pass a plugin's
 * environment reliably (podman's cleanup runs DEL without it), so the config wins over
 * CTNET_STATE_DIR/CTNET_RUN_DIR: it is put into this process's environment, which lib/state.c
 * reads. ctnet_dir_open() checks ownership and modes when the dirs are used.
 */
static int conf_dir(json_t *root, const char *key, const char *var, struct cni_err *ce)
{
	char shown[CTNET_SHOW_MAX];
	const char *s;
	int rc;

	s = conf_str(root, key, false, ce, &rc);
	if (rc < 0 || !s)
		return rc;
	if (s[0] != '/' || strlen(s) >= PATH_MAX - 64 || strpbrk(s, "\n\r"))
		return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"%s\" \"%s\": not an absolute path",
				key, ctnet_show(s, shown));
	if (setenv(var, s, 1) < 0)
		return cni_errf(ce, CNI_ERR_INTERNAL, "network config: \"%s\": %s", key, strerror(errno));
	return 0;
}

/* The network's name and type, ctnet's directories; no delegated IPAM. */
static int conf_identity(json_t *root, struct cni_conf *c, struct cni_err *ce)
{
	char shown[CTNET_SHOW_MAX];
	const char *s;
	int rc;

	s = conf_str(root, "name", true, ce, &rc);
	if (rc < 0)
		return rc;
	if (ctnet_name_check(s, &ce->e) < 0)
		return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"name\" \"%s\": must be [A-Za-z0-9][A-Za-z0-9_.-]*, at most %d bytes",
				ctnet_show(s, shown), CTNET_NAME_MAX);
	snprintf(c->name, sizeof(c->name), "%s", s);
	conf_str(root, "type", true, ce, &rc);
	if (rc < 0)
		return rc;
	if ((rc = conf_dir(root, "stateDir", "CTNET_STATE_DIR", ce)) < 0 ||
	    (rc = conf_dir(root, "runDir", "CTNET_RUN_DIR", ce)) < 0)
		return rc;
	return 0;
}

/* GC: the attachments still valid ("cni.dev/valid-attachments"). */
static int conf_valid_attachments(json_t *root, struct cni_conf *c, struct cni_err *ce)
{
	size_t i;
	json_t *a, *v;

	v = json_object_get(root, "cni.dev/valid-attachments");
	if (!json_is_array(v))
		return cni_errf(ce, CNI_ERR_CONFIG,
				"network config: GC needs \"cni.dev/valid-attachments\" (an array)");
	json_array_foreach(v, i, a) {
		if (!json_is_string(json_object_get(a, "containerID")) ||
		    !json_is_string(json_object_get(a, "ifname")))
			return cni_errf(ce, CNI_ERR_CONFIG,
					"cni.dev/valid-attachments[%zu]: needs \"containerID\" and \"ifname\" strings", i);
	}
	c->valid = v;
	return 0;
}

static int conf_fields(json_t *root, enum cni_command command, const struct ctnet_hostconf *hc,
		       struct cni_conf *c, struct cni_err *ce)
{
	json_t *v;
	int rc;

	if ((rc = conf_identity(root, c, ce)) < 0 || (rc = cni_conf_subnet(root, hc, c, ce)) < 0 ||
	    (rc = cni_conf_cluster(root, hc, c, ce)) < 0)
		return rc;
	if ((rc = conf_bool(root, "ipMasq", true, &c->ip_masq, ce)) < 0 ||
	    (rc = conf_bool(root, "ipv6", false, &c->ipv6, ce)) < 0)
		return rc;
	if ((v = json_object_get(root, "mtu")) && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 68 || json_integer_value(v) > 65535)
			return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"mtu\" must be 68-65535");
		c->mtu = (unsigned)json_integer_value(v);
	}
	if ((v = json_object_get(root, "dns")) && !json_is_null(v)) {
		if (!json_is_object(v))
			return cni_errf(ce, CNI_ERR_CONFIG, "network config: \"dns\" must be an object");
		c->dns = v;
	}
	if ((v = json_object_get(root, "prevResult")) && !json_is_null(v)) {
		if (!json_is_object(v))
			return cni_errf(ce, CNI_ERR_DECODE, "network config: \"prevResult\" must be an object");
		c->prev_result = v;
	}
	/* DEL needs no port mappings (the record has them) and must not fail on them: a DEL
	 * refused here would leave the attachment behind for good. */
	if (command == CNI_DEL) {
		struct cni_err ignored = { 0 };
		if (conf_ports(root, c, &ignored) < 0)
			c->n_ports = 0;
	} else if ((rc = conf_ports(root, c, ce)) < 0 || (rc = conf_statics(root, c, ce)) < 0) {
		return rc;
	}
	if (c->n_ports && !c->ip_masq)
		return cni_errf(ce, CNI_ERR_CONFIG,
				"network config: portMappings need \"ipMasq\": true (ctnet NATs both ways)");
	if (command == CNI_GC)
		return conf_valid_attachments(root, c, ce);
	return 0;
}

int cni_conf_parse(const char *text, size_t len, enum cni_command command,
		   const struct ctnet_hostconf *hc, struct cni_conf *c, struct cni_err *ce)
{
	char shown[CTNET_SHOW_MAX];
	json_error_t jerr;
	json_t *root;
	const char *ver;
	int rc;

	memset(c, 0, sizeof(*c));
	c->hc = hc;
	if (command == CNI_VERSION && strspn(text, " \t\r\n") == len)
		return 0;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return cni_errf(ce, CNI_ERR_DECODE, "network config: malformed JSON at line %d: %.80s",
				jerr.line, jerr.text);
	c->root = root;
	if (!json_is_object(root))
		return cni_errf(ce, CNI_ERR_DECODE, "network config: not a JSON object");
	ver = conf_str(root, "cniVersion", command != CNI_VERSION, ce, &rc);
	if (rc < 0)
		return rc;
	if (command == CNI_VERSION) {
		if (ver && strlen(ver) < sizeof(c->version))
			snprintf(c->version, sizeof(c->version), "%s", ver);
		return 0;
	}
	if (!version_supported(ver))
		return cni_errf(ce, CNI_ERR_VERSION,
				"network config: cniVersion \"%s\" not supported (0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)",
				ctnet_show(ver, shown));
	snprintf(c->version, sizeof(c->version), "%s", ver);
	c->version_num = cni_version_num(ver);
	/* As libcni's skel: a command newer than the config's version is refused. */
	if ((command == CNI_CHECK && c->version_num < 400) ||
	    ((command == CNI_STATUS || command == CNI_GC) && c->version_num < 10100))
		return cni_errf(ce, CNI_ERR_VERSION, "network config: cniVersion %s does not allow %s",
				ver, cni_command_name(command));
	return conf_fields(root, command, hc, c, ce);
}

void cni_conf_free(struct cni_conf *c)
{
	json_decref(c->root);
	c->root = NULL;
}
