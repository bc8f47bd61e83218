/* SPDX-License-Identifier: MIT */
/*
 * apply's index: which .conf files a plan found unchanged, so that the next plan need not
 * read them again (a stat instead of open, read and parse; 5,000 of them are a third of a
 * no-op apply). One file per DIR in $CTNET_RUN_DIR/apply-index/ (gone at reboot, as the
 * records are), written by apply after a run, never by a dry run:
 *
 *     ctnet-apply-index 2 DIR
 *     NAME CONF-ID RECORD-ID LEN
 *     LEN bytes: the record's text
 *     ...
 *
 * (an ID: DEV INO SIZE MTIME_S MTIME_NS CTIME_S CTIME_NS UID MODE). An entry says: the
 * .conf with exactly this identity and these times was read, and its spec was the one in
 * the container's record, which was the file RECORD-ID with this text. A plan trusts it
 * only when both files still have those identities (a stat each instead of two reads:
 * a rewritten file has a new ctime, which no one can set back; records are replaced by
 * rename, a new inode), so a rollback to an older .conf (an older /nix/store path, same
 * inode and times) meets a newer record and is read. Files changed within the last two
 * seconds are not entered (timestamps are coarse: a second write in the same tick could
 * keep the ctime).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "launch.h"
#include "state.h"

#define INDEX_DIR "apply-index"
#define INDEX_MAGIC "ctnet-apply-index 2 "
#define INDEX_MAX (64u << 20)
#define RACY_SECONDS 2

_Static_assert(CTNET_NAME_MAX == 64, "parse_line's %64s");

static void index_name(const char *dir, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64, ctnet_hash64(dir, strlen(dir)));
}

void ct_conf_id_of(const struct stat *st, struct ct_conf_id *id)
{
	*id = (struct ct_conf_id){
		.dev = (unsigned long long)st->st_dev,
		.ino = (unsigned long long)st->st_ino,
		.size = (unsigned long long)st->st_size,
		.mtime_s = (long long)st->st_mtim.tv_sec,
		.mtime_ns = st->st_mtim.tv_nsec,
		.ctime_s = (long long)st->st_ctim.tv_sec,
		.ctime_ns = st->st_ctim.tv_nsec,
		.uid = (unsigned)st->st_uid,
		.mode = (unsigned)st->st_mode,
		.set = true,
	};
}

bool ct_conf_id_eq(const struct ct_conf_id *a, const struct ct_conf_id *b)
{
	return a->set && b->set && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns && a->ctime_s == b->ctime_s &&
	       a->ctime_ns == b->ctime_ns && a->uid == b->uid && a->mode == b->mode;
}

/* The first token of an entry's line (the name) against name. */
static int line_cmp(const char *name, const char *line)
{
	size_t l = strcspn(line, " \n");
	int c = strncmp(name, line, l);
	return c ? c : (name[l] != '\0');
}

static int find_cmp(const void *key, const void *elem)
{
	return line_cmp(key, *(const char *const *)elem);
}

const char *ct_index_find(const struct ct_apply_index *ix, const char *name)
{
	const char *const *l = ix->n ? bsearch(name, ix->line, ix->n, sizeof(*ix->line), find_cmp) : NULL;
	return l ? *l : NULL;
}

void ct_index_free(struct ct_apply_index *ix)
{
	free(ix->line);
	if (ix->map)
		munmap((void *)ix->map, ix->len);
	*ix = (struct ct_apply_index){ 0 };
}

/* An identity, as written and read back (the same conversions for printf and scanf). */
#define ID_FMT "%llu %llu %llu %lld %ld %lld %ld %u %o"
#define ID_ARGS(p) &(p)->dev, &(p)->ino, &(p)->size, &(p)->mtime_s, &(p)->mtime_ns, &(p)->ctime_s, \
		&(p)->ctime_ns, &(p)->uid, &(p)->mode
