/*
 * Unit tests of lib/nlsock.c, the netlink transport, against a fake kernel: one end of an
 * AF_UNIX datagram socketpair is adopted as the handle's socket, the other end is served by
 * a thread that reads each request, notes the sequence numbers the transport assigned and
 * sends crafted answers. Then a few read-only checks against the real kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "nlsock.h"
#include "t.h"

#define PORTID 4242u
#define KERN_WAIT_MS 3000 /* the fake kernel gives up on a request after this */
#define KERN_MAX_MSGS 16

/* --- checks that print what they saw --- */

static void t_rc(const char *what, int got, int want, const struct ctnet_err *err)
{
	if (got == want) {
		printf("PASS %s\n", what);
		t_pass++;
	} else {
		printf("FAIL %s: returned %d (%s), expected %d (%s); error text \"%s\"\n", what, got,
		       got < 0 ? strerror(-got) : "success", want, want < 0 ? strerror(-want) : "success",
		       err ? err->msg : "");
		t_fail++;
	}
}

static void t_has(const char *what, const char *text, const char *part)
{
	if (strstr(text, part)) {
		printf("PASS %s\n", what);
		t_pass++;
	} else {
		printf("FAIL %s: \"%s\" does not contain \"%s\"\n", what, text, part);
		t_fail++;
	}
}

static void t_num(const char *what, long got, long want)
{
	if (got == want) {
		printf("PASS %s\n", what);
		t_pass++;
	} else {
		printf("FAIL %s: saw %ld, expected %ld\n", what, got, want);
		t_fail++;
	}
}

/* --- the fake kernel --- */

/* One datagram of netlink messages, built or received. */
struct dgram {
	union {
		unsigned char b[16384];
		struct nlmsghdr align_;
	} u;
	size_t len;
};

struct kern {
	int fd; /* the kernel's end */
	void (*script)(struct kern *k);
	pthread_t thread;
	void *arg; /* for the script */
	/* the last request received: */
	struct dgram req;
	size_t nmsg;
	struct nlmsghdr *msg[KERN_MAX_MSGS];
	uint32_t seq[KERN_MAX_MSGS];
	/* over the whole test: */
	int requests;  /* datagrams received */
	uint32_t first_seq[KERN_MAX_MSGS]; /* the first message's sequence number, per datagram */
	char bad[256]; /* what the kernel found wrong in the requests; "" when nothing */
	unsigned long foreign; /* the handle's count of foreign answers when it was closed */
};

static void kern_note(struct kern *k, const char *what)
{
	if (!k->bad[0])
		snprintf(k->bad, sizeof(k->bad), "%s", what);
}

/* Reads one request datagram; false (and noted) when none came or it was malformed. */
static bool kern_recv(struct kern *k)
{
	struct pollfd p = { .fd = k->fd, .events = POLLIN };
	ssize_t n;
	int left;

	if (poll(&p, 1, KERN_WAIT_MS) != 1) {
		kern_note(k, "no request came");
		return false;
	}
	n = recv(k->fd, k->req.u.b, sizeof(k->req.u.b), 0);
	if (n <= 0) {
		kern_note(k, "request receive failed");
		return false;
	}
	k->req.len = (size_t)n;
	k->nmsg = 0;
	left = (int)n;
	for (struct nlmsghdr *nh = &k->req.u.align_; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
		if (k->nmsg == KERN_MAX_MSGS) {
			kern_note(k, "too many messages in a request");
			return false;
		}
		if (nh->nlmsg_pid != 0)
			kern_note(k, "a request carried a port id (the kernel's answers are addressed by it)");
		if (!(nh->nlmsg_flags & NLM_F_REQUEST))
			kern_note(k, "a request without NLM_F_REQUEST");
		k->msg[k->nmsg] = nh;
		k->seq[k->nmsg++] = nh->nlmsg_seq;
	}
	if (left != 0 || k->nmsg == 0) {
		kern_note(k, "malformed request datagram");
		return false;
	}
	if (k->requests < KERN_MAX_MSGS)
		k->first_seq[k->requests] = k->seq[0];
	k->requests++;
	return true;
}

static struct nlmsghdr *put(struct dgram *d, uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid,
			    const void *data, size_t dlen)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)(void *)(d->u.b + d->len);

	memset(nh, 0, NLMSG_SPACE(dlen));
	nh->nlmsg_len = (uint32_t)NLMSG_LENGTH(dlen);
	nh->nlmsg_type = type;
	nh->nlmsg_flags = flags;
	nh->nlmsg_seq = seq;
	nh->nlmsg_pid = pid;
	if (data)
		memcpy(NLMSG_DATA(nh), data, dlen);
	d->len += NLMSG_ALIGN(nh->nlmsg_len);
	return nh;
}

/* nh, the last message of d, grows by a NUL-terminated string attribute. */
static void put_str(struct dgram *d, struct nlmsghdr *nh, uint16_t type, const char *s)
{
	mnl_attr_put_strz(nh, type, s);
	d->len = (size_t)((unsigned char *)nh - d->u.b) + NLMSG_ALIGN(nh->nlmsg_len);
}

/* An RTM_NEWLINK answer for ifindex. */
static void put_link(struct dgram *d, uint16_t flags, uint32_t seq, uint32_t pid, int ifindex)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
	put(d, RTM_NEWLINK, flags, seq, pid, &ifi, sizeof(ifi));
}

