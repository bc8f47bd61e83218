/* SPDX-License-Identifier: MIT */
/*
 * Opt-in (ctnet-nat init --accept-in-docker-user): accept rules for ctnet's containers in
 * Docker's DOCKER-USER chain (ip and ip6 filter, when they exist), which Docker evaluates
 * before its FORWARD policy drop: for the veths (ve-*) and for each bridge with container
 * ports (routed traffic, and with br_netfilter the bridged frames, pass FORWARD with the
 * bridge as device). The only place ctnet touches another table, and only when asked.
 *
 * The rules are desired state like the table: recorded in the config (DOCKER_USER=1),
 * reported missing by check, put back by restore and by watch after a Docker restart
 * flushed them. Each carries the comment "ctnet:docker DIR PATTERN" (older versions:
 * "ctnet:docker"), so the rules there are compared with the rules wanted by comment alone.
 */
#include "nat_int.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fw.h"

#define DOCKER_COMMENT "ctnet:docker"
#define DOCKER_MAX 64 /* rules per family: ve-* and the bridges, each in and out */

struct docker_rules {
	size_t n;
	char comment[DOCKER_MAX][128];
	char match[DOCKER_MAX][48]; /* `iifname "br0"` */
};

static void want_add(struct docker_rules *w, const char *pattern)
{
	for (int out = 0; out < 2 && w->n < DOCKER_MAX; out++) {
		snprintf(w->comment[w->n], sizeof(w->comment[0]), DOCKER_COMMENT " %s %s",
			 out ? "oif" : "iif", pattern);
		snprintf(w->match[w->n], sizeof(w->match[0]), "%s \"%s\"", out ? "oifname" : "iifname",
			 pattern);
		w->n++;
	}
}

static void want_bridge(const char *bridge, void *data)
{
	want_add(data, bridge);
}

/* The rules wanted in each family's DOCKER-USER (none unless the config asks). */
static void docker_want(struct nat_store *s, bool on, struct docker_rules *w)
{
	w->n = 0;
	if (!on)
		return;
	want_add(w, "ve-*");
	nat_store_shared_list(s, NAT_S_BRIDGES, want_bridge, w);
}

static bool wanted(const struct docker_rules *w, const char *comment)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->comment[i], comment))
			return true;
	return false;
}

/* Ours in family's filter DOCKER-USER (handles and comments into have); -1: no chain. */
static int ours(const struct fw_ruleset *rs, int family, struct docker_rules *have, uint64_t *h)
{
	int ci = fw_chain_find(rs, family, "filter", "DOCKER-USER");
	have->n = 0;
	if (ci < 0)
		return -1;
	const struct fw_chain *c = &rs->chains[ci];
	for (size_t k = 0; k < c->n_rules && have->n < DOCKER_MAX; k++) {
		const struct fw_rule *r = &rs->rules[rs->order[c->first_rule + k]];
		if (strncmp(r->comment, DOCKER_COMMENT, strlen(DOCKER_COMMENT)))
			continue;
		h[have->n] = r->handle;
		snprintf(have->comment[have->n++], sizeof(have->comment[0]), "%s", r->comment);
	}
	return 0;
}

static bool has_docker_user(const struct fw_chain *c)
{
	return (c->family == NFPROTO_IPV4 || c->family == NFPROTO_IPV6) && !strcmp(c->table, "filter") &&
	       !strcmp(c->name, "DOCKER-USER");
}

/*
 * Compares each family's DOCKER-USER with the rules wanted: cb (may be NULL) gets a line
 * per difference; with fix, a family that differs gets ours replaced (one transaction for
 * both). *n: differences (or rules changed with fix).
 */
