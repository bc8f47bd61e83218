/* SPDX-License-Identifier: MIT */
/* CNI attachment files (attach.c). */
#ifndef CTNET_LAUNCH_ATTACH_H
#define CTNET_LAUNCH_ATTACH_H

#include <net/if.h>

#include "err.h"
#include "name.h"
#include "spec.h"
#include "state.h"

/*
 * attach.c: CNI attachments, (CNI_CONTAINERID, CNI_IFNAME) of a network -> the ctnet
 * container serving it, in $CTNET_RUN_DIR/cni/NAME (KEY=VALUE). Written by ctnet-cni before
 * its first change and removed after its last; gc sweeps those whose container is gone.
 */
#define CNI_ID_MAX 256 /* CNI_CONTAINERID */
struct cni_attachment {
	char name[CTNET_NAME_MAX + 1]; /* the ctnet container name */
	char container_id[CNI_ID_MAX + 1];
	char ifname[IFNAMSIZ];
	char network[CTNET_NAME_MAX + 1];
	char netns[CT_PATH_MAX];
	char pod_name[CTNET_NAME_MAX + 1];      /* K8S_POD_NAME from CNI_ARGS ("" = none) */
	char pod_namespace[CTNET_NAME_MAX + 1]; /* K8S_POD_NAMESPACE */
};
/* "cni-" + 16 hex of ctnet_hash64(id "/" ifname); out >= CTNET_NAME_MAX + 1. */
void cni_attachment_name(const char *container_id, const char *ifname, char *out);
/* Whether name is an attachment's container name ("cni-" and 16 hex digits). */
bool cni_attachment_is_name(const char *name);
/* Whether name's attachment file is there (an unreadable directory counts as there). */
bool cni_attachment_exists(const char *name);
/* Per-attachment lock; returns the fd to give to cni_attachment_unlock, or -errno. */
int cni_attachment_lock(const char *name, struct ctnet_err *err);
/* Lets go of the lock, removing its file when the attachment is gone (a DEL leaves nothing). */
void cni_attachment_unlock(const char *name, int lock);
int cni_attachment_write(const struct cni_attachment *a, struct ctnet_err *err);
/* -ENOENT when there is none. */
int cni_attachment_read(const char *name, struct cni_attachment *a, struct ctnet_err *err);
int cni_attachment_remove(const char *name, struct ctnet_err *err);
/* Calls cb for each attachment file; a non-zero return stops and is returned. */
int cni_attachment_foreach(int (*cb)(const struct cni_attachment *a, void *data), void *data,
			   struct ctnet_err *err);

/* Sweeps the attachments' directory: temp files of killed writers, then attachment files
 * (and their locks) whose container has no record and that no command holds, each removal
 * reported to cb. 0 or -errno. */
int cni_attachment_sweep(ctnet_swept_fn *cb, void *data, struct ctnet_err *err);

#endif
