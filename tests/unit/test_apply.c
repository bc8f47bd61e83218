/* Unit tests of apply's pure parts and of the fault function, with data as input (no kernel,
 * no privileges): the clash check between files and with running containers (launch/apply.c),
 * the index parser (launch/applyindex.c), ct_health_state, netd_fault_inside and ct_judge's
 * liveness part (launch/up.c). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch/apply_int.h"
#include "t.h"

/* ---- the clash check ---- */

/* A plan's files, as read_one leaves them for the check (keep_keys). */
struct files {
	struct ct_apply_plan *p;
};

static void files_init(struct files *f)
{
	if (!(f->p = calloc(1, sizeof(*f->p))) || !(f->p->v = calloc(8, sizeof(*f->p->v))))
		abort();
	f->p->cap = 8;
}

static void files_free(struct files *f)
{
	for (size_t i = 0; i < f->p->n; i++)
		free(f->p->v[i].forwards);
	free(f->p->v);
	free(f->p);
}

static void addr(struct ctnet_addr *out, const char *s)
{
	struct ctnet_err err;
	memset(out, 0, sizeof(*out));
	if (s && ctnet_addr_parse(s, 0, CTNET_ADDR_PREFIX_OK, "test", out, &err) < 0)
		abort();
}

/* fwds: "tcp:8000-8010,udp:53@192.0.2.1" (ct_spec_add_forward's syntax); bridge: "" for
 * point-to-point. */
static void add_file(struct files *f, const char *name, const char *local, const char *host, const char *bridge,
		     const char *fwds)
{
	static struct ct_spec s;
	struct ctnet_err err;
	char buf[256], *save = NULL;

	if (f->p->n == f->p->cap)
		abort();
	struct ct_apply_item *it = &f->p->v[f->p->n++];
	f->p->n_files = f->p->n;
	memset(it, 0, sizeof(*it));
	snprintf(it->name, sizeof(it->name), "%s", name);
	ct_spec_init(&s, name);
	snprintf(buf, sizeof(buf), "%s", fwds ? fwds : "");
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (ct_spec_add_forward(&s, t, &err) < 0)
			abort();
	addr(&it->local, local);
	addr(&it->host, host);
	it->p2p = !bridge[0];
	it->n_forwards = s.n_forwards;
	if (s.n_forwards) {
		if (!(it->forwards = malloc(s.n_forwards * sizeof(*it->forwards))))
			abort();
		memcpy(it->forwards, s.forwards, s.n_forwards * sizeof(*it->forwards));
	}
}

/* The files' check: 0 or -errno, its message in err. */
static int build(struct files *f, struct claims *c, struct ctnet_err *err)
{
	err->msg[0] = '\0';
	return apply_claims_build(f->p, c, err);
}

/* A running container apply does not own. */
static struct ct_record *running(const char *name, const char *local, const char *host, const char *bridge,
				 const char *fwds)
{
	struct ct_record *r = calloc(1, sizeof(*r));
	struct ctnet_err err;
	char buf[256], *save = NULL;
	if (!r)
		abort();
	ct_spec_init(&r->spec, name);
	snprintf(r->spec.bridge, sizeof(r->spec.bridge), "%s", bridge);
	snprintf(r->spec.origin, sizeof(r->spec.origin), "%s", "");
	snprintf(buf, sizeof(buf), "%s", fwds ? fwds : "");
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (ct_spec_add_forward(&r->spec, t, &err) < 0)
			abort();
	addr(&r->local, local);
	addr(&r->host, host);
	return r;
}

static int check_running(struct files *f, const struct claims *c, struct ct_record *r, struct ctnet_err *err)
{
	err->msg[0] = '\0';
	int rc = apply_claims_check(f->p, c, r, err);
	free(r);
	return rc;
}

