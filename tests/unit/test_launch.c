/* Unit tests of the launcher library: the front-ends fill one spec alike, the diff names the
 * fields that differ, and the record codec round-trips (no privileges, no kernel). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cni/cni.h"
#include "finding.h"
#include "launch/doctor.h"
#include "out.h"
#include "t.h"
#include "tools/ctnet.h"

/* What the CLI makes of argv (up_parse_args, as `ctnet up` runs it). */
static int cli_spec(struct ct_spec *out, char **argv, int argc)
{
	static struct up_cli o;
	struct ctnet_err err;
	memset(&o, 0, sizeof(o));
	ct_spec_init(&o.spec, NULL);
	optind = 1;
	if (up_parse_args(argc, argv, &o, up_usage) != 0 || up_finish(&o, o.spec.name, &err) < 0)
		return -1;
	*out = o.spec;
	return 0;
}

static void test_front_ends(const char *dir)
{
	static struct ct_spec cli, conf, oci, cni;
	struct ctnet_err err;
	char path[512];
	static char args[] = "up\0" "web\0" "--netns\0" "/run/netns/web\0" "--host-address\0"
			     "10.233.5.1\0" "--local-address\0" "10.233.5.2\0" "--forward\0"
			     "tcp:8080:80\0" "--forward\0" "udp:53\0" "--mac\0" "02:00:00:00:00:01";
	char *argv[15] = { 0 };
	char *p = args;
	for (int i = 0; i < 14; i++, p += strlen(p) + 1)
		argv[i] = p;
	int fd;

	T_OK("CLI flags parse", cli_spec(&cli, argv, 14) == 0);
	snprintf(path, sizeof(path), "%s/web.conf", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	const char *text = "PRIVATE_NETWORK=1\nNETWORK_NAMESPACE_PATH=/run/netns/web\n"
			   "HOST_ADDRESS=10.233.5.1\nLOCAL_ADDRESS=10.233.5.2\n"
			   "HOST_PORT=\"tcp:8080:80,udp:53\"\nLOCAL_MAC_ADDRESS=02:00:00:00:00:01\n";
	T_OK("conf written", fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	ct_spec_init(&conf, "web");
	T_OK("conf parses", ct_spec_from_conf(&conf, path, NULL, &err) == 0);
	T_OK("CLI flags and the .conf fill the same spec", ct_spec_diff(&cli, &conf) == 0);

	const char *state = "{\"ociVersion\":\"1.0.2\",\"id\":\"web\",\"pid\":4242,\"annotations\":"
			    "{\"ctnet.host-address\":\"10.233.5.1\",\"ctnet.local-address\":\"10.233.5.2\","
			    "\"ctnet.forward\":\"tcp:8080:80,udp:53\"}}";
	T_OK("OCI state parses", oci_parse_state(state, strlen(state), true, &oci, &err) == 0);
	T_OK("OCI: the namespace of pid", oci.netns_kind == CT_NETNS_PID && oci.pid == 4242);
	T_OK("OCI fills the same spec but for namespace, MAC, origin",
	     (ct_spec_diff(&cli, &oci) & ~(CT_F_NETNS | CT_F_MAC | CT_F_ORIGIN | CT_F_RUNTIME)) == 0);
	T_OK("OCI records its origin and id", !strcmp(oci.origin, "oci") && !strcmp(oci.runtime_id, "web"));

	static struct cni_conf cc;
	struct cni_err ce = { 0 };
	struct cni_env env = { .command = CNI_ADD, .container_id = "abc123", .netns = "/run/netns/web",
			       .ifname = "eth0" };
	const char *net = "{\"cniVersion\":\"1.0.0\",\"name\":\"ctnet\",\"type\":\"ctnet-cni\","
			  "\"subnet\":\"10.233.0.0/16\",\"runtimeConfig\":{\"portMappings\":["
			  "{\"hostPort\":8080,\"containerPort\":80,\"protocol\":\"tcp\"},"
			  "{\"hostPort\":53,\"containerPort\":53,\"protocol\":\"udp\"}]}}";
	T_OK("CNI config parses", cni_conf_parse(net, strlen(net), CNI_ADD, NULL, &cc, &ce) == 0);
	T_OK("CNI spec builds", cni_spec(&env, &cc, &cni, &ce) == 0);
	T_OK("CNI: netns path, pool, origin, runtime id",
	     cni.netns_kind == CT_NETNS_PATH && !strcmp(cni.netns_path, "/run/netns/web") &&
		     cni.has_pool && !strcmp(cni.origin, "cni:ctnet") && !strcmp(cni.runtime_id, "abc123"));
	T_OK("CNI forwards equal the CLI's", (ct_spec_diff(&cli, &cni) & CT_F_FORWARDS) == 0);
	cni_conf_free(&cc);
}

/* CNI: what a runtime asks of an address, a MAC and the ports, in the spec. */
static int cni_try(const char *net, const char *ip, const char *mac, struct ct_spec *o, struct cni_err *ce)
{
	static struct cni_conf cc;
	struct cni_env env = { .command = CNI_ADD, .container_id = "abc123", .netns = "/run/netns/web",
			       .ifname = "eth0" };
	int rc;

	snprintf(env.ip, sizeof(env.ip), "%s", ip);
	snprintf(env.mac, sizeof(env.mac), "%s", mac);
	memset(ce, 0, sizeof(*ce));
	rc = cni_conf_parse(net, strlen(net), CNI_ADD, NULL, &cc, ce);
	if (rc == 0)
		rc = cni_spec(&env, &cc, o, ce);
	if (rc == 0)
		rc = cc.ports_stated; /* 1: the request states its ports */
	cni_conf_free(&cc);
	return rc;
}

/* CNI: the subnet from containerd's template (host-local ranges), the cluster CIDRs, and the
 * host config's POOL and CLUSTER_CIDR as defaults. */
static int cni_parse_hc(const char *body, const struct ctnet_hostconf *hc, struct cni_conf *cc,
			struct cni_err *ce)
{
	char net[1024];
	snprintf(net, sizeof(net), "{\"cniVersion\":\"1.0.0\",\"name\":\"k8s\",\"type\":\"ctnet-cni\"%s}", body);
	memset(ce, 0, sizeof(*ce));
	return cni_conf_parse(net, strlen(net), CNI_ADD, hc, cc, ce);
}

static void test_cni_ranges(void)
{
	static struct cni_conf cc;
	static struct ctnet_hostconf hc;
	struct cni_err ce;
	const char *hcs = "POOL=10.50.0.0/16\nCLUSTER_CIDR=10.244.0.0/16,10.96.0.0/12\n";

	T_OK("CNI: ipam host-local ranges give the subnet",
	     cni_parse_hc(",\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"10.244.1.0/24\"}]],"
			  "\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}", NULL, &cc, &ce) == 0 &&
		     !strcmp(cc.subnet_str, "10.244.1.0/24"));
	cni_conf_free(&cc);
	T_OK("CNI: podman's range with its first address as gateway is read",
	     cni_parse_hc(",\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"10.88.0.0/16\","
			  "\"gateway\":\"10.88.0.1\"}]]}", NULL, &cc, &ce) == 0 && !strcmp(cc.subnet_str, "10.88.0.0/16"));
	cni_conf_free(&cc);
	T_OK("CNI: another gateway is refused",
	     cni_parse_hc(",\"ranges\":[[{\"subnet\":\"10.88.0.0/16\",\"gateway\":\"10.88.0.9\"}]]", NULL, &cc,
			  &ce) < 0 && strstr(ce.e.msg, "gateway"));
	cni_conf_free(&cc);
	T_OK("CNI: top-level ranges give the subnet",
	     cni_parse_hc(",\"ranges\":[[{\"subnet\":\"10.244.2.0/24\"}]]", NULL, &cc, &ce) == 0 &&
		     !strcmp(cc.subnet_str, "10.244.2.0/24"));
	cni_conf_free(&cc);
	T_OK("CNI: an unfilled template is refused naming it",
	     cni_parse_hc(",\"ipam\":{\"ranges\":[[{\"subnet\":\"{{.PodCIDR}}\"}]]}", NULL, &cc, &ce) < 0 &&
		     ce.code == CNI_ERR_CONFIG && strstr(ce.e.msg, "{{.PodCIDR}}"));
	cni_conf_free(&cc);
	T_OK("CNI: a delegated IPAM type is refused",
	     cni_parse_hc(",\"ipam\":{\"type\":\"dhcp\"}", NULL, &cc, &ce) < 0 && strstr(ce.e.msg, "\"dhcp\""));
	cni_conf_free(&cc);
	T_OK("CNI: two IPv4 subnets are refused",
	     cni_parse_hc(",\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}],[{\"subnet\":\"10.2.0.0/24\"}]]", NULL, &cc,
			  &ce) < 0 && strstr(ce.e.msg, "more than one"));
	cni_conf_free(&cc);
	T_OK("CNI: an IPv6 range is refused, pointing at POOL6",
	     cni_parse_hc(",\"ranges\":[[{\"subnet\":\"fd00:10:244:1::/64\"}]]", NULL, &cc, &ce) < 0 &&
		     strstr(ce.e.msg, "POOL6"));
	cni_conf_free(&cc);
	T_OK("CNI: rangeStart is refused",
	     cni_parse_hc(",\"ranges\":[[{\"subnet\":\"10.1.0.0/24\",\"rangeStart\":\"10.1.0.10\"}]]", NULL, &cc,
			  &ce) < 0 && strstr(ce.e.msg, "rangeStart"));
	cni_conf_free(&cc);
	T_OK("CNI: subnet and ranges together are refused",
	     cni_parse_hc(",\"subnet\":\"10.1.0.0/24\",\"ranges\":[[{\"subnet\":\"10.1.0.0/24\"}]]", NULL, &cc,
			  &ce) < 0);
	cni_conf_free(&cc);
	T_OK("CNI: clusterCIDRs parse",
	     cni_parse_hc(",\"clusterCIDRs\":[\"10.244.0.0/16\",\"fd00:10:244::/48\"]", NULL, &cc, &ce) == 0 &&
		     cc.n_cluster == 2 && cc.cluster[1].family == AF_INET6);
	cni_conf_free(&cc);
	T_OK("CNI: a clusterCIDRs entry with host bits is refused",
	     cni_parse_hc(",\"clusterCIDRs\":[\"10.244.0.1/16\"]", NULL, &cc, &ce) < 0 &&
		     strstr(ce.e.msg, "host bits"));
	cni_conf_free(&cc);

	T_OK("CNI: host config parses", ctnet_hostconf_parse(hcs, strlen(hcs), "t", &hc, &ce.e) == 0);
	T_OK("CNI: no subnet: the host config's POOL; no clusterCIDRs: its CLUSTER_CIDR",
	     cni_parse_hc("", &hc, &cc, &ce) == 0 && !strcmp(cc.subnet_str, "10.50.0.0/16") && cc.n_cluster == 2);
	cni_conf_free(&cc);
	T_OK("CNI: the same cluster list in another order is accepted",
	     cni_parse_hc(",\"clusterCIDRs\":[\"10.96.0.0/12\",\"10.244.0.0/16\"]", &hc, &cc, &ce) == 0);
	cni_conf_free(&cc);
	T_OK("CNI: a cluster list other than the host config's is refused naming the file",
	     cni_parse_hc(",\"clusterCIDRs\":[\"10.244.0.0/16\"]", &hc, &cc, &ce) < 0 &&
		     strstr(ce.e.msg, "CLUSTER_CIDR") && strstr(ce.e.msg, "ctnet.conf"));
	cni_conf_free(&cc);
}

static void test_cni_statics(void)
{
	static struct ct_spec o;
	struct cni_err ce;
	char h[CTNET_ADDR_STRLEN], l[CTNET_ADDR_STRLEN];
	const char *ips = "{\"cniVersion\":\"1.0.0\",\"name\":\"ctnet\",\"type\":\"ctnet-cni\","
			  "\"capabilities\":{\"ips\":true}}";
	const char *pm = "{\"cniVersion\":\"1.0.0\",\"name\":\"ctnet\",\"type\":\"ctnet-cni\","
			 "\"capabilities\":{\"portMappings\":true,\"ips\":true}}";
	const char *br = "{\"cniVersion\":\"1.0.0\",\"name\":\"ctnet\",\"type\":\"ctnet-cni\","
			 "\"bridge\":\"cni0\",\"subnet\":\"10.99.0.0/24\",\"runtimeConfig\":{\"ips\":[\"10.99.0.7/24\"]}}";

	T_OK("CNI: capabilities {ips} alone state no ports", cni_try(ips, "", "", &o, &ce) == 0);
	T_OK("CNI: the portMappings capability states them (none is a statement)", cni_try(pm, "", "", &o, &ce) == 1);
	T_OK("CNI: no IP=, nothing reserved", !o.reserve && !o.local.family);
	T_OK("CNI: IP=10.233.5.2 is the pair 10.233.5.1/10.233.5.2, reserved",
	     cni_try(ips, "10.233.5.2", "", &o, &ce) == 0 && o.reserve &&
		     !strcmp(ctnet_addr_str(&o.host, h), "10.233.5.1") && !strcmp(ctnet_addr_str(&o.local, l), "10.233.5.2"));
	T_OK("CNI: IP= of a host side is refused (code 4) naming the address to ask for",
	     cni_try(ips, "10.233.5.1", "", &o, &ce) < 0 && ce.code == CNI_ERR_ENV && strstr(ce.e.msg, "ask for 10.233.5.2"));
	T_OK("CNI: IP= outside the subnet is refused", cni_try(ips, "10.99.0.2", "", &o, &ce) < 0 && ce.code == CNI_ERR_ENV);
	T_OK("CNI: IP= not an address is refused", cni_try(ips, "10.233.5", "", &o, &ce) < 0 && ce.code == CNI_ERR_ENV);
	T_OK("CNI: bridge: runtimeConfig.ips gives an address of the subnet with its prefix",
	     cni_try(br, "", "", &o, &ce) == 0 && o.reserve && !o.host.family &&
		     !strcmp(ctnet_addr_cidr_str(&o.local, l), "10.99.0.7/24"));
	T_OK("CNI: IP= and runtimeConfig.ips disagreeing are refused", cni_try(br, "10.99.0.8", "", &o, &ce) < 0);
	T_OK("CNI: MAC= sets the container side's MAC", cni_try(ips, "", "02:11:22:33:44:55", &o, &ce) == 0 &&
						       !strcmp(o.mac, "02:11:22:33:44:55"));
	T_OK("CNI: a multicast MAC= is refused", cni_try(ips, "", "01:00:00:00:00:01", &o, &ce) < 0);
}

static void test_diff(void)
{
	static struct ct_spec a, b;
	struct ctnet_err err;
	ct_spec_init(&a, "web");
	a.netns_kind = CT_NETNS_CREATE;
	ct_spec_add_forward(&a, "tcp:8080:80", &err);
	ct_spec_add_forward(&a, "udp:53", &err);
	b = a;
	T_OK("equal specs: no difference", ct_spec_diff(&a, &b) == 0);
	b.n_forwards = 0;
	ct_spec_add_forward(&b, "udp:53", &err);
	ct_spec_add_forward(&b, "tcp:8080:80", &err);
	T_OK("forwards in another order: no difference", ct_spec_diff(&a, &b) == 0);
	ct_spec_add_forward(&b, "tcp:9090:90", &err);
	T_OK("another forward: forwards differ", ct_spec_diff(&a, &b) == CT_F_FORWARDS);
	b = a;
	b.mtu = 1400;
	snprintf(b.mac, sizeof(b.mac), "02:00:00:00:00:09");
	T_OK("mtu and mac differ, in place", ct_spec_diff(&a, &b) == (CT_F_MTU | CT_F_MAC) &&
						     !(ct_spec_diff(&a, &b) & ~CT_F_IN_PLACE));
	b = a;
	snprintf(b.ifname, sizeof(b.ifname), "eth0");
	T_OK("ifname eth0 is the default", ct_spec_diff(&a, &b) == 0);
	snprintf(b.bridge, sizeof(b.bridge), "br0");
	b.ipv6 = true;
	T_OK("bridge and ipv6: not in place",
	     ct_spec_diff(&a, &b) == (CT_F_BRIDGE | CT_F_ADDRESS6) && (ct_spec_diff(&a, &b) & ~CT_F_IN_PLACE));
	T_STREQ("field names", ct_field_name(CT_F_BRIDGE), "bridge");
	b = a;
	ctnet_addr_parse("10.233.9.2", AF_INET, CTNET_ADDR_PREFIX_OK, "x", &b.local, &err);
	T_OK("an address: addresses differ", ct_spec_diff(&a, &b) == CT_F_ADDRESS);
	b = a;
	b.netns_kind = CT_NETNS_PID;
	b.pid = 7;
	T_OK("another namespace differs", ct_spec_diff(&a, &b) == CT_F_NETNS);
}

static void test_record_codec(void)
{
	static struct ct_record r, back;
	static char buf[32768];
	struct ctnet_err err;
	int n;

	memset(&r, 0, sizeof(r));
	ct_spec_init(&r.spec, "web");
	r.spec.netns_kind = CT_NETNS_PATH;
	snprintf(r.spec.netns_path, sizeof(r.spec.netns_path), "/run/netns/my web");
	snprintf(r.netns, sizeof(r.netns), "/run/netns/my web");
	ct_spec_add_forward(&r.spec, "tcp:8080:80@192.0.2.1", &err);
	r.spec.mtu = 1400;
	snprintf(r.spec.origin, sizeof(r.spec.origin), "apply:/etc/nixos-containers");
	snprintf(r.host_ifname, sizeof(r.host_ifname), "ve-web");
	ctnet_addr_parse("10.233.1.2", AF_INET, CTNET_ADDR_PREFIX_OK, "x", &r.local, &err);
	r.lease = true;
	snprintf(r.mac, sizeof(r.mac), "02:aa:bb:cc:dd:ee");
	n = record_format(&r, buf, sizeof(buf), &err);
	T_OK("record formats", n > 0);
	T_OK("the MAC in use is recorded apart from the one asked for",
	     strstr(buf, "LOCAL_MAC=02:aa:bb:cc:dd:ee\n") && !strstr(buf, "\nMAC="));
	T_OK("a value with a space is quoted", strstr(buf, "NETNS='/run/netns/my web'\n") != NULL);
	T_OK("record parses back", n > 0 && record_parse(buf, (size_t)n, "web", &back, &err) == 0);
	T_OK("round trip keeps the spec", ct_spec_diff(&r.spec, &back.spec) == 0);
	T_OK("round trip keeps the allocation", back.lease && !strcmp(back.netns, r.netns) &&
							ctnet_addr_equal(&back.local, &r.local) && !strcmp(back.mac, r.mac));
	T_OK("a LOCAL_MAC that is no unicast MAC is refused",
	     record_parse("NAME=web\nLOCAL_MAC=01:00:5e:00:00:01\n", 37, "web", &back, &err) < 0 &&
		     strstr(err.msg, "multicast"));
	snprintf(r.spec.runtime_name, sizeof(r.spec.runtime_name), "it's");
	snprintf(r.spec.runtime_id, sizeof(r.spec.runtime_id), "a b'c");
	n = record_format(&r, buf, sizeof(buf), &err);
	T_OK("a value no quoting makes safe is refused, not dropped", n == -EINVAL && strstr(err.msg, "RUNTIME_ID"));
	/* up's output, for a shell to source: quoted as the record is, and a value the record
	 * could not hold (a ' among other specials) in the shell's own '...'\'' form. */
	char *env = NULL;
	size_t env_len = 0;
	FILE *f = open_memstream(&env, &env_len);
	struct out o;
	out_init(&o, f, OUT_SHELL);
	record_out(&o, &r);
	snprintf(r.netns, sizeof(r.netns), "/run/netns/it's $x");
	record_out(&o, &r);
	out_end(&o);
	fclose(f);
	T_OK("up's output quotes a value with a space", env && strstr(env, "NETNS='/run/netns/my web'\n"));
	T_OK("up's output escapes a ' among specials as a shell reads it",
	     env && strstr(env, "NETNS='/run/netns/it'\\''s $x'\n"));
	free(env);
	const char *v1 = "NAME=web\nMODE=private\nNETNS=/proc/12/ns/net\nPID=12\nHOST_IFNAME=ve-web\n"
			 "HOST_ADDRESS=10.233.1.1\nLOCAL_ADDRESS=10.233.1.2\nFORWARD=tcp:8080:80\n";
	T_OK("a version 1 record reads", record_parse(v1, strlen(v1), "web", &back, &err) == 0);
	T_OK("version 1: the spec follows from what is in use",
	     back.version == 1 && back.spec.netns_kind == CT_NETNS_PID && back.spec.pid == 12 &&
		     back.spec.local.family == AF_INET && back.spec.n_forwards == 1);
	T_OK("a record naming another container is refused",
	     record_parse("NAME=db\n", 8, "web", &back, &err) < 0 && strstr(err.msg, "NAME"));
	T_OK("a record's parse error names the record, not a nixos conf",
	     record_parse("NAME=web\nMTU=1400 x\n", 20, "web", &back, &err) < 0 &&
		     !strncmp(err.msg, "record \"web\" line 2: ", 21) && !strstr(err.msg, "nixos"));
}

/* ct_boot_id's first use, by several threads at once (apply's and status' readers): each
 * must see the whole id, never a half-filled cache (a false "host rebooted"). */
#define BOOT_THREADS 4
static char boot_want[40];
static pthread_barrier_t boot_start;

static void *boot_reader(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&boot_start);
	return (void *)(strcmp(ct_boot_id(), boot_want) != 0 ? (void *)1 : NULL);
}

static void test_boot_id_threads(void)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, boot_want, sizeof(boot_want) - 1) : -1;
	int bad = 0, rounds = 0;

	if (fd >= 0)
		close(fd);
	boot_want[n > 0 ? n : 0] = '\0';
	boot_want[strcspn(boot_want, "\n")] = '\0';
	/* Each round a fresh process (the cache is filled once per process). */
	for (; rounds < 1000 && !bad; rounds++) {
		pid_t pid = fork();
		if (pid == 0) {
			pthread_t t[BOOT_THREADS];
			void *r;
			int wrong = 0;
			pthread_barrier_init(&boot_start, NULL, BOOT_THREADS);
			for (int i = 0; i < BOOT_THREADS; i++)
				pthread_create(&t[i], NULL, boot_reader, NULL);
			for (int i = 0; i < BOOT_THREADS; i++)
				if (pthread_join(t[i], &r) == 0 && r)
					wrong++;
			_exit(wrong ? 1 : 0);
		}
		int st = 0;
		bad = pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st);
	}
	printf("# boot id: %d rounds of %d threads\n", rounds, BOOT_THREADS);
	T_OK("boot id: threads filling the cache at once all see the whole id", n > 0 && !bad);
}