/*
 * An NLMSG_ERROR (error 0: an ack) for seq. NLM_F_CAPPED in flags echoes only the request's
 * header, as the kernel does with NETLINK_CAP_ACK; else the whole request echo is echoed.
 * extack, when given, is appended as NLMSGERR_ATTR_MSG with NLM_F_ACK_TLVS.
 */
static void put_error(struct dgram *d, uint32_t seq, uint32_t pid, int error, uint16_t flags,
		      const struct nlmsghdr *echo, const char *extack)
{
	struct nlmsgerr e = { .error = error };
	struct nlmsghdr *nh;

	if (echo)
		e.msg = *echo;
	nh = put(d, NLMSG_ERROR, flags, seq, pid, &e, sizeof(e));
	if (echo && !(flags & NLM_F_CAPPED)) {
		size_t plen = echo->nlmsg_len - NLMSG_HDRLEN;
		memcpy((unsigned char *)nh + nh->nlmsg_len, (const unsigned char *)echo + NLMSG_HDRLEN, plen);
		nh->nlmsg_len += (uint32_t)plen;
		d->len = (size_t)((unsigned char *)nh - d->u.b) + NLMSG_ALIGN(nh->nlmsg_len);
	}
	if (extack) {
		nh->nlmsg_flags |= NLM_F_ACK_TLVS;
		put_str(d, nh, NLMSGERR_ATTR_MSG, extack);
	}
}

static void put_ack(struct dgram *d, uint32_t seq)
{
	put_error(d, seq, PORTID, 0, NLM_F_CAPPED, NULL, NULL);
}

/* NLMSG_DONE ending a dump, with the dump's error (0 or -errno) and maybe an extack text. */
static void put_done(struct dgram *d, uint32_t seq, uint16_t flags, int error, const char *extack)
{
	struct nlmsghdr *nh = put(d, NLMSG_DONE, NLM_F_MULTI | flags, seq, PORTID, &error, sizeof(error));
	if (extack) {
		nh->nlmsg_flags |= NLM_F_ACK_TLVS;
		put_str(d, nh, NLMSGERR_ATTR_MSG, extack);
	}
}

/* Sends d as one datagram and empties it. */
static void kern_send(struct kern *k, struct dgram *d)
{
	if (send(k->fd, d->u.b, d->len, 0) != (ssize_t)d->len)
		kern_note(k, "answer send failed");
	d->len = 0;
}

static void *kern_main(void *arg)
{
	struct kern *k = arg;
	k->script(k);
	return NULL;
}

/* A handle h adopted on one end of a fresh socketpair; script (if any) serves the other. */
static void kern_start(struct kern *k, struct ctnet_nl *h, void (*script)(struct kern *k), void *arg)
{
	int sv[2];

	memset(k, 0, sizeof(*k));
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(2);
	}
	ctnet_nl_adopt(h, sv[0], NETLINK_ROUTE, PORTID);
	k->fd = sv[1];
	k->script = script;
	k->arg = arg;
	if (script && pthread_create(&k->thread, NULL, kern_main, k) != 0) {
		perror("pthread_create");
		exit(2);
	}
}

/* Waits for the script, checks that it found nothing wrong, closes both ends (k->foreign
 * keeps the handle's count). */
static void kern_stop(struct kern *k, struct ctnet_nl *h, const char *test)
{
	char what[200];

	if (k->script)
		pthread_join(k->thread, NULL);
	snprintf(what, sizeof(what), "%s: the fake kernel found the requests well-formed", test);
	T_STREQ(what, k->bad, "");
	close(k->fd);
	k->foreign = h->foreign;
	ctnet_nl_close(h);
}

/* True when a datagram is waiting at the kernel's end (the transport sent something). */
static bool kern_has_input(const struct kern *k)
{
	struct pollfd p = { .fd = k->fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

/* --- the client side --- */

struct link_req {
	struct nlmsghdr nh;
	struct ifinfomsg ifi;
};

static struct nlmsghdr *link_req(struct link_req *r, uint16_t type, int ifindex)
{
	memset(r, 0, sizeof(*r));
	r->nh.nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(r->ifi));
	r->nh.nlmsg_type = type;
	r->ifi.ifi_family = AF_UNSPEC;
	r->ifi.ifi_index = ifindex;
	return &r->nh;
}

/* What a callback saw. */
struct seen {
	int calls, restarts;
	int fail_with;    /* the callback returns -fail_with (0: goes on) */
	uint16_t type;    /* of the last message seen */
	uint32_t seq;
	int index;        /* ifi_index of the last message seen */
	int index_sum;
};

static int on_link(const struct nlmsghdr *nlh, void *arg)
{
	struct seen *s = arg;

	s->calls++;
	s->type = nlh->nlmsg_type;
	s->seq = nlh->nlmsg_seq;
	if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg))) {
		s->index = ((const struct ifinfomsg *)NLMSG_DATA(nlh))->ifi_index;
		s->index_sum += s->index;
	}
	return -s->fail_with;
}