static void test_clashes_between_files(void)
{
	struct files f;
	struct claims c;
	struct ctnet_err err;
	int rc;

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", "tcp:8080:80");
	add_file(&f, "b", "10.233.2.2", "10.233.2.1", "", "tcp:8081:80");
	add_file(&f, "c", "10.233.3.2", "10.233.3.1", "", NULL);
	rc = build(&f, &c, &err);
	T_OK("clash: three files with their own addresses and ports: none", rc == 0);
	T_OK("clash: every address and port is a claim", c.n_addr == 6 && c.n_fwd == 2);
	apply_claims_free(&c);
	files_free(&f);

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", NULL);
	add_file(&f, "b", "10.233.9.2", "10.233.9.1", "", NULL);
	add_file(&f, "c", "10.233.1.2", "10.233.3.1", "", NULL);
	rc = build(&f, &c, &err);
	T_OK("clash: two files claiming the same address", rc == -EADDRINUSE);
	T_STREQ("clash: the error names both files and the address", err.msg,
		"apply: \"a.conf\" and \"c.conf\" both claim address 10.233.1.2");
	apply_claims_free(&c);
	files_free(&f);

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", NULL);
	add_file(&f, "b", "10.233.2.2", "10.233.1.2", "", NULL);
	T_OK("clash: one file's container address is another's host address", build(&f, &c, &err) == -EADDRINUSE);
	apply_claims_free(&c);
	files_free(&f);

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", NULL);
	add_file(&f, "b", "10.233.2.2", "10.233.1.1", "", NULL);
	T_OK("clash: two point-to-point links with one host address", build(&f, &c, &err) == -EADDRINUSE);
	apply_claims_free(&c);
	files_free(&f);

	files_init(&f);
	add_file(&f, "a", "10.233.0.2", "10.233.0.1", "br0", NULL);
	add_file(&f, "b", "10.233.0.3", "10.233.0.1", "br0", NULL);
	T_OK("clash: a bridge's gateway address is shared: none", build(&f, &c, &err) == 0);
	apply_claims_free(&c);
	files_free(&f);

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", "tcp:8000-8010:8000-8010");
	add_file(&f, "b", "10.233.2.2", "10.233.2.1", "", "tcp:8005");
	rc = build(&f, &c, &err);
	T_OK("clash: overlapping host-port ranges (tcp:8000-8010 and tcp:8005)", rc == -EADDRINUSE);
	T_STREQ("clash: the error names both files and the port", err.msg,
		"apply: \"a.conf\" and \"b.conf\" both forward host port tcp:8005:8005");
	apply_claims_free(&c);
	files_free(&f);

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", "tcp:8000-8010:8000-8010");
	add_file(&f, "b", "10.233.2.2", "10.233.2.1", "", "udp:8005,tcp:8011,tcp:7999");
	T_OK("clash: same port, another protocol; the ports next to a range: none", build(&f, &c, &err) == 0);
	apply_claims_free(&c);
	files_free(&f);

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", "tcp:80@192.0.2.1");
	add_file(&f, "b", "10.233.2.2", "10.233.2.1", "", "tcp:80@192.0.2.2");
	T_OK("clash: one port on two host IPs: none", build(&f, &c, &err) == 0);
	apply_claims_free(&c);
	add_file(&f, "c", "10.233.3.2", "10.233.3.1", "", "tcp:79-81:79-81@192.0.2.2");
	rc = build(&f, &c, &err);
	T_OK("clash: ranges overlapping on one host IP", rc == -EADDRINUSE && strstr(err.msg, "\"b.conf\"") &&
								 strstr(err.msg, "\"c.conf\"") && !strstr(err.msg, "\"a.conf\""));
	apply_claims_free(&c);
	files_free(&f);

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", "tcp:1000-1999:1000-1999");
	add_file(&f, "b", "10.233.2.2", "10.233.2.1", "", "tcp:1001,tcp:1500");
	add_file(&f, "c", "10.233.3.2", "10.233.3.1", "", NULL);
	rc = build(&f, &c, &err);
	T_OK("clash: a short range inside a long one of another file", rc == -EADDRINUSE &&
									 strstr(err.msg, "\"a.conf\" and \"b.conf\""));
	apply_claims_free(&c);
	files_free(&f);

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", "tcp:1000-1999:1000-1999,tcp:3000");
	add_file(&f, "b", "10.233.2.2", "10.233.2.1", "", "tcp:2000-2999:2000-2999,tcp:1999-1999:5");
	rc = build(&f, &c, &err);
	T_OK("clash: the last port of a range", rc == -EADDRINUSE && strstr(err.msg, "tcp:1999:5"));
	apply_claims_free(&c);
	files_free(&f);

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", "tcp:8080:80,tcp:8081:81");
	T_OK("clash: one file's own forwards are not a clash", build(&f, &c, &err) == 0);
	apply_claims_free(&c);
	files_free(&f);
}

