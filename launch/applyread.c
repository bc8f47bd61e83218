/* SPDX-License-Identifier: MIT */
/*
 * apply's plan, the files: each read and checked as --config does (or vouched for by the
 * index), compared with its record and, when unchanged, checked against the kernel, in as
 * many threads as there are CPUs (up to 4).
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

/* The file read and checked as --config does: s its spec, *conf_id the file's identity. */
static int read_conf(const struct ct_apply_plan *p, struct ct_apply_item *it, const char *path, struct ct_spec *s,
		     struct ct_conf_id *conf_id, struct ctnet_err *err)
{
	struct stat st;
	int rc;

	ct_spec_init(s, it->name);
	if ((rc = ct_spec_from_conf_stat(s, path, &it->auto_start, &st, err)) < 0)
		return rc;
	ct_conf_id_of(&st, conf_id);
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
	return 0;
}

/* A VERIFY checked before the NAT table was read: what nat_lookup looks up later. */
static int keep_nat_pending(struct ct_apply_item *it, const struct ct_spec *s, const struct ct_record *rec,
			    struct ctnet_err *err)
{
	struct nat_container *c = malloc(sizeof(*c));
	if (!c)
		return ctnet_errf(err, ENOMEM, "apply: out of memory");
	ct_nat_of(s, rec, c);
	it->nat_addr = c->addr;
	it->nat_has6 = c->has_addr6;
	it->nat_addr6 = c->addr6;
	snprintf(it->nat_iface, sizeof(it->nat_iface), "%s", c->iface);
	snprintf(it->nat_bridge, sizeof(it->nat_bridge), "%s", c->bridge ? c->bridge : "");
	it->nat_has_mac = c->has_mac;
	memcpy(it->nat_mac, c->mac, sizeof(it->nat_mac));
	it->nat_host = c->host;
	it->nat_host6 = c->host6;
	it->nat_pending = true;
	free(c);
	return 0;
}

/* A file and record found unchanged, kept (with the record's text) for the next index. */
static int keep_fresh(struct ct_apply_item *it, const struct ct_conf_id *conf_id, const struct ct_conf_id *rec_id,
		      size_t text_len, struct ctnet_err *err)
{
	if (!(it->fresh = malloc(sizeof(*it->fresh) + text_len)))
		return ctnet_errf(err, ENOMEM, "apply: out of memory");
	it->fresh->id = *conf_id;
	it->fresh->rec_id = *rec_id;
	it->fresh->len = text_len;
	memcpy(it->fresh->text, rd_text, text_len);
	return 0;
}

/*
 * An unchanged file's container checked against the kernel (read-only): whole, its spec is
 * dropped (and the file kept for the next index); else it is to repair. 1 when the index
 * vouched for the file: it is read again, as any other.
 */
static int check_unchanged(struct ctnet_kern *kern, const struct ct_apply_plan *p, struct ct_apply_item *it,
			   const struct ct_record *rec, const struct ct_view *view, bool indexed,
			   const struct ct_conf_id *conf_id, const struct ct_conf_id *rec_id, size_t text_len,
			   struct ctnet_err *err)
{
	const struct ct_spec *s = it->spec;
	struct ctnet_err e2;
	int rc;

	if (ct_check_view(kern, s, rec, view, &e2) == 0) {
		if (view->nat_later && it->nat && (rc = keep_nat_pending(it, s, rec, err)) < 0)
			return rc;
		it->checked = true;
		free(it->spec);
		it->spec = NULL;
		/* For the next plan's index (a file found unchanged long enough ago). */
		if (!indexed && !ct_index_racy(conf_id, &p->started) && !ct_index_racy(rec_id, &p->started) &&
		    (rc = keep_fresh(it, conf_id, rec_id, text_len, err)) < 0)
			return rc;
	} else if (indexed) {
		return 1;
	} else {
		free(it->what);
		if (!(it->what = strdup("the kernel lacks part of it: repair")))
			return ctnet_errf(err, ENOMEM, "apply: out of memory");
	}
	return 0;
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
	if (!(indexed = !it->index_missed && from_index(rd, it, path, rec, s)) &&
	    (rc = read_conf(p, it, path, s, &conf_id, err)) < 0)
		return rc;
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
	if (it->op == CT_APPLY_VERIFY &&
	    (rc = check_unchanged(kern, p, it, rec, &view, indexed, &conf_id, &rec_id, text_len, err)) != 0) {
		if (rc < 0)
			return rc;
		it->index_missed = true; /* a repair: up gets the file as read */
		return read_one(kern, rd, it, rec, err);
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
	c->bridge = it->nat_bridge;
	c->has_mac = it->nat_has_mac;
	memcpy(c->mac, it->nat_mac, sizeof(c->mac));
	c->host = it->nat_host;
	c->host6 = it->nat_host6;
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
int apply_read_files(struct ct_apply_plan *p, struct view_reads *vr, struct ctnet_err *err)
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
