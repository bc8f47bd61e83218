/* SPDX-License-Identifier: MIT */
/*
 * ctnet-cni: a CNI plugin (spec 1.0.0, 0.3.x/0.4.0 configs, STATUS and GC of 1.1.0) over the
 * launcher's ct_up()/ct_down(), so a CNI attachment is an ordinary ctnet container.
 *
 * IDENTITY. An attachment is (CNI_CONTAINERID, CNI_IFNAME). Its ctnet container name is
 * "cni-" + 16 hex digits of ctnet_hash64(containerID "/" ifname) (valid for
 * ctnet_name_check whatever the runtime's IDs look like). The mapping lives in
 * $CTNET_RUN_DIR/cni/NAME (KEY=VALUE: CONTAINER_ID, IFNAME, NETWORK, NETNS), written before
 * the first change and removed after the last, so DEL, CHECK and GC always find it;
 * $CTNET_RUN_DIR/cni/.NAME.lock serialises the commands of one attachment.
 */
#ifndef CTNET_CNI_H
#define CTNET_CNI_H

#include <jansson.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>

#include "../launch/launch.h"
#include "addr.h"
#include "err.h"
#include "hostconf.h"
#include "name.h"

/* The spec's well-known error codes (plus ours from 100). */
enum cni_code {
	CNI_ERR_VERSION = 1,        /* incompatible CNI version */
	CNI_ERR_FIELD = 2,          /* unsupported field in the network config */
	CNI_ERR_CONTAINER = 3,      /* container unknown or does not exist */
	CNI_ERR_ENV = 4,            /* invalid necessary environment variable */
	CNI_ERR_IO = 5,             /* I/O failure */
	CNI_ERR_DECODE = 6,         /* failed to decode content */
	CNI_ERR_CONFIG = 7,         /* invalid network config */
	CNI_ERR_TRY_LATER = 11,     /* try again later */
	CNI_ERR_NOT_AVAILABLE = 50, /* STATUS: the plugin cannot serve ADD now */
	CNI_ERR_DRIFT = 100,        /* CHECK: the attachment is not what ADD made */
	CNI_ERR_INTERNAL = 999,     /* anything else (details: the cause) */
};

/* A failure: the CNI code and ctnet's one-line message. */
struct cni_err {
	unsigned code;
	struct ctnet_err e;
};
/* Sets the code (when unset) and returns rc, for `return cni_code(ce, CODE, rc)`. */
int cni_code(struct cni_err *ce, unsigned code, int rc);
int cni_errf(struct cni_err *ce, unsigned code, const char *fmt, ...) CTNET_PRINTF(3, 4);
/* The spec's error object {"cniVersion","code","msg","details"}. */
json_t *cni_err_json(const struct cni_err *ce, const char *version);

#define CNI_CONF_MAX (1 << 20)   /* stdin */
#define CNI_ARGS_MAX 4096        /* CNI_ARGS */
#define CNI_VERSION_LATEST "1.1.0"

enum cni_command { CNI_ADD, CNI_DEL, CNI_CHECK, CNI_VERSION, CNI_STATUS, CNI_GC };

/* The environment a runtime sets; pointers into environ. */
struct cni_env {
	enum cni_command command;
	const char *container_id; /* ADD, DEL, CHECK */
	const char *netns;        /* ADD, CHECK; optional for DEL */
	const char *ifname;       /* ADD, DEL, CHECK */
	const char *args;         /* optional "K=V;K=V" (K8S_POD_NAME/NAMESPACE, IP, MAC read) */
	const char *path;         /* optional: ctnet-cni delegates to nothing */
	char pod_name[CTNET_NAME_MAX + 1];      /* K8S_POD_NAME (podman: the container's name) */
	char pod_namespace[CTNET_NAME_MAX + 1]; /* K8S_POD_NAMESPACE */
	char ip[CTNET_ADDR_STRLEN];  /* IP= (podman's --ip, and its reload): as given, "" = none */
	char mac[CTNET_ADDR_STRLEN]; /* MAC= (podman's --mac-address, and its reload) */
};
/* Reads and checks the variables `command` needs (code 4 naming the variable). */
int cni_env_read(struct cni_env *env, struct cni_err *ce);
const char *cni_command_name(enum cni_command c);

/* One runtimeConfig.portMappings entry after checking. */
struct cni_port {
	struct nat_forward fwd; /* has_host_ip when hostIP was given and not 0.0.0.0/:: */
	char spec[32];          /* "tcp:8080:80" for ct_up */
};