/* /proc/PID/stat's field 22, parsed here on its own. */
static unsigned long long start_of(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long v = 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'), *tok, *save = NULL;
	int field = 2;
	for (tok = p ? strtok_r(p + 1, " ", &save) : NULL; tok; tok = strtok_r(NULL, " ", &save))
		if (++field == 22) {
			v = strtoull(tok, NULL, 10);
			break;
		}
	return v;
}

/* A shared container's process: its PID and its start time, so that a PID reused by
 * another process is not taken for it. */
static void test_shared_pid_reuse(const char *dir)
{
	static struct ct_record r;
	static struct ct_spec s;
	struct ctnet_kern kern;
	struct ctnet_err err;
	const char *why = NULL;
	unsigned long long start = start_of(getpid()), got = 0;
	char text[256], run[600];
	int n;

	T_OK("ct_pid_start reads /proc/PID/stat field 22",
	     start && ct_pid_start(getpid(), &got) == 0 && got == start);
	n = snprintf(text, sizeof(text), "VERSION=2\nNAME=sh\nMODE=shared\nPID=%ld\nPID_START=%llu\n",
		     (long)getpid(), start + 1);
	T_OK("a record with PID_START parses", record_parse(text, (size_t)n, "sh", &r, &err) == 0);
	T_OK("shared: the PID now another process's (other start time) is stale",
	     record_alive(&r, &why) == 0 && why && strstr(why, "process gone"));
	n = snprintf(text, sizeof(text), "VERSION=2\nNAME=sh\nMODE=shared\nPID=%ld\nPID_START=%llu\n",
		     (long)getpid(), start);
	T_OK("shared: the same process (same start time) is alive",
	     record_parse(text, (size_t)n, "sh", &r, &err) == 0 && record_alive(&r, &why) == 1);
	n = snprintf(text, sizeof(text), "VERSION=2\nNAME=sh\nMODE=shared\nPID=%ld\n", (long)getpid());
	T_OK("shared: an older record without PID_START is judged by the PID alone",
	     record_parse(text, (size_t)n, "sh", &r, &err) == 0 && record_alive(&r, &why) == 1);

	/* ct_up of a shared container (a record, nothing in the kernel) records the start. */
	snprintf(run, sizeof(run), "%s/run", dir);
	setenv("CTNET_RUN_DIR", run, 1);
	snprintf(run, sizeof(run), "%s/state", dir); /* up proves it writable: never the host's */
	setenv("CTNET_STATE_DIR", run, 1);
	ctnet_kern_init(&kern);
	ct_spec_init(&s, "sh");
	s.shared = true;
	s.pid = getpid();
	T_OK("up of a shared container with a process", ct_up(&kern, &s, &r, NULL, &err) == 0);
	T_OK("its record holds the process's start time",
	     record_read("sh", &r, &err) == 0 && r.pid == getpid() && r.pid_start == start);
	ctnet_kern_close(&kern);
	snprintf(run, sizeof(run), "rm -rf %s/run %s/state", dir, dir);
	T_OK("cleanup", system(run) == 0);
	unsetenv("CTNET_RUN_DIR");
	unsetenv("CTNET_STATE_DIR");
}

