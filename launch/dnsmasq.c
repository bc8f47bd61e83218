/* SPDX-License-Identifier: MIT */
/*
 * dnsmasq as the child of `ctnet dns` (dnsrun.c says what it serves): its command line, the
 * interfaces it listens on (ve-*, and the bridges in use that are neither an uplink nor a
 * bridge with ports that are not ctnet's), its start, stop and restart, and a dnsmasq an
 * earlier ctnet dns left running.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dnsrun_int.h"
#include "state.h"

/* ---- dnsmasq's command line ---- */

int ct_dns_argv(const struct ct_dns_opts *o, const char *hostsdir, const char (*ifaces)[IFNAMSIZ], size_t n,
		char **argv, size_t max, char *buf, size_t len)
{
	static const char *const fixed[] = {
		"--keep-in-foreground", "--no-hosts", "--conf-file=/dev/null", "--pid-file=", "--log-facility=-",
		"--interface=ve-*", "--bind-dynamic", "--except-interface=lo", "--expand-hosts", "--domain-needed",
	};
	size_t k = 0, used = 0;
	int w;

#define ARG(...)                                                                  \
	do {                                                                      \
		if (k + 1 >= max || used >= len)                                  \
			return -ENOSPC;                                           \
		w = snprintf(buf + used, len - used, __VA_ARGS__);                \
		if (w < 0 || (size_t)w >= len - used)                             \
			return -ENOSPC;                                           \
		argv[k++] = buf + used;                                           \
		used += (size_t)w + 1;                                            \
	} while (0)
	ARG("%s", o->dnsmasq);
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		ARG("%s", fixed[i]);
	ARG("--hostsdir=%s", hostsdir);
	for (size_t i = 0; i < n; i++)
		ARG("--interface=%s", ifaces[i]);
	ARG("--resolv-file=%s", o->resolv_file);
	ARG("--domain=%s", o->domain);
	ARG("--local=/%s/", o->domain);
#undef ARG
	argv[k] = NULL;
	return (int)k;
}

/* ---- the interfaces to listen on ---- */

static bool route_file_has(const char *path, const char *ifname, bool v6)
{
	FILE *f = fopen(path, "re");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char dev[64], dst[64], mask[64];
		if (v6) {
			/* dst plen src slen nexthop metric refcnt use flags dev */
			if (sscanf(line, "%63s %63s %*s %*s %*s %*s %*s %*s %*s %63s", dst, mask, dev) == 3)
				found = !strcmp(dev, ifname) && !strcmp(mask, "00") &&
					strspn(dst, "0") == strlen(dst);
		} else if (sscanf(line, "%63s %63s %*s %*s %*s %*s %*s %63s", dev, dst, mask) == 3) {
			found = !strcmp(dev, ifname) && !strcmp(dst, "00000000") && !strcmp(mask, "00000000");
		}
	}
	fclose(f);
	return found;
}

bool ct_dns_is_uplink(const char *ifname, const char *route, const char *route6)
{
	return route_file_has(route, ifname, false) || route_file_has(route6, ifname, true);
}

/* A port of bridge br that is not ctnet's (its ports are vb-*): the first one's name into
 * out; false for none, or when br is not a bridge this process can see in /sys. */
static bool foreign_port(const char *br, char out[IFNAMSIZ])
{
	char path[64];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/class/net/%s/brif", br);
	if (!(d = opendir(path)))
		return false;
	out[0] = '\0';
	while ((de = readdir(d)) && !out[0])
		if (de->d_name[0] != '.' && strncmp(de->d_name, "vb-", 3))
			snprintf(out, IFNAMSIZ, "%.15s", de->d_name);
	closedir(d);
	return out[0] != '\0';
}

/* The interfaces dnsmasq must be given now. Left out, and said: an uplink, and a bridge with
 * ports that are not ctnet's (a LAN bridge): dnsmasq would answer that network. */
static size_t iface_wanted(struct dns_run *d, char (*out)[IFNAMSIZ], size_t max)
{
	char obj[IFNAMSIZ + 16], port[IFNAMSIZ];
	size_t n = 0;

	for (size_t i = 0; i < d->n_ifs && n < max; i++) {
		const char *name = d->ifs[i].name;
		if (!d->ifs[i].n)
			continue;
		snprintf(obj, sizeof(obj), "interface %s", name);
		if (ct_dns_is_uplink(name, "/proc/net/route", "/proc/net/ipv6_route"))
			dns_emit(d, CT_DNS_NOTE, obj,
			     "a default route leaves through it (an uplink): not served, its containers get no answers");
		else if (foreign_port(name, port))
			dns_emit(d, CT_DNS_NOTE, obj,
			     "a bridge with a port that is not ctnet's (%s): not served (it would answer that network), "
			     "its containers get no answers", port);
		else
			snprintf(out[n++], IFNAMSIZ, "%s", name);
	}
	return n;
}

