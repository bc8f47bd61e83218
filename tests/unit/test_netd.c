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

static void test_impair_time(void)
{
	struct ctnet_err err;
	uint32_t us = 7;

	T_OK("delay 50ms = 50000us", netd_impair_parse_delay("50ms", &us, &err) == 0 && us == 50000);
	T_OK("delay 1.5ms = 1500us", netd_impair_parse_delay("1.5ms", &us, &err) == 0 && us == 1500);
	T_OK("delay 100us", netd_impair_parse_delay("100us", &us, &err) == 0 && us == 100);
	T_OK("delay 2s", netd_impair_parse_delay("2s", &us, &err) == 0 && us == 2000000);
	T_OK("delay 0.25sec", netd_impair_parse_delay("0.25sec", &us, &err) == 0 && us == 250000);
	T_OK("delay 10MS (case-insensitive like tc)", netd_impair_parse_delay("10MS", &us, &err) == 0 && us == 10000);
	T_OK("delay 0", netd_impair_parse_delay("0", &us, &err) == 0 && us == 0);
	T_OK("delay 60s is the maximum", netd_impair_parse_delay("60s", &us, &err) == 0 && us == 60000000);
	us = 7;
	T_OK("delay -1ms rejected", netd_impair_parse_delay("-1ms", &us, &err) == -EINVAL && us == 7);
	T_STREQ("delay -1ms message names it", err.msg,
		"invalid delay \"-1ms\": expected a time such as 50ms, 1.5ms, 100us or 1s");
	T_OK("delay without unit rejected", netd_impair_parse_delay("50", &us, &err) == -EINVAL);
	T_OK("delay fast rejected", netd_impair_parse_delay("fast", &us, &err) == -EINVAL);
	T_OK("delay empty rejected", netd_impair_parse_delay("", &us, &err) == -EINVAL);
	T_OK("delay 1e3ms rejected", netd_impair_parse_delay("1e3ms", &us, &err) == -EINVAL);
	T_OK("delay .5ms rejected", netd_impair_parse_delay(".5ms", &us, &err) == -EINVAL);
	T_OK("delay 5.ms rejected", netd_impair_parse_delay("5.ms", &us, &err) == -EINVAL);
	T_OK("delay ' 5ms' rejected", netd_impair_parse_delay(" 5ms", &us, &err) == -EINVAL);
	T_OK("delay 1.2.3ms rejected", netd_impair_parse_delay("1.2.3ms", &us, &err) == -EINVAL);
	T_OK("delay 0.5us rejected (not whole)", netd_impair_parse_delay("0.5us", &us, &err) == -EINVAL);
	T_STREQ("delay 0.5us message", err.msg, "invalid delay \"0.5us\": not a whole number of microseconds");
	T_OK("delay 61s rejected", netd_impair_parse_delay("61s", &us, &err) == -ERANGE);
	T_STREQ("delay 61s message", err.msg, "invalid delay \"61s\": above the maximum 60s");
	T_OK("delay overflow rejected", netd_impair_parse_delay("99999999999999999999999999ms", &us, &err) == -ERANGE);
	T_OK("delay 1.00000000000000000000000000ms (zeros) ok",
	     netd_impair_parse_delay("1.00000000000000000000000000ms", &us, &err) == 0 && us == 1000);
	T_OK("jitter names itself", netd_impair_parse_time("x", "jitter", &us, &err) == -EINVAL &&
	     !strncmp(err.msg, "invalid jitter \"x\"", 18));
}

