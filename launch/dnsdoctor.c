/* SPDX-License-Identifier: MIT */
/*
 * doctor's checks of the DNS path of containers: `ctnet dns` running when containers have
 * a resolv.conf of ctnet's, a socket of the host on each container's server address (udp
 * and tcp 53) and no other table dropping the queries (nat's part: nat/doctor_dns.c), and
 * the upstream servers of its resolv file answering a query (one each, 1 s at most, all at
 * once).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "finding.h"
#include "launch.h"
#include "state.h"

#define UPSTREAM_MAX 3       /* as many as the C library's resolver uses */
#define UPSTREAM_WAIT_MS 1000

/* The containers (of cts) whose resolv.conf is ctnet's: how many, the first names in buf. */
static size_t resolv_ours(const struct netd_doctor_ct *cts, size_t n, char *buf, size_t len, size_t *first)
{
	_cleanup_close_ int etc = ctnet_dir_open(ct_dns_etc_dir(), "", 0, NULL);
	size_t k = 0;

	buf[0] = '\0';
	for (size_t i = 0; etc >= 0 && i < n; i++) {
		char path[CTNET_NAME_MAX + 16], head[sizeof(CT_DNS_MARKER)];
		snprintf(path, sizeof(path), "%s/resolv.conf", cts[i].name);
		int fd = openat(etc, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		ssize_t r = read(fd, head, sizeof(head) - 1);
		close(fd);
		if (r != (ssize_t)sizeof(head) - 1 || memcmp(head, CT_DNS_MARKER, sizeof(head) - 1))
			continue;
		size_t l = strlen(buf);
		if (!k)
			*first = i;
		if (k++ < 4)
			snprintf(buf + l, len - l, "%s%s", l ? ", " : "", cts[i].name);
		else if (k == 5)
			snprintf(buf + l, len - l, ", ...");
	}
	return k;
}

/* The queries' paths: each container's address and the server it asks, per family. */
static size_t paths_of(struct ctnet_kern *kern, const struct netd_doctor_ct *cts, size_t n, struct nat_dns_path *p)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		struct ctnet_addr v4, v6;
		const char *l3 = cts[i].bridge && cts[i].bridge[0] ? cts[i].bridge : cts[i].host_ifname;
		if (ct_dns_server(kern, cts[i].bridge, &cts[i].host, cts[i].has_v6 ? &cts[i].host6 : NULL, &v4, &v6) < 0)
			continue;
		if (cts[i].local.family == AF_INET && v4.family)
			p[k++] = (struct nat_dns_path){ .name = cts[i].name, .l3iface = l3, .addr = cts[i].local, .server = v4 };
		if (cts[i].has_v6 && cts[i].local6.family == AF_INET6 && v6.family)
			p[k++] = (struct nat_dns_path){ .name = cts[i].name, .l3iface = l3, .addr = cts[i].local6, .server = v6 };
	}
	return k;
}

/* The nameserver lines of the resolv file (at most UPSTREAM_MAX). */
static size_t upstream_servers(const char *file, char (*out)[64], size_t max)
{
	FILE *f = fopen(file, "re");
	char line[512];
	size_t n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		char addr[64];
		if (sscanf(line, " nameserver %63s", addr) == 1)
			snprintf(out[n++], 64, "%s", addr);
	}
	fclose(f);
	return n;
}

/* Which of the n servers answered (any answer with our id) within UPSTREAM_WAIT_MS. */
static void query_wait(struct pollfd *p, const uint16_t *ids, bool *answered, size_t n)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = UPSTREAM_WAIT_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(p, (nfds_t)n, (int)left) <= 0)
			return;
		for (size_t i = 0; i < n; i++) {
			if (!(p[i].revents & (POLLIN | POLLERR)))
				continue;
			int r = ct_dns_query_answered(p[i].fd, ids[i]);
			answered[i] |= r > 0;
			if (r != 0)
				p[i].fd = -1; /* answered, or refused (ICMP): done with it */
		}
	}
}

static void check_upstream(const char *file, struct ctnet_findings *out)
{
	char servers[UPSTREAM_MAX][64], list[UPSTREAM_MAX * 80] = "";
	struct pollfd p[UPSTREAM_MAX];
	uint16_t ids[UPSTREAM_MAX];
	bool answered[UPSTREAM_MAX] = { false };
	int fds[UPSTREAM_MAX];
	size_t n = upstream_servers(file, servers, UPSTREAM_MAX);

	if (!n) {
		ctnet_finding_add(out, CTNET_SEV_DEGRADES, "dns-upstream-none", NULL, file,
				  "name servers in that file, or `ctnet dns --resolv-file FILE` with some",
				  "the resolv file of ctnet dns names no server: containers get only each other's names");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		ids[i] = (uint16_t)(getpid() * 31 + i * 7919 + (uint16_t)time(NULL));
		fds[i] = ct_dns_query_send(servers[i], "", ids[i]); /* the root: any server answers it */
		p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	}
	query_wait(p, ids, answered, n);
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		if (answered[i])
			return;
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s%s", l ? ", " : "", servers[i]);
	}
	ctnet_finding_add(out, CTNET_SEV_DEGRADES, "dns-upstream-silent", NULL, file,
			  "check the host's resolver (resolvectl status), or run ctnet dns with --resolv-file naming servers that answer",
			  "no upstream server of ctnet dns answered a query within %d ms (%s): containers get only each "
			  "other's names", UPSTREAM_WAIT_MS, list);
}

int ct_dns_doctor(struct ctnet_kern *kern, struct nat_doctor_view *nv, const struct netd_doctor_ct *cts, size_t n,
		  struct ctnet_findings *out, struct ctnet_err *err)
{
	struct ct_dns_state st;
	struct nat_dns_path *p;
	char names[200];
	size_t k, first = 0;

	if (ct_dns_state_read(&st) < 0)
		st.active = false;
	if (!st.active) {
		if ((k = resolv_ours(cts, n, names, sizeof(names), &first)))
			ctnet_finding_add(out, CTNET_SEV_DEGRADES, "dns-not-running", k == 1 ? cts[first].name : NULL,
					  "ctnet dns", "systemctl start ctnet-dns (or run `ctnet dns`)",
					  "%zu container%s (%s) %s a resolv.conf of ctnet's naming the host, but ctnet "
					  "dns does not run: their lookups get no answer", k, k == 1 ? "" : "s", names,
					  k == 1 ? "has" : "have");
		return 0;
	}
	if (!(p = calloc(2 * n + 1, sizeof(*p))))
		return ctnet_errf(err, ENOMEM, "doctor: out of memory");
	k = paths_of(kern, cts, n, p);
	nat_doctor_dns(nv, p, k, true, out);
	free(p);
	check_upstream(st.resolv_file, out);
	return out->oom ? ctnet_errf(err, ENOMEM, "doctor: out of memory") : 0;
}