static int docker_sync(struct ctnet_kern *kern, struct nat_store *s, bool on, bool fix,
		       void (*cb)(const char *line, void *data), void *data, unsigned *n, struct ctnet_err *err)
{
	static const int fams[] = { NFPROTO_IPV4, NFPROTO_IPV6 };
	struct docker_rules *w = malloc(2 * sizeof(*w)); /* ~14 KB each: not on the stack */
	struct fw_ruleset rs;
	struct nat_buf b = { 0 };
	char line[160];
	int r;

	*n = 0;
	if (!w)
		return ctnet_errf(err, ENOMEM, "DOCKER-USER: out of memory");
	struct docker_rules *want = &w[0], *have = &w[1];
	docker_want(s, on, want);
	if ((r = fw_read_rules_of(kern, &rs, has_docker_user, err)) < 0) {
		free(w);
		return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(fams); i++) {
		const char *fam = fams[i] == NFPROTO_IPV4 ? "ip" : "ip6";
		uint64_t h[DOCKER_MAX];
		unsigned diffs = 0;
		if (ours(&rs, fams[i], have, h) < 0)
			continue; /* no Docker (in this family): nothing wanted */
		for (size_t k = 0; k < want->n; k++)
			if (!wanted(have, want->comment[k]) && ++diffs && cb) {
				snprintf(line, sizeof(line), "missing %s filter DOCKER-USER rule \"%s\"", fam,
					 want->comment[k]);
				cb(line, data);
			}
		for (size_t k = 0; k < have->n; k++)
			if (!wanted(want, have->comment[k]) && ++diffs && cb) {
				snprintf(line, sizeof(line), "extra %s filter DOCKER-USER rule \"%s\"", fam,
					 have->comment[k]);
				cb(line, data);
			}
		*n += fix ? 0 : diffs;
		if (!fix || !diffs)
			continue;
		for (size_t k = 0; k < have->n; k++, (*n)++)
			nat_buf_printf(&b, "delete rule %s filter DOCKER-USER handle %llu\n", fam,
				       (unsigned long long)h[k]);
		/* At the top, before Docker's RETURN; inserted last to first to keep the order. */
		for (size_t k = want->n; k-- > 0; (*n)++)
			nat_buf_printf(&b, "insert rule %s filter DOCKER-USER %s accept comment \"%s\"\n", fam,
				       want->match[k], want->comment[k]);
	}
	fw_free(&rs);
	free(w);
	if (b.oom)
		r = ctnet_errf(err, ENOMEM, "DOCKER-USER: out of memory");
	else if (b.p)
		r = nat_nft_run(kern, b.p, err); /* one transaction for both families */
	nat_buf_free(&b);
	return r < 0 ? r : 0;
}

int nat_docker_fix(struct ctnet_kern *kern, struct nat_store *s, bool on, unsigned *changed, struct ctnet_err *err)
{
	return docker_sync(kern, s, on, true, NULL, NULL, changed, err);
}

int nat_docker_check(struct ctnet_kern *kern, struct nat_store *s, bool on,
		     void (*cb)(const char *line, void *data), void *data, struct ctnet_err *err)
{
	unsigned n;
	int r = docker_sync(kern, s, on, false, cb, data, &n, err);
	return r < 0 ? r : (int)n;
}

/* init --accept-in-docker-user / --no-accept-in-docker-user: recorded, then applied. */
static int docker_set(struct ctnet_kern *kern, bool on, unsigned *changed, struct ctnet_err *err)
{
	struct nat_config cfg;
	struct nat_store s;
	int r;

	*changed = 0;
	if ((r = nat_store_open(&s, true, true, err)) < 0)
		return r;
	if ((r = nat_store_config_read(&s, &cfg, err)) >= 0) {
		cfg.docker_user = on;
		if ((r = nat_docker_fix(kern, &s, on, changed, err)) >= 0)
			r = nat_store_config_write(&s, &cfg, err);
	}
	nat_store_close(&s);
	return r;
}

int nat_docker_accept(struct ctnet_kern *kern, unsigned *added, struct ctnet_err *err)
{
	return docker_set(kern, true, added, err);
}

int nat_docker_remove(struct ctnet_kern *kern, unsigned *removed, struct ctnet_err *err)
{
	return docker_set(kern, false, removed, err);
}

int nat_docker_clear(struct ctnet_kern *kern, struct nat_store *s, struct ctnet_err *err)
{
	unsigned n;
	return docker_sync(kern, s, false, true, NULL, NULL, &n, err);
}