static void test_clashes_with_running(void)
{
	struct files f;
	struct claims c;
	struct ctnet_err err;

	files_init(&f);
	add_file(&f, "a", "10.233.1.2", "10.233.1.1", "", "tcp:8000-8010:8000-8010");
	add_file(&f, "b", "10.233.0.2", "10.233.0.1", "br0", "tcp:3000-3500:3000-3500,udp:53");
	add_file(&f, "d", "10.233.4.2", "10.233.4.1", "", "tcp:2000-2499:2000-2499");
	T_OK("running: the files agree", build(&f, &c, &err) == 0);

	T_OK("running: a container with other addresses and ports: none",
	     check_running(&f, &c, running("x", "10.233.5.2", "10.233.5.1", "", "tcp:9000,udp:8005"), &err) == 0);
	T_OK("running: a file's address held by a running container",
	     check_running(&f, &c, running("x", "10.233.1.2", "10.233.5.1", "", NULL), &err) == -EADDRINUSE);
	T_STREQ("running: the error names the file and the container", err.msg,
		"apply: \"a.conf\" and running container \"x\" both claim address 10.233.1.2");
	T_OK("running: a point-to-point host address of a file's",
	     check_running(&f, &c, running("x", "10.233.5.2", "10.233.4.1", "", NULL), &err) == -EADDRINUSE &&
		     strstr(err.msg, "\"d.conf\""));
	T_OK("running: the same bridge's gateway: none",
	     check_running(&f, &c, running("x", "10.233.0.9", "10.233.0.1", "br0", NULL), &err) == 0);
	T_OK("running: a port inside a file's range",
	     check_running(&f, &c, running("x", "10.233.5.2", "10.233.5.1", "", "tcp:8005"), &err) == -EADDRINUSE);
	T_STREQ("running: the port error names the file's forward", err.msg,
		"apply: \"a.conf\" and running container \"x\" both forward host port tcp:8000-8010:8000-8010");
	T_OK("running: the same port, another protocol: none",
	     check_running(&f, &c, running("x", "10.233.5.2", "10.233.5.1", "", "udp:8005,tcp:53"), &err) == 0);
	T_OK("running: a range between two files' ranges: none",
	     check_running(&f, &c, running("x", "10.233.5.2", "10.233.5.1", "", "tcp:2600-2900:2600-2900"), &err) == 0);
	T_OK("running: a range spanning two files' ranges",
	     check_running(&f, &c, running("x", "10.233.5.2", "10.233.5.1", "", "tcp:2400-3100:2400-3100"), &err) ==
			     -EADDRINUSE);
	T_OK("running: a range ending at a file's first port",
	     check_running(&f, &c, running("x", "10.233.5.2", "10.233.5.1", "", "tcp:1900-2000:1900-2000"), &err) ==
			     -EADDRINUSE && strstr(err.msg, "\"d.conf\""));
	T_OK("running: ports below every file's: none",
	     check_running(&f, &c, running("x", "10.233.5.2", "10.233.5.1", "", "tcp:1000-1999:1000-1999"), &err) == 0);
	T_OK("running: the port just past a file's range: none",
	     check_running(&f, &c, running("x", "10.233.5.2", "10.233.5.1", "", "tcp:2500"), &err) == 0);
	apply_claims_free(&c);
	files_free(&f);
}

/* ---- the index parser ---- */

#define IX_DIR "/etc/nixos-containers"
#define IX_HEAD "ctnet-apply-index 2 " IX_DIR "\n"

static const char *id_text(const struct ct_conf_id *id, char *buf, size_t len)
{
	snprintf(buf, len, "%llu %llu %llu %lld %ld %lld %ld %u %o", id->dev, id->ino, id->size, id->mtime_s,
		 id->mtime_ns, id->ctime_s, id->ctime_ns, id->uid, id->mode);
	return buf;
}

static struct ct_conf_id some_id(unsigned long long ino)
{
	return (struct ct_conf_id){ .dev = 2049, .ino = ino, .size = 180, .mtime_s = 1700000000, .mtime_ns = 5,
				    .ctime_s = 1700000001, .ctime_ns = 7, .uid = 0, .mode = 0100644, .set = true };
}

/* An entry as ct_index_save writes it. */
static size_t entry(char *out, size_t len, const char *name, struct ct_conf_id id, struct ct_conf_id rec,
		    const char *text)
{
	char a[160], b[160];
	return (size_t)snprintf(out, len, "%s %s %s %zu\n%s\n", name, id_text(&id, a, sizeof(a)),
				id_text(&rec, b, sizeof(b)), strlen(text), text);
}

static const char rec_db[] = "VERSION=2\nNAME=db\nMODE=private\n";
static const char rec_web[] = "VERSION=2\nNAME=web\nMODE=private\nFORWARD=tcp:8080:80\n";

/* A good index of two entries; *bounds gets the offsets where an entry ends. */
static size_t good_index(char *buf, size_t len, size_t bounds[3])
{
	size_t o = (size_t)snprintf(buf, len, "%s", IX_HEAD);
	bounds[0] = o;
	o += entry(buf + o, len - o, "db", some_id(11), some_id(12), rec_db);
	bounds[1] = o;
	o += entry(buf + o, len - o, "web", some_id(21), some_id(22), rec_web);
	bounds[2] = o;
	return o;
}

