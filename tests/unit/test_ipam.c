/* Unit tests of ipam's slot <-> address mapping and of lib/nixosconf (hostile input). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipam/ipam.h"
#include "nixosconf.h"
#include "t.h"

static const char *slot_str(const struct ipam_pool *p, uint32_t i, char *buf, size_t size)
{
	struct ctnet_addr h, l;
	char hs[CTNET_ADDR_STRLEN], ls[CTNET_ADDR_STRLEN];
	ipam_pool_slot(p, i, &h, &l);
	snprintf(buf, size, "%s %s", h.family ? ctnet_addr_str(&h, hs) : "-",
		 ctnet_addr_cidr_str(&l, ls));
	return buf;
}

static void test_nixos_order(void)
{
	struct ctnet_err err;
	struct ipam_pool p;
	char buf[128];

	T_OK("default pool parses", ipam_pool_init(IPAM_DEFAULT_POOL, false, &p, &err) == 0);
	T_OK("default pool has >= 16000 pairs", p.slots >= 16000);
	T_OK("default pool has exactly 16382 pairs", p.slots == 16382);
	T_STREQ("slot 0 is nixos 10.233.1.x", slot_str(&p, 0, buf, sizeof(buf)),
		"10.233.1.1 10.233.1.2");
	T_STREQ("slot 1 is nixos 10.233.2.x", slot_str(&p, 1, buf, sizeof(buf)),
		"10.233.2.1 10.233.2.2");
	T_STREQ("slot 253 (the 254th) is 10.233.254.x", slot_str(&p, 253, buf, sizeof(buf)),
		"10.233.254.1 10.233.254.2");
	T_STREQ("slot 254 (the 255th) is 10.233.0.5", slot_str(&p, 254, buf, sizeof(buf)),
		"10.233.0.5 10.233.0.6");
	T_STREQ("slot 316 is the last /30 of 10.233.0.x", slot_str(&p, 316, buf, sizeof(buf)),
		"10.233.0.253 10.233.0.254");
	T_STREQ("slot 317 skips 10.233.1.1 (a nixos pair)", slot_str(&p, 317, buf, sizeof(buf)),
		"10.233.1.5 10.233.1.6");
	T_STREQ("last slot", slot_str(&p, p.slots - 1, buf, sizeof(buf)),
		"10.233.255.253 10.233.255.254");

	/* Every slot is distinct, /30-aligned host .4k+1, inside the pool, and maps back. */
	bool ok = true, seen_ok = true;
	uint8_t *seen = calloc(65536, 1);
	for (uint32_t i = 0; i < p.slots && seen; i++) {
		struct ctnet_addr h, l;
		ipam_pool_slot(&p, i, &h, &l);
		uint32_t hv = ctnet_addr_v4_u32(&h), lv = ctnet_addr_v4_u32(&l);
		if (hv % 4 != 1 || lv != hv + 1 || !ctnet_addr_in(&h, &p.net) ||
		    !ctnet_addr_in(&l, &p.net) || ipam_pool_index(&p, &h) != i ||
		    ipam_pool_index(&p, &l) != i)
			ok = false;
		if (seen[hv & 0xffff]++ || seen[lv & 0xffff]++)
			seen_ok = false;
	}
	free(seen);
	T_OK("every slot: aligned pair inside the pool, index maps back", ok);
	T_OK("no address in two slots", seen_ok);
	struct ctnet_addr a;
	ctnet_addr_parse("10.233.0.1", AF_INET, 0, "a", &a, &err);
	T_OK("10.233.0.1 is in no slot", ipam_pool_index(&p, &a) == -1);
	ctnet_addr_parse("10.233.255.2", AF_INET, 0, "a", &a, &err);
	T_OK("10.233.255.2 is in no slot", ipam_pool_index(&p, &a) == -1);
	ctnet_addr_parse("10.233.7.3", AF_INET, 0, "a", &a, &err);
	T_OK("10.233.7.3 is in no slot", ipam_pool_index(&p, &a) == -1);
	ctnet_addr_parse("10.234.1.1", AF_INET, 0, "a", &a, &err);
	T_OK("address outside the pool is in no slot", ipam_pool_index(&p, &a) == -1);
}

