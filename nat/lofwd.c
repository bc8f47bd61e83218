/* SPDX-License-Identifier: MIT */
/*
 * Loopback forwards by socket (issue 33): the BPF programs of nat/lofwd.bpf.c, loaded from
 * their libbpf skeleton, attached to a cgroup v2 directory (bpf links) and pinned with their
 * maps under bpffs (default /sys/fs/bpf/ctnet), so they outlive ctnet-nat. Each forward
 * change is element updates and deletes of the map lofwd_map, as the nft maps are
 * (lofwdmap.c).
 *
 * "$CTNET_STATE_DIR/nat/lofwd" records that loopback forwards go by BPF (its text: the
 * cgroup): then no route_localnet is set (nat_lofwd_on). Where the programs cannot be loaded
 * (no cgroup v2, no bpffs, no BPF, a missing capability) nothing is recorded: IPv4 keeps the
 * output-hook DNAT with route_localnet, and a forward pinned to ::1 is refused naming why.
 */
#include "nat_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "lofwd_int.h"
#include "lofwd.skel.h"
#include "state.h"

#define CGROUP2_MAGIC 0x63677270
#define BPFFS_MAGIC 0xcafe4a11
#define BPFFS_DEFAULT "/sys/fs/bpf"
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

static const char *const map_pins[] = { LOFWD_MAP_PIN, "lofwd_cfg", "lofwd_sks" };
static const char *const link_pins[] = { "connect4", "connect6", "sendmsg4", "sendmsg6",
					 "recvmsg4", "recvmsg6", "getpeername4", "getpeername6" };
#define N_LINKS (sizeof(link_pins) / sizeof(link_pins[0]))

static bool fs_is(const char *path, long magic)
{
	struct statfs st;
	return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

/* The cgroup: $CTNET_CGROUP (ctnet-nat --cgroup sets it) or the root of the cgroup v2
 * hierarchy; the pins: $CTNET_BPF_DIR or /sys/fs/bpf/ctnet. */
int lofwd_where(struct lofwd_where *w, struct ctnet_err *err)
{
	const char *cg = getenv("CTNET_CGROUP"), *pin = getenv("CTNET_BPF_DIR");
	if (!cg || !*cg)
		cg = fs_is("/sys/fs/cgroup", CGROUP2_MAGIC) ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
	snprintf(w->pin, sizeof(w->pin), "%s", pin && *pin ? pin : BPFFS_DEFAULT "/ctnet");
	if (snprintf(w->cgroup, sizeof(w->cgroup), "%s", cg) >= (int)sizeof(w->cgroup) || cg[0] != '/')
		return ctnet_errf(err, EINVAL, "cgroup \"%s\": not an absolute path", cg);
	if (!fs_is(cg, CGROUP2_MAGIC))
		return ctnet_errf(err, EOPNOTSUPP, "\"%s\" is not a cgroup v2 directory (no cgroup2 there)", cg);
	return 0;
}

static uint64_t netns_cookie(void)
{
	uint64_t c = 0;
	socklen_t l = sizeof(c);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &c, &l) < 0)
		c = 0;
	close(fd);
	return c;
}

void lofwd_pin_path(const struct lofwd_where *w, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", w->pin, name);
}

/* Whether every pin is there, the host's cookie written, and each link attached to w's
 * cgroup. */
bool lofwd_pins_ok(const struct lofwd_where *w)
{
	char p[PATH_MAX + 32];
	struct stat cg;
	bool ok = stat(w->cgroup, &cg) == 0;
	for (size_t i = 0; ok && i < N_LINKS; i++) {
		struct bpf_link_info info;
		uint32_t len = sizeof(info);
		int fd;
		lofwd_pin_path(w, link_pins[i], p, sizeof(p));
		memset(&info, 0, sizeof(info));
		if ((fd = bpf_obj_get(p)) < 0)
			return false;
		ok = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_CGROUP &&
		     info.cgroup.cgroup_id == (uint64_t)cg.st_ino;
		close(fd);
	}
	for (size_t i = 0; ok && i < ARRAY_SIZE(map_pins); i++) {
		uint32_t zero = 0;
		uint64_t cookie = 0;
		int fd;
		lofwd_pin_path(w, map_pins[i], p, sizeof(p));
		if ((fd = bpf_obj_get(p)) < 0)
			return false;
		if (i == 0) { /* a map of another layout (an older ctnet's) is loaded afresh */
			struct bpf_map_info info;
			uint32_t len = sizeof(info);
			memset(&info, 0, sizeof(info));
			ok = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.key_size == sizeof(struct lofwd_key) &&
			     info.value_size == sizeof(struct lofwd_val);
		}
		if (i == 1)
			ok = bpf_map_lookup_elem(fd, &zero, &cookie) == 0 && cookie && cookie == netns_cookie();
		close(fd);
	}
	return ok;
}