/* The text placed so that its last byte is the last before a page no one may read: a
 * parser reading past the end faults, in the optimized build too. */
struct guarded {
	char *base;
	size_t size;
	struct ct_apply_index ix;
};

static void guarded_map(struct guarded *g, const char *text, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	g->size = (len / page + 2) * page;
	g->base = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->base == MAP_FAILED || mprotect(g->base + g->size - page, page, PROT_NONE) < 0)
		abort();
	char *at = g->base + g->size - page - len;
	memcpy(at, text, len);
	memset(&g->ix, 0, sizeof(g->ix));
	g->ix.map = at;
	g->ix.len = len;
}

static void guarded_free(struct guarded *g)
{
	free(g->ix.line);
	munmap(g->base, g->size);
}

/* ct_index_parse of text, first in a child: a crash (a fault, or a sanitizer's report,
 * whatever its exit code) is a FAIL line, not the end of the test. 1 accepted, 0 refused,
 * -1 crashed (the parent then does not parse it). */
enum { CHILD_REFUSED = 40, CHILD_ACCEPTED = 41 };
static int parse(struct guarded *g, const char *text, size_t len)
{
	pid_t pid;
	int st = 0;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		guarded_map(g, text, len);
		_exit(ct_index_parse(IX_DIR, &g->ix) ? CHILD_ACCEPTED : CHILD_REFUSED);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    (WEXITSTATUS(st) != CHILD_REFUSED && WEXITSTATUS(st) != CHILD_ACCEPTED)) {
		printf("# ct_index_parse crashed (wait status %#x) on %zu bytes\n", (unsigned)st, len);
		g->base = NULL;
		return -1;
	}
	guarded_map(g, text, len);
	bool ok = ct_index_parse(IX_DIR, &g->ix);
	if (ok != (WEXITSTATUS(st) == CHILD_ACCEPTED))
		abort();
	return ok;
}

static void done(struct guarded *g)
{
	if (g->base)
		guarded_free(g);
}

static int parse_str(struct guarded *g, const char *text)
{
	return parse(g, text, strlen(text));
}

static void test_index_good(void)
{
	static char buf[4096];
	size_t bounds[3], len = good_index(buf, sizeof(buf), bounds);
	struct ct_index_entry e;
	struct guarded g;
	struct ct_conf_id want = some_id(21), want_rec = some_id(22);

	T_OK("index: a good index parses", parse(&g, buf, len) == 1);
	T_OK("index: two entries", g.base && g.ix.n == 2);
	const char *web = g.base ? ct_index_find(&g.ix, "web") : NULL;
	T_OK("index: an entry is found by its name", web && !strncmp(web, "web ", 4));
	T_OK("index: names it does not hold are not found (nor prefixes of them)",
	     g.base && !ct_index_find(&g.ix, "we") && !ct_index_find(&g.ix, "webx") && !ct_index_find(&g.ix, "a") &&
		     !ct_index_find(&g.ix, "zz") && ct_index_find(&g.ix, "db"));
	T_OK("index: the entry parses", web && ct_index_entry(&g.ix, web, &e));
	T_OK("index: both identities as written", web && ct_conf_id_eq(&e.id, &want) && ct_conf_id_eq(&e.rec_id, &want_rec));
	T_OK("index: the record's text, whole",
	     web && e.rec_len == strlen(rec_web) && !memcmp(e.rec_text, rec_web, e.rec_len));
	T_OK("index: the entry's span reaches the end", web && e.span == bounds[2] - bounds[1]);
	done(&g);

	T_OK("index: no entries is an empty index", parse_str(&g, IX_HEAD) == 1 && g.ix.n == 0);
	done(&g);
	T_OK("index: another directory's index is refused",
	     parse_str(&g, "ctnet-apply-index 2 /etc/nixos-containers-2\n") == 0 && g.ix.n == 0 && !g.ix.line);
	done(&g);
	T_OK("index: another version's is refused", parse_str(&g, "ctnet-apply-index 1 " IX_DIR "\n") == 0);
	done(&g);
}

static void test_index_truncated(void)
{
	static char buf[4096];
	size_t bounds[3], len = good_index(buf, sizeof(buf), bounds);
	int crashed = 0, wrong = 0;

	/* Every prefix: accepted only when it ends where an entry ends. */
	for (size_t cut = 0; cut < len; cut++) {
		struct guarded g;
		int r = parse(&g, buf, cut);
		bool whole = cut == bounds[0] || cut == bounds[1];
		size_t want_n = cut == bounds[1] ? 1 : 0;
		if (r < 0)
			crashed++;
		else if (r != whole || (whole && g.ix.n != want_n)) {
			if (!wrong)
				printf("# cut at %zu of %zu: %s with %zu entries\n", cut, len, r ? "accepted" : "refused",
				       g.ix.n);
			wrong++;
		}
		done(&g);
	}
	T_OK("index truncated anywhere: never a crash", crashed == 0);
	T_OK("index truncated: refused unless cut where an entry ends", wrong == 0);
}

