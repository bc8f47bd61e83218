/* SPDX-License-Identifier: MIT */
/*
 * connrate: the data-plane bench's client and server (bench/dataplane.py runs it).
 *
 *   connrate serve PORT [-t THREADS]
 *       TCP and UDP on [::]:PORT (IPv4 and IPv6). TCP: accept, read one byte, answer one byte,
 *       close. UDP: answer every datagram with one byte.
 *   connrate tcp|udp DEST PORT [-t THREADS] [-s SECONDS] [-b SRC[,SRC...]] [-o OFFSET]
 *       Request/response with a NEW flow per request for SECONDS: TCP connect, send, receive,
 *       close with RST (SO_LINGER 0: no TIME_WAIT anywhere); UDP a new socket per request. Each
 *       request binds an explicit (source, port) pair, walked in order from OFFSET over the
 *       sources and ports 10000-59999, so a tuple comes back only after all others were used:
 *       every request is a new conntrack entry and walks the NAT rules again. Prints one JSON
 *       line: {"proto":..,"ok":N,"errors":E,"seconds":S,"per_s":R,"next_offset":K}.
 *
 * Not a library: a bench tool, it prints and exits itself.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PORT_LO 10000u
#define PORT_N 50000u
#define MAX_SRC 16
#define MAX_THREADS 64

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

static struct addr dest;
static struct addr srcs[MAX_SRC];
static unsigned n_src;
static bool udp;
static double seconds = 1.0;
static unsigned threads = 4;
static uint64_t offset;
static atomic_uint_fast64_t next_tuple;
static atomic_uint_fast64_t n_ok, n_err;
static struct timespec t_end;
static pthread_barrier_t start;

_Noreturn static void die(const char *what, const char *why)
{
	fprintf(stderr, "connrate: %s: %s\n", what, why);
	exit(1);
}

static int parse_addr(const char *s, unsigned port, struct addr *a)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		a->len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		a->len = sizeof(*v6);
		return 0;
	}
	return -1;
}

static void set_port(struct addr *a, unsigned port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

static bool before_end(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec < t_end.tv_sec || (now.tv_sec == t_end.tv_sec && now.tv_nsec < t_end.tv_nsec);
}

static void timeouts(int fd, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* One request on a new flow; true when the answer came back. */
static bool request(void)
{
	uint64_t k = atomic_fetch_add(&next_tuple, 1);
	struct addr src = srcs[k % n_src];
	int one = 1;
	char c = 'q';
	bool ok = false;

	set_port(&src, PORT_LO + (unsigned)((k / n_src) % PORT_N));
	int fd = socket(dest.ss.ss_family, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	timeouts(fd, udp ? 200 : 1000);
	if (bind(fd, (struct sockaddr *)&src.ss, src.len) < 0 ||
	    connect(fd, (struct sockaddr *)&dest.ss, dest.len) < 0 || send(fd, &c, 1, MSG_NOSIGNAL) != 1)
		goto out;
	ok = recv(fd, &c, 1, 0) == 1;
out:
	if (!udp) {
		struct linger l = { 1, 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(fd);
	return ok;
}

static void *client_thread(void *arg)
{
	uint64_t ok = 0, err = 0;
	(void)arg;
	pthread_barrier_wait(&start);
	while (before_end()) {
		if (request())
			ok++;
		else
			err++;
	}
	atomic_fetch_add(&n_ok, ok);
	atomic_fetch_add(&n_err, err);
	return NULL;
}

static int client(void)
{
	pthread_t tid[MAX_THREADS];
	struct timespec t0, t1;

	atomic_store(&next_tuple, offset);
	pthread_barrier_init(&start, NULL, threads + 1);
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, client_thread, NULL))
			die("pthread_create", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	t_end = t0;
	t_end.tv_sec += (time_t)seconds;
	t_end.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (t_end.tv_nsec >= 1000000000L) {
		t_end.tv_sec++;
		t_end.tv_nsec -= 1000000000L;
	}
	pthread_barrier_wait(&start);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	uint64_t ok = atomic_load(&n_ok), err = atomic_load(&n_err);
	/* Our CPU time, exact (no IRQ time accounting: the softirq work of our packets, the
	 * host's netfilter hooks included, runs and is charged in our context). */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	printf("{\"proto\":\"%s\",\"threads\":%u,\"ok\":%llu,\"errors\":%llu,\"seconds\":%.4f,"
	       "\"per_s\":%.1f,\"cpu_s\":%.6f,\"next_offset\":%llu}\n",
	       udp ? "udp" : "tcp", threads, (unsigned long long)ok, (unsigned long long)err, el,
	       (double)ok / el, cpu, (unsigned long long)atomic_load(&next_tuple));
	return ok ? 0 : 1;
}

static int listen_fd(int type, unsigned port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port),
				  .sin6_addr = IN6ADDR_ANY_INIT };
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind", strerror(errno));
	if (type == SOCK_STREAM && listen(fd, 4096) < 0)
		die("listen", strerror(errno));
	return fd;
}