static void on_restart(void *arg)
{
	struct seen *s = arg;
	s->calls = 0;
	s->index_sum = 0;
	s->restarts++;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* --- 1. request and ack --- */

static void script_reply_then_ack(struct kern *k)
{
	struct dgram d = { .len = 0 };

	if (!kern_recv(k))
		return;
	/* The reply and the ack in one datagram, as the kernel may pack them. */
	put_link(&d, 0, k->seq[0], PORTID, 7);
	put_ack(&d, k->seq[0]);
	kern_send(k, &d);
}

static void test_request_ack_success(void)
{
	struct kern k;
	struct ctnet_nl h;
	struct ctnet_err err = { 0 };
	struct link_req rq;
	struct seen s = { 0 };
	uint32_t seq0;
	int r;

	kern_start(&k, &h, script_reply_then_ack, NULL);
	seq0 = h.seq;
	r = ctnet_nl_request(&h, link_req(&rq, RTM_GETLINK, 7), on_link, &s, 0, &err, "read link %d", 7);
	kern_stop(&k, &h, "request/ack");
	t_rc("request/ack: a request answered by a reply and an ack returns 0", r, 0, &err);
	t_num("request/ack: the callback saw the one reply before the ack", s.calls, 1);
	t_num("request/ack: the callback saw RTM_NEWLINK", s.type, RTM_NEWLINK);
	t_num("request/ack: the reply's payload reached the callback intact", s.index, 7);
	t_num("request/ack: the request carried the handle's next sequence number", k.seq[0], seq0);
	t_num("request/ack: the reply the callback saw had the request's sequence number", s.seq, seq0);
	T_OK("request/ack: the request was sent with NLM_F_REQUEST|NLM_F_ACK",
	     (rq.nh.nlmsg_flags & (NLM_F_REQUEST | NLM_F_ACK)) == (NLM_F_REQUEST | NLM_F_ACK));
	t_num("request/ack: no answer was dropped as foreign", (long)k.foreign, 0);
}

/* --- 2. kernel error with extended ACK, ok_errno --- */

struct err_answer {
	int error;
	uint16_t flags;
	const char *extack;
};

static void script_error(struct kern *k)
{
	const struct err_answer *a = k->arg;
	struct dgram d = { .len = 0 };

	if (!kern_recv(k))
		return;
	put_error(&d, k->seq[0], PORTID, a->error, a->flags, k->msg[0], a->extack);
	kern_send(k, &d);
}

static int request_answered(const struct err_answer *a, int ok_errno, struct ctnet_err *err)
{
	struct kern k;
	struct ctnet_nl h;
	struct link_req rq;
	int r;

	kern_start(&k, &h, script_error, (void *)(uintptr_t)a);
	memset(err, 0, sizeof(*err));
	r = ctnet_nl_request(&h, link_req(&rq, RTM_NEWLINK, 0), NULL, NULL, ok_errno, err,
			     "create veth \"%s\"", "ve-web");
	kern_stop(&k, &h, "kernel error");
	return r;
}

static void test_kernel_error_with_extack(void)
{
	struct ctnet_err err;
	struct err_answer capped = { -EEXIST, NLM_F_CAPPED, "Link already exists" };
	struct err_answer echoed = { -EEXIST, 0, "Link already exists" };
	struct err_answer plain = { -EPERM, NLM_F_CAPPED, NULL };
	struct err_answer vanished = { -ENODEV, NLM_F_CAPPED, NULL };
	struct err_answer positive = { EPERM, NLM_F_CAPPED, NULL };
	int r;

	r = request_answered(&capped, 0, &err);
	t_rc("kernel error: EEXIST (capped ack with extack) fails the request", r, -EEXIST, &err);
	t_num("kernel error: err.code is EEXIST", err.code, EEXIST);
	t_has("kernel error: the error text names the request", err.msg, "create veth \"ve-web\"");
	t_has("kernel error: the error text carries the kernel's extended ACK", err.msg, "Link already exists");
	t_has("kernel error: the error text says why", err.msg, strerror(EEXIST));

	r = request_answered(&echoed, 0, &err);
	t_rc("kernel error: EEXIST (uncapped ack echoing the request, with extack)", r, -EEXIST, &err);
	t_has("kernel error: the extack text is found after an echoed request", err.msg, "Link already exists");

	r = request_answered(&plain, 0, &err);
	t_rc("kernel error: EPERM without extack", r, -EPERM, &err);
	T_STREQ("kernel error: text without extack is \"WHAT: strerror\"", err.msg,
		"create veth \"ve-web\": Operation not permitted");

	r = request_answered(&capped, EEXIST, &err);
	t_rc("kernel error: the same EEXIST answer with ok_errno EEXIST returns 0", r, 0, &err);

	r = request_answered(&vanished, ENOENT, &err);
	t_rc("kernel error: ENODEV for a delete with ok_errno ENOENT counts as done", r, 0, &err);
	r = request_answered(&vanished, EEXIST, &err);
	t_rc("kernel error: ENODEV for a create with ok_errno EEXIST still fails", r, -ENODEV, &err);

	/* A corrupt answer fails closed: a caller testing r < 0 must not take it for success. */
	r = request_answered(&positive, 0, &err);
	T_OK("kernel error: an NLMSG_ERROR with a positive error field is a failure (r < 0)", r < 0);
	if (r >= 0)
		printf("# returned %d, error text \"%s\"\n", r, err.msg);
}

/* ctnet_nl_extack on crafted answers, directly. */
static void test_extack_parse(void)
{
	struct dgram d = { .len = 0 };
	struct link_req rq;
	struct nlmsghdr *nh;
	struct nlmsgerr *e;
	const char *m;

	link_req(&rq, RTM_NEWLINK, 3);
	rq.nh.nlmsg_seq = 9;

	put_error(&d, 9, PORTID, -EINVAL, NLM_F_CAPPED, &rq.nh, "capped text");
	m = ctnet_nl_extack(&d.u.align_);
	T_STREQ("extack: read from a capped NLMSG_ERROR", m, "capped text");

	d.len = 0;
	put_error(&d, 9, PORTID, -EINVAL, 0, &rq.nh, "echoed text");
	m = ctnet_nl_extack(&d.u.align_);
	T_STREQ("extack: read after the echoed request of an uncapped NLMSG_ERROR", m, "echoed text");

	d.len = 0;
	nh = put(&d, NLMSG_ERROR, NLM_F_CAPPED, 9, PORTID, NULL, sizeof(struct nlmsgerr));
	T_OK("extack: none without NLM_F_ACK_TLVS", ctnet_nl_extack(nh) == NULL);

	/* An echo header claiming more than the answer holds must not send the parser
	 * outside the message. */
	d.len = 0;
	put_error(&d, 9, PORTID, -EINVAL, 0, &rq.nh, "x");
	e = NLMSG_DATA(&d.u.align_);
	e->msg.nlmsg_len = 0xfffffff0u;
	T_OK("extack: an echo length beyond the message gives none",
	     ctnet_nl_extack(&d.u.align_) == NULL);

	/* The header documents NLMSG_DONE too: a dump that fails says why after the int. */
	d.len = 0;
	put_done(&d, 9, 0, -EINVAL, "dump filter not supported");
	m = ctnet_nl_extack(&d.u.align_);
	T_STREQ("extack: read from an NLMSG_DONE with NLM_F_ACK_TLVS (as nlsock.h documents)", m ? m : "(null)",
		"dump filter not supported");
}

/* --- 3. foreign sequence number and port id --- */

static void script_foreign_then_ack(struct kern *k)
{
	struct dgram d = { .len = 0 };

	if (!kern_recv(k))
		return;
	put_error(&d, k->seq[0] + 100, PORTID, -EPERM, NLM_F_CAPPED, NULL, NULL); /* other seq */
	put_link(&d, 0, k->seq[0] + 100, PORTID, 5);
	kern_send(k, &d);
	put_error(&d, k->seq[0], PORTID + 1, -EPERM, NLM_F_CAPPED, NULL, NULL); /* other port */
	put_link(&d, 0, k->seq[0], PORTID + 1, 6);
	kern_send(k, &d);
	put_ack(&d, k->seq[0]);
	kern_send(k, &d);
}

static void test_foreign_answers_ignored(void)
{
	struct kern k;
	struct ctnet_nl h;
	struct ctnet_err err = { 0 };
	struct link_req rq;
	struct seen s = { 0 };
	int r;

	kern_start(&k, &h, script_foreign_then_ack, NULL);
	r = ctnet_nl_request(&h, link_req(&rq, RTM_SETLINK, 4), on_link, &s, 0, &err, "set link %d", 4);
	kern_stop(&k, &h, "foreign answers");
	t_rc("foreign answers: errors with another sequence number or port id are ignored, the ack taken",
	     r, 0, &err);
	t_num("foreign answers: h.foreign counts the four foreign messages", (long)k.foreign, 4);
	t_num("foreign answers: the callback saw none of them", s.calls, 0);
}

/* --- 4. a late answer --- */

static void script_late_answer(struct kern *k)
{
	struct dgram d = { .len = 0 };
	uint32_t old;

	if (!kern_recv(k)) /* the first request: no answer until it timed out */
		return;
	old = k->seq[0];
	if (!kern_recv(k))
		return;
	if (k->seq[0] == old)
		kern_note(k, "the second request reused the first one's sequence number");
	/* The first request's answers arrive at the start of the second conversation. */
	put_link(&d, 0, old, PORTID, 9);
	put_error(&d, old, PORTID, -EBUSY, NLM_F_CAPPED, NULL, "late refusal");
	kern_send(k, &d);
	put_ack(&d, k->seq[0]);
	kern_send(k, &d);
}

static void test_late_answer_ignored(void)
{
	struct kern k;
	struct ctnet_nl h;
	struct ctnet_err err = { 0 };
	struct link_req rq;
	struct seen s = { 0 };
	int r1, r2;

	kern_start(&k, &h, script_late_answer, NULL);
	h.timeout_ms = 200;
	r1 = ctnet_nl_request(&h, link_req(&rq, RTM_SETLINK, 9), on_link, &s, 0, &err, "set link %d", 9);
	t_rc("late answer: the first request times out", r1, -ETIMEDOUT, &err);
	memset(&err, 0, sizeof(err));
	r2 = ctnet_nl_request(&h, link_req(&rq, RTM_SETLINK, 10), on_link, &s, 0, &err, "set link %d", 10);
	kern_stop(&k, &h, "late answer");
	t_rc("late answer: the second request ignores the first one's late error and takes its own ack",
	     r2, 0, &err);
	t_num("late answer: the late reply and error are counted foreign", (long)k.foreign, 2);
	t_num("late answer: the callback never saw the late reply", s.calls, 0);
}

/* --- 5. a peer that never answers --- */

static void script_silent(struct kern *k)
{
	(void)kern_recv(k);
}

static void test_no_answer_times_out(void)
{
	struct kern k;
	struct ctnet_nl h;
	struct ctnet_err err = { 0 };
	struct link_req rq;
	struct timespec t0;
	long ms;
	int r;

	kern_start(&k, &h, script_silent, NULL);
	h.timeout_ms = 200;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = ctnet_nl_request(&h, link_req(&rq, RTM_GETLINK, 2), NULL, NULL, 0, &err, "read link \"%s\"", "eth9");
	ms = ms_since(&t0);
	kern_stop(&k, &h, "no answer");
	t_rc("no answer: a silent peer makes the request fail with ETIMEDOUT", r, -ETIMEDOUT, &err);
	t_has("no answer: the error names the request", err.msg, "read link \"eth9\"");
	t_has("no answer: the error says no answer came", err.msg, "no answer");
	/* A floor only: that it returned at all is the test; a busy machine may take longer. */
	T_OK("no answer: it waited for the handle's timeout (>= 150 ms)", ms >= 150);
	printf("# waited %ld ms for a 200 ms timeout\n", ms);
}

/* --- 6. interrupted dump --- */

static void script_dump_intr_once(struct kern *k)
{
	struct dgram d = { .len = 0 };

	if (!kern_recv(k))
		return;
	if (!(k->msg[0]->nlmsg_flags & NLM_F_DUMP))
		kern_note(k, "the dump request lacks NLM_F_DUMP");
	/* First attempt: two links, the table changed under the first. */
	put_link(&d, NLM_F_MULTI | NLM_F_DUMP_INTR, k->seq[0], PORTID, 100);
	put_link(&d, NLM_F_MULTI, k->seq[0], PORTID, 200);
	kern_send(k, &d);
	put_done(&d, k->seq[0], 0, 0, NULL);
	kern_send(k, &d);
	/* Second attempt: three links, clean; DONE in the same datagram. */
	if (!kern_recv(k))
		return;
	put_link(&d, NLM_F_MULTI, k->seq[0], PORTID, 1);
	put_link(&d, NLM_F_MULTI, k->seq[0], PORTID, 2);
	put_link(&d, NLM_F_MULTI, k->seq[0], PORTID, 3);
	put_done(&d, k->seq[0], 0, 0, NULL);
	kern_send(k, &d);
}

static void script_dump_intr_always(struct kern *k)
{
	struct dgram d = { .len = 0 };

	for (int i = 0; i < CTNET_NL_DUMP_TRIES; i++) {
		if (!kern_recv(k))
			return;
		put_link(&d, NLM_F_MULTI | NLM_F_DUMP_INTR, k->seq[0], PORTID, 1);
		put_done(&d, k->seq[0], NLM_F_DUMP_INTR, 0, NULL);
		kern_send(k, &d);
	}
	/* One more request would be one too many: wait briefly to see none comes. */
	struct pollfd p = { .fd = k->fd, .events = POLLIN };
	if (poll(&p, 1, 100) == 1)
		kern_note(k, "the dump was tried more than CTNET_NL_DUMP_TRIES times");
}

static void script_dump_fails(struct kern *k)
{
	struct dgram d = { .len = 0 };

	if (!kern_recv(k))
		return;
	put_link(&d, NLM_F_MULTI, k->seq[0], PORTID, 1);
	put_done(&d, k->seq[0], 0, -EINVAL, "dump filter not supported");
	kern_send(k, &d);
}

static void test_dump_interrupted(void)
{
	struct kern k;
	struct ctnet_nl h;
	struct ctnet_err err = { 0 };
	struct link_req rq;
	struct seen s = { 0 };
	int r;

	kern_start(&k, &h, script_dump_intr_once, NULL);
	r = ctnet_nl_dump(&h, link_req(&rq, RTM_GETLINK, 0), on_link, on_restart, &s, &err, "list links");
	kern_stop(&k, &h, "interrupted dump");
	t_rc("interrupted dump: read again after NLM_F_DUMP_INTR, the clean second attempt returns 0", r, 0,
	     &err);
	t_num("interrupted dump: the kernel saw two dump requests", k.requests, 2);
	T_OK("interrupted dump: the second attempt had a new sequence number", k.first_seq[0] != k.first_seq[1]);
	t_num("interrupted dump: restart() was called once", s.restarts, 1);
	t_num("interrupted dump: the collected count is the second attempt's three links", s.calls, 3);
	t_num("interrupted dump: the collected links are only the second attempt's (1+2+3)", s.index_sum, 6);

	memset(&s, 0, sizeof(s));
	kern_start(&k, &h, script_dump_intr_always, NULL);
	r = ctnet_nl_dump(&h, link_req(&rq, RTM_GETLINK, 0), on_link, on_restart, &s, &err, "list links");
	kern_stop(&k, &h, "always interrupted dump");
	t_rc("always interrupted dump: EAGAIN after CTNET_NL_DUMP_TRIES attempts", r, -EAGAIN, &err);
	t_num("always interrupted dump: the kernel saw CTNET_NL_DUMP_TRIES requests", k.requests,
	      CTNET_NL_DUMP_TRIES);
	t_has("always interrupted dump: the error names the dump", err.msg, "list links");

	memset(&s, 0, sizeof(s));
	kern_start(&k, &h, script_dump_fails, NULL);
	r = ctnet_nl_dump(&h, link_req(&rq, RTM_GETLINK, 0), on_link, on_restart, &s, &err, "list links");
	kern_stop(&k, &h, "failed dump");
	t_rc("failed dump: an NLMSG_DONE carrying -EINVAL fails the dump", r, -EINVAL, &err);
	t_has("failed dump: the error names the dump", err.msg, "list links");
	t_has("failed dump: the error carries the extack text of the NLMSG_DONE", err.msg,
	      "dump filter not supported");
}

/* --- 7. a batch --- */

/* nfnetlink's batch: begin, three requests with NLM_F_ACK, end. */
struct batch {
	union {
		unsigned char b[1024];
		struct nlmsghdr align_;
	} u;
	size_t len;
};

static void batch_put(struct batch *b, uint16_t type, uint16_t flags, uint16_t res_id)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)(void *)(b->u.b + b->len);
	struct nfgenmsg *nfg = NLMSG_DATA(nh);

	memset(nh, 0, NLMSG_SPACE(sizeof(*nfg)));
	nh->nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(*nfg));
	nh->nlmsg_type = type;
	nh->nlmsg_flags = flags;
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(res_id);
	b->len += NLMSG_ALIGN(nh->nlmsg_len);
}