static void test_index_garbage(void)
{
	static char text[4096];
	char a[160], b[160];
	struct ct_conf_id i1 = some_id(1), i2 = some_id(2);
	struct guarded g;
	struct ct_index_entry e;
	size_t o;

	static const struct {
		const char *what, *line;
	} bad[] = {
		{ "a garbage line", "hello world\n" },
		{ "a line without a space", "garbage\n" },
		{ "an empty line", "\n" },
		{ "a length that is not a number", "web 1 2 x\nab\n" },
		{ "a length of 0", "web 1 2 0\n\n" },
		{ "a length past the end", "web 1 2 99\nab\n" },
		{ "a text not followed by a newline", "web 1 2 2\nabc\n" },
		{ "a negative length", "web 1 2 -1\nab\n" },
		{ "a negative length on the last line", "web 1 2 -1\n" },
		{ "a length of 2^64 on the last line", "web 1 2 18446744073709551616\n" },
		{ "a length with a sign", "web 1 2 +2\nab\n" },
		{ "a length of 2^64-1", "web 1 2 18446744073709551615\nab\n" },
		{ "a length of 2^64", "web 1 2 18446744073709551616\nab\n" },
		{ "a line without a newline", "web 1 2 3" },
		{ "a line ending in a space", "web 1 2 \n" },
		{ "a line ending in spaces and newlines", "web 1 2 \n\n \n" },
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		char what[160];
		o = (size_t)snprintf(text, sizeof(text), "%s", IX_HEAD);
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s", bad[k].line);
		int r = parse(&g, text, o);
		snprintf(what, sizeof(what), "index garbage: %s is refused, no crash", bad[k].what);
		T_OK(what, r == 0);
		done(&g);
	}

	/* Out of name order, or a name twice: not an index apply wrote. */
	o = (size_t)snprintf(text, sizeof(text), "%s", IX_HEAD);
	o += entry(text + o, sizeof(text) - o, "web", i1, i2, rec_web);
	o += entry(text + o, sizeof(text) - o, "db", i1, i2, rec_db);
	T_OK("index garbage: entries out of order are refused", parse(&g, text, o) == 0);
	done(&g);
	o = (size_t)snprintf(text, sizeof(text), "%s", IX_HEAD);
	o += entry(text + o, sizeof(text) - o, "web", i1, i2, rec_web);
	o += entry(text + o, sizeof(text) - o, "web", i1, i2, rec_web);
	T_OK("index garbage: a name twice is refused", parse(&g, text, o) == 0);
	done(&g);
	o = (size_t)snprintf(text, sizeof(text), "%s", IX_HEAD);
	o += entry(text + o, sizeof(text) - o, "web", i1, i2, rec_web);
	o += entry(text + o, sizeof(text) - o, "web-2", i1, i2, rec_web);
	T_OK("index: a name and a longer one after it are in order", parse(&g, text, o) == 1 && g.ix.n == 2 &&
									      ct_index_find(&g.ix, "web") &&
									      ct_index_find(&g.ix, "web-2"));
	done(&g);

	/* Lines the loader takes (their length ends them) but whose fields are not an entry's:
	 * ct_index_entry refuses them when the file is looked at. */
	static const struct {
		const char *what;
		const char *name_and_ids; /* before " LEN" */
	} fields[] = {
		{ "identities that are not numbers", "web a b c d e f g h i j k l m n o p q r" },
		{ "too few fields", "web 1 2 3" },
		{ "a field too many", NULL },
		{ "a name longer than a name", NULL },
	};
	for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
		char what[160], head[512], name[80];
		if (k == 2)
			snprintf(head, sizeof(head), "web %s %s 7", id_text(&i1, a, sizeof(a)), id_text(&i2, b, sizeof(b)));
		else if (k == 3) {
			memset(name, 'w', 65);
			name[65] = '\0';
			snprintf(head, sizeof(head), "%s %s %s", name, id_text(&i1, a, sizeof(a)), id_text(&i2, b, sizeof(b)));
		} else
			snprintf(head, sizeof(head), "%s", fields[k].name_and_ids);
		o = (size_t)snprintf(text, sizeof(text), "%s%s %zu\n%s\n", IX_HEAD, head, strlen(rec_web), rec_web);
		int r = parse(&g, text, o);
		snprintf(what, sizeof(what), "index entry: %s: refused when looked at", fields[k].what);
		T_OK(what, r == 1 && g.ix.n == 1 && !ct_index_entry(&g.ix, g.ix.line[0], &e));
		done(&g);
	}

	/* A length the loader cannot check against the entry's limit. */
	static char big[CT_RECORD_MAX + 512];
	memset(big, 'x', sizeof(big));
	o = (size_t)snprintf(big, sizeof(big), "%sweb %s %s %u\n", IX_HEAD, id_text(&i1, a, sizeof(a)),
			     id_text(&i2, b, sizeof(b)), (unsigned)CT_RECORD_MAX);
	memset(big + o, 'x', CT_RECORD_MAX);
	big[o + CT_RECORD_MAX] = '\n';
	int r = parse(&g, big, o + CT_RECORD_MAX + 1);
	T_OK("index entry: a record text of CT_RECORD_MAX bytes is refused",
	     r == 0 || (r == 1 && !ct_index_entry(&g.ix, g.ix.line[0], &e)));
	done(&g);
}