/* The one loader of the records: one sorted listing, each record read as record_read
 * reads it (errors named), the same directory listed twice alike (no shared offset). */
static void test_records_loader(const char *dir)
{
	static struct ct_record r;
	static const char *const names[] = { "web", "db", "api" };
	struct ct_records l, again;
	struct ctnet_err err;
	char run[600], cmd[700];
	int dfd;

	snprintf(run, sizeof(run), "%s/loader", dir);
	setenv("CTNET_RUN_DIR", run, 1);
	T_OK("loader: no directory is no record", ct_records_load(-1, &l, &err) == 0 && l.n == 0);
	ct_records_free(&l);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		memset(&r, 0, sizeof(r));
		ct_spec_init(&r.spec, names[i]);
		r.spec.shared = true;
		r.version = CT_RECORD_VERSION;
		T_OK("loader: a record written", record_write(&r, &err) == 0);
	}
	dfd = record_dir(false, &err);
	T_OK("loader: a stray file, a temp file and a directory beside them",
	     dfd >= 0 && ctnet_write_atomic(dfd, "bad", "HOST_ADDRESS=999.1.1.1\n", 23, &err) == 0 &&
		     ctnet_write_atomic(dfd, ".web.1.tmp", "x", 1, &err) == 0 && mkdirat(dfd, "zz", 0755) == 0);
	T_OK("loader: listed", ct_records_load(-1, &l, &err) == 0 && l.n == 5);
	T_OK("loader: in name order, temp files left out",
	     l.n == 5 && !strcmp(l.v[0].name, "api") && !strcmp(l.v[1].name, "bad") && !strcmp(l.v[2].name, "db") &&
		     !strcmp(l.v[3].name, "web") && !strcmp(l.v[4].name, "zz"));
	T_OK("loader: regular files said so by the listing", l.n == 5 && l.v[0].regular && !l.v[4].regular);
	T_OK("loader: a record read", ct_records_read(&l, 0, &r, &err) == 0 && !strcmp(r.spec.name, "api") && r.spec.shared);
	T_OK("loader: a bad record's error names it",
	     ct_records_read(&l, 1, &r, &err) < 0 && strstr(err.msg, "record \"bad\"") && strstr(err.msg, "999.1.1.1"));
	T_OK("loader: a directory is no record", ct_records_read(&l, 4, &r, &err) == -EINVAL && strstr(err.msg, "zz"));
	T_OK("loader: removed since the listing: not up", unlinkat(dfd, "db", 0) == 0 &&
							       ct_records_read(&l, 2, &r, &err) == -ENOENT &&
							       strstr(err.msg, "container \"db\": not up"));
	ct_records_free(&l);
	T_OK("loader: a borrowed directory listed twice alike (its own offset each time)",
	     ct_records_load(dfd, &l, &err) == 0 && ct_records_load(dfd, &again, &err) == 0 && l.n == 4 &&
		     again.n == 4);
	ct_records_free(&l);
	ct_records_free(&again);
	T_OK("loader: a borrowed directory stays open", fcntl(dfd, F_GETFD) >= 0);
	close(dfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", run);
	T_OK("loader: cleanup", system(cmd) == 0);
	unsetenv("CTNET_RUN_DIR");
}