static void test_impair_loss_rate(void)
{
	struct ctnet_err err;
	uint32_t ppm = 7;
	uint64_t bps = 7;

	T_OK("loss 1% = 10000ppm", netd_impair_parse_loss("1%", &ppm, &err) == 0 && ppm == 10000);
	T_OK("loss 0.1%", netd_impair_parse_loss("0.1%", &ppm, &err) == 0 && ppm == 1000);
	T_OK("loss 100%", netd_impair_parse_loss("100%", &ppm, &err) == 0 && ppm == 1000000);
	T_OK("loss 0.0001%", netd_impair_parse_loss("0.0001%", &ppm, &err) == 0 && ppm == 1);
	T_OK("loss 5 (percent, as tc)", netd_impair_parse_loss("5", &ppm, &err) == 0 && ppm == 50000);
	ppm = 7;
	T_OK("loss 101% rejected", netd_impair_parse_loss("101%", &ppm, &err) == -ERANGE && ppm == 7);
	T_STREQ("loss 101% message", err.msg, "invalid loss \"101%\": above 100%");
	T_OK("loss 100.0001% rejected", netd_impair_parse_loss("100.0001%", &ppm, &err) == -ERANGE);
	T_OK("loss -1% rejected", netd_impair_parse_loss("-1%", &ppm, &err) == -EINVAL);
	T_OK("loss %% rejected", netd_impair_parse_loss("%", &ppm, &err) == -EINVAL);
	T_OK("loss 1%% rejected", netd_impair_parse_loss("1%%", &ppm, &err) == -EINVAL);
	T_OK("loss 0.00001% rejected", netd_impair_parse_loss("0.00001%", &ppm, &err) == -EINVAL);

	T_OK("rate 10mbit", netd_impair_parse_rate("10mbit", &bps, &err) == 0 && bps == 10000000);
	T_OK("rate 1gbit", netd_impair_parse_rate("1gbit", &bps, &err) == 0 && bps == 1000000000);
	T_OK("rate 500kbit", netd_impair_parse_rate("500kbit", &bps, &err) == 0 && bps == 500000);
	T_OK("rate 1.5mbit", netd_impair_parse_rate("1.5mbit", &bps, &err) == 0 && bps == 1500000);
	T_OK("rate 1mbps = 8mbit (bytes, as tc)", netd_impair_parse_rate("1mbps", &bps, &err) == 0 && bps == 8000000);
	T_OK("rate 1kibit", netd_impair_parse_rate("1kibit", &bps, &err) == 0 && bps == 1024);
	T_OK("rate 10Mbit", netd_impair_parse_rate("10Mbit", &bps, &err) == 0 && bps == 10000000);
	T_OK("rate 10gbit is the maximum", netd_impair_parse_rate("10gbit", &bps, &err) == 0);
	bps = 7;
	T_OK("rate fast rejected", netd_impair_parse_rate("fast", &bps, &err) == -EINVAL && bps == 7);
	T_STREQ("rate fast message", err.msg,
		"invalid rate \"fast\": expected a rate such as 10mbit, 1gbit or 500kbit");
	T_OK("rate without unit rejected", netd_impair_parse_rate("1000", &bps, &err) == -EINVAL);
	T_OK("rate 11gbit rejected", netd_impair_parse_rate("11gbit", &bps, &err) == -ERANGE);
	T_OK("rate 0bit rejected", netd_impair_parse_rate("0bit", &bps, &err) == -ERANGE);
	T_OK("rate 0.5bit rejected", netd_impair_parse_rate("0.5bit", &bps, &err) == -EINVAL);
	T_OK("rate overflow rejected", netd_impair_parse_rate("99999999999999999999tbit", &bps, &err) == -ERANGE);
	T_OK("rate 1001bit rejected (not whole bytes)", netd_impair_parse_rate("1001bit", &bps, &err) == -EINVAL);
	T_OK("rate -1mbit rejected", netd_impair_parse_rate("-1mbit", &bps, &err) == -EINVAL);
}

static void test_impair_check_equal_format(void)
{
	struct ctnet_err err;
	struct netd_impair a = { .set = true, .delay_us = 50000, .jitter_us = 10000 }, b = a, u = { 0 };
	char buf[NETD_IMPAIR_STRLEN];

	T_OK("delay with jitter checks", netd_impair_check(&a, &err) == 0);
	b.delay_us = 0;
	T_OK("jitter without delay rejected", netd_impair_check(&b, &err) == -EINVAL);
	b = a;
	b.jitter_us = 60000;
	T_OK("jitter above delay rejected", netd_impair_check(&b, &err) == -EINVAL);
	T_STREQ("jitter above delay message", err.msg, "jitter 60ms is larger than the delay 50ms");
	T_OK("unset checks", netd_impair_check(&u, &err) == 0);
	b = a;
	T_OK("equal to itself", netd_impair_equal(&a, &b));
	b.rate_bps = 8000000;
	T_OK("rate differs", !netd_impair_equal(&a, &b));
	b = a;
	b.loss_ppm = 1;
	T_OK("loss differs", !netd_impair_equal(&a, &b));
	T_OK("set differs from unset", !netd_impair_equal(&a, &u));
	b = (struct netd_impair){ .delay_us = 5 };
	T_OK("two unset are equal whatever the fields", netd_impair_equal(&u, &b));
	b = (struct netd_impair){ .set = true };
	T_OK("set with every field 0 equals unset", netd_impair_equal(&u, &b) && !netd_impair_active(&b));
	b.rate_bps = 8;
	T_OK("set with a rate is active", netd_impair_active(&b) && !netd_impair_equal(&u, &b));
	T_STREQ("format 50ms", netd_impair_format_time(50000, buf), "50ms");
	T_STREQ("format 1.5ms", netd_impair_format_time(1500, buf), "1.5ms");
	T_STREQ("format 100us", netd_impair_format_time(100, buf), "100us");
	T_STREQ("format 2s", netd_impair_format_time(2000000, buf), "2s");
	T_STREQ("format 1.000001s", netd_impair_format_time(1000001, buf), "1000.001ms");
	T_STREQ("format loss 0.1%", netd_impair_format_loss(1000, buf), "0.1%");
	T_STREQ("format loss 100%", netd_impair_format_loss(1000000, buf), "100%");
	T_STREQ("format loss 0.0001%", netd_impair_format_loss(1, buf), "0.0001%");
	T_STREQ("format rate 8mbit", netd_impair_format_rate(8000000, buf), "8mbit");
	T_STREQ("format rate 1.5mbit", netd_impair_format_rate(1500000, buf), "1500kbit");
	T_STREQ("format rate 10gbit", netd_impair_format_rate(10000000000ull, buf), "10gbit");
	T_STREQ("format rate 1024bit", netd_impair_format_rate(1024, buf), "1024bit");
	/* Round trip: what format writes, parse reads back. */
	uint32_t us;
	uint64_t bps;
	T_OK("time round trip", netd_impair_parse_delay(netd_impair_format_time(1000001, buf), &us, &err) == 0 && us == 1000001);
	T_OK("rate round trip", netd_impair_parse_rate(netd_impair_format_rate(1500000, buf), &bps, &err) == 0 && bps == 1500000);
}