static void test_index_identity(void)
{
	char path[] = "/tmp/ctnet-unit-ix.XXXXXX", line[512];
	struct ct_conf_id id, now, bad;
	struct ct_index_entry e;
	struct ct_record *rec = malloc(sizeof(*rec));
	struct ctnet_err err;
	struct guarded g;
	struct stat st;
	size_t o;
	int fd = mkstemp(path);

	T_OK("identity: a file to stat", fd >= 0 && write(fd, "PRIVATE_NETWORK=1\n", 18) == 18 && fstat(fd, &st) == 0);
	ct_conf_id_of(&st, &id);
	o = (size_t)snprintf(line, sizeof(line), "%s", IX_HEAD);
	o += entry(line + o, sizeof(line) - o, "web", id, some_id(9), rec_web);
	T_OK("identity: an entry for it parses",
	     parse(&g, line, o) == 1 && g.ix.n == 1 && ct_index_entry(&g.ix, g.ix.line[0], &e));
	T_OK("identity: the file as written matches its entry", ct_conf_id_eq(&id, &e.id));
	/* The file rewritten (a new size and ctime): the entry no longer vouches for it. */
	usleep(10000);
	T_OK("identity: the file rewritten", pwrite(fd, "PRIVATE_NETWORK=0\nHOST_ADDRESS=x\n", 33, 0) == 33 &&
						     fstat(fd, &st) == 0);
	ct_conf_id_of(&st, &now);
	T_OK("identity: a rewritten file does not match its entry", !ct_conf_id_eq(&now, &e.id));
	bad = e.id;
	bad.ctime_ns++;
	T_OK("identity: another ctime does not match", !ct_conf_id_eq(&bad, &e.id));
	bad = e.id;
	bad.ino++;
	T_OK("identity: another inode does not match", !ct_conf_id_eq(&bad, &e.id));
	bad = e.id;
	bad.mode = 0100666;
	T_OK("identity: another mode does not match", !ct_conf_id_eq(&bad, &e.id));
	bad = e.id;
	bad.set = false;
	T_OK("identity: an identity never read matches nothing", !ct_conf_id_eq(&bad, &bad));
	T_OK("identity: the entry's record is the container's",
	     rec && record_parse(e.rec_text, e.rec_len, "web", rec, &err) == 0 && rec->spec.n_forwards == 1);
	T_OK("identity: an entry's record naming another container is refused",
	     rec && record_parse(e.rec_text, e.rec_len, "db", rec, &err) < 0);
	done(&g);
	struct timespec started = { .tv_sec = id.mtime_s + 10 }, soon = { .tv_sec = id.ctime_s + 1 };
	T_OK("identity: a file older than two seconds is not racy", !ct_index_racy(&id, &started));
	T_OK("identity: a file changed within two seconds is racy", ct_index_racy(&id, &soon));
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(rec);
}

