/* Unit tests of netd without the kernel: host-side names, MAC parsing, spec validation. */
#include <errno.h>
#include <string.h>

#include "netd/netd.h"
#include "t.h"

static void test_host_ifname(void)
{
	char a[IFNAMSIZ], b[IFNAMSIZ], c[IFNAMSIZ];

	netd_host_ifname("web", false, a);
	T_STREQ("short name keeps ve-NAME", a, "ve-web");
	netd_host_ifname("web", true, a);
	T_STREQ("bridge mode uses vb-NAME", a, "vb-web");
	netd_host_ifname("abcdefghijkl", false, a);
	T_STREQ("12 characters still fit", a, "ve-abcdefghijkl");
	netd_host_ifname("abcdefghij0123456789", false, a);
	netd_host_ifname("abcdefghij0123456789", false, b);
	netd_host_ifname("abcdefghij0123456780", false, c);
	T_OK("long name: 15 bytes", strlen(a) == 15);
	T_OK("long name: ve- prefix", !strncmp(a, "ve-", 3));
	T_OK("long name: base32 only", strspn(a + 3, "abcdefghijklmnopqrstuvwxyz234567") == 12);
	T_STREQ("long name: stable", a, b);
	T_OK("long name: one character apart differs", strcmp(a, c) != 0);
}

static void test_mac(void)
{
	struct ctnet_err err;
	unsigned char m[6];

	T_OK("MAC 02:00:00:00:00:01 ok", netd_mac_parse("02:00:00:00:00:01", m, &err) == 0 && m[0] == 2 && m[5] == 1);
	T_OK("MAC upper case ok", netd_mac_parse("02:AB:cd:00:00:01", m, &err) == 0 && m[1] == 0xab);
	T_OK("MAC multicast rejected", netd_mac_parse("01:00:5e:00:00:01", m, &err) == -EINVAL);
	T_OK("MAC all zero rejected", netd_mac_parse("00:00:00:00:00:00", m, &err) == -EINVAL);
	T_OK("MAC short rejected", netd_mac_parse("02:00:00:00:00", m, &err) == -EINVAL);
	T_OK("MAC long rejected", netd_mac_parse("02:00:00:00:00:01:02", m, &err) == -EINVAL);
	T_OK("MAC bad digit rejected", netd_mac_parse("0g:00:00:00:00:01", m, &err) == -EINVAL);
	T_STREQ("MAC error names the value", err.msg,
		"invalid MAC address \"0g:00:00:00:00:01\": expected xx:xx:xx:xx:xx:xx");
}

static struct netd_spec good_spec(void)
{
	struct ctnet_err err;
	struct netd_spec s = { .name = "web", .netns_fd = 0 };
	ctnet_addr_parse("10.233.1.1", AF_INET, CTNET_ADDR_PREFIX_OK, "host address", &s.host, &err);
	ctnet_addr_parse("10.233.1.2", AF_INET, CTNET_ADDR_PREFIX_OK, "local address", &s.local, &err);
	return s;
}

static void test_spec(void)
{
	struct ctnet_err err;
	struct netd_spec s = good_spec();

	T_OK("good spec accepted", netd_spec_check(&s, &err) == 0);
	s.local = s.host;
	T_OK("host == local rejected", netd_spec_check(&s, &err) == -EINVAL);
	T_STREQ("host == local message", err.msg, "host address and local address are both \"10.233.1.1\"");
	s = good_spec();
	s.mtu = 67;
	T_OK("MTU 67 rejected", netd_spec_check(&s, &err) == -EINVAL);
	s.mtu = 65535;
	T_OK("MTU 65535 accepted", netd_spec_check(&s, &err) == 0);
	s = good_spec();
	s.ifname = "eth0123456789abc";
	T_OK("16-byte ifname rejected", netd_spec_check(&s, &err) == -EINVAL);
	s = good_spec();
	s.name = "a;b";
	T_OK("bad name rejected", netd_spec_check(&s, &err) == -EINVAL);
	s = good_spec();
	s.has_v6 = true;
	s.host6 = s.host; /* IPv4 where IPv6 belongs */
	ctnet_addr_parse("fd00::2", AF_INET6, CTNET_ADDR_PREFIX_OK, "x", &s.local6, &err);
	T_OK("IPv4 in an IPv6 field rejected", netd_spec_check(&s, &err) == -EINVAL);
	s = good_spec();
	s.host.family = 0;
	T_OK("point-to-point needs a host address", netd_spec_check(&s, &err) == -EINVAL);
	s.bridge = "br0";
	T_OK("bridge mode without host address ok", netd_spec_check(&s, &err) == 0);
	s = good_spec();
	s.netns_fd = -1;
	T_OK("missing netns rejected", netd_spec_check(&s, &err) < 0);
	s = good_spec();
	s.mac = "ff:ff:ff:ff:ff:ff";
	T_OK("broadcast MAC rejected", netd_spec_check(&s, &err) == -EINVAL);
}

int main(void)
{
	test_host_ifname();
	test_mac();
	test_spec();
	return t_done();
}
