/* SPDX-License-Identifier: MIT */
/* Unit tests of launch/dns.c and dnsrun.c that need no privileges: DNS labels and domains,
 * a container's names, dnsmasq's command line, the uplink test, hosts files and resolv.conf
 * written and removed in a temporary run dir. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch/dnsrun.h"
#include "launch/launch.h"
#include "pidfile.h"
#include "t.h"

static void test_labels(void)
{
	struct ctnet_err e;
	char long63[64], long64[65];

	memset(long63, 'a', 63);
	long63[63] = '\0';
	memset(long64, 'a', 64);
	long64[64] = '\0';
	T_OK("label: web", ct_dns_label_check("web", &e) == 0);
	T_OK("label: Web-2 (letters of either case, digits, inner '-')", ct_dns_label_check("Web-2", &e) == 0);
	T_OK("label: 63 characters", ct_dns_label_check(long63, &e) == 0);
	T_OK("label: 64 characters refused", ct_dns_label_check(long64, &e) == -EINVAL);
	T_OK("label: the refusal says how long", strstr(e.msg, "64 characters") != NULL);
	T_OK("label: a dot refused", ct_dns_label_check("a.b", &e) == -EINVAL && strstr(e.msg, "a dot"));
	T_OK("label: an underscore refused", ct_dns_label_check("a_b", &e) == -EINVAL && strstr(e.msg, "underscore"));
	T_OK("label: leading '-' refused", ct_dns_label_check("-a", &e) == -EINVAL);
	T_OK("label: trailing '-' refused", ct_dns_label_check("a-", &e) == -EINVAL);
	T_OK("label: empty refused", ct_dns_label_check("", &e) == -EINVAL);
	T_OK("domain: containers", ct_dns_domain_check("containers", &e) == 0);
	T_OK("domain: lab.example", ct_dns_domain_check("lab.example", &e) == 0);
	T_OK("domain: an empty label refused", ct_dns_domain_check("lab..example", &e) == -EINVAL);
	T_OK("domain: a trailing dot refused", ct_dns_domain_check("lab.", &e) == -EINVAL);
	T_OK("domain: a slash refused (it goes into --local=/D/)", ct_dns_domain_check("a/b", &e) == -EINVAL);
}

static void test_names(void)
{
	struct ct_record r;
	char names[2][CTNET_NAME_MAX + CT_DNS_DOMAIN_MAX + 2];
	struct ctnet_err e;

	memset(&r, 0, sizeof(r));
	ct_spec_init(&r.spec, "web");
	ctnet_addr_parse("10.233.1.2", AF_INET, 0, "local", &r.local, &e);
	T_OK("names: a private container has two", ct_dns_names(&r, "containers", names) == 2);
	T_STREQ("names: the bare name", names[0], "web");
	T_STREQ("names: with the domain", names[1], "web.containers");
	r.pending = true;
	T_OK("names: none while up is pending", ct_dns_names(&r, "containers", names) == 0);
	r.pending = false;
	r.stopping = CT_STOP_RELEASE;
	T_OK("names: none once down began", ct_dns_names(&r, "containers", names) == 0);
	r.stopping = CT_STOP_NONE;
	snprintf(r.spec.name, sizeof(r.spec.name), "a.b");
	T_OK("names: none for a name that is not a label", ct_dns_names(&r, "containers", names) == 0);
	snprintf(r.spec.name, sizeof(r.spec.name), "db");
	r.spec.shared = true;
	T_OK("names: none for a shared container", ct_dns_names(&r, "containers", names) == 0);
}

static bool has_arg(char **argv, int argc, const char *want)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], want))
			return true;
	return false;
}

static void test_argv(void)
{
	struct ct_dns_opts o = { "lab", "/run/resolv", "/usr/sbin/dnsmasq" };
	const char ifs[2][IFNAMSIZ] = { "br0", "cni0" };
	char *argv[64], buf[4096], small[64];
	int argc = ct_dns_argv(&o, "/run/ctnet/dns/hosts", ifs, 2, argv, 64, buf, sizeof(buf));

	T_OK("argv: built", argc > 0 && argv[argc] == NULL);
	T_STREQ("argv: the binary first", argv[0], "/usr/sbin/dnsmasq");
	T_OK("argv: foreground, no /etc/hosts, no config file",
	     has_arg(argv, argc, "--keep-in-foreground") && has_arg(argv, argc, "--no-hosts") &&
		     has_arg(argv, argc, "--conf-file=/dev/null"));
	T_OK("argv: ve-* and each bridge, bound per address, never lo",
	     has_arg(argv, argc, "--interface=ve-*") && has_arg(argv, argc, "--interface=br0") &&
		     has_arg(argv, argc, "--interface=cni0") && has_arg(argv, argc, "--bind-dynamic") &&
		     has_arg(argv, argc, "--except-interface=lo"));
	T_OK("argv: the hosts dir, the resolv file", has_arg(argv, argc, "--hostsdir=/run/ctnet/dns/hosts") &&
						     has_arg(argv, argc, "--resolv-file=/run/resolv"));
	T_OK("argv: the domain answered locally",
	     has_arg(argv, argc, "--domain=lab") && has_arg(argv, argc, "--local=/lab/") &&
		     has_arg(argv, argc, "--expand-hosts") && has_arg(argv, argc, "--domain-needed"));
	T_OK("argv: too small a buffer is -ENOSPC", ct_dns_argv(&o, "/x", ifs, 2, argv, 64, small, sizeof(small)) == -ENOSPC);
	T_OK("argv: too few entries is -ENOSPC", ct_dns_argv(&o, "/x", ifs, 2, argv, 4, buf, sizeof(buf)) == -ENOSPC);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_uplink(const char *dir)
{
	char r4[512], r6[512];
	snprintf(r4, sizeof(r4), "%s/route", dir);
	snprintf(r6, sizeof(r6), "%s/ipv6_route", dir);
	write_file(r4, "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
		       "br-lan\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
		       "br0\t0064E90A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
	write_file(r6, "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
		       "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 br6\n"
		       "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
		       "00000000000000000000000000000000 00000100 00000001 00000000 00000001 br0\n");
	T_OK("uplink: the IPv4 default route's bridge", ct_dns_is_uplink("br-lan", r4, r6));
	T_OK("uplink: the IPv6 default route's bridge", ct_dns_is_uplink("br6", r4, r6));
	T_OK("uplink: a bridge with only its subnets is not", !ct_dns_is_uplink("br0", r4, r6));
}

static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return fd < 0 ? -1 : 0;
}

/* A hosts file and a resolv.conf written, kept and removed with the record. */
static void test_files(const char *dir)
{
	char run[512], etc[512], path[1024], text[1024];
	struct ct_record r;
	struct ct_dns_sync s;
	struct ctnet_err e;

	snprintf(run, sizeof(run), "%s/run", dir);
	snprintf(etc, sizeof(etc), "%s/etc", dir);
	setenv("CTNET_RUN_DIR", run, 1);
	setenv("CTNET_NETNS_ETC_DIR", etc, 1);
	memset(&r, 0, sizeof(r));
	ct_spec_init(&r.spec, "web");
	r.version = CT_RECORD_VERSION;
	r.spec.netns_kind = CT_NETNS_CREATE;
	r.created_netns = true;
	snprintf(r.netns, sizeof(r.netns), "/proc/self/ns/net"); /* alive: it exists */
	snprintf(r.host_ifname, sizeof(r.host_ifname), "ve-web");
	snprintf(r.boot_id, sizeof(r.boot_id), "%s", ct_boot_id());
	ctnet_addr_parse("10.233.1.1", AF_INET, 0, "host", &r.host, &e);
	ctnet_addr_parse("10.233.1.2", AF_INET, 0, "local", &r.local, &e);
	int recdfd = record_dir(true, &e), hostsdfd = ct_dns_hosts_open(true, &e);
	T_OK("files: record written", record_write(&r, &e) == 0);
	T_OK("files: sync of a live container", ct_dns_sync_name(NULL, recdfd, hostsdfd, "web", "lab", &s, &e) == 0);
	T_OK("files: its names written", s.served && s.changed && !s.iface[0]);
	snprintf(path, sizeof(path), "%s/dns/hosts/web", run);
	read_text(path, text, sizeof(text));
	T_OK("files: the hosts file names its address", strstr(text, "\n10.233.1.2 web\n") != NULL);
	snprintf(path, sizeof(path), "%s/web/resolv.conf", etc);
	read_text(path, text, sizeof(text));
	T_OK("files: its resolv.conf names the host side and the domain",
	     strstr(text, "nameserver 10.233.1.1\n") && strstr(text, "search lab\n") &&
		     !strncmp(text, CT_DNS_MARKER, strlen(CT_DNS_MARKER)));
	T_OK("files: a second sync changes nothing",
	     ct_dns_sync_name(NULL, recdfd, hostsdfd, "web", "lab", &s, &e) == 0 && !s.changed);
	T_OK("files: record removed", record_remove("web", &e) == 0);
	T_OK("files: sync of a gone container", ct_dns_sync_name(NULL, recdfd, hostsdfd, "web", "lab", &s, &e) == 0);
	T_OK("files: its hosts file removed", s.removed && access(path, F_OK) < 0);
	snprintf(path, sizeof(path), "%s/web", etc);
	T_OK("files: its resolv.conf and directory removed", access(path, F_OK) < 0);
	/* Another tool's resolv.conf is never overwritten nor removed. */
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/web/resolv.conf", etc);
	write_file(path, "nameserver 192.0.2.53\n");
	T_OK("files: another's resolv.conf left alone", ct_dns_resolv_write(NULL, &r, "lab", &e) == 0);
	T_OK("files: ... and not removed", ct_dns_resolv_remove("web", &e) == 0 && access(path, F_OK) == 0);
	unlink(path);

	/* up's part: nothing while ctnet dns does not run; its files while it does. */
	snprintf(r.host_ifname, sizeof(r.host_ifname), "xx-web"); /* not ve-*: no wait for dnsmasq */
	snprintf(path, sizeof(path), "%s/dns/hosts/web", run);
	T_OK("up: nothing without ctnet dns", ct_dns_up(NULL, &r, &e) == 0 && access(path, F_OK) < 0);
	int pidfd = ctnet_pidfile_take(CT_DNS_PIDFILE, "ctnet dns", &e);
	struct ct_dns_state st = { .domain = "lab" }, got;
	T_OK("up: the pid file taken, the state written", pidfd >= 0 && ct_dns_state_write(&st, &e) == 0);
	T_OK("up: ctnet dns reads as active", ct_dns_state_read(&got) == 0 && got.active && !strcmp(got.domain, "lab"));
	r.pending = true; /* as fresh_up calls it: before the commit point */
	T_OK("up: resolv.conf written (1)", ct_dns_up(NULL, &r, &e) == 1);
	T_OK("up: the hosts file written before the commit", access(path, F_OK) == 0);
	T_OK("up: again, nothing to write (0)", ct_dns_up(NULL, &r, &e) == 0);
	T_OK("forget: both removed", ct_dns_forget("web", &e) == 0 && access(path, F_OK) < 0);
	snprintf(path, sizeof(path), "%s/web", etc);
	T_OK("forget: the resolv.conf's directory too", access(path, F_OK) < 0);
	close(pidfd);
	T_OK("state: inactive once the pid file is let go", ct_dns_state_read(&got) == 0 && !got.active);
	close(recdfd);
	close(hostsdfd);
}

int main(void)
{
	char dir[] = "/tmp/ctnet-test-dns.XXXXXX";
	char cmd[128];

	test_labels();
	test_names();
	test_argv();
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0) {
		printf("FAIL temp dir: %s\n", strerror(errno));
		return 1;
	}
	test_uplink(dir);
	test_files(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", dir);
	return t_done();
}