#define ID_VALS(p) (p)->dev, (p)->ino, (p)->size, (p)->mtime_s, (p)->mtime_ns, (p)->ctime_s, \
		(p)->ctime_ns, (p)->uid, (p)->mode
#define LINE_MAX_ 512

bool ct_index_entry(const struct ct_apply_index *ix, const char *line, struct ct_index_entry *e)
{
	const char *end = ix->map + ix->len, *nl = memchr(line, '\n', (size_t)(end - line));
	char buf[LINE_MAX_], name[CTNET_NAME_MAX + 1];
	size_t len;
	int used = 0;

	memset(e, 0, sizeof(*e));
	if (!nl || (size_t)(nl - line) >= sizeof(buf))
		return false;
	memcpy(buf, line, (size_t)(nl - line));
	buf[nl - line] = '\0';
	if (sscanf(buf, "%64s " ID_FMT " " ID_FMT " %zu%n", name, ID_ARGS(&e->id), ID_ARGS(&e->rec_id), &len,
		   &used) != 20 || buf[used] != '\0' || !len || len >= CT_RECORD_MAX ||
	    len + 1 >= (size_t)(end - nl) || nl[1 + len] != '\n')
		return false;
	e->id.set = e->rec_id.set = true;
	e->rec_text = nl + 1;
	e->rec_len = len;
	e->span = (size_t)(nl + 1 + len + 1 - line);
	return true;
}

int ct_index_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err)
{
	static const char *const dirs[] = { INDEX_DIR };
	return ctnet_tmp_sweep_dirs(ctnet_run_dir(), dirs, ARRAY_SIZE(dirs), cb, data, err);
}

/* The index of dir; empty when there is none or it is not one this version wrote (the
 * index only saves reads: anything odd and every file is read). Mapped, not read: its
 * pages are the page cache's, and a line is parsed only when its file is looked at. */
void ct_index_load(const char *dir, struct ct_apply_index *ix)
{
	char fname[32];
	struct stat st;
	int dfd, fd;

	*ix = (struct ct_apply_index){ 0 };
	if ((dfd = ctnet_dir_open(ctnet_run_dir(), INDEX_DIR, false, NULL)) < 0)
		return;
	index_name(dir, fname, sizeof(fname));
	fd = openat(dfd, fname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	close(dfd);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (unsigned long long)st.st_size <= INDEX_MAX) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (m != MAP_FAILED) {
			ix->map = m;
			ix->len = (size_t)st.st_size;
		}
	}
	close(fd);
	if (ix->map && !ct_index_parse(dir, ix))
		ct_index_free(ix);
}

/* An entry's length, the last field of its line: digits only, as written, and below the
 * record limit ct_index_entry holds it to. Read up to eol and no further (strtoull skips
 * leading white space, newlines too, past the line and the mapping's end, and takes a sign:
 * "-1" wrapped the entry's end to before its start). */
static bool entry_len(const char *s, const char *eol, size_t *len)
{
	size_t v = 0;
	if (s == eol)
		return false;
	for (; s < eol; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (size_t)(*s - '0');
		if (v >= CT_RECORD_MAX)
			return false;
	}
	*len = v;
	return v > 0;
}