static void *tcp_server(void *arg)
{
	int lfd = *(int *)arg;
	char c;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		timeouts(fd, 1000);
		if (recv(fd, &c, 1, 0) == 1)
			(void)!send(fd, "a", 1, MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

static void *udp_server(void *arg)
{
	int fd = *(int *)arg;
	char buf[64];
	struct sockaddr_storage peer;
	for (;;) {
		socklen_t pl = sizeof(peer);
		if (recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &pl) >= 0)
			(void)!sendto(fd, "a", 1, 0, (struct sockaddr *)&peer, pl);
	}
	return NULL;
}

static int serve(unsigned port)
{
	static int tfd, ufd;
	pthread_t t;

	tfd = listen_fd(SOCK_STREAM, port);
	ufd = listen_fd(SOCK_DGRAM, port);
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&t, NULL, tcp_server, &tfd) || pthread_create(&t, NULL, udp_server, &ufd))
			die("pthread_create", strerror(errno));
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

static unsigned parse_uint(const char *s, unsigned lo, unsigned hi, const char *what)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		die(what, "bad number");
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: connrate serve PORT [-t N] | connrate tcp|udp DEST PORT "
				"[-t N] [-s SECONDS] [-b SRC,...] [-o OFFSET]\n");
		return 2;
	}
	bool srv = !strcmp(argv[1], "serve");
	if (!srv && strcmp(argv[1], "tcp") && strcmp(argv[1], "udp"))
		die(argv[1], "unknown mode (serve, tcp, udp)");
	udp = !strcmp(argv[1], "udp");
	int i = srv ? 3 : 4;
	if (!srv && argc < 4)
		die("usage", "tcp|udp DEST PORT");
	unsigned port = parse_uint(argv[srv ? 2 : 3], 1, 65535, "port");
	const char *src_list = NULL;
	for (; i < argc; i++) {
		if (i + 1 >= argc)
			die(argv[i], "needs a value");
		if (!strcmp(argv[i], "-t"))
			threads = parse_uint(argv[++i], 1, MAX_THREADS, "-t");
		else if (!strcmp(argv[i], "-s"))
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "-b"))
			src_list = argv[++i];
		else if (!strcmp(argv[i], "-o"))
			offset = strtoull(argv[++i], NULL, 10);
		else
			die(argv[i], "unknown option");
	}
	if (srv)
		return serve(port);
	if (!(seconds > 0 && seconds < 3600))
		die("-s", "bad duration");
	if (parse_addr(argv[2], port, &dest) < 0)
		die(argv[2], "not an IP address");
	if (src_list) {
		char *copy = strdup(src_list), *save = NULL;
		for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
			if (n_src == MAX_SRC)
				die("-b", "too many sources");
			if (parse_addr(s, 0, &srcs[n_src]) < 0 || srcs[n_src].ss.ss_family != dest.ss.ss_family)
				die(s, "not an address of the destination's family");
			n_src++;
		}
		free(copy);
	} else {
		n_src = 1;
		srcs[0].ss.ss_family = dest.ss.ss_family;
		srcs[0].len = dest.len;
	}
	return client();
}
