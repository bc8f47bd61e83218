/* SPDX-License-Identifier: MIT */
/*
 * Shared elements: a bridge with several container ports, a host-side address that several
 * point-to-point containers use (NixOS lets them share hostAddress). nf_tables keeps one
 * element, so it may go only with its last holder. Who holds one is
 * $CTNET_STATE_DIR/nat/shared/SET-VALUE/OWNER (an empty file per holder): claiming, leaving
 * and "does anyone else hold it" look at one small directory, whatever the number of
 * containers. Everything here runs under the store's lock.
 */
#include "nat_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

#define SHARED "shared"

/* "host4-10.233.0.1", "bridges-br0": the directory of an element's holders. */
static bool shared_key(const struct nat_elem *el, char *key, size_t len)
{
	struct nat_buf b = { 0 };
	bool ok;

	nat_buf_elem(&b, el, false); /* "SET VALUE" */
	ok = !b.oom && b.p && strlen(b.p) < len && !strchr(b.p, '/');
	if (ok) {
		snprintf(key, len, "%s", b.p);
		*strchr(key, ' ') = '-';
	}
	nat_buf_free(&b);
	return ok;
}

static int shared_dir(struct nat_store *s, bool create, struct ctnet_err *err)
{
	char shown[4200];
	snprintf(shown, sizeof(shown), "%s/nat/" SHARED, ctnet_state_dir());
	return ctnet_subdir_open(s->dir, SHARED, create, shown, err);
}

int nat_store_shared_claim(struct nat_store *s, const char *owner, const struct nat_elems *e,
			   struct ctnet_err *err)
{
	char key[128];
	int dfd = -1, r = 0, made = 0;

	for (size_t i = 0; i < e->n && r >= 0; i++) {
		int kfd, fd;
		if (!nat_set_is_shared(e->v[i].set) || !shared_key(&e->v[i], key, sizeof(key)))
			continue;
		if (dfd < 0 && (dfd = r = shared_dir(s, true, err)) < 0)
			break;
		bool fresh = mkdirat(dfd, key, 0755) == 0;
		made += fresh && e->v[i].set == NAT_S_BRIDGES;
		if (!fresh && errno != EEXIST)
			r = ctnet_err_sys(err, errno, "record shared element \"%s\"", key);
		else if ((kfd = openat(dfd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			r = ctnet_err_sys(err, errno, "record shared element \"%s\"", key);
		else {
			fd = openat(kfd, owner, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd < 0)
				r = ctnet_err_sys(err, errno, "record shared element \"%s/%s\"", key, owner);
			else
				close(fd);
			close(kfd);
		}
	}
	if (dfd >= 0)
		close(dfd);
	return r < 0 ? r : made;
}

/* Whether a recorded container other than owner holds el (claims of unrecorded names are
 * left over by a killed run: they hold nothing). */
bool nat_store_shared_others(struct nat_store *s, const char *owner, const struct nat_elem *el)
{
	struct ctnet_err ignored;
	char key[128];
	struct dirent *de;
	bool others = false;
	int dfd, kfd;
	DIR *d;

	if (!nat_set_is_shared(el->set) || !shared_key(el, key, sizeof(key)) ||
	    (dfd = shared_dir(s, false, &ignored)) < 0)
		return false;
	kfd = openat(dfd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (kfd < 0 || !(d = fdopendir(kfd))) {
		if (kfd >= 0)
			close(kfd);
		return false;
	}
	while (!others && (de = readdir(d)))
		others = de->d_name[0] != '.' && strcmp(de->d_name, owner) &&
			 faccessat(s->containers, de->d_name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	closedir(d);
	return others;
}

int nat_store_shared_release(struct nat_store *s, const char *owner, const struct nat_elems *gone)
{
	struct ctnet_err ignored;
	char key[128];
	int dfd = -1, left = 0;

	for (size_t i = 0; i < gone->n; i++) {
		int kfd;
		if (!nat_set_is_shared(gone->v[i].set) || !shared_key(&gone->v[i], key, sizeof(key)))
			continue;
		if (dfd < 0 && (dfd = shared_dir(s, false, &ignored)) < 0)
			return 0;
		if ((kfd = openat(dfd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue;
		unlinkat(kfd, owner, 0);
		close(kfd);
		if (unlinkat(dfd, key, AT_REMOVEDIR) == 0) /* fails while others hold it */
			left += gone->v[i].set == NAT_S_BRIDGES;
	}
	if (dfd >= 0)
		close(dfd);
	return left;
}

/* Whether recorded container `name` holds the element whose key is `key`. */
static bool holds(struct nat_store *s, const char *name, const char *key, struct nat_entry *e)
{
	struct nat_elems el = { 0 };
	struct ctnet_err ignored;
	char k[128];
	bool found = false;

	if (nat_store_read(s, name, e, &ignored) < 0 || nat_elems_container(&el, &e->c, &ignored) < 0) {
		nat_elems_free(&el);
		return false;
	}
	for (size_t i = 0; i < el.n && !found; i++)
		found = nat_set_is_shared(el.v[i].set) && shared_key(&el.v[i], k, sizeof(k)) && !strcmp(k, key);
	nat_elems_free(&el);
	return found;
}

/* The claims of holders that are not recorded or no longer hold that element (a run killed
 * between the kernel and the store), and directories left empty. How many went. */
int nat_store_shared_sweep(struct nat_store *s)
{
	struct ctnet_err ignored;
	struct nat_entry *e = malloc(sizeof(*e));
	struct dirent *de, *oe;
	int dfd = shared_dir(s, false, &ignored), n = 0;
	DIR *d;

	if (!e || dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		free(e);
		return 0;
	}
	while ((de = readdir(d))) {
		int kfd;
		DIR *kd;
		if (de->d_name[0] == '.' ||
		    (kfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			continue;
		if (!(kd = fdopendir(kfd))) {
			close(kfd);
			continue;
		}
		while ((oe = readdir(kd)))
			if (oe->d_name[0] != '.' && !holds(s, oe->d_name, de->d_name, e) &&
			    unlinkat(dirfd(kd), oe->d_name, 0) == 0)
				n++;
		closedir(kd);
		unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
	free(e);
	return n;
}

void nat_store_shared_list(struct nat_store *s, int set, void (*cb)(const char *value, void *data), void *data)
{
	struct ctnet_err ignored;
	size_t len = strlen(nat_set_names[set]);
	struct dirent *de;
	int dfd = shared_dir(s, false, &ignored);
	DIR *d;

	if (dfd < 0 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, nat_set_names[set], len) && de->d_name[len] == '-' && de->d_name[len + 1])
			cb(de->d_name + len + 1, data);
	closedir(d);
}
