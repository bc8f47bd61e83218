/* SPDX-License-Identifier: MIT */
/* Container records: $CTNET_RUN_DIR/containers/NAME, KEY=VALUE lines an admin can `cat`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctnet.h"
#include "json.h"
#include "state.h"

#define RECORD_MAX 16384

int record_dir(bool create, struct ctnet_err *err)
{
	return ctnet_dir_open(ctnet_run_dir(), "containers", create, err);
}

int record_lock(const char *name, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = record_dir(true, err);
	if (dfd < 0)
		return dfd;
	return ctnet_entry_lock(dfd, name, err);
}

int record_busy(const char *name)
{
	_cleanup_close_ int dfd = record_dir(false, NULL);
	return dfd < 0 ? 0 : ctnet_entry_busy(dfd, name);
}

static void put_addr(char **p, size_t *left, const char *key, const struct ctnet_addr *a)
{
	char buf[CTNET_ADDR_STRLEN];
	if (!a->family)
		return;
	int n = snprintf(*p, *left, "%s=%s\n", key, ctnet_addr_cidr_str(a, buf));
	if (n > 0 && (size_t)n < *left) {
		*p += n;
		*left -= (size_t)n;
	}
}

#define PUT(...)                                                                       \
	do {                                                                           \
		int n_ = snprintf(p, left, __VA_ARGS__);                               \
		if (n_ > 0 && (size_t)n_ < left) {                                     \
			p += n_;                                                       \
			left -= (size_t)n_;                                            \
		}                                                                      \
	} while (0)

int record_write(const struct ct_record *r, struct ctnet_err *err)
{
	char buf[RECORD_MAX], *p = buf;
	size_t left = sizeof(buf);
	_cleanup_close_ int dfd = record_dir(true, err);
	if (dfd < 0)
		return dfd;

	PUT("NAME=%s\nMODE=%s\n", r->name, r->shared ? "shared" : "private");
	if (r->netns[0])
		PUT("NETNS=%s\n", r->netns);
	if (r->pid)
		PUT("PID=%ld\n", (long)r->pid);
	if (r->ns_ino)
		PUT("NETNS_ID=%llu:%llu\n", r->ns_dev, r->ns_ino);
	if (r->created_netns)
		PUT("CREATED_NETNS=1\n");
	if (r->host_ifname[0])
		PUT("HOST_IFNAME=%s\n", r->host_ifname);
	if (r->ifname[0])
		PUT("IFNAME=%s\n", r->ifname);
	if (r->bridge[0])
		PUT("BRIDGE=%s\n", r->bridge);
	if (r->mac[0])
		PUT("MAC=%s\n", r->mac);
	if (r->mtu)
		PUT("MTU=%u\n", r->mtu);
	put_addr(&p, &left, "HOST_ADDRESS", &r->host);
	put_addr(&p, &left, "LOCAL_ADDRESS", &r->local);
	put_addr(&p, &left, "HOST_ADDRESS6", &r->host6);
	put_addr(&p, &left, "LOCAL_ADDRESS6", &r->local6);
	if (r->lease)
		PUT("LEASE=1\n");
	if (r->no_nat)
		PUT("NO_NAT=1\n");
	if (r->pending)
		PUT("PENDING=1\n");
	for (size_t i = 0; i < r->n_interfaces; i++)
		PUT("INTERFACE=%s\n", r->interfaces[i]);
	for (size_t i = 0; i < r->n_macvlans; i++)
		PUT("MACVLAN=%s\n", r->macvlans[i]);
	for (size_t i = 0; i < r->n_forwards; i++) {
		char fw[64], ip[CTNET_ADDR_STRLEN];
		nat_forward_str(&r->forwards[i], fw, sizeof(fw));
		if (r->forwards[i].has_host_ip)
			PUT("FORWARD=%s@%s\n", fw, ctnet_addr_str(&r->forwards[i].host_ip, ip));
		else
			PUT("FORWARD=%s\n", fw);
	}
	if (left <= 1)
		return ctnet_errf(err, EOVERFLOW, "record \"%s\": too large", r->name);
	return ctnet_write_atomic(dfd, r->name, buf, (size_t)(p - buf), err);
}

static int parse_line(struct ct_record *r, const char *key, const char *val, struct ctnet_err *err)
{
	unsigned long v;
	int rc = 0;

	if (!strcmp(key, "NAME")) {
		if (strcmp(val, r->name))
			return ctnet_errf(err, EINVAL, "record \"%s\": NAME is \"%s\"", r->name, val);
	} else if (!strcmp(key, "MODE")) {
		if (strcmp(val, "shared") && strcmp(val, "private"))
			return ctnet_errf(err, EINVAL, "record \"%s\": bad MODE", r->name);
		r->shared = !strcmp(val, "shared");
	} else if (!strcmp(key, "NETNS")) {
		if (val[0] != '/' || strlen(val) >= sizeof(r->netns))
			return ctnet_errf(err, EINVAL, "record \"%s\": bad NETNS", r->name);
		strcpy(r->netns, val);
	} else if (!strcmp(key, "PID")) {
		rc = ctnet_uint_parse(val, 1, INT_MAX, "PID", &v, err);
		r->pid = (pid_t)v;
	} else if (!strcmp(key, "NETNS_ID")) {
		if (sscanf(val, "%llu:%llu", &r->ns_dev, &r->ns_ino) != 2)
			return ctnet_errf(err, EINVAL, "record \"%s\": bad NETNS_ID", r->name);
	} else if (!strcmp(key, "CREATED_NETNS")) {
		r->created_netns = !strcmp(val, "1");
	} else if (!strcmp(key, "HOST_IFNAME") || !strcmp(key, "IFNAME") || !strcmp(key, "BRIDGE")) {
		char *dst = key[0] == 'H' ? r->host_ifname : key[0] == 'I' ? r->ifname : r->bridge;
		rc = ctnet_ifname_check(val, err);
		if (rc == 0)
			strcpy(dst, val);
	} else if (!strcmp(key, "MAC")) {
		if (strlen(val) >= sizeof(r->mac))
			return ctnet_errf(err, EINVAL, "record \"%s\": bad MAC", r->name);
		strcpy(r->mac, val);
	} else if (!strcmp(key, "MTU")) {
		rc = ctnet_uint_parse(val, 68, 65535, "MTU", &v, err);
		r->mtu = (unsigned)v;
	} else if (!strcmp(key, "HOST_ADDRESS")) {
		rc = ctnet_addr_parse(val, AF_INET, CTNET_ADDR_PREFIX_OK, "HOST_ADDRESS", &r->host, err);
	} else if (!strcmp(key, "LOCAL_ADDRESS")) {
		rc = ctnet_addr_parse(val, AF_INET, CTNET_ADDR_PREFIX_OK, "LOCAL_ADDRESS", &r->local, err);
	} else if (!strcmp(key, "HOST_ADDRESS6")) {
		rc = ctnet_addr_parse(val, AF_INET6, CTNET_ADDR_PREFIX_OK, "HOST_ADDRESS6", &r->host6, err);
		r->has_v6 = true;
	} else if (!strcmp(key, "LOCAL_ADDRESS6")) {
		rc = ctnet_addr_parse(val, AF_INET6, CTNET_ADDR_PREFIX_OK, "LOCAL_ADDRESS6", &r->local6, err);
		r->has_v6 = true;
	} else if (!strcmp(key, "LEASE")) {
		r->lease = !strcmp(val, "1");
	} else if (!strcmp(key, "NO_NAT")) {
		r->no_nat = !strcmp(val, "1");
	} else if (!strcmp(key, "PENDING")) {
		r->pending = !strcmp(val, "1");
	} else if (!strcmp(key, "INTERFACE") || !strcmp(key, "MACVLAN")) {
		bool mv = key[0] == 'M';
		size_t *n = mv ? &r->n_macvlans : &r->n_interfaces;
		if (*n >= CT_MAX_EXTRA)
			return ctnet_errf(err, EINVAL, "record \"%s\": too many %s lines", r->name, key);
		rc = ctnet_ifname_check(val, err);
		if (rc == 0)
			snprintf(mv ? r->macvlans[*n] : r->interfaces[*n], IFNAMSIZ, "%s", val);
		if (rc == 0)
			(*n)++;
	} else if (!strcmp(key, "FORWARD")) {
		char spec[128];
		const char *at = strchr(val, '@');
		size_t n = at ? (size_t)(at - val) : strlen(val);
		if (r->n_forwards >= NAT_MAX_FORWARDS || n >= sizeof(spec))
			return ctnet_errf(err, EINVAL, "record \"%s\": bad FORWARD", r->name);
		memcpy(spec, val, n);
		spec[n] = '\0';
		struct nat_forward *f = &r->forwards[r->n_forwards];
		rc = nat_forward_parse(spec, f, err);
		if (rc == 0 && at) {
			rc = ctnet_addr_parse(at + 1, 0, CTNET_ADDR_NOPREFIX, "host IP", &f->host_ip, err);
			f->has_host_ip = rc == 0;
		}
		if (rc == 0)
			r->n_forwards++;
	}
	/* Unknown keys: ignored, so newer records stay readable. */
	return rc;
}

