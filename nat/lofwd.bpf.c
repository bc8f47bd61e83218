/* SPDX-License-Identifier: MIT */
/*
 * Loopback forwards by socket (issue 33): cgroup sock_addr programs that rewrite a host
 * socket's destination 127.0.0.1:PORT or [::1]:PORT to a container's address and port
 * before any packet exists, so neither route_localnet nor DNAT of ::1 is needed. The
 * client's view (getpeername, recvfrom's source) is put back to what it asked for.
 *
 * Only the host's network namespace is rewritten: the programs sit on a cgroup that every
 * namespace's processes share, so each compares the socket's netns cookie with the host's
 * (config[0], written by ctnet-nat). Built with clang -O2 -g -target bpf; loaded by
 * nat/lofwd.c from its libbpf skeleton.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/socket.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lofwd.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* (family, proto, host port) -> (container address, port): ctnet-nat's element ops. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LOFWD_MAX);
	__type(key, struct lofwd_key);
	__type(value, struct lofwd_val);
} lofwd_map SEC(".maps");

/* [0]: the host's netns cookie; 0 (not yet written): nothing is rewritten. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lofwd_cfg SEC(".maps");

/* Per socket: what it asked for and what it got instead (the reverse view). */
struct lofwd_sk {
	__u32 asked[4], got[4];
	__u16 asked_port, got_port; /* network order */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct lofwd_sk);
} lofwd_sks SEC(".maps");

static __always_inline int host_ns(struct bpf_sock_addr *ctx)
{
	__u32 zero = 0;
	__u64 *cookie = bpf_map_lookup_elem(&lofwd_cfg, &zero);
	return cookie && *cookie && bpf_get_netns_cookie(ctx) == *cookie;
}

/* The forward pinned to exactly this address, else the one on every address. */
static __always_inline struct lofwd_val *lookup(struct bpf_sock_addr *ctx, __u8 family, const __u32 *addr)
{
	struct lofwd_key k = { .family = family, .proto = (__u8)ctx->protocol,
			       .port = (__u16)ctx->user_port };
	struct lofwd_val *v;
	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return 0;
	k.addr[0] = addr[0];
	k.addr[1] = addr[1];
	k.addr[2] = addr[2];
	k.addr[3] = addr[3];
	if ((v = bpf_map_lookup_elem(&lofwd_map, &k)))
		return v;
	k.addr[0] = k.addr[1] = k.addr[2] = k.addr[3] = 0;
	return bpf_map_lookup_elem(&lofwd_map, &k);
}

static __always_inline void remember(struct bpf_sock_addr *ctx, const __u32 *asked, const struct lofwd_val *v,
				     int n)
{
	struct lofwd_sk *s;
	if (!ctx->sk)
		return;
	s = bpf_sk_storage_get(&lofwd_sks, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return;
	for (int i = 0; i < 4; i++) {
		s->asked[i] = i < n ? asked[i] : 0;
		s->got[i] = i < n ? v->addr[i] : 0;
	}
	s->asked_port = (__u16)ctx->user_port;
	s->got_port = v->port;
}

static __always_inline int rewrite4(struct bpf_sock_addr *ctx)
{
	struct lofwd_val *v;
	__u32 asked = ctx->user_ip4, exact[4] = { asked, 0, 0, 0 };
	if ((bpf_ntohl(asked) >> 24) != 127 || !host_ns(ctx) || !(v = lookup(ctx, LOFWD_INET, exact)))
		return 1;
	remember(ctx, &asked, v, 1);
	ctx->user_ip4 = v->addr[0];
	ctx->user_port = v->port;
	return 1;
}

/* [::1], or ::ffff:127.x.y.z (an IPv6 socket of a dual-stack client asking for IPv4). */
static __always_inline int rewrite6(struct bpf_sock_addr *ctx)
{
	struct lofwd_val *v, mapped;
	__u32 asked[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	int v4 = asked[2] == bpf_htonl(0xffff) && (bpf_ntohl(asked[3]) >> 24) == 127;
	__u32 exact4[4] = { asked[3], 0, 0, 0 };
	if (asked[0] || asked[1] || (!v4 && (asked[2] || asked[3] != bpf_htonl(1))) || !host_ns(ctx) ||
	    !(v = lookup(ctx, v4 ? LOFWD_INET : LOFWD_INET6, v4 ? exact4 : asked)))
		return 1;
	if (v4) {
		mapped.addr[0] = 0;
		mapped.addr[1] = 0;
		mapped.addr[2] = bpf_htonl(0xffff);
		mapped.addr[3] = v->addr[0];
		mapped.port = v->port;
		v = &mapped;
	}
	remember(ctx, asked, v, 4);
	ctx->user_ip6[0] = v->addr[0];
	ctx->user_ip6[1] = v->addr[1];
	ctx->user_ip6[2] = v->addr[2];
	ctx->user_ip6[3] = v->addr[3];
	ctx->user_port = v->port;
	return 1;
}

/* The peer this socket sees: back to what it asked for when it is what it got instead. */
static __always_inline int reverse4(struct bpf_sock_addr *ctx)
{
	struct lofwd_sk *s;
	if (!ctx->sk || !host_ns(ctx) || !(s = bpf_sk_storage_get(&lofwd_sks, ctx->sk, 0, 0)))
		return 1;
	if (ctx->user_ip4 == s->got[0] && ctx->user_port == s->got_port) {
		ctx->user_ip4 = s->asked[0];
		ctx->user_port = s->asked_port;
	}
	return 1;
}

static __always_inline int reverse6(struct bpf_sock_addr *ctx)
{
	struct lofwd_sk *s;
	if (!ctx->sk || !host_ns(ctx) || !(s = bpf_sk_storage_get(&lofwd_sks, ctx->sk, 0, 0)))
		return 1;
	if (ctx->user_ip6[0] == s->got[0] && ctx->user_ip6[1] == s->got[1] && ctx->user_ip6[2] == s->got[2] &&
	    ctx->user_ip6[3] == s->got[3] && ctx->user_port == s->got_port) {
		ctx->user_ip6[0] = s->asked[0];
		ctx->user_ip6[1] = s->asked[1];
		ctx->user_ip6[2] = s->asked[2];
		ctx->user_ip6[3] = s->asked[3];
		ctx->user_port = s->asked_port;
	}
	return 1;
}

SEC("cgroup/connect4")
int ctnet_connect4(struct bpf_sock_addr *ctx) { return rewrite4(ctx); }
SEC("cgroup/connect6")
int ctnet_connect6(struct bpf_sock_addr *ctx) { return rewrite6(ctx); }
SEC("cgroup/sendmsg4")
int ctnet_sendmsg4(struct bpf_sock_addr *ctx) { return rewrite4(ctx); }
SEC("cgroup/sendmsg6")
int ctnet_sendmsg6(struct bpf_sock_addr *ctx) { return rewrite6(ctx); }
SEC("cgroup/recvmsg4")
int ctnet_recvmsg4(struct bpf_sock_addr *ctx) { return reverse4(ctx); }
SEC("cgroup/recvmsg6")
int ctnet_recvmsg6(struct bpf_sock_addr *ctx) { return reverse6(ctx); }
SEC("cgroup/getpeername4")
int ctnet_getpeername4(struct bpf_sock_addr *ctx) { return reverse4(ctx); }
SEC("cgroup/getpeername6")
int ctnet_getpeername6(struct bpf_sock_addr *ctx) { return reverse6(ctx); }
