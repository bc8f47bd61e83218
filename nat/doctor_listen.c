/* SPDX-License-Identifier: MIT */
/* doctor's listening sockets: a forwarded port the host itself listens on. */
#include "doctor_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "finding.h"
#include "fw.h"

/* ---- listening sockets on forwarded ports ---- */

void listeners_read(struct listeners *l, const char *path, uint8_t proto, bool v6)
{
	FILE *f = fopen(path, "re");
	char line[512];
	if (!f)
		return;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char local[64], remote[64];
		unsigned st;
		unsigned long inode;
		if (sscanf(line, "%*s %63s %63s %x %*s %*s %*s %*s %*s %lu", local, remote, &st, &inode) != 4)
			continue;
		/* TCP_LISTEN (10); UDP: unconnected (TCP_CLOSE, 7, remote port 0). */
		if (proto == 6 ? st != 10 : st != 7)
			continue;
		char *colon = strchr(local, ':');
		if (!colon)
			continue;
		*colon = '\0';
		struct listener x = { .proto = proto, .v6 = v6, .inode = inode };
		x.port = (uint16_t)strtoul(colon + 1, NULL, 16);
		size_t hl = strlen(local);
		for (size_t i = 0; i + 8 <= hl && i / 2 < 16; i += 8) {
			/* /proc prints each 32-bit word in host order */
			uint32_t w = (uint32_t)strtoul((char[9]){ local[i], local[i + 1], local[i + 2],
							 local[i + 3], local[i + 4], local[i + 5],
							 local[i + 6], local[i + 7], 0 }, NULL, 16);
			memcpy(x.addr + i / 2, &w, 4);
		}
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			struct listener *v = realloc(l->v, cap * sizeof(*v));
			if (!v)
				break;
			l->v = v;
			l->cap = cap;
		}
		l->v[l->n++] = x;
	}
	fclose(f);
}

/* The process owning socket inode: "pid PID (COMM)" into buf, or "an unknown process", and
 * COMM alone into comm ("" when unknown). */
static void socket_owner(unsigned long inode, char *buf, size_t len, char comm[64])
{
	char want[48];
	DIR *d = opendir("/proc");
	struct dirent *de;

	snprintf(buf, len, "an unknown process");
	comm[0] = '\0';
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		char path[300], link[64];
		snprintf(path, sizeof(path), "/proc/%s/fd", de->d_name);
		DIR *fd = opendir(path);
		struct dirent *fe;
		if (!fd)
			continue;
		bool found = false;
		while (!found && (fe = readdir(fd))) {
			char p2[600];
			snprintf(p2, sizeof(p2), "%s/%s", path, fe->d_name);
			ssize_t n = readlink(p2, link, sizeof(link) - 1);
			if (n > 0) {
				link[n] = '\0';
				found = !strcmp(link, want);
			}
		}
		closedir(fd);
		if (found) {
			snprintf(comm, 64, "?");
			snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
			FILE *f = fopen(path, "re");
			if (f) {
				if (fgets(comm, 64, f))
					comm[strcspn(comm, "\n")] = '\0';
				fclose(f);
			}
			snprintf(buf, len, "pid %.16s (%.32s)", de->d_name, comm);
			break;
		}
	}
	closedir(d);
}

/* The forward f of c claims what listener x listens on (protocol, port, address). */
static bool claims(const struct listener *x, const struct nat_forward *f)
{
	static const uint8_t zero[16];
	size_t al = x->v6 ? 16 : 4;

	if ((f->proto == NAT_UDP ? 17 : 6) != x->proto || x->port < f->host_lo || x->port > f->host_hi)
		return false;
	return !f->has_host_ip || ((f->host_ip.family == AF_INET6) == x->v6 &&
				   (!memcmp(x->addr, zero, al) || !memcmp(x->addr, f->host_ip.bytes, al)));
}

/* Whether ctnet's DNAT takes every connection x could get before x sees it: the chains
 * that DNAT are there and the forward has an address of x's family to go to (a socket
 * on [::] or an IPv6 address gets the IPv6 ones, which a forward to a container without
 * IPv6 leaves alone). */
static bool shadowed(const struct listener *x, const struct nat_container *c, bool dnat)
{
	return dnat && (x->v6 ? c->has_addr6 : c->addr.family == AF_INET);
}

static void listener_finding(const struct listener *x, const struct nat_container *c, const struct nat_forward *f,
			     bool dnat, struct ctnet_findings *out)
{
	char owner[128], comm[64], spec[64], addr[INET6_ADDRSTRLEN], obj[160];
	bool conmon;

	socket_owner(x->inode, owner, sizeof(owner), comm);
	conmon = !strcmp(comm, "conmon");
	inet_ntop(x->v6 ? AF_INET6 : AF_INET, x->addr, addr, sizeof(addr));
	snprintf(obj, sizeof(obj), "%s port %u", x->proto == 6 ? "tcp" : "udp", x->port);
	nat_forward_str(f, spec, sizeof(spec));
	if (shadowed(x, c, dnat)) {
		ctnet_finding_add(out, CTNET_SEV_NOTE, "port-listener-shadowed", c->name, obj,
				  conmon ? "" : "none for the forward; for that process to serve the port, "
						"remove the forward or forward another host port",
				  "%s listens on %s%s%s:%u, a host port ctnet forwards to %s (%s): ctnet's "
				  "DNAT takes the connections first, the process never sees them%s",
				  owner, x->v6 ? "[" : "", addr, x->v6 ? "]" : "", x->port, c->name, spec,
				  conmon ? " (podman's conmon holds published ports as a reservation)" : "");
		return;
	}
	ctnet_finding_add(out, CTNET_SEV_BLOCKS, "port-listener", c->name, obj,
			  !dnat ? "ctnet-nat restore"
				: "stop that process or bind it to IPv4 only or to another port, or give "
				  "the container an IPv6 address (--ipv6)",
			  "%s listens on %s%s%s:%u, a host port ctnet forwards to %s (%s), and gets the "
			  "connections: %s",
			  owner, x->v6 ? "[" : "", addr, x->v6 ? "]" : "", x->port, c->name, spec,
			  !dnat ? "ctnet's DNAT chains are gone"
				: "the container has no IPv6 address, so IPv6 ones (localhost can be ::1) "
				  "reach that process instead of the container");
}

void check_listeners(const struct listeners *l, const struct ct_view *vs, size_t n, bool dnat,
		     struct ctnet_findings *out)
{
	for (size_t k = 0; k < l->n; k++) {
		const struct listener *x = &l->v[k];
		for (size_t i = 0; i < n; i++) {
			const struct nat_container *c = vs[i].c;
			for (size_t j = 0; j < c->n_forwards; j++) {
				if (!claims(x, &c->forwards[j]))
					continue;
				listener_finding(x, c, &c->forwards[j], dnat, out);
				goto next;
			}
		}
next:;
	}
}