static void batch_build(struct batch *b, struct ctnet_nl_req *req)
{
	const uint16_t newtable = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE;

	b->len = 0;
	batch_put(b, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, NFNL_SUBSYS_NFTABLES);
	batch_put(b, newtable, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, 0);
	batch_put(b, newtable, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, 0);
	batch_put(b, newtable, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, 0);
	batch_put(b, NFNL_MSG_BATCH_END, NLM_F_REQUEST, NFNL_SUBSYS_NFTABLES);
	memset(req, 0, 3 * sizeof(*req));
	for (int i = 0; i < 3; i++)
		snprintf(req[i].what, sizeof(req[i].what), "create table t%d", i);
	/* Set before: the transport must overwrite them. */
	req[1].error = EIO;
	req[1].done = true;
}

static void script_batch_each(struct kern *k)
{
	struct dgram d = { .len = 0 };

	if (!kern_recv(k))
		return;
	if (k->nmsg != 5) {
		kern_note(k, "the batch did not come as five messages in one datagram");
		return;
	}
	put_error(&d, k->seq[1], PORTID, -ENOENT, NLM_F_CAPPED, k->msg[1], "No such table family");
	put_ack(&d, k->seq[2]);
	kern_send(k, &d);
	put_error(&d, k->seq[3], PORTID, -EPERM, NLM_F_CAPPED, k->msg[3], NULL);
	kern_send(k, &d);
}