/* Whether the program prog_id serves the netns of cookie: one of its maps is the config
 * array (one 8-byte value) holding that cookie. */
static bool prog_serves(uint32_t prog_id, uint64_t cookie)
{
	uint32_t map_ids[8], len, zero = 0;
	struct bpf_prog_info pi;
	bool yes = false;
	int pfd = bpf_prog_get_fd_by_id(prog_id);

	if (pfd < 0)
		return false;
	memset(&pi, 0, sizeof(pi));
	pi.nr_map_ids = ARRAY_SIZE(map_ids);
	pi.map_ids = (uint64_t)(uintptr_t)map_ids;
	len = sizeof(pi);
	if (bpf_obj_get_info_by_fd(pfd, &pi, &len) == 0 && !strncmp(pi.name, "ctnet_", 6)) {
		for (uint32_t i = 0; !yes && i < pi.nr_map_ids && i < ARRAY_SIZE(map_ids); i++) {
			struct bpf_map_info mi;
			uint64_t v = 0;
			int mfd = bpf_map_get_fd_by_id(map_ids[i]);
			if (mfd < 0)
				continue;
			memset(&mi, 0, sizeof(mi));
			len = sizeof(mi);
			yes = bpf_obj_get_info_by_fd(mfd, &mi, &len) == 0 && mi.type == BPF_MAP_TYPE_ARRAY &&
			      mi.value_size == sizeof(v) && mi.max_entries == 1 &&
			      bpf_map_lookup_elem(mfd, &zero, &v) == 0 && v == cookie;
			close(mfd);
		}
	}
	close(pfd);
	return yes;
}

/*
 * Detaches every link on w's cgroup whose program serves this netns. Unpinning alone leaves
 * a link attached while anything else holds it, and a bpffs unmounted here lives on in every
 * mount namespace that copied it (a service's PrivateTmp=, an `ip netns exec`): its links
 * would keep rewriting from a stale map beside the new ones. Links of other namespaces' ctnet
 * (their own cookie) are left alone. Best effort: needs CAP_SYS_ADMIN to look links up.
 */
static void detach_ours(const struct lofwd_where *w)
{
	uint64_t cookie = netns_cookie();
	uint32_t id = 0;
	struct stat cg;

	if (!cookie || stat(w->cgroup, &cg) < 0)
		return;
	while (bpf_link_get_next_id(id, &id) == 0) {
		struct bpf_link_info info;
		uint32_t len = sizeof(info);
		int fd = bpf_link_get_fd_by_id(id);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && info.type == BPF_LINK_TYPE_CGROUP &&
		    info.cgroup.cgroup_id == (uint64_t)cg.st_ino && prog_serves(info.prog_id, cookie))
			bpf_link_detach(fd);
		close(fd);
	}
}

