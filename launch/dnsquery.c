/* SPDX-License-Identifier: MIT */
/*
 * One DNS query over UDP, for whoever must know that a server answers: up waits until
 * dnsmasq serves a new container's host address, doctor asks the upstream servers. Any
 * well-formed answer with our id counts (NXDOMAIN and REFUSED included): the question is
 * whether something answers, not what.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"

int ct_dns_query_send(const char *server, const char *qname, uint16_t id)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_DGRAM }, *ai;
	/* id, RD, one question */
	uint8_t q[12 + CT_DNS_DOMAIN_MAX + 8] = { (uint8_t)(id >> 8), (uint8_t)id, 1, 0, 0, 1 };
	size_t n = 12;
	int fd, r;

	for (const char *p = qname; *p;) { /* labels; the root is the empty name */
		size_t l = strcspn(p, ".");
		if (!l || l > CT_DNS_LABEL_MAX || n + 1 + l + 5 > sizeof(q))
			return -EINVAL;
		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
		p += l + (p[l] == '.');
	}
	memcpy(q + n, (const uint8_t[]){ 0, 0, 6, 0, 1 }, 5); /* end of name, SOA, IN */
	n += 5;
	if ((r = getaddrinfo(server, "53", &hints, &ai)) != 0)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0 && (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 || send(fd, q, n, 0) != (ssize_t)n)) {
		r = -errno;
		close(fd);
		fd = r;
	} else if (fd < 0) {
		fd = -errno;
	}
	freeaddrinfo(ai);
	return fd;
}

int ct_dns_query_answered(int fd, uint16_t id)
{
	uint8_t buf[512];
	ssize_t r;

	while ((r = recv(fd, buf, sizeof(buf), 0)) >= 0)
		if (r >= 12 && (uint16_t)(buf[0] << 8 | buf[1]) == id && (buf[2] & 0x80))
			return 1;
	return errno == EAGAIN ? 0 : -errno;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int ct_dns_wait_serving(const struct ctnet_addr *server, const char *qname, int timeout_ms)
{
	char a[CTNET_ADDR_STRLEN];
	struct timespec t0;
	uint16_t id = (uint16_t)(getpid() ^ 0x5a5a);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ctnet_addr_str(server, a);
	/* A new address is bound by dnsmasq a moment after it appears (--bind-dynamic follows
	 * the kernel's address events): until then the query meets a closed port. */
	for (unsigned wait = 2;; wait = wait < 64 ? wait * 2 : 64) {
		int fd = ct_dns_query_send(a, qname, ++id), r = fd;
		if (fd >= 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			r = poll(&p, 1, (int)wait) > 0 ? ct_dns_query_answered(fd, id) : 0;
			close(fd);
		}
		if (r > 0)
			return 1;
		if (r < 0 && r != -ECONNREFUSED)
			return r;
		if (ms_since(&t0) >= timeout_ms)
			return 0;
		nanosleep(&(struct timespec){ .tv_nsec = (long)wait * 1000000L }, NULL);
	}
}
