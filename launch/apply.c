/* SPDX-License-Identifier: MIT */
/*
 * ctnet apply: a directory of nixos-container .conf files is the desired set of containers.
 * The whole directory is read and checked first (every file, then clashes between files and
 * with containers apply does not own); only then does anything change, one container at a
 * time through ct_up (which converges) and ct_down.
 */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "apply_int.h"
#include "launch.h"
#include "state.h"

static int item_add(struct ct_apply_plan *p, const char *name, struct ctnet_err *err)
{
	if (CTNET_GROW(p->v, p->n, p->cap, 64) < 0)
		return ctnet_errf(err, ENOMEM, "apply: out of memory");
	memset(&p->v[p->n], 0, sizeof(p->v[0]));
	snprintf(p->v[p->n].name, sizeof(p->v[0].name), "%s", name);
	return (int)p->n++;
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ct_apply_item *)a)->name, ((const struct ct_apply_item *)b)->name);
}

static struct ct_apply_item *find(struct ct_apply_plan *p, const char *name)
{
	struct ct_apply_item key;
	snprintf(key.name, sizeof(key.name), "%s", name);
	/* The files only: removals found by the scan are appended after them, unsorted. */
	return p->n_files ? bsearch(&key, p->v, p->n_files, sizeof(*p->v), item_cmp) : NULL;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The files' names: NAME.conf -> an item each, in name order (read and checked by
 * read_files). The names are sorted, not the items (which are large). */
static int read_dir(struct ct_apply_plan *p, struct ctnet_err *err)
{
	DIR *d = opendir(p->dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d)
		return ctnet_err_sys(err, errno, "apply: directory \"%s\"", p->dir);
	while ((e = readdir(d)) && rc >= 0) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len <= 5 || strcmp(e->d_name + len - 5, ".conf"))
			continue;
		if (len - 5 > CTNET_NAME_MAX) {
			rc = ctnet_errf(err, EINVAL, "apply: \"%s/%s\": container name too long", p->dir, e->d_name);
			break;
		}
		if (CTNET_GROW(names, n, cap, 256) < 0 || !(names[n] = strndup(e->d_name, len - 5))) {
			rc = ctnet_errf(err, ENOMEM, "apply: out of memory");
			break;
		}
		if ((rc = ctnet_name_check(names[n++], err)) < 0) {
			char inner[sizeof(err->msg)];
			snprintf(inner, sizeof(inner), "%s", err->msg);
			rc = ctnet_errf(err, EINVAL, "apply: \"%s/%s\": %s", p->dir, e->d_name, inner);
		}
	}
	closedir(d);
	if (rc >= 0 && n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	/* One allocation for the files' items (removals found later grow it). */
	if (rc >= 0 && n && !(p->v = calloc(n, sizeof(*p->v))))
		rc = ctnet_errf(err, ENOMEM, "apply: out of memory");
	p->cap = p->v ? n : 0;
	for (size_t i = 0; i < n; i++) {
		if (rc >= 0 && (rc = item_add(p, names[i], err)) > 0)
			rc = 0;
		free(names[i]);
	}
	free(names);
	return rc < 0 ? rc : 0;
}

