/* Unit tests of lib/: names, addresses, ports, the error struct, state files. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "err.h"
#include "finding.h"
#include "hostconf.h"
#include "name.h"
#include "state.h"
#include "t.h"

static void test_names(void)
{
	struct ctnet_err err;
	const char *good[] = { "web", "a", "db-1", "x.y_z", "A1", "abcdefghijklmnopqrst" };
	const char *bad[] = { "", "../x", "a b", "x;rm", "$(id)", "-x", ".x", "a/b", "a\nb",
			      "\xff\xfe", "caf\xc3\xa9" };
	char big[301];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		char what[128];
		snprintf(what, sizeof(what), "name \"%s\" accepted", good[i]);
		T_OK(what, ctnet_name_check(good[i], &err) == 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char what[128], shown[CTNET_SHOW_MAX];
		snprintf(what, sizeof(what), "name \"%s\" rejected", ctnet_show(bad[i], shown));
		T_OK(what, ctnet_name_check(bad[i], &err) == -EINVAL && err.code == EINVAL);
	}
	memset(big, 'a', 300);
	big[300] = '\0';
	T_OK("300-character name rejected", ctnet_name_check(big, &err) == -EINVAL);
	T_OK("error names the bad value", strstr(err.msg, "aaaa") != NULL);
	T_OK("error for 300 characters is bounded", strlen(err.msg) < 200);
	ctnet_name_check("x;rm", &err);
	T_STREQ("error message for x;rm", err.msg,
		"invalid container name \"x;rm\": only A-Z a-z 0-9 _ . - allowed");
	T_OK("ifname ve-web ok", ctnet_ifname_check("ve-web", &err) == 0);
	T_OK("ifname 16 bytes rejected", ctnet_ifname_check("0123456789abcdef", &err) < 0);
	T_OK("ifname with slash rejected", ctnet_ifname_check("a/b", &err) < 0);
}

static void test_show(void)
{
	char buf[CTNET_SHOW_MAX];
	T_STREQ("show escapes newline and quote", ctnet_show("a\n\"b", buf), "a\\x0a\\x22b");
	char big[500];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ctnet_show(big, buf);
	T_OK("show truncates", strlen(buf) < CTNET_SHOW_MAX && strstr(buf, "...") != NULL);
}

static void test_addrs(void)
{
	struct ctnet_err err;
	struct ctnet_addr a, net;
	char buf[CTNET_ADDR_STRLEN];

	T_OK("10.233.1.1 parses", ctnet_addr_parse("10.233.1.1", AF_INET, CTNET_ADDR_NOPREFIX,
						   "address", &a, &err) == 0);
	T_STREQ("10.233.1.1 prints", ctnet_addr_str(&a, buf), "10.233.1.1");
	T_OK("no prefix -> -1", a.prefix == -1);
	T_OK("prefix allowed", ctnet_addr_parse("10.233.100.5/24", 0, CTNET_ADDR_PREFIX_OK,
						"address", &a, &err) == 0 && a.prefix == 24);
	T_STREQ("cidr prints", ctnet_addr_cidr_str(&a, buf), "10.233.100.5/24");
	const char *bad4[] = { "10.233.1", "10.233.1.256", "010.233.1.1", " 10.233.1.1",
			       "10.233.1.1 ", "10.233.1.1/33", "10.233.1.1/", "10.233.1.1/-1",
			       "10.233.1.1/2x", "x", "", "10.233.1.1/024x", "1.2.3.4/8/8" };
	for (size_t i = 0; i < ARRAY_SIZE(bad4); i++) {
		char what[128], shown[CTNET_SHOW_MAX];
		snprintf(what, sizeof(what), "address \"%s\" rejected", ctnet_show(bad4[i], shown));
		T_OK(what, ctnet_addr_parse(bad4[i], 0, CTNET_ADDR_PREFIX_OK, "address", &a, &err) < 0);
	}
	T_OK("prefix refused when not allowed",
	     ctnet_addr_parse("10.0.0.1/32", 0, CTNET_ADDR_NOPREFIX, "address", &a, &err) < 0);
	T_OK("IPv4 refused for IPv6", ctnet_addr_parse("10.0.0.1", AF_INET6, CTNET_ADDR_PREFIX_OK,
						       "address", &a, &err) == -EAFNOSUPPORT);
	T_OK("error says not IPv6", strstr(err.msg, "not an IPv6 address") != NULL);
	T_OK("fd00::1/128 parses", ctnet_addr_parse("fd00::1/128", AF_INET6, CTNET_ADDR_PREFIX_OK,
						    "address", &a, &err) == 0 && a.prefix == 128);
	T_OK("fd00::1/129 rejected", ctnet_addr_parse("fd00::1/129", 0, CTNET_ADDR_PREFIX_OK,
						      "address", &a, &err) < 0);
	T_OK("cidr 10.233.0.0/16", ctnet_cidr_parse("10.233.0.0/16", "pool", &net, &err) == 0);
	T_OK("cidr with host bits rejected", ctnet_cidr_parse("10.233.0.1/16", "pool", &a, &err) < 0);
	T_OK("cidr needs prefix", ctnet_cidr_parse("10.233.0.0", "pool", &a, &err) < 0);
	ctnet_addr_parse("10.233.77.9", 0, 0, "a", &a, &err);
	T_OK("in pool", ctnet_addr_in(&a, &net));
	ctnet_addr_parse("10.234.0.1", 0, 0, "a", &a, &err);
	T_OK("outside pool", !ctnet_addr_in(&a, &net));
	ctnet_addr_set_v4(&a, 0x0ae90102, -1);
	T_STREQ("set_v4", ctnet_addr_str(&a, buf), "10.233.1.2");
}

static void test_ports(void)
{
	struct ctnet_err err;
	uint16_t p;
	T_OK("port 80", ctnet_port_parse("80", &p, &err) == 0 && p == 80);
	T_OK("port 65535", ctnet_port_parse("65535", &p, &err) == 0 && p == 65535);
	T_OK("port 0 rejected", ctnet_port_parse("0", &p, &err) < 0);
	T_OK("port 65536 rejected", ctnet_port_parse("65536", &p, &err) < 0);
	T_OK("port -1 rejected", ctnet_port_parse("-1", &p, &err) < 0);
	T_OK("port 99999999999 rejected", ctnet_port_parse("99999999999", &p, &err) < 0);
	T_OK("port 8x rejected", ctnet_port_parse("8x", &p, &err) < 0);
	T_OK("port '' rejected", ctnet_port_parse("", &p, &err) < 0);
}

struct seen {
	int n;
	char names[64];
};

static int seen_one(int dfd, const char *name, void *data)
{
	struct seen *s = data;
	size_t len = strlen(s->names);
	(void)dfd;
	s->n++;
	snprintf(s->names + len, sizeof(s->names) - len, "%s,", name);
	return 0;
}

static void test_state(void)
{
	struct ctnet_err err;
	char tmpl[] = "/tmp/ctnet-unit.XXXXXX", base[64], buf[64];
	T_OK("mkdtemp", mkdtemp(tmpl) != NULL);
	snprintf(base, sizeof(base), "%s/state", tmpl);
	int fd = ctnet_dir_open(base, "ipam", 1, &err);
	T_OK("dir_open creates", fd >= 0);
	T_OK("write_atomic durable", ctnet_write_atomic_flags(fd, "f", "hello\n", 6, CTNET_WRITE_DURABLE, &err) == 0);
	T_OK("write_atomic", ctnet_write_atomic(fd, "f", "hello\n", 6, &err) == 0);
	T_OK("read back", ctnet_read_file(fd, "f", buf, sizeof(buf), &err) == 6 && !strcmp(buf, "hello\n"));
	T_OK("too large", ctnet_read_file(fd, "f", buf, 4, &err) == -EFBIG);
	T_OK("absent -> ENOENT", ctnet_read_file(fd, "nope", buf, sizeof(buf), &err) == -ENOENT);
	T_OK("symlinkat", symlinkat("f", fd, "l") == 0);
	T_OK("symlink refused", ctnet_read_file(fd, "l", buf, sizeof(buf), &err) == -ELOOP);
	T_OK("listed: read back", ctnet_read_listed(fd, "f", buf, sizeof(buf), &err) == 6 && !strcmp(buf, "hello\n"));
	T_OK("listed: exactly max-1 bytes", ctnet_read_listed(fd, "f", buf, 7, &err) == 6 && !strcmp(buf, "hello\n"));
	T_OK("listed: too large", ctnet_read_listed(fd, "f", buf, 6, &err) == -EFBIG);
	T_OK("listed: absent -> ENOENT", ctnet_read_listed(fd, "nope", buf, sizeof(buf), &err) == -ENOENT);
	T_OK("listed: symlink refused", ctnet_read_listed(fd, "l", buf, sizeof(buf), &err) == -ELOOP);
	T_OK("mkdirat", mkdirat(fd, "d", 0755) == 0);
	T_OK("listed: a directory refused", ctnet_read_listed(fd, "d", buf, sizeof(buf), &err) == -EISDIR);
	struct seen seen = { 0 };
	T_OK("foreach_file", ctnet_dir_foreach_file(fd, "test", seen_one, &seen, &err) == 0);
	T_OK("foreach_file: the regular file only (not the link, not the directory)",
	     seen.n == 1 && !strcmp(seen.names, "f,"));
	int lk = ctnet_lock(fd, "lock", &err);
	T_OK("lock", lk >= 0);
	ctnet_unlock(lk);
	T_OK("lock failing names the whole path", ctnet_lock(fd, "d", &err) == -EISDIR && strstr(err.msg, base) &&
						       strstr(err.msg, "/ipam/d\""));
	T_OK("probe: a writable dir", ctnet_dir_probe(fd, "shown", &err) == 0);
	snprintf(buf, sizeof(buf), ".probe.%ld.tmp", (long)getpid()); /* single-threaded: tid == pid */
	T_OK("probe: leaves no probe file", faccessat(fd, buf, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
	T_OK("state probe: made and proven", ctnet_state_probe(base, "nat", &err) == 0);
	T_OK("state probe: a file in the way names the path",
	     ctnet_state_probe(base, "ipam/f", &err) == -ENOTDIR && strstr(err.msg, "/ipam/f"));
	T_OK("unlink absent ok", ctnet_unlink(fd, "nope", &err) == 0);
	close(fd);
	chmod(base, 0777);
	fd = ctnet_dir_open(base, NULL, 0, &err);
	T_OK("world-writable state dir refused", fd == -EPERM && strstr(err.msg, base) != NULL);
	chmod(base, 0755);
	snprintf(buf, sizeof(buf), "%s/link", tmpl);
	symlink(base, buf);
	T_OK("symlinked state dir refused", ctnet_dir_open(buf, NULL, 0, &err) == -ELOOP);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	T_OK("cleanup", system(cmd) == 0);
}

struct swept_log {
	char text[256];
};

static void swept_one(const struct ctnet_swept *s, void *data)
{
	struct swept_log *l = data;
	size_t len = strlen(l->text);
	snprintf(l->text + len, sizeof(l->text) - len, "%d:%s:%d,", (int)s->kind, s->dir, s->n);
}

static bool exists_at(const char *dir, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* A module's sweep of its directories: temp files of dead writers go (reported per
 * directory), a live writer's and other files stay, an absent directory is nothing. */
static void test_tmp_sweep_dirs(void)
{
	static const char *const dirs[] = { "a", "b/absent", "c" };
	char tmpl[] = "/tmp/ctnet-unit.XXXXXX", a[64], c[64], dead_tmp[32], live_tmp[32], cmd[512];
	struct swept_log log = { "" };
	struct ctnet_err err;
	pid_t dead = fork();

	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	T_OK("mkdtemp", mkdtemp(tmpl) != NULL);
	snprintf(a, sizeof(a), "%s/a", tmpl);
	snprintf(c, sizeof(c), "%s/c", tmpl);
	snprintf(dead_tmp, sizeof(dead_tmp), ".x.%ld.tmp", (long)dead);
	snprintf(live_tmp, sizeof(live_tmp), ".y.%ld.tmp", (long)getpid());
	snprintf(cmd, sizeof(cmd), "mkdir -m 0755 %s %s && cd %s && touch %s %s f && touch %s/%s", a, c, a,
		 dead_tmp, live_tmp, c, dead_tmp);
	T_OK("sweep: files planted", system(cmd) == 0);
	T_OK("sweep: 0 with an absent directory",
	     ctnet_tmp_sweep_dirs(tmpl, dirs, ARRAY_SIZE(dirs), swept_one, &log, &err) == 0);
	T_STREQ("sweep: one temp file reported in a and in c", log.text, "0:a:1,0:c:1,");
	T_OK("sweep: the dead writer's temp files are gone", !exists_at(a, dead_tmp) && !exists_at(c, dead_tmp));
	T_OK("sweep: a live writer's temp file and a record stay", exists_at(a, live_tmp) && exists_at(a, "f"));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
	T_OK("sweep: cleanup", system(cmd) == 0);
}

/* doctor's order: most severe first, and within a severity the order findings were added
 * in (qsort is not stable: glibc's sorts in place, unstably, when it cannot allocate). */
static void test_findings_order(void)
{
	struct ctnet_findings f = { 0 };
	char want[4096] = "", got[4096] = "";
	size_t o = 0;
	/* Many of each severity, interleaved: what an unstable sort would shuffle. */
	for (int i = 0; i < 300; i++) {
		enum ctnet_severity sev = (enum ctnet_severity)((i * 7) % 3);
		char code[16];
		snprintf(code, sizeof(code), "c%d", i);
		ctnet_finding_add(&f, sev, code, NULL, NULL, NULL, "%d", i);
	}
	for (int sev = CTNET_SEV_BLOCKS; sev >= CTNET_SEV_NOTE; sev--)
		for (int i = 0; i < 300; i++)
			if ((i * 7) % 3 == sev && o < sizeof(want) - 8)
				o += (size_t)snprintf(want + o, sizeof(want) - o, "%d,", i);
	T_OK("findings sort", ctnet_findings_sort(&f) == 0 && f.n == 300);
	o = 0;
	for (size_t i = 0; i < f.n && o < sizeof(got) - 8; i++)
		o += (size_t)snprintf(got + o, sizeof(got) - o, "%s,", f.v[i].evidence);
	T_STREQ("findings: most severe first, each severity in the order found", got, want);
	ctnet_findings_free(&f);
}

static void test_hostconf(void)
{
	struct ctnet_hostconf hc;
	struct ctnet_err err = { 0 };
	char buf[CTNET_ADDR_STRLEN];
	const char *good = "# a host of the cluster\nPOOL=10.233.1.0/24\nPOOL6=fd42:1:2::/48\n"
			   "CLUSTER_CIDR=10.233.0.0/16,10.96.0.0/12\nCLUSTER_CIDR=fd42::/16\n"
			   "EXTERNAL_INTERFACE=eth0\n";
	T_OK("hostconf: a full file parses",
	     ctnet_hostconf_parse(good, strlen(good), "t", &hc, &err) == 0 && hc.present);
	T_STREQ("hostconf: POOL", ctnet_addr_cidr_str(&hc.pool4, buf), "10.233.1.0/24");
	T_STREQ("hostconf: POOL6", ctnet_addr_cidr_str(&hc.pool6, buf), "fd42:1:2::/48");
	T_OK("hostconf: three cluster CIDRs from a list and a repeat", hc.n_cluster == 3);
	T_STREQ("hostconf: second cluster CIDR", ctnet_addr_cidr_str(&hc.cluster[1], buf),
		"10.96.0.0/12");
	T_OK("hostconf: one external interface", hc.n_ext == 1 && !strcmp(hc.ext[0], "eth0"));
	struct ctnet_addr a;
	ctnet_addr_parse("10.233.7.2", 0, CTNET_ADDR_PREFIX_OK, "t", &a, &err);
	T_OK("hostconf: an address of another host is in the cluster",
	     ctnet_hostconf_in_cluster(&hc, &a));
	ctnet_addr_parse("10.0.0.0/8", 0, CTNET_ADDR_PREFIX_OK, "t", &a, &err);
	T_OK("hostconf: a wider prefix is not", !ctnet_hostconf_in_cluster(&hc, &a));
	ctnet_addr_parse("192.0.2.1", 0, CTNET_ADDR_PREFIX_OK, "t", &a, &err);
	T_OK("hostconf: an outside address is not", !ctnet_hostconf_in_cluster(&hc, &a));

	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "POOL=10.233.0.1/16\n", "host bits set" },
		{ "POOL=fd00::/48\n", "expected an IPv4 network" },
		{ "POOL=10.0.0.0/31\n", "/30 or shorter" },
		{ "POOL6=fd00::/64\n", "expected a /48" },
		{ "POOL=10.1.0.0/16\nPOOL=10.2.0.0/16\n", "POOL given twice" },
		{ "CLUSTER_CIDR=10.0.0.0/8,,10.1.0.0/16\n", "empty item" },
		{ "CLUSTER_CIDR=10.0.0.0/8\nCLUSTER_CIDR=10.0.0.0/8\n", "given twice" },
		{ "CLUSTER_CIDR=nonsense\n", "nonsense" },
		{ "CLUSTER_CIDR=0.0.0.0/0\n", "wider than /8" },
		{ "CLUSTER_CIDR=::/1\n", "wider than /8" },
		{ "EXTERNAL_INTERFACE=a/b\n", "a/b" },
		{ "CLUSTERCIDR=10.0.0.0/8\n", "unknown key \"CLUSTERCIDR\"" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char what[128];
		ctnet_err_clear(&err);
		int r = ctnet_hostconf_parse(bad[i].text, strlen(bad[i].text), "t", &hc, &err);
		snprintf(what, sizeof(what), "hostconf: refused with \"%s\"", bad[i].msg);
		T_OK(what, r == -EINVAL && strstr(err.msg, bad[i].msg) && strstr(err.msg, "line") &&
				   !hc.present && hc.n_cluster == 0);
	}
	setenv("CTNET_CONF", "/nonexistent/ctnet.conf", 1);
	T_OK("hostconf: a missing file is the empty configuration",
	     ctnet_hostconf_load(&hc, &err) == 0 && !hc.present && !hc.pool4.family);
	unsetenv("CTNET_CONF");
}

int main(void)
{
	test_names();
	test_show();
	test_addrs();
	test_ports();
	test_state();
	test_tmp_sweep_dirs();
	test_findings_order();
	test_hostconf();
	return t_done();
}