/* ---- dnsmasq, our child ---- */

int dns_spawn(struct dns_run *d, struct ctnet_err *err)
{
	char (*ifs)[IFNAMSIZ] = calloc(d->n_ifs ? d->n_ifs : 1, IFNAMSIZ);
	char *argv[ARGV_MAX + 8], buf[16384];
	size_t n;
	int argc;

	if (!ifs)
		return ctnet_errf(err, ENOMEM, "out of memory");
	n = iface_wanted(d, ifs, ARGV_MAX);
	if ((argc = ct_dns_argv(d->o, d->hostsdir, (const char (*)[IFNAMSIZ])ifs, n, argv, ARRAY_SIZE(argv), buf,
				sizeof(buf))) < 0) {
		free(ifs);
		return ctnet_errf(err, E2BIG, "dnsmasq: command line too long (%zu interfaces)", n);
	}
	free(d->running);
	d->running = ifs;
	d->n_running = n;
	d->ifs_dirty = false;
	pid_t parent = getpid(), pid = fork();
	if (pid < 0)
		return ctnet_err_sys(err, errno, "fork for dnsmasq");
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* dnsmasq goes when we go, however we go (systemd restarts us, and it). */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		execv(argv[0], argv);
		fprintf(stderr, "ctnet dns: execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	d->child = pid;
	d->st.dnsmasq_pid = pid;
	if (ct_pid_start(pid, &d->st.dnsmasq_start) < 0)
		d->st.dnsmasq_start = 0;
	return ct_dns_state_write(&d->st, err);
}

/* Stops dnsmasq with sig and waits for it: 0, or -errno when it cannot be signalled (it runs
 * as its own user: without CAP_KILL, root may not signal it). */
int dns_child_stop(struct dns_run *d, int sig, struct ctnet_err *err)
{
	int st = 0;
	pid_t pid = d->child;

	if (pid <= 0)
		return 0;
	d->child = 0;
	if (kill(pid, sig) < 0 && errno != ESRCH)
		return ctnet_err_sys(err, errno, "stop dnsmasq (pid %ld; ctnet dns needs CAP_KILL)", (long)pid);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/* /proc/PID/stat: whether pid is a live (not zombie) dnsmasq started at start. */
static bool dnsmasq_alive(pid_t pid, unsigned long long start)
{
	char path[64], buf[512];
	unsigned long long now;
	const char *open, *close_;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (ct_pid_start(pid, &now) < 0 || now != start || !(f = fopen(path, "re")))
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	open = strchr(buf, '(');
	close_ = strrchr(buf, ')');
	return open && close_ && close_ - open == 8 && !strncmp(open + 1, "dnsmasq", 7) && close_[1] == ' ' &&
	       close_[2] != 'Z' && close_[2] != 'X';
}

/* A dnsmasq an earlier ctnet dns left running holds port 53 on our addresses (a SIGKILL of
 * ctnet dns outside systemd: dnsmasq's parent-death signal is gone once it changed its
 * user). Stopped first, when it is that very process still. */
void dns_stop_leftover(struct dns_run *d)
{
	struct ct_dns_state old = { 0 };

	if (ct_dns_state_read_file(&old) < 0 || old.dnsmasq_pid <= 0 ||
	    !dnsmasq_alive(old.dnsmasq_pid, old.dnsmasq_start))
		return;
	kill(old.dnsmasq_pid, SIGTERM);
	for (int i = 0; i < 250 && dnsmasq_alive(old.dnsmasq_pid, old.dnsmasq_start); i++)
		usleep(20000); /* 5 s at most: it exits at once on SIGTERM */
	dns_emit(d, CT_DNS_NOTE, "dnsmasq", "stopped pid %ld, left running by an earlier ctnet dns", (long)old.dnsmasq_pid);
}

static bool same_ifaces(const struct dns_run *d, char (*want)[IFNAMSIZ], size_t n)
{
	if (n != d->n_running)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(want[i], d->running[i]))
			return false;
	return true;
}

/* After a batch of syncs: dnsmasq restarted when the interfaces to listen on changed. */
int dns_maybe_restart(struct dns_run *d, struct ctnet_err *err)
{
	char want[ARGV_MAX][IFNAMSIZ], list[ARGV_MAX * (IFNAMSIZ + 1) + 8] = "ve-*";
	size_t n;

	if (!d->ifs_dirty)
		return 0;
	d->ifs_dirty = false;
	n = iface_wanted(d, want, ARGV_MAX);
	if (same_ifaces(d, want, n))
		return 0;
	for (size_t i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), " %s", want[i]);
	int r = dns_child_stop(d, SIGTERM, err);
	if (r == 0)
		r = dns_spawn(d, err);
	if (r == 0)
		dns_emit(d, CT_DNS_RESTART, "dnsmasq", "listening on %s now (pid %ld)", list, (long)d->child);
	return r;
}
