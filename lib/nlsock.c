/* SPDX-License-Identifier: MIT */
#include "nlsock.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

void ctnet_nl_adopt(struct ctnet_nl *h, int fd, int proto, uint32_t portid)
{
	*h = (struct ctnet_nl)CTNET_NL_INIT;
	h->fd = fd;
	h->proto = proto;
	h->portid = portid;
	h->seq = 1;
	h->pid = getpid();
}

int ctnet_nl_open(struct ctnet_nl *h, int proto, struct ctnet_err *err)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t len = sizeof(sa);
	int one = 1, fd;

	*h = (struct ctnet_nl)CTNET_NL_INIT;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return ctnet_err_sys(err, errno, "open netlink socket");
	/* The kernel's own explanation of a refusal, and acks without the echoed request. Old
	 * kernels lack these, which only costs detail. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int e = errno;
		close(fd);
		return ctnet_err_sys(err, e, "bind netlink socket");
	}
	ctnet_nl_adopt(h, fd, proto, sa.nl_pid);
	return 0;
}

int ctnet_nl_open_in(struct ctnet_nl *h, int proto, int netns_fd, struct ctnet_err *err)
{
	/* Our own namespace, to come back to. Per thread: setns() is per thread. */
	_cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int r;

	*h = (struct ctnet_nl)CTNET_NL_INIT;
	if (self < 0)
		return ctnet_err_sys(err, errno, "open own netns");
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return ctnet_err_sys(err, errno, "enter container netns");
	r = ctnet_nl_open(h, proto, err);
	if (setns(self, CLONE_NEWNET) < 0) {
		/* Staying in the container's namespace would misdirect every later call. */
		int e = errno;
		ctnet_nl_close(h);
		return ctnet_err_sys(err, e, "return to own netns");
	}
	return r;
}

void ctnet_nl_close(struct ctnet_nl *h)
{
	if (h->fd >= 0)
		close(h->fd);
	free(h->rbuf);
	*h = (struct ctnet_nl)CTNET_NL_INIT;
}

static int extack_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
		*(const char **)data = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

const char *ctnet_nl_extack(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = NLMSG_DATA(nlh);
	const char *msg = NULL;
	size_t off;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (nlh->nlmsg_type == NLMSG_DONE) {
		off = sizeof(int); /* a dump's end: its error, then the attributes */
	} else if (nlh->nlmsg_type == NLMSG_ERROR && nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e))) {
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
			if (e->msg.nlmsg_len < NLMSG_HDRLEN)
				return NULL;
			off += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
		}
	} else {
		return NULL;
	}
	if (NLMSG_HDRLEN + off >= nlh->nlmsg_len)
		return NULL;
	mnl_attr_parse(nlh, (unsigned)off, extack_attr, &msg);
	return msg;
}

/* The positive errno an NLMSG_ERROR or NLMSG_DONE carries (0: ack, or a plain DONE); a
 * malformed one (short, or a positive error field) is EPROTO. */
static int answer_errno(const struct nlmsghdr *nlh)
{
	int e = 0;
	if (nlh->nlmsg_type == NLMSG_ERROR) {
		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
			return EPROTO;
		e = ((const struct nlmsgerr *)NLMSG_DATA(nlh))->error;
	} else if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
		e = *(const int *)NLMSG_DATA(nlh);
	}
	return e > 0 || e < -4095 ? EPROTO : -e;
}

static struct ctnet_nl_req *find_req(struct ctnet_nl_req *req, size_t n, uint32_t seq)
{
	for (size_t i = 0; i < n; i++)
		if (req[i].seq == seq && !req[i].done)
			return &req[i];
	return NULL;
}

/* A delete whose object vanished meanwhile (a namespace dying took the device) is done as
 * well as one that found nothing. */
static bool counts_as_done(const struct ctnet_nl_req *q, int e)
{
	return e == 0 || e == q->ok_errno ||
	       (e == ENODEV && (q->ok_errno == EADDRNOTAVAIL || q->ok_errno == ESRCH || q->ok_errno == ENOENT));
}