/* The network config on stdin. */
struct cni_conf {
	char version[16];  /* cniVersion as given (one of the supported ones) */
	int version_num;   /* major*10000 + minor*100 + patch */
	char name[CTNET_NAME_MAX + 1];
	struct ctnet_addr subnet;
	char subnet_str[CTNET_ADDR_STRLEN];
	const struct ctnet_hostconf *hc; /* borrowed from the caller of cni_conf_parse; may be NULL */
	size_t n_cluster;  /* "clusterCIDRs", or the host config's CLUSTER_CIDR */
	struct ctnet_addr cluster[CTNET_HOSTCONF_CLUSTER_MAX];
	bool ip_masq;      /* default true */
	char bridge[IFNAMSIZ]; /* "" = point-to-point pairs */
	bool ipv6;
	unsigned mtu;      /* 0 = kernel default */
	size_t n_ports;
	struct cni_port ports[NAT_MAX_FORWARDS];
	/* The request says which ports it wants (none included): the config declares the
	 * portMappings capability or carries runtimeConfig.portMappings. Otherwise an ADD for
	 * an attachment that is up keeps its forwards. */
	bool ports_stated;
	bool has_ip;
	struct ctnet_addr ip;      /* runtimeConfig.ips (the "ips" capability): one address */
	char mac[CTNET_ADDR_STRLEN]; /* runtimeConfig.mac (the "mac" capability), "" = none */
	json_t *dns;         /* borrowed from root; NULL when absent */
	json_t *prev_result; /* borrowed; CHECK compares it */
	json_t *valid;       /* GC: cni.dev/valid-attachments */
	json_t *root;        /* owns the above: cni_conf_free() */
};
/* Parses the config for `command` (VERSION accepts an empty document). Codes 1/2/6/7.
 * hc (NULL = none) is the host config: its POOL is the subnet when the config names none
 * ("subnet", "ranges" or a host-local "ipam.ranges"), its CLUSTER_CIDR the cluster CIDRs. */
int cni_conf_parse(const char *text, size_t len, enum cni_command command,
		   const struct ctnet_hostconf *hc, struct cni_conf *conf, struct cni_err *ce);
void cni_conf_free(struct cni_conf *conf);
/* confnet.c, for cni_conf_parse: the subnet ("subnet", "ranges", a host-local "ipam"; else
 * hc's POOL, else ipam's default) and the bridge; the cluster CIDRs ("clusterCIDRs", else
 * hc's CLUSTER_CIDR; when hc names any, the same list). Codes 2/7. */
int cni_conf_subnet(json_t *root, const struct ctnet_hostconf *hc, struct cni_conf *c,
		    struct cni_err *ce);
int cni_conf_cluster(json_t *root, const struct ctnet_hostconf *hc, struct cni_conf *c,
		     struct cni_err *ce);
/* "0.4.0" -> 400; -1 when not X.Y.Z. */
int cni_version_num(const char *v);
/* {"cniVersion", "supportedVersions"}. */
json_t *cni_version_json(const char *requested);

/* spec.c: the CNI front-end of the launcher: environment and network config, once, into a
 * spec. A requested address (IP= or runtimeConfig.ips) becomes given addresses to reserve:
 * the container side of a pool pair (the pair's host side with it) or, with a bridge, an
 * address of the subnet; anything else is refused (code 4 for CNI_ARGS, 7 for the config). */
int cni_spec(const struct cni_env *env, const struct cni_conf *conf, struct ct_spec *out,
	     struct cni_err *ce);
/* With a bridge: the bridge owns the subnet's first address and is the gateway. */
void cni_bridge_gateway(const struct cni_conf *conf, struct ctnet_addr *gw);
/* An ADD for an attachment that is up (its record alive): what the request leaves unsaid
 * stays as recorded (forwards when no ports are stated, the MAC, the address), and a
 * requested address other than the attachment's is refused. Nothing recorded, or a stale
 * record: o is left as it is (a fresh up, which keeps the lease). */
int cni_spec_keep(struct ct_spec *o, const struct cni_conf *conf, const struct cni_env *env,
		  struct cni_err *ce);

/* The commands. ADD and CHECK may fill *result (printed by main on success). */
int cni_add(struct ctnet_kern *kern, const struct cni_env *env, const struct cni_conf *conf, json_t **result,
	    struct cni_err *ce);
int cni_del(struct ctnet_kern *kern, const struct cni_env *env, const struct cni_conf *conf, struct cni_err *ce);
int cni_check(struct ctnet_kern *kern, const struct cni_env *env, const struct cni_conf *conf, struct cni_err *ce);
/* Removes this network's attachments missing from conf->valid; *removed counts them. */
int cni_gc(struct ctnet_kern *kern, const struct cni_conf *conf, unsigned *removed, struct cni_err *ce);
/* 0 when ADD can work now (state dirs usable, CAP_NET_ADMIN, nftables answering); code 50. */
int cni_status(struct ctnet_kern *kern, const struct cni_conf *conf, struct cni_err *ce);

/* netns.c: look at links inside a namespace (enters it and comes back). */
/* MAC "aa:bb:cc:dd:ee:ff" of ifname; nsfd -1 = the current namespace. */
int cni_link_mac(int nsfd, const char *ifname, char mac[18], struct ctnet_err *err);

#endif