static void script_batch_refused(struct kern *k)
{
	struct dgram d = { .len = 0 };

	if (!kern_recv(k))
		return;
	/* nfnetlink refuses a whole batch with an error for its begin message. */
	put_error(&d, k->seq[0], PORTID, -EPERM, NLM_F_CAPPED, k->msg[0], NULL);
	kern_send(k, &d);
}

static void test_batch(void)
{
	struct kern k;
	struct ctnet_nl h;
	struct ctnet_err err = { 0 };
	struct batch b;
	struct ctnet_nl_req req[3];
	int r;

	batch_build(&b, req);
	kern_start(&k, &h, script_batch_each, NULL);
	r = ctnet_nl_talk(&h, b.u.b, b.len, req, 3, &err);
	kern_stop(&k, &h, "batch");
	t_rc("batch: the first failure (ENOENT of the first request) is returned", r, -ENOENT, &err);
	t_num("batch: request 0 error is ENOENT", req[0].error, ENOENT);
	t_num("batch: request 1 error is 0", req[1].error, 0);
	t_num("batch: request 2 error is EPERM", req[2].error, EPERM);
	T_OK("batch: every request is done", req[0].done && req[1].done && req[2].done);
	t_has("batch: the error names the failed request", err.msg, "create table t0");
	t_has("batch: the error carries its extack", err.msg, "No such table family");
	T_OK("batch: begin, three requests and end got consecutive sequence numbers",
	     k.nmsg == 5 && k.seq[1] == k.seq[0] + 1 && k.seq[2] == k.seq[0] + 2 && k.seq[3] == k.seq[0] + 3 &&
		     k.seq[4] == k.seq[0] + 4);
	T_OK("batch: req[i].seq are the requests' sequence numbers (not begin/end)",
	     req[0].seq == k.seq[1] && req[1].seq == k.seq[2] && req[2].seq == k.seq[3]);
	T_OK("batch: the begin and end markers were sent without NLM_F_ACK",
	     k.nmsg == 5 && !(k.msg[0]->nlmsg_flags & NLM_F_ACK) && !(k.msg[4]->nlmsg_flags & NLM_F_ACK));
	t_num("batch: nothing was foreign", (long)k.foreign, 0);

	batch_build(&b, req);
	kern_start(&k, &h, script_batch_refused, NULL);
	r = ctnet_nl_talk(&h, b.u.b, b.len, req, 3, &err);
	kern_stop(&k, &h, "refused batch");
	t_rc("refused batch: an error for the untracked batch begin fails the talk", r, -EPERM, &err);
	T_OK("refused batch: every request failed with EPERM and is done",
	     req[0].error == EPERM && req[1].error == EPERM && req[2].error == EPERM && req[0].done &&
		     req[1].done && req[2].done);
	t_has("refused batch: the error names the first request", err.msg, "create table t0");
}

