/* Unit tests of nat/ that need no privileges: forward specs, nft element text, the
 * desired-state files and the port index. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "nat/nat_int.h"
#include "state.h"
#include "t.h"

static void test_forward_parse(void)
{
	struct ctnet_err err;
	struct nat_forward f;
	char buf[64];
	const struct { const char *in, *out; } good[] = {
		{ "tcp:8080:80", "tcp:8080:80" },   { "udp:53", "udp:53:53" },
		{ "tcp:8000-8010:80-90", "tcp:8000-8010:80-90" },
		{ "tcp:1:65535", "tcp:1:65535" }, { "udp:7000-7003", "udp:7000-7003:7000-7003" },
	};
	const char *bad[] = { "sctp:80", "tcp", "tcp:", "tcp:0", "tcp:65536", "tcp:80:0",
			      "tcp:90-80", "tcp:8000-8010:80-85", "tcp:1-2000", "TCP:80",
			      "tcp:80x", "tcp:+80", "tcp: 80", "tcp:80:80:80", "tcp:08a",
			      "tcp:8080;flush ruleset", "tcp:-80", "tcp:80-", "" };

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		char what[128];
		snprintf(what, sizeof(what), "forward \"%s\" parses and prints back", good[i].in);
		T_STREQ(what, nat_forward_parse(good[i].in, &f, &err) == 0
			? nat_forward_str(&f, buf, sizeof(buf)) : err.msg, good[i].out);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char what[128], shown[CTNET_SHOW_MAX];
		snprintf(what, sizeof(what), "forward \"%s\" rejected", ctnet_show(bad[i], shown));
		T_OK(what, nat_forward_parse(bad[i], &f, &err) == -EINVAL && err.msg[0]);
	}
	nat_forward_parse("tcp:90-80", &f, &err);
	T_STREQ("reversed range error", err.msg, "forward \"tcp:90-80\": reversed port range 90-80");
	nat_forward_parse("tcp:1000-1023:80-90", &f, &err);
	T_OK("different lengths error names the spec", strstr(err.msg, "tcp:1000-1023:80-90") != NULL);
	T_OK("1024-port range is the limit",
	     nat_forward_parse("tcp:1000-2023", &f, &err) == 0 &&
		     nat_forward_parse("tcp:1000-2024", &f, &err) == -EINVAL);
}

static struct nat_container *mk(const char *name, const char *iface, const char *a4,
				const char *a6)
{
	static struct nat_container pool[4];
	static unsigned next;
	struct nat_container *c = &pool[next++ % ARRAY_SIZE(pool)]; /* a few live at once */
	struct ctnet_err err;

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->iface = iface;
	ctnet_addr_parse(a4, AF_INET, CTNET_ADDR_NOPREFIX, "a", &c->addr, &err);
	if (a6) {
		c->has_addr6 = true;
		ctnet_addr_parse(a6, AF_INET6, CTNET_ADDR_NOPREFIX, "a6", &c->addr6, &err);
	}
	return c;
}

