/* SPDX-License-Identifier: MIT */
/*
 * apply's run: the plan carried out (removals, recreations, updates, additions, verifies)
 * in worker processes, each item's outcome and report kept in shared memory; then the
 * index of the files found unchanged.
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

/* ctnet's table rebuilt (nat_restore); 1 when that failed (host_error says why), else 0. */
static int host_repair(struct ctnet_kern *kern, struct ct_apply_plan *p, struct ct_report *rep,
		       void (*done)(const struct ct_apply_item *it, const struct ct_report *rep, void *data),
		       void *data)
{
	struct ctnet_err e;
	int failed = 0;

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
	return failed;
}

/* The outcomes into the plan's items, each reported to done; how many failed. */
static int results(const struct run *run,
		   void (*done)(const struct ct_apply_item *it, const struct ct_report *rep, void *data),
		   void *data)
{
	struct ct_apply_plan *p = run->p;
	const struct todo *td = run->td;
	struct ct_report *rep = run->rep;
	size_t text_len, *at;
	char *text = NULL;
	int failed = 0;

	at = done ? reports_load(run, &text, &text_len) : NULL;
	for (size_t i = 0, t = 0; i < p->n; i++) {
		struct ct_apply_item *it = &p->v[i];
		const struct result *r = t < td->n && td->v[t] == i ? &run->res[t++] : NULL;
		it->rc = r ? r->rc : 0;
		it->left_alone = r && r->left;
		if ((it->rc < 0 || it->left_alone) && !it->error)
			it->error = strdup(r->error);
		failed += it->rc < 0;
		if (!done)
			continue;
		if (r)
			report_of(run, text, at, t - 1, rep);
		else
			memset(rep, 0, sizeof(*rep));
		done(it, rep, data);
	}
	free(text);
	free(at);
	return failed;
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
	size_t size = 0;
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
	if (p->host_what[0])
		failed += host_repair(kern, p, rep, done, data);
	/* Removals first: they free the addresses and ports the others may take. */
	run_phase(kern, &run, 0, NULL);
	for (size_t t = 0; t < td.n; t++)
		if (res[t].ran) /* phase 1 runs what phase 0 did not fail or leave alone */
			res[t].ran = res[t].rc < 0 || res[t].left;
	/* The plan's read of the kernel's NAT table serves every converge's check. */
	run_phase(kern, &run, 1, &p->view);
	failed += results(&run, done, data);
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