struct talk {
	struct ctnet_nl *h;
	int64_t deadline_ms; /* CLOCK_MONOTONIC: the whole conversation's */
	struct ctnet_nl_req *req;
	size_t n, pending;
	uint32_t first, last; /* every sequence number this conversation sent */
	struct ctnet_nl_req *failed;
	struct ctnet_err *err;
};

static void fail_req(struct talk *t, struct ctnet_nl_req *q, int e, const char *ext)
{
	if (q->error)
		return; /* its first failure stands (a callback's, before the kernel's ack) */
	q->error = e;
	if (t->failed)
		return;
	t->failed = q;
	if (ext && *ext)
		ctnet_errf(t->err, e, "%s: %s (%s)", q->what, strerror(e), ext);
	else
		ctnet_errf(t->err, e, "%s: %s", q->what, strerror(e));
}

static void finish(struct talk *t, struct ctnet_nl_req *q)
{
	q->done = true;
	t->pending--;
}

/* One answer of the kernel. */
static void answer(struct talk *t, const struct nlmsghdr *nlh)
{
	struct ctnet_nl_req *q;
	int e;

	if (nlh->nlmsg_pid != t->h->portid || !(q = find_req(t->req, t->n, nlh->nlmsg_seq))) {
		/* An error for one of our untracked messages (nfnetlink's batch begin when
		 * the batch is refused whole) fails every request still waiting. */
		if (nlh->nlmsg_pid == t->h->portid && nlh->nlmsg_type == NLMSG_ERROR &&
		    nlh->nlmsg_seq - t->first <= t->last - t->first && (e = answer_errno(nlh)) != 0) {
			for (size_t i = 0; i < t->n; i++)
				if (!t->req[i].done) {
					fail_req(t, &t->req[i], e, ctnet_nl_extack(nlh));
					finish(t, &t->req[i]);
				}
			return;
		}
		t->h->foreign++;
		return;
	}
	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		q->intr = true;
	switch (nlh->nlmsg_type) {
	case NLMSG_NOOP:
		return;
	case NLMSG_ERROR:
	case NLMSG_DONE:
		e = answer_errno(nlh);
		if (!counts_as_done(q, e))
			fail_req(t, q, e, ctnet_nl_extack(nlh));
		else if (!q->error)
			q->error = e;
		finish(t, q);
		return;
	case NLMSG_OVERRUN:
		fail_req(t, q, EOVERFLOW, NULL);
		return;
	default:
		if (q->reply && !q->error) {
			int r = q->reply(nlh, q->arg);
			if (r < 0)
				fail_req(t, q, -r, NULL);
		}
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_answer(struct talk *t)
{
	struct ctnet_nl *h = t->h;
	int timeout = h->timeout_ms > 0 ? h->timeout_ms : CTNET_NL_TIMEOUT_MS;
	struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
	int64_t remain;
	const char *what = "netlink";
	ssize_t n;
	int r;

	for (size_t i = 0; i < t->n; i++)
		if (!t->req[i].done) {
			what = t->req[i].what;
			break;
		}
	do {
		remain = t->deadline_ms - now_ms();
		r = remain <= 0 ? 0 : poll(&pfd, 1, (int)remain);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return ctnet_err_sys(t->err, errno, "%s: netlink poll", what);
	if (r == 0)
		return ctnet_errf(t->err, ETIMEDOUT, "%s: no answer from the kernel within %d ms", what, timeout);
	do
		n = recv(h->fd, h->rbuf, CTNET_NL_RBUF, MSG_TRUNC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0)
		return ctnet_err_sys(t->err, errno, "%s: netlink receive", what);
	if ((size_t)n > CTNET_NL_RBUF)
		return ctnet_errf(t->err, EMSGSIZE, "%s: the kernel's answer (%zd bytes) was truncated", what, n);
	int left = (int)n;
	for (const struct nlmsghdr *nlh = (const void *)h->rbuf; mnl_nlmsg_ok(nlh, left) && t->pending;
	     nlh = mnl_nlmsg_next(nlh, &left))
		answer(t, nlh);
	return 0;
}

int ctnet_nl_talk(struct ctnet_nl *h, void *buf, size_t len, struct ctnet_nl_req *req, size_t n,
		  struct ctnet_err *err)
{
	struct talk t = { .h = h, .req = req, .n = n, .pending = n, .first = h->seq, .err = err };
	const char *what = n ? req[0].what : "netlink";
	size_t k = 0, off = 0;
	ssize_t sent;

	if (len == 0)
		return 0;
	if (h->fd < 0)
		return ctnet_errf(err, EBADF, "%s: netlink socket not open", what);
	if (h->pid != getpid())
		return ctnet_errf(err, ECHILD, "%s: netlink socket of another process", what);
	if (!h->rbuf && !(h->rbuf = malloc(CTNET_NL_RBUF)))
		return ctnet_errf(err, ENOMEM, "%s: out of memory", what);
	while (off + NLMSG_HDRLEN <= len) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)(void *)((unsigned char *)buf + off);
		if (nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > len - off)
			return ctnet_errf(err, EINVAL, "%s: malformed netlink request", what);
		nlh->nlmsg_seq = t.last = h->seq++;
		nlh->nlmsg_pid = 0;
		nlh->nlmsg_flags |= NLM_F_REQUEST;
		if (nlh->nlmsg_flags & (NLM_F_ACK | NLM_F_DUMP)) {
			if (k >= n)
				return ctnet_errf(err, EINVAL, "%s: more requests than expected", what);
			req[k].seq = nlh->nlmsg_seq;
			req[k].done = req[k].intr = false;
			req[k].error = 0;
			k++;
		}
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	if (k != n || off < len)
		return ctnet_errf(err, EINVAL, "%s: malformed netlink request", what);
	do
		sent = send(h->fd, buf, len, 0);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return ctnet_err_sys(err, errno, "%s: netlink send", what);
	t.deadline_ms = now_ms() + (h->timeout_ms > 0 ? h->timeout_ms : CTNET_NL_TIMEOUT_MS);
	while (t.pending > 0) {
		int r = wait_answer(&t);
		if (r < 0)
			return r;
	}
	return t.failed ? -t.failed->error : 0;
}

/* A single request: its name, its answers' callback, its "already done" errno. */
static void req_init(struct ctnet_nl_req *q, ctnet_nl_cb cb, void *arg, int ok_errno, const char *fmt, va_list ap)
{
	memset(q, 0, sizeof(*q));
	vsnprintf(q->what, sizeof(q->what), fmt, ap);
	q->reply = cb;
	q->arg = arg;
	q->ok_errno = ok_errno;
}

int ctnet_nl_request(struct ctnet_nl *h, struct nlmsghdr *nlh, ctnet_nl_cb cb, void *arg, int ok_errno,
		     struct ctnet_err *err, const char *fmt, ...)
{
	struct ctnet_nl_req q;
	va_list ap;

	va_start(ap, fmt);
	req_init(&q, cb, arg, ok_errno, fmt, ap);
	va_end(ap);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	return ctnet_nl_talk(h, nlh, nlh->nlmsg_len, &q, 1, err);
}

int ctnet_nl_dump(struct ctnet_nl *h, struct nlmsghdr *nlh, ctnet_nl_cb cb, void (*restart)(void *arg),
		  void *arg, struct ctnet_err *err, const char *fmt, ...)
{
	struct ctnet_nl_req q;
	va_list ap;

	va_start(ap, fmt);
	req_init(&q, cb, arg, 0, fmt, ap);
	va_end(ap);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_DUMP;
	for (int i = 0; i < CTNET_NL_DUMP_TRIES; i++) {
		int r = ctnet_nl_talk(h, nlh, nlh->nlmsg_len, &q, 1, err);
		if (r < 0 || !q.intr)
			return r;
		if (restart && i + 1 < CTNET_NL_DUMP_TRIES)
			restart(arg);
	}
	return ctnet_errf(err, EAGAIN, "%s: the kernel's table kept changing while it was read (%d tries)",
			  q.what, CTNET_NL_DUMP_TRIES);
}