static void test_elements(void)
{
	struct ctnet_err err;
	struct nat_container *c = mk("web", "ve-web", "10.233.1.2", "fd42::1:2");
	struct nat_elems e = { 0 };
	struct nat_buf b = { 0 };
	char canon[256];

	nat_forward_parse("tcp:8000-8001:80-81", &c->forwards[c->n_forwards++], &err);
	nat_forward_parse("udp:53", &c->forwards[c->n_forwards], &err);
	c->forwards[c->n_forwards].has_host_ip = true;
	ctnet_addr_parse("192.0.2.1", 0, CTNET_ADDR_NOPREFIX, "ip", &c->forwards[c->n_forwards++].host_ip, &err);
	T_OK("container validates", nat_container_check(c, &err) == 0);
	T_OK("elements built", nat_elems_container(&e, c, &err) == 0);
	/* ifaces, masq4, spoof4, masq6, spoof6, 2 ports x (fwd4 + fwd6), 1 fwd4ip, and in the
	 * bridge table port_ifaces, port_spoof4, port_spoof6 */
	T_OK("one element per port and family (13)", e.n == 13);
	nat_buf_elems(&b, "add", &e);
	T_OK("fwd4 elements", b.p && strstr(b.p, "add element inet ctnet fwd4 { tcp . 8000 : 10.233.1.2 . 80,\n\ttcp . 8001 : 10.233.1.2 . 81 }"));
	T_OK("fwd6 elements", b.p && strstr(b.p, "fwd6 { tcp . 8000 : fd42::1:2 . 80,"));
	T_OK("fwd4ip element", b.p && strstr(b.p, "fwd4ip { 192.0.2.1 . udp . 53 : 10.233.1.2 . 53 }"));
	T_OK("spoof4 element quotes the interface", b.p && strstr(b.p, "spoof4 { \"ve-web\" . 10.233.1.2 }"));
	T_OK("bridge port elements go to table bridge ctnet",
	     b.p && strstr(b.p, "add element bridge ctnet port_spoof4 { \"ve-web\" . 10.233.1.2 }") &&
		     strstr(b.p, "add element bridge ctnet port_ifaces { \"ve-web\" }"));
	nat_elems_sort(&e);
	for (size_t i = 0; i < e.n; i++) {
		struct nat_buf cb = { 0 };
		if (e.v[i].set != NAT_S_SPOOF4 && e.v[i].set != NAT_S_FWD4)
			continue;
		nat_buf_elem(&cb, &e.v[i], false);
		if (e.v[i].set == NAT_S_SPOOF4) {
			snprintf(canon, sizeof(canon), "%s", cb.p ? cb.p : "");
			/* Concatenation: each field padded to 4 bytes, ifname 16, address 4. */
			T_OK("spoof4 key is ifname[16] . ipv4, no data",
			     e.v[i].klen == 20 && e.v[i].dlen == 0 && !memcmp(e.v[i].kd, "ve-web\0", 7) &&
				     !memcmp(e.v[i].kd + 16, "\x0a\xe9\x01\x02", 4));
		} else if (cb.p && strstr(cb.p, " 8000 ")) {
			T_OK("fwd4 key proto . port, data addr . port, big-endian, padded",
			     e.v[i].klen == 8 && e.v[i].dlen == 8 &&
				     !memcmp(e.v[i].kd, "\x06\0\0\0\x1f\x40\0\0\x0a\xe9\x01\x02\0\x50\0\0", 16));
		}
		nat_buf_free(&cb);
	}
	T_STREQ("check's form names the set and drops the quotes", canon, "spoof4 ve-web . 10.233.1.2");
	nat_buf_free(&b);
	nat_elems_free(&e);

	/* A bridge port with its MAC, and a veth with its host-side address. */
	struct nat_container *p = mk("db", "vb-db", "10.233.100.5", NULL);
	p->has_mac = true;
	memcpy(p->mac, "\x02\x11\x22\x33\x44\x55", 6);
	p->bridge = "br0";
	T_OK("bridge port elements built", nat_elems_container(&e, p, &err) == 0);
	nat_buf_elems(&b, "add", &e);
	T_OK("its MAC, keyed by its port", b.p && strstr(b.p, "port_mac { \"vb-db\" . 02:11:22:33:44:55 }") &&
	     strstr(b.p, "port_macs { \"vb-db\" }"));
	T_OK("its bridge, never masqueraded out of", b.p && strstr(b.p, "add element inet ctnet bridges { \"br0\" }"));
	T_OK("no host-side address of its own", b.p && !strstr(b.p, "host4"));
	for (size_t i = 0; i < e.n; i++)
		if (e.v[i].set == NAT_S_PMAC)
			T_OK("port_mac key is ifname[16] . ether_addr padded to 8",
			     e.v[i].klen == 24 && !memcmp(e.v[i].kd + 16, "\x02\x11\x22\x33\x44\x55\0\0", 8));
	T_OK("bridges and host addresses are shared, MACs are not",
	     nat_set_is_shared(NAT_S_BRIDGES) && nat_set_is_shared(NAT_S_HOST4) && !nat_set_is_shared(NAT_S_PMAC));
	nat_buf_free(&b);
	nat_elems_free(&e);
	struct nat_container *v = mk("web", "ve-web", "10.233.1.2", NULL);
	ctnet_addr_parse("10.233.1.1", AF_INET, CTNET_ADDR_NOPREFIX, "h", &v->host, &err);
	T_OK("veth elements built", nat_elems_container(&e, v, &err) == 0);
	nat_buf_elems(&b, "add", &e);
	T_OK("its host-side address, its own and among all",
	     b.p && strstr(b.p, "own_host4 { \"ve-web\" . 10.233.1.1 }") && strstr(b.p, "host4 { 10.233.1.1 }") &&
	     !strstr(b.p, "bridges") && !strstr(b.p, "port_mac"));
	nat_buf_free(&b);
	nat_elems_free(&e);

	struct nat_elem el;
	T_OK("an interface name of 16 characters does not make an element",
	     nat_elem_make(&el, NAT_S_IFACES, "0123456789abcdef") == -EINVAL);
	T_OK("an IPv6 address in an IPv4 set does not make an element",
	     nat_elem_make(&el, NAT_S_MASQ4, &c->addr6) == -EINVAL);
	T_OK("an IPv4 address makes a masq4 element",
	     nat_elem_make(&el, NAT_S_MASQ4, &c->addr) == 0 && el.klen == 4 && el.dlen == 0);

	struct nat_forward dup = c->forwards[0];
	dup.host_lo = dup.host_hi = 8001;
	dup.container_lo = dup.container_hi = 9;
	c->forwards[c->n_forwards++] = dup;
	T_OK("overlapping forwards in one container refused",
	     nat_container_check(c, &err) == -EADDRINUSE);
	c = mk("web", "ve-web", "10.233.1.2", NULL);
	c->forwards[0] = dup;
	c->forwards[0].has_host_ip = true;
	ctnet_addr_parse("2001:db8::1", 0, CTNET_ADDR_NOPREFIX, "ip", &c->forwards[0].host_ip, &err);
	c->n_forwards = 1;
	T_OK("IPv6 host ip without IPv6 address refused", nat_container_check(c, &err) == -EINVAL);
	c = mk("x;flush ruleset", "ve-x", "10.233.1.2", NULL);
	T_OK("name with nft syntax refused", nat_container_check(c, &err) == -EINVAL);
	c = mk("x", "ve\"x", "10.233.1.2", NULL);
	T_OK("iface with a quote refused", nat_container_check(c, &err) == -EINVAL);

	struct nat_config cfg = { 0 };
	char want[512];
	nat_chain_comments(3, &cfg, want, sizeof(want));
	T_OK("postrouting masquerades out of non-container ifaces by default",
	     strstr(want, "ctnet:masq4,") && !strstr(want, "-ext"));
	cfg.n_ext = 1;
	strcpy(cfg.ext[0], "eth0");
	nat_chain_comments(3, &cfg, want, sizeof(want));
	T_OK("with external interfaces, only out of them", strstr(want, "ctnet:masq4-ext"));
	nat_chain_comments(NAT_C_ANTISPOOF, &cfg, want, sizeof(want));
	T_OK("antispoof drops 127.0.0.0/8 from outside first", !strncmp(want, "ctnet:localnet,", 15));
	nat_chain_comments(NAT_C_FORWARD, &cfg, want, sizeof(want));
	T_STREQ("no isolation rules by default (open): the forward chain only clamps MSS", want,
		"ctnet:mss-in,ctnet:mss-out");
	cfg.isolate = true;
	nat_chain_comments(NAT_C_FORWARD, &cfg, want, sizeof(want));
	T_STREQ("isolation rules with isolate", want,
		"ctnet:mss-in,ctnet:mss-out,ctnet:isolate4,ctnet:isolate6");
	nat_chain_comments(NAT_C_PORT_FORWARD, &cfg, want, sizeof(want));
	T_STREQ("isolation between bridge ports with isolate, but for br_netfilter's bridged DNAT", want,
		"ctnet:isolate-dnat,ctnet:isolate");
	nat_chain_comments(NAT_C_INPUT, &cfg, want, sizeof(want));
	T_STREQ("isolation keeps containers off others' host-side addresses", want,
		"ctnet:isolate-host4,ctnet:isolate-host6");
	T_OK("a chain's own rules are ctnet's", nat_chain_rules_ours(NAT_C_FORWARD, want) == false &&
	     nat_chain_rules_ours(NAT_C_INPUT, want) && nat_chain_rules_ours(NAT_C_INPUT, ""));
	T_OK("a rule without a comment is not ctnet's",
	     !nat_chain_rules_ours(NAT_C_FORWARD, "?,ctnet:mss-in,ctnet:mss-out"));
	T_OK("nor one that copies a comment of ctnet's",
	     !nat_chain_rules_ours(NAT_C_FORWARD, "ctnet:mss-in,ctnet:mss-in,ctnet:mss-out"));
	T_OK("nor one with the comment of another chain's rule",
	     !nat_chain_rules_ours(NAT_C_FORWARD, "ctnet:mss-in,ctnet:masq4"));
	cfg.isolate = false;
	nat_chain_comments(NAT_C_INPUT, &cfg, want, sizeof(want));
	T_STREQ("no input rules when open", want, "");
	nat_chain_comments(NAT_C_PORT_ANTISPOOF, &cfg, want, sizeof(want));
	T_OK("bridge ports: the MAC checked before the addresses",
	     !strncmp(want, "ctnet:outside,ctnet:mac,ctnet:arp-mac,ctnet:own4,", 49));
	nat_buf_table(&b, &cfg);
	T_OK("nothing is masqueraded out of a bridge with container ports (br_netfilter)",
	     b.p && strstr(b.p, "ip saddr @masq4 oifname @ext_ifaces oifname != @bridges ip daddr != @cluster4 masquerade"));
	T_OK("nothing is masqueraded to a cluster CIDR (IPv6 too)",
	     b.p && strstr(b.p, "ip6 saddr @masq6 oifname @ext_ifaces oifname != @bridges ip6 daddr != @cluster6 masquerade"));
	T_OK("the cluster sets are interval sets",
	     b.p && strstr(b.p, "set cluster4 { type ipv4_addr; flags interval; }") &&
	     strstr(b.p, "set cluster6 { type ipv6_addr; flags interval; }"));
	nat_buf_free(&b);
	nat_buf_table(&b, &cfg);
	T_OK("table text replaces the old table", b.p && !strncmp(b.p, "add table inet ctnet\ndelete table inet ctnet\n", 45));
	T_OK("and the bridge table", b.p && strstr(b.p, "add table bridge ctnet\ndelete table bridge ctnet\n"));
	T_OK("maps declared as maps", b.p && strstr(b.p, "map fwd4 { type inet_proto . inet_service : ipv4_addr . inet_service; counter; }"));
	nat_buf_free(&b);
}

