/* SPDX-License-Identifier: MIT */
/* nat_check: the kernel's table and sets against what the store says they should hold. */
#include "nat_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

static void diff(void (*cb)(const char *line, void *data), void *data, unsigned *count,
		 const char *fmt, ...) CTNET_PRINTF(4, 5);
static void diff(void (*cb)(const char *line, void *data), void *data, unsigned *count,
		 const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(*count)++;
	if (cb)
		cb(line, data);
}

static void diff_elem(void (*cb)(const char *line, void *data), void *data, unsigned *count,
		      const char *what, const struct nat_elem *el)
{
	struct nat_buf b = { 0 };
	nat_buf_elem(&b, el, false);
	diff(cb, data, count, "%s element %s", what, b.oom ? "?" : b.p);
	nat_buf_free(&b);
}

int nat_check(struct ctnet_kern *kern, void (*cb)(const char *line, void *data), void *data, struct ctnet_err *err)
{
	struct nat_config cfg = { 0 };
	struct nat_elems e = { 0 };
	struct nat_kernel k = { 0 };
	struct nat_store s = { -1, -1, -1, -1 };
	unsigned count = 0;
	bool desired = true;
	char want[512];
	int r;

	r = nat_store_open(&s, false, false, err);
	if (r == -ENOENT) {
		desired = false; /* never initialised: no table wanted */
		r = 0;
	} else if (r >= 0) {
		struct collect c = { .e = &e, .err = err };
		if ((r = nat_store_config_read(&s, &cfg, err)) >= 0 &&
		    (r = nat_elems_config(&e, &cfg, err)) >= 0)
			r = nat_store_foreach(&s, collect_one, &c, err);
	}
	if (r < 0 || (r = nat_kernel_read(kern, &k, err)) < 0)
		goto out;
	if (!desired) {
		for (int t = 0; t < NAT_TABLES; t++)
			if (k.tables[t])
				diff(cb, data, &count, "extra table %s (nothing recorded)",
				     nat_table_names[t]);
		goto out;
	}
	if (!k.table) {
		for (int t = 0; t < NAT_TABLES; t++)
			if (!k.tables[t])
				diff(cb, data, &count, "missing table %s", nat_table_names[t]);
		goto out;
	}
	for (int c = 0; c < NAT_CHAINS; c++) {
		nat_chain_comments(c, &cfg, want, sizeof(want));
		if (!k.chain[c])
			diff(cb, data, &count, "missing chain %s", nat_chain_names[c]);
		else if (strcmp(k.comments[c], want))
			diff(cb, data, &count, "chain %s: rules [%s], want [%s]", nat_chain_names[c],
			     k.comments[c], want);
	}
	for (int st = 0; st < NAT_S_COUNT; st++)
		if (!k.set[st])
			diff(cb, data, &count, "missing set %s", nat_set_names[st]);
	/* Elements: desired minus kernel is missing, kernel minus desired is extra. */
	nat_elems_sort(&e);
	for (size_t i = 0; i < e.n; i++) {
		const struct nat_kelem *ke;
		if (!k.set[e.v[i].set] || (i && !nat_elem_cmp(&e.v[i], &e.v[i - 1])))
			continue;
		ke = nat_kernel_find(&k, &e.v[i]);
		if (ke)
			((struct nat_kelem *)ke)->seen = true;
		else
			diff_elem(cb, data, &count, "missing", &e.v[i]);
	}
	for (int st = 0; st < NAT_S_COUNT; st++)
		for (size_t i = 0; i < k.n[st]; i++)
			if (!k.elems[st][i].seen)
				diff_elem(cb, data, &count, "extra", &k.elems[st][i].el);
	/* What ctnet put in Docker's DOCKER-USER on request is desired state too. */
	if (cfg.docker_user && (r = nat_docker_check(kern, &s, true, cb, data, err)) > 0)
		count += (unsigned)r;
	/* And the loopback forwards' BPF programs and map (lofwd.c). */
	if (r >= 0 && (r = nat_lofwd_check(&s, cb, data, err)) > 0)
		count += (unsigned)r;
out:
	nat_store_close(&s);
	nat_kernel_free(&k);
	nat_elems_free(&e);
	return r < 0 ? r : (int)count;
}