/* --- 8. a callback that fails --- */

static void script_two_replies_then_ack_late(struct kern *k)
{
	struct dgram d = { .len = 0 };

	if (!kern_recv(k))
		return;
	put_link(&d, 0, k->seq[0], PORTID, 1);
	kern_send(k, &d);
	put_link(&d, 0, k->seq[0], PORTID, 2);
	kern_send(k, &d);
	/* The ack comes a little later, in a datagram of its own: the transport must wait. */
	usleep(50 * 1000);
	put_ack(&d, k->seq[0]);
	kern_send(k, &d);
	/* A second request on the same handle: its ack alone. */
	if (!kern_recv(k))
		return;
	put_ack(&d, k->seq[0]);
	kern_send(k, &d);
}

static void test_callback_error_fails_request(void)
{
	struct kern k;
	struct ctnet_nl h;
	struct ctnet_err err = { 0 };
	struct link_req rq;
	struct seen s = { .fail_with = EPROTO };
	int r1, r2;

	kern_start(&k, &h, script_two_replies_then_ack_late, NULL);
	r1 = ctnet_nl_request(&h, link_req(&rq, RTM_GETLINK, 1), on_link, &s, 0, &err, "read link %d", 1);
	t_rc("callback error: a callback returning -EPROTO fails the request with EPROTO", r1, -EPROTO, &err);
	t_num("callback error: err.code is EPROTO", err.code, EPROTO);
	t_has("callback error: the error names the request", err.msg, "read link 1");
	s.fail_with = 0;
	r2 = ctnet_nl_request(&h, link_req(&rq, RTM_SETLINK, 1), NULL, NULL, 0, &err, "set link %d", 1);
	kern_stop(&k, &h, "callback error");
	t_rc("callback error: the next request on the handle succeeds", r2, 0, &err);
	t_num("callback error: the failed request was drained to its ack (nothing foreign later)",
	      (long)k.foreign, 0);
	t_num("callback error: the kernel saw both requests", k.requests, 2);
}