struct seen_names {
	size_t n;
	char name[4][CTNET_NAME_MAX + 1], iface[4][CTNET_IFNAME_MAX + 1];
};

static int seen_one(struct nat_entry *e, void *data)
{
	struct seen_names *s = data;
	if (s->n < 4) {
		snprintf(s->name[s->n], sizeof(s->name[0]), "%s", e->c.name);
		snprintf(s->iface[s->n], sizeof(s->iface[0]), "%s", e->c.iface);
	}
	s->n++;
	return 0;
}

static int put_file(int dir, const char *name, const char *text)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));
	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * Files as the strtok reader's writer (before lib's KEY=VALUE code) wrote them must still
 * read; lib's writer refuses what it cannot write safely; errors name the NAT file.
 */

static struct ctnet_addr net(const char *s)
{
	struct ctnet_addr a;
	struct ctnet_err err;
	if (ctnet_cidr_parse(s, "net", &a, &err) < 0)
		memset(&a, 0, sizeof(a));
	return a;
}

static void test_cluster_normalize(void)
{
	struct ctnet_addr v[] = { net("fd00::/8"), net("10.1.0.0/16"), net("10.0.0.0/8"), net("10.1.0.0/16"),
				  net("fd00:1::/32"), net("192.168.0.0/16"), net("11.0.0.0/8") };
	char buf[CTNET_ADDR_STRLEN], all[256] = "";
	size_t n = nat_cluster_normalize(v, ARRAY_SIZE(v));
	for (size_t i = 0; i < n; i++) {
		strcat(all, ctnet_addr_cidr_str(&v[i], buf));
		strcat(all, i + 1 < n ? "," : "");
	}
	T_STREQ("cluster CIDRs: sorted, IPv4 first, covered ones and repeats dropped", all,
		"10.0.0.0/8,11.0.0.0/8,192.168.0.0/16,fd00::/8");
	struct ctnet_addr bad = net("10.0.0.0/8");
	struct ctnet_err err;
	bad.bytes[3] = 1;
	T_OK("cluster CIDR with host bits refused", nat_cluster_check(&bad, 1, &err) == -EINVAL &&
	     strstr(err.msg, "10.0.0.1/8"));
	T_OK("cluster CIDRs checked", nat_cluster_check(v, n, &err) == 0);
}