/* apply's origin: short directories as they always were (upgrades keep ownership), long
 * ones unambiguous. */
static void test_apply_origin(void)
{
	char a[400], b[400], oa[CT_ORIGIN_MAX], ob[CT_ORIGIN_MAX], want[300];

	ct_apply_origin("/etc/nixos-containers", oa);
	T_STREQ("apply origin of a short directory", oa, "apply:/etc/nixos-containers");
	memset(a, 'x', 249);
	a[0] = '/';
	a[249] = '\0';
	ct_apply_origin(a, oa);
	snprintf(want, sizeof(want), "apply:%s", a);
	T_STREQ("apply origin of a 249-byte directory: the path, as before", oa, want);
	memset(a, 'x', 300);
	a[0] = '/';
	a[150] = '/';
	a[300] = '\0';
	memcpy(b, a, sizeof(a));
	a[299] = 'a';
	b[299] = 'b';
	ct_apply_origin(a, oa);
	ct_apply_origin(b, ob);
	T_OK("apply origins of two long directories alike but at the end differ", strcmp(oa, ob) != 0);
	T_OK("a long directory's origin: apply:, its first bytes, //, 16 hex digits, 255 bytes",
	     strlen(oa) == CT_ORIGIN_MAX - 1 && !strncmp(oa, "apply:", 6) && !strncmp(oa + 6, a, 231) &&
		     !strncmp(oa + 237, "//", 2) && strspn(oa + 239, "0123456789abcdef") == 16);
	a[250] = '\0';
	ct_apply_origin(a, oa);
	T_OK("a 250-byte directory's origin is not its cut path", strlen(oa) == CT_ORIGIN_MAX - 1 && strstr(oa, "//"));
}