static void test_extra_veth(void)
{
	struct ctnet_err err;
	struct netd_extra_veth v, w;
	char buf[NETD_EXTRA_VETH_STRLEN];

	T_OK("bare IFNAME", netd_extra_veth_parse("lab0", &v, &err) == 0 && !strcmp(v.ifname, "lab0") &&
	     !v.host_bridge[0] && !v.has_host_addr && !v.has_local_addr);
	T_OK("bridged", netd_extra_veth_parse("lab0,host-bridge=br-lab,local-address=10.9.0.2/24", &v, &err) == 0 &&
	     !strcmp(v.host_bridge, "br-lab") && v.has_local_addr && v.local_addr.prefix == 24);
	T_OK("format round trip (bridged)", netd_extra_veth_format(&v, buf, sizeof(buf)) == 0 &&
	     !strcmp(buf, "lab0,host-bridge=br-lab,local-address=10.9.0.2/24"));
	T_OK("point-to-point, all four addresses",
	     netd_extra_veth_parse("p2p,host-address=10.8.0.1,local-address=10.8.0.2,host-address6=fd08::1,local-address6=fd08::2",
				   &v, &err) == 0 && v.has_host_addr && v.has_local_addr && v.has_host_addr6 &&
	     v.has_local_addr6 && v.host_addr.prefix == -1);
	T_OK("parse(format(v)) == v", netd_extra_veth_format(&v, buf, sizeof(buf)) == 0 &&
	     netd_extra_veth_parse(buf, &w, &err) == 0 && netd_extra_veth_equal(&v, &w));
	w.local_addr.prefix = 24;
	T_OK("prefix difference is a difference", !netd_extra_veth_equal(&v, &w));
	netd_extra_veth_parse("p2p,host-address=10.8.0.1", &w, &err);
	T_OK("missing address is a difference", !netd_extra_veth_equal(&v, &w));
	T_OK("unknown key rejected", netd_extra_veth_parse("lab0,color=red", &v, &err) == -EINVAL);
	T_STREQ("unknown key message", err.msg,
		"invalid extra veth \"lab0,color=red\": unknown key \"color\" (host-bridge, host-address, local-address, host-address6, local-address6)");
	T_OK("duplicate key rejected", netd_extra_veth_parse("lab0,host-bridge=a,host-bridge=b", &v, &err) == -EINVAL);
	T_OK("empty value rejected", netd_extra_veth_parse("lab0,host-bridge=", &v, &err) == -EINVAL);
	T_OK("trailing comma rejected", netd_extra_veth_parse("lab0,", &v, &err) == -EINVAL);
	T_OK("empty IFNAME rejected", netd_extra_veth_parse(",host-bridge=br", &v, &err) == -EINVAL);
	T_OK("16-byte IFNAME rejected", netd_extra_veth_parse("abcdefghijklmnop", &v, &err) == -EINVAL);
	T_OK("ve- IFNAME rejected", netd_extra_veth_parse("ve-web", &v, &err) == -EINVAL);
	T_OK("IPv6 in host-address rejected", netd_extra_veth_parse("x,host-address=fd00::1", &v, &err) < 0);
	T_OK("IPv4 in local-address6 rejected", netd_extra_veth_parse("x,local-address6=10.0.0.1", &v, &err) < 0);
	T_OK("bad address rejected", netd_extra_veth_parse("x,local-address=10.1", &v, &err) == -EINVAL);
	T_OK("same host and local rejected",
	     netd_extra_veth_parse("x,host-address=10.0.0.1,local-address=10.0.0.1/24", &v, &err) == -EINVAL);
	T_OK("prefix 0 rejected", netd_extra_veth_parse("x,local-address=10.0.0.1/0", &v, &err) == -EINVAL);
	T_OK("bad bridge name rejected", netd_extra_veth_parse("x,host-bridge=a/b", &v, &err) == -EINVAL);
}

int main(void)
{
	test_host_ifname();
	test_mac();
	test_spec();
	test_impair_time();
	test_impair_loss_rate();
	test_impair_check_equal_format();
	test_extra_veth();
	return t_done();
}