/* Unpins and detaches (see detach_ours); the maps go with the programs. */
void lofwd_unpin_all(const struct lofwd_where *w)
{
	char p[PATH_MAX + 32];
	for (size_t i = 0; i < N_LINKS; i++) {
		lofwd_pin_path(w, link_pins[i], p, sizeof(p));
		unlink(p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(map_pins); i++) {
		lofwd_pin_path(w, map_pins[i], p, sizeof(p));
		unlink(p);
	}
	rmdir(w->pin);
	detach_ours(w);
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level, (void)fmt, (void)ap;
	return 0;
}

/* bpffs where the pins go: /sys/fs/bpf is mounted again when it is not (an unmount is
 * repaired like a flush); another pin dir must be on bpffs already. */
static int bpffs(const struct lofwd_where *w, struct ctnet_err *err)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", w->pin);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (fs_is(parent, BPFFS_MAGIC))
		return 0;
	if (strcmp(parent, BPFFS_DEFAULT))
		return ctnet_errf(err, EOPNOTSUPP, "no bpf filesystem at \"%s\"", parent);
	if (mount("bpf", BPFFS_DEFAULT, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700") < 0)
		return ctnet_err_sys(err, errno, "no bpf filesystem at \"%s\": mount it", parent);
	return 0;
}

static int attach_all(struct lofwd *sk, const struct lofwd_where *w, struct ctnet_err *err)
{
	struct bpf_program *progs[N_LINKS] = {
		sk->progs.ctnet_connect4, sk->progs.ctnet_connect6, sk->progs.ctnet_sendmsg4,
		sk->progs.ctnet_sendmsg6, sk->progs.ctnet_recvmsg4, sk->progs.ctnet_recvmsg6,
		sk->progs.ctnet_getpeername4, sk->progs.ctnet_getpeername6,
	};
	struct bpf_map *maps[] = { sk->maps.lofwd_map, sk->maps.lofwd_cfg, sk->maps.lofwd_sks };
	char p[PATH_MAX + 32];
	int cg = open(w->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (cg < 0)
		return ctnet_err_sys(err, errno, "open cgroup \"%s\"", w->cgroup);
	if (mkdir(w->pin, 0700) < 0 && errno != EEXIST) {
		r = ctnet_err_sys(err, errno, "mkdir \"%s\"", w->pin);
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		lofwd_pin_path(w, map_pins[i], p, sizeof(p));
		if (bpf_map__pin(maps[i], p) < 0) {
			r = ctnet_err_sys(err, errno, "pin BPF map \"%s\"", p);
			goto out;
		}
	}
	for (size_t i = 0; i < N_LINKS; i++) {
		struct bpf_link *l = bpf_program__attach_cgroup(progs[i], cg);
		if (!l) {
			r = ctnet_err_sys(err, errno, "attach BPF program %s to cgroup \"%s\"", link_pins[i],
					  w->cgroup);
			goto out;
		}
		lofwd_pin_path(w, link_pins[i], p, sizeof(p));
		if (bpf_link__pin(l, p) < 0)
			r = ctnet_err_sys(err, errno, "pin BPF link \"%s\"", p);
		bpf_link__destroy(l); /* pinned: stays attached */
		if (r < 0)
			goto out;
	}
out:
	close(cg);
	return r;
}

/* Loads, attaches and pins the programs unless all is in place: 1 when loaded afresh (the
 * map is empty), 0 when already there, or -errno naming what is missing. */
int lofwd_ensure(const struct lofwd_where *w, struct ctnet_err *err)
{
	struct lofwd *sk;
	uint32_t zero = 0;
	uint64_t cookie;
	int r;

	if ((r = bpffs(w, err)) < 0)
		return r;
	if (lofwd_pins_ok(w))
		return 0;
	lofwd_unpin_all(w);
	if (!(cookie = netns_cookie()))
		return ctnet_errf(err, EOPNOTSUPP, "this kernel tells no netns cookie (SO_NETNS_COOKIE)");
	libbpf_set_print(quiet);
	if (!(sk = lofwd__open()))
		return ctnet_err_sys(err, errno, "open the loopback-forward BPF object");
	if (lofwd__load(sk) < 0) {
		r = ctnet_err_sys(err, errno, "load the loopback-forward BPF programs (they need CAP_BPF and "
				  "CAP_NET_ADMIN, or CAP_SYS_ADMIN)");
	} else if (bpf_map__update_elem(sk->maps.lofwd_cfg, &zero, sizeof(zero), &cookie, sizeof(cookie), 0) < 0) {
		r = ctnet_err_sys(err, errno, "write the BPF config map");
	} else if ((r = attach_all(sk, w, err)) >= 0) {
		r = 1;
	}
	if (r < 0)
		lofwd_unpin_all(w);
	lofwd__destroy(sk);
	return r;
}