bool ct_index_parse(const char *dir, struct ct_apply_index *ix)
{
	const char *p = ix->map, *end = ix->map + ix->len, *nl = memchr(p, '\n', ix->len);
	size_t ml = strlen(INDEX_MAGIC), dl = strlen(dir);
	ix->line = NULL;
	ix->n = ix->cap = 0;
	if (!nl || (size_t)(nl - p) != ml + dl || memcmp(p, INDEX_MAGIC, ml) || memcmp(p + ml, dir, dl))
		goto bad;
	/* Each entry's line and, past its text (the length ends the line), the next. */
	for (p = nl + 1; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *sp;
		size_t len;
		if (!eol || !(sp = memrchr(p, ' ', (size_t)(eol - p))))
			goto bad;
		if (!entry_len(sp + 1, eol, &len) || len + 1 >= (size_t)(end - eol) || eol[1 + len] != '\n')
			goto bad;
		if (CTNET_GROW(ix->line, ix->n, ix->cap, 256) < 0)
			goto bad;
		/* Written in name order: a line out of order is not ours. */
		if (ix->n) {
			const char *prev = ix->line[ix->n - 1];
			size_t pl = strcspn(prev, " \n"), l = strcspn(p, " \n");
			int c = memcmp(prev, p, pl < l ? pl : l);
			if (c > 0 || (c == 0 && pl >= l))
				goto bad;
		}
		ix->line[ix->n++] = p;
		p = eol + 1 + len + 1;
	}
	return true;
bad:
	free(ix->line);
	ix->line = NULL;
	ix->n = ix->cap = 0;
	return false;
}

/* Whether t (s, ns) is less than RACY_SECONDS before started. */
static bool recent(long long s, long ns, const struct timespec *started)
{
	long long ms = s * 1000 + ns / 1000000;
	long long start_ms = (long long)started->tv_sec * 1000 + started->tv_nsec / 1000000;
	return ms > start_ms - RACY_SECONDS * 1000;
}

bool ct_index_racy(const struct ct_conf_id *id, const struct timespec *started)
{
	return recent(id->ctime_s, id->ctime_ns, started) || recent(id->mtime_s, id->mtime_ns, started);
}

int ct_index_save(const char *dir, const struct ct_apply_index *ix, const struct ct_index_out *out, size_t n,
		  struct ctnet_err *err)
{
	char fname[32], *buf = NULL;
	size_t len = 0, cap;
	int dfd, rc = 0;

	if ((dfd = ctnet_dir_open(ctnet_run_dir(), INDEX_DIR, true, err)) < 0)
		return dfd;
	index_name(dir, fname, sizeof(fname));
	if (!n) {
		if (unlinkat(dfd, fname, 0) < 0 && errno != ENOENT)
			rc = ctnet_err_sys(err, errno, "apply index \"%s\"", fname);
		close(dfd);
		return rc;
	}
	cap = strlen(INDEX_MAGIC) + strlen(dir) + 2;
	for (size_t i = 0; i < n; i++) {
		struct ct_index_entry e;
		cap += out[i].fresh ? LINE_MAX_ + out[i].fresh->len + 1
		       : ct_index_entry(ix, out[i].kept, &e) ? e.span : 0;
	}
	if (!(buf = malloc(cap))) {
		close(dfd);
		return ctnet_errf(err, ENOMEM, "apply index: out of memory");
	}
	len = (size_t)snprintf(buf, cap, INDEX_MAGIC "%s\n", dir);
	for (size_t i = 0; i < n && len < cap; i++) {
		struct ct_index_entry e;
		if (out[i].kept) { /* verbatim */
			if (!ct_index_entry(ix, out[i].kept, &e) || len + e.span >= cap) {
				len = cap;
				break;
			}
			memcpy(buf + len, out[i].kept, e.span);
			len += e.span;
			continue;
		}
		const struct ct_index_fresh *f = out[i].fresh;
		int w = snprintf(buf + len, cap - len, "%s " ID_FMT " " ID_FMT " %zu\n", out[i].name,
				 ID_VALS(&f->id), ID_VALS(&f->rec_id), f->len);
		len = w < 0 ? cap : len + (size_t)w;
		if (len + f->len + 1 >= cap) {
			len = cap;
			break;
		}
		memcpy(buf + len, f->text, f->len);
		len += f->len;
		buf[len++] = '\n';
	}
	if (len >= cap)
		rc = ctnet_errf(err, EOVERFLOW, "apply index: too large");
	else
		rc = ctnet_write_atomic(dfd, fname, buf, len, err);
	free(buf);
	close(dfd);
	return rc;
}