static void test_other_pools(void)
{
	struct ctnet_err err;
	struct ipam_pool p;
	char buf[128];

	T_OK("/24 pool parses", ipam_pool_init("10.250.0.0/24", false, &p, &err) == 0);
	T_OK("/24 pool has 64 pairs", p.slots == 64);
	T_STREQ("/24 slot 0", slot_str(&p, 0, buf, sizeof(buf)), "10.250.0.1 10.250.0.2");
	T_STREQ("/24 slot 63", slot_str(&p, 63, buf, sizeof(buf)), "10.250.0.253 10.250.0.254");
	T_OK("/30 pool has 1 pair", ipam_pool_init("10.250.0.0/30", false, &p, &err) == 0 &&
					    p.slots == 1);
	T_OK("bridge /24 parses", ipam_pool_init("10.233.200.0/24", true, &p, &err) == 0);
	T_OK("bridge /24 has 253 addresses", p.slots == 253);
	T_STREQ("bridge slot 0 is .2 with the prefix", slot_str(&p, 0, buf, sizeof(buf)),
		"- 10.233.200.2/24");
	T_STREQ("bridge last slot is .254", slot_str(&p, 252, buf, sizeof(buf)),
		"- 10.233.200.254/24");

	const char *bad[] = { "10.233.0.0/31", "10.233.0.0/32", "10.233.0.1/16", "10.233.0.0",
			      "fd00::/64", "10.233.0.0/7", "banana", "10.233.0.0/16x" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char what[128];
		snprintf(what, sizeof(what), "pool \"%s\" rejected", bad[i]);
		T_OK(what, ipam_pool_init(bad[i], false, &p, &err) < 0 && strstr(err.msg, bad[i]));
	}

	struct ctnet_addr ula, v4, v6;
	char s[CTNET_ADDR_STRLEN];
	ctnet_addr_parse("fd12:3456:789a::/48", AF_INET6, CTNET_ADDR_PREFIX_REQ, "u", &ula, &err);
	ctnet_addr_parse("10.233.1.2", AF_INET, 0, "a", &v4, &err);
	ipam_v6_of(&ula, &v4, &v6);
	T_STREQ("IPv6 of 10.233.1.2", ctnet_addr_str(&v6, s), "fd12:3456:789a::ae9:102");
}

static int parse(const char *text, size_t len, struct nixosconf *c, struct ctnet_err *err)
{
	return nixosconf_parse(text, len, "t.conf", c, err);
}

static void test_conf_good(void)
{
	struct ctnet_err err = { 0 };
	struct nixosconf c;
	char s[CTNET_ADDR_STRLEN];
	const char *text = "# nixos-container config\n"
			   "\n"
			   "PRIVATE_NETWORK=1\n"
			   "HOST_ADDRESS=10.233.5.1\n"
			   "LOCAL_ADDRESS=\"10.233.5.2/24\"\n"
			   "HOST_ADDRESS6='fc00::1'\n"
			   "  LOCAL_ADDRESS6=fc00::2   # trailing comment\n"
			   "HOST_BRIDGE=br0\n"
			   "HOST_PORT=\"tcp:8080:80,udp:53:53\"\n"
			   "INTERFACES=\"eth1 eth2\"\n"
			   "EXTRA_NSPAWN_FLAGS=\"--bind=/x\"\n"
			   "HOST_BRIDGE=br1\n";
	int r = parse(text, strlen(text), &c, &err);
	T_OK("good conf parses", r == 0);
	if (r < 0)
		printf("  error: %s\n", err.msg);
	T_OK("PRIVATE_NETWORK=1", c.has_private_network && c.private_network);
	T_STREQ("HOST_ADDRESS", ctnet_addr_cidr_str(&c.host_address, s), "10.233.5.1");
	T_STREQ("quoted LOCAL_ADDRESS keeps its prefix", ctnet_addr_cidr_str(&c.local_address, s),
		"10.233.5.2/24");
	T_STREQ("single-quoted HOST_ADDRESS6", ctnet_addr_cidr_str(&c.host_address6, s), "fc00::1");
	T_STREQ("LOCAL_ADDRESS6 with comment", ctnet_addr_cidr_str(&c.local_address6, s),
		"fc00::2");
	T_STREQ("duplicate key: last wins", c.host_bridge, "br1");
	T_STREQ("HOST_PORT", c.host_port, "tcp:8080:80,udp:53:53");
	T_STREQ("INTERFACES with a space", c.interfaces, "eth1 eth2");
	T_OK("empty file parses", parse("", 0, &c, &err) == 0 && !c.host_address.family);
	T_OK("empty value is unset", parse("HOST_ADDRESS=\n", 14, &c, &err) == 0 &&
					      !c.host_address.family);
	T_OK("no trailing newline", parse("HOST_ADDRESS=10.1.2.3", 21, &c, &err) == 0 &&
					    c.host_address.family == AF_INET);
}

static void expect_bad(const char *what, const char *text, size_t len, const char *in_msg)
{
	struct ctnet_err err = { 0 };
	struct nixosconf c;
	char name[700];
	int r = parse(text, len, &c, &err);
	snprintf(name, sizeof(name), "rejected: %s", what);
	T_OK(name, r < 0);
	snprintf(name, sizeof(name), "error for %s names file and line (%s)", what, err.msg);
	T_OK(name, strstr(err.msg, "\"t.conf\" line ") != NULL);
	if (in_msg) {
		snprintf(name, sizeof(name), "error for %s names \"%s\"", what, in_msg);
		T_OK(name, strstr(err.msg, in_msg) != NULL);
	}
	T_OK("error is one bounded line", !strchr(err.msg, '\n') && strlen(err.msg) < 400);
}