int record_read(const char *name, struct ct_record *r, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = record_dir(false, err);

	if (dfd == -ENOENT)
		return ctnet_errf(err, ENOENT, "container \"%s\": not up", name);
	if (dfd < 0)
		return dfd;
	return record_read_at(dfd, name, r, err);
}

int record_read_at(int dfd, const char *name, struct ct_record *r, struct ctnet_err *err)
{
	char buf[RECORD_MAX];
	ssize_t n;
	int rc;

	n = ctnet_read_file(dfd, name, buf, sizeof(buf), err);
	if (n == -ENOENT)
		return ctnet_errf(err, ENOENT, "container \"%s\": not up", name);
	if (n < 0)
		return (int)n;
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			return ctnet_errf(err, EINVAL, "record \"%s\": malformed line", name);
		*eq = '\0';
		rc = parse_line(r, line, eq + 1, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int record_remove(const char *name, struct ctnet_err *err)
{
	_cleanup_close_ int dfd = record_dir(false, err);
	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	return ctnet_unlink(dfd, name, err);
}

struct foreach_ctx {
	int (*cb)(const char *name, void *data);
	void *data;
};

static int foreach_one(int dfd, const char *name, void *data)
{
	const struct foreach_ctx *f = data;
	(void)dfd;
	return f->cb(name, f->data);
}

int record_foreach(int (*cb)(const char *name, void *data), void *data, struct ctnet_err *err)
{
	struct foreach_ctx f = { cb, data };
	_cleanup_close_ int dfd = record_dir(false, err);

	if (dfd == -ENOENT)
		return 0;
	if (dfd < 0)
		return dfd;
	return ctnet_dir_foreach(dfd, "records", foreach_one, &f, err);
}

static void json_addr(json_t *o, const char *key, const struct ctnet_addr *a)
{
	char buf[CTNET_ADDR_STRLEN];
	if (a->family)
		ctnet_json_set_str(o, key, ctnet_addr_cidr_str(a, buf));
}

json_t *record_json(const struct ct_record *r)
{
	json_t *o = json_object(), *fw = json_array();
	ctnet_json_set_str(o, "name", r->name);
	ctnet_json_set_str(o, "mode", r->shared ? "shared" : "private");
	if (r->netns[0])
		ctnet_json_set_str(o, "netns", r->netns);
	if (r->pid)
		ctnet_json_set_int(o, "pid", r->pid);
	if (r->host_ifname[0])
		ctnet_json_set_str(o, "host_ifname", r->host_ifname);
	if (r->ifname[0])
		ctnet_json_set_str(o, "ifname", r->ifname);
	if (r->bridge[0])
		ctnet_json_set_str(o, "bridge", r->bridge);
	json_addr(o, "host_address", &r->host);
	json_addr(o, "local_address", &r->local);
	json_addr(o, "host_address6", &r->host6);
	json_addr(o, "local_address6", &r->local6);
	for (size_t i = 0; i < r->n_forwards; i++) {
		char buf[64], ip[CTNET_ADDR_STRLEN];
		json_t *f = json_object();
		ctnet_json_set_str(f, "spec", nat_forward_str(&r->forwards[i], buf, sizeof(buf)));
		if (r->forwards[i].has_host_ip)
			ctnet_json_set_str(f, "host_ip", ctnet_addr_str(&r->forwards[i].host_ip, ip));
		json_array_append_new(fw, f);
	}
	json_object_set_new(o, "forwards", fw);
	if (r->n_interfaces || r->n_macvlans) {
		json_t *ifs = json_array(), *mvs = json_array();
		for (size_t i = 0; i < r->n_interfaces; i++)
			json_array_append_new(ifs, json_string(r->interfaces[i]));
		for (size_t i = 0; i < r->n_macvlans; i++)
			json_array_append_new(mvs, json_string(r->macvlans[i]));
		json_object_set_new(o, "interfaces", ifs);
		json_object_set_new(o, "macvlans", mvs);
	}
	return o;
}

/* nixos-container's space-separated lists. */
static void print_list(FILE *f, const char *key, const char (*v)[IFNAMSIZ], size_t n)
{
	if (!n)
		return;
	fprintf(f, "%s=\"", key);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? " " : "", v[i]);
	fputs("\"\n", f);
}

void record_print_env(FILE *f, const struct ct_record *r)
{
	char buf[CTNET_ADDR_STRLEN];
	fprintf(f, "NAME=%s\nMODE=%s\n", r->name, r->shared ? "shared" : "private");
	if (r->netns[0])
		fprintf(f, "NETNS=%s\n", r->netns);
	if (r->host_ifname[0])
		fprintf(f, "HOST_IFNAME=%s\n", r->host_ifname);
	if (r->ifname[0])
		fprintf(f, "IFNAME=%s\n", r->ifname);
	if (r->bridge[0])
		fprintf(f, "HOST_BRIDGE=%s\n", r->bridge);
	if (r->host.family)
		fprintf(f, "HOST_ADDRESS=%s\n", ctnet_addr_cidr_str(&r->host, buf));
	if (r->local.family)
		fprintf(f, "LOCAL_ADDRESS=%s\n", ctnet_addr_cidr_str(&r->local, buf));
	if (r->host6.family)
		fprintf(f, "HOST_ADDRESS6=%s\n", ctnet_addr_cidr_str(&r->host6, buf));
	if (r->local6.family)
		fprintf(f, "LOCAL_ADDRESS6=%s\n", ctnet_addr_cidr_str(&r->local6, buf));
	print_list(f, "INTERFACES", r->interfaces, r->n_interfaces);
	print_list(f, "MACVLANS", r->macvlans, r->n_macvlans);
	if (r->n_forwards) {
		fputs("HOST_PORT=", f);
		for (size_t i = 0; i < r->n_forwards; i++) {
			char fw[64];
			fprintf(f, "%s%s", i ? "," : "", nat_forward_str(&r->forwards[i], fw, sizeof(fw)));
		}
		fputc('\n', f);
	}
}

int record_alive(const struct ct_record *r, const char **why)
{
	struct stat st;
	char path[64];

	if (r->shared) {
		if (r->pid && kill(r->pid, 0) < 0 && errno == ESRCH) {
			*why = "process gone";
			return 0;
		}
		return 1;
	}
	if (r->pid) {
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)r->pid);
		if (stat(path, &st) < 0) {
			*why = "process gone";
			return 0;
		}
	} else if (!r->netns[0] || stat(r->netns, &st) < 0) {
		*why = "namespace gone";
		return 0;
	}
	if (r->ns_ino && ((unsigned long long)st.st_dev != r->ns_dev ||
			  (unsigned long long)st.st_ino != r->ns_ino)) {
		*why = "namespace replaced";
		return 0;
	}
	return 1;
}