/* Written by ct_index_save, read back by ct_index_load (a run dir of its own). */
static void test_index_round_trip(void)
{
	char run[] = "/tmp/ctnet-unit-run.XXXXXX", cmd[128];
	struct ct_apply_index ix, again;
	struct ct_index_entry e;
	struct ctnet_err err;
	const char *texts[2] = { rec_db, rec_web }, *names[2] = { "db", "web" };
	struct ct_index_out out[2];
	struct ct_index_fresh *fresh[2];

	T_OK("round trip: a run dir", mkdtemp(run) != NULL);
	setenv("CTNET_RUN_DIR", run, 1);
	for (int i = 0; i < 2; i++) {
		size_t n = strlen(texts[i]);
		if (!(fresh[i] = malloc(sizeof(*fresh[i]) + n)))
			abort();
		fresh[i]->id = some_id(100 + (unsigned)i);
		fresh[i]->rec_id = some_id(200 + (unsigned)i);
		fresh[i]->len = n;
		memcpy(fresh[i]->text, texts[i], n);
		out[i] = (struct ct_index_out){ .name = names[i], .fresh = fresh[i] };
	}
	memset(&ix, 0, sizeof(ix));
	T_OK("round trip: saved", ct_index_save(IX_DIR, &ix, out, 2, &err) == 0);
	ct_index_load(IX_DIR, &ix);
	T_OK("round trip: loaded, two entries", ix.map && ix.n == 2);
	const char *l = ct_index_find(&ix, "web");
	T_OK("round trip: web's entry as saved", l && ct_index_entry(&ix, l, &e) && ct_conf_id_eq(&e.id, &fresh[1]->id) &&
							 ct_conf_id_eq(&e.rec_id, &fresh[1]->rec_id) &&
							 e.rec_len == strlen(rec_web) && !memcmp(e.rec_text, rec_web, e.rec_len));
	/* Kept verbatim by the next save. */
	out[0] = (struct ct_index_out){ .name = "db", .kept = ct_index_find(&ix, "db") };
	T_OK("round trip: an entry kept verbatim", out[0].kept && ct_index_save(IX_DIR, &ix, out, 1, &err) == 0);
	ct_index_load(IX_DIR, &again);
	T_OK("round trip: the kept entry alone", again.n == 1 && ct_index_find(&again, "db") && !ct_index_find(&again, "web"));
	ct_index_free(&again);
	ct_index_load("/etc/other", &again);
	T_OK("round trip: another directory has no index", again.n == 0 && !again.map);
	ct_index_free(&again);
	ct_index_free(&ix);
	T_OK("round trip: none saved removes it", ct_index_save(IX_DIR, &ix, NULL, 0, &err) == 0);
	ct_index_load(IX_DIR, &again);
	T_OK("round trip: removed", again.n == 0 && !again.map);
	ct_index_free(&again);
	free(fresh[0]);
	free(fresh[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", run);
	T_OK("round trip: cleanup", system(cmd) == 0);
	unsetenv("CTNET_RUN_DIR");
}

/* ---- the fault function ---- */

static void test_health_state(void)
{
	struct ct_health h;

	memset(&h, 0, sizeof(h));
	T_STREQ("health: no fault is up", ct_health_state(&h), "up");
	h.n = 1;
	h.v[0].kind = CT_FAULT_STALE;
	T_STREQ("health: stale first is stale", ct_health_state(&h), "stale");
	static const enum ct_fault_kind there[] = { CT_FAULT_LINK, CT_FAULT_EXTRA_VETH, CT_FAULT_FORWARDING,
						    CT_FAULT_LOCALNET, CT_FAULT_NAT_TABLE, CT_FAULT_NAT };
	int wrong = 0;
	for (size_t i = 0; i < sizeof(there) / sizeof(there[0]); i++) {
		h.v[0].kind = there[i];
		wrong += strcmp(ct_health_state(&h), "degraded") != 0;
	}
	T_OK("health: any other first fault is degraded", wrong == 0);
	h.n = 2;
	h.v[0].kind = CT_FAULT_NAT;
	h.v[1].kind = CT_FAULT_STALE;
	T_STREQ("health: the first fault decides", ct_health_state(&h), "degraded");
}

static void test_fault_inside(void)
{
	static const enum netd_fault_kind host[] = {
		NETD_F_HOST_LINK_MISSING, NETD_F_HOST_LINK_DOWN, NETD_F_HOST_LINK_MTU, NETD_F_BRIDGE_PORT,
		NETD_F_HOST_ADDR_MISSING, NETD_F_HOST_ROUTE_MISSING, NETD_F_NO_CARRIER,
	};
	static const enum netd_fault_kind inside[] = {
		NETD_F_LINK_MISSING, NETD_F_LINK_DOWN, NETD_F_LO_DOWN, NETD_F_LINK_MTU, NETD_F_LINK_MAC,
		NETD_F_ADDR_MISSING, NETD_F_DEFAULT_ROUTE_MISSING,
	};
	int wrong = 0;
	for (size_t i = 0; i < sizeof(host) / sizeof(host[0]); i++)
		if (netd_fault_inside(host[i])) {
			printf("# host fault kind %d said inside\n", (int)host[i]);
			wrong++;
		}
	T_OK("fault inside: the host's faults (no carrier included: seen from the host) are not", wrong == 0);
	wrong = 0;
	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
		if (!netd_fault_inside(inside[i])) {
			printf("# inside fault kind %d said host\n", (int)inside[i]);
			wrong++;
		}
	T_OK("fault inside: the container end's faults are", wrong == 0);
}

/* ct_judge of a record whose liveness fails: one CT_FAULT_STALE with the reason, and no
 * kernel asked (a kernel connection never opened). */
static void judge_stale(struct ct_record *r, const char *what, const char *want)
{
	struct ctnet_kern kern;
	struct ct_health h;
	struct ctnet_err err;
	char w[200];

	ctnet_kern_init(&kern);
	memset(&h, 0xff, sizeof(h));
	int rc = ct_judge(&kern, r, NULL, true, &h, &err);
	snprintf(w, sizeof(w), "judge: %s: one stale fault", what);
	T_OK(w, rc == 0 && h.n == 1 && !h.truncated && h.v[0].kind == CT_FAULT_STALE);
	snprintf(w, sizeof(w), "judge: %s: the fault names the container", what);
	T_STREQ(w, h.n == 1 ? h.v[0].object : NULL, r->spec.name);
	snprintf(w, sizeof(w), "judge: %s: why", what);
	T_STREQ(w, h.n == 1 ? h.v[0].text : NULL, want);
	snprintf(w, sizeof(w), "judge: %s: stale", what);
	T_STREQ(w, ct_health_state(&h), "stale");
	ctnet_kern_close(&kern);
}

static void test_judge_liveness(void)
{
	struct ct_record *r = calloc(1, sizeof(*r));
	char path[] = "/tmp/ctnet-unit-ns.XXXXXX";
	struct stat st;
	const char *why = "unset";
	int fd = mkstemp(path);

	if (!r || fd < 0 || fstat(fd, &st) < 0)
		abort();
	close(fd);
	/* A private container alive by its record: its namespace path (a file here) is there
	 * with the identity the record keeps. */
	ct_spec_init(&r->spec, "web");
	snprintf(r->netns, sizeof(r->netns), "%s", path);
	r->ns_dev = (unsigned long long)st.st_dev;
	r->ns_ino = (unsigned long long)st.st_ino;
	snprintf(r->boot_id, sizeof(r->boot_id), "%s", ct_boot_id());
	T_OK("liveness: the record alone says alive", ct_state_record(r, &why) == 1 && why == NULL);

	r->pending = true;
	judge_stale(r, "pending", "up interrupted (gc removes it)");
	r->pending = false;
	r->stopping = CT_STOP_RELEASE;
	judge_stale(r, "stopping", "down interrupted (gc finishes it)");
	r->stopping = CT_STOP_NONE;

	snprintf(r->netns, sizeof(r->netns), "%s", "/nonexistent/ctnet-unit/netns/web");
	judge_stale(r, "a namespace path that does not exist", "namespace gone");
	r->netns[0] = '\0';
	judge_stale(r, "no namespace path", "namespace gone");
	snprintf(r->netns, sizeof(r->netns), "%s", path);
	r->ns_ino++;
	judge_stale(r, "another namespace under the path", "namespace replaced");
	r->ns_ino--;

	pid_t child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	r->pid = child;
	judge_stale(r, "the process gone", "process gone");
	r->pid = 0;

	if (ct_boot_id()[0]) {
		snprintf(r->boot_id, sizeof(r->boot_id), "%s", "00000000-0000-0000-0000-000000000000");
		judge_stale(r, "an earlier boot", "host rebooted");
		snprintf(r->boot_id, sizeof(r->boot_id), "%s", ct_boot_id());
	}

	/* Shared (the host's network): alive while its process is; nothing else judged. */
	struct ctnet_kern kern;
	struct ct_health h;
	struct ctnet_err err;
	ctnet_kern_init(&kern);
	r->spec.shared = true;
	r->pid = getpid();
	T_OK("judge: a shared container whose process is alive: no fault",
	     ct_judge(&kern, r, NULL, true, &h, &err) == 0 && h.n == 0);
	T_STREQ("judge: up", ct_health_state(&h), "up");
	r->pid = child;
	T_OK("judge: a shared container whose process is gone: stale",
	     ct_judge(&kern, r, NULL, true, &h, &err) == 0 && h.n == 1 && h.v[0].kind == CT_FAULT_STALE &&
		     !strcmp(h.v[0].text, "process gone"));
	ctnet_kern_close(&kern);
	unlink(path);
	free(r);
}

int main(void)
{
	test_clashes_between_files();
	test_clashes_with_running();
	test_index_good();
	test_index_truncated();
	test_index_garbage();
	test_index_identity();
	test_index_round_trip();
	test_health_state();
	test_fault_inside();
	test_judge_liveness();
	return t_done();
}