static void test_conf_hostile(void)
{
	static const char nul[] = "HOST_ADDRESS=10.233.1.1\nLOCAL_ADDRESS=10.2\0.3.4\n";
	expect_bad("NUL byte", nul, sizeof(nul) - 1, "line 2: contains a NUL byte");
	const char *cmd = "HOST_ADDRESS=$(reboot)\n";
	expect_bad("$(cmd) unquoted", cmd, strlen(cmd), "$(reboot)");
	cmd = "HOST_ADDRESS=\"$(reboot)\"\n";
	expect_bad("$(cmd) in double quotes", cmd, strlen(cmd), "reboot");
	cmd = "HOST_ADDRESS=`id`\n";
	expect_bad("backticks", cmd, strlen(cmd), NULL);
	cmd = "# ok\nHOST_ADDRESS 10.233.1.1\n";
	expect_bad("missing =", cmd, strlen(cmd), "line 2");
	cmd = "HOST_ADDRESS=\"10.233.1.1\n";
	expect_bad("unterminated quote", cmd, strlen(cmd), NULL);
	cmd = "HOST_ADDRESS=10.233.1.1 reboot\n";
	expect_bad("bare word after value", cmd, strlen(cmd), NULL);
	cmd = "X=1\nHOST_ADDRESS=10.233.1\n";
	expect_bad("malformed address", cmd, strlen(cmd), "\"10.233.1\"");
	cmd = "LOCAL_ADDRESS=10.233.1.2/33\n";
	expect_bad("bad prefix", cmd, strlen(cmd), "10.233.1.2/33");
	cmd = "HOST_ADDRESS6=10.233.1.1\n";
	expect_bad("IPv4 in HOST_ADDRESS6", cmd, strlen(cmd), NULL);
	cmd = "HOST_ADDRESS=10.233.1.1;rm -rf /\n";
	expect_bad("semicolon", cmd, strlen(cmd), NULL);
	cmd = "HOST_ADDRESS=\x80\xff\n";
	expect_bad("binary junk", cmd, strlen(cmd), NULL);
	cmd = "=value\n";
	expect_bad("empty key", cmd, strlen(cmd), NULL);
	cmd = "HOST_BRIDGE=a/b\n";
	expect_bad("bad bridge name", cmd, strlen(cmd), NULL);

	/* A 100 KB line: bounded error, no overflow (ASan watches). */
	size_t n = 100000;
	char *big = malloc(n + 32);
	if (big) {
		memcpy(big, "HOST_PORT=", 10);
		memset(big + 10, 'a', n);
		memcpy(big + 10 + n, "\n", 2);
		expect_bad("very long value", big, strlen(big), "too long");
		memset(big, 'A', n);
		memcpy(big + n, "=1\n", 4);
		expect_bad("very long key", big, strlen(big), "key too long");
		free(big);
	}
}

static void test_conf_files(void)
{
	struct ctnet_err err = { 0 };
	struct nixosconf c;
	char dir[] = "/tmp/ctnet-ipam-unit.XXXXXX";
	if (!mkdtemp(dir)) {
		T_OK("mkdtemp", 0);
		return;
	}
	int d = open(dir, O_RDONLY | O_DIRECTORY);
	int fd = openat(d, "a.conf", O_WRONLY | O_CREAT, 0644);
	T_OK("write a.conf", fd >= 0 && write(fd, "LOCAL_ADDRESS=10.1.2.3\n", 23) == 23);
	close(fd);
	T_OK("read a.conf", nixosconf_read(d, "a.conf", &c, &err) == 0 &&
				    c.local_address.family == AF_INET);
	T_OK("FIFO refused without blocking", mkfifoat(d, "f.conf", 0644) == 0 &&
						     nixosconf_read(d, "f.conf", &c, &err) < 0 &&
						     strstr(err.msg, "not a regular file"));
	fd = openat(d, "big.conf", O_WRONLY | O_CREAT, 0644);
	T_OK("file over 64 KiB refused", fd >= 0 && ftruncate(fd, 70000) == 0 &&
						 nixosconf_read(d, "big.conf", &c, &err) == -EFBIG);
	close(fd);
	T_OK("missing file is an error", nixosconf_read(d, "none.conf", &c, &err) == -ENOENT);
	unlinkat(d, "a.conf", 0);
	unlinkat(d, "f.conf", 0);
	unlinkat(d, "big.conf", 0);
	close(d);
	rmdir(dir);
}

int main(void)
{
	test_nixos_order();
	test_other_pools();
	test_conf_good();
	test_conf_hostile();
	test_conf_files();
	return t_done();
}