/* A container doctor could not judge is a warning naming why, never a verdict of "stale". */
static void test_unjudged_finding(void)
{
	struct ctnet_findings f = { 0 };
	struct ct_fault fault = { .kind = CT_FAULT_UNJUDGED };
	snprintf(fault.object, sizeof(fault.object), "web");
	snprintf(fault.text, sizeof(fault.text), "not judged: setns: Operation not permitted");
	ct_fault_finding("web", "ve-web", "/run/netns/web", &fault, &f);
	T_OK("doctor: an unjudged container is one degrading finding",
	     f.n == 1 && f.v[0].sev == CTNET_SEV_DEGRADES && !strcmp(f.v[0].code, "container-not-judged"));
	T_OK("doctor: its evidence says why", f.n == 1 && strstr(f.v[0].evidence, "Operation not permitted"));
	ctnet_findings_free(&f);
}

int main(void)
{
	char dir[] = "/tmp/ctnet-unit.XXXXXX";
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
		return 1;
	test_front_ends(dir);
	test_cni_statics();
	test_cni_ranges();
	test_unjudged_finding();
	test_diff();
	test_record_codec();
	test_boot_id_threads();
	test_shared_pid_reuse(dir);
	test_records_loader(dir);
	test_apply_origin();
	char path[600];
	snprintf(path, sizeof(path), "%s/web.conf", dir);
	unlink(path);
	rmdir(dir);
	return t_done();
}