static void script_reply_then_error(struct kern *k)
{
	struct dgram d = { .len = 0 };

	if (!kern_recv(k))
		return;
	put_link(&d, 0, k->seq[0], PORTID, 1);
	put_error(&d, k->seq[0], PORTID, -EPERM, NLM_F_CAPPED, k->msg[0], NULL);
	kern_send(k, &d);
}

/* The callback fails first, then the kernel refuses too: one failure is reported, the
 * first, and the return value agrees with err.code (the error contract). */
static void test_callback_error_then_kernel_error(void)
{
	struct kern k;
	struct ctnet_nl h;
	struct ctnet_err err = { 0 };
	struct link_req rq;
	struct seen s = { .fail_with = EPROTO };
	int r;

	kern_start(&k, &h, script_reply_then_error, NULL);
	r = ctnet_nl_request(&h, link_req(&rq, RTM_GETLINK, 1), on_link, &s, 0, &err, "read link %d", 1);
	kern_stop(&k, &h, "callback then kernel error");
	t_rc("callback then kernel error: the first failure (the callback's EPROTO) is returned", r, -EPROTO,
	     &err);
	t_num("callback then kernel error: the return value is -err.code", r, -err.code);
}

/* --- 9. a truncated datagram --- */

static void script_oversized(struct kern *k)
{
	size_t big = CTNET_NL_RBUF + 4096;
	struct nlmsghdr *nh;
	struct dgram d = { .len = 0 };

	if (!kern_recv(k))
		return;
	nh = calloc(1, big);
	if (!nh) {
		kern_note(k, "out of memory");
		return;
	}
	nh->nlmsg_len = (uint32_t)big;
	nh->nlmsg_type = RTM_NEWLINK;
	nh->nlmsg_seq = k->seq[0];
	nh->nlmsg_pid = PORTID;
	if (send(k->fd, nh, big, 0) != (ssize_t)big)
		kern_note(k, "the oversized datagram could not be sent");
	free(nh);
	put_ack(&d, k->seq[0]); /* the rest of the first conversation, read by the second */
	kern_send(k, &d);
	if (!kern_recv(k))
		return;
	put_ack(&d, k->seq[0]);
	kern_send(k, &d);
}

static void test_truncated_datagram(void)
{
	struct kern k;
	struct ctnet_nl h;
	struct ctnet_err err = { 0 };
	struct link_req rq;
	struct seen s = { 0 };
	int r1, r2;

	kern_start(&k, &h, script_oversized, NULL);
	r1 = ctnet_nl_request(&h, link_req(&rq, RTM_GETLINK, 1), on_link, &s, 0, &err, "read link %d", 1);
	t_rc("truncated datagram: a datagram larger than CTNET_NL_RBUF fails with EMSGSIZE", r1, -EMSGSIZE,
	     &err);
	t_has("truncated datagram: the error names the request", err.msg, "read link 1");
	t_num("truncated datagram: the callback saw no part of it", s.calls, 0);
	r2 = ctnet_nl_request(&h, link_req(&rq, RTM_GETLINK, 2), NULL, NULL, 0, &err, "read link %d", 2);
	kern_stop(&k, &h, "truncated datagram");
	t_rc("truncated datagram: the next request takes its own ack, not the stale one", r2, 0, &err);
	t_num("truncated datagram: the stale ack was counted foreign", (long)k.foreign, 1);
}

/* --- 10. a handle used from a forked child --- */