/* The kernel's elements of an IPv4 interval set: each key with its end flag. */
static char *fold4(const uint32_t *keys, const bool *ends, size_t n)
{
	struct nat_kelem *v = calloc(n + 1, sizeof(*v));
	size_t m = n;
	static char out[512];
	for (size_t i = 0; i < n; i++) {
		v[i].el.set = NAT_S_CLUSTER4;
		v[i].el.klen = 4;
		uint32_t be = htonl(keys[i]);
		memcpy(v[i].el.kd, &be, 4);
		v[i].end = ends[i];
	}
	out[0] = '\0';
	if (nat_interval_fold(&v, &m, NAT_S_CLUSTER4) < 0)
		return strcpy(out, "ENOMEM");
	for (size_t i = 0; i < m; i++) {
		struct nat_buf b = { 0 };
		nat_buf_elem(&b, &v[i].el, true);
		strcat(out, b.p ? b.p : "?");
		strcat(out, i + 1 < m ? "," : "");
		nat_buf_free(&b);
	}
	free(v);
	return out;
}

static void test_interval_fold(void)
{
	/* As nft 1.0.6 leaves { 10.0.0.0/9, 10.128.0.0/9, 255.0.0.0/8 }, in dump order. */
	const uint32_t k1[] = { 0xff000000, 0x0a800000, 0x0b000000, 0x0a000000, 0x0a800000, 0 };
	const bool e1[] = { false, false, true, false, true, true };
	T_STREQ("interval set read back: adjacent ranges apart, the top one without an end",
		fold4(k1, e1, ARRAY_SIZE(k1)), "10.0.0.0/9,10.128.0.0/9,255.0.0.0/8");
	/* 192.168.1.0-192.168.1.5: no CIDR, the CIDRs covering it. */
	const uint32_t k2[] = { 0, 0xc0a80100, 0xc0a80106 };
	const bool e2[] = { true, false, true };
	T_STREQ("a range that is no CIDR: its CIDRs", fold4(k2, e2, ARRAY_SIZE(k2)),
		"192.168.1.0/30,192.168.1.4/31");
	const uint32_t k3[] = { 0 };
	const bool e3[] = { false };
	T_STREQ("everything: 0.0.0.0/0", fold4(k3, e3, 1), "0.0.0.0/0");
	T_STREQ("empty set", fold4(k3, e3, 0), "");
	struct nat_elem el;
	struct ctnet_addr a = net("fd00::/8");
	T_OK("a cluster element carries its prefix",
	     nat_elem_make(&el, NAT_S_CLUSTER6, &a) == 0 && el.klen == 17 && el.kd[16] == 8);
	T_OK("an IPv6 network is no cluster4 element", nat_elem_make(&el, NAT_S_CLUSTER4, &a) == -EINVAL);
}