static int describe(struct ct_apply_item *it, const struct ct_spec *b)
{
	const struct ct_spec *a = it->spec;
	char fw[64], w[256];
	size_t o = 0;
	w[0] = '\0';
#define ADD(...)                                                                             \
	do {                                                                                 \
		int n_ = snprintf(w + o, sizeof(w) - o, __VA_ARGS__)   ;          \
		if (n_ > 0 && (size_t)n_ < sizeof(w) - o)                                    \
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
		goto out;
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
out:
	free(it->what);
	it->what = NULL;
	return o && !(it->what = strdup(w)) ? -ENOMEM : 0;
}

/* What the clash checks need of a spec (or of a running container's record). */
static int keep_keys(struct ct_apply_item *it, const struct ct_spec *s, const struct ct_record *r)
{
	it->local = r ? r->local : s->local;
	it->host = r ? r->host : s->host;
	it->p2p = !s->bridge[0];
	it->n_forwards = s->n_forwards;
	if (!s->n_forwards)
		return 0;
	if (!(it->forwards = malloc(s->n_forwards * sizeof(*it->forwards))))
		return -ENOMEM;
	memcpy(it->forwards, s->forwards, s->n_forwards * sizeof(*it->forwards));
	return 0;
}

struct reader {
	struct ct_apply_plan *p;
	int records; /* record_dir(), or < 0 when there is none yet */
	size_t next; /* the next item to take (atomic) */
	size_t next_nat; /* the same, for the NAT lookups left until the table is read */
	struct view_reads *vr;
};

/* Each reader thread's record text (read_one keeps the unchanged ones' for the index). */
static _Thread_local char rd_text[CT_RECORD_MAX];

/* The plan's view is read in two threads while the directory and the files are: the host
 * (addresses, routes, sysctls) before any file is checked, the NAT table (the longest
 * read) for the checks that look up elements, which wait for it only when it is late. */
struct view_reads {
	pthread_t nat_tid, host_tid;
	bool nat_threaded, host_threaded;
	bool nat_ready; /* atomic: view.nat and nat_whole are set */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* The NAT thread then lists the records without a file (apply's to remove, or someone
	 * else's to check for clashes) once the files' names are known (dir_done). */
	bool dir_done, dir_ok;
	int records;    /* record_dir(), or -1 */
	char **others;  /* records without a file */
	size_t n_others, cap_others;
	int list_rc;
	struct ctnet_err list_err;
	struct ct_apply_plan *p;
};

/*
 * One file: read and checked as --config does, compared with its record, and, when
 * unchanged, checked against the kernel (read-only): a container whose kernel state is
 * whole needs nothing more, and its spec is dropped (5,000 of them stay small).
 */
/*
 * The index's word for an unchanged file (see applyindex.c): the file and the record
 * still are the ones the entry names, so the file's spec is the record's and the record
 * is the entry's text (two stats instead of two reads). Then rec holds the record and s
 * its spec; else nothing is kept.
 */
static bool from_index(struct reader *rd, struct ct_apply_item *it, const char *path,
		       struct ct_record *rec, struct ct_spec *s)
{
	const char *line = ct_index_find(&rd->p->index, it->name);
	struct ct_index_entry ie;
	struct ct_conf_id id;
	struct ctnet_err e;
	struct stat st;
	const char *why;

	if (!line || rd->records < 0 || !ct_index_entry(&rd->p->index, line, &ie) || stat(path, &st) < 0)
		return false;
	ct_conf_id_of(&st, &id);
	if (!ct_conf_id_eq(&id, &ie.id) ||
	    fstatat(rd->records, it->name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	ct_conf_id_of(&st, &id);
	if (!ct_conf_id_eq(&id, &ie.rec_id) || record_parse(ie.rec_text, ie.rec_len, it->name, rec, &e) < 0 ||
	    strcmp(rec->spec.origin, rd->p->origin) || !ct_state_record(rec, &why))
		return false;
	*s = rec->spec;
	s->netns_fd = -1;
	it->auto_start = true; /* running: the file's AUTO_START is not asked again */
	it->ix = line;
	return true;
}

/*
 * One file: read and checked as --config does (or vouched for by the index), compared
 * with its record, and, when unchanged, checked against the kernel (read-only): a
 * container whose kernel state is whole needs nothing more, and its spec is dropped
 * (5,000 of them stay small). A file the index vouched for whose container needs a repair
 * is read again, as any other.
 */
static int read_one(struct ctnet_kern *kern, struct reader *rd, struct ct_apply_item *it, struct ct_record *rec,
		    struct ctnet_err *err)
{
	struct ct_apply_plan *p = rd->p;
	char path[PATH_MAX + 256], shown[CTNET_SHOW_MAX];
	/* The host's part is read before any file; the NAT table may still be. */
	struct ct_view view = { .host = p->view.host, .deep = p->view.deep,
				.sysctls_read = p->view.sysctls_read, .sysctls6_read = p->view.sysctls6_read };
	struct ct_spec *s;
	struct stat st;
	const char *why;
	struct ct_conf_id conf_id, rec_id;
	size_t text_len = 0;
	bool indexed;
	int rc;

	if (__atomic_load_n(&rd->vr->nat_ready, __ATOMIC_ACQUIRE)) {
		view.nat = p->view.nat;
		view.nat_whole = p->view.nat_whole;
	} else {
		view.nat_later = true; /* its elements are looked up by nat_lookup, once read */
	}
	free(it->spec);
	if (!(s = it->spec = malloc(sizeof(*s))))
		return ctnet_errf(err, ENOMEM, "apply: out of memory");
	snprintf(path, sizeof(path), "%s/%s.conf", p->dir, it->name);
	it->has_file = true;
	it->ix = NULL;
	free(it->fresh);
	it->fresh = NULL;
	if (!(indexed = !it->index_missed && from_index(rd, it, path, rec, s))) {
		ct_spec_init(s, it->name);
		if ((rc = ct_spec_from_conf_stat(s, path, &it->auto_start, &st, err)) < 0)
			return rc;
		ct_conf_id_of(&st, &conf_id);
		it->op = it->auto_start ? CT_APPLY_ADD : CT_APPLY_SKIP; /* until a record says more */
		if (!s->shared && s->netns_kind == CT_NETNS_NONE)
			s->netns_kind = CT_NETNS_CREATE; /* nspawn joins /run/netns/NAME */
		snprintf(s->origin, sizeof(s->origin), "%s", p->origin);
		ct_spec_normalize(s);
		if ((rc = ct_spec_check(s, err)) < 0) {
			char inner[sizeof(err->msg)];
			snprintf(inner, sizeof(inner), "%s", err->msg);
			return ctnet_errf(err, EINVAL, "apply: \"%s\": %s", path, inner);
		}
	}
	free(it->forwards);
	it->forwards = NULL;
	if (keep_keys(it, s, NULL) < 0)
		return ctnet_errf(err, ENOMEM, "apply: out of memory");
	it->nat = !s->shared && !s->no_nat;
	it->v6 = s->ipv6 || s->local6.family;

	if (!indexed) {
		ssize_t n = rd->records < 0 ? -ENOENT
			    : record_read_text_at(rd->records, it->name, rec, rd_text, CT_RECORD_MAX, &st, err);
		if (n < 0)
			return 0; /* none, or unreadable: up under the lock says what is wrong with it */
		ct_conf_id_of(&st, &rec_id);
		text_len = (size_t)n;
		if (strcmp(rec->spec.origin, p->origin))
			return ctnet_errf(err, EEXIST,
					  "apply: \"%s/%s.conf\": the name is taken by container \"%s\" (%s), which apply does not manage",
					  p->dir, it->name, it->name,
					  rec->spec.origin[0] ? ctnet_show(rec->spec.origin, shown) : "made by hand");
		/* With a host view the check below looks for the link (without a request of its own). */
		if (!(view.host && (view.nat || view.nat_later) ? ct_state_record(rec, &why) : ct_state(kern, rec, &why)))
			return 0; /* stale: brought up anew (ADD) */
	}
	it->v6 |= rec->has_v6;
	it->diff = ct_spec_diff(s, &rec->spec);
	it->op = !it->diff ? CT_APPLY_VERIFY
		 : (it->diff & ~CT_F_IN_PLACE) ? CT_APPLY_RECREATE : CT_APPLY_UPDATE;
	if (describe(it, &rec->spec) < 0)
		return ctnet_errf(err, ENOMEM, "apply: out of memory");
	if (it->op == CT_APPLY_VERIFY) {
		struct ctnet_err e2;
		if (ct_check_view(kern, s, rec, &view, &e2) == 0) {
			if (view.nat_later && it->nat) {
				struct nat_container *c = malloc(sizeof(*c));
				if (!c)
					return ctnet_errf(err, ENOMEM, "apply: out of memory");
				ct_nat_of(s, rec, c);
				it->nat_addr = c->addr;
				it->nat_has6 = c->has_addr6;
				it->nat_addr6 = c->addr6;
				snprintf(it->nat_iface, sizeof(it->nat_iface), "%s", c->iface);
				it->nat_pending = true;
				free(c);
			}
			it->checked = true;
			free(it->spec);
			it->spec = NULL;
			/* For the next plan's index (a file found unchanged long enough ago). */
			if (!indexed && !ct_index_racy(&conf_id, &p->started) && !ct_index_racy(&rec_id, &p->started)) {
				if (!(it->fresh = malloc(sizeof(*it->fresh) + text_len)))
					return ctnet_errf(err, ENOMEM, "apply: out of memory");
				it->fresh->id = conf_id;
				it->fresh->rec_id = rec_id;
				it->fresh->len = text_len;
				memcpy(it->fresh->text, rd_text, text_len);
			}
		} else if (indexed) {
			it->index_missed = true; /* a repair: up gets the file as read */
			return read_one(kern, rd, it, rec, err);
		} else {
			free(it->what);
			if (!(it->what = strdup("the kernel lacks part of it: repair")))
				return ctnet_errf(err, ENOMEM, "apply: out of memory");
		}
	}
	return 0;
}

/* An item read before the NAT table was: its elements, looked up now. Missing ones (or no
 * table read at all) and the item is read again, with the whole view. */
static int nat_lookup(struct ctnet_kern *kern, struct reader *rd, struct ct_apply_item *it, struct nat_container *c,
		      struct ct_record *rec, struct ctnet_err *err)
{
	const struct ct_view *v = &rd->p->view;
	it->nat_pending = false;
	memset(c, 0, sizeof(*c));
	c->name = it->name;
	c->addr = it->nat_addr;
	c->has_addr6 = it->nat_has6;
	c->addr6 = it->nat_addr6;
	c->iface = it->nat_iface;
	c->n_forwards = it->n_forwards;
	if (it->n_forwards)
		memcpy(c->forwards, it->forwards, it->n_forwards * sizeof(*it->forwards));
	if (v->nat && (!v->nat_whole || nat_counters_missing(v->nat, c) == 0))
		return 0;
	it->checked = false;
	it->index_missed = true;
	return read_one(kern, rd, it, rec, err);
}

static void keep_error(struct ct_apply_item *it, int rc, const struct ctnet_err *e)
{
	if (rc < 0) {
		it->rc = rc;
		it->error = strdup(e->msg);
	}
}

/* A reader thread: its own kernel connection (a handle is one conversation at a time). */
static void *reader_run(void *arg)
{
	struct ctnet_kern kernel, *kern = &kernel;
	struct reader *rd = arg;
	struct view_reads *vr = rd->vr;
	struct ct_record *rec = malloc(sizeof(*rec));
	struct nat_container *c = malloc(sizeof(*c));
	struct ctnet_err e;
	size_t i;

	ctnet_kern_init(kern);

	while ((i = __atomic_fetch_add(&rd->next, 1, __ATOMIC_RELAXED)) < rd->p->n_files) {
		struct ct_apply_item *it = &rd->p->v[i];
		keep_error(it, rec ? read_one(kern, rd, it, rec, &e) : ctnet_errf(&e, ENOMEM, "apply: out of memory"), &e);
	}
	pthread_mutex_lock(&vr->lock);
	while (!__atomic_load_n(&vr->nat_ready, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&vr->cond, &vr->lock);
	pthread_mutex_unlock(&vr->lock);
	while ((i = __atomic_fetch_add(&rd->next_nat, 1, __ATOMIC_RELAXED)) < rd->p->n_files) {
		struct ct_apply_item *it = &rd->p->v[i];
		if (it->nat_pending && it->rc == 0)
			keep_error(it, rec && c ? nat_lookup(kern, rd, it, c, rec, &e)
					      : ctnet_errf(&e, ENOMEM, "apply: out of memory"), &e);
	}
	free(c);
	free(rec);
	ctnet_kern_close(kern);
	return NULL;
}

/*
 * Every file, in as many threads as there are CPUs (up to 4): most of the time goes to
 * the kernel (the files, the records, each namespace's addresses and routes). Shared state
 * is read-only here (the plan's view; setns() is per thread). The first failing file in
 * name order is the error, whatever thread saw it first.
 */
static int read_files(struct ct_apply_plan *p, struct view_reads *vr, struct ctnet_err *err)
{
	struct reader rd = { .p = p, .records = vr->records, .vr = vr };
	pthread_t tid[3];
	unsigned started = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (unsigned)ncpu;

	if (p->n_files < 16)
		threads = 1;
	(void)ct_boot_id(); /* cached before the threads read it */
	for (unsigned k = 1; k < threads; k++)
		if (pthread_create(&tid[started], NULL, reader_run, &rd) == 0)
			started++;
	reader_run(&rd);
	for (unsigned k = 0; k < started; k++)
		pthread_join(tid[k], NULL);
	for (size_t i = 0; i < p->n_files; i++)
		if (p->v[i].rc < 0) {
			int rc = p->v[i].rc;
			ctnet_errf(err, -rc, "%s", p->v[i].error ? p->v[i].error : "apply: out of memory");
			return rc;
		}
	return 0;
}

static int addr_key_cmp(const struct ctnet_addr *a, const struct ctnet_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, a->family == AF_INET6 ? 16 : 4);
}

static int claim_addr_cmp(const void *x, const void *y)
{
	const struct claim *a = x, *b = y;
	int c = addr_key_cmp(a->a, b->a);
	return c ? c : (a->item < b->item ? -1 : a->item > b->item);
}

static int fwd_group_cmp(const struct nat_forward *a, const struct nat_forward *b)
{
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->has_host_ip != b->has_host_ip)
		return a->has_host_ip ? 1 : -1;
	return a->has_host_ip ? addr_key_cmp(&a->host_ip, &b->host_ip) : 0;
}

static int claim_fwd_cmp(const void *x, const void *y)
{
	const struct claim *a = x, *b = y;
	int c = fwd_group_cmp(a->f, b->f);
	if (c)
		return c;
	if (a->f->host_lo != b->f->host_lo)
		return a->f->host_lo < b->f->host_lo ? -1 : 1;
	return a->item < b->item ? -1 : a->item > b->item;
}

/* Both claim one address: a container's own address anywhere else, or two host-side
 * addresses of point-to-point links (a bridge's gateway address is shared). */
static bool addrs_clash(const struct claim *a, const struct claim *b)
{
	return a->item != b->item && (!a->host || !b->host || (a->p2p && b->p2p));
}

static void what_of(const struct ct_apply_plan *p, size_t item, char *buf, size_t len)
{
	snprintf(buf, len, "\"%s.conf\"", p->v[item].name);
}

void apply_claims_free(struct claims *c)
{
	free(c->addr);
	free(c->fwd);
	free(c->fwd_max);
}

/* Between files: one address and one host port each (sorted, so n log n for 5,000). */
int apply_claims_build(const struct ct_apply_plan *p, struct claims *c, struct ctnet_err *err)
{
	size_t na = 0, nf = 0;
	char a[CTNET_NAME_MAX + 16], b[CTNET_NAME_MAX + 16], s[CTNET_ADDR_STRLEN], fw[64];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < p->n_files; i++) {
		na += 2;
		nf += p->v[i].n_forwards;
	}
	c->addr = malloc((na ? na : 1) * sizeof(*c->addr));
	c->fwd = malloc((nf ? nf : 1) * sizeof(*c->fwd));
	c->fwd_max = malloc((nf ? nf : 1) * sizeof(*c->fwd_max));
	if (!c->addr || !c->fwd || !c->fwd_max)
		return ctnet_errf(err, ENOMEM, "apply: out of memory");
	for (size_t i = 0; i < p->n_files; i++) {
		const struct ct_apply_item *it = &p->v[i];
		if (it->local.family)
			c->addr[c->n_addr++] = (struct claim){ &it->local, NULL, i, false, it->p2p };
		if (it->host.family)
			c->addr[c->n_addr++] = (struct claim){ &it->host, NULL, i, true, it->p2p };
		for (size_t j = 0; j < it->n_forwards; j++)
			c->fwd[c->n_fwd++] = (struct claim){ NULL, &it->forwards[j], i, false, false };
	}
	if (c->n_addr > 1)
		qsort(c->addr, c->n_addr, sizeof(*c->addr), claim_addr_cmp);
	if (c->n_fwd > 1)
		qsort(c->fwd, c->n_fwd, sizeof(*c->fwd), claim_fwd_cmp);
	for (size_t i = 0; i < c->n_addr; i++)
		for (size_t j = i + 1; j < c->n_addr && !addr_key_cmp(c->addr[i].a, c->addr[j].a); j++)
			if (addrs_clash(&c->addr[i], &c->addr[j])) {
				what_of(p, c->addr[i].item, a, sizeof(a));
				what_of(p, c->addr[j].item, b, sizeof(b));
				return ctnet_errf(err, EADDRINUSE, "apply: %s and %s both claim address %s", a, b,
						  ctnet_addr_str(c->addr[i].a, s));
			}
	/* Sorted by group and start: a range overlaps an earlier one of its group iff it starts
	 * at or below the largest end seen so far. */
	for (size_t i = 0; i < c->n_fwd; i++) {
		bool first = !i || fwd_group_cmp(c->fwd[i - 1].f, c->fwd[i].f);
		c->fwd_max[i] = first ? c->fwd[i].f->host_hi
				      : (c->fwd[i].f->host_hi > c->fwd_max[i - 1] ? c->fwd[i].f->host_hi : c->fwd_max[i - 1]);
		if (first || c->fwd[i].f->host_lo > c->fwd_max[i - 1])
			continue;
		size_t j = i; /* the earlier one it overlaps */
		while (j-- > 0 && !(nat_forward_overlaps(c->fwd[j].f, c->fwd[i].f) && c->fwd[j].item != c->fwd[i].item))
			;
		if (j == (size_t)-1)
			continue; /* only its own container's (checked by the spec) */
		what_of(p, c->fwd[j].item, a, sizeof(a));
		what_of(p, c->fwd[i].item, b, sizeof(b));
		return ctnet_errf(err, EADDRINUSE, "apply: %s and %s both forward host port %s", a, b,
				  nat_forward_str(c->fwd[i].f, fw, sizeof(fw)));
	}
	return 0;
}

/* A running container apply does not own against the files' claims (bsearches). */
int apply_claims_check(const struct ct_apply_plan *p, const struct claims *c, const struct ct_record *r,
		       struct ctnet_err *err)
{
	char what[CTNET_NAME_MAX + 64], fwhat[CTNET_NAME_MAX + 16], s[CTNET_ADDR_STRLEN], fw[64];
	const struct ctnet_addr *mine[2] = { &r->local, &r->host };

	snprintf(what, sizeof(what), "running container \"%s\"", r->spec.name);
	for (int k = 0; k < 2; k++) {
		struct claim key = { mine[k], NULL, 0, k == 1, !r->spec.bridge[0] };
		if (!mine[k]->family || !c->n_addr)
			continue;
		size_t lo = 0, hi = c->n_addr;
		while (lo < hi) { /* the first claim of that address */
			size_t mid = (lo + hi) / 2;
			if (addr_key_cmp(c->addr[mid].a, mine[k]) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t i = lo; i < c->n_addr && !addr_key_cmp(c->addr[i].a, mine[k]); i++) {
			key.item = c->addr[i].item + 1; /* never equal */
			if (addrs_clash(&c->addr[i], &key)) {
				what_of(p, c->addr[i].item, fwhat, sizeof(fwhat));
				return ctnet_errf(err, EADDRINUSE, "apply: %s and %s both claim address %s", fwhat,
						  what, ctnet_addr_str(mine[k], s));
			}
		}
	}
	for (size_t k = 0; k < r->spec.n_forwards; k++) {
		const struct nat_forward *f = &r->spec.forwards[k];
		/* The last claim of f's group starting at or below f's end. */
		size_t lo = 0, hi = c->n_fwd;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int g = fwd_group_cmp(c->fwd[mid].f, f);
			if (g < 0 || (g == 0 && c->fwd[mid].f->host_lo <= f->host_hi))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!lo || fwd_group_cmp(c->fwd[lo - 1].f, f) || c->fwd_max[lo - 1] < f->host_lo)
			continue;
		for (size_t i = lo; i-- > 0 && !fwd_group_cmp(c->fwd[i].f, f);)
			if (nat_forward_overlaps(c->fwd[i].f, f)) {
				what_of(p, c->fwd[i].item, fwhat, sizeof(fwhat));
				return ctnet_errf(err, EADDRINUSE, "apply: %s and %s both forward host port %s", fwhat,
						  what, nat_forward_str(c->fwd[i].f, fw, sizeof(fw)));
			}
	}
	return 0;
}

struct scan {
	struct ct_apply_plan *p;
	const struct claims *claims;
	struct ct_record *r;
	struct ctnet_err *err;
};

/* Each running container without a file: ours (to remove) or someone else's (a clash?). */
static int scan_record(int dfd, const char *name, void *data)
{
	struct scan *sc = data;
	struct ct_apply_plan *p = sc->p;
	struct ctnet_err e2;
	int rc;

	if (find(p, name))
		return 0; /* read with its file */
	if (record_read_at(dfd, name, sc->r, &e2) < 0)
		return 0; /* taken down meanwhile, or unreadable: not ours */
	if (!strcmp(sc->r->spec.origin, p->origin)) { /* its file is gone: remove it */
		if ((rc = item_add(p, name, sc->err)) < 0)
			return rc;
		p->v[rc].op = CT_APPLY_REMOVE;
		return 0;
	}
	/* Someone else's container: the files must not claim what it holds. */
	return apply_claims_check(p, sc->claims, sc->r, sc->err);
}

/* The kernel, read once for every unchanged container's check (see ct_check_view): the
 * NAT table in one thread, the host's addresses, routes and sysctls in another, while the
 * plan reads the directory (struct view_reads). */
static int collect(int dfd, const char *name, void *data)
{
	struct view_reads *vr = data;
	(void)dfd;
	if (find(vr->p, name))
		return 0; /* read with its file */
	if (CTNET_GROW(vr->others, vr->n_others, vr->cap_others, 16) < 0 ||
	    !(vr->others[vr->n_others] = strdup(name)))
		return ctnet_errf(&vr->list_err, ENOMEM, "apply: out of memory");
	vr->n_others++;
	return 0;
}

static void *nat_read(void *arg)
{
	struct ct_apply_plan *p = arg;
	struct view_reads *vr = p->reads;
	struct ctnet_kern kern;
	struct ctnet_err e;

	ctnet_kern_init(&kern);
	if (nat_counters_read(&kern, &p->view.nat, &e) < 0)
		p->view.nat = NULL;
	ctnet_kern_close(&kern);
	p->view.nat_whole = nat_counters_whole(p->view.nat);
	pthread_mutex_lock(&vr->lock);
	__atomic_store_n(&vr->nat_ready, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&vr->cond);
	while (!vr->dir_done)
		pthread_cond_wait(&vr->cond, &vr->lock);
	pthread_mutex_unlock(&vr->lock);
	if (vr->dir_ok && vr->records >= 0)
		vr->list_rc = ctnet_dir_foreach(vr->records, "records", collect, vr, &vr->list_err);
	return NULL;
}

/* The files' names are all known (or the plan failed): the records can be listed. */
static void view_dir_done(struct view_reads *vr, bool ok)
{
	pthread_mutex_lock(&vr->lock);
	vr->dir_done = true;
	vr->dir_ok = ok;
	pthread_cond_broadcast(&vr->cond);
	pthread_mutex_unlock(&vr->lock);
}

static void *host_read(void *arg)
{
	struct ct_view *v = arg;
	struct ctnet_kern kern;
	struct ctnet_err e;

	ctnet_kern_init(&kern);
	if (netd_host_view_open(&kern, &v->host, true, &e) < 0)
		v->host = NULL;
	v->sysctls_read = nat_sysctls_off(&kern, false, NULL, NULL, true) == 0;
	v->sysctls6_read = v->sysctls_read && nat_sysctls_off(&kern, true, NULL, NULL, true) == 0;
	ctnet_kern_close(&kern);
	return NULL;
}

static void view_start(struct ct_apply_plan *p, struct view_reads *vr, int records)
{
	memset(vr, 0, sizeof(*vr));
	pthread_mutex_init(&vr->lock, NULL);
	pthread_cond_init(&vr->cond, NULL);
	vr->p = p;
	vr->records = records;
	p->reads = vr;
	if (!(vr->nat_threaded = pthread_create(&vr->nat_tid, NULL, nat_read, p) == 0)) {
		vr->dir_done = true; /* read here, now: the records are listed after the files */
		nat_read(p);
		vr->dir_done = false;
	}
	if (!(vr->host_threaded = pthread_create(&vr->host_tid, NULL, host_read, &p->view) == 0))
		host_read(&p->view);
}

static void view_host_wait(struct view_reads *vr)
{
	if (vr->host_threaded)
		pthread_join(vr->host_tid, NULL);
	vr->host_threaded = false;
}

/* Both reads ended (also on an early return of the plan). */
static void view_end(struct ct_apply_plan *p, struct view_reads *vr)
{
	view_host_wait(vr);
	if (!vr->dir_done)
		view_dir_done(vr, false);
	if (vr->nat_threaded)
		pthread_join(vr->nat_tid, NULL);
	else if (vr->dir_ok && vr->records >= 0) /* no thread: listed here */
		vr->list_rc = ctnet_dir_foreach(vr->records, "records", collect, vr, &vr->list_err);
	vr->nat_threaded = false;
	pthread_mutex_destroy(&vr->lock);
	pthread_cond_destroy(&vr->cond);
	p->reads = NULL;
}

/* What is the host's to repair once, not each container's (see ct_check_view). */
static void host_check(struct ct_apply_plan *p)
{
	bool nat = false, v6 = false;
	size_t o = 0;
	/* Running containers of ours expect the table (a new one's up makes it anyway). */
	for (size_t i = 0; i < p->n_files; i++) {
		bool running = p->v[i].op == CT_APPLY_VERIFY || p->v[i].op == CT_APPLY_UPDATE;
		nat |= p->v[i].nat && running;
		v6 |= p->v[i].nat && running && p->v[i].v6;
	}
	if (!nat)
		return;
#define ADD(...)                                                                             \
	do {                                                                                 \
		int n_ = snprintf(p->host_what + o, sizeof(p->host_what) - o, __VA_ARGS__);  \
		if (n_ > 0 && (size_t)n_ < sizeof(p->host_what) - o)                         \
			o += (size_t)n_;                                                     \
	} while (0)
	if (!p->view.nat_whole)
		ADD("nft table of ctnet or one of its chains missing");
	if (!p->view.sysctls_read)
		ADD("%ssysctl net.ipv4.ip_forward off", o ? ", " : "");
	else if (v6 && !p->view.sysctls6_read)
		ADD("%ssysctl net.ipv6.conf.all.forwarding off", o ? ", " : "");
#undef ADD
}

void ct_apply_origin(const char *dir, char out[CT_ORIGIN_MAX])
{
	static const char tag[] = "apply:";
	size_t len = strlen(dir);
	/* "apply:" + the path's first bytes + "//" + 16 hex digits */
	const int keep = (int)(CT_ORIGIN_MAX - 1 - (sizeof(tag) - 1) - 2 - 16);

	if (len <= CT_ORIGIN_MAX - 1 - (sizeof(tag) - 1)) {
		snprintf(out, CT_ORIGIN_MAX, "%s%s", tag, dir);
		return;
	}
	/* Too long to keep whole. Merely cut, two long paths sharing their first bytes would be
	 * one origin (each apply would remove the other's containers): a hash of the whole path
	 * tells them apart, and "//", which no real path has, keeps it from equalling a short
	 * origin. */
	snprintf(out, CT_ORIGIN_MAX, "%s%.*s//%016" PRIx64, tag, keep, dir, ctnet_hash64(dir, len));
}

int ct_apply_plan(const char *dir, bool deep, struct ct_apply_plan *p, struct ctnet_err *err)
{
	char real[PATH_MAX];
	struct claims claims = { 0 };
	struct scan sc = { .p = p, .claims = &claims, .err = err };
	struct view_reads vr;
	int rc, dfd = -1;

	memset(p, 0, sizeof(*p));
	if (!realpath(dir, real))
		return ctnet_err_sys(err, errno, "apply: directory \"%s\"", dir);
	snprintf(p->dir, sizeof(p->dir), "%s", real);
	ct_apply_origin(real, p->origin);
	clock_gettime(CLOCK_REALTIME, &p->started);
	p->view.deep = deep;
	/* The records directory, once: the files' records, then the others. */
	dfd = record_dir(false, err);
	if (dfd < 0 && dfd != -ENOENT)
		return dfd;
	view_start(p, &vr, dfd);
	ct_index_load(p->dir, &p->index);
	rc = read_dir(p, err);
	p->n_files = p->n;
	view_dir_done(&vr, rc >= 0);
	view_host_wait(&vr);
	if (rc < 0)
		goto out;
	if ((rc = read_files(p, &vr, err)) < 0)
		goto out;
	if ((rc = apply_claims_build(p, &claims, err)) < 0)
		goto out;
	view_end(p, &vr);
	host_check(p);
	if (vr.list_rc < 0) {
		rc = ctnet_errf(err, -vr.list_rc, "%s", vr.list_err.msg);
		goto out;
	}
	if (vr.n_others && !(sc.r = malloc(sizeof(*sc.r)))) {
		rc = ctnet_errf(err, ENOMEM, "apply: out of memory");
		goto out;
	}
	/* Each running container without a file: ours (to remove) or someone else's. */
	for (size_t i = 0; i < vr.n_others && rc >= 0; i++)
		rc = scan_record(dfd, vr.others[i], &sc);
	free(sc.r);
	if (rc < 0)
		goto out;
	if (p->n > p->n_files) /* removals were appended */
		qsort(p->v, p->n, sizeof(*p->v), item_cmp);
	rc = 0;
out:
	if (p->reads)
		view_end(p, &vr);
	for (size_t i = 0; i < vr.n_others; i++)
		free(vr.others[i]);
	free(vr.others);
	if (dfd >= 0)
		close(dfd);
	apply_claims_free(&claims);
	return rc;
}

/* The items a run touches (the others are done: checked, skipped), res[] by their slot. */
struct todo {
	size_t *v, n;
};

/*
 * One item's outcome, in memory shared with the worker processes. Its report (all of it:
 * up to CT_REPORT_MAX lines) is not kept here, where each item would carry room for the
 * longest: the worker appends it to the run's reports file (a memfd every worker shares,
 * O_APPEND, one write per item) and the run reads it back once, after both phases.
 */
struct result {
	bool ran;
	int rc;
	bool left;       /* no longer apply's when its turn came: left alone (error says why) */
	bool reported;   /* its report was written to the reports file */
	bool lost;       /* its report could not be kept (no reports file, a failed write) */
	char error[256];
};

/* A report in the reports file: the header, then per line repair, length, text (no NUL). */
#define REPORT_MAGIC 0x63747270u
struct report_head {
	uint32_t magic;
	uint32_t t;      /* the item's slot in the run (res[t]) */
	uint32_t len;    /* the whole report's bytes, header included */
	uint16_t n;
	uint8_t truncated;
	uint8_t pad;
};

/* What every phase's workers share. */
struct run {
	struct ct_apply_plan *p;
	const struct todo *td;
	struct result *res; /* by slot, MAP_SHARED */
	int reports;        /* the reports file, or -1 */
	unsigned workers;
	struct ct_record *out;
	struct ct_report *rep;
};

static void keep_report(const struct run *run, size_t t, const struct ct_report *rep)
{
	char buf[sizeof(struct report_head) + CT_REPORT_MAX * (2 + sizeof(rep->v[0].what))];
	struct report_head h = { .magic = REPORT_MAGIC, .t = (uint32_t)t, .n = (uint16_t)rep->n,
				 .truncated = rep->truncated };
	size_t o = sizeof(h);

	if (!rep->n && !rep->truncated)
		return;
	for (size_t i = 0; i < rep->n; i++) {
		size_t len = strnlen(rep->v[i].what, sizeof(rep->v[i].what) - 1);
		buf[o++] = (char)rep->v[i].repair;
		buf[o++] = (char)(unsigned char)len;
		memcpy(buf + o, rep->v[i].what, len);
		o += len;
	}
	h.len = (uint32_t)o;
	memcpy(buf, &h, sizeof(h));
	if (run->reports >= 0 && write(run->reports, buf, o) == (ssize_t)o)
		run->res[t].reported = true;
	else
		run->res[t].lost = true;
}

/* The reports file read back: each slot's report (its offset in *text, or SIZE_MAX). The
 * walk stops at the first report that is not whole (a worker killed mid-write, a short
 * write): those after it count as lost (report_of). */
static size_t *reports_load(const struct run *run, char **text, size_t *len)
{
	size_t *at = malloc((run->td->n ? run->td->n : 1) * sizeof(*at));
	struct stat st;
	size_t o = 0;

	*text = NULL;
	*len = 0;
	if (!at)
		return NULL;
	for (size_t t = 0; t < run->td->n; t++)
		at[t] = SIZE_MAX;
	if (run->reports < 0 || fstat(run->reports, &st) < 0 || st.st_size <= 0 ||
	    !(*text = malloc((size_t)st.st_size)) ||
	    pread(run->reports, *text, (size_t)st.st_size, 0) != st.st_size)
		return at;
	*len = (size_t)st.st_size;
	while (o + sizeof(struct report_head) <= *len) {
		struct report_head h;
		size_t start = o, end;
		unsigned i = 0;
		memcpy(&h, *text + o, sizeof(h));
		if (h.magic != REPORT_MAGIC || h.len < sizeof(h) || h.len > *len - o || h.t >= run->td->n ||
		    h.n > CT_REPORT_MAX)
			break;
		end = o + h.len;
		for (o += sizeof(h); i < h.n && o + 2 <= end; i++)
			o += 2 + (unsigned char)(*text)[o + 1];
		if (i < h.n || o != end)
			break;
		at[h.t] = start;
	}
	return at;
}

/* Slot t's report into rep (as the worker's converge made it). */
static void report_of(const struct run *run, const char *text, const size_t *at, size_t t,
		      struct ct_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	/* lost, or not read back (no memory, an earlier report not whole) */
	rep->truncated = run->res[t].lost || (run->res[t].reported && (!at || at[t] == SIZE_MAX));
	if (!at || at[t] == SIZE_MAX)
		return;
	struct report_head h;
	size_t o = at[t] + sizeof(h);
	memcpy(&h, text + at[t], sizeof(h));
	for (unsigned i = 0; i < h.n; i++) {
		char what[sizeof(rep->v[0].what)];
		size_t len = (unsigned char)text[o + 1];
		size_t kept = len < sizeof(what) ? len : sizeof(what) - 1;
		memcpy(what, text + o + 2, kept);
		what[kept] = '\0';
		ct_report_add(rep, text[o] != 0, "%s", what);
		o += 2 + len;
	}
	rep->truncated |= h.truncated;
}

static void keep_result(struct result *res, int rc, bool left, const struct ctnet_err *e)
{
	res->ran = true;
	res->rc = rc < 0 ? -1 : 0;
	res->left = left;
	if (rc < 0 || left) {
		size_t n = strnlen(e->msg, sizeof(res->error) - 1);
		memcpy(res->error, e->msg, n);
		res->error[n] = '\0';
	}
}

/* Phase 0 takes down what goes (removals, and recreations' first half); phase 1 brings up,
 * updates and verifies. */
static bool in_phase(const struct ct_apply_item *it, int phase)
{
	if (phase == 0)
		return it->op == CT_APPLY_REMOVE || it->op == CT_APPLY_RECREATE;
	return it->op != CT_APPLY_REMOVE && it->op != CT_APPLY_SKIP && !it->checked;
}

static void work(struct ctnet_kern *kern, const struct run *run, int phase, const struct ct_view *view,
		 unsigned k)
{
	struct ct_apply_plan *p = run->p;
	struct result *res = run->res;
	struct ct_report *rep = run->rep;
	struct ctnet_err e;
	for (size_t t = k; t < run->td->n; t += run->workers) {
		struct ct_apply_item *it = &p->v[run->td->v[t]];
		bool left = false;
		int rc;
		if (!in_phase(it, phase) || res[t].rc < 0 || res[t].left)
			continue;
		memset(rep, 0, sizeof(*rep));
		/* The plan looked without the lock: under it, a container re-made meanwhile by
		 * hand (or by anyone else) is no longer apply's to take down. Recreated with the
		 * same lease when its addresses are allocated. */
		if (phase == 0)
			rc = ct_down_owned(kern, it->name, p->origin,
					   it->op == CT_APPLY_RECREATE && !it->spec->local.family, &left, &e);
		else
			rc = ct_up_view(kern, it->spec, view, run->out, rep, &e);
		keep_result(&res[t], rc, left, &e);
		if (phase)
			keep_report(run, t, rep);
	}
}

/*
 * The containers of a phase split over `workers` processes (this one and forked ones),
 * each taking every workers-th item: the kernel work of one (namespaces, links, an nft
 * commit) overlaps with the other's. Each item is still one ct_up / ct_down under that
 * container's lock, as if several `ctnet up` ran at once.
 */
static void run_phase(struct ctnet_kern *kern, const struct run *run, int phase, const struct ct_view *view)
{
	struct result *res = run->res;
	pid_t pids[8];
	unsigned forked = 0;

	for (unsigned k = 1; k < run->workers; k++) {
		pid_t pid = fork();
		if (pid == 0) {
			/* A kernel connection of its own: the parent's handles are the parent's. */
			struct ctnet_kern own;
			ctnet_kern_init(&own);
			own.bulk = true;
			work(&own, run, phase, view, k);
			nat_release(&own, true);
			_exit(0);
		}
		if (pid < 0) { /* do the rest here */
			for (unsigned j = k; j < run->workers; j++)
				work(kern, run, phase, view, j);
			break;
		}
		pids[forked++] = pid;
	}
	work(kern, run, phase, view, 0);
	for (unsigned i = 0; i < forked; i++)
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
	/* A worker that died left its items without a result. */
	for (size_t t = 0; t < run->td->n; t++)
		if (in_phase(&run->p->v[run->td->v[t]], phase) && !res[t].ran && res[t].rc == 0) {
			res[t].ran = true;
			res[t].rc = -1;
			snprintf(res[t].error, sizeof(res[t].error), "apply: its worker process died");
		}
}

int ct_apply_run(struct ctnet_kern *kern, struct ct_apply_plan *p,
		 void (*done)(const struct ct_apply_item *it, const struct ct_report *rep, void *data),
		 void *data)
{
	struct ct_record *out = malloc(sizeof(*out));
	struct ct_report *rep = malloc(sizeof(*rep));
	struct todo td = { .v = malloc((p->n ? p->n : 1) * sizeof(*td.v)) };
	struct result *res = MAP_FAILED;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned workers = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (unsigned)ncpu;
	size_t size = 0, text_len, *at;
	char *text = NULL;
	int failed = 0;

	kern->bulk = true; /* hundreds of downs in a row: no fork per link deletion */
	for (size_t i = 0; td.v && i < p->n; i++)
		if (in_phase(&p->v[i], 0) || in_phase(&p->v[i], 1))
			td.v[td.n++] = i;
	size = (td.n ? td.n : 1) * sizeof(*res);
	if (td.n < 8)
		workers = 1; /* not worth a fork */
	if (out && rep && td.v)
		res = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED) {
		free(out);
		free(rep);
		free(td.v);
		return -ENOMEM;
	}
	struct run run = { .p = p, .td = &td, .res = res, .workers = workers, .out = out, .rep = rep,
			   .reports = td.n ? memfd_create("ctnet-apply-reports", MFD_CLOEXEC) : -1 };
	/* Every worker's write lands at the end, whole (without it: reports marked lost). */
	if (run.reports >= 0 && fcntl(run.reports, F_SETFL, O_APPEND) < 0) {
		close(run.reports);
		run.reports = -1;
	}
	/* The host first: ctnet's table rebuilt from the desired state (and the forwarding
	 * sysctls with it) once, not by each container's converge. */
	if (p->host_what[0]) {
		struct ctnet_err e;
		memset(rep, 0, sizeof(*rep));
		if ((p->host_rc = nat_restore(kern, &e)) < 0) {
			snprintf(p->host_error, sizeof(p->host_error), "%s", e.msg);
			failed++;
		} else {
			ct_report_add(rep, true, "%s (restored ctnet's table)", p->host_what);
			nat_counters_free(p->view.nat);
			if (nat_counters_read(kern, &p->view.nat, &e) < 0)
				p->view.nat = NULL;
		}
		if (done)
			done(NULL, rep, data);
	}
	/* Removals first: they free the addresses and ports the others may take. */
	run_phase(kern, &run, 0, NULL);
	for (size_t t = 0; t < td.n; t++)
		if (res[t].ran) /* phase 1 runs what phase 0 did not fail or leave alone */
			res[t].ran = res[t].rc < 0 || res[t].left;
	/* The plan's read of the kernel's NAT table serves every converge's check. */
	run_phase(kern, &run, 1, &p->view);
	at = done ? reports_load(&run, &text, &text_len) : NULL;
	for (size_t i = 0, t = 0; i < p->n; i++) {
		struct ct_apply_item *it = &p->v[i];
		const struct result *r = t < td.n && td.v[t] == i ? &res[t++] : NULL;
		it->rc = r ? r->rc : 0;
		it->left_alone = r && r->left;
		if ((it->rc < 0 || it->left_alone) && !it->error)
			it->error = strdup(r->error);
		failed += it->rc < 0;
		if (!done)
			continue;
		if (r)
			report_of(&run, text, at, t - 1, rep);
		else
			memset(rep, 0, sizeof(*rep));
		done(it, rep, data);
	}
	free(text);
	free(at);
	if (run.reports >= 0)
		close(run.reports);
	munmap(res, size);
	free(td.v);
	free(out);
	free(rep);
	return failed;
}

/* A file the next index lists: found unchanged and whole, vouched for by the index or
 * read long enough after it changed. */
static bool indexable(const struct ct_apply_item *it)
{
	return it->has_file && it->op == CT_APPLY_VERIFY && it->checked && (it->ix || it->fresh);
}

int ct_apply_index_save(const struct ct_apply_plan *p, struct ctnet_err *err)
{
	struct ct_index_out *out;
	size_t n = 0, kept = 0, fresh = 0;
	int rc;

	for (size_t i = 0; i < p->n; i++)
		if (indexable(&p->v[i])) {
			kept += p->v[i].ix != NULL;
			fresh += !p->v[i].ix;
		}
	if (!fresh && kept == p->index.n)
		return 0; /* the index as it is */
	if (!(out = malloc((kept + fresh + 1) * sizeof(*out))))
		return ctnet_errf(err, ENOMEM, "apply index: out of memory");
	for (size_t i = 0; i < p->n; i++) {
		const struct ct_apply_item *it = &p->v[i];
		if (indexable(it))
			out[n++] = (struct ct_index_out){ it->name, it->ix, it->ix ? NULL : it->fresh };
	}
	rc = ct_index_save(p->dir, &p->index, out, n, err);
	free(out);
	return rc;
}

void ct_apply_free(struct ct_apply_plan *p)
{
	ct_index_free(&p->index);
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].spec);
		free(p->v[i].forwards);
		free(p->v[i].error);
		free(p->v[i].fresh);
		free(p->v[i].what);
	}
	free(p->v);
	nat_counters_free(p->view.nat);
	netd_host_view_close(p->view.host);
	memset(p, 0, sizeof(*p));
}
