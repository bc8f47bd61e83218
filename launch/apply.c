/* SPDX-License-Identifier: MIT */
/*
 * ctnet apply: a directory of nixos-container .conf files is the desired set of containers.
 * The whole directory is read and checked first (every file, then clashes between files and
 * with containers apply does not own); only then does anything change, one container at a
 * time through ct_up (which converges) and ct_down.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "launch.h"
#include "state.h"

static int item_add(struct ct_apply_plan *p, struct ctnet_err *err)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct ct_apply_item *v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return ctnet_errf(err, ENOMEM, "apply: out of memory");
		p->v = v;
		p->cap = cap;
	}
	memset(&p->v[p->n], 0, sizeof(p->v[0]));
	return (int)p->n++;
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ct_apply_item *)a)->spec.name,
		      ((const struct ct_apply_item *)b)->spec.name);
}

static struct ct_apply_item *find(struct ct_apply_plan *p, const char *name)
{
	struct ct_apply_item key;
	snprintf(key.spec.name, sizeof(key.spec.name), "%s", name);
	/* The files only: removals found by the scan are appended after them, unsorted. */
	return p->n_files ? bsearch(&key, p->v, p->n_files, sizeof(*p->v), item_cmp) : NULL;
}

/* The files: NAME.conf -> a spec each. */
static int read_dir(struct ct_apply_plan *p, struct ctnet_err *err)
{
	DIR *d = opendir(p->dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return ctnet_err_sys(err, errno, "apply: directory \"%s\"", p->dir);
	while ((e = readdir(d)) && rc >= 0) {
		size_t len = strlen(e->d_name);
		char name[CTNET_NAME_MAX + 1], path[PATH_MAX + 256];
		struct ct_apply_item *it;
		if (e->d_name[0] == '.' || len <= 5 || strcmp(e->d_name + len - 5, ".conf"))
			continue;
		if (len - 5 > CTNET_NAME_MAX) {
			rc = ctnet_errf(err, EINVAL, "apply: \"%s/%s\": container name too long", p->dir, e->d_name);
			break;
		}
		memcpy(name, e->d_name, len - 5);
		name[len - 5] = '\0';
		if ((rc = ctnet_name_check(name, err)) < 0) {
			char inner[sizeof(err->msg)];
			snprintf(inner, sizeof(inner), "%s", err->msg);
			rc = ctnet_errf(err, EINVAL, "apply: \"%s/%s\": %s", p->dir, e->d_name, inner);
			break;
		}
		if ((rc = item_add(p, err)) < 0)
			break;
		it = &p->v[rc];
		rc = 0;
		snprintf(path, sizeof(path), "%s/%s", p->dir, e->d_name);
		ct_spec_init(&it->spec, name);
		it->has_file = true;
		if ((rc = ct_spec_from_conf(&it->spec, path, &it->auto_start, err)) < 0)
			break;
		it->op = it->auto_start ? CT_APPLY_ADD : CT_APPLY_SKIP; /* until a record says more */
		if (!it->spec.shared && it->spec.netns_kind == CT_NETNS_NONE)
			it->spec.netns_kind = CT_NETNS_CREATE; /* nspawn joins /run/netns/NAME */
		snprintf(it->spec.origin, sizeof(it->spec.origin), "%s", p->origin);
		ct_spec_normalize(&it->spec);
		if ((rc = ct_spec_check(&it->spec, err)) < 0) {
			char inner[sizeof(err->msg)];
			snprintf(inner, sizeof(inner), "%s", err->msg);
			rc = ctnet_errf(err, EINVAL, "apply: \"%s\": %s", path, inner);
		}
	}
	closedir(d);
	return rc < 0 ? rc : 0;
}

static bool addr_clash(const struct ctnet_addr *a, const struct ctnet_addr *b)
{
	return a->family && b->family && ctnet_addr_equal(a, b);
}

/* Two specs (or a spec and a running container's record) claiming one address or port. */
static int clash(const struct ct_spec *a, const char *a_what, const struct ct_spec *b,
		 const struct ct_record *b_rec, const char *b_what, struct ctnet_err *err)
{
	char s[CTNET_ADDR_STRLEN], fw[64];
	const struct ctnet_addr *bl = b_rec ? &b_rec->local : &b->local;
	const struct ctnet_addr *bh = b_rec ? &b_rec->host : &b->host;

	if (addr_clash(&a->local, bl) || (!a->bridge[0] && addr_clash(&a->host, bh)) ||
	    addr_clash(&a->local, bh) || addr_clash(&a->host, bl))
		return ctnet_errf(err, EADDRINUSE, "apply: %s and %s both claim address %s", a_what,
				  b_what,
				  ctnet_addr_str(addr_clash(&a->local, bl) || addr_clash(&a->local, bh)
							 ? &a->local : &a->host, s));
	for (size_t i = 0; i < a->n_forwards; i++)
		for (size_t j = 0; j < b->n_forwards; j++)
			if (nat_forward_overlaps(&a->forwards[i], &b->forwards[j]))
				return ctnet_errf(err, EADDRINUSE, "apply: %s and %s both forward host port %s",
						  a_what, b_what,
						  nat_forward_str(&a->forwards[i], fw, sizeof(fw)));
	return 0;
}

static void describe(struct ct_apply_item *it, const struct ct_spec *b)
{
	const struct ct_spec *a = &it->spec;
	char fw[64];
	size_t o = 0;
	it->what[0] = '\0';
#define ADD(...)                                                                             \
	do {                                                                                 \
		int n_ = snprintf(it->what + o, sizeof(it->what) - o, __VA_ARGS__);          \
		if (n_ > 0 && (size_t)n_ < sizeof(it->what) - o)                             \
			o += (size_t)n_;                                                     \
	} while (0)
	if (it->op == CT_APPLY_RECREATE) {
		unsigned fixed = it->diff & ~CT_F_IN_PLACE;
		ADD("recreate (");
		for (unsigned i = 0, first = 1; i < CT_F_COUNT; i++)
			if (fixed & (1u << i)) {
				ADD("%s%s", first ? "" : ", ", ct_field_name(1u << i));
				first = 0;
			}
		ADD(" changed)");
		return;
	}
	for (size_t i = 0; i < a->n_forwards; i++) {
		bool found = false;
		for (size_t j = 0; j < b->n_forwards && !found; j++)
			found = !memcmp(&a->forwards[i], &b->forwards[j], sizeof(a->forwards[i]));
		if (!found)
			ADD("%sforward +%s", o ? ", " : "", nat_forward_str(&a->forwards[i], fw, sizeof(fw)));
	}
	for (size_t i = 0; i < b->n_forwards; i++) {
		bool found = false;
		for (size_t j = 0; j < a->n_forwards && !found; j++)
			found = !memcmp(&b->forwards[i], &a->forwards[j], sizeof(b->forwards[i]));
		if (!found)
			ADD("%sforward -%s", o ? ", " : "", nat_forward_str(&b->forwards[i], fw, sizeof(fw)));
	}
	if (it->diff & CT_F_MTU)
		ADD("%smtu %u -> %u", o ? ", " : "", b->mtu, a->mtu);
	if (it->diff & CT_F_MAC)
		ADD("%smac %s -> %s", o ? ", " : "", b->mac[0] ? b->mac : "random", a->mac[0] ? a->mac : "random");
#undef ADD
}

struct scan {
	struct ct_apply_plan *p;
	struct ct_record *r;
	struct ctnet_err *err;
};

/* Each running container: ours (in the plan, or to remove) or someone else's (a clash?). */
static int scan_record(const char *name, void *data)
{
	struct scan *sc = data;
	struct ct_apply_plan *p = sc->p;
	struct ct_apply_item *it = find(p, name);
	struct ctnet_err e2;
	char what[CTNET_NAME_MAX + 64], shown[CTNET_SHOW_MAX];
	int rc;

	if ((rc = record_read(name, sc->r, &e2)) < 0)
		return rc == -ENOENT ? 0 : 0; /* taken down meanwhile, or unreadable: not ours */
	bool ours = !strcmp(sc->r->spec.origin, p->origin);
	if (it && it->has_file) {
		if (!ours)
			return ctnet_errf(sc->err, EEXIST,
					  "apply: \"%s/%s.conf\": the name is taken by container \"%s\" (%s), which apply does not manage",
					  p->dir, name, name,
					  sc->r->spec.origin[0] ? ctnet_show(sc->r->spec.origin, shown) : "made by hand");
		const char *why;
		if (!ct_state(sc->r, &why))
			return 0; /* stale: brought up anew (ADD) */
		it->diff = ct_spec_diff(&it->spec, &sc->r->spec);
		it->op = !it->diff ? CT_APPLY_VERIFY
			 : (it->diff & ~CT_F_IN_PLACE) ? CT_APPLY_RECREATE : CT_APPLY_UPDATE;
		describe(it, &sc->r->spec);
		return 0;
	}
	if (ours) { /* its file is gone: remove it */
		if ((rc = item_add(p, sc->err)) < 0)
			return rc;
		it = &p->v[rc];
		ct_spec_init(&it->spec, name);
		it->op = CT_APPLY_REMOVE;
		return 0;
	}
	/* Someone else's container: the files must not claim what it holds. */
	snprintf(what, sizeof(what), "running container \"%s\"", name);
	for (size_t i = 0; i < p->n_files; i++) {
		char fwhat[CTNET_NAME_MAX + 32];
		snprintf(fwhat, sizeof(fwhat), "\"%s.conf\"", p->v[i].spec.name);
		if ((rc = clash(&p->v[i].spec, fwhat, &sc->r->spec, sc->r, what, sc->err)) < 0)
			return rc;
	}
	return 0;
}

int ct_apply_plan(const char *dir, struct ct_apply_plan *p, struct ctnet_err *err)
{
	char real[PATH_MAX];
	struct scan sc = { .p = p, .err = err };
	int rc;

	memset(p, 0, sizeof(*p));
	if (!realpath(dir, real))
		return ctnet_err_sys(err, errno, "apply: directory \"%s\"", dir);
	snprintf(p->dir, sizeof(p->dir), "%s", real);
	snprintf(p->origin, sizeof(p->origin), "apply:%.*s", (int)(sizeof(p->origin) - 7), real);
	if ((rc = read_dir(p, err)) < 0)
		return rc;
	p->n_files = p->n;
	if (p->n > 1)
		qsort(p->v, p->n, sizeof(*p->v), item_cmp);
	/* Between files: one address, one host port each. */
	for (size_t i = 0; i < p->n_files; i++)
		for (size_t j = i + 1; j < p->n_files; j++) {
			char a[CTNET_NAME_MAX + 16], b[CTNET_NAME_MAX + 16];
			snprintf(a, sizeof(a), "\"%s.conf\"", p->v[i].spec.name);
			snprintf(b, sizeof(b), "\"%s.conf\"", p->v[j].spec.name);
			if ((rc = clash(&p->v[i].spec, a, &p->v[j].spec, NULL, b, err)) < 0)
				return rc;
		}
	if (!(sc.r = malloc(sizeof(*sc.r))))
		return ctnet_errf(err, ENOMEM, "apply: out of memory");
	rc = record_foreach(scan_record, &sc, err);
	free(sc.r);
	if (rc < 0)
		return rc;
	if (p->n > 1)
		qsort(p->v, p->n, sizeof(*p->v), item_cmp);
	return 0;
}

/* One item's outcome, in memory shared with the worker processes. */
#define RESULT_LINES 6
struct result {
	bool ran;
	int rc;
	char error[256];
	size_t n;
	bool truncated;
	struct {
		bool repair;
		char what[200];
	} v[RESULT_LINES];
};

static void keep_result(struct result *res, int rc, const struct ctnet_err *e,
			const struct ct_report *rep)
{
	res->ran = true;
	res->rc = rc < 0 ? -1 : 0;
	if (rc < 0) {
		size_t n = strnlen(e->msg, sizeof(res->error) - 1);
		memcpy(res->error, e->msg, n);
		res->error[n] = '\0';
	}
	for (size_t i = 0; rep && i < rep->n; i++) {
		if (res->n == RESULT_LINES) {
			res->truncated = true;
			break;
		}
		res->v[res->n].repair = rep->v[i].repair;
		snprintf(res->v[res->n].what, sizeof(res->v[0].what), "%s", rep->v[i].what);
		res->n++;
	}
	res->truncated |= rep && rep->truncated;
}

/* Phase 0 takes down what goes (removals, and recreations' first half); phase 1 brings up,
 * updates and verifies. */
static bool in_phase(const struct ct_apply_item *it, int phase)
{
	if (phase == 0)
		return it->op == CT_APPLY_REMOVE || it->op == CT_APPLY_RECREATE;
	return it->op != CT_APPLY_REMOVE && it->op != CT_APPLY_SKIP;
}

static void work(struct ct_apply_plan *p, int phase, const struct ct_view *view,
		 struct result *res, unsigned k, unsigned workers, struct ct_record *out,
		 struct ct_report *rep)
{
	struct ctnet_err e;
	for (size_t i = k; i < p->n; i += workers) {
		struct ct_apply_item *it = &p->v[i];
		int rc;
		if (!in_phase(it, phase) || res[i].rc < 0)
			continue;
		memset(rep, 0, sizeof(*rep));
		if (phase == 0) /* recreated with the same lease when its addresses are allocated */
			rc = ct_down(it->spec.name, it->op == CT_APPLY_RECREATE && !it->spec.local.family,
				     NULL, &e);
		else
			rc = ct_up_view(&it->spec, view, out, rep, &e);
		keep_result(&res[i], rc, &e, phase ? rep : NULL);
	}
}

/*
 * The containers of a phase split over `workers` processes (this one and forked ones),
 * each taking every workers-th item: the kernel work of one (namespaces, links, an nft
 * commit) overlaps with the other's. Each item is still one ct_up / ct_down under that
 * container's lock, as if several `ctnet up` ran at once.
 */
static void run_phase(struct ct_apply_plan *p, int phase, const struct ct_view *view,
		      struct result *res, unsigned workers, struct ct_record *out,
		      struct ct_report *rep)
{
	pid_t pids[8];
	unsigned forked = 0;

	for (unsigned k = 1; k < workers; k++) {
		pid_t pid = fork();
		if (pid == 0) {
			work(p, phase, view, res, k, workers, out, rep);
			nat_release(true);
			_exit(0);
		}
		if (pid < 0) { /* do the rest here */
			for (unsigned j = k; j < workers; j++)
				work(p, phase, view, res, j, workers, out, rep);
			break;
		}
		pids[forked++] = pid;
	}
	work(p, phase, view, res, 0, workers, out, rep);
	for (unsigned i = 0; i < forked; i++)
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
	/* A worker that died left its items without a result. */
	for (size_t i = 0; i < p->n; i++)
		if (in_phase(&p->v[i], phase) && !res[i].ran && res[i].rc == 0) {
			res[i].ran = true;
			res[i].rc = -1;
			snprintf(res[i].error, sizeof(res[i].error), "apply: its worker process died");
		}
}

int ct_apply_run(struct ct_apply_plan *p,
		 void (*done)(const struct ct_apply_item *it, const struct ct_report *rep, void *data),
		 void *data)
{
	struct ct_record *out = malloc(sizeof(*out));
	struct ct_report *rep = malloc(sizeof(*rep));
	struct result *res = NULL;
	struct ct_view view = { 0 };
	struct ctnet_err e;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned workers = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (unsigned)ncpu;
	size_t size = (p->n ? p->n : 1) * sizeof(*res);
	int failed = 0;

	if (p->n < 8)
		workers = 1; /* not worth a fork */
	if (out && rep)
		res = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!out || !rep || res == MAP_FAILED || !res) {
		free(out);
		free(rep);
		return -ENOMEM;
	}
	/* Removals first: they free the addresses and ports the others may take. */
	run_phase(p, 0, NULL, res, workers, out, rep);
	for (size_t i = 0; i < p->n; i++)
		if (res[i].ran)
			res[i].ran = res[i].rc < 0; /* phase 1 runs what phase 0 did not fail */
	/* One read of the kernel's NAT table for every unchanged container's check. */
	if (nat_counters_read(&view.nat, &e) < 0)
		view.nat = NULL;
	run_phase(p, 1, &view, res, workers, out, rep);
	nat_counters_free(view.nat);
	for (size_t i = 0; i < p->n; i++) {
		struct ct_apply_item *it = &p->v[i];
		it->rc = res[i].rc;
		snprintf(it->error, sizeof(it->error), "%s", res[i].error);
		failed += it->rc < 0;
		if (!done)
			continue;
		memset(rep, 0, sizeof(*rep));
		for (size_t j = 0; j < res[i].n; j++)
			ct_report_add(rep, res[i].v[j].repair, "%s", res[i].v[j].what);
		rep->truncated = res[i].truncated;
		done(it, rep, data);
	}
	munmap(res, size);
	free(out);
	free(rep);
	return failed;
}

void ct_apply_free(struct ct_apply_plan *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}