static void test_store_old_format(struct nat_store *s, const char *dir)
{
	struct ctnet_err err = { 0 };
	struct nat_config cfg;
	struct nat_entry e;
	char want[4200];

	T_OK("old-format container file written",
	     put_file(s->containers, "old", "ADDRESS=10.233.5.2\nADDRESS6=fd42::5:2\nIFACE=ve-old\n"
					   "FORWARD=tcp:8080-8081:80-81\nFORWARD=udp:53:53@127.0.0.1\n"
					   "FORWARD=tcp:443:443@fd42::1\n") == 0);
	T_OK("old-format container file reads", nat_store_read(s, "old", &e, &err) == 0);
	T_OK("old format: addresses, iface and forwards",
	     e.c.addr.family == AF_INET && e.c.has_addr6 && !strcmp(e.c.iface, "ve-old") &&
		     e.c.n_forwards == 3 && e.c.forwards[0].host_lo == 8080 &&
		     e.c.forwards[0].host_hi == 8081 && !e.c.forwards[0].has_host_ip &&
		     e.c.forwards[1].proto == NAT_UDP && e.c.forwards[1].has_host_ip &&
		     e.c.forwards[2].host_ip.family == AF_INET6);
	T_OK("old-format file written back byte for byte",
	     nat_store_write(s, &e.c, &err) == 0 && ctnet_read_file(s->containers, "old", want,
									sizeof(want), &err) > 0 &&
		     !strcmp(want, "ADDRESS=10.233.5.2\nADDRESS6=fd42::5:2\nIFACE=ve-old\n"
				   "FORWARD=tcp:8080-8081:80-81\nFORWARD=udp:53:53@127.0.0.1\n"
				   "FORWARD=tcp:443:443@fd42::1\n"));
	T_OK("old-format config written",
	     put_file(s->dir, "config", "# ctnet-nat configuration\nEXTERNAL_INTERFACE=eth0\n"
					"EXTERNAL_INTERFACE=wlan0\nISOLATE=1\nROUTE_LOCALNET=interfaces\n") == 0);
	T_OK("old-format config reads",
	     nat_store_config_read(s, &cfg, &err) == 0 && cfg.exists && cfg.n_ext == 2 &&
		     !strcmp(cfg.ext[1], "wlan0") && cfg.isolate && cfg.localnet_scoped);

	struct nat_container *c = mk("bad", "ve-bad\nFORWARD=tcp:22", "10.233.6.2", NULL);
	T_OK("a value with a newline is refused, not written",
	     nat_store_write(s, c, &err) == -EINVAL && strstr(err.msg, "IFACE") &&
		     faccessat(s->containers, "bad", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	snprintf(want, sizeof(want), "NAT state \"%s/nat/containers/bad\" line 2: ", dir);
	T_OK("bad container file written",
	     put_file(s->containers, "bad", "ADDRESS=10.233.6.2\nIFACE=ve bad\n") == 0);
	T_OK("bad container file refused", nat_store_read(s, "bad", &e, &err) == -EINVAL);
	T_OK("the error names the NAT file and line, not a nixos conf",
	     !strncmp(err.msg, want, strlen(want)) && !strstr(err.msg, "nixos"));
	T_OK("bad config written", put_file(s->dir, "config", "ISOLATE=yes\n") == 0);
	snprintf(want, sizeof(want), "NAT config \"%s/nat/config\" line 1: ISOLATE \"yes\"", dir);
	T_OK("bad config refused", nat_store_config_read(s, &cfg, &err) == -EINVAL);
	T_OK("the error names the NAT config", !strncmp(err.msg, want, strlen(want)));
	unlinkat(s->containers, "old", 0);
	unlinkat(s->containers, "bad", 0);
	unlinkat(s->dir, "config", 0);
}

static void test_store(void)
{
	char tmpl[] = "/tmp/ctnet-nat-unit.XXXXXX", cmd[128];
	struct ctnet_err err;
	struct nat_store s;
	struct nat_entry e;

	T_OK("temp dir", mkdtemp(tmpl) != NULL);
	setenv("CTNET_STATE_DIR", tmpl, 1);
	T_OK("store absent is ENOENT for readers", nat_store_open(&s, false, false, &err) == -ENOENT);
	T_OK("store created", nat_store_open(&s, true, true, &err) == 0);
	struct nat_container *c = mk("web", "ve-web", "10.233.1.2", "fd42::1:2");
	nat_forward_parse("tcp:8080:80", &c->forwards[c->n_forwards++], &err);
	nat_forward_parse("udp:53", &c->forwards[c->n_forwards], &err);
	c->forwards[c->n_forwards].has_host_ip = true;
	ctnet_addr_parse("192.0.2.1", 0, CTNET_ADDR_NOPREFIX, "ip", &c->forwards[c->n_forwards++].host_ip, &err);
	T_OK("ports claimed", nat_store_ports_claim(&s, c, &err) == 0);
	T_OK("container written", nat_store_write(&s, c, &err) == 0);
	T_OK("container read back", nat_store_read(&s, "web", &e, &err) == 0);
	T_OK("round trip keeps addresses, iface, forwards",
	     ctnet_addr_equal(&e.c.addr, &c->addr) && e.c.has_addr6 &&
		     ctnet_addr_equal(&e.c.addr6, &c->addr6) && !strcmp(e.c.iface, "ve-web") &&
		     e.c.n_forwards == 2 && e.c.forwards[1].has_host_ip &&
		     !memcmp(&e.c.forwards[0], &c->forwards[0], sizeof(c->forwards[0])));
	char link[64] = "";
	ssize_t ln = readlinkat(s.ports, "tcp-8080", link, sizeof(link) - 1);
	link[ln > 0 ? ln : 0] = '\0';
	T_STREQ("port index names the owner", link, "web");

	struct nat_container *d = mk("db", "ve-db", "10.233.2.2", NULL);
	nat_forward_parse("tcp:8070-8090:70-90", &d->forwards[d->n_forwards++], &err);
	T_OK("port held by another container refused", nat_store_ports_claim(&s, d, &err) == -EADDRINUSE);
	T_STREQ("conflict error names the owner", err.msg,
		"forward tcp:8070-8090:70-90: host port 8080/tcp already forwarded to container \"web\"");
	T_OK("refused claim left no link", faccessat(s.ports, "tcp-8070", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	nat_forward_parse("udp:53", &d->forwards[0], &err);
	T_OK("same port without --host-ip is another key", nat_store_ports_claim(&s, d, &err) == 0);
	nat_store_write(&s, d, &err);
	struct seen_names seen = { 0 };
	T_OK("list reads both, in name order",
	     nat_store_foreach(&s, seen_one, &seen, &err) == 0 && seen.n == 2 &&
		     !strcmp(seen.name[0], "db") && !strcmp(seen.iface[1], "ve-web"));
	nat_store_ports_release(&s, c, NULL);
	T_OK("release frees the port", faccessat(s.ports, "tcp-8080", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	T_OK("release leaves the other owner's port", faccessat(s.ports, "udp-53", F_OK, AT_SYMLINK_NOFOLLOW) == 0);
	struct nat_config cfg = { .n_ext = 1, .ext = { "eth0" }, .isolate = true,
				  .localnet_scoped = true }, cfg2;
	T_OK("config round trip", nat_store_config_write(&s, &cfg, &err) == 0 &&
		 nat_store_config_read(&s, &cfg2, &err) == 0 && cfg2.n_ext == 1 && !strcmp(cfg2.ext[0], "eth0") &&
		 cfg2.isolate && cfg2.localnet_scoped && cfg2.exists);
	cfg.isolate = cfg.localnet_scoped = false;
	T_OK("config without isolation and marker", nat_store_config_write(&s, &cfg, &err) == 0 &&
		 nat_store_config_read(&s, &cfg2, &err) == 0 && !cfg2.isolate && !cfg2.localnet_scoped);
	test_store_old_format(&s, tmpl);
	nat_store_close(&s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	T_OK("cleanup", system(cmd) == 0);
}

int main(void)
{
	test_forward_parse();
	test_elements();
	test_cluster_normalize();
	test_interval_fold();
	test_store();
	return t_done();
}