static void test_forked_child_refused(void)
{
	struct kern k;
	struct ctnet_nl h;
	int status = 0;
	pid_t pid;

	kern_start(&k, &h, NULL, NULL);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		struct ctnet_err err = { 0 };
		struct link_req rq;
		int r = ctnet_nl_request(&h, link_req(&rq, RTM_GETLINK, 1), NULL, NULL, 0, &err, "read link %d", 1);
		/* 0: as expected; 1: another result; 2: the text does not name the request. */
		_exit(r != -ECHILD ? 1 : !strstr(err.msg, "read link 1") ? 2 : 0);
	}
	waitpid(pid, &status, 0);
	T_OK("forked child: the handle of its parent returns -ECHILD in the child (and names the request)",
	     WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		printf("# child status %#x (exit 1: not -ECHILD; 2: text without the request)\n", status);
	T_OK("forked child: nothing was sent from the child", !kern_has_input(&k));
	kern_stop(&k, &h, "forked child");
}

/* --- 11. a malformed buffer --- */

static void test_malformed_buffer(void)
{
	struct kern k;
	struct ctnet_nl h;
	struct ctnet_err err = { 0 };
	struct ctnet_nl_req req[3];
	struct link_req rq;
	struct batch b;
	int r;

	kern_start(&k, &h, NULL, NULL);
	memset(req, 0, sizeof(req));
	snprintf(req[0].what, sizeof(req[0].what), "bad request");
	link_req(&rq, RTM_GETLINK, 1);
	rq.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	rq.nh.nlmsg_len = sizeof(rq) + 64;
	r = ctnet_nl_talk(&h, &rq, sizeof(rq), req, 1, &err);
	t_rc("malformed: nlmsg_len larger than the buffer is EINVAL", r, -EINVAL, &err);
	t_has("malformed: the error names the request", err.msg, "bad request");
	T_OK("malformed: nothing was sent", !kern_has_input(&k));

	link_req(&rq, RTM_GETLINK, 1);
	rq.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	rq.nh.nlmsg_len = 8;
	r = ctnet_nl_talk(&h, &rq, sizeof(rq), req, 1, &err);
	t_rc("malformed: nlmsg_len shorter than a header is EINVAL", r, -EINVAL, &err);

	batch_build(&b, req); /* three requests with NLM_F_ACK, but n is 1 */
	r = ctnet_nl_talk(&h, b.u.b, b.len, req, 1, &err);
	t_rc("malformed: more requests in the buffer than req entries is EINVAL", r, -EINVAL, &err);
	link_req(&rq, RTM_GETLINK, 1);
	rq.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	r = ctnet_nl_talk(&h, &rq, sizeof(rq), req, 2, &err);
	t_rc("malformed: fewer requests in the buffer than req entries is EINVAL", r, -EINVAL, &err);
	link_req(&rq, RTM_GETLINK, 1);
	rq.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	r = ctnet_nl_talk(&h, &rq, sizeof(rq) - 4, req, 1, &err);
	t_rc("malformed: a buffer ending inside a message is EINVAL", r, -EINVAL, &err);
	T_OK("malformed: still nothing was sent", !kern_has_input(&k));
	kern_stop(&k, &h, "malformed");
}

/* --- the real kernel (read-only) --- */

static int name_attr(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 &&
	    !strcmp(mnl_attr_get_str(a), "lo"))
		*(bool *)data = true;
	return MNL_CB_OK;
}

struct links {
	int n;
	bool lo;
};

static int on_real_link(const struct nlmsghdr *nlh, void *arg)
{
	struct links *l = arg;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return -EPROTO;
	l->n++;
	mnl_attr_parse(nlh, sizeof(struct ifinfomsg), name_attr, &l->lo);
	return 0;
}

static void on_real_restart(void *arg)
{
	struct links *l = arg;
	l->n = 0;
	l->lo = false;
}

static void test_real_kernel(void)
{
	struct ctnet_nl h = CTNET_NL_INIT;
	struct ctnet_err err = { 0 };
	struct link_req rq;
	struct links l = { 0 };
	int r;

	r = ctnet_nl_open(&h, NETLINK_ROUTE, &err);
	if (r < 0) {
		printf("# real kernel: skipped, %s\n", err.msg);
		return;
	}
	T_OK("real kernel: the opened handle has a port id", h.portid != 0 && ctnet_nl_is_open(&h));
	r = ctnet_nl_dump(&h, link_req(&rq, RTM_GETLINK, 0), on_real_link, on_real_restart, &l, &err,
			  "list links");
	t_rc("real kernel: the RTM_GETLINK dump returns 0", r, 0, &err);
	T_OK("real kernel: the dump saw the \"lo\" link", l.n >= 1 && l.lo);
	r = ctnet_nl_request(&h, link_req(&rq, RTM_GETLINK, 0x7fffffff), NULL, NULL, 0, &err,
			     "read link %d", 0x7fffffff);
	t_rc("real kernel: RTM_GETLINK of ifindex 0x7fffffff is ENODEV", r, -ENODEV, &err);
	t_has("real kernel: the error names the request", err.msg, "read link 2147483647");
	t_num("real kernel: nothing was foreign", (long)h.foreign, 0);
	ctnet_nl_close(&h);
	ctnet_nl_close(&h);
	T_OK("real kernel: close is idempotent and leaves CTNET_NL_INIT", h.fd == -1 && h.rbuf == NULL);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_request_ack_success();
	test_kernel_error_with_extack();
	test_extack_parse();
	test_foreign_answers_ignored();
	test_late_answer_ignored();
	test_no_answer_times_out();
	test_dump_interrupted();
	test_batch();
	test_callback_error_fails_request();
	test_callback_error_then_kernel_error();
	test_truncated_datagram();
	test_forked_child_refused();
	test_malformed_buffer();
	test_real_kernel();
	return t_done();
}
