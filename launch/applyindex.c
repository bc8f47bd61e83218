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

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ct_index_entry *)a)->name, ((const struct ct_index_entry *)b)->name);
}

const struct ct_index_entry *ct_index_find(const struct ct_apply_index *ix, const char *name)
{
	struct ct_index_entry key;
	if (!ix->n || strlen(name) >= sizeof(key.name))
		return NULL;
	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, ix->v, ix->n, sizeof(*ix->v), entry_cmp);
}

void ct_index_free(struct ct_apply_index *ix)
{
	free(ix->v);
	free(ix->buf);
	*ix = (struct ct_apply_index){ 0 };
}

#define ID_SCAN "%llu %llu %llu %lld %ld %lld %ld %u %o"
#define ID_ARGS(p) &(p)->dev, &(p)->ino, &(p)->size, &(p)->mtime_s, &(p)->mtime_ns, &(p)->ctime_s, \
		&(p)->ctime_ns, &(p)->uid, &(p)->mode
#define ID_PRINT "%llu %llu %llu %lld %ld %lld %ld %u %o"
#define ID_VALS(p) (p)->dev, (p)->ino, (p)->size, (p)->mtime_s, (p)->mtime_ns, (p)->ctime_s, \
		(p)->ctime_ns, (p)->uid, (p)->mode

/* One entry's line into e (its text's length in *len); false when it is not one ctnet wrote. */
static bool parse_line(const char *line, struct ct_index_entry *e, size_t *len)
{
	char name[CTNET_NAME_MAX + 1];
	int used = 0;
	memset(e, 0, sizeof(*e));
	if (sscanf(line, "%64s " ID_SCAN " " ID_SCAN " %zu%n", name, ID_ARGS(&e->id), ID_ARGS(&e->rec_id), len,
		   &used) != 20 || line[used] != '\0' || !*len || *len >= CT_RECORD_MAX)
		return false;
	memcpy(e->name, name, sizeof(e->name));
	e->id.set = e->rec_id.set = true;
	return true;
}

/* The index of dir; empty when there is none or it is not one this version wrote (the
 * index only saves reads: anything odd and every file is read). */
void ct_index_load(const char *dir, struct ct_apply_index *ix)
{
	char fname[32], *buf = NULL;
	struct stat st;
	int dfd, fd = -1;

	*ix = (struct ct_apply_index){ 0 };
	if ((dfd = ctnet_dir_open(ctnet_run_dir(), INDEX_DIR, false, NULL)) < 0)
		return;
	index_name(dir, fname, sizeof(fname));
	fd = openat(dfd, fname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	close(dfd);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (unsigned long long)st.st_size > INDEX_MAX || !(buf = malloc((size_t)st.st_size + 1)))
		goto out;
	size_t len = 0;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n <= 0)
			goto out;
		len += (size_t)n;
	}
	buf[len] = '\0';
	char *line = buf, *end = buf + len, *nl = memchr(line, '\n', len);
	size_t ml = strlen(INDEX_MAGIC);
	if (!nl || strncmp(line, INDEX_MAGIC, ml) || (size_t)(nl - line) != ml + strlen(dir) ||
	    strncmp(line + ml, dir, strlen(dir)))
		goto out;
	for (line = nl + 1; line < end; line = nl + 1) {
		size_t tl;
		if (!(nl = memchr(line, '\n', (size_t)(end - line))))
			goto bad;
		*nl = '\0';
		if (CTNET_GROW(ix->v, ix->n, ix->cap, 256) < 0 || !parse_line(line, &ix->v[ix->n], &tl) ||
		    tl + 1 >= (size_t)(end - nl) || nl[1 + tl] != '\n')
			goto bad;
		/* Written in name order: a line out of order is not ours. */
		if (ix->n && strcmp(ix->v[ix->n - 1].name, ix->v[ix->n].name) >= 0)
			goto bad;
		ix->v[ix->n].rec_text = nl + 1;
		ix->v[ix->n].rec_len = tl;
		nl[1 + tl] = '\0'; /* each text NUL-terminated in place */
		nl += 1 + tl;
		ix->n++;
	}
	ix->buf = buf;
	buf = NULL;
	goto out;
bad:
	ct_index_free(ix);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
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

/* The plan's entries, when they differ from the loaded ones; 0 or -errno. */
int ct_index_save(const char *dir, const struct ct_apply_index *old, const struct ct_apply_index *now,
		  struct ctnet_err *err)
{
	char fname[32], *buf = NULL;
	size_t len = 0, cap = 0;
	int dfd, rc = 0;

	bool same = old->n == now->n;
	for (size_t i = 0; same && i < now->n; i++)
		same = !strcmp(old->v[i].name, now->v[i].name) && ct_conf_id_eq(&old->v[i].id, &now->v[i].id) &&
		       ct_conf_id_eq(&old->v[i].rec_id, &now->v[i].rec_id);
	if (same)
		return 0;
	if ((dfd = ctnet_dir_open(ctnet_run_dir(), INDEX_DIR, true, err)) < 0)
		return dfd;
	index_name(dir, fname, sizeof(fname));
	if (!now->n) {
		if (unlinkat(dfd, fname, 0) < 0 && errno != ENOENT)
			rc = ctnet_err_sys(err, errno, "apply index \"%s\"", fname);
		close(dfd);
		return rc;
	}
	cap = strlen(INDEX_MAGIC) + strlen(dir) + 2;
	for (size_t i = 0; i < now->n; i++)
		cap += CTNET_NAME_MAX + 2 * 200 + now->v[i].rec_len + 2;
	if (!(buf = malloc(cap))) {
		close(dfd);
		return ctnet_errf(err, ENOMEM, "apply index: out of memory");
	}
	len = (size_t)snprintf(buf, cap, INDEX_MAGIC "%s\n", dir);
	for (size_t i = 0; i < now->n && len < cap; i++) {
		const struct ct_index_entry *e = &now->v[i];
		int n = snprintf(buf + len, cap - len, "%s " ID_PRINT " " ID_PRINT " %zu\n", e->name, ID_VALS(&e->id),
				 ID_VALS(&e->rec_id), e->rec_len);
		len = n < 0 ? cap : len + (size_t)n;
		if (len + e->rec_len + 1 >= cap) {
			len = cap;
			break;
		}
		memcpy(buf + len, e->rec_text, e->rec_len);
		len += e->rec_len;
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
